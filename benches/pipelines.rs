//! The Go seed's three benchmark pipelines on the engine, beside a hand-fused
//! loop and a rayon chain doing the same per-record work (`mable_pipeline::dataflows::bench`).
//!
//! One group per dataflow and size (`int/10000`, `mable_event/1000000`, ...),
//! holding `engine/w{1,2}/metrics-{on,off}`, `fused-loop/w{1,2}` and
//! `rayon/w{1,2}`, so the report shows them side by side. One iteration is
//! one whole operation, generating the input plus running the pipeline, as
//! the Go program timed it. Sizes ≥ 100,000 take 10 samples in about 3 s.
//!
//! ```sh
//! cargo bench --bench pipelines                        # everything (~10 min on 2 cores)
//! cargo bench --bench pipelines -- 'mable_event/10000/' # one group (the filter is a regex)
//! cargo bench --bench pipelines -- 'int/.*/fused-loop'  # one implementation, every size
//! cargo bench --bench pipelines -- allocator            # the counting allocator's cost when off
//! ```
//!
//! Like the binary, this bench uses mimalloc as its global allocator.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mable_pipeline::dataflows::bench::{CountingAlloc, Job, Workload, engine, fused, rayon};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZES: [u64; 5] = [10, 100, 10_000, 100_000, 1_000_000];
const WORKERS: [usize; 2] = [1, 2];

fn template() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/mable_event.json")
}

fn pipelines(c: &mut Criterion) {
    let scratch = tempfile::tempdir().expect("a temp dir for metric files");
    for workload in Workload::ALL {
        for size in SIZES {
            let mut group = c.benchmark_group(format!("{}/{size}", workload.name()));
            group.throughput(Throughput::Elements(size));
            if size >= 100_000 {
                group
                    .sample_size(10)
                    .warm_up_time(Duration::from_secs(1))
                    .measurement_time(Duration::from_secs(3));
            } else {
                group
                    .sample_size(30)
                    .warm_up_time(Duration::from_millis(500))
                    .measurement_time(Duration::from_secs(2));
            }
            let job = Job {
                workload,
                size,
                seed: 0,
                template: template(),
            };
            for workers in WORKERS {
                for metrics in [true, false] {
                    let id = format!(
                        "engine/w{workers}/metrics-{}",
                        if metrics { "on" } else { "off" }
                    );
                    let dir = scratch.path().join("metrics");
                    group.bench_function(BenchmarkId::from_parameter(id), |b| {
                        b.iter_custom(|iters| {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                let start = Instant::now();
                                let out = engine(&job, workers, metrics.then_some(dir.as_path()))
                                    .expect("the engine runs");
                                total += start.elapsed();
                                black_box(out);
                                // Metric files are removed outside the timing.
                                let _ = std::fs::remove_dir_all(&dir);
                            }
                            total
                        })
                    });
                }
                group.bench_function(
                    BenchmarkId::from_parameter(format!("fused-loop/w{workers}")),
                    |b| b.iter(|| fused(&job, workers).expect("the fused loop runs")),
                );
                group.bench_function(
                    BenchmarkId::from_parameter(format!("rayon/w{workers}")),
                    |b| b.iter(|| rayon(&job, workers).expect("rayon runs")),
                );
            }
            group.finish();
        }
    }
}

/// What the binary's counting wrapper costs when counting is off: an
/// allocate/free pair through bare mimalloc and through the wrapper.
fn allocator(c: &mut Criterion) {
    let bare = mimalloc::MiMalloc;
    let wrapped = CountingAlloc::new(mimalloc::MiMalloc);
    let layout = Layout::from_size_align(48, 8).expect("a layout");
    let mut group = c.benchmark_group("allocator");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("mimalloc/alloc+free x1000", |b| {
        b.iter(|| alloc_free(&bare, layout))
    });
    group.bench_function("counting-off/alloc+free x1000", |b| {
        b.iter(|| alloc_free(&wrapped, layout))
    });
    group.finish();
}

fn alloc_free<A: GlobalAlloc>(a: &A, layout: Layout) {
    let mut ptrs = [std::ptr::null_mut::<u8>(); 1000];
    for p in &mut ptrs {
        // SAFETY: a valid, non-zero-size layout; freed below with the same one.
        *p = black_box(unsafe { a.alloc(layout) });
    }
    for p in ptrs {
        // SAFETY: allocated above by `a` with `layout`.
        unsafe { a.dealloc(p, layout) };
    }
}

criterion_group!(benches, pipelines, allocator);
criterion_main!(benches);
