//! Cluster failures are named, never "internal error": processes started
//! with different settings, a peer that dies, a malformed hostfile, an
//! impossible `-p`, and far too many workers.

mod support;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use support::cli::{bin, hostfile, read_ndjson, repo, run_in};

fn spawn(dir: &Path, args: &[String]) -> Child {
    bin()
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn args(common: &[&str], hosts: &Path, p: usize, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = common.iter().map(|s| s.to_string()).collect();
    v.extend(
        [
            "-n",
            "2",
            "-p",
            &p.to_string(),
            "--hostfile",
            hosts.to_str().unwrap(),
            "--connect-timeout",
            "20",
        ]
        .map(String::from),
    );
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn as_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Starts two processes that differ in `extra0` / `extra1`; both must fail
/// promptly with one line naming both values.
fn mismatch(extra0: &[&str], extra1: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let hosts = hostfile(dir.path(), 2);
    let common = ["--size", "100000", "-q"];
    // Defaults for what a case does not set itself (clap refuses a repeated flag).
    let with_dataflow = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for (flag, value) in [("--dataflow", "int"), ("-w", "2")] {
            if !extra.contains(&flag) {
                v.extend([flag.to_string(), value.to_string()]);
            }
        }
        v
    };
    let (e0, e1) = (with_dataflow(extra0), with_dataflow(extra1));
    let start = Instant::now();
    let p1 = spawn(dir.path(), &args(&common, &hosts, 1, &as_refs(&e1)));
    let p0 = spawn(dir.path(), &args(&common, &hosts, 0, &as_refs(&e0)));
    for (i, out) in [
        p0.wait_with_output().unwrap(),
        p1.wait_with_output().unwrap(),
    ]
    .iter()
    .enumerate()
    {
        let err = text(out);
        assert!(!out.status.success(), "process {i} accepted a mismatch");
        assert!(
            !err.contains("internal error") && !err.contains("panicked"),
            "{err}"
        );
        assert!(
            err.contains("were started differently"),
            "process {i}: {err}"
        );
        for n in needles {
            assert!(err.contains(n), "process {i} should name {n:?}: {err}");
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn processes_that_disagree_are_named_with_both_values() {
    mismatch(&[], &["-w", "3"], &["-w 2 (process 0) vs -w 3 (process 1)"]);
    mismatch(
        &["--seed", "1"],
        &["--seed", "2"],
        &["--seed 1 (process 0) vs --seed 2 (process 1)"],
    );
    mismatch(
        &["--batch-size", "100"],
        &["--batch-size", "200"],
        &["--batch-size 100 (process 0) vs --batch-size 200 (process 1)"],
    );
    mismatch(
        &[],
        &["--dataflow", "test_struct"],
        &["--dataflow int (process 0) vs --dataflow test_struct (process 1)"],
    );
    mismatch(&[], &["--output", "out.ndjson"], &["stages", "--output"]);
}

#[test]
fn a_peer_killed_mid_run_ends_the_other_within_seconds_keeping_its_counts() {
    for trial in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            repo().join("testdata/mable_event.json"),
            dir.path().join("events.json"),
        )
        .unwrap();
        let hosts = hostfile(dir.path(), 2);
        let common = ["--size", "100000000", "-q", "-w", "2"];
        let mut p1 = spawn(dir.path(), &args(&common, &hosts, 1, &["events.json"]));
        let p0 = spawn(dir.path(), &args(&common, &hosts, 0, &["events.json"]));
        // Let it run until process 0 has finished some batches.
        let started = Instant::now();
        loop {
            let files: Vec<_> = std::fs::read_dir(dir.path().join("metrics"))
                .map(|d| d.flatten().collect())
                .unwrap_or_default();
            let running = files.iter().any(|run| {
                std::fs::metadata(run.path().join("pipeline_metrics.p0.ndjson"))
                    .is_ok_and(|m| m.len() > 10_000)
            });
            if running {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "trial {trial}: never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p1.kill().unwrap();
        let killed = Instant::now();
        p1.wait().unwrap();
        let out = p0.wait_with_output().unwrap();
        let waited = killed.elapsed();
        assert!(
            waited < Duration::from_secs(10),
            "trial {trial}: took {waited:?}"
        );
        let err = text(&out);
        assert!(!out.status.success());
        assert_eq!(
            err.trim().lines().count(),
            1,
            "trial {trial}: one line: {err}"
        );
        assert!(
            err.contains("lost process 1")
                && err.contains(
                    &std::fs::read_to_string(&hosts)
                        .unwrap()
                        .lines()
                        .nth(1)
                        .unwrap()
                        .to_string()
                ),
            "trial {trial}: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("internal error"),
            "{err}"
        );
        let run = std::fs::read_dir(dir.path().join("metrics"))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let rows = read_ndjson(&run.join("pipeline_runs.p0.ndjson"));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["status"], "failed");
        assert!(rows[0]["records_in"].as_u64().unwrap() > 0, "{}", rows[0]);
        assert!(rows[0]["batches"].as_u64().unwrap() > 0, "{}", rows[0]);
    }
}

#[test]
fn a_malformed_hostfile_line_is_named_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hosts"),
        "127.0.0.1:4000\nhost-without-port\n",
    )
    .unwrap();
    let start = Instant::now();
    let out = run_in(
        dir.path(),
        &[
            "--dataflow",
            "int",
            "--size",
            "10",
            "-n",
            "2",
            "-p",
            "0",
            "--hostfile",
            "hosts",
            "--connect-timeout",
            "30",
        ],
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    let err = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("line 2") && err.contains("host-without-port"),
        "{err}"
    );
}

#[test]
fn an_impossible_process_index_names_the_valid_range() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &["--dataflow", "int", "--size", "10", "-n", "2", "-p", "5"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("the valid range is 0..=1"),
        "{}",
        text(&out)
    );
}

#[test]
fn far_too_many_workers_are_refused_at_once_and_many_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = run_in(
        dir.path(),
        &[
            "--dataflow",
            "int",
            "--size",
            "10",
            "-w",
            "1000",
            "--metrics",
            "off",
        ],
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("-w 1000 is more than 64×"),
        "{}",
        text(&out)
    );
    let cores = std::thread::available_parallelism().unwrap().get();
    let many = (8 * cores + 1).to_string();
    let out = run_in(
        dir.path(),
        &[
            "--dataflow",
            "int",
            "--size",
            "10",
            "-w",
            &many,
            "--metrics",
            "off",
            "-q",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches("warning:").count(), 1, "{}", text(&out));
}
