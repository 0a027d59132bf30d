//! ClickHouse from the command line: the run's sink and `metrics replay`
//! (`metrics load` is in [`super::load`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::bail;

use super::args::ClickHouseArgs;
use crate::run::MetricsTarget;
use crate::sink::Sink;
use crate::sink::clickhouse::{
    BackgroundSink, ClickHouseConfig, ClickHouseSink, validate_identifier,
};
use crate::sink::spool::replay as replay_spool;

/// Where a run spools rows ClickHouse could not take.
pub(super) fn spool_dir(metrics_dir: &Path) -> PathBuf {
    metrics_dir.join("spool")
}

pub(super) fn config(url: &str, database: &str, spool: PathBuf) -> ClickHouseConfig {
    let mut cfg = ClickHouseConfig::new(url, database, spool);
    cfg.user = std::env::var("CLICKHOUSE_USER")
        .ok()
        .filter(|u| !u.is_empty());
    cfg.password = std::env::var("CLICKHOUSE_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    cfg
}

/// The metrics target for `--clickhouse-url`: connects (creating the database
/// and tables, checking existing ones) before the run starts; an unreachable
/// server, refused credentials or a table with another schema are reported
/// once, here, and the run goes on, spooling the rows it cannot send.
pub(super) fn clickhouse_target(
    url: &str,
    database: &str,
    metrics_dir: &Path,
) -> anyhow::Result<MetricsTarget> {
    validate_identifier(database)?;
    let spool = spool_dir(metrics_dir);
    let (mut sink, error) = ClickHouseSink::connect_or_spool(config(url, database, spool.clone()));
    if error.is_none() && crate::sink::spool::list(&spool).is_ok_and(|p| !p.is_empty()) {
        // An earlier run left rows behind; the server is here now, so deliver them first.
        let r = replay_spool(&spool, &mut sink)?;
        eprintln!(
            "delivered {} metric rows an earlier run left in {} ({} already there, {} chunks remain)",
            r.rows_delivered,
            spool.display(),
            r.rows_already_present,
            r.remaining + r.busy
        );
    }
    if let Some(e) = error {
        eprintln!(
            "warning: {e}\n  the run goes on; its metrics are kept in {dir} — deliver them later with \
             `mable-pipeline metrics replay {dir}`",
            dir = spool.display()
        );
    }
    let problems = sink.schema_problems();
    if !problems.is_empty() {
        eprintln!(
            "warning: rows for these ClickHouse tables will wait in {dir} instead of being sent:\n  {}\n  \
             fix the tables (ALTER TABLE, or drop them to have them re-created), then run \
             `mable-pipeline metrics replay {dir}`",
            problems.join("\n  "),
            dir = spool.display()
        );
    }
    let slot: Mutex<Option<Box<dyn Sink>>> = Mutex::new(Some(Box::new(BackgroundSink::new(sink))));
    Ok(MetricsTarget::Custom(Box::new(move |_run_id| {
        slot.lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("the ClickHouse sink serves one run")
    })))
}

/// `mable-pipeline metrics replay DIR`.
pub(super) fn replay(dir: &Path, ch: &ClickHouseArgs) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!(
            "{} is not a directory: give the spool directory a run printed (`<metrics-dir>/spool`)",
            dir.display()
        );
    }
    if is_run_dir(dir) {
        // Replaying it would find no chunk and deliver nothing, "successfully".
        bail!(
            "{} is a run's metrics directory, not a spool: replay delivers only chunks a run \
             spooled. Ship a run's files with `mable-pipeline metrics load {} --clickhouse-url URL`",
            dir.display(),
            dir.display()
        );
    }
    let Some(url) = &ch.clickhouse_url else {
        bail!("metrics replay needs --clickhouse-url URL (or CLICKHOUSE_URL)");
    };
    validate_identifier(&ch.database)?;
    let mut sink = ClickHouseSink::connect(config(url, &ch.database, dir.to_path_buf()))?;
    let report = replay_spool(dir, &mut sink)?;
    println!(
        "replayed {}: {} chunks ({} rows) delivered, {} chunks ({} rows) were already there, {} rejected, {} corrupt, {} remaining",
        dir.display(),
        report.chunks_delivered,
        report.rows_delivered,
        report.chunks_already_present,
        report.rows_already_present,
        report.rejected.len(),
        report.corrupt.len(),
        report.remaining
    );
    if report.busy > 0 {
        println!(
            "  {} chunks were being delivered by another process (a run or replay) and were left to it",
            report.busy
        );
    }
    for (path, why) in report.rejected.iter().chain(&report.corrupt) {
        eprintln!("  {}: {why}", path.display());
    }
    if let Some(e) = report.stopped {
        bail!("replay stopped: {e}");
    }
    if report.remaining > 0 {
        bail!("{} chunks were not delivered (see above)", report.remaining);
    }
    Ok(())
}

/// True for a directory with metric files (`*.ndjson`) and no spooled chunk.
fn is_run_dir(dir: &Path) -> bool {
    let has_files = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".ndjson"))
    });
    has_files && crate::sink::spool::list(dir).is_ok_and(|c| c.is_empty())
}
