//! What the README's SQL blocks (named by the comment above each) and the Go
//! seed README's three queries must answer, held against the runs'
//! summaries and rows like the dashboard's (checks.rs).

use std::collections::{BTreeMap, BTreeSet};

use crate::checks::{
    Check, busy_ms, check_stage_counts, close, descending, max_latency, nums, round3, strings,
};
use crate::ensure;
use crate::runs::{Run, f, s, u};

pub fn readme<'a>(name: &str, run: &'a Run, all: &'a [Run]) -> Option<Check<'a>> {
    let check: Check<'a> = match name {
        "Records in / out per stage of a run, in dataflow order" => Box::new(move |t| {
            check_stage_counts(
                t,
                run,
                [
                    "stage_path",
                    "kind",
                    "records_in",
                    "records_out",
                    "out_per_in",
                ],
                None,
            )
        }),
        "Skew: busiest worker vs mean worker, per stage" => Box::new(move |t| {
            let stages = strings(t, "stage")?;
            let want: BTreeSet<&str> = run.stages.iter().map(|s| s.path.as_str()).collect();
            ensure!(
                stages.iter().map(String::as_str).collect::<BTreeSet<_>>() == want,
                "stages {stages:?}"
            );
            let busiest = nums(t, "busiest_worker_ms")?;
            for ((stage, mean), max) in stages.iter().zip(nums(t, "mean_worker_ms")?).zip(&busiest)
            {
                let per = busy_ms(run, stage);
                let want_mean = round3(per.values().sum::<f64>() / per.len() as f64);
                let want_max = round3(per.values().copied().fold(0.0, f64::max));
                ensure!(
                    close(mean, want_mean, 1e-9),
                    "{stage}: mean {mean}, rows {want_mean}"
                );
                ensure!(
                    close(*max, want_max, 1e-9),
                    "{stage}: busiest {max}, rows {want_max}"
                );
            }
            ensure!(descending(&busiest), "not busiest first");
            Ok("mean and busiest worker per stage = rows".into())
        }),
        "Batch latency percentiles" => Box::new(move |t| {
            ensure!(t.rows.len() == 1, "{} rows", t.rows.len());
            let batches = run.table("pipeline_batches").len();
            let (p50, p95, max) = (
                nums(t, "p50_ms")?[0],
                nums(t, "p95_ms")?[0],
                nums(t, "max_ms")?[0],
            );
            ensure!(
                nums(t, "batches")?[0] as usize == batches,
                "batches ≠ {batches}"
            );
            ensure!(
                close(max, max_latency(run), 1e-6),
                "max {max}, rows {}",
                max_latency(run)
            );
            ensure!(p50 <= p95 && p95 <= max, "p50 {p50} p95 {p95} max {max}");
            Ok(format!("{batches} batches, max = rows"))
        }),
        "Timely's scheduling time per operator, internal ones included" => Box::new(move |t| {
            let mut groups: BTreeMap<(String, String, String), f64> = BTreeMap::new();
            for r in run.table("pipeline_operators") {
                let key = (
                    s(r, "address").to_string(),
                    s(r, "name").to_string(),
                    s(r, "stage_path").to_string(),
                );
                *groups.entry(key).or_default() += f(r, "schedule_ns") / 1e6;
            }
            ensure!(
                t.rows.len() == groups.len().min(20),
                "{} rows",
                t.rows.len()
            );
            let ms = nums(t, "schedule_ms")?;
            ensure!(descending(&ms), "not busiest first");
            let top = groups.values().copied().fold(0.0, f64::max);
            ensure!(
                close(ms[0], round3(top), 1e-9),
                "top {} ms, rows {top}",
                ms[0]
            );
            Ok("top 20 operators, busiest = rows".into())
        }),
        "Runs, newest first" => Box::new(move |t| {
            // One row per process.
            let ids = strings(t, "run_id")?;
            let mut want = Vec::new();
            for r in all.iter().rev() {
                want.extend(std::iter::repeat_n(r.id.clone(), r.processes as usize));
            }
            ensure!(ids == want, "runs {ids:?}, newest first {want:?}");
            for r in all {
                let rows: Vec<usize> = (0..ids.len()).filter(|i| ids[*i] == r.id).collect();
                let sum = |c: &str| -> Result<u64, String> {
                    let v = nums(t, c)?;
                    Ok(rows.iter().map(|i| v[*i] as u64).sum())
                };
                ensure!(
                    sum("records_in")? == r.records_in && sum("records_out")? == r.records_out,
                    "run {}: in/out differ from the summary",
                    r.id
                );
            }
            ensure!(
                strings(t, "status")?.iter().all(|s| s == "ok"),
                "a status is not ok"
            );
            Ok(format!(
                "{} process rows, newest first, in/out = summaries",
                want.len()
            ))
        }),
        _ => return None,
    };
    Some(check)
}

/// The Go seed README's three queries, over everything loaded.
pub fn seed<'a>(name: &str, all: &'a [Run]) -> Check<'a> {
    let rows = move || all.iter().flat_map(|r| r.metrics().iter());
    match name {
        "Stage Duration" => Box::new(move |t| {
            let mut by: BTreeMap<String, (f64, u64)> = BTreeMap::new();
            for r in rows() {
                let e = by.entry(s(r, "stage_name").to_string()).or_default();
                e.0 += f(r, "duration_ms");
                e.1 += 1;
            }
            let names = strings(t, "stage_name")?;
            let avgs = nums(t, "avg_duration")?;
            ensure!(
                names.len() == by.len(),
                "{} stage names, rows have {}",
                names.len(),
                by.len()
            );
            for (n, a) in names.iter().zip(&avgs) {
                let (sum, count) = by.get(n).ok_or(format!("unknown stage {n}"))?;
                let want = sum / *count as f64;
                ensure!(close(*a, want, 1e-9), "{n}: {a}, rows {want}");
            }
            ensure!(descending(&avgs), "not slowest first");
            Ok(format!("{} stage names, avg = rows", by.len()))
        }),
        "Worker Load" => Box::new(move |t| {
            let mut by: BTreeMap<u64, u64> = BTreeMap::new();
            for r in rows() {
                *by.entry(u(r, "worker_id")).or_default() += 1;
            }
            let got: BTreeMap<u64, u64> = nums(t, "worker_id")?
                .into_iter()
                .zip(nums(t, "total_batches")?)
                .map(|(w, n)| (w as u64, n as u64))
                .collect();
            ensure!(got == by, "rows per worker {got:?}, files {by:?}");
            Ok("rows per worker = files (equal per run by construction)".into())
        }),
        "Throughput" => Box::new(move |t| {
            let got: f64 = nums(t, "total_output")?.iter().sum();
            let want: u64 = all
                .iter()
                .flat_map(|r| r.stages.iter())
                .map(|s| s.output)
                .sum();
            ensure!(
                got as u64 == want,
                "Σ {got}, every stage's output in the summaries {want}"
            );
            Ok("Σ = every stage's output (not records out)".into())
        }),
        other => panic!("no check for seed query {other}"),
    }
}
