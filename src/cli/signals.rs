//! Ctrl-C (SIGINT) and SIGTERM as normal ways to end a run.
//!
//! The first signal asks the run to stop ([`StopFlag`]): reading ends, the
//! batches in flight finish, metrics are flushed, the run row is written
//! with status `interrupted`, the summary is printed, and the process exits
//! with 128 + the signal's number (130, 143), as shells expect. A second
//! signal exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::stop::{StopFlag, StopReason};

/// Starts a thread that turns SIGINT and SIGTERM into `stop`. Returns false
/// (and the process keeps the default behaviour) if they cannot be caught.
pub(super) fn stop_on_signals(stop: StopFlag) -> bool {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return false;
    };
    static SEEN: AtomicBool = AtomicBool::new(false);
    std::thread::Builder::new()
        .name("mable:signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if SEEN.swap(true, Ordering::SeqCst) {
                    eprintln!("\ninterrupted again: exiting now, without waiting for the run");
                    crate::atomic_file::remove_uncommitted();
                    std::process::exit(128 + signal);
                }
                eprintln!(
                    "\ninterrupted: finishing the batches in flight and writing metrics \
                     (signal again to exit at once)"
                );
                stop.raise(StopReason::Signal(signal));
            }
        })
        .is_ok()
}
