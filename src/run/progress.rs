//! Progress on a terminal: records, batches and rate, twice a second, on one
//! line of stderr. Workers only bump two atomics per batch.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters the workers bump once per batch.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Records read, over all local workers.
    pub records: AtomicU64,
    /// Records that left the pipeline, over all local workers.
    pub records_out: AtomicU64,
    /// Batches begun: the highest epoch any local worker fed, plus one.
    pub batches: AtomicU64,
    /// Bumped whenever a local worker reads a batch or sees the dataflow's
    /// frontier move: the stall watchdog's notion of progress.
    pub activity: AtomicU64,
}

impl super::control::LocalProgress for Counters {
    fn progress(&self) -> u64 {
        self.activity.load(Ordering::Relaxed)
    }
    fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
}

/// The thread printing progress; stops and clears its line when dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub(crate) fn start(counters: Arc<Counters>, expected: u64) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("mable:progress".into())
            .spawn(move || {
                let start = Instant::now();
                let mut printed = false;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    let elapsed = start.elapsed();
                    if elapsed < Duration::from_millis(500) || elapsed.as_millis() % 500 >= 100 {
                        continue;
                    }
                    let records = counters.records.load(Ordering::Relaxed);
                    let rate = records as f64 / elapsed.as_secs_f64();
                    let pct = if expected > 0 {
                        format!(" ({:.0}%)", 100.0 * records as f64 / expected as f64)
                    } else {
                        String::new()
                    };
                    eprint!(
                        "\r{records} records{pct}, {} batches, {:.0} records/s, {:.1}s   ",
                        counters.batches.load(Ordering::Relaxed),
                        rate,
                        elapsed.as_secs_f64()
                    );
                    let _ = std::io::stderr().flush();
                    printed = true;
                }
                if printed {
                    eprint!("\r{:70}\r", "");
                }
            })
            .ok();
        Ticker { stop, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
