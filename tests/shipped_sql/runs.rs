//! Real runs of the binary with the default file sink, and what the tests
//! hold their SQL results against: each run's printed summary (the binary's
//! own counters) and the metric rows it wrote (metrics/<run_id>/*.ndjson).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value as Json;

use crate::support::cli;

/// One stage row of a run's summary, summed over processes.
#[derive(Clone, Debug)]
pub struct Stage {
    pub path: String,
    pub kind: String,
    pub input: u64,
    pub output: u64,
}

pub struct Run {
    pub id: String,
    pub dataflow: String,
    /// Timely workers over all processes.
    pub workers: u64,
    pub processes: u64,
    pub records_in: u64,
    pub records_out: u64,
    /// In dataflow order, as the summary prints them.
    pub stages: Vec<Stage>,
    /// metrics/<run_id>/: the files the run wrote.
    pub dir: PathBuf,
    /// The rows of those files, per table.
    pub rows: BTreeMap<String, Vec<Json>>,
}

fn stdout_of(out: &Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "mable-pipeline {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the binary in `dir` (one process) with the default file sink.
pub fn single(dir: &Path, args: &[&str]) -> Run {
    let out = cli::run_in(dir, args);
    from_summaries(dir, &[stdout_of(&out, args)])
}

/// Runs an `n`-process cluster of the binary in `dir`.
pub fn cluster(dir: &Path, n: usize, args: &[&str]) -> Run {
    let outs = cli::run_cluster(dir, n, args);
    let summaries: Vec<String> = outs.iter().map(|o| stdout_of(o, args)).collect();
    // Process 0's summary covers the whole cluster; the others say so.
    for s in &summaries[1..] {
        assert!(
            s.contains("process 0 prints the whole cluster's summary"),
            "{s}"
        );
    }
    let run = from_summaries(dir, &summaries[..1]);
    assert_eq!(run.processes, n as u64, "{}", summaries[0]);
    run
}

/// The first number in `s`.
fn number(s: &str) -> u64 {
    s.split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number in {s:?}"))
}

/// Adds one process's summary to `run`.
fn add_summary(run: &mut Run, summary: &str) {
    // "int — run 1796…-46dcf53e, 2 workers" or "…, process 0 of 2 (2 workers here)"
    let header = summary
        .lines()
        .find(|l| l.contains(" — run "))
        .unwrap_or_else(|| panic!("no summary header in\n{summary}"));
    let (dataflow, rest) = header.split_once(" — run ").expect("header names the run");
    let (id, rest) = rest.split_once(',').expect("header: run id, workers");
    run.dataflow = dataflow.trim().to_string();
    run.id = id.trim().to_string();
    // "…, 3 processes × 2 workers (the whole cluster, from process 0)"
    match rest.split_once(" processes × ") {
        Some((processes, workers)) => {
            run.processes += number(processes);
            run.workers += number(processes) * number(workers);
        }
        None => {
            let workers_here = rest.split_once('(').map_or(rest, |(_, w)| w).trim_start();
            run.workers += number(workers_here);
            run.processes += 1;
        }
    }
    // "20000 records in, 9923 out, 0 skipped; …"
    let totals = summary
        .lines()
        .find(|l| l.contains(" in, ") && l.contains(" out"))
        .expect("a records in/out line");
    let (input, rest) = totals.split_once(" in, ").unwrap();
    run.records_in += number(input);
    run.records_out += number(rest.split(" out").next().unwrap());
    // The stage table: "stage kind in out busy busiest wkr", one row per stage.
    let table = summary
        .lines()
        .skip_while(|l| !l.starts_with("stage "))
        .skip(1)
        .take_while(|l| !l.trim().is_empty());
    for (i, line) in table.enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (input, output) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        match run.stages.get_mut(i) {
            Some(s) => {
                assert_eq!(s.path, f[0], "processes list the same stages");
                s.input += input;
                s.output += output;
            }
            None => run.stages.push(Stage {
                path: f[0].to_string(),
                kind: f[1].to_string(),
                input,
                output,
            }),
        }
    }
}

fn from_summaries(dir: &Path, summaries: &[String]) -> Run {
    let mut run = Run {
        id: String::new(),
        dataflow: String::new(),
        workers: 0,
        processes: 0,
        records_in: 0,
        records_out: 0,
        stages: Vec::new(),
        dir: PathBuf::new(),
        rows: BTreeMap::new(),
    };
    for s in summaries {
        add_summary(&mut run, s);
    }
    assert!(
        !run.stages.is_empty(),
        "no stage table in\n{}",
        summaries[0]
    );
    run.dir = dir.join("metrics").join(&run.id);
    for (table, file) in files(&run.dir) {
        run.rows
            .entry(table)
            .or_default()
            .extend(cli::read_ndjson(&file));
    }
    assert!(
        run.rows.contains_key("pipeline_metrics") && run.rows.contains_key("pipeline_runs"),
        "run {} wrote no metric files in {}",
        run.id,
        run.dir.display()
    );
    run
}

/// `(table, file)` for every metric file of a run directory:
/// `<table>.ndjson`, or `<table>.p<process>.ndjson` in a cluster run.
pub fn files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (name.split('.').next().unwrap().to_string(), p)
        })
        .collect();
    out.sort();
    out
}

pub fn u(row: &Json, key: &str) -> u64 {
    row[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} of {row} is not an unsigned number"))
}

pub fn f(row: &Json, key: &str) -> f64 {
    row[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} of {row} is not a number"))
}

pub fn s<'a>(row: &'a Json, key: &str) -> &'a str {
    row[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} of {row} is not a string"))
}

impl Run {
    pub fn table(&self, name: &str) -> &[Json] {
        self.rows.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn metrics(&self) -> &[Json] {
        self.table("pipeline_metrics")
    }

    /// The stage that reads the input: the first operator of the dataflow.
    pub fn first_operator(&self) -> u64 {
        self.metrics()
            .iter()
            .map(|r| u(r, "operator_id"))
            .min()
            .unwrap()
    }

    /// `(worker, value)` summed over the rows of `stage_path`, every worker of the run.
    pub fn per_worker(&self, rows: &[&Json], key: &str) -> BTreeMap<u64, f64> {
        let mut by: BTreeMap<u64, f64> = (0..self.workers).map(|w| (w, 0.0)).collect();
        for r in rows {
            *by.entry(u(r, "worker_id")).or_default() += r[key].as_f64().unwrap();
        }
        by
    }

    pub fn stage_rows(&self, path: &str) -> Vec<&Json> {
        self.metrics()
            .iter()
            .filter(|r| s(r, "stage_path") == path)
            .collect()
    }
}
