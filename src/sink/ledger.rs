//! The one set of delivery counts of a run: what became of every row the
//! sidecar handed to its sink.
//!
//! The sidecar records rows as `produced` when it cuts them into a chunk; the
//! sink records each chunk's fate — delivered, spooled, failed — and, when a
//! spooled chunk is delivered later in the run, moves its rows from spooled to
//! delivered. Nobody else keeps counts, so they cannot disagree, and once the
//! sink has finished `produced = delivered + spooled + failed` holds exactly.
//!
//! ```
//! use mable_pipeline::sink::Ledger;
//! let ledger = Ledger::default();
//! ledger.produced(10);
//! ledger.spooled(10);
//! ledger.drained(4);
//! let c = ledger.counts();
//! assert_eq!((c.delivered, c.spooled), (4, 6));
//! assert!(c.adds_up());
//! ```

use std::sync::{Arc, Mutex};

/// Distinct error messages kept for the summary; later ones are only counted.
const MAX_ERRORS: usize = 10;

/// Rows by fate, as of one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows cut into chunks and handed to the sink.
    pub produced: u64,
    /// Rows known to be where the sink meant them to go.
    pub delivered: u64,
    /// Rows waiting in the spool for `metrics replay` (not yet drained).
    pub spooled: u64,
    /// Rows neither delivered nor kept (the spool itself could not be written,
    /// or a metric file could not be).
    pub failed: u64,
    /// Each distinct problem once, in the order first seen.
    pub errors: Vec<String>,
}

impl Counts {
    /// Rows handed over whose fate is not known yet (a chunk still in the
    /// sink's hands). Zero once the sink has finished.
    pub fn in_flight(&self) -> u64 {
        self.produced
            .saturating_sub(self.delivered + self.spooled + self.failed)
    }

    /// `produced = delivered + spooled + failed`.
    pub fn adds_up(&self) -> bool {
        self.produced == self.delivered + self.spooled + self.failed
    }
}

/// A shared handle to a run's [`Counts`]. Cheap to clone; updated once per
/// chunk, never per row.
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Mutex<Counts>>);

impl Ledger {
    fn update(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// A copy of the counts now.
    pub fn counts(&self) -> Counts {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `n` rows handed to the sink.
    pub fn produced(&self, n: u64) {
        self.update(|c| c.produced += n);
    }

    /// `n` rows reached their destination.
    pub fn delivered(&self, n: u64) {
        self.update(|c| c.delivered += n);
    }

    /// `n` rows went to the spool.
    pub fn spooled(&self, n: u64) {
        self.update(|c| c.spooled += n);
    }

    /// `n` rows counted as spooled earlier were delivered from the spool.
    pub fn drained(&self, n: u64) {
        self.update(|c| {
            let n = n.min(c.spooled);
            c.spooled -= n;
            c.delivered += n;
        });
    }

    /// `n` rows could be neither delivered nor kept, because of `error`.
    pub fn failed(&self, n: u64, error: impl Into<String>) {
        let error = error.into();
        self.update(|c| {
            c.failed += n;
            remember(c, error);
        });
    }

    /// Notes a problem for the summary; the same text is kept once.
    /// Returns true the first time this text is seen, so a caller can log it once.
    pub fn error(&self, error: impl Into<String>) -> bool {
        let error = error.into();
        let mut first = false;
        self.update(|c| first = remember(c, error));
        first
    }
}

fn remember(c: &mut Counts, error: String) -> bool {
    if c.errors.contains(&error) || c.errors.len() >= MAX_ERRORS {
        return false;
    }
    c.errors.push(error);
    true
}
