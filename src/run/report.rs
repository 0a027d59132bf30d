//! The run report and its readable summary.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use super::worker::{Shared, WorkerReport};
use crate::metrics::stage::StageKind;
use crate::pipeline::{AggregateUpdate, ReductionResult};
use crate::sink::sidecar::DeliveryReport;

/// One stage over all of this process's workers.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSummary {
    pub path: String,
    pub kind: StageKind,
    pub input: u64,
    pub output: u64,
    /// Busy time summed over workers.
    pub busy: Duration,
    /// The busiest worker's busy time: skew shows as max ≫ sum / workers.
    pub busy_max: Duration,
    pub batches: u64,
}

/// What a run did, in this process.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    pub dataflow: &'static str,
    pub input: String,
    pub workers: usize,
    pub processes: usize,
    pub process: usize,
    pub batch_size: usize,
    pub batches: u64,
    pub records_in: u64,
    pub records_out: u64,
    pub skipped: u64,
    pub elapsed: Duration,
    /// In the graph's order; empty with `--metrics off`.
    pub stages: Vec<StageSummary>,
    /// Each reduce stage's result per batch (only on the process holding worker 0).
    pub reductions: Vec<ReductionResult>,
    /// Each aggregate stage's final value per key (this process's keys).
    pub aggregates: Vec<AggregateUpdate>,
    /// What the sidecar delivered; `None` with `--metrics off`.
    pub delivery: Option<DeliveryReport>,
    /// Where skipped records were kept (`--dead-letter`).
    pub dead_letter: Option<String>,
}

impl RunReport {
    pub(crate) fn new<R, O>(
        run_id: &str,
        dataflow: &'static str,
        shared: &Shared<R, O>,
        workers: Vec<WorkerReport>,
        end: Instant,
    ) -> RunReport {
        let mut stages: Vec<StageSummary> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for w in &workers {
            for t in &w.stages {
                let i = *index.entry(t.path.clone()).or_insert_with(|| {
                    stages.push(StageSummary {
                        path: t.path.clone(),
                        kind: t.kind,
                        input: 0,
                        output: 0,
                        busy: Duration::ZERO,
                        busy_max: Duration::ZERO,
                        batches: 0,
                    });
                    stages.len() - 1
                });
                let s = &mut stages[i];
                s.input += t.input;
                s.output += t.output;
                let busy = Duration::from_nanos(t.busy_ns);
                s.busy += busy;
                s.busy_max = s.busy_max.max(busy);
                s.batches = s.batches.max(t.batches);
            }
        }
        let mut reductions: Vec<ReductionResult> =
            workers.iter().flat_map(|w| w.reductions.clone()).collect();
        reductions.sort_by(|a, b| (&a.stage, a.batch).cmp(&(&b.stage, b.batch)));
        // A key lives on one worker; its latest update is its value.
        let mut latest: BTreeMap<(String, String), AggregateUpdate> = BTreeMap::new();
        for u in workers.iter().flat_map(|w| w.aggregates.iter()) {
            let slot = latest
                .entry((u.stage.clone(), u.key.clone()))
                .or_insert_with(|| u.clone());
            if u.batch >= slot.batch {
                *slot = u.clone();
            }
        }
        let aggregates = latest.into_values().collect();
        RunReport {
            run_id: run_id.to_string(),
            dataflow,
            input: shared.plan.description.clone(),
            workers: shared.cluster.threads,
            processes: shared.cluster.processes,
            process: shared.cluster.process,
            batch_size: shared.plan.batch_size,
            batches: workers.iter().map(|w| w.batches).max().unwrap_or(0),
            records_in: workers.iter().map(|w| w.records_in).sum(),
            records_out: workers.iter().map(|w| w.records_out).sum(),
            skipped: workers.iter().map(|w| w.skipped).sum(),
            elapsed: end.duration_since(shared.clock.start()),
            stages,
            reductions,
            aggregates,
            delivery: None,
            dead_letter: shared
                .plan
                .dead_letter()
                .map(|d| d.path().display().to_string()),
        }
    }

    /// Records read per second of wall time.
    pub fn records_per_sec(&self) -> f64 {
        self.records_in as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The summary printed at the end of a run.
pub fn render_summary(r: &RunReport) -> String {
    let mut s = String::new();
    let cluster = if r.processes > 1 {
        format!(
            ", process {} of {} ({} workers here)",
            r.process, r.processes, r.workers
        )
    } else {
        format!(
            ", {} worker{}",
            r.workers,
            if r.workers == 1 { "" } else { "s" }
        )
    };
    let _ = writeln!(s, "{} — run {}{}", r.dataflow, r.run_id, cluster);
    let _ = writeln!(s, "input: {}", r.input);
    let _ = writeln!(
        s,
        "{} records in, {} out, {} skipped; {} batches of {}; {:.3} s; {:.0} records/s",
        r.records_in,
        r.records_out,
        r.skipped,
        r.batches,
        r.batch_size,
        r.elapsed.as_secs_f64(),
        r.records_per_sec()
    );
    if let Some(path) = &r.dead_letter {
        let _ = writeln!(
            s,
            "{} bad record{} skipped → {path} (holds raw input, mode 0600)",
            r.skipped,
            if r.skipped == 1 { "" } else { "s" }
        );
    }
    if r.stages.is_empty() {
        let _ = writeln!(s, "(metrics off: no per-stage numbers)");
    } else {
        let width = r
            .stages
            .iter()
            .map(|st| st.path.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            s,
            "\n{:width$}  {:8}  {:>10}  {:>10}  {:>12}  {:>12}",
            "stage", "kind", "in", "out", "busy", "busiest wkr"
        );
        for st in &r.stages {
            let _ = writeln!(
                s,
                "{:width$}  {:8}  {:>10}  {:>10}  {:>12}  {:>12}",
                st.path,
                st.kind.as_str(),
                st.input,
                st.output,
                ms(st.busy),
                ms(st.busy_max)
            );
        }
    }
    let mut last: BTreeMap<&str, (&ReductionResult, usize)> = BTreeMap::new();
    for red in &r.reductions {
        let e = last.entry(red.stage.as_str()).or_insert((red, 0));
        e.1 += 1;
        if red.batch >= e.0.batch {
            e.0 = red;
        }
    }
    for (stage, (red, n)) in last {
        let _ = writeln!(
            s,
            "\nreduce {stage}: {n} batches; batch {}: {}",
            red.batch, red.value
        );
    }
    let mut by_stage: BTreeMap<&str, Vec<&AggregateUpdate>> = BTreeMap::new();
    for a in &r.aggregates {
        by_stage.entry(a.stage.as_str()).or_default().push(a);
    }
    for (stage, mut keys) in by_stage {
        keys.sort_by(|a, b| b.value.sum.cmp(&a.value.sum).then(a.key.cmp(&b.key)));
        let _ = writeln!(
            s,
            "\naggregate {stage}: {} keys{}",
            keys.len(),
            if keys.len() > 10 {
                " (top 10 by sum)"
            } else {
                ""
            }
        );
        for a in keys.iter().take(10) {
            let v = a.value;
            let _ = writeln!(
                s,
                "  {}  count {}  sum {}  min {}  max {}",
                a.key, v.count, v.sum, v.min, v.max
            );
        }
    }
    if let Some(d) = &r.delivery {
        let _ = writeln!(
            s,
            "\nmetrics → {}: {} rows produced, {} delivered, {} spooled, {} failed, {} dropped",
            d.sink, d.produced, d.delivered, d.spooled, d.failed, d.dropped
        );
        for e in &d.errors {
            let _ = writeln!(s, "  error: {e}");
        }
    }
    s
}
