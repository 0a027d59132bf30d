//! Reading each table of a run directory into the [`Run`] model.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::ReportError;
use super::load::{Listing, each_line, table_files};
use super::model::{
    AggregateValue, Arrangement, Batch, Cell, Channel, DETAIL_SPANS, Operator, Run, RunInfo, Span,
    Stage, TableFiles, choose_detail,
};
use super::rows::{
    AggregateLine, ArrangementLine, BatchLine, ChannelLine, MetricLine, OperatorLine,
    ReductionLine, RunLine,
};
use super::scan;

/// Metric files up to this size keep their spans while the totals are read;
/// bigger ones are read a second time, for the chosen batches only.
const ONE_PASS_BYTES: u64 = 32 << 20;

/// Reads the run directory `dir`.
pub fn run(dir: &Path) -> Result<Run, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NotADirectory(dir.to_path_buf()));
    }
    // One thread: for the files of a usual run, a second thread costs more
    // (waking it, warming its allocator) than it saves.
    let ls = Listing::read(dir)?;
    let mut run = main_tables(dir, &ls)?;
    let side = side_tables(&ls)?;
    run.channels = side.channels;
    run.reductions = side.reductions;
    run.aggregates = side.aggregates;
    run.arrangements = side.arrangements;
    run.tables.extend(side.tables);
    Ok(run)
}

/// What [`side_tables`] reads.
struct Side {
    channels: Vec<Channel>,
    reductions: BTreeMap<String, Vec<(u32, String)>>,
    aggregates: BTreeMap<String, Vec<AggregateValue>>,
    arrangements: Vec<Arrangement>,
    tables: Vec<TableFiles>,
}

fn side_tables(dir: &Listing) -> Result<Side, ReportError> {
    let (chs, t1) = rows::<ChannelLine>(dir, "pipeline_channels")?;
    let (reds, t2) = rows::<ReductionOwned>(dir, "pipeline_reductions")?;
    let (aggs, t3) = rows::<AggregateOwned>(dir, "pipeline_aggregates")?;
    let (arrs, t4) = rows::<ArrangementLine>(dir, "pipeline_arrangements")?;
    Ok(Side {
        channels: channels(chs),
        reductions: reductions(reds),
        aggregates: aggregates(aggs),
        arrangements: arrangements(arrs),
        tables: vec![t1, t2, t3, t4],
    })
}

/// The run's facts, its stage rows and timely's operators.
fn main_tables(dir: &Path, ls: &Listing) -> Result<Run, ReportError> {
    let mut run = Run {
        dir: dir.to_path_buf(),
        ..Run::default()
    };
    let (runs, t) = rows::<RunLine>(ls, "pipeline_runs")?;
    run.tables.push(t);
    let (batches, t) = rows::<BatchLine>(ls, "pipeline_batches")?;
    run.tables.push(t);
    let (ops, t_ops) = rows::<OperatorLineOwned>(ls, "pipeline_operators")?;
    let metric_bytes: u64 = ls
        .table("pipeline_metrics")
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    // Which spans the first reading keeps: all of a small file; of a big
    // one, the batches chosen from their latencies when the run's shape is
    // known (workers, and stages from timely's log); else none, and the file
    // is read again for the chosen batches.
    let early: Option<HashSet<u32>> = if metric_bytes <= ONE_PASS_BYTES {
        None
    } else {
        let workers = runs.iter().map(|r| r.workers).max().unwrap_or(0) as usize;
        let stages: HashSet<&str> = ops
            .iter()
            .filter(|o| !o.stage_path.is_empty())
            .map(|o| o.stage_path.as_str())
            .collect();
        let timed: Vec<Batch> = batches.iter().map(batch_of).collect();
        let shape_known = workers > 0 && !stages.is_empty() && !timed.is_empty();
        Some(if shape_known {
            choose_detail(&timed, workers * stages.len())
        } else {
            HashSet::new()
        })
    };
    let keep = |b: u32| early.as_ref().is_none_or(|set| set.contains(&b));
    let (found, t) = read_metrics(ls, &keep)?;
    run.tables.push(t);
    if runs.is_empty() && found.rows == 0 {
        return Err(ReportError::NoMetrics {
            dir: dir.to_path_buf(),
            newest: newest_run(dir),
        });
    }
    run.info = run_info(dir, &runs, &found);
    let spans = fold_metrics(&mut run, found, &batches);
    if early.is_none() && spans.len() <= DETAIL_SPANS {
        run.spans_complete = true;
        run.spans = group(spans, &|_| true);
    } else {
        let chosen = run.choose_detail();
        let keep = |b: u32| chosen.contains(&b);
        run.spans = if early.as_ref().is_none_or(|set| !set.is_empty()) {
            group(spans, &keep)
        } else {
            let (again, _) = read_metrics(ls, &keep)?;
            let local: Vec<u16> = again
                .stages
                .iter()
                .map(|s| run.stage_index(&s.path).unwrap_or(0) as u16)
                .collect();
            let spans = again.spans.into_iter().map(|(b, mut s)| {
                s.stage = local[s.stage as usize];
                (b, s)
            });
            group(spans.collect(), &keep)
        };
    }
    run.operators = operators(ops, run.workers);
    run.tables.push(t_ops);
    Ok(run)
}

