//! `report.html` from the command line: after a run (also a failed one),
//! again with `report RUN_DIR`, not with `--no-report` or `--metrics off`;
//! and `report RUN_A RUN_B` comparing two runs.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mable_pipeline::dataflows::Params;
use mable_pipeline::input::InputSpec;
use mable_pipeline::pipeline::Pipeline;
use mable_pipeline::report::compare::{Change, Noise, compare};
use mable_pipeline::run::{MetricsTarget, PipelineFactory, RunConfig, run};
use support::cli::{repo, run_in, run_ok};
use support::run_dir::hand_written_run_with;

/// The run directories under `metrics`.
fn run_dirs(metrics: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(metrics)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_run_writes_its_report_and_report_writes_it_again() {
    let tmp = tempfile::tempdir().unwrap();
    let input = repo().join("testdata/mable_event.json");
    let out = run_ok(
        tmp.path(),
        &["-w", "2", "--size", "10", input.to_str().unwrap()],
    );
    let dirs = run_dirs(&tmp.path().join("metrics"));
    assert_eq!(dirs.len(), 1);
    let report = dirs[0].join("report.html");
    assert!(report.exists());
    assert!(
        out.contains(&format!(
            "report → metrics/{}/report.html",
            dirs[0].file_name().unwrap().to_string_lossy()
        )),
        "{out}"
    );
    let verdict = out
        .lines()
        .find(|l| l.starts_with("verdict: "))
        .expect("a verdict line");
    assert!(verdict.len() > 30, "{verdict}");
    let first = std::fs::read_to_string(&report).unwrap();
    // The run's own report knows what the sidecar delivered.
    assert!(first.contains(" delivered, 0 spooled, 0 failed, 0 dropped"));

    std::fs::remove_file(&report).unwrap();
    let again = run_ok(tmp.path(), &["report", dirs[0].to_str().unwrap()]);
    assert!(report.exists());
    assert!(again.contains(verdict), "{again}");
    assert!(again.contains("report → "), "{again}");
}

#[test]
fn no_report_and_metrics_off_write_no_report() {
    let tmp = tempfile::tempdir().unwrap();
    let input = repo().join("testdata/mable_event.json");
    let out = run_ok(
        tmp.path(),
        &[
            "-w",
            "1",
            "--size",
            "10",
            "--no-report",
            input.to_str().unwrap(),
        ],
    );
    assert!(
        !out.contains("report →") && !out.contains("verdict:"),
        "{out}"
    );
    let dirs = run_dirs(&tmp.path().join("metrics"));
    assert_eq!(dirs.len(), 1);
    assert!(dirs[0].join("pipeline_metrics.ndjson").exists());
    assert!(!dirs[0].join("report.html").exists());

    let off = tempfile::tempdir().unwrap();
    let out = run_ok(
        off.path(),
        &[
            "-w",
            "1",
            "--size",
            "10",
            "--metrics",
            "off",
            input.to_str().unwrap(),
        ],
    );
    assert!(!out.contains("report →"), "{out}");
    assert!(!off.path().join("metrics").exists());
}

#[test]
fn a_failed_run_still_gets_its_report() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("ints.ndjson");
    let mut text: String = (1..=20_000).map(|i| format!("{i}\n")).collect();
    text.push_str("oops\n");
    std::fs::write(&input, text).unwrap();
    let out = run_in(
        tmp.path(),
        &[
            "--dataflow",
            "int",
            "-w",
            "1",
            "--batch-size",
            "100",
            input.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("ints.ndjson:20001: malformed JSON"),
        "{stderr}"
    );
    let dirs = run_dirs(&tmp.path().join("metrics"));
    assert_eq!(dirs.len(), 1);
    let report = dirs[0].join("report.html");
    // One line for the failure; the report is there without being announced.
    assert!(!stderr.contains("report → "), "{stderr}");
    let html = std::fs::read_to_string(report).unwrap();
    assert!(html.contains(r#"id="status">failed<"#));
    assert!(
        html.contains("20001: malformed JSON"),
        "the error is in the report"
    );
}

#[test]
fn report_rejects_what_is_not_a_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_in(tmp.path(), &["report", "."]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: . holds no metric files (pipeline_*.ndjson): give the directory of one run"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn report_a_b_flags_the_stage_that_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    // B: stage `a` 1.5× slower on worker 0 (20 → 30 ms a batch), 2 more
    // records per batch and worker everywhere.
    hand_written_run_with(&a, [20, 5], 10);
    hand_written_run_with(&b, [30, 5], 12);
    let out = run_ok(tmp.path(), &["report", "a", "b"]);
    let line = |group: &str, label: &str| -> String {
        let mut in_group = false;
        for l in out.lines() {
            if !l.starts_with(' ') {
                in_group = l == group;
            } else if in_group && l.trim_start().starts_with(label) {
                return l.to_string();
            }
        }
        panic!("no {label} in {group}:\n{out}")
    };
    assert!(
        line("stage a", "busy, all workers").ends_with("slower"),
        "{out}"
    );
    assert!(line("stage a", "busiest worker").contains("+50 %"), "{out}");
    assert!(line("stage a", "records in").ends_with("differs"), "{out}");
    assert!(
        !line("stage b", "busy, all workers").ends_with("slower"),
        "{out}"
    );
    assert!(line("run", "elapsed").trim_end().ends_with("±0"), "{out}");
    assert!(
        out.contains("beyond noise (a time counts as changed"),
        "{out}"
    );
    let page = b.join("compare-r1.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<td class=\"flag\">slower</td>"));

    // `report B --compare A` is the same comparison.
    let same = run_ok(
        tmp.path(),
        &["report", "b", "--compare", "a", "-o", "c.html"],
    );
    assert_eq!(
        same.lines()
            .filter(|l| l.starts_with(' '))
            .collect::<Vec<_>>(),
        out.lines()
            .filter(|l| l.starts_with(' '))
            .collect::<Vec<_>>()
    );
    assert!(tmp.path().join("c.html").exists());
}

/// Burns `micros` of CPU.
fn spin(micros: u64) {
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::black_box(0);
    }
}

fn library_run(dir: &Path, slow: bool) -> PathBuf {
    let factory: PipelineFactory<i64, i64> = Arc::new(move |_: &Params| {
        Pipeline::<i64, i64>::new()
            .map("cheap", |x: i64| x + 1)
            .map("changed", move |x: i64| {
                spin(if slow { 4 } else { 1 });
                x
            })
    });
    let mut config = RunConfig::local(
        InputSpec::Generated {
            size: 20_000,
            seed: 3,
        },
        2,
    );
    config.batch_size = Some(1_000);
    config.metrics = MetricsTarget::Files {
        dir: dir.to_path_buf(),
    };
    let r = run("compare_test", factory, &config).unwrap();
    dir.join(r.run_id)
}

#[test]
fn comparing_two_real_runs_names_the_stage_a_change_slowed() {
    let tmp = tempfile::tempdir().unwrap();
    let before = library_run(tmp.path(), false);
    let after = library_run(tmp.path(), true);
    let cmp = compare(&before, &after, Noise::default()).unwrap();
    let flagged: Vec<(String, String, Change)> = cmp
        .flagged()
        .map(|(g, r)| (g.title.clone(), r.label.clone(), r.change))
        .collect();
    // 10,000 records × 3 µs more on each worker: far beyond noise.
    assert!(
        flagged.contains(&(
            "stage changed".into(),
            "busy, all workers".into(),
            Change::Slower
        )),
        "{flagged:?}"
    );
    assert!(
        !flagged.iter().any(|(g, _, _)| g == "stage cheap"),
        "the unchanged stage is within noise: {flagged:?}"
    );
    assert!(
        !flagged
            .iter()
            .any(|(_, label, _)| label.starts_with("records")),
        "{flagged:?}"
    );
}
