#!/usr/bin/env bash
# The one test command (README, and .ci/run calls it): installs what the tests
# need — Debian's clickhouse-server (18.16; tests start private instances),
# docker-compose (to validate ops/docker-compose.yml without an engine),
# chromium (the run report is tested in a real, headless browser) and
# current ClickHouse as the pinned chdb-core from PyPI in target/chdb-venv (the
# shipped SQL runs on both, tests/shipped_sql.rs) — then runs formatting, lints
# and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/clickhouse-server ] || [ -x /usr/sbin/clickhouse-server ] || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null || need+=(clickhouse-client)
command -v docker-compose >/dev/null || need+=(docker-compose)
# The report tests load report.html in headless Chromium.
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing ${need[*]} (apt-get)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Current ClickHouse, in-process: chdb-core's version is ClickHouse's. Kept in
# target/ between runs; reinstalled only when missing or of another version.
# No fallback: without it the SQL tests could not say the SQL runs on current
# ClickHouse, so a failed install stops here.
CHDB_CORE_VERSION=26.9.0
venv=target/chdb-venv
if ! "$venv/bin/python" -c "import chdb, sys; sys.exit(chdb.__version__ != '$CHDB_CORE_VERSION')" 2>/dev/null; then
    echo "installing chdb-core $CHDB_CORE_VERSION into $venv (pip)"
    rm -rf "$venv"
    if ! { "${PYTHON:-python3}" -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check "chdb-core==$CHDB_CORE_VERSION"; }; then
        echo "ops/test.sh: could not install chdb-core $CHDB_CORE_VERSION into $venv; the SQL tests need it" >&2
        echo "  (they run every shipped statement on current ClickHouse). Check that PyPI is reachable and" >&2
        echo "  that python3 has the venv module (Debian: apt-get install python3-venv), then run this again." >&2
        rm -rf "$venv"
        exit 1
    fi
fi

# The cluster tests on real network hosts (tests/hosts.rs) build network
# namespaces, which needs root; CI runs as root, so here a missing capability
# fails those tests instead of skipping them.
export MABLE_REQUIRE_NETNS=1

cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release --no-fail-fast
# The README's example of a pipeline written outside the crate, run as a user runs it.
cargo run --release --example page_views -- testdata/page_views.ndjson -w 2 -q --metrics-dir target/tmp/example-metrics
