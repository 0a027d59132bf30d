//! What each shipped statement must answer, in numbers, held against the
//! runs' summaries (the binary's own counters) and the metric rows the runs
//! wrote (the files the engines loaded, summed here in Rust).
//!
//! A check returns a short note of what it verified, or what is wrong.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::engines::{Table, is_numeric};
use crate::runs::{Run, f, s, u};

pub type Check<'a> = Box<dyn Fn(&Table) -> Result<String, String> + 'a>;

#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(format!($($msg)*));
        }
    };
}

pub(crate) fn col(t: &Table, name: &str) -> Result<usize, String> {
    t.names
        .iter()
        .position(|n| n == name)
        .ok_or_else(|| format!("no column {name:?} in {:?}", t.names))
}

pub(crate) fn num(t: &Table, row: usize, c: usize) -> Result<f64, String> {
    let cell = &t.rows[row][c];
    cell.parse()
        .map_err(|_| format!("{} = {cell:?} is not a number", t.names[c]))
}

pub(crate) fn nums(t: &Table, name: &str) -> Result<Vec<f64>, String> {
    let c = col(t, name)?;
    (0..t.rows.len()).map(|r| num(t, r, c)).collect()
}

pub(crate) fn strings(t: &Table, name: &str) -> Result<Vec<String>, String> {
    let c = col(t, name)?;
    Ok(t.rows.iter().map(|r| r[c].clone()).collect())
}

/// Equal within `abs` (rounding of the SQL's `round(x, 3)` and the like) plus
/// a relative 1e-9 (float sums in another order).
pub(crate) fn close(a: f64, b: f64, abs: f64) -> bool {
    (a - b).abs() <= abs + 1e-9 * a.abs().max(b.abs())
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(crate) fn descending(v: &[f64]) -> bool {
    v.windows(2).all(|w| w[0] >= w[1])
}

// ---------------------------------------------------------------------------
// References from a run's rows.
// ---------------------------------------------------------------------------

/// Per stage path: (Σ duration_ms, count) over the (batch, worker) rows that saw records.
fn busy_batches(run: &Run) -> BTreeMap<String, (f64, u64)> {
    let mut by: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for r in run.metrics() {
        let e = by.entry(s(r, "stage_path").to_string()).or_default();
        if u(r, "input_count") + u(r, "output_count") > 0 {
            e.0 += f(r, "duration_ms");
            e.1 += 1;
        }
    }
    by
}

/// Per stage path: busy ms per worker (every worker of the run, 0 when absent).
pub(crate) fn busy_ms(run: &Run, path: &str) -> BTreeMap<u64, f64> {
    run.per_worker(&run.stage_rows(path), "busy_ns")
        .into_iter()
        .map(|(w, ns)| (w, ns / 1e6))
        .collect()
}

fn batches_of(rows: &[&Json]) -> usize {
    rows.iter()
        .map(|r| u(r, "batch_id"))
        .collect::<BTreeSet<_>>()
        .len()
}

pub(crate) fn max_latency(run: &Run) -> f64 {
    run.table("pipeline_batches")
        .iter()
        .map(|r| f(r, "latency_ms"))
        .fold(f64::MIN, f64::max)
}

/// The run's stage table as `(path, in, out)`.
fn summary_stages(run: &Run) -> Vec<(String, u64, u64)> {
    run.stages
        .iter()
        .map(|s| (s.path.clone(), s.input, s.output))
        .collect()
}

/// The run's stages in its Records in/out shape: path, kind, in, out, out/in.
pub(crate) fn check_stage_counts(
    t: &Table,
    run: &Run,
    names: [&str; 5],
    batches: Option<&str>,
) -> Result<String, String> {
    let [path, kind, input, output, ratio] = names;
    let got: Vec<(String, u64, u64)> = strings(t, path)?
        .into_iter()
        .zip(nums(t, input)?)
        .zip(nums(t, output)?)
        .map(|((p, i), o)| (p, i as u64, o as u64))
        .collect();
    ensure!(
        got == summary_stages(run),
        "stages (path, in, out) {got:?}, the summary says {:?}",
        summary_stages(run)
    );
    let kinds = strings(t, kind)?;
    for (stage, k) in run.stages.iter().zip(&kinds) {
        ensure!(
            &stage.kind == k,
            "{}: kind {k}, summary {}",
            stage.path,
            stage.kind
        );
    }
    for (stage, r) in run.stages.iter().zip(nums(t, ratio)?) {
        let want = if stage.input == 0 {
            0.0
        } else {
            round3(stage.output as f64 / stage.input as f64)
        };
        ensure!(
            close(r, want, 1e-9),
            "{}: out per in {r}, want {want}",
            stage.path
        );
    }
    if let Some(batches) = batches {
        for (stage, b) in run.stages.iter().zip(nums(t, batches)?) {
            let want = batches_of(&run.stage_rows(&stage.path));
            ensure!(
                b as usize == want,
                "{}: {b} batches, rows have {want}",
                stage.path
            );
        }
    }
    Ok(format!(
        "{} stages' in/out = summary, in dataflow order",
        run.stages.len()
    ))
}

// ---------------------------------------------------------------------------
// Dashboard panels.
// ---------------------------------------------------------------------------

/// The shape a panel's visualisation needs (column types, no NaN/inf,
/// overrides naming real columns).
pub fn panel_shape(panel: &Json, t: &Table) -> Result<(), String> {
    let kind = panel["type"].as_str().unwrap_or("?");
    ensure!(!t.rows.is_empty(), "no rows");
    let numeric: Vec<bool> = t.types.iter().map(|ty| is_numeric(ty)).collect();
    match kind {
        "timeseries" => {
            ensure!(
                t.types[0].starts_with("DateTime"),
                "first column {} is {}, not DateTime",
                t.names[0],
                t.types[0]
            );
            ensure!(
                numeric[1..].iter().all(|n| *n) && numeric.len() > 1,
                "series need numeric columns after the time: {:?}",
                t.types
            );
        }
        "barchart" => {
            ensure!(
                t.types[0] == "String",
                "the x axis is {}, not String",
                t.types[0]
            );
            ensure!(
                t.types.len() >= 2 && numeric[1..].iter().all(|n| *n),
                "bars need numeric columns after the label: {:?}",
                t.types
            );
        }
        "stat" => ensure!(
            numeric.iter().all(|n| *n),
            "stat values must all be numeric: {:?}",
            t.types
        ),
        "table" => {}
        other => return Err(format!("add a shape check for panel type {other}")),
    }
    for row in &t.rows {
        ensure!(row.len() == t.names.len(), "ragged row {row:?}");
        for (cell, is_num) in row.iter().zip(&numeric) {
            ensure!(
                !(*is_num && ["nan", "-nan", "inf", "-inf"].contains(&cell.as_str())),
                "{cell} in {row:?}: an aggregate over nothing"
            );
        }
    }
    for o in panel["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if o["matcher"]["id"] == "byName" {
            let name = o["matcher"]["options"].as_str().unwrap_or("");
            ensure!(
                t.names.iter().any(|n| n == name),
                "override for {name:?}, columns {:?}",
                t.names
            );
        }
    }
    Ok(())
}

