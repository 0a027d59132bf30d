//! Sinks: where the sidecar delivers metric rows.
//!
//! The sidecar thread (see [`sidecar`]) owns the run's sink and hands it whole
//! chunks of rows of one table; a sink never sees a single row at a time.
//! - [`files`]: JSONEachRow files under `--metrics-dir`, the default.
//! - [`clickhouse`]: the official `clickhouse` crate over HTTP, with retries,
//!   a disk spool for when the server stays away or is behind, and
//!   exactly-once delivery.
//!
//! Every chunk's fate is recorded in one [`Ledger`], by the sink, once: that
//! is the only set of delivery counts a run keeps.

pub mod clickhouse;
pub mod files;
mod ledger;
pub mod load;
pub mod retention;
pub mod sidecar;
pub mod spool;

pub use ledger::{Counts, Ledger};

use std::time::Instant;

use crate::table::Rows;

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
    /// Wraps `rows`; each row gets `insert_id` when it is rendered.
    pub fn new(insert_id: String, rows: Rows) -> Chunk {
        Chunk { insert_id, rows }
    }

    /// The rows as JSONEachRow, each with this chunk's `insert_id`.
    pub fn render(&self, out: &mut Vec<u8>) {
        self.rows.render(&self.insert_id, out);
    }
}

/// What became of one chunk handed to a sink, as far as it is known now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored where it was meant to go.
    Delivered,
    /// On disk in the spool, for later in the run or `metrics replay`.
    Spooled,
    /// Neither delivered nor kept (e.g. the spool could not be written).
    Failed(String),
}

/// A destination for metric rows. Only the sidecar thread calls it.
///
/// A sink records the fate of every chunk it is given in the [`Ledger`] it
/// got in [`start`](Sink::start) — exactly once per chunk, plus a move from
/// spooled to delivered when a spooled chunk is delivered later — so that once
/// [`finish`](Sink::finish) returns, `produced = delivered + spooled + failed`.
pub trait Sink: Send {
    /// A short description for the summary, e.g. `clickhouse http://host:8123 (db mable)`.
    /// Never includes credentials.
    fn describe(&self) -> String;

    /// Called once on the sidecar thread before any chunk, while the workers
    /// start: set-up done here (opening files, starting a thread) is off the
    /// run's critical path.
    fn start(&mut self, ledger: Ledger);

    /// Takes one chunk. Must not wait on a network: the sidecar drains the
    /// workers' channel between calls, so a sink that talks to a server does
    /// so on a thread of its own and spills to disk when that thread is behind.
    fn deliver(&mut self, chunk: Chunk);

    /// Settles every chunk handed over so far (delivered, spooled or failed)
    /// before returning, at the latest around `deadline`.
    fn flush(&mut self, _deadline: Instant) {}

    /// Called once at shutdown: settles everything, like [`flush`](Sink::flush).
    fn finish(&mut self, deadline: Instant) {
        self.flush(deadline);
    }
}
