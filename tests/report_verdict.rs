//! The report's verdict names the part that bounds a run: a busy loop
//! injected into one stage of a test pipeline (top level, inside an
//! `if_else` branch, or on one worker only) must be named, and the model's
//! arithmetic is checked on files written by hand.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mable_pipeline::dataflows::Params;
use mable_pipeline::input::InputSpec;
use mable_pipeline::pipeline::Pipeline;
use mable_pipeline::report::graph::NodeKind;
use mable_pipeline::report::verdict::Part;
use mable_pipeline::report::{self, Judged};
use mable_pipeline::run::{MetricsTarget, PipelineFactory, RunConfig, run};

/// Burns `micros` of CPU on this thread.
fn spin(micros: u64) {
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::black_box(0);
    }
}

/// Runs `factory` over `size` generated records with file metrics in
/// `dir`; returns the run's directory.
fn run_into(
    dir: &Path,
    workers: usize,
    size: u64,
    factory: PipelineFactory<i64, i64>,
) -> std::path::PathBuf {
    let mut config = RunConfig::local(InputSpec::Generated { size, seed: 7 }, workers);
    config.batch_size = Some(2_000);
    config.metrics = MetricsTarget::Files {
        dir: dir.to_path_buf(),
    };
    let report = run("verdict_test", factory, &config).expect("the run succeeds");
    dir.join(report.run_id)
}

fn bound_stage(j: &Judged) -> &str {
    match j.verdict.bound().expect("a verdict").part {
        Part::Stage(s) => &j.run.stages[s].path,
        other => panic!("the bound is {other:?}, not a stage: {}", j.headline()),
    }
}

/// Sums a column of `pipeline_metrics` per stage, straight from the file.
fn column_by_stage(dir: &Path, column: &str) -> std::collections::BTreeMap<String, u64> {
    let text = std::fs::read_to_string(dir.join("pipeline_metrics.ndjson")).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *out.entry(v["stage_path"].as_str().unwrap().to_string())
            .or_insert(0) += v[column].as_u64().unwrap();
    }
    out
}

#[test]
fn the_verdict_names_an_injected_slow_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let factory: PipelineFactory<i64, i64> = Arc::new(|_: &Params| {
        Pipeline::<i64, i64>::new()
            .map("double", |x: i64| x * 2)
            .filter("slow_check", |x: &i64| {
                spin(3);
                x % 3 != 0
            })
            .map("shift", |x: i64| x + 1)
    });
    let dir = run_into(tmp.path(), 2, 60_000, factory);
    let written = report::write(&dir, None).unwrap();
    let j = report::judge(&dir, None).unwrap();
    assert_eq!(bound_stage(&j), "slow_check", "{}", j.headline());
    assert!(
        written
            .headline
            .starts_with("stage `slow_check` bounds the run"),
        "{}",
        written.headline
    );
    let bound = j.verdict.bound().unwrap();
    // 30,000 records × 3 µs on each worker: at least 90 ms, all in the stage.
    assert!(bound.time_ns >= 90_000_000, "{bound:?}");
    assert!(
        bound.estimate_ms < j.verdict.elapsed_ms - 0.4 * bound.time_ns as f64 / 1e6,
        "halving the stage must buy most of half its time: {bound:?}, elapsed {}",
        j.verdict.elapsed_ms
    );
    let html = std::fs::read_to_string(&written.path).unwrap();
    assert!(html.contains(r#"data-bound-stage="slow_check""#));
}

#[test]
fn the_verdict_names_a_slow_stage_inside_an_if_else_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let factory: PipelineFactory<i64, i64> = Arc::new(|_: &Params| {
        Pipeline::<i64, i64>::new()
            .map("parse", |x: i64| x + 1)
            .if_else(
                "route",
                |x: &i64| x % 2 == 0,
                Pipeline::new().map("fast_even", |x: i64| x / 2),
                Pipeline::new().map("slow_odd", |x: i64| {
                    spin(6);
                    x * 3
                }),
            )
            .map("finish", |x: i64| x - 1)
    });
    let dir = run_into(tmp.path(), 2, 40_000, factory);
    let j = report::judge(&dir, None).unwrap();
    assert_eq!(bound_stage(&j), "route/else/slow_odd", "{}", j.headline());

    // The stage graph joins the branches as the files say: every stage
    // present, `route` feeding both branches with the records each received,
    // both branches feeding the merge.
    let inputs = column_by_stage(&dir, "input_count");
    let g = &j.graph.stages;
    assert!(g.from_log, "drawn from timely's log");
    let node = |path: &str| {
        let s = j
            .run
            .stage_index(path)
            .unwrap_or_else(|| panic!("no stage {path}"));
        g.nodes
            .iter()
            .position(|k| *k == NodeKind::Stage(s))
            .unwrap()
    };
    for path in inputs.keys() {
        node(path);
    }
    let edge = |from: &str, to: &str| {
        g.edges
            .iter()
            .find(|e| e.from == node(from) && e.to == node(to))
            .unwrap_or_else(|| panic!("no edge {from} → {to}: {:?}", g.edges))
    };
    for branch in ["route/then/fast_even", "route/else/slow_odd"] {
        assert_eq!(edge("route", branch).records, Some(inputs[branch]));
        assert!(edge(branch, "route/merge").records.is_some());
    }
    assert_eq!(
        edge("route/merge", "finish").records,
        Some(inputs["finish"])
    );
}

#[test]
fn a_stage_slow_on_one_worker_is_flagged_as_skew() {
    let tmp = tempfile::tempdir().unwrap();
    let factory: PipelineFactory<i64, i64> = Arc::new(|_: &Params| {
        Pipeline::<i64, i64>::new()
            .map("even_work", |x: i64| x + 1)
            .map("uneven", |x: i64| {
                // Timely names its worker threads `timely:work-<index>`.
                if std::thread::current().name() == Some("timely:work-1") {
                    spin(4);
                }
                x
            })
    });
    let dir = run_into(tmp.path(), 3, 45_000, factory);
    let j = report::judge(&dir, None).unwrap();
    assert_eq!(bound_stage(&j), "uneven", "{}", j.headline());
    let s = j.run.stage_index("uneven").unwrap();
    let skew = j
        .verdict
        .skews
        .iter()
        .find(|k| k.stage == s)
        .unwrap_or_else(|| panic!("no skew flagged: {:?}", j.verdict.skews));
    assert_eq!(skew.worker, 1);
    assert!(skew.ratio() > 2.0, "{skew:?}");
    // The records were spread evenly: the worker was slow, not overloaded.
    assert!((0.7..1.3).contains(&skew.records_ratio), "{skew:?}");
    let details = report::words::details(&j.run, &j.verdict).join("\n");
    assert!(details.contains("Skew: worker 1 carried"), "{details}");
    assert!(
        !j.verdict.skews.iter().any(|k| k.stage != s),
        "{:?}",
        j.verdict.skews
    );
}