/// The most recently changed directory inside `dir` holding a run's files.
fn newest_run(dir: &Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            table_files(&e.path(), "pipeline_runs").is_ok_and(|f| !f.is_empty())
                || table_files(&e.path(), "pipeline_metrics").is_ok_and(|f| !f.is_empty())
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p)
}

fn batch_of(b: &BatchLine) -> Batch {
    Batch {
        id: b.batch_id,
        records: b.records_in,
        entered_us: b.entered_us,
        completed_us: b.completed_us,
        latency_ms: Some(b.latency_ms),
        ..Batch::default()
    }
}

/// A row type read whole from a line (small tables).
trait Row: Sized + Send {
    fn parse(line: &[u8]) -> Option<Self>;
}

macro_rules! owned_row {
    ($t:ty) => {
        impl Row for $t {
            fn parse(line: &[u8]) -> Option<Self> {
                serde_json::from_slice(line).ok()
            }
        }
    };
}
owned_row!(RunLine);
owned_row!(BatchLine);
owned_row!(ChannelLine);
owned_row!(ArrangementLine);

/// [`OperatorLine`] with its strings owned.
struct OperatorLineOwned {
    worker_id: u32,
    operator_id: u64,
    address: String,
    name: String,
    stage_path: String,
    is_scope: bool,
    schedule_ns: u64,
    activations: u64,
    max_activation_ns: u64,
}

impl Row for OperatorLineOwned {
    fn parse(line: &[u8]) -> Option<Self> {
        let o: OperatorLine = serde_json::from_slice(line).ok()?;
        Some(OperatorLineOwned {
            worker_id: o.worker_id,
            operator_id: o.operator_id,
            address: o.address.into_owned(),
            name: o.name.into_owned(),
            stage_path: o.stage_path.into_owned(),
            is_scope: o.is_scope != 0,
            schedule_ns: o.schedule_ns,
            activations: o.activations,
            max_activation_ns: o.max_activation_ns,
        })
    }
}

struct ReductionOwned(String, u32, String);

impl Row for ReductionOwned {
    fn parse(line: &[u8]) -> Option<Self> {
        let r: ReductionLine = serde_json::from_slice(line).ok()?;
        Some(ReductionOwned(
            r.stage_path.into_owned(),
            r.batch_id,
            r.result.into_owned(),
        ))
    }
}

struct AggregateOwned(String, AggregateValue);

impl Row for AggregateOwned {
    fn parse(line: &[u8]) -> Option<Self> {
        let a: AggregateLine = serde_json::from_slice(line).ok()?;
        Some(AggregateOwned(
            a.stage_path.into_owned(),
            AggregateValue {
                key: a.key.into_owned(),
                batch: a.batch_id,
                count: a.count,
                sum: a.sum,
                min: a.min,
                max: a.max,
            },
        ))
    }
}

