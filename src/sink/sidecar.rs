//! The sidecar: one thread per process that ships metric rows while the run goes.
//!
//! Workers hand it rows in bulk (one message per finished batch, never per
//! record) through a bounded channel; a worker waits at most
//! [`SEND_PATIENCE`] for room and otherwise drops the rows and counts them.
//! The sidecar gathers rows per table and delivers a chunk when a table has
//! [`CHUNK_ROWS`] rows or its oldest row is [`CHUNK_AGE`] old, so a long
//! run's rows are queryable within about a second of their batch finishing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::{Chunk, Outcome, Sink};
use crate::metrics::rows::{Rows, Table};

/// Rows per table that trigger a delivery.
pub const CHUNK_ROWS: usize = 5_000;
/// Age of a table's oldest buffered row that triggers a delivery.
pub const CHUNK_AGE: Duration = Duration::from_millis(1_000);
/// How long a worker waits for room in the channel before dropping rows.
pub const SEND_PATIENCE: Duration = Duration::from_millis(100);

enum Msg {
    Rows(Rows),
    Stop,
}

/// Where workers send rows. Cheap to clone.
#[derive(Clone)]
pub struct MetricsSender {
    tx: Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for MetricsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSender")
            .field("queued", &self.tx.len())
            .finish()
    }
}

impl MetricsSender {
    /// Hands rows to the sidecar; never blocks longer than [`SEND_PATIENCE`].
    pub fn send(&self, rows: Rows) {
        if rows.is_empty() {
            return;
        }
        let n = rows.len() as u64;
        if self
            .tx
            .send_timeout(Msg::Rows(rows), SEND_PATIENCE)
            .is_err()
        {
            self.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// What happened to the rows of a run, as printed at shutdown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub produced: u64,
    pub delivered: u64,
    pub spooled: u64,
    pub failed: u64,
    pub dropped: u64,
    pub sink: String,
    pub errors: Vec<String>,
}

/// The running sidecar thread.
pub struct Sidecar {
    tx: MetricsSender,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The thread's report, sent as it ends: shutdown waits on it with a deadline.
    done: crossbeam_channel::Receiver<DeliveryReport>,
}

impl Sidecar {
    /// Starts the thread, delivering to `sink` chunks named `{prefix}-{seq}`.
    pub fn start(sink: Box<dyn Sink>, insert_prefix: String) -> Sidecar {
        // Room for minutes of rows while a sink retries; each message is one
        // worker's rows of one batch.
        let (tx, rx) = bounded(65_536);
        let dropped = Arc::new(AtomicU64::new(0));
        let (done_tx, done) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("mable:sidecar".into())
            .spawn(move || {
                let _ = done_tx.send(run(rx, sink, insert_prefix));
            })
            .expect("spawn the sidecar thread");
        Sidecar {
            tx: MetricsSender { tx, dropped },
            thread: Some(thread),
            done,
        }
    }

    /// A handle for workers.
    pub fn sender(&self) -> MetricsSender {
        self.tx.clone()
    }

    /// Delivers what is buffered, waiting at most `wait` for the sink.
    pub fn shutdown(mut self, wait: Duration) -> DeliveryReport {
        let _ = self.tx.tx.send_timeout(Msg::Stop, wait);
        let thread = self.thread.take().expect("joined once");
        let mut report = if let Ok(report) = self.done.recv_timeout(wait) {
            let _ = thread.join();
            report
        } else {
            DeliveryReport {
                errors: vec![format!(
                    "the sidecar did not finish within {wait:?}; rows still buffered were not delivered"
                )],
                ..DeliveryReport::default()
            }
        };
        report.dropped = self.tx.dropped.load(Ordering::Relaxed);
        report
    }
}

struct Buffer {
    rows: Rows,
    since: Instant,
}

fn run(rx: Receiver<Msg>, mut sink: Box<dyn Sink>, prefix: String) -> DeliveryReport {
    let mut report = DeliveryReport {
        sink: sink.describe(),
        ..DeliveryReport::default()
    };
    let mut buffers: BTreeMap<Table, Buffer> = BTreeMap::new();
    let mut seq = 0u64;
    let mut deliver = |rows: Rows, report: &mut DeliveryReport, sink: &mut Box<dyn Sink>| {
        let n = rows.len() as u64;
        let chunk = Chunk::new(format!("{prefix}-{seq:06}"), rows);
        seq += 1;
        match sink.deliver(&chunk) {
            Outcome::Delivered => report.delivered += n,
            Outcome::Spooled => report.spooled += n,
            Outcome::Rejected(e) => {
                report.failed += n;
                tracing::error!(error = %e, table = chunk.rows.table().name(), "metric rows rejected");
                if report.errors.len() < 10 {
                    report.errors.push(e);
                }
            }
        }
    };
    loop {
        let oldest = buffers.values().map(|b| b.since).min();
        let timeout = oldest.map_or(CHUNK_AGE, |t| CHUNK_AGE.saturating_sub(t.elapsed()));
        let stop = match rx.recv_timeout(timeout) {
            Ok(Msg::Rows(rows)) => {
                report.produced += rows.len() as u64;
                let table = rows.table();
                match buffers.get_mut(&table) {
                    Some(b) => b.rows.append(rows),
                    None => {
                        buffers.insert(
                            table,
                            Buffer {
                                rows,
                                since: Instant::now(),
                            },
                        );
                    }
                }
                false
            }
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        };
        let due: Vec<Table> = buffers
            .iter()
            .filter(|(_, b)| stop || b.rows.len() >= CHUNK_ROWS || b.since.elapsed() >= CHUNK_AGE)
            .map(|(t, _)| *t)
            .collect();
        for table in due {
            let b = buffers.remove(&table).expect("due table is buffered");
            deliver(b.rows, &mut report, &mut sink);
        }
        if stop {
            // Rows still queued behind the stop message.
            while let Ok(Msg::Rows(rows)) = rx.try_recv() {
                report.produced += rows.len() as u64;
                deliver(rows, &mut report, &mut sink);
            }
            sink.finish(Instant::now() + Duration::from_secs(5));
            let drained = sink.drained_rows().min(report.spooled);
            report.spooled -= drained;
            report.delivered += drained;
            return report;
        }
    }
}
