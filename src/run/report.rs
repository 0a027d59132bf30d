//! The run report and its readable summary.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use super::control::{AggregatePart, KeyTotal, PartReport, StagePart};
use super::progress::Counters;
use super::worker::{Shared, WorkerReport};
use crate::base::StageKind;
use crate::pipeline::{AggregateUpdate, ReductionResult};
use crate::sink::sidecar::DeliveryReport;
use crate::stop::StopReason;

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
    /// This process's workers' time capturing metrics outside the stages
    /// (making rows, handing them to the sidecar, reading timely's log),
    /// summed; zero with `--metrics off`.
    pub capture: Duration,
    /// In the graph's order; empty with `--metrics off`.
    pub stages: Vec<StageSummary>,
    /// Each reduce stage's result per batch (only on the process holding worker 0).
    pub reductions: Vec<ReductionResult>,
    /// Each aggregate stage's final value per key (this process's keys).
    pub aggregates: Vec<AggregateUpdate>,
    /// What the sidecar delivered; `None` with `--metrics off`.
    pub delivery: Option<DeliveryReport>,
    /// Why the run ended early, if it was asked to stop (Ctrl-C, a closed pipe).
    pub stopped: Option<StopReason>,
    /// On process 0 of a cluster: every process's account, its own first.
    /// Empty elsewhere, and for a single process.
    pub cluster: Vec<PartReport>,
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
            capture: workers.iter().map(|w| w.capture).sum(),
            stages,
            reductions,
            aggregates,
            delivery: None,
            dead_letter: shared
                .plan
                .dead_letter()
                .map(|d| d.path().display().to_string()),
            stopped: None,
            cluster: Vec::new(),
        }
    }

    /// The report of a run whose workers did not all report back (it
    /// failed): the records and batches the progress counters saw.
    pub(crate) fn from_progress<R, O>(
        run_id: &str,
        dataflow: &'static str,
        shared: &Shared<R, O>,
        progress: &Counters,
        end: Instant,
    ) -> RunReport {
        use std::sync::atomic::Ordering::Relaxed;
        RunReport {
            run_id: run_id.to_string(),
            dataflow,
            input: shared.plan.description.clone(),
            workers: shared.cluster.threads,
            processes: shared.cluster.processes,
            process: shared.cluster.process,
            batch_size: shared.plan.batch_size,
            batches: progress.batches.load(Relaxed),
            records_in: progress.records.load(Relaxed),
            records_out: progress.records_out.load(Relaxed),
            skipped: 0,
            elapsed: end.duration_since(shared.clock.start()),
            capture: Duration::ZERO,
            stages: Vec::new(),
            reductions: Vec::new(),
            aggregates: Vec::new(),
            delivery: None,
            stopped: None,
            cluster: Vec::new(),
            dead_letter: shared
                .plan
                .dead_letter()
                .map(|d| d.path().display().to_string()),
        }
    }

    /// This process's account, for process 0's cluster-wide summary.
    pub fn part(&self, process: usize) -> PartReport {
        let mut by_stage: BTreeMap<&str, Vec<&AggregateUpdate>> = BTreeMap::new();
        for a in &self.aggregates {
            by_stage.entry(a.stage.as_str()).or_default().push(a);
        }
        PartReport {
            process,
            records_in: self.records_in,
            records_out: self.records_out,
            skipped: self.skipped,
            batches: self.batches,
            elapsed_ms: self.elapsed.as_secs_f64() * 1e3,
            status: match self.stopped {
                Some(_) => "interrupted".to_string(),
                None => "ok".to_string(),
            },
            stages: self
                .stages
                .iter()
                .map(|s| StagePart {
                    path: s.path.clone(),
                    kind: s.kind.as_str().to_string(),
                    input: s.input,
                    output: s.output,
                    busy_ns: s.busy.as_nanos() as u64,
                    busy_max_ns: s.busy_max.as_nanos() as u64,
                    batches: s.batches,
                })
                .collect(),
            aggregates: by_stage
                .into_iter()
                .map(|(stage, mut keys)| {
                    let n = keys.len() as u64;
                    keys.sort_by(|a, b| b.value.sum.cmp(&a.value.sum).then(a.key.cmp(&b.key)));
                    let top = keys
                        .iter()
                        .take(TOP_KEYS)
                        .map(|a| KeyTotal {
                            key: a.key.clone(),
                            count: a.value.count,
                            sum: a.value.sum,
                            min: a.value.min,
                            max: a.value.max,
                        })
                        .collect();
                    AggregatePart {
                        stage: stage.to_string(),
                        keys: n,
                        top,
                    }
                })
                .collect(),
        }
    }

    /// Records read per second of wall time.
    pub fn records_per_sec(&self) -> f64 {
        self.records_in as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Aggregate keys the summary shows per stage (by sum).
const TOP_KEYS: usize = 10;

/// `1 record`, `2 records`, `1 batch`, `3 batches`.
fn counted(n: u64, noun: &str) -> String {
    match (n, noun.ends_with(['s', 'h', 'x'])) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// What the summary shows: one process's run, or (on process 0 of a
/// cluster) the whole cluster's, merged from every process's report.
struct View {
    records_in: u64,
    records_out: u64,
    skipped: u64,
    batches: u64,
    stages: Vec<StageSummary>,
    /// Per aggregate stage: keys in all, and the top keys by sum.
    aggregates: BTreeMap<String, AggregatePart>,
}

impl View {
    fn of(r: &RunReport) -> View {
        if r.cluster.is_empty() {
            View::merge(&[r.part(r.process)])
        } else {
            View::merge(&r.cluster)
        }
    }

    fn merge(parts: &[PartReport]) -> View {
        let mut stages: Vec<StageSummary> = Vec::new();
        let mut aggregates: BTreeMap<String, AggregatePart> = BTreeMap::new();
        for part in parts {
            for p in &part.stages {
                let at = match stages.iter().position(|s| s.path == p.path) {
                    Some(i) => i,
                    None => {
                        stages.push(StageSummary {
                            path: p.path.clone(),
                            kind: StageKind::from_name(&p.kind).unwrap_or(StageKind::Map),
                            input: 0,
                            output: 0,
                            busy: Duration::ZERO,
                            busy_max: Duration::ZERO,
                            batches: 0,
                        });
                        stages.len() - 1
                    }
                };
                let st = &mut stages[at];
                st.input += p.input;
                st.output += p.output;
                st.busy += Duration::from_nanos(p.busy_ns);
                st.busy_max = st.busy_max.max(Duration::from_nanos(p.busy_max_ns));
                st.batches = st.batches.max(p.batches);
            }
            for a in &part.aggregates {
                let e = aggregates.entry(a.stage.clone()).or_default();
                e.keys += a.keys;
                e.top.extend(a.top.iter().cloned());
            }
        }
        // A key lives on one worker, so the top keys of the whole are among
        // the top keys of the parts.
        for a in aggregates.values_mut() {
            a.top
                .sort_by(|x, y| y.sum.cmp(&x.sum).then(x.key.cmp(&y.key)));
            a.top.truncate(TOP_KEYS);
        }
        View {
            records_in: parts.iter().map(|p| p.records_in).sum(),
            records_out: parts.iter().map(|p| p.records_out).sum(),
            skipped: parts.iter().map(|p| p.skipped).sum(),
            batches: parts.iter().map(|p| p.batches).max().unwrap_or(0),
            stages,
            aggregates,
        }
    }
}

/// The summary printed at the end of a run.
pub fn render_summary(r: &RunReport) -> String {
    let mut s = String::new();
    let whole = !r.cluster.is_empty();
    let cluster = if whole {
        format!(
            ", {} processes × {} workers (the whole cluster, from process 0)",
            r.processes, r.workers
        )
    } else if r.processes > 1 {
        format!(
            ", process {} of {} ({} workers here; process 0 prints the whole cluster's summary)",
            r.process, r.processes, r.workers
        )
    } else {
        format!(
            ", {} worker{}",
            r.workers,
            if r.workers == 1 { "" } else { "s" }
        )
    };
    let v = View::of(r);
    let _ = writeln!(s, "{} — run {}{}", r.dataflow, r.run_id, cluster);
    let _ = writeln!(s, "input: {}", r.input);
    if let Some(reason) = r.stopped {
        let _ = writeln!(
            s,
            "{}: the counts below cover the batches read until then",
            reason.describe()
        );
    }
    let rate = v.records_in as f64 / r.elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        s,
        "{} in, {} out, {} skipped; {} of {}; {:.3} s; {:.0} records/s",
        counted(v.records_in, "record"),
        v.records_out,
        v.skipped,
        counted(v.batches, "batch"),
        r.batch_size,
        r.elapsed.as_secs_f64(),
        rate
    );
    if let Some(path) = &r.dead_letter {
        let _ = writeln!(
            s,
            "{} bad record{} skipped → {path} (holds raw input, mode 0600)",
            r.skipped,
            if r.skipped == 1 { "" } else { "s" }
        );
    }
    if whole {
        for p in &r.cluster {
            let _ = writeln!(
                s,
                "  process {}: {} in, {} out, {} skipped; {}; {:.3} s; {}",
                p.process,
                counted(p.records_in, "record"),
                p.records_out,
                p.skipped,
                counted(p.batches, "batch"),
                p.elapsed_ms / 1e3,
                p.status
            );
        }
        let missing = r.processes - r.cluster.len();
        if missing > 0 {
            let _ = writeln!(
                s,
                "  ({} of the {} processes sent no report: their counts are not included)",
                missing, r.processes
            );
        }
    }
    if v.stages.is_empty() {
        let _ = writeln!(s, "(metrics off: no per-stage numbers)");
    } else {
        let width = v
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
        for st in &v.stages {
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
            "\nreduce {stage}: {}; batch {}: {}",
            counted(n as u64, "batch"),
            red.batch,
            red.value
        );
    }
    for (stage, a) in &v.aggregates {
        let _ = writeln!(
            s,
            "\naggregate {stage}: {} keys{}",
            a.keys,
            if a.keys > TOP_KEYS as u64 {
                format!(" (top {TOP_KEYS} by sum)")
            } else {
                String::new()
            }
        );
        for k in &a.top {
            let _ = writeln!(
                s,
                "  {}  count {}  sum {}  min {}  max {}",
                k.key, k.count, k.sum, k.min, k.max
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
        if !r.capture.is_zero() {
            let worker_time = r.elapsed * r.workers.max(1) as u32;
            let _ = writeln!(
                s,
                "metrics capture: {:.3} ms of {}worker time ({:.2} % of {} × {:.0} ms): making rows, handing them to the sidecar, reading timely's log",
                r.capture.as_secs_f64() * 1e3,
                if r.processes > 1 {
                    "this process's "
                } else {
                    ""
                },
                r.capture.as_secs_f64() / worker_time.as_secs_f64().max(1e-9) * 100.0,
                r.workers,
                r.elapsed.as_secs_f64() * 1e3,
            );
        }
    }
    s
}
