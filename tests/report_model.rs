//! The report's time model, checked to the microsecond on a run directory
//! written by hand: two workers, two stages, one of them skewed.

mod support;

use mable_pipeline::report::verdict::Part;
use mable_pipeline::report::{self, ReportError};
use support::run_dir::{MS, hand_written_run};

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
    assert_eq!(j.run.coverage(), Some((40, 40)));
    assert_eq!(j.verdict.uncovered, None);
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
    assert!(
        matches!(err, ReportError::NoMetrics { newest: None, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("give the directory of one run"),
        "{err}"
    );
    let err = report::write(&tmp.path().join("nope"), None).unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");
    // Given the metrics directory itself, the error names its newest run.
    let run = tmp.path().join("1800000000-abcd");
    std::fs::create_dir(&run).unwrap();
    hand_written_run(&run);
    let err = report::write(tmp.path(), None).unwrap_err();
    assert!(
        err.to_string().ends_with(&format!(
            "give the directory of one run, such as its newest, {}",
            run.display()
        )),
        "{err}"
    );
}
