//! The half of a worker that turns finished batches into rows: stage rows,
//! batch latencies, spans, reduce and aggregate results, the arrangement and
//! timely logs. The other half (`worker.rs`) drives timely: it feeds, steps
//! and probes, and calls in here when batches finish.
//!
//! What this keeps between flushes is bounded by the run's shape, not its
//! length: each aggregate key's latest value, the batches in flight, one
//! reduce result per batch per reduce stage, and the capped span keeper.

use crate::metrics::capture_time::CaptureTime;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::rc::Rc;

use timely::worker::Worker;

use crate::metrics::arrangements::ArrangementLog;
use crate::metrics::latency::BatchLatency;
use crate::metrics::rows::{AggregateRow, ReductionRow};
use crate::metrics::spans::SpanKeeper;
use crate::metrics::stage::{RowContext, StageRegistry, StageTotals};
use crate::metrics::tables::{MetricTables, metric_tables};
use crate::metrics::timely_log::TimelyLog;
use crate::pipeline::{AggregateUpdate, ReductionResult, StageResults};
use crate::sink::sidecar::MetricsSender;

/// Results the pipeline's reduce and aggregate stages reported since the
/// last flush. Stages hold it as `Rc<dyn StageResults>`; only this module
/// reads it.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    inner: RefCell<Received>,
}

#[derive(Debug, Default)]
struct Received {
    /// Every reduce result of the run: one per batch and reduce stage.
    reductions: Vec<ReductionResult>,
    /// How many of `reductions` have been sent as rows.
    reductions_sent: usize,
    /// Aggregate updates not yet sent as rows (emptied at every flush).
    fresh_aggregates: Vec<AggregateUpdate>,
    /// Each key's latest (by batch) update, for the summary.
    latest: BTreeMap<(String, String), AggregateUpdate>,
}

impl StageResults for Mailbox {
    fn reduced(&self, result: ReductionResult) {
        self.inner.borrow_mut().reductions.push(result);
    }

    fn aggregated(&self, update: AggregateUpdate) {
        let mut r = self.inner.borrow_mut();
        match r.latest.entry((update.stage.clone(), update.key.clone())) {
            Entry::Occupied(mut e) => {
                if update.batch >= e.get().batch {
                    e.insert(update.clone());
                }
            }
            Entry::Vacant(e) => {
                e.insert(update.clone());
            }
        }
        r.fresh_aggregates.push(update);
    }
}

/// What a worker's batches came to, for its [`WorkerReport`](super::worker::WorkerReport).
pub(crate) struct Recorded {
    /// Time spent capturing metrics outside the stages.
    pub capture: std::time::Duration,
    pub stages: Vec<StageTotals>,
    pub reductions: Vec<ReductionResult>,
    pub aggregates: Vec<AggregateUpdate>,
}

/// One worker's row maker. With metrics off it only keeps the results the
/// summary shows.
pub(crate) struct BatchRecorder {
    /// Where rows go; `None` with metrics off.
    sender: Option<MetricsSender>,
    tables: &'static MetricTables,
    row_ctx: RowContext,
    timely_log: Option<TimelyLog>,
    arrangement_log: Option<ArrangementLog>,
    stages: Option<Rc<RefCell<StageRegistry>>>,
    latency: Option<BatchLatency>,
    spans: SpanKeeper,
    /// Time spent capturing metrics outside the stages (the summary prints it).
    capture: CaptureTime,
    /// Batches this worker fed whose stage rows are not yet out.
    fed: Vec<u64>,
    mailbox: Rc<Mailbox>,
}

impl BatchRecorder {
    /// Registers the logs it reads on `worker`; call before the dataflow is built.
    pub fn register(
        worker: &mut Worker,
        sender: Option<MetricsSender>,
        row_ctx: RowContext,
    ) -> BatchRecorder {
        let on = sender.is_some();
        let capture = CaptureTime::default();
        BatchRecorder {
            timely_log: on.then(|| TimelyLog::register(worker, &capture)),
            arrangement_log: on.then(|| ArrangementLog::register(worker, &capture)),
            capture,
            stages: on.then(|| Rc::new(RefCell::new(StageRegistry::default()))),
            sender,
            tables: metric_tables(),
            row_ctx,
            latency: None,
            spans: SpanKeeper::default(),
            fed: Vec::new(),
            mailbox: Rc::new(Mailbox::default()),
        }
    }

    /// Builds the batch latency side stream in the pipeline's dataflow.
    pub fn build_latency(&mut self, scope: timely::dataflow::Scope<'_, u64>) {
        if self.sender.is_some() {
            self.latency = Some(BatchLatency::build(scope));
        }
    }

    /// Where the pipeline's stages register their metrics; `None` with metrics off.
    pub fn stage_registry(&self) -> Option<Rc<RefCell<StageRegistry>>> {
        self.stages.clone()
    }

