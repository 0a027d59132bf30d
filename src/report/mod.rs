//! The run report: `report.html` in a run's metrics directory, made from the
//! metric files alone, so it needs no server — after every run with file
//! metrics, and again with `mable-pipeline report RUN_DIR`.
//!
//! It holds the run's facts, the verdict (which part bounds the run and what
//! making it 2× faster would buy; see [`verdict`]), the stage graph, batch
//! latency, a worker × stage heat map, batch waterfalls and the reduce and
//! aggregate results. One file: styles, script and SVG inline, no fetch.
//! [`compare`] sets two runs side by side.
//!
//! The module reads the files with its own row types ([`rows`]) and depends
//! on nothing else in the crate, so the engine can change around it.
//!
//! ```no_run
//! let written = mable_pipeline::report::write(
//!     std::path::Path::new("metrics/1796104862-fe456f70"),
//!     None,
//! )?;
//! println!("{} → {}", written.headline, written.path.display());
//! # Ok::<(), mable_pipeline::report::ReportError>(())
//! ```

mod charts;
pub mod compare;
mod draw_graph;
pub mod format;
pub mod graph;
mod html;
pub mod layout;
mod load;
pub mod model;
mod read;
pub mod rows;
mod scan;
mod svg;
pub mod verdict;
mod waterfall;
pub mod words;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use model::Run;
pub use verdict::Verdict;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "{0} is not a directory: give a run's metrics directory, e.g. metrics/<run_id> (the run prints it)"
    )]
    NotADirectory(PathBuf),
    #[error(
        "{} holds no metric files (pipeline_*.ndjson): give the directory of one run, {}",
        dir.display(),
        match newest {
            Some(run) => format!("such as its newest, {}", run.display()),
            None => "e.g. metrics/<run_id>".to_string(),
        }
    )]
    NoMetrics {
        dir: PathBuf,
        /// The newest run directory inside `dir`, when it holds runs.
        newest: Option<PathBuf>,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ReportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> ReportError {
        ReportError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What the run's metrics sidecar reported at its end (known only right
/// after the run; a report made later counts the rows in the files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sink: String,
    pub produced: u64,
    pub delivered: u64,
    pub spooled: u64,
    pub failed: u64,
    pub dropped: u64,
}

/// A report written.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    /// The verdict in one sentence.
    pub headline: String,
    pub bytes: usize,
}

/// A run read and judged: what a report shows.
pub struct Judged {
    pub run: Run,
    pub graph: graph::Derived,
    pub verdict: Verdict,
}

/// Reads and judges the run in `dir`.
pub fn judge(dir: &Path, delivery: Option<&Delivery>) -> Result<Judged, ReportError> {
    let run = Run::load(dir)?;
    let graph = graph::derive(&run);
    let verdict = verdict::judge(&run, &graph, delivery.map(|d| d.dropped));
    Ok(Judged {
        run,
        graph,
        verdict,
    })
}

impl Judged {
    /// The report page.
    pub fn html(&self, delivery: Option<&Delivery>) -> String {
        html::page(&self.run, &self.graph, &self.verdict, delivery)
    }

    /// The verdict in one sentence.
    pub fn headline(&self) -> String {
        words::headline(&self.run, &self.verdict)
    }
}

/// Writes `report.html` for the run in `dir` (to a temporary file first,
/// renamed into place, so a reader never sees half a page).
pub fn write(dir: &Path, delivery: Option<&Delivery>) -> Result<Written, ReportError> {
    let started = std::time::Instant::now();
    let judged = judge(dir, delivery)?;
    let judged_at = started.elapsed();
    let html = judged.html(delivery);
    let drawn_at = started.elapsed();
    let path = dir.join("report.html");
    write_atomically(&path, html.as_bytes())?;
    tracing::debug!(read_and_judged = ?judged_at, drawn = ?drawn_at, written = ?started.elapsed(), bytes = html.len(), "report phases");
    Ok(Written {
        path,
        headline: judged.headline(),
        bytes: html.len(),
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let tmp = path.with_extension(format!("html.tmp{}", std::process::id()));
    let fail = |source| ReportError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::create(&tmp).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}
