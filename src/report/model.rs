//! A run, as the report sees it: its metric files folded into totals per
//! stage and worker, batch latencies, worker-level spans of the batches the
//! report shows in detail, and timely's operator graph.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::ReportError;

/// The report keeps worker-level spans of at most about this many
/// stage × batch × worker rows (a few MB of page); beyond it, of a chosen set
/// of batches (the slowest, and an even sample).
pub const DETAIL_SPANS: usize = 60_000;

/// What the run's `pipeline_runs` rows say, merged over processes.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub run_id: String,
    pub dataflow: String,
    pub input: String,
    pub args: String,
    /// Workers in the whole run.
    pub workers: u32,
    pub processes: u32,
    pub batch_size: u64,
    pub batches: u64,
    pub records_in: u64,
    pub records_out: u64,
    pub records_skipped: u64,
    pub start_us: u64,
    pub end_us: u64,
    pub elapsed_ms: f64,
    /// Per process (by process id): elapsed ms.
    pub process_elapsed_ms: BTreeMap<u32, f64>,
    /// `ok`, `failed`, or `unknown` when no `pipeline_runs` row was written.
    pub status: String,
    pub error: String,
    pub version: String,
    pub host: String,
    /// Processes whose `pipeline_runs` row is present.
    pub processes_reported: Vec<u32>,
}

/// One stage over the whole run.
#[derive(Debug, Clone)]
pub struct Stage {
    pub path: String,
    pub kind: String,
    pub operator_id: u64,
    pub input: u64,
    pub output: u64,
    pub busy_ns: u64,
}

impl Stage {
    /// The last component of the path (`hash_email` of `if_order/then/hash_email`).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// One stage on one worker, over the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cell {
    pub busy_ns: u64,
    pub input: u64,
    pub output: u64,
}

/// One batch: its latency (from `pipeline_batches`) and the extent of its
/// stage work (from `pipeline_metrics`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch {
    pub id: u32,
    pub records: u64,
    /// From `pipeline_batches`; 0 when the run wrote none for it.
    pub entered_us: u64,
    pub completed_us: u64,
    pub latency_ms: Option<f64>,
    /// First stage start and last stage end over every stage and worker.
    pub first_start_us: u64,
    pub last_end_us: u64,
}

/// One stage's work on one batch and worker: first container's start to
/// last container's end, and the busy time within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub stage: u16,
    pub worker: u32,
    pub start_us: u64,
    pub end_us: u64,
    pub busy_ns: u64,
    pub input: u64,
    pub output: u64,
}

/// A timely operator over every worker.
#[derive(Debug, Clone, Default)]
pub struct Operator {
    pub id: u64,
    pub address: String,
    pub name: String,
    pub stage_path: String,
    pub is_scope: bool,
    /// Scheduling time per worker (index = worker id).
    pub schedule_ns: Vec<u64>,
    pub activations: u64,
    pub max_activation_ns: u64,
}

impl Operator {
    pub fn total_ns(&self) -> u64 {
        self.schedule_ns.iter().sum()
    }
    pub fn parent(&self) -> &str {
        self.address.rsplit_once('.').map_or("", |(p, _)| p)
    }
}

/// A timely channel over every worker.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    pub id: u64,
    pub source: u64,
    pub source_port: u32,
    pub target: u64,
    pub target_port: u32,
    pub records_sent: u64,
    pub records_received: u64,
    /// Some worker received a different number of records than it sent:
    /// records crossed workers (an exchange).
    pub exchange: bool,
}

/// One aggregate key's value after the last batch that changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateValue {
    pub key: String,
    pub batch: u32,
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
}

/// A differential arrangement at the end of the run.
#[derive(Debug, Clone, Default)]
pub struct Arrangement {
    pub operator_id: u64,
    /// Records held at the end, summed over workers.
    pub records: i64,
    /// The most records held after any batch (summed over workers per batch).
    pub peak_records: i64,
    pub merges: u64,
}

/// What was found of one table.
#[derive(Debug, Clone, Default)]
pub struct TableFiles {
    pub table: &'static str,
    pub files: usize,
    pub rows: u64,
    /// Lines that were not a row of this table (a cut-off last line, say).
    pub unreadable: u64,
}

