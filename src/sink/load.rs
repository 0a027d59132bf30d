//! `metrics load`: a file-only run's rows into ClickHouse later, exactly once.
//!
//! A run directory holds one JSONEachRow file per table (`<table>.ndjson`,
//! `<table>.p<i>.ndjson` for process *i* of a cluster), written by the
//! [`files`](super::files) sink chunk by chunk. Every line already carries
//! the `insert_id` of the chunk it was written in, unique per run, process
//! and chunk. So the file *is* the run's chunks, with their ids: loading
//! sends each chunk (all lines of one `insert_id`) as one insert with that
//! id, through the same checked delivery as a spool replay — the sink asks
//! ClickHouse whether the id already landed before sending. Loading a run
//! twice, or after an interrupted load, or loading a run whose chunks the
//! run itself also sent somewhere, stores each row once.
//!
//! Lines without an `insert_id` (a file written by hand) travel in chunks of
//! [`CHUNK_ROWS`](super::sidecar::CHUNK_ROWS) lines with the id
//! `load-<run dir>-<file>-<n>`: deterministic, so a second load finds them.
//! A file whose lines of one `insert_id` are not together is not as a run
//! wrote it; it is refused (with the line), never loaded in part twice.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::Chunk;
use super::clickhouse::{Attempt, ClickHouseSink, SinkError};
use super::sidecar::CHUNK_ROWS;
use crate::table::{Rows, Table};

/// A run directory's files, sorted out: those that load into a table, and
/// those that are skipped, with why.
#[derive(Debug, Default)]
pub struct Plan {
    /// `(file, its table)`, by file name.
    pub files: Vec<(PathBuf, Table)>,
    /// `(file, why it is not loaded)`.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Sorts out `dir`'s files for `tables` (the tables this binary knows: the
/// metric tables and every dataflow's own). Files that are not metric files
/// but belong in a run directory (`report.html`, `compare-*.html`) are left
/// out silently.
pub fn plan(dir: &Path, tables: &[Table]) -> io::Result<Plan> {
    let by_name: BTreeMap<&str, &Table> = tables.iter().map(|t| (t.name(), t)).collect();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let mut plan = Plan::default();
    for name in names {
        let path = dir.join(&name);
        let Some(stem) = name.strip_suffix(".ndjson") else {
            if !name.ends_with(".html") && !name.starts_with('.') {
                plan.skipped
                    .push((path, "not a metric file (`<table>.ndjson`)".into()));
            }
            continue;
        };
        match by_name.get(table_of(stem)) {
            Some(t) => plan.files.push((path, (*t).clone())),
            None => plan.skipped.push((
                path,
                format!(
                    "no table `{}` in this binary (not in ops/clickhouse/schema.sql nor a dataflow's own)",
                    table_of(stem)
                ),
            )),
        }
    }
    Ok(plan)
}

/// `pipeline_metrics.p1` → `pipeline_metrics`.
fn table_of(stem: &str) -> &str {
    match stem.rsplit_once(".p") {
        Some((table, i)) if !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) => table,
        _ => stem,
    }
}

/// What loading one file did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub chunks_delivered: u64,
    pub rows_delivered: u64,
    /// Chunks ClickHouse already held (an earlier load): not sent again.
    pub chunks_already_present: u64,
    pub rows_already_present: u64,
}

/// Why loading a file stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read, or is not as a run wrote it.
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    /// ClickHouse refused a chunk (e.g. a table with other columns).
    #[error("{file}: {source}")]
    Rejected { file: String, source: SinkError },
    /// ClickHouse could not be reached: loading again later continues.
    #[error("{0}")]
    Unavailable(SinkError),
}

/// Sends `path`'s rows to `table` through `sink`, chunk by chunk (see the
/// module docs); memory holds one chunk. On an error the chunks before it
/// are delivered, and a later load skips them.
pub fn load_file(
    path: &Path,
    table: &Table,
    sink: &mut ClickHouseSink,
) -> Result<FileReport, LoadError> {
    let file_name = path.display().to_string();
    let fail = |line: usize, reason: String| LoadError::File {
        file: if line == 0 {
            file_name.clone()
        } else {
            format!("{file_name}:{line}")
        },
        reason,
    };
    let fallback_prefix = format!(
        "load-{}-{}",
        path.parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let reader = BufReader::new(File::open(path).map_err(|e| fail(0, e.to_string()))?);
    let mut report = FileReport::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut current: Option<(String, Rows)> = None;
    let mut unnamed = 0usize;
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| fail(n, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut row: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&line).map_err(|e| fail(n, format!("not a JSON object: {e}")))?;
        let id = match row.remove("insert_id") {
            Some(serde_json::Value::String(id)) if !id.is_empty() => id,
            Some(_) => return Err(fail(n, "insert_id is not a non-empty string".into())),
            None => {
                unnamed += 1;
                format!("{fallback_prefix}-{}", (unnamed - 1) / CHUNK_ROWS)
            }
        };
        if current.as_ref().is_some_and(|(c, _)| *c != id) {
            let (done, rows) = current.take().expect("checked above");
            send(sink, &done, rows, &mut report, &file_name)?;
        }
        let (_, rows) = current.get_or_insert_with(|| (id.clone(), Rows::new(table)));
        if rows.is_empty() && !seen.insert(id.clone()) {
            return Err(fail(
                n,
                format!(
                    "the rows of chunk {id} are not together: the file is not as a run wrote it"
                ),
            ));
        }
        rows.push(&row)
            .map_err(|e| fail(n, format!("cannot take the row: {e}")))?;
    }
    if let Some((id, rows)) = current {
        send(sink, &id, rows, &mut report, &file_name)?;
    }
    Ok(report)
}

fn send(
    sink: &mut ClickHouseSink,
    id: &str,
    rows: Rows,
    report: &mut FileReport,
    file: &str,
) -> Result<(), LoadError> {
    let n = rows.len() as u64;
    match sink.deliver_checked(&Chunk::new(id.to_string(), rows)) {
        Attempt::Delivered => {
            report.chunks_delivered += 1;
            report.rows_delivered += n;
            Ok(())
        }
        Attempt::AlreadyPresent => {
            report.chunks_already_present += 1;
            report.rows_already_present += n;
            Ok(())
        }
        Attempt::Rejected(source) => Err(LoadError::Rejected {
            file: file.to_string(),
            source,
        }),
        Attempt::Unavailable(e) => Err(LoadError::Unavailable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_their_table() {
        assert_eq!(table_of("pipeline_metrics"), "pipeline_metrics");
        assert_eq!(table_of("pipeline_metrics.p12"), "pipeline_metrics");
        assert_eq!(table_of("odd.pname"), "odd.pname");
        assert_eq!(table_of("odd.p"), "odd.p");
    }

    #[test]
    fn a_run_directory_is_sorted_into_tables_and_skipped_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "t.ndjson",
            "t.p1.ndjson",
            "mystery.ndjson",
            "report.html",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let t = Table::new(
            "t",
            "CREATE TABLE IF NOT EXISTS {db}.t (insert_id String) ENGINE = Log",
        );
        let plan = plan(dir.path(), &[t]).unwrap();
        let files: Vec<_> = plan
            .files
            .iter()
            .map(|(p, t)| (p.file_name().unwrap().to_str().unwrap(), t.name()))
            .collect();
        assert_eq!(files, [("t.ndjson", "t"), ("t.p1.ndjson", "t")]);
        let skipped: Vec<_> = plan
            .skipped
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(skipped, ["mystery.ndjson", "notes.txt"]);
    }
}
