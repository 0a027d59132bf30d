//! ClickHouse from the command line: the run's sink and `metrics replay`.

use std::path::Path;

use anyhow::bail;

use super::args::ClickHouseArgs;
use crate::run::MetricsTarget;

/// The metrics target for `--clickhouse-url`.
pub(super) fn clickhouse_target(
    _url: &str,
    _database: &str,
    _metrics_dir: &Path,
) -> anyhow::Result<MetricsTarget> {
    bail!("--clickhouse-url is being wired up")
}

/// `mable-pipeline metrics replay DIR`.
pub(super) fn replay(_dir: &Path, _ch: &ClickHouseArgs) -> anyhow::Result<()> {
    bail!("metrics replay is being wired up")
}