/// A run directory, read.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub dir: PathBuf,
    pub info: RunInfo,
    /// In build order (operator id), which is a topological order.
    pub stages: Vec<Stage>,
    /// Worker count (global ids `0..workers`).
    pub workers: u32,
    /// Process of each worker.
    pub process_of: Vec<u32>,
    /// `cells[stage * workers + worker]`.
    pub cells: Vec<Cell>,
    /// By batch id.
    pub batches: Vec<Batch>,
    /// Worker-level spans of the batches shown in detail, by batch id.
    pub spans: BTreeMap<u32, Vec<Span>>,
    /// Every batch has its spans in `spans`.
    pub spans_complete: bool,
    pub operators: Vec<Operator>,
    pub channels: Vec<Channel>,
    /// Reduce stage → (batch, result JSON), by batch.
    pub reductions: BTreeMap<String, Vec<(u32, String)>>,
    /// Aggregate stage → its keys' latest values.
    pub aggregates: BTreeMap<String, Vec<AggregateValue>>,
    pub arrangements: Vec<Arrangement>,
    pub tables: Vec<TableFiles>,
}

impl Run {
    pub fn cell(&self, stage: usize, worker: usize) -> Cell {
        self.cells[stage * self.workers as usize + worker]
    }

    /// Records the stage rows account for (the first stage's records in,
    /// summed over every row) and records the run read: equal unless rows
    /// are missing. `None` without a `pipeline_runs` row or stages.
    pub fn coverage(&self) -> Option<(u64, u64)> {
        let first = self.stages.first()?;
        (self.info.status != "unknown").then_some((first.input, self.info.records_in))
    }

    /// The stage with this path.
    pub fn stage_index(&self, path: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.path == path)
    }

    /// Reads the run directory `dir`.
    pub fn load(dir: &Path) -> Result<Run, ReportError> {
        super::read::run(dir)
    }

    /// The batches whose worker-level spans the report keeps when it cannot
    /// keep all (see [`choose_detail`]).
    pub fn choose_detail(&self) -> HashSet<u32> {
        choose_detail(&self.batches, self.stages.len() * self.workers as usize)
    }

    /// The slowest batch (by latency, or by stage extent without one).
    pub fn slowest_batch(&self) -> Option<&Batch> {
        self.batches.iter().max_by(|a, b| {
            batch_time(a)
                .total_cmp(&batch_time(b))
                .then(b.id.cmp(&a.id))
        })
    }
}

/// The batches kept in detail when not all can be: the ten slowest, the
/// median, the first and last, and an even sample, within [`DETAIL_SPANS`]
/// spans of `per_batch` (stages × workers) each.
pub fn choose_detail(batches: &[Batch], per_batch: usize) -> HashSet<u32> {
    let budget = (DETAIL_SPANS / per_batch.max(1)).max(12);
    let mut chosen = HashSet::new();
    let mut by_time: Vec<&Batch> = batches.iter().collect();
    by_time.sort_by(|a, b| {
        batch_time(b)
            .total_cmp(&batch_time(a))
            .then(a.id.cmp(&b.id))
    });
    for b in by_time.iter().take(10) {
        chosen.insert(b.id);
    }
    if let Some(b) = by_time.get(by_time.len() / 2) {
        chosen.insert(b.id);
    }
    if let (Some(f), Some(l)) = (batches.first(), batches.last()) {
        chosen.insert(f.id);
        chosen.insert(l.id);
    }
    let left = budget.saturating_sub(chosen.len()).max(1);
    let step = batches.len().div_ceil(left).max(1);
    for b in batches.iter().step_by(step) {
        if chosen.len() >= budget {
            break;
        }
        chosen.insert(b.id);
    }
    chosen
}

/// How long a batch took: its latency, or its stage extent without one.
pub fn batch_time(b: &Batch) -> f64 {
    b.latency_ms
        .unwrap_or_else(|| b.last_end_us.saturating_sub(b.first_start_us) as f64 / 1e3)
}

/// End-to-end latency percentiles over the batches (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    /// The batch with the highest latency.
    pub max_batch: u32,
    pub batches: usize,
}

impl Run {
    /// Latency percentiles over the batches that have a latency.
    pub fn latency(&self) -> Option<Percentiles> {
        let mut v: Vec<(f64, u32)> = self
            .batches
            .iter()
            .filter_map(|b| Some((b.latency_ms?, b.id)))
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
        let values: Vec<f64> = v.iter().map(|x| x.0).collect();
        let last = v[v.len() - 1];
        Some(Percentiles {
            p50: nearest_rank(&values, 0.50),
            p95: nearest_rank(&values, 0.95),
            max: last.0,
            max_batch: last.1,
            batches: v.len(),
        })
    }
}

/// The nearest-rank percentile `p` (0..=1) of sorted `values`.
///
/// ```
/// use mable_pipeline::report::model::nearest_rank;
/// assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.0);
/// assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0], 0.95), 4.0);
/// ```
pub fn nearest_rank(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = (p * values.len() as f64).ceil().max(1.0) as usize;
    values[rank.min(values.len()) - 1]
}
