//! How long a worker spends capturing metrics outside its stages: making
//! rows of finished batches, handing them to the sidecar, and reading
//! timely's and differential's logs. The summary prints it, so every run
//! says what its own measuring cost.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A worker's capture time; clones share it (the log callbacks hold one).
#[derive(Debug, Clone, Default)]
pub struct CaptureTime(Rc<Cell<u64>>);

impl CaptureTime {
    /// Runs `f`, adding its wall time.
    ///
    /// ```
    /// use mable_pipeline::metrics::capture_time::CaptureTime;
    /// let t = CaptureTime::default();
    /// let n = t.time(|| (0..1000u64).sum::<u64>());
    /// assert_eq!(n, 499_500);
    /// assert!(t.total() > std::time::Duration::ZERO);
    /// ```
    pub fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        let ns = start.elapsed().as_nanos() as u64;
        self.0.set(self.0.get() + ns.max(1));
        out
    }

    /// The time taken so far.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.0.get())
    }
}
