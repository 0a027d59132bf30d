//! One timely worker: builds the pipeline and drives it, feeding its share
//! of the input batch by batch, stepping and probing. Turning finished
//! batches into rows is [`BatchRecorder`]'s half.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::core::{Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};
use timely::worker::Worker;

use super::Output;
use super::cluster::ClusterConfig;
use super::progress::Counters;
use super::recorder::BatchRecorder;
use crate::base::Params;
use crate::failure::{Failure, Supervisor};
use crate::input::InputPlan;
use crate::metrics::clock::Clock;
use crate::metrics::stage::{RowContext, StageTotals};
use crate::pipeline::{AggregateUpdate, BuildContext, Collect, ReductionResult};
use crate::record::{Record, SourceRecord};
use crate::sink::sidecar::MetricsSender;
use crate::stop::StopFlag;

/// Batches a worker may have in flight beyond the one it is reading: enough
/// to keep workers from waiting on each other, few enough to bound memory.
const IN_FLIGHT: u64 = 2;

/// Longest a waiting worker sleeps before checking again. Timely wakes a
/// parked worker as soon as data or progress arrives, so this only bounds how
/// late a failure elsewhere is noticed; parking instead of spinning leaves the
/// cores to the workers that have work (and keeps `-w 8` on 2 cores fast).
const PARK: std::time::Duration = std::time::Duration::from_millis(1);

/// Read-only state every worker of a process shares.
pub(crate) struct Shared<R, O> {
    pub dataflow: &'static str,
    pub pipeline: super::PipelineFactory<R, O>,
    pub params: Params,
    pub run_id: String,
    pub plan: InputPlan<R>,
    pub cluster: ClusterConfig,
    pub output: Option<Output>,
    pub supervisor: Supervisor,
    pub stop: StopFlag,
    /// Where metric rows go; `None` with metrics off.
    pub metrics: Option<MetricsSender>,
    /// Where the rows of the pipeline's own tables go; `None` without a sink.
    pub tables: Option<MetricsSender>,
    pub progress: Arc<Counters>,
    pub clock: Clock,
}

/// What one worker did.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    /// Time spent capturing metrics outside the stages.
    pub capture: std::time::Duration,
    pub records_in: u64,
    pub records_out: u64,
    pub skipped: u64,
    pub batches: u64,
    pub stages: Vec<StageTotals>,
    pub reductions: Vec<ReductionResult>,
    pub aggregates: Vec<AggregateUpdate>,
}

pub(crate) fn work<R: SourceRecord, O: Record>(
    worker: &mut Worker,
    shared: &Shared<R, O>,
) -> WorkerReport {
    let index = worker.index();
    let peers = worker.peers();
    let row_ctx = RowContext {
        run_id: shared.run_id.clone(),
        dataflow: shared.dataflow.to_string(),
        worker_id: index as u32,
        process_id: shared.cluster.process as u32,
        clock: shared.clock,
    };
    // Timely's log must be registered before the dataflow is built.
    let mut recorder = BatchRecorder::register(worker, shared.metrics.clone(), row_ctx.clone());
    let mut ctx = BuildContext::new(
        index,
        shared.cluster.threads,
        shared.cluster.processes,
        recorder.stage_registry(),
        shared.supervisor.clone(),
        shared.stop.clone(),
    )
    .with_results(recorder.results());
    if let Some(sender) = &shared.tables {
        ctx = ctx.with_shipper(Arc::new(sender.clone()), row_ctx);
    }

    let mut input = InputHandle::<u64, CapacityContainerBuilder<Vec<R>>>::new();
    let probe = ProbeHandle::new();
    let mut pipeline = (shared.pipeline)(&shared.params);
    match &shared.output {
        Some(Output::File(path)) => {
            pipeline = pipeline.collect("output", Collect::ndjson(path.clone()));
        }
        Some(Output::Stdout) => pipeline = pipeline.collect("output", Collect::stdout()),
        None => {}
    }
    let records_out = Rc::new(std::cell::Cell::new(0u64));
    worker.dataflow::<u64, _, _>(|scope| {
        recorder.build_latency(scope);
        let (counted, progress) = (records_out.clone(), shared.progress.clone());
        pipeline
            .build(input.to_stream(scope), &ctx)
            .inspect_core(move |event| {
                if let Ok((_, records)) = event {
                    let n = records.len() as u64;
                    counted.set(counted.get() + n);
                    progress.records_out.fetch_add(n, Ordering::Relaxed);
                }
            })
            .probe_with(&probe);
    });

    let mut report = WorkerReport::default();
    // Steps the worker, telling the stall watchdog when the frontier moved.
    let mut seen_frontier = None;
    let mut step = |worker: &mut Worker| {
        worker.step_or_park(Some(PARK));
        let now = probe.with_frontier(|f| f.first().copied());
        if now != seen_frontier {
            seen_frontier = now;
            shared.progress.activity.fetch_add(1, Ordering::Relaxed);
        }
    };
    match shared.plan.open(index, peers) {
        Err(e) => shared.supervisor.fail(Failure::Input(e)),
        Ok(mut source) => {
            let mut batch = Vec::new();
            // A stop request (Ctrl-C, a closed output pipe) ends reading;
            // the batches in flight still finish, so the run ends normally.
            while !shared.supervisor.has_failed() && !shared.stop.is_raised() {
                let epoch = match source.next_batch(&mut batch) {
                    Ok(Some(epoch)) => epoch,
                    Ok(None) => break,
                    Err(e) => {
                        shared.supervisor.fail(Failure::Input(e));
                        break;
                    }
                };
                let n = batch.len() as u64;
                report.records_in += n;
                report.batches += 1;
                shared.progress.records.fetch_add(n, Ordering::Relaxed);
                shared
                    .progress
                    .batches
                    .fetch_max(epoch + 1, Ordering::Relaxed);
                shared.progress.activity.fetch_add(1, Ordering::Relaxed);
                recorder.entered(epoch, n);
                if epoch > *input.time() {
                    input.advance_to(epoch);
                }
                input.send_batch(&mut batch);
                input.advance_to(epoch + 1);
                worker.step();
                let wait_for = (epoch + 1).saturating_sub(IN_FLIGHT);
                while probe.less_than(&wait_for) && !shared.supervisor.has_failed() {
                    step(worker);
                }
                recorder.flush(probe.with_frontier(|f| f.first().copied()));
            }
            report.skipped = source.skipped();
        }
    }
    drop(input);
    recorder.input_closed();
    while !probe.done() && !shared.supervisor.has_failed() {
        step(worker);
    }
    // Sinks (reduce combiners) may still hold batches the probe has passed.
    while worker.has_dataflows() && !shared.supervisor.has_failed() {
        step(worker);
    }
    recorder.flush(None);
    let recorded = recorder.finish();
    report.records_out = records_out.get();
    report.capture = recorded.capture;
    report.stages = recorded.stages;
    report.reductions = recorded.reductions;
    report.aggregates = recorded.aggregates;
    if shared.supervisor.has_failed() {
        // Timely steps a worker until its dataflows complete once this
        // function returns, parking without a deadline: after a failure
        // (a stalled or lost peer) they never would. Drop them instead.
        for id in worker.installed_dataflows() {
            worker.drop_dataflow(id);
        }
    }
    report
}
