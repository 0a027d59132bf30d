//! Sinks: where the sidecar delivers metric rows.
//!
//! The sidecar thread (see [`sidecar`]) owns every sink and calls them with whole
//! chunks of rows of one table; a sink never sees a single row at a time.
//! - [`files`]: JSONEachRow files under `--metrics-dir`, the default.
//! - [`clickhouse`]: the official `clickhouse` crate over HTTP, with retries,
//!   a disk spool for when the server stays away, and exactly-once delivery.

pub mod clickhouse;
pub mod files;
pub mod retention;
pub mod sidecar;
pub mod spool;

use crate::metrics::rows::Rows;

/// Rows of one table that travel, and are acknowledged, together.
///
/// `insert_id` is unique per run, process and chunk; every row carries it so a
/// sink can tell after an ambiguous failure whether the chunk already landed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Chunk {
    pub insert_id: String,
    pub rows: Rows,
}

impl Chunk {
    /// Wraps `rows`, stamping each with `insert_id`.
    pub fn new(insert_id: String, mut rows: Rows) -> Chunk {
        rows.set_insert_id(&insert_id);
        Chunk { insert_id, rows }
    }
}

/// What became of a chunk handed to a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored where it was meant to go.
    Delivered,
    /// The destination was unreachable; the chunk is on disk for `metrics replay`.
    Spooled,
    /// The destination refused the rows (e.g. a ClickHouse `Code:` reply); not retried.
    Rejected(String),
}

/// A destination for metric rows. Only the sidecar thread calls it.
pub trait Sink: Send {
    /// A short description for the summary, e.g. `clickhouse http://host:8123 (db mable)`.
    /// Never includes credentials.
    fn describe(&self) -> String;

    /// Called once on the sidecar thread before any chunk, while the workers
    /// start: set-up done here (opening files) is off the run's critical path
    /// instead of in front of the last chunks at shutdown.
    fn prepare(&mut self) {}

    /// Delivers one chunk. Blocks at most for the sink's own retry budget.
    fn deliver(&mut self, chunk: &Chunk) -> Outcome;

    /// Called once at shutdown; finishes anything pending before `deadline`.
    fn finish(&mut self, _deadline: std::time::Instant) {}

    /// Rows this sink once answered [`Outcome::Spooled`] for and delivered
    /// later in the same run (e.g. after the server came back).
    fn drained_rows(&self) -> u64 {
        0
    }
}
