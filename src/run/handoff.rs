//! A one-shot request/reply between the first local worker and the main thread.

use std::sync::{Arc, Condvar, Mutex};

struct State<Q, A> {
    request: Option<Q>,
    reply: Option<A>,
}

/// Worker → main: a request (`Q`), main → workers: one reply (`A`) that every
/// local worker reads.
pub(crate) struct Handoff<Q, A> {
    inner: Arc<(Mutex<State<Q, A>>, Condvar)>,
}

impl<Q, A> Clone for Handoff<Q, A> {
    fn clone(&self) -> Self {
        Handoff {
            inner: self.inner.clone(),
        }
    }
}

impl<Q, A: Clone> Handoff<Q, A> {
    pub(crate) fn new() -> Self {
        Handoff {
            inner: Arc::new((
                Mutex::new(State {
                    request: None,
                    reply: None,
                }),
                Condvar::new(),
            )),
        }
    }

    pub(crate) fn request(&self, q: Q) {
        let (lock, cvar) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).request = Some(q);
        cvar.notify_all();
    }

    /// Waits at most `timeout` for the request; takes it if it came.
    pub(crate) fn wait_request(&self, timeout: std::time::Duration) -> Option<Q> {
        let (lock, cvar) = &*self.inner;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (mut state, _) = cvar
            .wait_timeout_while(state, timeout, |s| s.request.is_none())
            .unwrap_or_else(|e| e.into_inner());
        state.request.take()
    }

    pub(crate) fn reply(&self, a: A) {
        let (lock, cvar) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).reply = Some(a);
        cvar.notify_all();
    }

    /// Blocks until the reply is there.
    pub(crate) fn wait_reply(&self) -> A {
        let (lock, cvar) = &*self.inner;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(a) = &state.reply {
                return a.clone();
            }
            state = cvar.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}
