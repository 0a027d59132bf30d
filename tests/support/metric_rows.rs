//! How many metric rows a run makes: README's formula ("How much metrics
//! data a run makes"), table by table, held against a run's files.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::cli::read_ndjson;

/// The constants of a dataflow's graph the formula needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Stages (S): one `pipeline_metrics` row per stage, batch and worker.
    pub stages: u64,
    /// Timely operators per worker (O), timely's own included.
    pub operators: u64,
    /// Timely channels per worker (C).
    pub channels: u64,
    /// `reduce` stages (R): one `pipeline_reductions` row per batch each.
    pub reduces: u64,
    /// `aggregate_by_key` stages; each keeps one arrangement per worker.
    pub aggregates: u64,
}

/// README's table of shapes; `--output` adds a collect stage, its operator
/// and its channel.
pub fn shape(dataflow: &str, output: bool) -> Shape {
    let s = match dataflow {
        "mable_event" | "int" | "test_struct" => Shape {
            stages: 5,
            operators: 12,
            channels: 9,
            reduces: 1,
            aggregates: 0,
        },
        "conversions" => Shape {
            stages: 14,
            operators: 32,
            channels: 31,
            reduces: 0,
            aggregates: 3,
        },
        other => panic!("no shape for dataflow {other}: add it here and to README"),
    };
    let o = u64::from(output);
    Shape {
        stages: s.stages + o,
        operators: s.operators + o,
        channels: s.channels + o,
        ..s
    }
}

/// A run's rows per table, from the metric files of all its processes
/// (`metrics/<run_id>/<table>[.p<i>].ndjson` in each process's directory).
#[derive(Debug, Default)]
pub struct RunFiles {
    pub rows: BTreeMap<String, Vec<Value>>,
    pub bytes: BTreeMap<String, u64>,
}

impl RunFiles {
    /// Reads every `*.ndjson` of every run directory under each `metrics`
    /// directory given (one run expected in all of them).
    pub fn read(metrics_dirs: &[PathBuf]) -> RunFiles {
        let mut files = RunFiles::default();
        let mut runs = BTreeSet::new();
        for dir in metrics_dirs {
            for run in std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
                .flatten()
                .filter(|e| e.path().is_dir() && e.file_name() != "spool")
            {
                runs.insert(run.file_name());
                for file in std::fs::read_dir(run.path()).unwrap().flatten() {
                    let name = file.file_name().to_string_lossy().to_string();
                    let Some(table) = name.strip_suffix(".ndjson") else {
                        continue;
                    };
                    let table = table.split('.').next().unwrap().to_string();
                    *files.bytes.entry(table.clone()).or_default() +=
                        file.metadata().unwrap().len();
                    files
                        .rows
                        .entry(table)
                        .or_default()
                        .extend(read_ndjson(&file.path()));
                }
            }
        }
        assert_eq!(
            runs.len(),
            1,
            "one run expected in {metrics_dirs:?}: {runs:?}"
        );
        files
    }

    pub fn count(&self, table: &str) -> u64 {
        self.rows.get(table).map_or(0, |r| r.len() as u64)
    }

    pub fn table(&self, table: &str) -> &[Value] {
        self.rows.get(table).map_or(&[], |r| r.as_slice())
    }

    /// Per stage: (sum of input_count, sum of output_count) over every row.
    pub fn stage_totals(&self) -> BTreeMap<String, (u64, u64)> {
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for r in self.table("pipeline_metrics") {
            let e = out
                .entry(r["stage_path"].as_str().unwrap().to_string())
                .or_default();
            e.0 += r["input_count"].as_u64().unwrap();
            e.1 += r["output_count"].as_u64().unwrap();
        }
        out
    }
}

/// What a run was: its batches (B), workers over all processes (W) and
/// processes (P), and whether every worker read a share of every batch
/// (generated records and templates do; from a file, a worker whose byte
/// range runs out early feeds fewer batches).
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    pub batches: u64,
    pub workers: u64,
    pub processes: u64,
    pub every_worker_every_batch: bool,
}