/// The numbers a panel must show for `run` (selected in the variables),
/// `all` being every run loaded, newest last.
pub fn panel<'a>(title: &str, run: &'a Run, all: &'a [Run]) -> Option<Check<'a>> {
    let check: Check<'a> = match title {
        "Run summary" => Box::new(move |t| {
            ensure!(t.rows.len() == 1, "{} rows", t.rows.len());
            let wall = run
                .table("pipeline_runs")
                .iter()
                .map(|r| f(r, "elapsed_ms"))
                .fold(0.0, f64::max);
            let (got_wall, got_in, got_out, rate) = (
                nums(t, "wall_ms")?[0],
                nums(t, "input_records")?[0],
                nums(t, "output_records")?[0],
                nums(t, "records_per_s")?[0],
            );
            ensure!(
                close(got_wall, wall, 1e-6),
                "wall {got_wall} ms, rows say {wall}"
            );
            ensure!(
                got_in as u64 == run.records_in && got_out as u64 == run.records_out,
                "in/out {got_in}/{got_out}, summary {}/{}",
                run.records_in,
                run.records_out
            );
            let want = (run.records_in as f64 * 1000.0 / wall.max(0.001)).round();
            ensure!(close(rate, want, 1.0), "{rate} records/s, want {want}");
            Ok("records in/out = summary; wall, rate = rows".into())
        }),
        "Batch latency p50 / p95 / max" => Box::new(move |t| {
            ensure!(t.rows.len() == 1, "{} rows", t.rows.len());
            let batches = run.table("pipeline_batches").len();
            let (p50, p95, max, count) = (
                nums(t, "p50_ms")?[0],
                nums(t, "p95_ms")?[0],
                nums(t, "max_ms")?[0],
                nums(t, "batch_count")?[0],
            );
            ensure!(
                count as usize == batches,
                "{count} batches, rows have {batches}"
            );
            ensure!(
                close(max, max_latency(run), 1e-6),
                "max {max}, rows {}",
                max_latency(run)
            );
            ensure!(p50 <= p95 && p95 <= max, "p50 {p50} p95 {p95} max {max}");
            Ok(format!("{batches} batches, max = rows, p50 ≤ p95 ≤ max"))
        }),
        "Stage Duration" => Box::new(move |t| {
            let stages = strings(t, "stage")?;
            let values = nums(t, "avg_duration_ms")?;
            let want: BTreeSet<&str> = run.stages.iter().map(|s| s.path.as_str()).collect();
            let got: BTreeSet<&str> = stages.iter().map(String::as_str).collect();
            ensure!(got == want, "stages {got:?}, summary {want:?}");
            let reference = busy_batches(run);
            for (stage, v) in stages.iter().zip(&values) {
                let (sum, n) = reference[stage];
                let want = sum / n.max(1) as f64;
                ensure!(close(*v, want, 1e-9), "{stage}: {v} ms, rows say {want}");
            }
            ensure!(descending(&values), "not slowest first: {values:?}");
            Ok("mean busy ms per busy (batch, worker) = rows".into())
        }),
        "Worker Load" => Box::new(move |t| {
            let workers = strings(t, "worker")?;
            let records = nums(t, "records")?;
            let first = run.first_operator();
            let rows: Vec<&Json> = run
                .metrics()
                .iter()
                .filter(|r| u(r, "operator_id") == first)
                .collect();
            let want = run.per_worker(&rows, "input_count");
            let got: BTreeMap<u64, f64> = workers
                .iter()
                .map(|w| w.parse().unwrap_or(u64::MAX))
                .zip(records.iter().copied())
                .collect();
            ensure!(
                got == want,
                "records per worker {got:?}, first stage's rows {want:?}"
            );
            let total: f64 = records.iter().sum();
            ensure!(
                total as u64 == run.records_in,
                "workers' records add up to {total}, the run read {}",
                run.records_in
            );
            Ok(format!(
                "{} workers' records = first stage's input, Σ = records in",
                run.workers
            ))
        }),
        "Throughput" => Box::new(move |t| {
            let of_dataflow: Vec<&Run> =
                all.iter().filter(|r| r.dataflow == run.dataflow).collect();
            let want: u64 = of_dataflow.iter().map(|r| r.records_out).sum();
            let got: f64 = (0..t.rows.len())
                .map(|r| num(t, r, 1))
                .collect::<Result<Vec<_>, _>>()?
                .iter()
                .sum();
            ensure!(
                got as u64 == want,
                "{} over time adds up to {got}; the dataflow's {} runs put out {want} records",
                t.names[1],
                of_dataflow.len()
            );
            let times = strings(t, &t.names[0])?;
            ensure!(
                times.windows(2).all(|w| w[0] < w[1]),
                "time not ascending: {times:?}"
            );
            Ok(format!(
                "Σ over time = records out of the dataflow's {} runs",
                of_dataflow.len()
            ))
        }),
        "Records in / out per stage" => Box::new(move |t| {
            check_stage_counts(
                t,
                run,
                ["stage", "kind", "records_in", "records_out", "out_per_in"],
                Some("batches"),
            )
        }),
        "Busy time per stage: mean worker vs busiest worker" => Box::new(move |t| {
            let stages = strings(t, "stage")?;
            let paths: Vec<&str> = run.stages.iter().map(|s| s.path.as_str()).collect();
            ensure!(
                stages == paths,
                "stages {stages:?}, in dataflow order {paths:?}"
            );
            for ((stage, mean), max) in stages
                .iter()
                .zip(nums(t, "mean_worker_busy_ms")?)
                .zip(nums(t, "max_worker_busy_ms")?)
            {
                let per = busy_ms(run, stage);
                let want_mean = round3(per.values().sum::<f64>() / run.workers as f64);
                let want_max = round3(per.values().copied().fold(0.0, f64::max));
                ensure!(
                    close(mean, want_mean, 1e-9),
                    "{stage}: mean {mean}, rows {want_mean}"
                );
                ensure!(
                    close(max, want_max, 1e-9),
                    "{stage}: max {max}, rows {want_max}"
                );
            }
            Ok(format!("mean over {} workers and max = rows", run.workers))
        }),
        "Busy time per worker × stage" => Box::new(move |t| {
            ensure!(
                t.rows.len() as u64 == run.stages.len() as u64 * run.workers,
                "{} rows for {} stages × {} workers",
                t.rows.len(),
                run.stages.len(),
                run.workers
            );
            let (stages, workers) = (strings(t, "stage")?, nums(t, "worker")?);
            let (busy, share) = (nums(t, "busy_time_ms")?, nums(t, "share_pct")?);
            let (records, batches) = (nums(t, "records_in")?, nums(t, "batches")?);
            let mut expected_order = Vec::new();
            for stage in &run.stages {
                for w in 0..run.workers {
                    expected_order.push((stage.path.clone(), w));
                }
            }
            let order: Vec<(String, u64)> = stages
                .iter()
                .cloned()
                .zip(workers.iter().map(|w| *w as u64))
                .collect();
            ensure!(
                order == expected_order,
                "rows not in (stage, worker) order: {order:?}"
            );
            for (i, (stage, w)) in order.iter().enumerate() {
                let per = busy_ms(run, stage);
                let total: f64 = per.values().sum();
                ensure!(
                    close(busy[i], round3(per[w]), 1e-9),
                    "{stage}/{w}: busy {}, rows {}",
                    busy[i],
                    per[w]
                );
                let want_share = (1000.0 * per[w] / total.max(1e-6)).round() / 10.0;
                ensure!(
                    close(share[i], want_share, 0.1 + 1e-9),
                    "{stage}/{w}: share {}%, rows {want_share}%",
                    share[i]
                );
                let rows: Vec<&Json> = run
                    .stage_rows(stage)
                    .into_iter()
                    .filter(|r| u(r, "worker_id") == *w)
                    .collect();
                let want_in: u64 = rows.iter().map(|r| u(r, "input_count")).sum();
                ensure!(
                    records[i] as u64 == want_in,
                    "{stage}/{w}: {} in, rows {want_in}",
                    records[i]
                );
                ensure!(
                    batches[i] as usize == batches_of(&rows),
                    "{stage}/{w}: {} batches, rows {}",
                    batches[i],
                    batches_of(&rows)
                );
            }
            for stage in &run.stages {
                let idx: Vec<usize> = (0..order.len())
                    .filter(|i| order[*i].0 == stage.path)
                    .collect();
                let records_in: f64 = idx.iter().map(|i| records[*i]).sum();
                ensure!(
                    records_in as u64 == stage.input,
                    "{}: workers' records add up to {records_in}, summary {}",
                    stage.path,
                    stage.input
                );
                let shares: f64 = idx.iter().map(|i| share[*i]).sum();
                let busy_total: f64 = idx.iter().map(|i| busy[*i]).sum();
                ensure!(
                    busy_total == 0.0 || close(shares, 100.0, 0.05 * idx.len() as f64),
                    "{}: shares add up to {shares}%",
                    stage.path
                );
            }
            Ok(
                "busy, share, records, batches per (stage, worker) = rows; Σ records = summary"
                    .into(),
            )
        }),
        "Timely scheduling time per operator" => Box::new(move |t| {
            let mut groups: BTreeMap<(String, String, String, u64), f64> = BTreeMap::new();
            for r in run.table("pipeline_operators") {
                let key = (
                    s(r, "address").to_string(),
                    s(r, "name").to_string(),
                    s(r, "stage_path").to_string(),
                    u(r, "is_scope"),
                );
                *groups.entry(key).or_default() += f(r, "schedule_ns") / 1e6;
            }
            ensure!(
                t.rows.len() == groups.len().min(200),
                "{} rows, the run has {} operators",
                t.rows.len(),
                groups.len()
            );
            let totals = nums(t, "total_schedule_ms")?;
            ensure!(descending(&totals), "not busiest first: {totals:?}");
            let want: f64 = groups.values().sum();
            let got: f64 = totals.iter().sum();
            ensure!(
                close(got, want, 0.0005 * totals.len() as f64),
                "Σ scheduling {got} ms, rows {want} ms"
            );
            let stages: BTreeSet<String> = strings(t, "stage")?.into_iter().collect();
            for stage in &run.stages {
                ensure!(stages.contains(&stage.path), "stage {} missing", stage.path);
            }
            ensure!(stages.contains("(internal)"), "no timely-internal operator");
            Ok(format!(
                "{} operators, Σ scheduling = rows, every stage listed",
                groups.len()
            ))
        }),
        "Runs" => Box::new(move |t| {
            let ids = strings(t, "run_id")?;
            let want: Vec<String> = all.iter().rev().map(|r| r.id.clone()).collect();
            ensure!(ids == want, "runs {ids:?}, newest first should be {want:?}");
            let (ins, outs) = (nums(t, "input_records")?, nums(t, "output_records")?);
            let (workers, processes) = (nums(t, "worker_count")?, nums(t, "process_count")?);
            let outcome = strings(t, "outcome")?;
            for (i, r) in all.iter().rev().enumerate() {
                ensure!(
                    ins[i] as u64 == r.records_in && outs[i] as u64 == r.records_out,
                    "run {}: in/out {}/{}, summary {}/{}",
                    r.id,
                    ins[i],
                    outs[i],
                    r.records_in,
                    r.records_out
                );
                ensure!(
                    workers[i] as u64 == r.workers && processes[i] as u64 == r.processes,
                    "run {}: {} workers in {} processes, summary {} in {}",
                    r.id,
                    workers[i],
                    processes[i],
                    r.workers,
                    r.processes
                );
                ensure!(outcome[i] == "ok", "run {}: outcome {}", r.id, outcome[i]);
            }
            Ok(format!(
                "all {} runs, newest first, in/out/workers = summaries",
                all.len()
            ))
        }),
        "Slowest batches" => Box::new(move |t| {
            let roots = slowest_roots(run);
            ensure!(!roots.is_empty(), "the run wrote no root spans");
            let want = roots.len().min(20);
            ensure!(t.rows.len() == want, "{} rows, want {want}", t.rows.len());
            let (batch, latency, records, trace) = (
                nums(t, "batch_id")?,
                nums(t, "latency_ms")?,
                nums(t, "batch_records")?,
                strings(t, "trace_id")?,
            );
            for (i, root) in roots.iter().take(want).enumerate() {
                let b = u(root, "batch_id");
                // The root span is the batch as pipeline_batches has it.
                let row = run
                    .table("pipeline_batches")
                    .iter()
                    .find(|r| u(r, "batch_id") == b)
                    .ok_or_else(|| {
                        format!("batch {b} has a root span but no pipeline_batches row")
                    })?;
                let ms = (u(row, "completed_us") - u(row, "entered_us")) as f64 / 1000.0;
                ensure!(
                    batch[i] as u64 == b && close(latency[i], ms, 1e-6),
                    "row {i}: batch {} {} ms, want batch {b} {ms} ms (pipeline_batches)",
                    batch[i],
                    latency[i]
                );
                ensure!(
                    records[i] as u64 == u(row, "records_in") && trace[i] == s(root, "trace_id"),
                    "row {i}: records {} trace {}, want {} {}",
                    records[i],
                    trace[i],
                    u(row, "records_in"),
                    s(root, "trace_id")
                );
            }
            Ok(format!("{want} slowest batches = pipeline_batches latency"))
        }),
        _ => return None,
    };
    Some(check)
}

