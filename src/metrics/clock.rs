//! Wall-clock timestamps from monotonic instants.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Maps `Instant`s to unix microseconds from one reading taken at run start,
/// so rows from all workers of a process share a time base and the hot path
/// reads only the monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    base_unix_us: u64,
}

impl Clock {
    /// Reads both clocks now.
    pub fn now() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            base: Instant::now(),
            base_unix_us: unix.as_micros() as u64,
        }
    }

    /// Unix microseconds at `t`.
    ///
    /// ```
    /// use mable_pipeline::metrics::clock::Clock;
    /// let c = Clock::now();
    /// let later = std::time::Instant::now();
    /// assert!(c.unix_us(later) >= c.unix_us(c.start()));
    /// ```
    pub fn unix_us(&self, t: Instant) -> u64 {
        if t >= self.base {
            self.base_unix_us + t.duration_since(self.base).as_micros() as u64
        } else {
            self.base_unix_us
                .saturating_sub(self.base.duration_since(t).as_micros() as u64)
        }
    }

    /// The instant the clock was read.
    pub fn start(&self) -> Instant {
        self.base
    }

    /// Unix microseconds now.
    pub fn now_us(&self) -> u64 {
        self.unix_us(Instant::now())
    }
}
