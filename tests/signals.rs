//! Ctrl-C and SIGTERM end a run the normal way: the batches in flight
//! finish, the run row says `interrupted` with the records counted so far,
//! timely's operator graph is written, the summary printed, and the exit
//! status is 128 + the signal. A second signal exits at once.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::cli::{bin, read_ndjson, repo};

fn start(dir: &Path, extra: &[&str]) -> Child {
    std::fs::copy(
        repo().join("testdata/mable_event.json"),
        dir.join("events.json"),
    )
    .unwrap();
    let mut args = vec!["-q", "-w", "2", "--size", "200000000"];
    args.extend_from_slice(extra);
    args.push("events.json");
    bin()
        .current_dir(dir)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run has written its first metric rows: it is running.
fn wait_until_running(dir: &Path) {
    let start = Instant::now();
    loop {
        let running = std::fs::read_dir(dir.join("metrics"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .is_some_and(|run| {
                std::fs::metadata(run.path().join("pipeline_metrics.ndjson"))
                    .is_ok_and(|m| m.len() > 0)
            });
        if running {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn run_dir(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir.join("metrics"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
}

fn interrupted_run_is_complete(sig: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let child = start(dir.path(), &[]);
    wait_until_running(dir.path());
    signal(&child, sig);
    let at = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        at.elapsed() < Duration::from_secs(10),
        "took {:?}",
        at.elapsed()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stdout.contains("stage "),
        "the summary is printed: {stdout}"
    );

    let run = run_dir(dir.path());
    let rows = read_ndjson(&run.join("pipeline_runs.ndjson"));
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["status"], "interrupted", "{row}");
    let records_in = row["records_in"].as_u64().unwrap();
    assert!(records_in > 0 && records_in < 200_000_000, "{row}");
    assert!(
        stdout.contains(&format!("{records_in} records in")),
        "the summary and the run row agree: {stdout}"
    );
    // Every batch begun was finished: the stage rows add up to the records read.
    let stamped: u64 = read_ndjson(&run.join("pipeline_metrics.ndjson"))
        .iter()
        .filter(|r| r["stage_path"] == "stamp")
        .map(|r| r["input_count"].as_u64().unwrap())
        .sum();
    assert_eq!(stamped, records_in);
    for table in ["pipeline_operators", "pipeline_channels"] {
        assert!(
            !read_ndjson(&run.join(format!("{table}.ndjson"))).is_empty(),
            "{table} is filled"
        );
    }
}

#[test]
fn sigint_ends_the_run_as_interrupted_with_exit_130() {
    interrupted_run_is_complete("INT", 130);
}

#[test]
fn sigterm_ends_the_run_as_interrupted_with_exit_143() {
    interrupted_run_is_complete("TERM", 143);
}

#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // Huge batches: finishing the ones in flight takes a while.
    let child = start(dir.path(), &["--batch-size", "4000000", "--metrics", "off"]);
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(50));
    let at = Instant::now();
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    assert!(
        at.elapsed() < Duration::from_millis(500),
        "took {:?}",
        at.elapsed()
    );
    assert_eq!(out.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted again"));
}