/// The run's root spans (one per traced batch), slowest first.
pub fn slowest_roots(run: &Run) -> Vec<&Json> {
    let mut roots: Vec<&Json> = run
        .table("pipeline_spans")
        .iter()
        .filter(|r| s(r, "parent_span_id").is_empty())
        .collect();
    roots.sort_by_key(|r| (std::cmp::Reverse(u(r, "duration_us")), u(r, "batch_id")));
    roots
}

/// The trace query of the slowest batch: its root and one span per stage
/// row of that batch, each with pipeline_metrics' numbers.
pub fn trace<'a>(run: &'a Run) -> Check<'a> {
    Box::new(move |t| {
        let root = slowest_roots(run)[0];
        let batch = u(root, "batch_id");
        let trace_id = s(root, "trace_id");
        let (ids, parents, ops) = (
            strings(t, "spanID")?,
            strings(t, "parentSpanID")?,
            strings(t, "operationName")?,
        );
        let (starts, durations, tags) = (
            nums(t, "startTime")?,
            nums(t, "duration")?,
            strings(t, "tags")?,
        );
        ensure!(
            strings(t, "traceID")?.iter().all(|id| id == trace_id),
            "spans of another trace"
        );
        let root_row = parents
            .iter()
            .position(String::is_empty)
            .ok_or("no root span")?;
        ensure!(
            ids[root_row] == s(root, "span_id")
                && close(
                    durations[root_row],
                    u(root, "duration_us") as f64 / 1000.0,
                    1e-6
                ),
            "the root span differs from the file's"
        );
        let children = t.rows.len() - 1;
        ensure!(children > 0, "batch {batch}'s trace has no stage spans");
        let in_file = run
            .table("pipeline_spans")
            .iter()
            .filter(|r| s(r, "trace_id") == trace_id)
            .count();
        ensure!(
            t.rows.len() == in_file,
            "{} spans, the files hold {in_file}",
            t.rows.len()
        );
        for i in (0..t.rows.len()).filter(|&i| i != root_row) {
            ensure!(
                parents[i] == ids[root_row],
                "span {i} is not under the root"
            );
            let tags: Json = serde_json::from_str(&tags[i])
                .map_err(|e| format!("tags {:?} are not JSON: {e}", tags[i]))?;
            let tag = |k: &str| -> Result<u64, String> {
                tags.as_array()
                    .and_then(|a| a.iter().find(|kv| kv["key"] == k))
                    .and_then(|kv| kv["value"].as_str())
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("no tag {k} in {tags}"))
            };
            let worker = tag("worker")?;
            let row = run
                .metrics()
                .iter()
                .find(|r| {
                    u(r, "batch_id") == batch
                        && s(r, "stage_path") == ops[i]
                        && u(r, "worker_id") == worker
                })
                .ok_or_else(|| format!("no pipeline_metrics row for {} worker {worker}", ops[i]))?;
            let (start, end) = (u(row, "start_us") as f64, u(row, "end_us") as f64);
            ensure!(
                close(starts[i], start / 1000.0, 1e-6)
                    && close(durations[i], (end - start) / 1000.0, 1e-6),
                "{} worker {worker}: start {} duration {}, pipeline_metrics {} {}",
                ops[i],
                starts[i],
                durations[i],
                start / 1000.0,
                (end - start) / 1000.0
            );
            ensure!(
                tag("records_in")? == u(row, "input_count")
                    && tag("records_out")? == u(row, "output_count")
                    && tag("process")? == u(row, "process_id"),
                "{} worker {worker}: tags {tags}, pipeline_metrics {row}",
                ops[i]
            );
        }
        Ok(format!(
            "batch {batch}: root + {children} stage spans = pipeline_metrics"
        ))
    })
}

