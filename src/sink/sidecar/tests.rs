//! The sidecar delivers while the run goes — not only at shutdown — and
//! delivers every row exactly once, however the rows were cut into messages.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{CHANNEL_MESSAGES, CHUNK_AGE, CHUNK_ROWS, Sidecar, TICK};
use crate::metrics::rows::BatchRow;
use crate::metrics::tables::metric_tables;
use crate::sink::{Chunk, Ledger, Sink};
use crate::table::Rows;

/// A sink that keeps what it is given, for the test to look at; with a
/// `stall`, its first delivery takes that long (a disk that hangs).
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<Chunk>>>, Ledger, Option<Duration>);

impl Kept {
    fn rows(&self) -> usize {
        self.0.lock().unwrap().iter().map(|c| c.rows.len()).sum()
    }
}

impl Sink for Kept {
    fn describe(&self) -> String {
        "kept in memory".into()
    }
    fn start(&mut self, ledger: Ledger) {
        self.1 = ledger;
    }
    fn deliver(&mut self, chunk: Chunk) {
        if let Some(stall) = self.2.take() {
            std::thread::sleep(stall);
        }
        self.1.delivered(chunk.rows.len() as u64);
        self.0.lock().unwrap().push(chunk);
    }
}

fn batch_rows(first: u32, n: u32) -> Rows {
    let rows: Vec<BatchRow> = (first..first + n)
        .map(|b| BatchRow {
            run_id: "r".into(),
            dataflow: "d".into(),
            batch_id: b,
            worker_id: 0,
            process_id: 0,
            records_in: 1,
            entered_us: 0,
            completed_us: 0,
            latency_ms: 0.0,
            timestamp: 0,
        })
        .collect();
    Rows::of(&metric_tables().batches, &rows).unwrap()
}

/// Waits (bounded, as a watchdog) until `kept` holds `n` rows.
fn wait_for(kept: &Kept, n: usize, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if kept.rows() >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn a_few_rows_are_delivered_during_the_run() {
    let kept = Kept::default();
    let sidecar = Sidecar::start(Box::new(kept.clone()), "t".into());
    sidecar.sender().send(batch_rows(0, 3));
    // Rows below a chunk's worth go out once they are CHUNK_AGE old, seen at
    // the next tick; the limit is a watchdog well beyond that.
    assert!(
        wait_for(&kept, 3, (CHUNK_AGE + TICK) * 5),
        "rows only arrived at shutdown"
    );
    let report = sidecar.shutdown(Duration::from_secs(5));
    assert_eq!((report.produced, report.delivered), (3, 3));
}

#[test]
fn a_chunks_worth_wakes_the_sidecar_and_every_row_lands_once() {
    let kept = Kept::default();
    let sidecar = Sidecar::start(Box::new(kept.clone()), "t".into());
    let sender = sidecar.sender();
    let per_message = 7u32;
    let messages = (CHUNK_ROWS as u32 * 3) / per_message + 1;
    std::thread::scope(|s| {
        for half in 0..2 {
            let sender = sender.clone();
            s.spawn(move || {
                for m in (half..messages).step_by(2) {
                    sender.send(batch_rows(m * per_message, per_message));
                }
            });
        }
    });
    let total = (messages * per_message) as usize;
    // At least the full chunks arrive before shutdown.
    assert!(wait_for(&kept, CHUNK_ROWS, CHUNK_AGE * 5));
    let report = sidecar.shutdown(Duration::from_secs(5));
    assert_eq!(report.delivered, total as u64);
    let mut ids: Vec<u32> = kept
        .0
        .lock()
        .unwrap()
        .iter()
        .flat_map(|c| {
            assert_eq!(c.rows.table(), &metric_tables().batches);
            c.rows
                .lines()
                .map(|l| serde_json::from_str::<BatchRow>(&l).unwrap().batch_id)
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..total as u32).collect::<Vec<_>>());
}

/// Rows sent while the sink is stuck are never dropped: with more messages
/// than the channel holds, senders wait for room instead (the sidecar only
/// ever waits on its disk; a sink that talks to a network does so elsewhere).
#[test]
fn a_stuck_sink_makes_senders_wait_not_drop() {
    let kept = Kept(
        Default::default(),
        Ledger::default(),
        Some(Duration::from_millis(1500)),
    );
    let sidecar = Sidecar::start(Box::new(kept.clone()), "t".into());
    let sender = sidecar.sender();
    // A first chunk's worth, so the sidecar wakes and gets stuck in the sink...
    sender.send(batch_rows(0, CHUNK_ROWS as u32));
    std::thread::sleep(TICK);
    // ... then far more messages than the channel holds, from two threads.
    let messages = CHANNEL_MESSAGES as u32 + 20_000;
    let most_waiting = std::sync::atomic::AtomicUsize::new(0);
    let sending = std::sync::atomic::AtomicUsize::new(2);
    std::thread::scope(|s| {
        // Memory stays bounded meanwhile: the channel never holds more than
        // its bound (plus one message per sender that saw room at once).
        s.spawn(|| {
            while sending.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                most_waiting.fetch_max(sender.tx.len(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        for half in 0..2 {
            let sender = sender.clone();
            let sending = &sending;
            s.spawn(move || {
                for m in (half..messages).step_by(2) {
                    sender.send(batch_rows(CHUNK_ROWS as u32 + m, 1));
                }
                sending.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            });
        }
    });
    let most = most_waiting.into_inner();
    assert!(
        (CHANNEL_MESSAGES / 2..=CHANNEL_MESSAGES + 2).contains(&most),
        "the channel held {most} messages at most; its bound is {CHANNEL_MESSAGES}"
    );
    let report = sidecar.shutdown(Duration::from_secs(20));
    let total = CHUNK_ROWS as u64 + messages as u64;
    assert_eq!(report.dropped, 0, "{report:?}");
    assert_eq!(
        (report.produced, report.delivered),
        (total, total),
        "{report:?}"
    );
    assert_eq!(kept.rows() as u64, total);
}
