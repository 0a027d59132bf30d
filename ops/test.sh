#!/usr/bin/env bash
# The one test command (README, and .ci/run calls it): installs what the tests
# need — Debian's clickhouse-server (tests start private instances),
# docker-compose (to validate ops/docker-compose.yml without an engine) and
# chromium (the run report is tested in a real, headless browser) —
# then runs formatting, lints and every test.
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

cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release