/// Every row of `table` (all processes' files), and what was found.
fn rows<T: Row>(dir: &Listing, table: &'static str) -> Result<(Vec<T>, TableFiles), ReportError> {
    let files = dir.table(table);
    let mut info = TableFiles {
        table,
        files: files.len(),
        ..TableFiles::default()
    };
    let mut out = Vec::new();
    for file in &files {
        let parts = each_line(
            file,
            || (Vec::new(), 0u64),
            |(rows, bad): &mut (Vec<T>, u64), line| match T::parse(line) {
                Some(r) => rows.push(r),
                None => *bad += 1,
            },
        )?;
        for (rows, bad) in parts {
            info.rows += rows.len() as u64;
            info.unreadable += bad;
            out.extend(rows);
        }
    }
    Ok((out, info))
}

/// Batch ids and worker ids below these are kept in vectors; rows beyond
/// them (no real run has them) are counted unreadable.
const MAX_BATCH: u32 = 1 << 26;
const MAX_WORKER: u32 = 1 << 20;

/// `pipeline_metrics` folded as it is read: totals per stage × worker, the
/// extent of each batch, and (for the batches `keep` accepts) the spans.
/// Dense vectors, not maps: this runs once per row of what can be millions.
#[derive(Default)]
struct Metrics {
    stages: Vec<Stage>,
    /// The stage of the previous row: rows come stage after stage.
    hint: usize,
    /// `cells[stage][worker]`.
    cells: Vec<Vec<Cell>>,
    /// Per batch id: (first start, last end) of the rows that did work.
    extents: Vec<(u64, u64)>,
    /// Per batch id: any row at all.
    seen: Vec<bool>,
    /// Per worker: its process (`u32::MAX`: no row).
    process_of: Vec<u32>,
    max_worker: u32,
    rows: u64,
    unreadable: u64,
    spans: Vec<(u32, Span)>,
}

impl Metrics {
    fn stage(&mut self, m: &MetricLine) -> usize {
        let n = self.stages.len();
        for k in 0..n {
            let i = (self.hint + 1 + k) % n;
            if self.stages[i].path == m.stage_path {
                self.hint = i;
                return i;
            }
        }
        self.stages.push(Stage {
            path: m.stage_path.to_string(),
            kind: m.stage_kind.to_string(),
            operator_id: m.operator_id,
            input: 0,
            output: 0,
            busy_ns: 0,
        });
        self.cells.push(Vec::new());
        self.hint = n;
        n
    }

    fn add(&mut self, m: MetricLine, keep: &dyn Fn(u32) -> bool) {
        if m.batch_id >= MAX_BATCH || m.worker_id >= MAX_WORKER {
            self.unreadable += 1;
            return;
        }
        self.rows += 1;
        let stage = self.stage(&m);
        let (b, w) = (m.batch_id as usize, m.worker_id as usize);
        let cells = &mut self.cells[stage];
        if cells.len() <= w {
            cells.resize(w + 1, Cell::default());
        }
        let cell = &mut cells[w];
        cell.busy_ns += m.busy_ns;
        cell.input += m.input_count;
        cell.output += m.output_count;
        self.max_worker = self.max_worker.max(m.worker_id);
        if self.process_of.len() <= w {
            self.process_of.resize(w + 1, u32::MAX);
        }
        self.process_of[w] = m.process_id;
        if self.extents.len() <= b {
            self.extents.resize(b + 1, (u64::MAX, 0));
            self.seen.resize(b + 1, false);
        }
        self.seen[b] = true;
        // A stage that saw nothing of a batch has a row with zeros whose
        // times are only when it was written: it did no work.
        let worked = m.input_count > 0 || m.busy_ns > 0;
        if worked && m.start_us > 0 {
            let extent = &mut self.extents[b];
            extent.0 = extent.0.min(m.start_us);
            extent.1 = extent.1.max(m.end_us);
            if keep(m.batch_id) {
                self.spans.push((
                    m.batch_id,
                    Span {
                        stage: stage as u16,
                        worker: m.worker_id,
                        start_us: m.start_us,
                        end_us: m.end_us.max(m.start_us),
                        busy_ns: m.busy_ns,
                        input: m.input_count,
                        output: m.output_count,
                    },
                ));
            }
        }
    }

