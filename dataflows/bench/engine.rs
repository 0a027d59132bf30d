//! The engine side: the real dataflow, run in-process exactly as the binary
//! runs it (`dataflows::find(name).run(&config)`).

use std::path::Path;

use anyhow::Context;

use super::workload::{Job, Outcome, Reduced, Workload};
use crate::dataflows;
use mable_pipeline::input::InputSpec;
use mable_pipeline::run::{MetricsTarget, RunConfig, RunReport};

/// The input the engine reads for `job`: generated records for `int` and
/// `test_struct`, the template cycled to `size` records for `mable_event`.
pub fn input_spec(job: &Job) -> InputSpec {
    match job.workload {
        Workload::Int | Workload::TestStruct => InputSpec::Generated {
            size: job.size,
            seed: job.seed,
        },
        Workload::MableEvent => InputSpec::Cycled {
            path: job.template.clone(),
            size: job.size,
        },
    }
}

/// Runs `workload`'s dataflow over `input` on `threads` workers, with
/// metrics written as files under `metrics_dir` (or off, with `None`).
pub fn run_dataflow(
    workload: Workload,
    input: InputSpec,
    seed: u64,
    threads: usize,
    metrics_dir: Option<&Path>,
) -> anyhow::Result<RunReport> {
    let dataflow = dataflows::find(workload.name())
        .with_context(|| format!("the dataflow `{}` is missing", workload.name()))?;
    let mut config = RunConfig::local(input, threads);
    config.seed = seed;
    config.metrics = match metrics_dir {
        Some(dir) => MetricsTarget::Files {
            dir: dir.to_path_buf(),
        },
        None => MetricsTarget::Off,
    };
    Ok(dataflow.run(&config)?)
}

/// What the run produced: records out and every batch's reduce result merged.
pub fn outcome(workload: Workload, report: &RunReport) -> anyhow::Result<Outcome> {
    let mut reduced = Reduced::empty(workload);
    for r in &report.reductions {
        let part = Reduced::from_json(workload, &r.value)
            .with_context(|| format!("reduce `{}` batch {}: {}", r.stage, r.batch, r.value))?;
        reduced.merge(part);
    }
    Ok(Outcome {
        records_out: report.records_out,
        reduced,
    })
}

/// One operation on the engine: plan and run the dataflow for `job`.
pub fn engine(job: &Job, threads: usize, metrics_dir: Option<&Path>) -> anyhow::Result<Outcome> {
    let report = run_dataflow(
        job.workload,
        input_spec(job),
        job.seed,
        threads,
        metrics_dir,
    )?;
    outcome(job.workload, &report)
}
