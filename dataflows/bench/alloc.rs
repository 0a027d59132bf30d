//! A counting global allocator: bytes and allocations per operation, the
//! `BytesPerOp` and `AllocsPerOp` columns of the Go seed's benchmark CSV.
//!
//! [`CountingAlloc`] wraps another allocator (mimalloc in the binary) and
//! counts only while counting is switched on ([`count_allocations`]). Switched
//! off, it costs one relaxed load of a flag and a predictable branch per
//! allocation; `benches/pipelines.rs` (group `allocator`) measures that
//! against the bare allocator: 7.56 µs against 7.10 µs per 1,000 48-byte
//! allocate/free pairs (≈ 0.5 ns a pair, 2-vCPU EPYC VM), i.e. about 3 ms,
//! 1%, of a 1M-event `mable_event` run's 6 M allocations. The `bench`
//! subcommand times runs with counting off and counts allocations in a
//! separate run.
//!
//! The counters are process-wide statics, so library code can read them
//! without a handle to the allocator instance; they only move when a
//! `CountingAlloc` is the global allocator ([`installed`] tells).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The counters, on their own cache line, away from the flag every
/// allocation reads.
#[repr(align(64))]
struct Counters {
    allocs: AtomicU64,
    bytes: AtomicU64,
}

static COUNTERS: Counters = Counters {
    allocs: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
};

/// A global allocator that forwards to `A` and, while counting is on,
/// counts allocations and the bytes they asked for (a `realloc` counts as one
/// allocation of its new size, as Go counts a growing `append`).
///
/// ```ignore
/// #[global_allocator]
/// static GLOBAL: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc::new(mimalloc::MiMalloc);
/// ```
pub struct CountingAlloc<A>(A);

impl<A> CountingAlloc<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> CountingAlloc<A> {
        CountingAlloc(inner)
    }
}

#[inline(always)]
fn count(size: usize) {
    if ENABLED.load(Relaxed) {
        COUNTERS.allocs.fetch_add(1, Relaxed);
        COUNTERS.bytes.fetch_add(size as u64, Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `A`, itself a `GlobalAlloc`;
// counting touches only atomics and never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { self.0.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as above.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as above.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made while counting was on, by every thread of the process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocCount {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub allocs: u64,
    /// Bytes those calls asked for.
    pub bytes: u64,
}

fn snapshot() -> AllocCount {
    AllocCount {
        allocs: COUNTERS.allocs.load(Relaxed),
        bytes: COUNTERS.bytes.load(Relaxed),
    }
}

/// Whether a [`CountingAlloc`] is this process's global allocator.
pub fn installed() -> bool {
    let (_, count) = counted(|| std::hint::black_box(Box::new([0u8; 64])));
    count.allocs > 0
}

fn counted<T>(f: impl FnOnce() -> T) -> (T, AllocCount) {
    let before = snapshot();
    ENABLED.store(true, Relaxed);
    let value = f();
    ENABLED.store(false, Relaxed);
    let after = snapshot();
    (
        value,
        AllocCount {
            allocs: after.allocs - before.allocs,
            bytes: after.bytes - before.bytes,
        },
    )
}

/// Runs `f` with counting on and returns what it (and every other thread
/// meanwhile) allocated, or `None` when no [`CountingAlloc`] is installed.
/// Not reentrant: one caller at a time.
pub fn count_allocations<T>(f: impl FnOnce() -> T) -> (T, Option<AllocCount>) {
    if !installed() {
        return (f(), None);
    }
    let (value, count) = counted(f);
    (value, Some(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_through_a_local_instance() {
        let a = CountingAlloc::new(std::alloc::System);
        let layout = Layout::from_size_align(100, 8).unwrap();
        let (_, n) = counted(|| unsafe {
            let p = a.alloc(layout);
            let p = a.realloc(p, layout, 200);
            a.dealloc(p, Layout::from_size_align(200, 8).unwrap());
        });
        // Other test threads may allocate meanwhile, through the System
        // allocator, which is not counted; so these are exact.
        assert_eq!(n.allocs, 2);
        assert_eq!(n.bytes, 300);
    }
}