    /// Folds `other` (read by another thread, with its own stage numbering) in.
    fn merge(&mut self, other: Metrics) {
        let mut local = Vec::with_capacity(other.stages.len());
        for s in &other.stages {
            match self.stages.iter().position(|mine| mine.path == s.path) {
                Some(i) => {
                    let mine = &mut self.stages[i];
                    mine.operator_id = mine.operator_id.min(s.operator_id);
                    local.push(i);
                }
                None => {
                    self.stages.push(s.clone());
                    self.cells.push(Vec::new());
                    local.push(self.stages.len() - 1);
                }
            }
        }
        for (s, cells) in other.cells.into_iter().enumerate() {
            let mine = &mut self.cells[local[s]];
            if mine.len() < cells.len() {
                mine.resize(cells.len(), Cell::default());
            }
            for (w, c) in cells.into_iter().enumerate() {
                mine[w].busy_ns += c.busy_ns;
                mine[w].input += c.input;
                mine[w].output += c.output;
            }
        }
        if self.extents.len() < other.extents.len() {
            self.extents.resize(other.extents.len(), (u64::MAX, 0));
            self.seen.resize(other.extents.len(), false);
        }
        for (b, (start, end)) in other.extents.into_iter().enumerate() {
            let e = &mut self.extents[b];
            e.0 = e.0.min(start);
            e.1 = e.1.max(end);
            self.seen[b] |= other.seen[b];
        }
        if self.process_of.len() < other.process_of.len() {
            self.process_of.resize(other.process_of.len(), u32::MAX);
        }
        for (w, p) in other.process_of.into_iter().enumerate() {
            if p != u32::MAX {
                self.process_of[w] = p;
            }
        }
        self.max_worker = self.max_worker.max(other.max_worker);
        self.rows += other.rows;
        self.unreadable += other.unreadable;
        self.spans.extend(other.spans.into_iter().map(|(b, mut s)| {
            s.stage = local[s.stage as usize] as u16;
            (b, s)
        }));
    }

    /// Batches that have a row, with their work's extent (if any work).
    fn batches(&self) -> impl Iterator<Item = (u32, Option<(u64, u64)>)> + '_ {
        self.seen
            .iter()
            .enumerate()
            .filter(|(_, seen)| **seen)
            .map(|(b, _)| {
                let e = self.extents[b];
                (b as u32, (e.0 != u64::MAX).then_some(e))
            })
    }
}

fn read_metrics(
    dir: &Listing,
    keep: &(dyn Fn(u32) -> bool + Sync),
) -> Result<(Metrics, TableFiles), ReportError> {
    let files = dir.table("pipeline_metrics");
    let mut all = Metrics::default();
    for file in &files {
        let parts = each_line(
            file,
            Metrics::default,
            // The scanner reads the engine's lines fast; serde reads the rest.
            |acc: &mut Metrics, line| match scan::metric_line(line)
                .ok_or(())
                .or_else(|()| serde_json::from_slice::<MetricLine>(line).map_err(|_| ()))
            {
                Ok(m) => acc.add(m, keep),
                Err(()) => acc.unreadable += 1,
            },
        )?;
        for p in parts {
            all.merge(p);
        }
    }
    let info = TableFiles {
        table: "pipeline_metrics",
        files: files.len(),
        rows: all.rows,
        unreadable: all.unreadable,
    };
    Ok((all, info))
}

