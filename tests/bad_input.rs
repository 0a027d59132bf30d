//! Bad input: a clear error naming file, line and problem — or, with
//! `--on-error skip`, exact counts and a dead-letter file. Never a panic, a
//! hang or silent loss.

mod support;

use std::path::Path;

use support::cli::{read_ndjson, run_in};

const GOOD: &str = r#"{"eid":"e1","en":"Add To Cart","ts":1}"#;

/// Runs the default dataflow on a file holding `content`; returns (success, stderr, stdout).
fn run_file(dir: &Path, content: &[u8], extra: &[&str]) -> (bool, String, String) {
    let path = dir.join("input.ndjson");
    std::fs::write(&path, content).unwrap();
    let mut args = vec!["-w", "2", "-q", "--metrics", "off", "input.ndjson"];
    args.extend_from_slice(extra);
    let out = run_in(dir, &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "a panic reached the user:\n{stderr}"
    );
    (
        out.status.success(),
        stderr,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn lines(bad: &str) -> Vec<u8> {
    format!("{GOOD}\n{GOOD}\n{bad}\n{GOOD}\n").into_bytes()
}

fn assert_fails(content: &[u8], needle: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr, _) = run_file(dir.path(), content, &[]);
    assert!(!ok, "bad input was accepted");
    for n in needle {
        assert!(stderr.contains(n), "error should mention {n:?}:\n{stderr}");
    }
}

#[test]
fn malformed_json_names_file_line_and_problem() {
    assert_fails(
        &lines(r#"{"eid":"e3","en": oops}"#),
        &["input.ndjson:3:", "malformed JSON", "--on-error skip"],
    );
}

#[test]
fn wrong_type_is_reported() {
    assert_fails(
        &lines(r#"{"eid":"e3","en":"x","ts":"yesterday"}"#),
        &["input.ndjson:3:", "wrong field or type", "invalid type"],
    );
}

#[test]
fn missing_required_field_is_reported() {
    assert_fails(
        &lines(r#"{"en":"x","ts":3}"#),
        &["input.ndjson:3:", "missing field `eid`"],
    );
}

#[test]
fn non_utf8_is_reported() {
    let mut content = format!("{GOOD}\n").into_bytes();
    content.extend_from_slice(b"{\"eid\":\"e\xff\xfe\",\"en\":\"x\",\"ts\":1}\n");
    assert_fails(&content, &["input.ndjson:2:", "not valid UTF-8"]);
}

#[test]
fn truncated_last_line_is_reported() {
    let content = format!("{GOOD}\n{GOOD}\n{{\"eid\":\"e3\",\"en\":\"Ad");
    assert_fails(
        content.as_bytes(),
        &["input.ndjson:3:", "truncated last line"],
    );
}

#[test]
fn empty_file_is_reported() {
    assert_fails(b"  \n\n", &["input.ndjson", "empty"]);
}

#[test]
fn missing_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["-q", "no-such-file.json"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-file.json") && stderr.contains("No such file"),
        "{stderr}"
    );
}

#[test]
fn errors_deep_in_a_big_file_name_the_right_line() {
    // Far enough in that the second worker's byte range holds it.
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!("{{\"eid\":\"e{i}\",\"en\":\"x\",\"ts\":{i}}}\n"));
    }
    text.push_str("{broken\n");
    for i in 0..100 {
        text.push_str(&format!("{{\"eid\":\"f{i}\",\"en\":\"x\",\"ts\":{i}}}\n"));
    }
    assert_fails(text.as_bytes(), &["input.ndjson:5001:"]);
}

#[test]
fn skip_mode_counts_and_keeps_every_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    let mut bad_lines = Vec::new();
    for i in 1..=3000u64 {
        if i % 500 == 0 {
            text.push_str("{\"eid\": nope}\n");
            bad_lines.push(i);
        } else if i % 777 == 0 {
            text.push_str(&format!(
                "{{\"eid\":\"e{i}\",\"en\":\"x\",\"ts\":\"late\"}}\n"
            ));
            bad_lines.push(i);
        } else {
            text.push_str(&format!("{{\"eid\":\"e{i}\",\"en\":\"x\",\"ts\":{i}}}\n"));
        }
    }
    let (ok, stderr, stdout) = run_file(
        dir.path(),
        text.as_bytes(),
        &[
            "--on-error",
            "skip",
            "--dead-letter",
            "dead.ndjson",
            "--batch-size",
            "256",
        ],
    );
    assert!(ok, "skip mode failed:\n{stderr}");
    let good = 3000 - bad_lines.len() as u64;
    assert!(
        stdout.contains(&format!("{good} records in"))
            && stdout.contains(&format!("{} skipped", bad_lines.len())),
        "summary should count {good} good and {} skipped:\n{stdout}",
        bad_lines.len()
    );
    let dead = read_ndjson(&dir.path().join("dead.ndjson"));
    let mut got: Vec<u64> = dead.iter().map(|d| d["line"].as_u64().unwrap()).collect();
    got.sort();
    assert_eq!(got, bad_lines, "dead letters name exactly the bad lines");
    for d in &dead {
        assert_eq!(d["file"], "input.ndjson");
        assert!(!d["error"].as_str().unwrap().is_empty());
        assert!(d["record"].as_str().unwrap().contains("eid"));
    }
}

#[test]
fn broken_array_and_document_are_reported() {
    assert_fails(
        b"[{\"eid\":\"a\",\"en\":\"x\",\"ts\":1},\n {\"eid\":\"b\",\"en\":\"x\",\"ts\":2}",
        &["input.ndjson", "truncated"],
    );
    assert_fails(
        b"{\n  \"eid\": \"a\",\n  \"en\": 5,\n  \"ts\": 1\n}\n",
        &["input.ndjson:3:", "invalid type"],
    );
}
