//! The user's files are never harmed, and settings are checked before any
//! work: outputs that are the input (or each other) are refused, outputs
//! appear whole or not at all, `--output -` means standard output, and a
//! closed pipe ends the program quietly.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::cli::{bin, repo, run_in};

fn event_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("events.json");
    std::fs::copy(repo().join("testdata/mable_event.json"), &path).unwrap();
    path
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// "N out" of the summary's counts line.
fn records_out(summary: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.contains(" records in, "))
        .unwrap_or_else(|| panic!("no counts line in {summary}"));
    line.split(", ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Files in `dir` whose names start with a dot: leftover temporary files.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn an_output_that_is_the_input_is_refused_and_the_input_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let input = event_file(dir.path());
    let original = std::fs::read(&input).unwrap();
    std::os::unix::fs::symlink(&input, dir.path().join("link.json")).unwrap();
    std::fs::hard_link(&input, dir.path().join("hard.json")).unwrap();
    let cases: &[&[&str]] = &[
        &["--on-error", "skip", "--output", "events.json"],
        &["--on-error", "skip", "--dead-letter", "events.json"],
        &["--output", "link.json"],
        &["--output", "./hard.json"],
        &[
            "--output",
            "out.ndjson",
            "--on-error",
            "skip",
            "--dead-letter",
            "./out.ndjson",
        ],
        &["--metrics-dir", "events.json"],
    ];
    for extra in cases {
        let mut args = vec!["-q", "-w", "2"];
        args.extend_from_slice(extra);
        args.push("events.json");
        let out = run_in(dir.path(), &args);
        assert!(!out.status.success(), "{extra:?} was accepted");
        let err = stderr(&out);
        assert!(err.contains("are the same file"), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert_eq!(
            std::fs::read(&input).unwrap(),
            original,
            "{extra:?} harmed the input"
        );
        assert!(!dir.path().join("out.ndjson").exists());
    }
}

#[test]
fn a_failed_run_leaves_the_old_output_where_it_stood() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"eid":"e1","en":"x","ts":1}"#;
    let mut text = String::new();
    for _ in 0..3000 {
        text.push_str(good);
        text.push('\n');
    }
    text.push_str("{broken\n");
    std::fs::write(dir.path().join("in.ndjson"), text).unwrap();
    std::fs::write(dir.path().join("out.ndjson"), "the previous good output\n").unwrap();
    let out = run_in(
        dir.path(),
        &[
            "-q",
            "-w",
            "2",
            "--metrics",
            "off",
            "--output",
            "out.ndjson",
            "in.ndjson",
        ],
    );
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap(),
        "the previous good output\n"
    );
    assert!(
        temporaries(dir.path()).is_empty(),
        "{:?}",
        temporaries(dir.path())
    );

    // And a good run replaces it whole.
    event_file(dir.path());
    let ok = run_in(
        dir.path(),
        &[
            "-q",
            "-w",
            "2",
            "--metrics",
            "off",
            "--size",
            "1000",
            "--output",
            "out.ndjson",
            "events.json",
        ],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let written = std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap();
    let summary = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        written.lines().count() as u64,
        records_out(&summary),
        "{written}"
    );
    assert!(!written.contains("previous"));
    assert!(temporaries(dir.path()).is_empty());
}

#[test]
fn output_dash_is_standard_output_and_the_summary_goes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    event_file(dir.path());
    let out = run_in(
        dir.path(),
        &[
            "-q",
            "-w",
            "2",
            "--size",
            "1000",
            "--output",
            "-",
            "events.json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout holds records only"))
        .collect();
    assert_eq!(records.len() as u64, records_out(&stderr(&out)));
    assert!(!dir.path().join("-").exists() && !dir.path().join("<stdout>").exists());
}

/// Runs the binary with `args`, reads one line of its standard output and
/// closes the pipe; returns its exit status and stderr.
fn close_after_one_line(dir: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = bin()
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty());
    // The reader is dropped here: the pipe is closed.
    let out = child.wait_with_output().unwrap();
    (out.status, stderr(&out))
}

#[test]
fn a_closed_pipe_ends_quietly_with_status_zero() {
    let dir = tempfile::tempdir().unwrap();
    event_file(dir.path());
    let (status, err) = close_after_one_line(dir.path(), &["list"]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for _ in 0..3 {
        let start = Instant::now();
        let (status, err) = close_after_one_line(
            dir.path(),
            &[
                "-q",
                "-w",
                "2",
                "--size",
                "20000000",
                "--output",
                "-",
                "events.json",
            ],
        );
        assert_eq!(status.code(), Some(0), "{err}");
        assert!(err.is_empty(), "quiet: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the run stopped when its reader went away"
        );
    }
}

#[test]
fn unwritable_settings_fail_before_any_input_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // A FIFO nobody writes to: reading it would block, so a prompt error
    // proves the settings were checked first.
    let fifo = dir.path().join("never.ndjson");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(dir.path().join("a-file"), "x").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--metrics-dir", "a-file/metrics"], "--metrics-dir"),
        (&["--output", "a-file/out.ndjson"], "--output"),
        (
            &["--on-error", "skip", "--dead-letter", "a-file/dl.ndjson"],
            "--dead-letter",
        ),
        (&["--clickhouse-url", "localhost:8123"], "--clickhouse-url"),
        (
            &[
                "--clickhouse-url",
                "http://localhost:1",
                "--database",
                "system",
            ],
            "--database",
        ),
    ];
    for (extra, setting) in cases {
        let mut args = vec!["-q"];
        args.extend_from_slice(extra);
        args.push("never.ndjson");
        let start = Instant::now();
        let mut child = bin()
            .current_dir(dir.path())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("{extra:?}: still running after 5 s: the input was read first");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!status.success(), "{extra:?}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{extra:?} took {:?}",
            start.elapsed()
        );
        assert!(
            err.contains(setting),
            "{extra:?} should name {setting}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}
