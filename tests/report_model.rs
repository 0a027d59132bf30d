//! The report's time model, checked to the microsecond on a run directory
//! written by hand: two workers, two stages, one of them skewed.

use std::fmt::Write as _;
use std::path::Path;

use mable_pipeline::report::verdict::Part;
use mable_pipeline::report::{self, ReportError};

const T: u64 = 1_800_000_000_000_000;
const MS: u64 = 1_000_000;

fn write(dir: &Path, table: &str, lines: &[String]) {
    std::fs::write(dir.join(format!("{table}.ndjson")), lines.join("\n") + "\n").unwrap();
}

/// The run: elapsed 100 ms; worker 0 spends 60 ms in the dataflow (stage
/// `a` 40 ms, `b` 10 ms, timely 10 ms), worker 1 30 ms (`a` 10, `b` 10,
/// timely 10); the first batch enters 5 ms after the start.
fn hand_written_run(dir: &Path) {
    write(
        dir,
        "pipeline_runs",
        &[format!(
            r#"{{"run_id":"r1","dataflow":"hand","process_id":0,"processes":1,"workers":2,"batch_size":10,"batches":2,"input":"hand.ndjson (NDJSON)","args":"hand.ndjson","records_in":40,"records_out":40,"records_skipped":0,"started_at":1800000000,"start_us":{T},"end_us":{},"elapsed_ms":100.0,"status":"ok","error":"","version":"0.1.0","host":"h","insert_id":"x","a_future_column":[1,2]}}"#,
            T + 100_000
        )],
    );
    write(
        dir,
        "pipeline_batches",
        &[
            format!(
                r#"{{"run_id":"r1","dataflow":"hand","batch_id":0,"worker_id":0,"process_id":0,"records_in":20,"entered_us":{},"completed_us":{},"latency_ms":45.0,"timestamp":1800000000,"insert_id":"x"}}"#,
                T + 5_000,
                T + 50_000
            ),
            format!(
                r#"{{"run_id":"r1","dataflow":"hand","batch_id":1,"worker_id":0,"process_id":0,"records_in":20,"entered_us":{},"completed_us":{},"latency_ms":84.0,"timestamp":1800000000,"insert_id":"x"}}"#,
                T + 6_000,
                T + 90_000
            ),
        ],
    );
    let mut metrics = Vec::new();
    for batch in 0..2u64 {
        for (stage, op, busy) in [("a", 5, [20 * MS, 5 * MS]), ("b", 7, [5 * MS, 5 * MS])] {
            for worker in 0..2 {
                let start = T + 6_000 + batch * 40_000 + if stage == "b" { 25_000 } else { 0 };
                let mut line = String::new();
                let _ = write!(
                    line,
                    r#"{{"stage_name":"{stage}","batch_id":{batch},"input_count":10,"output_count":10,"duration_ms":0,"worker_id":{worker},"timestamp":1800000000,"run_id":"r1","dataflow":"hand","stage_path":"{stage}","stage_kind":"map","operator_id":{op},"process_id":0,"busy_ns":{},"start_us":{start},"end_us":{},"insert_id":"x"}}"#,
                    busy[worker],
                    start + busy[worker] / 1000
                );
                metrics.push(line);
            }
        }
    }
    write(dir, "pipeline_metrics", &metrics);
    let mut ops = Vec::new();
    for worker in 0..2 {
        for (id, addr, name, stage, scope, ns) in [
            (0, "0", "Dataflow", "", 1, [60 * MS, 30 * MS][worker]),
            (1, "0.1", "Input", "", 0, 1000),
            (5, "0.2", "a", "a", 0, 1000),
            (7, "0.3", "b", "b", 0, 1000),
            (9, "0.4", "Probe", "", 0, 1000),
        ] {
            ops.push(format!(
                r#"{{"run_id":"r1","dataflow":"hand","worker_id":{worker},"process_id":0,"operator_id":{id},"address":"{addr}","parent_address":"","name":"{name}","stage_path":"{stage}","is_scope":{scope},"schedule_ns":{ns},"activations":3,"max_activation_ns":10,"timestamp":1800000000,"insert_id":"x"}}"#
            ));
        }
    }
    write(dir, "pipeline_operators", &ops);
    let mut channels = Vec::new();
    for worker in 0..2 {
        for (id, from, to) in [(2, 1, 5), (6, 5, 7), (8, 7, 9)] {
            channels.push(format!(
                r#"{{"run_id":"r1","dataflow":"hand","worker_id":{worker},"process_id":0,"channel_id":{id},"scope_address":"0","source_node":1,"source_port":0,"target_node":2,"target_port":0,"source_operator_id":{from},"target_operator_id":{to},"kind":"Vec<i64>","messages_sent":2,"records_sent":20,"messages_received":2,"records_received":20,"timestamp":1800000000,"insert_id":"x"}}"#
            ));
        }
    }
    // A cut-off last line, as a crash mid-write leaves it.
    channels.push(r#"{"run_id":"r1","worker_id":1,"chan"#.to_string());
    write(dir, "pipeline_channels", &channels);
}

#[test]
fn the_time_model_adds_up() {
    let tmp = tempfile::tempdir().unwrap();
    hand_written_run(tmp.path());
    let j = report::judge(tmp.path(), None).unwrap();
    let v = &j.verdict;
    assert_eq!(v.elapsed_ms, 100.0);
    assert_eq!(v.startup_ns, 5 * MS);
    assert_eq!(
        v.input_ns,
        35 * MS,
        "least time outside (40 ms) minus start-up"
    );
    let w0 = &v.workers[0];
    assert_eq!(w0.stage_ns, vec![40 * MS, 10 * MS]);
    assert_eq!(w0.timely_ns, Some(10 * MS));
    assert_eq!(w0.outside_ns, 40 * MS);
    assert_eq!(v.workers[1].outside_ns, 70 * MS);

    // 2× faster: `a` → max(60−20, 30−5) + 40 = 80; input → 100 − 17.5;
    // `b` and timely → max(55, 25) + 40 = 95; start-up → 100 − 2.5.
    let got: Vec<(Part, f64)> = v.what_if.iter().map(|w| (w.part, w.estimate_ms)).collect();
    assert_eq!(
        got,
        vec![
            (Part::Stage(0), 80.0),
            (Part::Input, 82.5),
            (Part::Stage(1), 95.0),
            (Part::Timely, 95.0),
            (Part::Startup, 97.5),
        ]
    );
    assert_eq!(v.what_if[0].worker, Some(0));
    assert_eq!(v.what_if[0].time_ns, 40 * MS);
    assert_eq!(
        j.headline(),
        "stage `a` bounds the run: 40.0 ms on worker 0, the most any stage kept one worker busy in the 100 ms run; 2× faster, the run would take about 80.0 ms instead of 100 ms (−20 %)."
    );

    // `a`: 40 ms on worker 0 against a mean of 25 ms is skew; `b` is even.
    assert_eq!(v.skews.len(), 1);
    assert_eq!((v.skews[0].stage, v.skews[0].worker), (0, 0));
    assert_eq!(v.skews[0].mean_ns, 25 * MS);

    let p = j.run.latency().unwrap();
    assert_eq!((p.p50, p.p95, p.max, p.max_batch), (45.0, 84.0, 84.0, 1));
    assert_eq!(j.run.metric_rows(), (8, 8));
    let channels = j
        .run
        .tables
        .iter()
        .find(|t| t.table == "pipeline_channels")
        .unwrap();
    assert_eq!((channels.rows, channels.unreadable), (6, 1));
}

#[test]
fn without_the_operator_log_time_outside_the_stages_counts_as_outside() {
    let tmp = tempfile::tempdir().unwrap();
    hand_written_run(tmp.path());
    std::fs::remove_file(tmp.path().join("pipeline_operators.ndjson")).unwrap();
    let j = report::judge(tmp.path(), None).unwrap();
    assert!(!j.verdict.has_log);
    assert!(!j.graph.stages.from_log, "drawn from the stage paths");
    // Worker 0: 50 ms in stages, 50 outside; worker 1: 20 and 80.
    assert_eq!(j.verdict.workers[0].outside_ns, 50 * MS);
    assert_eq!(j.verdict.input_ns, 45 * MS);
    let html = j.html(None);
    assert!(html.contains("wrote no timely operator log"));
}

#[test]
fn a_directory_without_metrics_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = report::write(tmp.path(), None).unwrap_err();
    assert!(matches!(err, ReportError::NoMetrics(_)), "{err}");
    assert!(
        err.to_string().contains("give the directory of one run"),
        "{err}"
    );
    let err = report::write(&tmp.path().join("nope"), None).unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");
}
