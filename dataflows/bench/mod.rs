//! Benchmarks that reproduce the Go seed's, side by side with honest
//! baselines; shared by `mable-pipeline bench` and `benches/pipelines.rs`.
//! Content, like the dataflows it measures: the engine knows nothing of it,
//! and the binary adds `bench` to the command line as an
//! [`Extension`](mable_pipeline::cli::Extension).
//!
//! Each of the seed's three pipelines ([`Workload`]) runs four ways
//! ([`Variant`]): on the engine with metrics on (what the Go program
//! measured) and off, as a hand-fused loop ([`fused`], the speed limit at
//! equal core count) and as a rayon chain ([`rayon()`], what a Rust user would
//! write instead). Timing mirrors the Go program: one operation is
//! generating the input records plus running the pipeline over them.
//!
//! [`run_matrix`] is the `bench` subcommand: every configuration runs in a
//! child process of its own ([`measure`]), so its peak RSS is its own, and
//! every variant's output is checked against the engine's. [`stream`] is
//! `bench --stream N`: the engine reading a large NDJSON file.

pub mod alloc;
mod baseline;
mod command;
mod engine;
pub mod measure;
pub mod parse_ceiling;
pub mod report;
pub mod stream;
mod workload;

pub use alloc::{AllocCount, CountingAlloc, count_allocations};
pub use baseline::{CHUNK, fused, rayon};
pub use command::{BenchArgs, BenchCommand, COMMAND};
pub use engine::{engine, input_spec, outcome, run_dataflow};
pub use measure::{Config, Measured, Variant};
pub use report::{CSV_HEADER, Row, render_table, write_csv};
pub use workload::{Job, Outcome, Reduced, Workload, load_events};

use std::path::PathBuf;

use anyhow::bail;

/// What `mable-pipeline bench` measures.
#[derive(Debug, Clone)]
pub struct Options {
    pub workloads: Vec<Workload>,
    pub sizes: Vec<u64>,
    pub workers: Vec<usize>,
    /// Timed runs per configuration; the median is reported.
    pub runs: usize,
    pub seed: u64,
    /// The event(s) `mable_event` cycles.
    pub template: PathBuf,
    /// Where the engine's metric files go while measuring (emptied after every run).
    pub scratch: PathBuf,
}

/// A directory of our own under the system temp dir.
pub fn scratch_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mable-bench-{what}-{}", std::process::id()))
}

/// Measures every (dataflow × size × workers × variant), each in a child
/// process, calling `progress` with each finished row. Fails if any variant
/// produced other records or another reduce result than the engine.
pub fn run_matrix(opts: &Options, mut progress: impl FnMut(&Row)) -> anyhow::Result<Vec<Row>> {
    if opts.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if opts.workers.contains(&0) {
        bail!("--workers must be at least 1");
    }
    let mut rows = Vec::new();
    for &workload in &opts.workloads {
        for &size in &opts.sizes {
            for &workers in &opts.workers {
                let job = Job {
                    workload,
                    size,
                    seed: opts.seed,
                    template: opts.template.clone(),
                };
                let mut group: Vec<Row> = Vec::new();
                let mut reference: Option<Outcome> = None;
                for variant in Variant::ALL {
                    let cfg = Config {
                        job: job.clone(),
                        variant,
                        workers,
                        runs: opts.runs,
                        count_allocs: true,
                        file: None,
                        scratch: opts
                            .scratch
                            .join(format!("{}-{variant:?}", workload.name())),
                    };
                    let m = measure::measure_in_child(&cfg)?;
                    match &reference {
                        None => reference = Some(m.outcome.clone()),
                        Some(r) if !r.agrees_with(&m.outcome) => bail!(
                            "{} at {size} records, {workers} workers: the engine produced {r:?} \
                             but {} produced {:?}",
                            workload.name(),
                            variant.benchmark_name(workload),
                            m.outcome
                        ),
                        Some(_) => {}
                    }
                    let row = Row::new(workload, variant, size, workers, &m);
                    progress(&row);
                    group.push(row);
                }
                let fused_ns = group
                    .iter()
                    .find(|r| r.variant == Variant::FusedLoop)
                    .map(|r| r.ns_per_op);
                for r in &mut group {
                    r.fused_ns = fused_ns;
                }
                rows.extend(group);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&opts.scratch);
    Ok(rows)
}
