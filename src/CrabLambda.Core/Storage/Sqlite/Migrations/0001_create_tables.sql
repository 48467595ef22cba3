-- The CrabLambda schema for SQLite. Ids are lowercase UUID text, so version 7 ids sort by time; timestamps are
-- UTC ISO 8601 text with six fraction digits, so they sort as text and match PostgreSQL's precision.

CREATE TABLE functions (
    id              TEXT    NOT NULL PRIMARY KEY,
    name            TEXT    NOT NULL CONSTRAINT functions_name_unique UNIQUE,
    runtime         TEXT    NOT NULL,
    handler         TEXT    NOT NULL,
    memory_mb       INTEGER NOT NULL CHECK (memory_mb BETWEEN 1 AND 10240),
    timeout_secs    INTEGER NOT NULL CHECK (timeout_secs BETWEEN 1 AND 900),
    network         INTEGER NOT NULL CHECK (network IN (0, 1)),
    current_version INTEGER NOT NULL CHECK (current_version >= 1),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;

CREATE TABLE function_versions (
    function_id  TEXT    NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL CHECK (version >= 1),
    code         TEXT    NOT NULL,
    code_hash    TEXT    NOT NULL,
    runtime      TEXT    NOT NULL,
    handler      TEXT    NOT NULL,
    memory_mb    INTEGER NOT NULL CHECK (memory_mb BETWEEN 1 AND 10240),
    timeout_secs INTEGER NOT NULL CHECK (timeout_secs BETWEEN 1 AND 900),
    network      INTEGER NOT NULL CHECK (network IN (0, 1)),
    deployed_at  TEXT    NOT NULL,
    PRIMARY KEY (function_id, version)
) STRICT;

CREATE TABLE executions (
    id             TEXT    NOT NULL PRIMARY KEY,
    function_id    TEXT    NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    function_name  TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('success', 'error', 'timeout', 'oom')),
    input          TEXT    NOT NULL,
    output         TEXT,
    error          TEXT,
    duration_ms    REAL    NOT NULL,
    memory_used_mb REAL,
    executed_at    TEXT    NOT NULL
) STRICT;

-- History, newest first: WHERE function_id = ? [AND status = ?] ORDER BY id DESC LIMIT ?. The first index also
-- serves the cascade from functions.
CREATE INDEX executions_function_id_id ON executions (function_id, id);
CREATE INDEX executions_function_id_status_id ON executions (function_id, status, id);

-- Retention: WHERE executed_at < ?.
CREATE INDEX executions_executed_at ON executions (executed_at);

CREATE TABLE execution_logs (
    id           TEXT    NOT NULL PRIMARY KEY,
    execution_id TEXT    NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    sequence     INTEGER NOT NULL CHECK (sequence >= 0),
    level        TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    "timestamp"  TEXT    NOT NULL,
    CONSTRAINT execution_logs_execution_sequence UNIQUE (execution_id, sequence)
) STRICT;