/// Sets the run's stages (in operator-id order), cells and batches from the
/// metrics; returns the spans renumbered to that order.
fn fold_metrics(run: &mut Run, m: Metrics, batch_rows: &[BatchLine]) -> Vec<(u32, Span)> {
    let mut order: Vec<usize> = (0..m.stages.len()).collect();
    order.sort_by(|&a, &b| {
        (m.stages[a].operator_id, &m.stages[a].path)
            .cmp(&(m.stages[b].operator_id, &m.stages[b].path))
    });
    let mut renumber = vec![0u16; m.stages.len()];
    for (new, &old) in order.iter().enumerate() {
        renumber[old] = new as u16;
    }
    let workers = if m.rows > 0 {
        (m.max_worker + 1).max(run.info.workers)
    } else {
        run.info.workers.max(1)
    };
    run.workers = workers;
    run.process_of = (0..workers as usize)
        .map(|w| match m.process_of.get(w) {
            Some(&p) if p != u32::MAX => p,
            _ => 0,
        })
        .collect();
    run.stages = order.iter().map(|&i| m.stages[i].clone()).collect();
    run.cells = vec![Cell::default(); run.stages.len() * workers as usize];
    for (s, cells) in m.cells.iter().enumerate() {
        let s = renumber[s] as usize;
        for (w, c) in cells.iter().enumerate() {
            run.cells[s * workers as usize + w] = *c;
            let st = &mut run.stages[s];
            st.input += c.input;
            st.output += c.output;
            st.busy_ns += c.busy_ns;
        }
    }
    let mut batches: BTreeMap<u32, Batch> = BTreeMap::new();
    for b in batch_rows {
        batches.entry(b.batch_id).or_insert_with(|| batch_of(b));
    }
    for (id, extent) in m.batches() {
        let b = batches.entry(id).or_insert(Batch {
            id,
            ..Batch::default()
        });
        if let Some((start, end)) = extent {
            b.first_start_us = start;
            b.last_end_us = end;
        }
    }
    run.batches = batches.into_values().collect();
    m.spans
        .into_iter()
        .map(|(b, mut s)| {
            s.stage = renumber[s.stage as usize];
            (b, s)
        })
        .collect()
}

fn group(spans: Vec<(u32, Span)>, keep: &dyn Fn(u32) -> bool) -> BTreeMap<u32, Vec<Span>> {
    let mut out: BTreeMap<u32, Vec<Span>> = BTreeMap::new();
    for (b, s) in spans {
        if keep(b) {
            out.entry(b).or_default().push(s);
        }
    }
    for spans in out.values_mut() {
        spans.sort_by_key(|s| (s.stage, s.worker));
    }
    out
}

fn run_info(dir: &Path, runs: &[RunLine], m: &Metrics) -> RunInfo {
    let mut info = RunInfo::default();
    let Some(first) = runs.first() else {
        // No `pipeline_runs` row: the run ended before writing it. Say what
        // the stage rows tell.
        let worked = || m.batches().filter_map(|(_, e)| e);
        let start = worked().map(|e| e.0).min().unwrap_or(0);
        let end = worked().map(|e| e.1).max().unwrap_or(0);
        let processes: HashSet<u32> = m
            .process_of
            .iter()
            .copied()
            .filter(|&p| p != u32::MAX)
            .collect();
        info.run_id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        info.dataflow = "(unknown)".into();
        info.status = "unknown".into();
        info.workers = m.max_worker + 1;
        info.processes = processes.len().max(1) as u32;
        info.batches = m.batches().count() as u64;
        info.start_us = start;
        info.end_us = end.max(start);
        info.elapsed_ms = end.saturating_sub(start) as f64 / 1e3;
        return info;
    };
    info.run_id = first.run_id.clone();
    info.dataflow = first.dataflow.clone();
    info.input = first.input.clone();
    info.args = first.args.clone();
    info.version = first.version.clone();
    info.host = first.host.clone();
    info.workers = runs.iter().map(|r| r.workers).max().unwrap_or(0);
    info.processes = runs.iter().map(|r| r.processes).max().unwrap_or(1).max(1);
    info.batch_size = runs.iter().map(|r| r.batch_size).max().unwrap_or(0);
    info.batches = runs.iter().map(|r| r.batches).max().unwrap_or(0);
    info.records_in = runs.iter().map(|r| r.records_in).sum();
    info.records_out = runs.iter().map(|r| r.records_out).sum();
    info.records_skipped = runs.iter().map(|r| r.records_skipped).sum();
    info.start_us = runs.iter().map(|r| r.start_us).min().unwrap_or(0);
    info.end_us = runs.iter().map(|r| r.end_us).max().unwrap_or(0);
    info.elapsed_ms = runs.iter().map(|r| r.elapsed_ms).fold(0.0, f64::max);
    info.process_elapsed_ms = runs.iter().map(|r| (r.process_id, r.elapsed_ms)).collect();
    info.processes_reported = runs.iter().map(|r| r.process_id).collect();
    info.processes_reported.sort_unstable();
    info.processes_reported.dedup();
    let failed = runs.iter().find(|r| r.status != "ok");
    info.status = failed.map_or("ok", |r| r.status.as_str()).to_string();
    info.error = failed.map(|r| r.error.clone()).unwrap_or_default();
    info
}

