//! Reading each table of a run directory into the [`Run`] model.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::ReportError;
use super::load::{each_line, table_files};
use super::model::{
    AggregateValue, Arrangement, Batch, Cell, Channel, DETAIL_SPANS, Operator, Run, RunInfo, Span,
    Stage, TableFiles,
};
use super::rows::{
    AggregateLine, ArrangementLine, BatchLine, ChannelLine, MetricLine, OperatorLine,
    ReductionLine, RunLine,
};

/// Metric files up to this size keep their spans while the totals are read;
/// bigger ones are read a second time, for the chosen batches only.
const ONE_PASS_BYTES: u64 = 32 << 20;

/// Reads the run directory `dir`.
pub fn run(dir: &Path) -> Result<Run, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NotADirectory(dir.to_path_buf()));
    }
    let mut run = Run {
        dir: dir.to_path_buf(),
        ..Run::default()
    };
    let (runs, t) = rows::<RunLine>(dir, "pipeline_runs")?;
    run.tables.push(t);
    let (batches, t) = rows::<BatchLine>(dir, "pipeline_batches")?;
    run.tables.push(t);
    let metric_bytes: u64 = table_files(dir, "pipeline_metrics")?
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let keep_all = metric_bytes <= ONE_PASS_BYTES;
    let (found, t) = read_metrics(dir, &|_| keep_all)?;
    run.tables.push(t);
    if runs.is_empty() && found.rows == 0 {
        return Err(ReportError::NoMetrics(dir.to_path_buf()));
    }
    run.info = run_info(dir, &runs, &found);
    let spans = fold_metrics(&mut run, found, &batches);
    if keep_all && spans.len() <= DETAIL_SPANS {
        run.spans_complete = true;
        run.spans = group(spans, &|_| true);
    } else {
        let chosen = run.choose_detail();
        let keep = |b: u32| chosen.contains(&b);
        run.spans = if keep_all {
            group(spans, &keep)
        } else {
            let (again, _) = read_metrics(dir, &keep)?;
            let by_path: HashMap<&str, u16> = run
                .stages
                .iter()
                .enumerate()
                .map(|(i, s)| (s.path.as_str(), i as u16))
                .collect();
            let local: Vec<u16> = again
                .stages
                .iter()
                .map(|s| by_path.get(s.path.as_str()).copied().unwrap_or(0))
                .collect();
            let spans = again.spans.into_iter().map(|(b, mut s)| {
                s.stage = local[s.stage as usize];
                (b, s)
            });
            group(spans.collect(), &keep)
        };
    }
    let (ops, t) = rows::<OperatorLineOwned>(dir, "pipeline_operators")?;
    run.operators = operators(ops, run.workers);
    run.tables.push(t);
    let (chs, t) = rows::<ChannelLine>(dir, "pipeline_channels")?;
    run.channels = channels(chs);
    run.tables.push(t);
    let (reds, t) = rows::<ReductionOwned>(dir, "pipeline_reductions")?;
    run.reductions = reductions(reds);
    run.tables.push(t);
    let (aggs, t) = rows::<AggregateOwned>(dir, "pipeline_aggregates")?;
    run.aggregates = aggregates(aggs);
    run.tables.push(t);
    let (arrs, t) = rows::<ArrangementLine>(dir, "pipeline_arrangements")?;
    run.arrangements = arrangements(arrs);
    run.tables.push(t);
    Ok(run)
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
fn rows<T: Row>(dir: &Path, table: &'static str) -> Result<(Vec<T>, TableFiles), ReportError> {
    let files = table_files(dir, table)?;
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

/// `pipeline_metrics` folded as it is read: totals per stage × worker, the
/// extent of each batch, and (for the batches `keep` accepts) the spans.
#[derive(Default)]
struct Metrics {
    index: HashMap<String, u16>,
    stages: Vec<Stage>,
    cells: HashMap<(u16, u32), Cell>,
    /// batch → (first start, last end) of rows that did work.
    extents: HashMap<u32, (u64, u64)>,
    process_of: HashMap<u32, u32>,
    max_worker: u32,
    rows: u64,
    unreadable: u64,
    spans: Vec<(u32, Span)>,
}

impl Metrics {
    fn add(&mut self, m: MetricLine, keep: &dyn Fn(u32) -> bool) {
        self.rows += 1;
        let stage = match self.index.get(m.stage_path.as_ref()) {
            Some(&i) => i,
            None => {
                let i = self.stages.len() as u16;
                self.index.insert(m.stage_path.to_string(), i);
                self.stages.push(Stage {
                    path: m.stage_path.to_string(),
                    kind: m.stage_kind.to_string(),
                    operator_id: m.operator_id,
                    input: 0,
                    output: 0,
                    busy_ns: 0,
                });
                i
            }
        };
        let cell = self.cells.entry((stage, m.worker_id)).or_default();
        cell.busy_ns += m.busy_ns;
        cell.input += m.input_count;
        cell.output += m.output_count;
        self.max_worker = self.max_worker.max(m.worker_id);
        self.process_of.insert(m.worker_id, m.process_id);
        let extent = self.extents.entry(m.batch_id).or_insert((u64::MAX, 0));
        // A stage that saw nothing of a batch has a row with zeros whose
        // times are only when it was written: it did no work.
        let worked = m.input_count > 0 || m.busy_ns > 0;
        if worked && m.start_us > 0 {
            extent.0 = extent.0.min(m.start_us);
            extent.1 = extent.1.max(m.end_us);
            if keep(m.batch_id) {
                self.spans.push((
                    m.batch_id,
                    Span {
                        stage,
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
        let local: Vec<u16> = other
            .stages
            .iter()
            .map(|s| match self.index.get(&s.path) {
                Some(&i) => {
                    let mine = &mut self.stages[i as usize];
                    mine.operator_id = mine.operator_id.min(s.operator_id);
                    i
                }
                None => {
                    let i = self.stages.len() as u16;
                    self.index.insert(s.path.clone(), i);
                    self.stages.push(s.clone());
                    i
                }
            })
            .collect();
        for ((s, w), c) in other.cells {
            let mine = self.cells.entry((local[s as usize], w)).or_default();
            mine.busy_ns += c.busy_ns;
            mine.input += c.input;
            mine.output += c.output;
        }
        for (b, (start, end)) in other.extents {
            let e = self.extents.entry(b).or_insert((u64::MAX, 0));
            e.0 = e.0.min(start);
            e.1 = e.1.max(end);
        }
        self.process_of.extend(other.process_of);
        self.max_worker = self.max_worker.max(other.max_worker);
        self.rows += other.rows;
        self.unreadable += other.unreadable;
        self.spans.extend(other.spans.into_iter().map(|(b, mut s)| {
            s.stage = local[s.stage as usize];
            (b, s)
        }));
    }
}

fn read_metrics(
    dir: &Path,
    keep: &(dyn Fn(u32) -> bool + Sync),
) -> Result<(Metrics, TableFiles), ReportError> {
    let files = table_files(dir, "pipeline_metrics")?;
    let mut all = Metrics::default();
    for file in &files {
        let parts =
            each_line(
                file,
                Metrics::default,
                |acc: &mut Metrics, line| match serde_json::from_slice::<MetricLine>(line) {
                    Ok(m) => acc.add(m, keep),
                    Err(_) => acc.unreadable += 1,
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
    run.process_of = (0..workers)
        .map(|w| m.process_of.get(&w).copied().unwrap_or(0))
        .collect();
    run.stages = order.iter().map(|&i| m.stages[i].clone()).collect();
    run.cells = vec![Cell::default(); run.stages.len() * workers as usize];
    for (&(s, w), c) in &m.cells {
        let s = renumber[s as usize] as usize;
        run.cells[s * workers as usize + w as usize] = *c;
        let st = &mut run.stages[s];
        st.input += c.input;
        st.output += c.output;
        st.busy_ns += c.busy_ns;
    }
    let mut batches: BTreeMap<u32, Batch> = BTreeMap::new();
    for b in batch_rows {
        batches.entry(b.batch_id).or_insert(Batch {
            id: b.batch_id,
            records: b.records_in,
            entered_us: b.entered_us,
            completed_us: b.completed_us,
            latency_ms: Some(b.latency_ms),
            ..Batch::default()
        });
    }
    for (&id, &(start, end)) in &m.extents {
        let b = batches.entry(id).or_insert(Batch {
            id,
            ..Batch::default()
        });
        if start != u64::MAX {
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
        let start = m.extents.values().map(|e| e.0).min().unwrap_or(0);
        let end = m.extents.values().map(|e| e.1).max().unwrap_or(0);
        let processes: HashSet<u32> = m.process_of.values().copied().collect();
        info.run_id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        info.dataflow = "(unknown)".into();
        info.status = "unknown".into();
        info.workers = m.max_worker + 1;
        info.processes = processes.len().max(1) as u32;
        info.batches = m.extents.len() as u64;
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
