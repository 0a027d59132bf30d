#!/usr/bin/env bash
# Entrypoint of the runner image: runs the Go seed's three benchmark pipelines
# and the default dataflow once each, shipping every run's metrics to ClickHouse.
#
# Environment:
#   CLICKHOUSE_URL       required, e.g. http://clickhouse:8123
#   CLICKHOUSE_USER      read by mable-pipeline itself (never put on the command line)
#   CLICKHOUSE_PASSWORD  read by mable-pipeline itself (never put on the command line)
#   CLICKHOUSE_DB        target database (default mable)
#   MABLE_SIZE           records per generated dataflow (default 1000000)
#   MABLE_WORKERS        timely workers per run (default 2)
#   MABLE_BIN            the binary (default mable-pipeline on PATH)
#   MABLE_HOME           directory holding testdata/ (default /app)
set -euo pipefail

: "${CLICKHOUSE_URL:?set CLICKHOUSE_URL, e.g. http://clickhouse:8123}"
bin="${MABLE_BIN:-mable-pipeline}"
size="${MABLE_SIZE:-1000000}"
workers="${MABLE_WORKERS:-2}"
database="${CLICKHOUSE_DB:-mable}"
cd "${MABLE_HOME:-/app}"

# Shared by every run. Credentials travel in CLICKHOUSE_USER/CLICKHOUSE_PASSWORD.
sink=(--clickhouse-url "$CLICKHOUSE_URL" --database "$database")

run() {
    echo "runner: mable-pipeline $*" >&2
    "$bin" "$@"
}

# The default dataflow over the sample file (one event), then the seed's
# BenchmarkPipeline, BenchmarkTestStructPipeline and BenchmarkMableEventPipeline.
# The big mable_event run goes last: the dashboard opens on the newest run.
run -w "$workers" testdata/mable_event.json "${sink[@]}"
run --dataflow int --size "$size" -w "$workers" "${sink[@]}"
run --dataflow test_struct --size "$size" -w "$workers" "${sink[@]}"
run --dataflow mable_event --size "$size" -w "$workers" testdata/mable_event.json "${sink[@]}"

echo "runner: all four runs finished; open Grafana on port 3000" >&2
