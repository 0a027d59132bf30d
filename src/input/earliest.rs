//! Fail mode on many workers: the error reported is the earliest bad record
//! of the input, not whichever worker got to its own first.
//!
//! A worker that meets a bad record posts it here with its key (its place in
//! the input: a byte offset, a line or an element index, in the order the
//! source's workers share the input) and stops feeding the dataflow. Every
//! other worker of the process sees the post at its next batch: one whose
//! unread records all come after the key stops too; one with records before
//! it checks them (parsing, without feeding) until it passes the key or
//! posts an earlier bad record. When the last of the process's workers has
//! stopped, the earliest post is the run's error. The time this takes is
//! that of parsing the input before the key, in parallel.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::InputError;

const NONE: u64 = u64::MAX;

/// The process's earliest bad record, shared by its workers' sources.
#[derive(Debug)]
pub(crate) struct Earliest {
    /// The process's workers, each of which ends its source once.
    workers: usize,
    /// The best candidate's key, [`NONE`] if none: read once per batch.
    posted: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    best: Option<(u64, InputError)>,
    ended: usize,
    reported: bool,
}

impl Earliest {
    pub(crate) fn new(workers: usize) -> Earliest {
        Earliest {
            workers: workers.max(1),
            posted: AtomicU64::new(NONE),
            state: Mutex::new(State::default()),
        }
    }

    #[inline]
    pub(crate) fn posted(&self) -> Option<u64> {
        let key = self.posted.load(Ordering::Acquire);
        (key != NONE).then_some(key)
    }

    /// Offers a bad record; the one with the smallest key is kept.
    pub(crate) fn post(&self, key: u64, error: InputError) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.best.as_ref().is_none_or(|(k, _)| key < *k) {
            state.best = Some((key, error));
            self.posted.store(key.min(NONE - 1), Ordering::Release);
        }
    }

    /// A worker's source ended (input exhausted, or stopped at a bad
    /// record). When it is the last of the process's workers and a bad
    /// record was posted, returns that error, for this worker to report.
    pub(crate) fn end(&self) -> Option<InputError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.ended += 1;
        if state.ended >= self.workers && !state.reported {
            let error = state.best.as_ref().map(|(_, e)| e.clone())?;
            state.reported = true;
            return Some(error);
        }
        None
    }

    /// A posted error that no worker reported (a worker stopped for another
    /// reason before the count completed): the run must not succeed.
    pub(crate) fn unreported(&self) -> Option<InputError> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match (&state.best, state.reported) {
            (Some((_, e)), false) => Some(e.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: u64) -> InputError {
        InputError::Record {
            path: "f".into(),
            line,
            reason: "bad".into(),
        }
    }

    #[test]
    fn the_smallest_key_wins_and_is_reported_once_by_the_last_worker() {
        let e = Earliest::new(3);
        assert_eq!(e.posted(), None);
        e.post(50, err(5));
        e.post(90, err(9));
        assert_eq!(e.posted(), Some(50));
        assert_eq!(e.end(), None);
        e.post(20, err(2));
        assert_eq!(e.posted(), Some(20));
        assert_eq!(e.end(), None);
        assert_eq!(e.unreported(), Some(err(2)));
        assert_eq!(e.end(), Some(err(2)));
        assert_eq!(e.unreported(), None);
        assert_eq!(e.end(), None);
    }

    #[test]
    fn a_clean_run_reports_nothing() {
        let e = Earliest::new(2);
        assert_eq!(e.end(), None);
        assert_eq!(e.end(), None);
        assert_eq!(e.unreported(), None);
    }
}
