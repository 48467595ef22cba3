#!/usr/bin/env bash
# Builds crablambda/postgres:local, a stand-in for the official PostgreSQL image made from this machine's own
# PostgreSQL with no registry, so that docker-compose.yml can be run where no image can be pulled
# (POSTGRES_IMAGE=crablambda/postgres:local).
#
#   scripts/docker/build-postgres-image.sh             # builds the image unless the engine has it
#   scripts/docker/build-postgres-image.sh --rebuild   # builds it again
#
# It keeps the official image's contract as far as the compose file uses it: POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB create the superuser and the database on the first start, the data is in /var/lib/postgresql/data,
# the server listens on 5432 for password (SCRAM) connections from anywhere, pg_isready is on PATH, and it runs as
# the user postgres (999). PostgreSQL itself is the newest under /usr/lib/postgresql (apt-get install postgresql).
set -euo pipefail

cd "$(dirname "$0")"
# shellcheck source=rootfs.sh
. ./rootfs.sh

rebuild=$(read_rebuild_option "$0" "$@")

image=crablambda/postgres:local
if ! $rebuild && image_exists "$image"; then
    exit 0
fi

bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] && [ -x "$bin/postgres" ] || {
    echo "No PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
}
version=$(basename "$(dirname "$bin")")

trap rootfs_end EXIT
rootfs_begin

rootfs_add_program /bin/sh "$(command -v rm)" "$(command -v mktemp)"
rootfs_add_program "$bin/postgres" "$bin/initdb" "$bin/pg_isready"
# Extensions and dictionaries initdb loads, the shared data (catalog, time zone sets) and the time zones. The JIT
# is left out: it would bring LLVM, and PostgreSQL runs without it.
rootfs_add_tree "/usr/lib/postgresql/$version/lib" "$version/lib/bitcode" "$version/lib/llvmjit*"
for library in "$rootfs/usr/lib/postgresql/$version/lib"/*.so; do
    rootfs_add_program "${library#"$rootfs"}"
done
rootfs_add_tree "/usr/share/postgresql/$version"
rootfs_add_tree /usr/share/zoneinfo

echo 'postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh' >>"$rootfs/etc/passwd"
echo 'postgres:x:999:' >>"$rootfs/etc/group"
install -d -o 999 -g 999 -m 755 "$rootfs/var/lib/postgresql"
install -d -o 999 -g 999 -m 700 "$rootfs/var/lib/postgresql/data"
install -d -o 999 -g 999 -m 2777 "$rootfs/var/run/postgresql"

cat >"$rootfs/usr/local/bin/postgres-entrypoint" <<'ENTRYPOINT'
#!/bin/sh
# First start: a cluster with the superuser POSTGRES_USER (password POSTGRES_PASSWORD) and the database
# POSTGRES_DB. Every start: the server in the foreground.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password"
    initdb -D "$PGDATA" -U "$user" --pwfile="$password" --encoding=UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$password"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
    if [ "$database" != postgres ]; then
        echo "CREATE DATABASE \"$database\" OWNER \"$user\"" | postgres --single -D "$PGDATA" postgres >/dev/null
    fi
fi

exec postgres -D "$PGDATA"
ENTRYPOINT
chmod 755 "$rootfs/usr/local/bin/postgres-entrypoint"

rootfs_import "$image" \
    "ENV PATH=/usr/local/bin:$bin:/usr/bin:/bin" "ENV PGDATA=/var/lib/postgresql/data" \
    "ENV TZ=UTC" "USER 999" "EXPOSE 5432" 'ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]'