/// Checks every table of `files` against the formula; returns one line per
/// table that disagrees.
pub fn check(dataflow: &str, output: bool, run: RunShape, files: &RunFiles) -> Vec<String> {
    let s = shape(dataflow, output);
    let RunShape {
        batches: b,
        workers: w,
        processes: p,
        every_worker_every_batch,
    } = run;
    let mut bad = Vec::new();
    let exact = |bad: &mut Vec<String>, table: &str, want: u64, formula: &str| {
        let got = files.count(table);
        if got != want {
            bad.push(format!("{table}: {got} rows, formula {formula} = {want}"));
        }
    };
    exact(&mut bad, "pipeline_batches", b, "B");
    exact(&mut bad, "pipeline_reductions", b * s.reduces, "B × R");
    exact(&mut bad, "pipeline_operators", s.operators * w, "O × W");
    exact(&mut bad, "pipeline_channels", s.channels * w, "C × W");
    exact(&mut bad, "pipeline_runs", p, "P");
    let metrics = files.count("pipeline_metrics");
    if every_worker_every_batch {
        exact(&mut bad, "pipeline_metrics", b * s.stages * w, "B × S × W");
    } else {
        // Each stage has a row for every batch its worker fed (the first
        // stage's batches on that worker), and never more than B × S × W.
        let mut fed: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        let first = files
            .table("pipeline_metrics")
            .iter()
            .map(|r| r["operator_id"].as_u64().unwrap())
            .min();
        for r in files.table("pipeline_metrics") {
            if Some(r["operator_id"].as_u64().unwrap()) == first {
                fed.entry(r["worker_id"].as_u64().unwrap())
                    .or_default()
                    .insert(r["batch_id"].as_u64().unwrap());
            }
        }
        let floor: u64 = fed.values().map(|f| f.len() as u64).sum::<u64>() * s.stages;
        if metrics < floor || metrics > b * s.stages * w {
            bad.push(format!(
                "pipeline_metrics: {metrics} rows, formula S × Σ(batches each worker fed) = {floor} \
                 ≤ rows ≤ B × S × W = {}",
                b * s.stages * w
            ));
        }
    }
    // Arrangements: a row per arrangement and worker after each batch in
    // which it changed, plus the final one.
    let arrangements = files.count("pipeline_arrangements");
    let most = s.aggregates * w * (b + 1);
    if arrangements > most || (s.aggregates > 0) != (arrangements > 0) {
        bad.push(format!(
            "pipeline_arrangements: {arrangements} rows, formula: 1 ≤ rows ≤ A × W × (B + 1) = {most}"
        ));
    }
    // Aggregates: a row per key and batch in which the key changed.
    let mut keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in files.table("pipeline_aggregates") {
        keys.entry(r["stage_path"].as_str().unwrap())
            .or_default()
            .insert(r["key"].as_str().unwrap());
    }
    let distinct: u64 = keys.values().map(|k| k.len() as u64).sum();
    let aggregates = files.count("pipeline_aggregates");
    if keys.len() as u64 != s.aggregates || aggregates < distinct || aggregates > distinct * b {
        bad.push(format!(
            "pipeline_aggregates: {aggregates} rows for {distinct} keys in {} stages, formula: \
             keys ≤ rows ≤ keys × B = {}",
            keys.len(),
            distinct * b
        ));
    }
    // Collected records: one row per record the collect stage kept.
    if dataflow == "conversions" {
        let totals = files.stage_totals();
        let kept = |path: &str| totals.get(path).map_or(0, |t| t.1);
        let payloads = kept("split_rejections/else/conversions_table");
        exact(&mut bad, "conversions", payloads, "records collected");
        let rejections = kept("split_rejections/then/rejections_table");
        exact(
            &mut bad,
            "conversions_rejections",
            rejections,
            "rejections collected",
        );
    }
    bad
}

/// The metrics directory of each host directory (`<dir>/metrics`).
pub fn metrics_dirs(dirs: &[&Path]) -> Vec<PathBuf> {
    dirs.iter().map(|d| d.join("metrics")).collect()
}
