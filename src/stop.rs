//! Asking a run to stop early, cleanly: from a signal handler, a closed
//! output pipe, or a library caller's own thread.
//!
//! Workers look at the flag between batches (one atomic load per batch), stop
//! reading input, and let the batches already in flight finish, so the run
//! ends the normal way: stage rows, timely's operator graph and the run row
//! all written, with the records counted so far.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Why a run was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A signal, by number (`SIGINT` = 2, `SIGTERM` = 15).
    Signal(i32),
    /// Whoever read `--output -` closed the pipe: nothing more can be written.
    OutputClosed,
    /// A library caller asked.
    Requested,
    /// Another process of the cluster was asked to stop (by its index).
    Peer(usize),
}

impl StopReason {
    fn code(self) -> u32 {
        match self {
            StopReason::Signal(s) => 0x100 | (s as u32 & 0xff),
            StopReason::OutputClosed => 2,
            StopReason::Requested => 3,
            StopReason::Peer(p) => 0x1_0000 | (p as u32 & 0xffff),
        }
    }

    fn from_code(code: u32) -> Option<StopReason> {
        match code {
            0 => None,
            2 => Some(StopReason::OutputClosed),
            3 => Some(StopReason::Requested),
            c if c & 0x1_0000 != 0 => Some(StopReason::Peer((c & 0xffff) as usize)),
            c => Some(StopReason::Signal((c & 0xff) as i32)),
        }
    }

    /// How the run's status describes it.
    pub fn describe(self) -> String {
        match self {
            StopReason::Signal(2) => "interrupted (SIGINT)".to_string(),
            StopReason::Signal(15) => "interrupted (SIGTERM)".to_string(),
            StopReason::Signal(s) => format!("interrupted (signal {s})"),
            StopReason::OutputClosed => "stopped: the output pipe was closed".to_string(),
            StopReason::Requested => "stopped on request".to_string(),
            StopReason::Peer(p) => format!("stopped: process {p} of the cluster was interrupted"),
        }
    }
}

/// A shared "please stop" flag. Cheap to clone; the first reason raised is kept.
///
/// ```
/// use mable_pipeline::run::{StopFlag, StopReason};
/// let stop = StopFlag::default();
/// assert!(!stop.is_raised());
/// stop.raise(StopReason::Signal(2));
/// stop.raise(StopReason::Requested);
/// assert_eq!(stop.reason(), Some(StopReason::Signal(2)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicU32>);

impl StopFlag {
    /// Asks the run to stop; later reasons do not replace the first.
    pub fn raise(&self, reason: StopReason) {
        let _ = self
            .0
            .compare_exchange(0, reason.code(), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// True once any reason was raised.
    #[inline]
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }

    /// The first reason raised.
    pub fn reason(&self) -> Option<StopReason> {
        StopReason::from_code(self.0.load(Ordering::SeqCst))
    }
}