fn operators(rows: Vec<OperatorLineOwned>, workers: u32) -> Vec<Operator> {
    let mut by_id: BTreeMap<u64, Operator> = BTreeMap::new();
    for r in rows {
        let op = by_id.entry(r.operator_id).or_insert_with(|| Operator {
            id: r.operator_id,
            address: r.address.clone(),
            name: r.name.clone(),
            stage_path: r.stage_path.clone(),
            is_scope: r.is_scope,
            schedule_ns: vec![0; workers as usize],
            ..Operator::default()
        });
        let w = r.worker_id as usize;
        if op.schedule_ns.len() <= w {
            op.schedule_ns.resize(w + 1, 0);
        }
        op.schedule_ns[w] += r.schedule_ns;
        op.activations += r.activations;
        op.max_activation_ns = op.max_activation_ns.max(r.max_activation_ns);
        if op.stage_path.is_empty() && !r.stage_path.is_empty() {
            op.stage_path = r.stage_path;
        }
    }
    by_id.into_values().collect()
}

fn channels(rows: Vec<ChannelLine>) -> Vec<Channel> {
    let mut by_id: BTreeMap<u64, Channel> = BTreeMap::new();
    for r in rows {
        let ch = by_id.entry(r.channel_id).or_insert_with(|| Channel {
            id: r.channel_id,
            source: r.source_operator_id,
            source_port: r.source_port,
            target: r.target_operator_id,
            target_port: r.target_port,
            ..Channel::default()
        });
        ch.records_sent += r.records_sent;
        ch.records_received += r.records_received;
        ch.exchange |= r.records_sent != r.records_received;
        let _ = r.worker_id;
        let _ = r.messages_sent;
    }
    by_id.into_values().collect()
}

fn reductions(rows: Vec<ReductionOwned>) -> BTreeMap<String, Vec<(u32, String)>> {
    let mut out: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for ReductionOwned(stage, batch, result) in rows {
        out.entry(stage).or_default().push((batch, result));
    }
    for v in out.values_mut() {
        v.sort_by_key(|(b, _)| *b);
        v.dedup_by_key(|(b, _)| *b);
    }
    out
}

fn aggregates(rows: Vec<AggregateOwned>) -> BTreeMap<String, Vec<AggregateValue>> {
    let mut latest: BTreeMap<String, HashMap<String, AggregateValue>> = BTreeMap::new();
    for AggregateOwned(stage, v) in rows {
        let keys = latest.entry(stage).or_default();
        match keys.get_mut(&v.key) {
            Some(old) if old.batch > v.batch => {}
            Some(old) => *old = v,
            None => {
                keys.insert(v.key.clone(), v);
            }
        }
    }
    latest
        .into_iter()
        .map(|(stage, keys)| {
            let mut v: Vec<AggregateValue> = keys.into_values().collect();
            v.sort_by(|a, b| b.sum.cmp(&a.sum).then_with(|| a.key.cmp(&b.key)));
            (stage, v)
        })
        .collect()
}

fn arrangements(rows: Vec<ArrangementLine>) -> Vec<Arrangement> {
    // (operator, worker) → (latest batch, records there, most records, merges)
    let mut per: BTreeMap<(u64, u32), (u32, i64, i64, u64)> = BTreeMap::new();
    for r in rows {
        let e = per
            .entry((r.operator_id, r.worker_id))
            .or_insert((r.batch_id, r.records, r.records, r.merges));
        // Counts are running totals: the latest row holds them.
        if r.batch_id >= e.0 {
            *e = (r.batch_id, r.records, e.2, r.merges);
        }
        e.2 = e.2.max(r.records);
    }
    let mut out: BTreeMap<u64, Arrangement> = BTreeMap::new();
    for ((op, _), (_, records, peak, merges)) in per {
        let a = out.entry(op).or_insert(Arrangement {
            operator_id: op,
            ..Arrangement::default()
        });
        a.records += records;
        a.peak_records += peak;
        a.merges += merges;
    }
    out.into_values().collect()
}
