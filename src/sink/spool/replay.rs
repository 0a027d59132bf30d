//! `metrics replay`: deliver a spool's chunks, in order, exactly once.

use std::path::{Path, PathBuf};

use super::{Claim, Take, list};
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
    /// Chunks another process (a run, or another replay) was delivering at
    /// the time: left to it. Not a failure of this replay.
    pub busy: usize,
    /// Chunks the server refused (e.g. a schema mismatch), with its reason.
    /// Their files stay, to replay once the table is fixed.
    pub rejected: Vec<(PathBuf, String)>,
    /// Files that are not readable chunks, with why. They stay, for a human.
    pub corrupt: Vec<(PathBuf, String)>,
    /// Chunk files this replay left in the spool: rejected, corrupt, and any
    /// not delivered because the server went away (not counting `busy` ones).
    pub remaining: usize,
    /// Set when replay stopped early because ClickHouse could not be reached
    /// or refused the credentials; running it again later continues.
    pub stopped: Option<SinkError>,
}

/// Delivers every chunk spooled in `dir`, oldest first.
///
/// Each chunk is claimed (see [`Claim`]) and goes through the `insert_id`
/// check before it is sent, so a chunk that a crashed or interrupted earlier
/// replay (or the run itself) already got into ClickHouse is not sent twice,
/// and a chunk another process is delivering right now is left to it: running
/// replay any number of times, even at once, never duplicates rows. A file is
/// deleted only once its rows are known to be in ClickHouse. Only failing to
/// list `dir` is an error; per-chunk problems are in the report.
pub fn replay(dir: &Path, sink: &mut ClickHouseSink) -> Result<ReplayReport, SinkError> {
    let files = list(dir).map_err(|source| SinkError::Spool {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut report = ReplayReport::default();
    for path in &files {
        if report.stopped.is_some() {
            // Not reached; still there unless someone else took it meanwhile.
            report.remaining += usize::from(path.exists());
            continue;
        }
        let mut claim = match Claim::take(path) {
            Ok(Take::Claimed(claim)) => claim,
            Ok(Take::Busy) => {
                report.busy += 1;
                continue;
            }
            Ok(Take::Gone) => continue,
            Err(e) => {
                report
                    .corrupt
                    .push((path.clone(), format!("cannot open: {e}")));
                report.remaining += 1;
                continue;
            }
        };
        let chunk = match claim.chunk() {
            Ok(chunk) => chunk,
            Err(why) => {
                tracing::warn!(file = %path.display(), %why, "skipping an unreadable spool file");
                report.corrupt.push((path.clone(), why));
                report.remaining += 1;
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
                report.remaining += 1;
                continue;
            }
            Attempt::Unavailable(e) => {
                report.stopped = Some(e);
                report.remaining += 1;
                continue;
            }
        }
        if let Err(e) = claim.remove() {
            // The rows are in; a leftover file is caught by the check next time.
            tracing::warn!(file = %path.display(), error = %e, "cannot delete a delivered spool file");
        }
    }
    Ok(report)
}
