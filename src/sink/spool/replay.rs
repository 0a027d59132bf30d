//! `metrics replay`: deliver a spool's chunks, in order, exactly once.

use std::path::{Path, PathBuf};

use super::{list, read_chunk};
use crate::sink::clickhouse::{Attempt, ClickHouseSink, SinkError};

/// What a replay did, for the summary the CLI prints.
#[derive(Debug, Default)]
pub struct ReplayReport {
    /// Chunks (and their rows) sent and acknowledged now; their files are gone.
    pub chunks_delivered: usize,
    pub rows_delivered: u64,
    /// Chunks ClickHouse already held (an earlier run or replay got them in
    /// but did not get to delete the file); not sent again, files deleted.
    pub chunks_already_present: usize,
    pub rows_already_present: u64,
    /// Chunks the server refused (e.g. a schema mismatch), with its reason.
    /// Their files stay, to replay once the table is fixed.
    pub rejected: Vec<(PathBuf, String)>,
    /// Files that are not readable chunks, with why. They stay, for a human.
    pub corrupt: Vec<(PathBuf, String)>,
    /// Chunk files still in the directory afterwards (rejected, corrupt, and
    /// any not reached because the server went away).
    pub remaining: usize,
    /// Set when replay stopped early because ClickHouse could not be reached
    /// or refused the credentials; running it again later continues.
    pub stopped: Option<SinkError>,
}

/// Delivers every chunk spooled in `dir`, oldest first.
///
/// Each chunk goes through the `insert_id` check before it is sent, so a chunk
/// that a crashed or interrupted earlier replay (or the run itself) already
/// got into ClickHouse is not sent twice; running replay any number of times
/// never duplicates rows. A file is deleted only once its rows are known to be
/// in ClickHouse. Only failing to list `dir` is an error; per-chunk problems
/// are in the report.
pub fn replay(dir: &Path, sink: &mut ClickHouseSink) -> Result<ReplayReport, SinkError> {
    let spool_err = |source| SinkError::Spool {
        dir: dir.to_path_buf(),
        source,
    };
    let files = list(dir).map_err(spool_err)?;
    let mut report = ReplayReport::default();
    for path in &files {
        if report.stopped.is_some() {
            break;
        }
        let chunk = match read_chunk(path) {
            Ok(chunk) => chunk,
            Err(why) => {
                tracing::warn!(file = %path.display(), %why, "skipping an unreadable spool file");
                report.corrupt.push((path.clone(), why));
                continue;
            }
        };
        let rows = chunk.rows.len() as u64;
        match sink.deliver_checked(&chunk) {
            Attempt::Delivered => {
                report.chunks_delivered += 1;
                report.rows_delivered += rows;
            }
            Attempt::AlreadyPresent => {
                report.chunks_already_present += 1;
                report.rows_already_present += rows;
            }
            Attempt::Rejected(e) => {
                report.rejected.push((path.clone(), e.to_string()));
                continue;
            }
            Attempt::Unavailable(e) => {
                report.stopped = Some(e);
                continue;
            }
        }
        if let Err(e) = std::fs::remove_file(path) {
            // The rows are in; a leftover file is caught by the check next time.
            tracing::warn!(file = %path.display(), error = %e, "cannot delete a delivered spool file");
        }
    }
    report.remaining = list(dir).map_err(spool_err)?.len();
    Ok(report)
}
