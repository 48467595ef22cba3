-- The CrabLambda schema for PostgreSQL. Names use the "C" collation, so functions list in the same byte order as
-- on SQLite whatever the database's locale. UUIDs compare byte by byte, so version 7 execution ids sort by time.

CREATE TABLE functions (
    id              UUID        NOT NULL PRIMARY KEY,
    name            TEXT        COLLATE "C" NOT NULL CONSTRAINT functions_name_unique UNIQUE,
    runtime         TEXT        NOT NULL,
    handler         TEXT        NOT NULL,
    memory_mb       INTEGER     NOT NULL CHECK (memory_mb BETWEEN 1 AND 10240),
    timeout_secs    INTEGER     NOT NULL CHECK (timeout_secs BETWEEN 1 AND 900),
    network         BOOLEAN     NOT NULL,
    current_version INTEGER     NOT NULL CHECK (current_version >= 1),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE function_versions (
    function_id  UUID        NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    version      INTEGER     NOT NULL CHECK (version >= 1),
    code         TEXT        NOT NULL,
    code_hash    TEXT        NOT NULL,
    runtime      TEXT        NOT NULL,
    handler      TEXT        NOT NULL,
    memory_mb    INTEGER     NOT NULL CHECK (memory_mb BETWEEN 1 AND 10240),
    timeout_secs INTEGER     NOT NULL CHECK (timeout_secs BETWEEN 1 AND 900),
    network      BOOLEAN     NOT NULL,
    deployed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (function_id, version)
);

CREATE TABLE executions (
    id             UUID             NOT NULL PRIMARY KEY,
    function_id    UUID             NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    function_name  TEXT             NOT NULL,
    version        INTEGER          NOT NULL,
    status         TEXT             NOT NULL CHECK (status IN ('success', 'error', 'timeout', 'oom')),
    input          JSONB            NOT NULL,
    output         JSONB,
    error          TEXT,
    duration_ms    DOUBLE PRECISION NOT NULL,
    memory_used_mb DOUBLE PRECISION,
    executed_at    TIMESTAMPTZ      NOT NULL
);

-- History, newest first: WHERE function_id = ? [AND status = ?] ORDER BY id DESC LIMIT ?. The first index also
-- serves the cascade from functions.
CREATE INDEX executions_function_id_id ON executions (function_id, id);
CREATE INDEX executions_function_id_status_id ON executions (function_id, status, id);

-- Retention: WHERE executed_at < ?.
CREATE INDEX executions_executed_at ON executions (executed_at);

CREATE TABLE execution_logs (
    id           UUID        NOT NULL PRIMARY KEY,
    execution_id UUID        NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    sequence     INTEGER     NOT NULL CHECK (sequence >= 0),
    level        TEXT        NOT NULL,
    message      TEXT        NOT NULL,
    "timestamp"  TIMESTAMPTZ NOT NULL,
    CONSTRAINT execution_logs_execution_sequence UNIQUE (execution_id, sequence)
);
