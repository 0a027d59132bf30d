//! The sidecar: one thread per process that ships metric rows while the run goes.
//!
//! Workers hand it rows in bulk (one message per finished batch, never per
//! record) through a bounded channel; a worker waits at most
//! [`SEND_PATIENCE`] for room and otherwise drops the rows and counts them.
//! The sidecar gathers rows per table and delivers a chunk when a table has
//! [`CHUNK_ROWS`] rows or its oldest row is [`CHUNK_AGE`] old, so a long
//! run's rows are queryable within about a second of their batch finishing.
//!
//! The sidecar does not wake for every message: it sleeps for a [`TICK`] and
//! then drains the channel, and workers wake it early only when
//! [`CHUNK_ROWS`] rows are waiting. On a machine with as many workers as
//! cores, a wake-up per message meant the sidecar preempted a worker hundreds
//! of times per second, and every worker waits on the slowest at each batch:
//! that alone was most of the metrics overhead (4 % of a 1M-event run).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded};

use super::{Chunk, Outcome, Sink};
use crate::metrics::rows::{Rows, Table};

/// Rows per table that trigger a delivery.
pub const CHUNK_ROWS: usize = 5_000;
/// Age of a table's oldest buffered row that triggers a delivery.
pub const CHUNK_AGE: Duration = Duration::from_millis(1_000);
/// How long a worker waits for room in the channel before dropping rows.
pub const SEND_PATIENCE: Duration = Duration::from_millis(100);
/// How long the sidecar sleeps between looks at the channel when fewer than
/// [`CHUNK_ROWS`] rows wait: rows reach the sink at most `TICK + CHUNK_AGE`
/// after they were sent.
pub const TICK: Duration = Duration::from_millis(200);

enum Msg {
    Rows(Rows),
    Stop,
}

/// Where workers send rows. Cheap to clone.
#[derive(Clone)]
pub struct MetricsSender {
    tx: Sender<Msg>,
    dropped: Arc<AtomicU64>,
    /// Rows sent and not yet taken by the sidecar.
    queued: Arc<AtomicU64>,
    sidecar: std::thread::Thread,
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
        let before = self.queued.fetch_add(n, Ordering::Relaxed);
        if before < CHUNK_ROWS as u64 && before + n >= CHUNK_ROWS as u64 {
            self.sidecar.unpark();
        }
        if self
            .tx
            .send_timeout(Msg::Rows(rows), SEND_PATIENCE)
            .is_err()
        {
            self.queued.fetch_sub(n, Ordering::Relaxed);
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
        let queued = Arc::new(AtomicU64::new(0));
        let (done_tx, done) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("mable:sidecar".into())
            .spawn({
                let queued = queued.clone();
                move || {
                    let _ = done_tx.send(run(rx, &queued, sink, insert_prefix));
                }
            })
            .expect("spawn the sidecar thread");
        Sidecar {
            tx: MetricsSender {
                tx,
                dropped,
                queued,
                sidecar: thread.thread().clone(),
            },
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
        thread.thread().unpark();
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

fn run(
    rx: Receiver<Msg>,
    queued: &AtomicU64,
    mut sink: Box<dyn Sink>,
    prefix: String,
) -> DeliveryReport {
    let mut report = DeliveryReport {
        sink: sink.describe(),
        ..DeliveryReport::default()
    };
    sink.prepare();
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
        let mut stop = false;
        loop {
            match rx.try_recv() {
                Ok(Msg::Rows(rows)) => {
                    let n = rows.len() as u64;
                    queued.fetch_sub(n, Ordering::Relaxed);
                    report.produced += n;
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
                }
                Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => {
                    stop = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
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
        // Sleep until the next look, or until workers say a chunk is waiting
        // (or shutdown). A spurious wake-up only means an early look.
        let oldest = buffers.values().map(|b| b.since).min();
        let due_in = oldest.map_or(TICK, |t| CHUNK_AGE.saturating_sub(t.elapsed()));
        if queued.load(Ordering::Relaxed) < CHUNK_ROWS as u64 {
            std::thread::park_timeout(due_in.min(TICK));
        }
    }
}

#[cfg(test)]
mod tests;
