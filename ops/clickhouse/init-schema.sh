#!/bin/bash
# Creates the mable-pipeline tables: ops/clickhouse/schema.sql with its `{db}`
# placeholder set to $CLICKHOUSE_DB (default `mable`), piped to clickhouse-client.
#
# The official ClickHouse image runs this from /docker-entrypoint-initdb.d/ on
# the first start of an empty volume; it executes the script when it is
# executable and sources it otherwise, so everything runs in a subshell (no
# `exit`, no shell options leak into the image's entrypoint). Idempotent: the
# schema is all `IF NOT EXISTS`. The binary creates missing tables itself too.
#
# Environment:
#   MABLE_SCHEMA         schema file (default /opt/mable/schema.sql)
#   CLICKHOUSE_DB        database to create the tables in (default mable)
#   CLICKHOUSE_USER      account (default default)
#   CLICKHOUSE_PASSWORD  its password (default empty)
#   CLICKHOUSE_HOST      server (default 127.0.0.1: the image's init server)
#   CLICKHOUSE_PORT      native TCP port (default 9000)
(
    set -euo pipefail
    schema="${MABLE_SCHEMA:-/opt/mable/schema.sql}"
    db="${CLICKHOUSE_DB:-mable}"
    if ! [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        echo "init-schema: CLICKHOUSE_DB='$db' is not a plain identifier" >&2
        false
    fi
    if [ ! -r "$schema" ]; then
        echo "init-schema: cannot read $schema" >&2
        false
    fi
    echo "init-schema: creating the pipeline tables in database '$db'"
    sed "s/{db}/$db/g" "$schema" | clickhouse-client \
        --host "${CLICKHOUSE_HOST:-127.0.0.1}" \
        --port "${CLICKHOUSE_PORT:-9000}" \
        --user "${CLICKHOUSE_USER:-default}" \
        --password "${CLICKHOUSE_PASSWORD:-}" \
        --multiquery
)
