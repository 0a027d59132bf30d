//! Honest baselines: the same per-record work as each seed dataflow, without
//! a dataflow engine.
//!
//! * [`fused`]: every stage hand-fused into one loop. Records are generated
//!   in chunks of [`CHUNK`] into a reused `Vec`, and each record is carried
//!   through map → filter/generate → reduce before the next; outputs are
//!   counted and dropped (the dataflows `collect` into nothing). With N
//!   threads the index range is split in N contiguous parts under
//!   `std::thread::scope` and the partial results merged: the speed limit at
//!   equal core count.
//! * [`rayon()`]: what a Rust user would write instead of a dataflow engine,
//!   a `rayon` parallel-iterator chain with one adaptor per stage, on a
//!   pool of N threads (built once per thread count and kept, as a program
//!   using rayon's global pool would).
//!
//! Both return an [`Outcome`] that must agree with the engine's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use super::workload::{Job, Outcome, Reduced, Workload, load_events};
use crate::dataflows::mable_event::{MaxPrice, audit_copy, price_of};
use crate::dataflows::records::{MableEvent, TestStruct};
use crate::dataflows::test_struct::{Totals, duplicate};
use mable_pipeline::input::share;
use mable_pipeline::record::SourceRecord;

/// Records generated at a time by [`fused`]: small enough that a chunk of
/// events stays in L2 cache (measured: 4–8% faster than 8,192 for
/// `mable_event`, equal for the others).
pub const CHUNK: u64 = 1024;

/// One dataflow's per-record work, fused.
trait Kernel: Sync {
    type In: Send;
    type Acc: Send + Default;
    /// Input record `i`.
    fn input(&self, i: u64) -> Self::In;
    /// Carries one record through every stage; returns records out.
    fn push(&self, r: Self::In, acc: &mut Self::Acc) -> u64;
    fn merge(acc: &mut Self::Acc, other: Self::Acc);
    fn finish(acc: Self::Acc) -> Reduced;
}

struct Ints {
    seed: u64,
}

impl Kernel for Ints {
    type In = i64;
    type Acc = i64;
    #[inline]
    fn input(&self, i: u64) -> i64 {
        i64::generate(i, self.seed).unwrap_or_default()
    }
    #[inline]
    fn push(&self, x: i64, acc: &mut i64) -> u64 {
        let x = x.wrapping_mul(2);
        if x % 3 != 0 {
            return 0;
        }
        for y in [x, x.wrapping_add(1), x.wrapping_add(2)] {
            *acc = acc.wrapping_add(y);
        }
        3
    }
    fn merge(acc: &mut i64, other: i64) {
        *acc = acc.wrapping_add(other);
    }
    fn finish(acc: i64) -> Reduced {
        Reduced::Sum(acc)
    }
}

struct Structs {
    seed: u64,
}

impl Kernel for Structs {
    type In = TestStruct;
    type Acc = Totals;
    #[inline]
    fn input(&self, i: u64) -> TestStruct {
        TestStruct::generate(i, self.seed).unwrap_or_default()
    }
    #[inline]
    fn push(&self, mut t: TestStruct, acc: &mut Totals) -> u64 {
        t.value += 10.0;
        if t.value <= 1000.0 {
            return 0;
        }
        let dup = duplicate(&t);
        for x in [t, dup] {
            acc.total_value += x.value;
            acc.count += 1;
        }
        2
    }
    fn merge(acc: &mut Totals, other: Totals) {
        acc.total_value += other.total_value;
        acc.count += other.count;
    }
    fn finish(acc: Totals) -> Reduced {
        Reduced::Totals(acc)
    }
}

struct Events {
    seed: u64,
    now: i64,
    templates: Vec<MableEvent>,
}

impl Events {
    fn new(job: &Job) -> anyhow::Result<Events> {
        Ok(Events {
            seed: job.seed,
            now: now(),
            templates: load_events(&job.template)?,
        })
    }
}

impl Kernel for Events {
    type In = MableEvent;
    type Acc = MaxPrice;
    #[inline]
    fn input(&self, i: u64) -> MableEvent {
        let t = &self.templates[(i % self.templates.len() as u64) as usize];
        MableEvent::synthesize(t, i)
    }
    #[inline]
    fn push(&self, mut e: MableEvent, acc: &mut MaxPrice) -> u64 {
        e.created_at = Some(self.now);
        e.set_price(price_of(self.seed, &e.eid));
        let audit = audit_copy(&e);
        let mut out = 0;
        for x in [e, audit] {
            if x.price() > 500.0 {
                acc.offer(&x.eid, x.price());
                out += 1;
            }
        }
        out
    }
    fn merge(acc: &mut MaxPrice, other: MaxPrice) {
        acc.offer(&other.eid, other.price);
    }
    fn finish(acc: MaxPrice) -> Reduced {
        Reduced::MaxPrice(acc)
    }
}

/// "Now" as the engine's `stamp` stage sees it: unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn fused_range<K: Kernel>(k: &K, lo: u64, hi: u64) -> (u64, K::Acc) {
    let mut acc = K::Acc::default();
    let mut out = 0;
    let mut chunk = Vec::with_capacity(CHUNK.min(hi - lo) as usize);
    let mut start = lo;
    while start < hi {
        let end = (start + CHUNK).min(hi);
        chunk.extend((start..end).map(|i| k.input(i)));
        for r in chunk.drain(..) {
            out += k.push(r, &mut acc);
        }
        start = end;
    }
    (out, acc)
}

