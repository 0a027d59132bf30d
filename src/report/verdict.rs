//! Where the time went, and what bounds the run.
//!
//! **The model.** Every worker's wall time (its process's elapsed time) is
//! split into
//! - *stage work*: each stage's busy time on that worker (the stage's own
//!   code, timed around every container of records) plus the scheduling time
//!   of the stage's helper operators (a reduce's combiner, an aggregate's
//!   arrangement) — see [`super::graph`];
//! - *timely*: the rest of the time the worker spent inside the dataflow
//!   (timely's log times the dataflow's root scope): moving records between
//!   operators and across workers (the exchange), progress tracking, and
//!   timely's own input, probe and inspect operators;
//! - *outside*: wall time not inside the dataflow — start-up, reading and
//!   parsing the worker's share of the input, building metric rows, and
//!   waiting for other workers. The data cannot tell these apart: the run has
//!   no timer around parsing. The least any worker spent outside (minus
//!   start-up, measured as the first batch's entry) is taken as the input
//!   time, since the worker with the least time outside waited least.
//!
//! The run lasts as long as its busiest worker: `elapsed ≈ max_w inside_w +
//! outside_min`. Making a part 2× faster removes half of it from every
//! worker, and the estimate is the new maximum: for stage *s*,
//! `max_w (inside_w − cost_{s,w}/2) + outside_min`. Skew is included: a stage
//! slow on one worker only shortens the run as far as the next-busiest worker
//! allows. The *bound* is the part whose 2× speed-up buys the most. The model
//! ignores that workers hand batches to each other (at most two in flight),
//! so it is an estimate, not a prediction.

use super::graph::Derived;
use super::model::Run;

/// A stage is skewed when its busiest worker carries at least this many
/// times the mean of the workers…
pub const SKEW_RATIO: f64 = 1.5;
/// …and at least this much more than the mean, in ns (tiny stages are noise).
pub const SKEW_FLOOR_NS: u64 = 1_000_000;

/// One worker's time.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerTime {
    pub worker: u32,
    pub process: u32,
    pub elapsed_ns: u64,
    /// Inside the dataflow (timely's root scope); `None` without the operator log.
    pub inside_ns: Option<u64>,
    /// Per stage: busy time plus its helpers' scheduling time.
    pub stage_ns: Vec<u64>,
    /// Inside the dataflow but in no stage.
    pub timely_ns: Option<u64>,
    /// Not inside the dataflow (or, without the log, in no stage).
    pub outside_ns: u64,
}

impl WorkerTime {
    /// Time the worker spent working in the dataflow (the log's figure, or
    /// the stages' sum without it).
    pub fn inside(&self) -> u64 {
        self.inside_ns
            .unwrap_or_else(|| self.stage_ns.iter().sum::<u64>())
    }
}

/// What bounds the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Stage(usize),
    /// Timely's own work: the exchange, progress tracking.
    Timely,
    /// Reading and parsing input (and whatever else is outside the dataflow).
    Input,
    /// Before the first batch entered.
    Startup,
}

/// A part and what making it 2× faster would buy.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    pub part: Part,
    /// The part's time on the worker where it weighs most, ns.
    pub time_ns: u64,
    /// That worker.
    pub worker: Option<u32>,
    /// Estimated run time if the part were 2× faster, ms.
    pub estimate_ms: f64,
}

/// A stage whose busiest worker carries far more than the mean.
#[derive(Debug, Clone, PartialEq)]
pub struct Skew {
    pub stage: usize,
    pub worker: u32,
    pub busy_ns: u64,
    pub mean_ns: u64,
    /// Records the worker received ÷ the workers' mean.
    pub records_ratio: f64,
}

impl Skew {
    pub fn ratio(&self) -> f64 {
        self.busy_ns as f64 / self.mean_ns.max(1) as f64
    }
}

/// The verdict and the accounting behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub elapsed_ms: f64,
    pub startup_ns: u64,
    /// The least time any worker spent outside the dataflow, start-up excluded.
    pub input_ns: u64,
    pub workers: Vec<WorkerTime>,
    /// Every part, the bound first.
    pub what_if: Vec<WhatIf>,
    pub skews: Vec<Skew>,
    /// Records that crossed workers (on channels where some worker received
    /// a different count than it sent).
    pub exchanged_records: u64,
    /// Metric rows the run reported dropped or failed: the figures under-count.
    pub lost_rows: Option<u64>,
    /// (records the stage rows account for, records read), when they differ
    /// in a run that finished: rows are missing from the files.
    pub uncovered: Option<(u64, u64)>,
    pub has_log: bool,
}

impl Verdict {
    /// What bounds the run, if anything was measured.
    pub fn bound(&self) -> Option<&WhatIf> {
        self.what_if.first()
    }
}