    /// Where the pipeline's reduce and aggregate stages report.
    pub fn results(&self) -> Rc<dyn StageResults> {
        self.mailbox.clone()
    }

    /// This worker fed `records` records as batch `epoch`.
    pub fn entered(&mut self, epoch: u64, records: u64) {
        if let Some(latency) = &mut self.latency {
            latency.entered(epoch, self.row_ctx.clock.now_us(), records);
            self.fed.push(epoch);
        }
    }

    /// This worker feeds no more batches.
    pub fn input_closed(&mut self) {
        if let Some(latency) = &mut self.latency {
            latency.close();
        }
    }

    /// Sends the rows of every batch below `frontier` (all, when `None`)
    /// and the results reported since the last flush.
    pub fn flush(&mut self, frontier: Option<u64>) {
        if self.sender.is_none() {
            // Nothing to send; the summary's results stay in the mailbox.
            self.mailbox.inner.borrow_mut().fresh_aggregates.clear();
            return;
        }
        let capture = self.capture.clone();
        capture.time(|| self.send_rows(frontier));
    }

    fn send_rows(&mut self, frontier: Option<u64>) {
        let mut received = self.mailbox.inner.borrow_mut();
        let fresh = std::mem::take(&mut received.fresh_aggregates);
        let Some(sender) = &self.sender else {
            return;
        };
        let ctx = &self.row_ctx;
        let timestamp = (ctx.clock.now_us() / 1_000_000) as u32;
        let rows: Vec<AggregateRow> = fresh
            .into_iter()
            .map(|a| AggregateRow {
                run_id: ctx.run_id.clone(),
                dataflow: ctx.dataflow.clone(),
                stage_path: a.stage,
                key: a.key,
                batch_id: a.batch as u32,
                count: a.value.count,
                sum: a.value.sum,
                min: a.value.min,
                max: a.value.max,
                timestamp,
            })
            .collect();
        sender.send_rows(&self.tables.aggregates, &rows);
        if let Some(log) = &self.arrangement_log {
            let last_done = frontier.map_or(u64::from(u32::MAX), |f| f.saturating_sub(1));
            sender.send_rows(&self.tables.arrangements, &log.rows(last_done, ctx));
        }
        let done: Vec<u64> = self
            .fed
            .iter()
            .copied()
            .filter(|&e| frontier.is_none_or(|f| e < f))
            .collect();
        self.fed.retain(|&e| frontier.is_some_and(|f| e >= f));
        if let Some(stages) = &self.stages {
            let mut rows = Vec::new();
            stages
                .borrow()
                .drain_completed(frontier, &done, ctx, &mut rows);
            self.spans.offer_stages(&rows);
            sender.send_rows(&self.tables.stages, &rows);
        }
        if let Some(latency) = &mut self.latency {
            let rows = latency.rows(frontier, ctx.clock.now_us(), ctx);
            self.spans.offer_batches(&rows);
            sender.send_rows(&self.tables.batches, &rows);
        }
        let sent = received.reductions_sent;
        let rows: Vec<ReductionRow> = received.reductions[sent..]
            .iter()
            .map(|r| ReductionRow {
                run_id: ctx.run_id.clone(),
                dataflow: ctx.dataflow.clone(),
                stage_path: r.stage.clone(),
                batch_id: r.batch as u32,
                result: r.value.clone(),
                timestamp,
            })
            .collect();
        received.reductions_sent = received.reductions.len();
        sender.send_rows(&self.tables.reductions, &rows);
    }

    /// Sends what is only known at the end (spans, the operator graph) and
    /// hands back what the summary shows. Call after the last [`flush`](Self::flush).
    pub fn finish(mut self) -> Recorded {
        drop(self.latency.take());
        // Sending what is known only at the end is capture time too.
        let capture = self.capture.clone();
        if let Some(sender) = &self.sender {
            capture.time(|| {
                sender.send_rows(&self.tables.spans, &self.spans.rows());
                if let Some(log) = self.timely_log.take() {
                    let labels = self
                        .stages
                        .as_ref()
                        .map(|s| s.borrow().paths_by_operator())
                        .unwrap_or_default();
                    let (operators, channels) = log.rows(&self.row_ctx, &labels);
                    sender.send_rows(&self.tables.operators, &operators);
                    sender.send_rows(&self.tables.channels, &channels);
                }
            });
        }
        let received = std::mem::take(&mut *self.mailbox.inner.borrow_mut());
        Recorded {
            capture: capture.total(),
            stages: self.stages.map(|s| s.borrow().totals()).unwrap_or_default(),
            reductions: received.reductions,
            aggregates: received.latest.into_values().collect(),
        }
    }
}
