//! The sidecar: one thread per process that ships metric rows while the run goes.
//!
//! Workers hand it rows in bulk (one message per finished batch, never per
//! record) through a bounded channel. The sidecar gathers rows per table and
//! hands its sink a chunk when a table has [`CHUNK_ROWS`] rows or its oldest
//! row is [`CHUNK_AGE`] old, so a long run's rows are queryable within about
//! a second of their batch finishing.
//!
//! # Nothing dropped, memory bounded
//!
//! The sidecar only ever does memory work and local disk writes: a sink must
//! not wait on a network in [`Sink::deliver`] (the ClickHouse sink sends from
//! a thread of its own and spills chunks to its disk spool when that thread is
//! behind). So the channel keeps draining while a server is slow or away, and
//! its capacity ([`CHANNEL_MESSAGES`]) is the bound on rows held in memory.
//! Should even the disk fall behind and the channel fill, a worker waits for
//! room: the run slows down to what the disk takes, and no row is dropped.
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

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded, unbounded};

use super::{Chunk, Counts, Ledger, Sink};
use crate::table::{Rows, Table};

/// Rows per table that trigger a delivery.
pub const CHUNK_ROWS: usize = 5_000;
/// Age of a table's oldest buffered row that triggers a delivery.
pub const CHUNK_AGE: Duration = Duration::from_millis(1_000);
/// How long the sidecar sleeps between looks at the channel when fewer than
/// [`CHUNK_ROWS`] rows wait: rows reach the sink at most `TICK + CHUNK_AGE`
/// after they were sent.
pub const TICK: Duration = Duration::from_millis(200);
/// Messages the channel holds: the bound on rows waiting in memory (each
/// message is one worker's rows of one table for one batch).
pub const CHANNEL_MESSAGES: usize = 65_536;
/// How often a sender waiting for room in a full channel looks again.
const ROOM_POLL: Duration = Duration::from_micros(200);
/// Time allowed beyond a deadline for local disk work (writing what is left to
/// the spool) before shutdown stops waiting for the sidecar.
const DISK_GRACE: Duration = Duration::from_secs(5);

enum Msg {
    Rows(Rows),
    /// Hand every buffered row to the sink and settle them, then answer.
    Flush(Instant, Sender<()>),
    /// Like `Flush`, then end the thread.
    Stop(Instant),
}

