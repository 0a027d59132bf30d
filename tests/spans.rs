//! `pipeline_spans` is capped: a run of 100,000 one-record batches writes at
//! most 60 × (S × W + 1) spans (README, "Traces"), keeps the slowest batches
//! by latency as roots and an even sample with whole traces; a short run
//! traces every batch. Against the run's own pipeline_metrics and
//! pipeline_batches rows.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use support::cli::{read_ndjson, repo, run_ok};

fn run(dir: &Path, args: &[&str]) -> PathBuf {
    let mut all = args.to_vec();
    all.extend(["--no-report", "-q"]);
    run_ok(dir, &all);
    std::fs::read_dir(dir.join("metrics"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.file_name().unwrap() != "spool")
        .expect("a run directory")
}

fn u(r: &Json, k: &str) -> u64 {
    r[k].as_u64().unwrap_or_else(|| panic!("{k} of {r}"))
}

/// (S stages, W workers) as pipeline_metrics has them.
fn shape(metrics: &[Json]) -> (u64, u64) {
    let stages: BTreeSet<&str> = metrics
        .iter()
        .map(|r| r["stage_path"].as_str().unwrap())
        .collect();
    let workers: BTreeSet<u64> = metrics.iter().map(|r| u(r, "worker_id")).collect();
    (stages.len() as u64, workers.len() as u64)
}

#[test]
fn a_run_of_100k_one_record_batches_writes_at_most_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let template = repo().join("testdata/mable_event.json");
    let d = run(
        dir.path(),
        &[
            "-w",
            "2",
            "--size",
            "100000",
            "--batch-size",
            "1",
            template.to_str().unwrap(),
        ],
    );
    let spans = read_ndjson(&d.join("pipeline_spans.ndjson"));
    let metrics = read_ndjson(&d.join("pipeline_metrics.ndjson"));
    let batches = read_ndjson(&d.join("pipeline_batches.ndjson"));
    assert_eq!(batches.len(), 100_000);
    let (s, w) = shape(&metrics);
    let cap = 60 * (s * w + 1);
    eprintln!(
        "{} spans for {} batches (S = {s}, W = {w}, cap {cap}; uncapped {})",
        spans.len(),
        batches.len(),
        batches.len() as u64 * (s * w + 1)
    );
    assert!(
        spans.len() as u64 <= cap,
        "{} spans, cap {cap}",
        spans.len()
    );

    // The 20 slowest batches by latency each have their root span, with
    // pipeline_batches' numbers.
    let roots: BTreeMap<u64, &Json> = spans
        .iter()
        .filter(|r| r["parent_span_id"] == "")
        .map(|r| (u(r, "batch_id"), r))
        .collect();
    let mut by_latency: Vec<&Json> = batches.iter().collect();
    by_latency.sort_by_key(|r| std::cmp::Reverse(u(r, "completed_us") - u(r, "entered_us")));
    let twentieth = u(by_latency[19], "completed_us") - u(by_latency[19], "entered_us");
    for b in by_latency
        .iter()
        .take_while(|r| u(r, "completed_us") - u(r, "entered_us") > twentieth)
    {
        let root = roots
            .get(&u(b, "batch_id"))
            .unwrap_or_else(|| panic!("slow batch {b} has no root span"));
        assert_eq!(u(root, "start_us"), u(b, "entered_us"));
        assert_eq!(
            u(root, "duration_us"),
            u(b, "completed_us") - u(b, "entered_us")
        );
    }
    // Batch 0 is always sampled: a whole trace, every child under its root
    // with pipeline_metrics' numbers.
    let trace: Vec<&Json> = spans.iter().filter(|r| u(r, "batch_id") == 0).collect();
    assert_eq!(trace.len() as u64, s * w + 1, "{trace:?}");
    let root = roots[&0];
    for child in trace.iter().filter(|r| r["parent_span_id"] != "") {
        assert_eq!(child["parent_span_id"], root["span_id"]);
        assert_eq!(child["trace_id"], root["trace_id"]);
        let m = metrics
            .iter()
            .find(|m| {
                u(m, "batch_id") == 0
                    && m["stage_path"] == child["operation_name"]
                    && u(m, "worker_id") == u(child, "worker_id")
            })
            .expect("its pipeline_metrics row");
        assert_eq!(u(child, "start_us"), u(m, "start_us"));
        assert_eq!(u(child, "duration_us"), u(m, "end_us") - u(m, "start_us"));
        assert_eq!(u(child, "records_in"), u(m, "input_count"));
        assert_eq!(u(child, "records_out"), u(m, "output_count"));
    }
    let ids: BTreeSet<&str> = spans
        .iter()
        .map(|r| r["span_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique");
}

#[test]
fn a_short_run_traces_every_batch() {
    let dir = tempfile::tempdir().unwrap();
    let d = run(
        dir.path(),
        &[
            "--dataflow",
            "int",
            "-w",
            "2",
            "--size",
            "3000",
            "--batch-size",
            "100",
        ],
    );
    let spans = read_ndjson(&d.join("pipeline_spans.ndjson"));
    let metrics = read_ndjson(&d.join("pipeline_metrics.ndjson"));
    let batches = read_ndjson(&d.join("pipeline_batches.ndjson"));
    assert_eq!(batches.len(), 30);
    let (s, w) = shape(&metrics);
    assert_eq!(metrics.len() as u64, 30 * s * w);
    assert_eq!(spans.len() as u64, 30 * (s * w + 1));
}