/// Works out the verdict of `run`. `dropped` are metric rows the run itself
/// reported dropped or failed (known only right after the run).
pub fn judge(run: &Run, graph: &Derived, dropped: Option<u64>) -> Verdict {
    let workers = run.workers as usize;
    let elapsed_ms = run.info.elapsed_ms;
    let root = graph.root.map(|r| &run.operators[r]);
    let has_log = root.is_some();
    let mut times = Vec::with_capacity(workers);
    for w in 0..workers {
        let process = run.process_of.get(w).copied().unwrap_or(0);
        let elapsed_ms = run
            .info
            .process_elapsed_ms
            .get(&process)
            .copied()
            .unwrap_or(elapsed_ms);
        let elapsed_ns = (elapsed_ms * 1e6) as u64;
        let stage_ns: Vec<u64> = (0..run.stages.len())
            .map(|s| {
                let helpers: u64 = graph.helpers[s]
                    .iter()
                    .map(|&o| run.operators[o].schedule_ns.get(w).copied().unwrap_or(0))
                    .sum();
                run.cell(s, w).busy_ns + helpers
            })
            .collect();
        let in_stages: u64 = stage_ns.iter().sum();
        let inside_ns = root.map(|r| r.schedule_ns.get(w).copied().unwrap_or(0).max(in_stages));
        let inside = inside_ns.unwrap_or(in_stages);
        times.push(WorkerTime {
            worker: w as u32,
            process,
            elapsed_ns,
            inside_ns,
            timely_ns: inside_ns.map(|i| i - in_stages),
            outside_ns: elapsed_ns.saturating_sub(inside),
            stage_ns,
        });
    }
    let first_entry = run
        .batches
        .iter()
        .filter(|b| b.entered_us > 0)
        .map(|b| b.entered_us)
        .min();
    let outside_min = times.iter().map(|t| t.outside_ns).min().unwrap_or(0);
    let startup_ns = match first_entry {
        Some(e) if run.info.start_us > 0 => {
            (e.saturating_sub(run.info.start_us) * 1000).min(outside_min)
        }
        _ => 0,
    };
    let input_ns = outside_min - startup_ns;

    // elapsed ≈ max_w inside_w + outside_min; a part 2× faster removes half
    // of it from every worker.
    let model = |cut: &dyn Fn(&WorkerTime) -> u64| -> u64 {
        times
            .iter()
            .map(|t| t.inside().saturating_sub(cut(t) / 2))
            .max()
            .unwrap_or(0)
    };
    let now = model(&|_| 0) + outside_min;
    let estimate = |saved_ns: u64| (elapsed_ms - saved_ns as f64 / 1e6).max(0.0);
    let busiest = |f: &dyn Fn(&WorkerTime) -> u64| -> (u64, Option<u32>) {
        times
            .iter()
            .map(|t| (f(t), Some(t.worker)))
            .max_by_key(|(v, w)| (*v, std::cmp::Reverse(*w)))
            .unwrap_or((0, None))
    };
    let mut what_if = Vec::new();
    for s in 0..run.stages.len() {
        let after = model(&|t| t.stage_ns[s]) + outside_min;
        let (time_ns, worker) = busiest(&|t| t.stage_ns[s]);
        what_if.push(WhatIf {
            part: Part::Stage(s),
            time_ns,
            worker,
            estimate_ms: estimate(now - after),
        });
    }
    if has_log {
        let after = model(&|t| t.timely_ns.unwrap_or(0)) + outside_min;
        let (time_ns, worker) = busiest(&|t| t.timely_ns.unwrap_or(0));
        what_if.push(WhatIf {
            part: Part::Timely,
            time_ns,
            worker,
            estimate_ms: estimate(now - after),
        });
    }
    if workers > 0 {
        what_if.push(WhatIf {
            part: Part::Input,
            time_ns: input_ns,
            worker: None,
            estimate_ms: estimate(input_ns / 2),
        });
        what_if.push(WhatIf {
            part: Part::Startup,
            time_ns: startup_ns,
            worker: None,
            estimate_ms: estimate(startup_ns / 2),
        });
    }
    // The bound buys the most; among equals, a stage (the actionable answer).
    what_if.sort_by(|a, b| {
        a.estimate_ms
            .total_cmp(&b.estimate_ms)
            .then_with(|| b.time_ns.cmp(&a.time_ns))
    });

    let mut skews = Vec::new();
    if workers > 1 {
        for s in 0..run.stages.len() {
            let (max, worker) = busiest(&|t| t.stage_ns[s]);
            let mean = times.iter().map(|t| t.stage_ns[s]).sum::<u64>() / workers as u64;
            if (max as f64) >= SKEW_RATIO * mean as f64 && max - mean >= SKEW_FLOOR_NS {
                let w = worker.unwrap_or(0) as usize;
                let mean_in = run.stages[s].input as f64 / workers as f64;
                skews.push(Skew {
                    stage: s,
                    worker: w as u32,
                    busy_ns: max,
                    mean_ns: mean,
                    records_ratio: run.cell(s, w).input as f64 / mean_in.max(1e-9),
                });
            }
        }
        skews.sort_by_key(|k| std::cmp::Reverse(k.busy_ns));
    }
    let exchanged_records = run
        .channels
        .iter()
        .filter(|c| c.exchange)
        .map(|c| c.records_sent)
        .sum();
    let lost_rows = dropped.filter(|&d| d > 0);
    let uncovered = run
        .coverage()
        .filter(|(covered, read)| covered != read && run.info.status == "ok");
    Verdict {
        elapsed_ms,
        startup_ns,
        input_ns,
        workers: times,
        what_if,
        skews,
        exchanged_records,
        lost_rows,
        uncovered,
        has_log,
    }
}