// ---------------------------------------------------------------------------
// Template variables.
// ---------------------------------------------------------------------------

/// `dataflow`: every dataflow, most recently run first.
pub fn dataflow_variable(all: &[Run]) -> Check<'_> {
    Box::new(move |t| {
        ensure!(t.types[0] == "String", "values are {}", t.types[0]);
        let got: Vec<String> = t.rows.iter().map(|r| r[0].clone()).collect();
        let mut want: Vec<String> = Vec::new();
        for r in all.iter().rev() {
            if !want.contains(&r.dataflow) {
                want.push(r.dataflow.clone());
            }
        }
        ensure!(got == want, "dataflows {got:?}, most recent first {want:?}");
        Ok(format!("{want:?}: the default is the latest run's"))
    })
}

/// `run_id` for `dataflow`: its runs, newest first, labelled with their status.
pub fn run_variable<'a>(dataflow: &'a str, all: &'a [Run]) -> Check<'a> {
    Box::new(move |t| {
        ensure!(t.types[0] == "String", "values are {}", t.types[0]);
        let got: Vec<String> = t.rows.iter().map(|r| r[0].clone()).collect();
        let want: Vec<String> = all
            .iter()
            .rev()
            .filter(|r| r.dataflow == dataflow)
            .map(|r| r.id.clone())
            .collect();
        ensure!(got == want, "runs {got:?}, newest first {want:?}");
        for row in &t.rows {
            ensure!(
                row.len() == 2 && row[1].contains(&row[0]) && row[1].contains("ok"),
                "label {row:?} names the run and its status"
            );
        }
        Ok(format!("{dataflow}: its {} runs, newest first", want.len()))
    })
}