fn fused_kernel<K: Kernel>(k: &K, size: u64, threads: usize) -> Outcome {
    let threads = threads.max(1);
    let (out, acc) = if threads == 1 {
        fused_range(k, 0, size)
    } else {
        std::thread::scope(|s| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    let (lo, hi) = share(size, t, threads);
                    s.spawn(move || fused_range(k, lo, hi))
                })
                .collect();
            let mut total = (0, K::Acc::default());
            for p in parts {
                let (out, acc) = p.join().expect("a fused-loop thread panicked");
                total.0 += out;
                K::merge(&mut total.1, acc);
            }
            total
        })
    };
    Outcome {
        records_out: out,
        reduced: K::finish(acc),
    }
}

/// The hand-fused loop on `threads` threads (1: the calling thread alone).
///
/// ```
/// use mable_pipeline::dataflows::bench::{Job, Workload, fused};
/// let job = Job { workload: Workload::Int, size: 1000, seed: 0, template: "testdata/mable_event.json".into() };
/// assert_eq!(fused(&job, 1).unwrap(), fused(&job, 2).unwrap());
/// ```
pub fn fused(job: &Job, threads: usize) -> anyhow::Result<Outcome> {
    Ok(match job.workload {
        Workload::Int => fused_kernel(&Ints { seed: job.seed }, job.size, threads),
        Workload::TestStruct => fused_kernel(&Structs { seed: job.seed }, job.size, threads),
        Workload::MableEvent => fused_kernel(&Events::new(job)?, job.size, threads),
    })
}

/// A pool of `threads` threads, built on first use and kept.
fn pool(threads: usize) -> anyhow::Result<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&threads) {
        return Ok(p.clone());
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()?,
    );
    pools.insert(threads, p.clone());
    Ok(p)
}

fn rayon_ints(seed: u64, size: u64) -> Outcome {
    let (records_out, sum) = (0..size)
        .into_par_iter()
        .map(|i| i64::generate(i, seed).unwrap_or_default())
        .map(|x| x.wrapping_mul(2))
        .filter(|x| x % 3 == 0)
        .flat_map_iter(|x| [x, x.wrapping_add(1), x.wrapping_add(2)])
        .fold(|| (0u64, 0i64), |(n, sum), x| (n + 1, sum.wrapping_add(x)))
        .reduce(|| (0, 0), |(a, x), (b, y)| (a + b, x.wrapping_add(y)));
    Outcome {
        records_out,
        reduced: Reduced::Sum(sum),
    }
}

fn rayon_structs(seed: u64, size: u64) -> Outcome {
    let (records_out, totals) = (0..size)
        .into_par_iter()
        .map(|i| TestStruct::generate(i, seed).unwrap_or_default())
        .map(|mut t| {
            t.value += 10.0;
            t
        })
        .filter(|t| t.value > 1000.0)
        .flat_map_iter(|t| {
            let dup = duplicate(&t);
            [t, dup]
        })
        .fold(
            || (0u64, Totals::default()),
            |(n, mut acc), t| {
                acc.total_value += t.value;
                acc.count += 1;
                (n + 1, acc)
            },
        )
        .reduce(
            || (0, Totals::default()),
            |(a, mut x), (b, y)| {
                Structs::merge(&mut x, y);
                (a + b, x)
            },
        );
    Outcome {
        records_out,
        reduced: Reduced::Totals(totals),
    }
}

fn rayon_events(k: &Events, size: u64) -> Outcome {
    let (records_out, max) = (0..size)
        .into_par_iter()
        .map(|i| k.input(i))
        .map(|mut e| {
            e.created_at = Some(k.now);
            e.set_price(price_of(k.seed, &e.eid));
            e
        })
        .flat_map_iter(|e| {
            let audit = audit_copy(&e);
            [e, audit]
        })
        .filter(|e| e.price() > 500.0)
        .fold(
            || (0u64, MaxPrice::default()),
            |(n, mut acc), e| {
                acc.offer(&e.eid, e.price());
                (n + 1, acc)
            },
        )
        .reduce(
            || (0, MaxPrice::default()),
            |(a, mut x), (b, y)| {
                x.offer(&y.eid, y.price);
                (a + b, x)
            },
        );
    Outcome {
        records_out,
        reduced: Reduced::MaxPrice(max),
    }
}

/// The rayon chain on a pool of `threads` threads.
///
/// ```
/// use mable_pipeline::dataflows::bench::{Job, Workload, fused, rayon};
/// let job = Job { workload: Workload::TestStruct, size: 1000, seed: 0, template: "testdata/mable_event.json".into() };
/// assert!(rayon(&job, 2).unwrap().agrees_with(&fused(&job, 1).unwrap()));
/// ```
pub fn rayon(job: &Job, threads: usize) -> anyhow::Result<Outcome> {
    let pool = pool(threads)?;
    Ok(match job.workload {
        Workload::Int => pool.install(|| rayon_ints(job.seed, job.size)),
        Workload::TestStruct => pool.install(|| rayon_structs(job.seed, job.size)),
        Workload::MableEvent => {
            let k = Events::new(job)?;
            pool.install(|| rayon_events(&k, job.size))
        }
    })
}
