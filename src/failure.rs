//! Failures that end a run, and the supervisor that ends it promptly.
//!
//! Timely leaves the other workers spinning forever when one worker panics or
//! gives up, so nothing in a worker may just return an error. Instead it
//! reports here; the run's main thread waits on [`Supervisor::wait`], sees the
//! first failure within milliseconds, finishes metrics with a bounded wait and
//! ends the process with a message that names the stage, file or peer.

use std::any::Any;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::input::InputError;

/// Why a run failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// Bad input in `--on-error fail` mode (the default).
    #[error(transparent)]
    Input(#[from] InputError),

    /// A user's stage closure panicked.
    #[error(
        "stage `{stage}` panicked on worker {worker} in batch {batch}: {message}\n  \
         (the stage's own code failed: fix its closure)"
    )]
    StagePanic {
        stage: String,
        worker: usize,
        batch: u64,
        message: String,
    },

    /// An `aggregate_by_key` total left the `i64` range users see. Sums are
    /// exact, so this is reported rather than wrapped or saturated.
    #[error(
        "stage `{stage}`: the sum for key {key} reached {sum} in batch {batch}, beyond the i64 range \
         aggregates report\n  (check the stage's value function: money belongs in minor units, \
         not scaled further)"
    )]
    AggregateOverflow {
        stage: String,
        key: String,
        batch: u64,
        sum: String,
    },

    /// Another process of the cluster went away (killed, crashed, its host
    /// gone): timely's connection to it broke.
    #[error(
        "lost process {process}{at}: {detail} (every process of a cluster run must stay up until it ends)",
        process = process.map_or_else(|| "?".to_string(), |p| p.to_string()),
        at = if address.is_empty() { String::new() } else { format!(" ({address})") }
    )]
    PeerLost {
        /// Its index (`-p`), when timely's thread names it.
        process: Option<usize>,
        address: String,
        detail: String,
    },

    /// Another process failed first and said why before it left: its own
    /// line, so every process names the same cause.
    #[error("{message}")]
    Relayed { process: usize, message: String },

    /// A cluster run in which nothing moved for the stall timeout: a host
    /// partitioned or frozen (TCP does not notice by itself; timely would
    /// wait forever).
    #[error("stalled: {0}")]
    Stalled(String),

    /// A panic outside any stage: a bug in mable-pipeline or in timely.
    #[error("{0}")]
    Internal(String),

    /// Writing `--output` or a collect sink failed.
    #[error("cannot write {path}: {reason}")]
    Output { path: String, reason: String },
}

impl Failure {
    /// Turns a panic payload into text.
    pub fn panic_message(payload: &(dyn Any + Send)) -> String {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_string()
        }
    }
}

#[derive(Debug, Default)]
struct State {
    failure: Option<Failure>,
    finished: bool,
}

/// Collects the first failure of a run and wakes whoever waits on it.
/// Cheap to clone; shared by every worker of a process.
#[derive(Debug, Clone, Default)]
pub struct Supervisor {
    inner: Arc<(Mutex<State>, Condvar)>,
}

impl Supervisor {
    /// A supervisor with nothing reported.
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// Reports a failure; only the first one of a run is kept.
    pub fn fail(&self, failure: Failure) {
        let (lock, cvar) = &*self.inner;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        if state.failure.is_none() {
            tracing::debug!(%failure, "run failed");
            state.failure = Some(failure);
        }
        cvar.notify_all();
    }

    /// Reports a panic caught in a stage.
    pub fn stage_panicked(
        &self,
        stage: &str,
        worker: usize,
        batch: u64,
        payload: &(dyn Any + Send),
    ) {
        self.fail(Failure::StagePanic {
            stage: stage.to_string(),
            worker,
            batch,
            message: Failure::panic_message(payload),
        });
    }

    /// True once any failure was reported. Workers poll it between batches.
    pub fn has_failed(&self) -> bool {
        let (lock, _) = &*self.inner;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .failure
            .is_some()
    }

    /// The first failure, if any.
    pub fn failure(&self) -> Option<Failure> {
        let (lock, _) = &*self.inner;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .failure
            .clone()
    }

