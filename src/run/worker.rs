//! One timely worker: builds the pipeline, feeds it its share of the input
//! batch by batch, and turns finished batches into metric rows.

use std::cell::RefCell;
use std::collections::BTreeMap;
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
use crate::base::Params;
use crate::failure::{Failure, Supervisor};
use crate::input::InputPlan;
use crate::metrics::arrangements::ArrangementLog;
use crate::metrics::clock::Clock;
use crate::metrics::latency::BatchLatency;
use crate::metrics::rows::{AggregateRow, ReductionRow};
use crate::metrics::spans::SpanKeeper;
use crate::metrics::stage::{RowContext, StageRegistry, StageTotals};
use crate::metrics::tables::metric_tables;
use crate::metrics::timely_log::TimelyLog;
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
    let metrics = shared.metrics.clone();
    let tables = metric_tables();
    let row_ctx = RowContext {
        run_id: shared.run_id.clone(),
        dataflow: shared.dataflow.to_string(),
        worker_id: index as u32,
        process_id: shared.cluster.process as u32,
        clock: shared.clock,
    };
    // Timely's log must be registered before the dataflow is built.
    let timely_log = metrics.as_ref().map(|_| TimelyLog::register(worker));
    let arrangement_log = metrics.as_ref().map(|_| ArrangementLog::register(worker));
    let stages = metrics
        .as_ref()
        .map(|_| Rc::new(RefCell::new(StageRegistry::default())));
    let mut ctx = BuildContext::new(
        index,
        shared.cluster.threads,
        shared.cluster.processes,
        stages.clone(),
        shared.supervisor.clone(),
        shared.stop.clone(),
    );
    if let Some(sender) = &shared.tables {
        ctx = ctx.with_shipper(std::sync::Arc::new(sender.clone()), row_ctx.clone());
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
    let mut latency = None;
    worker.dataflow::<u64, _, _>(|scope| {
        if metrics.is_some() {
            latency = Some(BatchLatency::build(scope));
        }
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
    // Batches this worker fed whose stage rows are not yet out.
    let mut fed: Vec<u64> = Vec::new();
    let mut drained_reductions = 0;
    let spans = RefCell::new(SpanKeeper::default());
    // Each key's latest aggregate: the mailbox is emptied at every flush, so
    // what a worker keeps grows with its keys, not with the run's length.
    let latest_aggregates: RefCell<BTreeMap<(String, String), AggregateUpdate>> =
        RefCell::default();
    let flush = |frontier: Option<u64>,
                 fed: &mut Vec<u64>,
                 latency: &mut Option<BatchLatency>,
                 drained: &mut usize| {
        let updates = std::mem::take(&mut *ctx.aggregates().borrow_mut());
        let Some(sender) = &metrics else {
            keep_latest(&mut latest_aggregates.borrow_mut(), updates);
            return;
        };
        let timestamp = (row_ctx.clock.now_us() / 1_000_000) as u32;
        let fresh: Vec<AggregateRow> = updates
            .iter()
            .map(|a| AggregateRow {
                run_id: row_ctx.run_id.clone(),
                dataflow: row_ctx.dataflow.clone(),
                stage_path: a.stage.clone(),
                key: a.key.clone(),
                batch_id: a.batch as u32,
                count: a.value.count,
                sum: a.value.sum,
                min: a.value.min,
                max: a.value.max,
                timestamp,
            })
            .collect();
        sender.send_rows(&tables.aggregates, &fresh);
        keep_latest(&mut latest_aggregates.borrow_mut(), updates);
        if let Some(log) = &arrangement_log {
            let last_done = frontier.map_or(u64::from(u32::MAX), |f| f.saturating_sub(1));
            sender.send_rows(&tables.arrangements, &log.rows(last_done, &row_ctx));
        }
        let done: Vec<u64> = fed
            .iter()
            .copied()
            .filter(|&e| frontier.is_none_or(|f| e < f))
            .collect();
        fed.retain(|&e| frontier.is_some_and(|f| e >= f));
        if let Some(stages) = &stages {
            let mut rows = Vec::new();
            stages
                .borrow()
                .drain_completed(frontier, &done, &row_ctx, &mut rows);
            spans.borrow_mut().offer_stages(&rows);
            sender.send_rows(&tables.stages, &rows);
        }
        if let Some(latency) = latency {
            let rows = latency.rows(frontier, row_ctx.clock.now_us(), &row_ctx);
            spans.borrow_mut().offer_batches(&rows);
            sender.send_rows(&tables.batches, &rows);
        }
        let reductions = ctx.reductions();
        let reductions = reductions.borrow();
        let fresh: Vec<ReductionRow> = reductions[*drained..]
            .iter()
            .map(|r| ReductionRow {
                run_id: row_ctx.run_id.clone(),
                dataflow: row_ctx.dataflow.clone(),
                stage_path: r.stage.clone(),
                batch_id: r.batch as u32,
                result: r.value.clone(),
                timestamp: (row_ctx.clock.now_us() / 1_000_000) as u32,
            })
            .collect();
        *drained = reductions.len();
        sender.send_rows(&tables.reductions, &fresh);
    };

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
                if let Some(latency) = &mut latency {
                    latency.entered(epoch, row_ctx.clock.now_us(), n);
                    fed.push(epoch);
                }
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
                let frontier = probe.with_frontier(|f| f.first().copied());
                flush(frontier, &mut fed, &mut latency, &mut drained_reductions);
            }
            report.skipped = source.skipped();
        }
    }
    drop(input);
    if let Some(latency) = &mut latency {
        latency.close();
    }
    while !probe.done() && !shared.supervisor.has_failed() {
        step(worker);
    }
    // Sinks (reduce combiners) may still hold batches the probe has passed.
    while worker.has_dataflows() && !shared.supervisor.has_failed() {
        step(worker);
    }
    flush(None, &mut fed, &mut latency, &mut drained_reductions);
    drop(latency);
    if let Some(sender) = &metrics {
        sender.send_rows(&tables.spans, &spans.borrow().rows());
    }
    if let (Some(sender), Some(log)) = (&metrics, timely_log) {
        let labels = stages
            .as_ref()
            .map(|s| s.borrow().paths_by_operator())
            .unwrap_or_default();
        let (operators, channels) = log.rows(&row_ctx, &labels);
        sender.send_rows(&tables.operators, &operators);
        sender.send_rows(&tables.channels, &channels);
    }
    report.records_out = records_out.get();
    report.stages = stages.map(|s| s.borrow().totals()).unwrap_or_default();
    report.reductions = ctx.reductions().borrow().clone();
    report.aggregates = latest_aggregates.into_inner().into_values().collect();
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

/// Folds `updates` into each key's latest (by batch) update.
fn keep_latest(
    latest: &mut BTreeMap<(String, String), AggregateUpdate>,
    updates: Vec<AggregateUpdate>,
) {
    for u in updates {
        match latest.entry((u.stage.clone(), u.key.clone())) {
            std::collections::btree_map::Entry::Occupied(mut e) => {
                if u.batch >= e.get().batch {
                    e.insert(u);
                }
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(u);
            }
        }
    }
}
