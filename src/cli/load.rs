//! Offline runs into ClickHouse later: `metrics load RUN_DIR` and `schema`.

use std::path::Path;

use anyhow::{Context, bail};

use super::args::ClickHouseArgs;
use super::out;
use crate::dataflow::Dataflow;
use crate::metrics::tables::SCHEMA_SQL;
use crate::sink::clickhouse::{ClickHouseSink, validate_identifier};
use crate::sink::load::{LoadError, load_file, plan};
use crate::table::{Table, tables_in};

/// `mable-pipeline schema [--database NAME]`: schema.sql for `database`.
pub(super) fn schema(database: &str) -> anyhow::Result<()> {
    validate_identifier(database)?;
    out::println(SCHEMA_SQL.replace("{db}", database).trim_end().to_string())?;
    Ok(())
}

/// The tables a run of this binary can have written: schema.sql's and
/// every dataflow's own (a dataflow's statement wins for its name).
fn known_tables(dataflows: &[&dyn Dataflow]) -> Vec<Table> {
    let mut tables: Vec<Table> = dataflows.iter().flat_map(|d| d.tables()).collect();
    for t in tables_in(SCHEMA_SQL) {
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    tables
}

/// `mable-pipeline metrics load RUN_DIR`.
pub(super) fn load(
    dir: &Path,
    ch: &ClickHouseArgs,
    dataflows: &[&dyn Dataflow],
) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!(
            "{} is not a directory: give a run's metrics directory (`<metrics-dir>/<run_id>`, printed by the run)",
            dir.display()
        );
    }
    if crate::sink::spool::list(dir).is_ok_and(|c| !c.is_empty()) {
        bail!(
            "{} is a spool (chunks a run could not send), not a run's directory: deliver it with \
             `mable-pipeline metrics replay {}`",
            dir.display(),
            dir.display()
        );
    }
    let Some(url) = &ch.clickhouse_url else {
        bail!("metrics load needs --clickhouse-url URL (or CLICKHOUSE_URL)");
    };
    validate_identifier(&ch.database)?;
    let plan = plan(dir, &known_tables(dataflows))
        .with_context(|| format!("cannot list {}", dir.display()))?;
    for (path, why) in &plan.skipped {
        eprintln!("skipped {}: {why}", path.display());
    }
    if plan.files.is_empty() {
        bail!(
            "{} holds no metric files (`<table>.ndjson`): give a run's metrics directory",
            dir.display()
        );
    }
    // Nothing is ever spooled here (checked delivery only); the sink needs a place.
    let spool = dir.join("spool");
    let mut sink = ClickHouseSink::connect(super::replay::config(url, &ch.database, spool))?;
    let mut failed = Vec::new();
    let (mut rows_delivered, mut rows_present) = (0, 0);
    for (path, table) in &plan.files {
        match load_file(path, table, &mut sink) {
            Ok(r) => {
                rows_delivered += r.rows_delivered;
                rows_present += r.rows_already_present;
                out::println(format!(
                    "{}: {} rows delivered in {} chunks, {} rows in {} chunks were already there",
                    path.display(),
                    r.rows_delivered,
                    r.chunks_delivered,
                    r.rows_already_present,
                    r.chunks_already_present
                ))?;
            }
            Err(LoadError::Unavailable(e)) => {
                bail!(
                    "loading stopped at {}: {e}\n  what was loaded stays; run the same command again to load the rest",
                    path.display()
                );
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed.push(path.display().to_string());
            }
        }
    }
    out::println(format!(
        "loaded {} into {} (db {}): {rows_delivered} rows delivered, {rows_present} already there",
        dir.display(),
        sink.describe(),
        ch.database
    ))?;
    if !failed.is_empty() {
        bail!(
            "{} files were not loaded (see above): {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