    /// Marks the run's workers as all joined.
    pub fn finish(&self) {
        let (lock, cvar) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).finished = true;
        cvar.notify_all();
    }

    /// Waits up to `timeout` for the run's workers to be joined, failure or
    /// not. True if they were.
    pub fn wait_finished(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.inner;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        cvar.wait_timeout_while(state, timeout, |s| !s.finished)
            .map(|(s, _)| s.finished)
            .unwrap_or_else(|e| e.into_inner().0.finished)
    }

    /// Waits until the run finished or failed, or `timeout` passed.
    /// Returns the failure, if one was reported.
    pub fn wait(&self, timeout: Option<Duration>) -> WaitResult {
        let (lock, cvar) = &*self.inner;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if let Some(f) = &state.failure {
                return WaitResult::Failed(f.clone());
            }
            if state.finished {
                return WaitResult::Finished;
            }
            match deadline {
                None => state = cvar.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        return WaitResult::TimedOut;
                    }
                    state = cvar
                        .wait_timeout(state, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

/// What [`Supervisor::wait`] saw.
#[derive(Debug, Clone)]
pub enum WaitResult {
    Finished,
    Failed(Failure),
    TimedOut,
}

thread_local! {
    static IN_STAGE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` as a stage's user code: a panic inside is caught and returned, and
/// the process-wide panic hook stays quiet about it (the run reports it once,
/// naming the stage).
#[inline]
pub fn catch_stage_panic<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    IN_STAGE.with(|c| c.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_STAGE.with(|c| c.set(false));
    result
}

/// Runs being watched, each with its cluster's addresses (to name a lost peer).
static ACTIVE: Mutex<Vec<(Supervisor, Vec<String>)>> = Mutex::new(Vec::new());
static HOOK: std::sync::Once = std::sync::Once::new();

/// What a panic outside stage code means, from its message and thread.
fn classify_panic(message: &str, thread: &str, addresses: &[String]) -> Failure {
    // Timely's network threads are named `timely:recv-{process}` and
    // `timely:send-{process}` after the peer they talk to. The worker and
    // guard panics that follow a broken connection are its echoes.
    let peer = ["timely:recv-", "timely:send-"]
        .iter()
        .find_map(|p| thread.strip_prefix(p))
        .and_then(|i| i.parse::<usize>().ok());
    let echo = [
        "MergeQueue poisoned",
        "Send thread panic",
        "Recv thread panic",
    ]
    .iter()
    .any(|m| message.contains(m));
    if message.contains("timely communication error") || echo {
        let detail = message
            .strip_prefix("timely communication error: ")
            .unwrap_or(message);
        let detail = if echo {
            "the connection broke".to_string()
        } else {
            detail.to_string()
        };
        return Failure::PeerLost {
            process: peer,
            address: peer
                .and_then(|p| addresses.get(p).cloned())
                .unwrap_or_default(),
            detail,
        };
    }
    Failure::Internal(format!(
        "internal error on thread {thread}: {message} (please report this as a bug, \
         with the output of the same run under RUST_BACKTRACE=1)"
    ))
}

/// While the guard lives, any panic outside stage code (a dying worker, a
/// communication thread losing its peer) is reported to `supervisor`, so the
/// run ends instead of leaving the other workers spinning. Stage panics are
/// left to [`catch_stage_panic`]. The hook is installed once per process and
/// serves every run in it. `addresses` are the cluster's processes, to name
/// one that is lost (empty for a single process).
///
/// Nothing is printed here: the run reports its failure once, in one line.
/// For what looks like a bug, with `RUST_BACKTRACE` set, the standard panic
/// message and backtrace are printed too.
pub fn watch_panics(supervisor: &Supervisor, addresses: &[String]) -> PanicWatch {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_STAGE.with(|c| c.get()) {
                return;
            }
            let message = Failure::panic_message(info.payload());
            let thread = std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_string();
            let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
            let failure = classify_panic(&message, &thread, &[]);
            let bug = matches!(failure, Failure::Internal(_));
            if bug && (active.is_empty() || std::env::var_os("RUST_BACKTRACE").is_some()) {
                // A bug outside any run, or one with a backtrace asked for:
                // the standard report. A lost peer is never a bug of ours,
                // not even after the run: in a cluster of three, the
                // connection to the second survivor breaks as it exits too,
                // often once this process's run has already ended.
                default(info);
            }
            for (s, addresses) in active.iter() {
                s.fail(classify_panic(&message, &thread, addresses));
            }
        }));
    });
    ACTIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((supervisor.clone(), addresses.to_vec()));
    PanicWatch {
        supervisor: supervisor.clone(),
    }
}

/// Stops reporting panics to a run's supervisor when dropped.
#[derive(Debug)]
pub struct PanicWatch {
    supervisor: Supervisor,
}

impl Drop for PanicWatch {
    fn drop(&mut self) {
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        active.retain(|(s, _)| !Arc::ptr_eq(&s.inner, &self.supervisor.inner));
    }
}