/// Where workers send rows. Cheap to clone.
#[derive(Clone)]
pub struct MetricsSender {
    tx: Sender<Msg>,
    /// Rows sent and not yet taken by the sidecar.
    queued: Arc<AtomicU64>,
    /// Rows that could not be sent because the sidecar thread is gone.
    lost: Arc<AtomicU64>,
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
    /// Hands rows to the sidecar. Never drops them: when the channel is full
    /// (the sidecar's disk is behind) it waits for room.
    pub fn send(&self, rows: Rows) {
        if rows.is_empty() {
            return;
        }
        let n = rows.len() as u64;
        let before = self.queued.fetch_add(n, Ordering::Relaxed);
        if before < CHUNK_ROWS as u64 && before + n >= CHUNK_ROWS as u64 {
            self.sidecar.unpark();
        }
        // The bound, kept here rather than by a fixed-size channel: an array
        // channel of CHANNEL_MESSAGES slots is 3.7 MB written at start-up,
        // most of a short run's fixed cost; the list channel grows as it
        // fills. Should the sidecar's thread be gone, its receiver's end
        // empties the channel, and this wait ends.
        while self.tx.len() >= CHANNEL_MESSAGES {
            self.sidecar.unpark();
            std::thread::sleep(ROOM_POLL);
        }
        let sent = self.tx.send(Msg::Rows(rows)).is_ok();
        if !sent {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            self.lost.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Renders `rows` for `table` and hands them over. A row that cannot be
    /// rendered (a map with non-string keys; the engine's row types never
    /// fail) is counted lost with the rest of the call's rows, never dropped
    /// silently.
    pub fn send_rows<T: serde::Serialize>(&self, table: &Table, rows: &[T]) {
        if rows.is_empty() {
            return;
        }
        match Rows::of(table, rows) {
            Ok(r) => self.send(r),
            Err(e) => {
                tracing::error!(table = table.name(), error = %e, "rows cannot be rendered");
                self.lost.fetch_add(rows.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

impl crate::table::Shipper for MetricsSender {
    fn ship(&self, rows: Rows) {
        self.send(rows);
    }
}

/// What happened to the rows of a run, as printed at shutdown:
/// `produced = delivered + spooled + failed + dropped`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub produced: u64,
    pub delivered: u64,
    /// Waiting in the spool for `metrics replay`.
    pub spooled: u64,
    /// Neither delivered nor kept (e.g. a full disk); the errors say why.
    pub failed: u64,
    /// Rows whose fate is unknown because the sidecar could not finish in
    /// time (or died). Zero by design: workers never drop rows.
    pub dropped: u64,
    pub sink: String,
    pub errors: Vec<String>,
}

impl DeliveryReport {
    fn new(sink: &str, counts: Counts, unaccounted: u64) -> DeliveryReport {
        DeliveryReport {
            produced: counts.produced + unaccounted,
            dropped: counts.in_flight() + unaccounted,
            delivered: counts.delivered,
            spooled: counts.spooled,
            failed: counts.failed,
            sink: sink.to_string(),
            errors: counts.errors,
        }
    }
}

/// The running sidecar thread.
pub struct Sidecar {
    tx: MetricsSender,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Sent to as the thread ends: shutdown waits on it with a deadline.
    done: Receiver<()>,
    ledger: Ledger,
    sink: String,
}

impl Sidecar {
    /// Starts the thread, delivering to `sink` chunks named `{prefix}-{seq}`.
    pub fn start(sink: Box<dyn Sink>, insert_prefix: String) -> Sidecar {
        let (tx, rx) = unbounded();
        let queued = Arc::new(AtomicU64::new(0));
        let ledger = Ledger::default();
        let describe = sink.describe();
        let (done_tx, done) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("mable:sidecar".into())
            .spawn({
                let queued = queued.clone();
                let ledger = ledger.clone();
                move || {
                    run(rx, &queued, sink, insert_prefix, ledger);
                    let _ = done_tx.send(());
                }
            })
            .expect("spawn the sidecar thread");
        Sidecar {
            tx: MetricsSender {
                tx,
                queued,
                lost: Arc::new(AtomicU64::new(0)),
                sidecar: thread.thread().clone(),
            },
            thread: Some(thread),
            done,
            ledger,
            sink: describe,
        }
    }

    /// A handle for workers.
    pub fn sender(&self) -> MetricsSender {
        self.tx.clone()
    }

    /// Hands every row sent so far to the sink and waits until each is
    /// delivered, spooled or failed (at most about `wait`), then returns the
    /// counts: the run's row in `pipeline_runs` carries them.
    pub fn flush(&self, wait: Duration) -> DeliveryReport {
        let deadline = Instant::now() + wait;
        let (ack_tx, ack) = bounded(1);
        let sent = self
            .tx
            .tx
            .send_deadline(Msg::Flush(deadline, ack_tx), deadline);
        self.wake();
        if sent.is_ok() {
            let _ = ack.recv_deadline(deadline + DISK_GRACE);
        }
        self.report(self.unaccounted())
    }

    /// Delivers what is buffered, waiting about `wait` at most for the sink;
    /// whatever cannot be delivered by then is spooled or counted.
    pub fn shutdown(mut self, wait: Duration) -> DeliveryReport {
        let deadline = Instant::now() + wait;
        let _ = self.tx.tx.send_deadline(Msg::Stop(deadline), deadline);
        self.wake();
        let thread = self.thread.take().expect("joined once");
        if self.done.recv_deadline(deadline + DISK_GRACE).is_ok() {
            let _ = thread.join();
            return self.report(self.tx.lost.load(Ordering::Relaxed));
        }
        let mut report = self.report(self.unaccounted());
        report.errors.push(format!(
            "the sidecar did not finish within {:?}; {} rows were still in its hands",
            wait + DISK_GRACE,
            report.dropped
        ));
        report
    }

    fn wake(&self) {
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// Rows sent but not yet taken by the sidecar, plus rows it never got.
    fn unaccounted(&self) -> u64 {
        self.tx.queued.load(Ordering::Relaxed) + self.tx.lost.load(Ordering::Relaxed)
    }

    fn report(&self, unaccounted: u64) -> DeliveryReport {
        DeliveryReport::new(&self.sink, self.ledger.counts(), unaccounted)
    }
}

struct Buffer {
    rows: Rows,
    since: Instant,
}

/// The sidecar's buffers and its sink; cuts chunks and numbers them.
struct Shipper {
    sink: Box<dyn Sink>,
    ledger: Ledger,
    prefix: String,
    seq: u64,
    buffers: BTreeMap<Table, Buffer>,
}

impl Shipper {
    fn take(&mut self, rows: Rows) {
        let table = rows.table().clone();
        match self.buffers.get_mut(&table) {
            Some(b) => b.rows.append(rows),
            None => {
                self.buffers.insert(
                    table,
                    Buffer {
                        rows,
                        since: Instant::now(),
                    },
                );
            }
        }
    }

    fn ship(&mut self, rows: Rows) {
        let chunk = Chunk::new(format!("{}-{:06}", self.prefix, self.seq), rows);
        self.seq += 1;
        self.ledger.produced(chunk.rows.len() as u64);
        self.sink.deliver(chunk);
    }

    /// Hands over the tables that are due (all of them with `all`).
    fn ship_due(&mut self, all: bool) {
        let due: Vec<Table> = self
            .buffers
            .iter()
            .filter(|(_, b)| all || b.rows.len() >= CHUNK_ROWS || b.since.elapsed() >= CHUNK_AGE)
            .map(|(t, _)| t.clone())
            .collect();
        for table in due {
            let b = self.buffers.remove(&table).expect("due table is buffered");
            self.ship(b.rows);
        }
    }
}

fn run(rx: Receiver<Msg>, queued: &AtomicU64, sink: Box<dyn Sink>, prefix: String, ledger: Ledger) {
    let mut s = Shipper {
        sink,
        ledger: ledger.clone(),
        prefix,
        seq: 0,
        buffers: BTreeMap::new(),
    };
    s.sink.start(ledger);
    loop {
        let mut stop = None;
        loop {
            match rx.try_recv() {
                Ok(Msg::Rows(rows)) => {
                    queued.fetch_sub(rows.len() as u64, Ordering::Relaxed);
                    s.take(rows);
                }
                Ok(Msg::Flush(deadline, ack)) => {
                    s.ship_due(true);
                    s.sink.flush(deadline);
                    let _ = ack.send(());
                }
                Ok(Msg::Stop(deadline)) => {
                    stop = Some(deadline);
                    break;
                }
                Err(TryRecvError::Disconnected) => {
                    stop = Some(Instant::now() + CHUNK_AGE);
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        if let Some(deadline) = stop {
            // Rows still queued behind the stop message.
            while let Ok(msg) = rx.try_recv() {
                if let Msg::Rows(rows) = msg {
                    queued.fetch_sub(rows.len() as u64, Ordering::Relaxed);
                    s.take(rows);
                }
            }
            s.ship_due(true);
            s.sink.finish(deadline);
            return;
        }
        s.ship_due(false);
        // Sleep until the next look, or until workers say a chunk is waiting
        // (or shutdown). A spurious wake-up only means an early look.
        let oldest = s.buffers.values().map(|b| b.since).min();
        let due_in = oldest.map_or(TICK, |t| CHUNK_AGE.saturating_sub(t.elapsed()));
        if queued.load(Ordering::Relaxed) < CHUNK_ROWS as u64 {
            std::thread::park_timeout(due_in.min(TICK));
        }
    }
}

#[cfg(test)]
mod tests;
