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
         (the stage's own code failed: fix the closure, or use --on-error skip if bad records trigger it)"
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

    /// A panic outside any stage: timely's communication threads losing a peer,
    /// or a bug in mable-pipeline itself.
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

static ACTIVE: Mutex<Vec<Supervisor>> = Mutex::new(Vec::new());
static HOOK: std::sync::Once = std::sync::Once::new();

/// While the guard lives, any panic outside stage code (a dying worker, a
/// communication thread losing its peer) is reported to `supervisor`, so the
/// run ends instead of leaving the other workers spinning. Stage panics are
/// left to [`catch_stage_panic`]. The hook is installed once per process and
/// serves every run in it.
pub fn watch_panics(supervisor: &Supervisor) -> PanicWatch {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_STAGE.with(|c| c.get()) {
                return;
            }
            let message = Failure::panic_message(info.payload());
            let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
            let text = if message.contains("timely communication error")
                || message.contains("MergeQueue poisoned")
            {
                format!(
                    "lost the connection to a peer process ({message}); every process of a cluster run must stay up until the run ends"
                )
            } else {
                default(info);
                format!("internal error on thread {thread}: {message} (please report this as a bug)")
            };
            let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
            for s in active.iter() {
                s.fail(Failure::Internal(text.clone()));
            }
        }));
    });
    ACTIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(supervisor.clone());
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
        active.retain(|s| !Arc::ptr_eq(&s.inner, &self.supervisor.inner));
    }
}
