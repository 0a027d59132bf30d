//! Per-stage, per-batch counters, kept inside each stage operator.
//!
//! A stage operator calls [`StageRecorder::record`] once per container it
//! handles (never per record): two `Instant` reads, three additions. The
//! worker loop drains finished batches with [`StageRegistry::drain_completed`]
//! once the dataflow's probe has passed them, turning them into rows in bulk.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use super::clock::Clock;
use super::rows::StageMetricRow;
use crate::base::StageKind;

#[derive(Debug, Clone, Copy)]
struct BatchAcc {
    epoch: u64,
    input: u64,
    output: u64,
    busy_ns: u64,
    first_start: Instant,
    last_end: Instant,
}

/// Totals of one stage on one worker over the whole run, for the summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageTotals {
    pub path: String,
    pub kind: StageKind,
    pub operator_id: u64,
    pub input: u64,
    pub output: u64,
    pub busy_ns: u64,
    pub batches: u64,
}

#[derive(Debug)]
struct StageState {
    name: String,
    open: Vec<BatchAcc>,
    totals: StageTotals,
}

/// The handle a stage operator records into. Cheap to clone; worker-local.
#[derive(Debug, Clone)]
pub struct StageRecorder {
    state: Rc<RefCell<StageState>>,
}

impl StageRecorder {
    /// Adds one container's work to batch `epoch`.
    #[inline]
    pub fn record(&self, epoch: u64, input: usize, output: usize, start: Instant, end: Instant) {
        let mut s = self.state.borrow_mut();
        let busy = end.saturating_duration_since(start).as_nanos() as u64;
        // Containers of one batch usually arrive together, so the batch is the last one.
        if let Some(acc) = s.open.iter_mut().rev().find(|a| a.epoch == epoch) {
            acc.input += input as u64;
            acc.output += output as u64;
            acc.busy_ns += busy;
            acc.last_end = end;
            return;
        }
        s.open.push(BatchAcc {
            epoch,
            input: input as u64,
            output: output as u64,
            busy_ns: busy,
            first_start: start,
            last_end: end,
        });
    }
}

/// Every stage recorder of one worker.
#[derive(Debug, Default)]
pub struct StageRegistry {
    stages: Vec<StageRecorder>,
}

/// Identity shared by every row a worker produces.
#[derive(Debug, Clone)]
pub struct RowContext {
    pub run_id: String,
    pub dataflow: String,
    pub worker_id: u32,
    pub process_id: u32,
    pub clock: Clock,
}

impl StageRegistry {
    /// Registers a stage operator; `path` is unique in the dataflow.
    pub fn register(&mut self, path: &str, kind: StageKind, operator_id: usize) -> StageRecorder {
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        let recorder = StageRecorder {
            state: Rc::new(RefCell::new(StageState {
                name,
                open: Vec::new(),
                totals: StageTotals {
                    path: path.to_string(),
                    kind,
                    operator_id: operator_id as u64,
                    input: 0,
                    output: 0,
                    busy_ns: 0,
                    batches: 0,
                },
            })),
        };
        self.stages.push(recorder.clone());
        recorder
    }

    /// Turns every batch with epoch `< frontier` (`None`: all of them) into
    /// rows. `fed` are the finished batches this worker fed: a stage that saw
    /// none of such a batch still gets a row, with zero counts, so every stage
    /// has exactly one row per batch and worker.
    pub fn drain_completed(
        &self,
        frontier: Option<u64>,
        fed: &[u64],
        ctx: &RowContext,
        out: &mut Vec<StageMetricRow>,
    ) {
        let now = Instant::now();
        for stage in &self.stages {
            let mut guard = stage.state.borrow_mut();
            let s = &mut *guard;
            let mut done: Vec<BatchAcc> = Vec::new();
            s.open.retain(|acc| {
                let finished = frontier.is_none_or(|f| acc.epoch < f);
                if finished {
                    done.push(*acc);
                }
                !finished
            });
            for &epoch in fed {
                if !done.iter().any(|a| a.epoch == epoch) {
                    done.push(BatchAcc {
                        epoch,
                        input: 0,
                        output: 0,
                        busy_ns: 0,
                        first_start: now,
                        last_end: now,
                    });
                }
            }
            done.sort_by_key(|a| a.epoch);
            for acc in done {
                s.totals.input += acc.input;
                s.totals.output += acc.output;
                s.totals.busy_ns += acc.busy_ns;
                s.totals.batches += 1;
                let end_us = ctx.clock.unix_us(acc.last_end);
                out.push(StageMetricRow {
                    stage_name: s.name.clone(),
                    batch_id: acc.epoch as u32,
                    input_count: acc.input,
                    output_count: acc.output,
                    duration_ms: acc.busy_ns as f64 / 1e6,
                    worker_id: ctx.worker_id,
                    timestamp: (end_us / 1_000_000) as u32,
                    run_id: ctx.run_id.clone(),
                    dataflow: ctx.dataflow.clone(),
                    stage_path: s.totals.path.clone(),
                    stage_kind: s.totals.kind.as_str().to_string(),
                    operator_id: s.totals.operator_id,
                    process_id: ctx.process_id,
                    busy_ns: acc.busy_ns,
                    start_us: ctx.clock.unix_us(acc.first_start),
                    end_us,
                });
            }
        }
    }

    /// Each stage's totals so far (batches already drained).
    pub fn totals(&self) -> Vec<StageTotals> {
        self.stages
            .iter()
            .map(|s| s.state.borrow().totals.clone())
            .collect()
    }

    /// Stage path of each registered operator id, to label timely's log.
    pub fn paths_by_operator(&self) -> Vec<(u64, String)> {
        self.stages
            .iter()
            .map(|s| {
                let t = &s.state.borrow().totals;
                (t.operator_id, t.path.clone())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_drain_once_their_epoch_completes() {
        let mut reg = StageRegistry::default();
        let rec = reg.register("if/then/x", StageKind::Map, 7);
        let t0 = Instant::now();
        rec.record(0, 10, 10, t0, t0);
        rec.record(1, 5, 4, t0, t0);
        rec.record(0, 2, 1, t0, t0);
        let ctx = RowContext {
            run_id: "r".into(),
            dataflow: "d".into(),
            worker_id: 3,
            process_id: 1,
            clock: Clock::now(),
        };
        let mut rows = Vec::new();
        reg.drain_completed(Some(1), &[0], &ctx, &mut rows);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].input_count, rows[0].output_count), (12, 11));
        assert_eq!(rows[0].stage_name, "x");
        assert_eq!(rows[0].stage_path, "if/then/x");
        reg.drain_completed(None, &[1, 2], &ctx, &mut rows);
        assert_eq!(rows.len(), 3, "batch 2 saw nothing but still has its row");
        assert_eq!((rows[2].batch_id, rows[2].input_count), (2, 0));
        let t = &reg.totals()[0];
        assert_eq!((t.input, t.output, t.batches), (17, 15, 3));
    }
}
