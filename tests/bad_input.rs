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

// --- A UTF-8 byte-order mark at the start is skipped, in every format. ---

fn assert_reads(content: &[u8], records: u64, format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr, stdout) = run_file(dir.path(), content, &[]);
    assert!(
        ok,
        "a byte-order mark made the {format} input fail:\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("{records} records in, ")) && stdout.contains(format),
        "expected {records} records of {format}:\n{stdout}"
    );
}

fn with_bom(text: &str) -> Vec<u8> {
    let mut v = b"\xef\xbb\xbf".to_vec();
    v.extend_from_slice(text.as_bytes());
    v
}

#[test]
fn a_byte_order_mark_is_skipped_in_ndjson() {
    assert_reads(&with_bom(&format!("{GOOD}\n{GOOD}\n{GOOD}\n")), 3, "NDJSON");
    // And the lines keep their numbers.
    assert_fails(
        &with_bom(&format!("{GOOD}\n{{\"eid\": nope}}\n")),
        &["input.ndjson:2:", "malformed JSON"],
    );
}

#[test]
fn a_byte_order_mark_is_skipped_in_arrays() {
    assert_reads(&with_bom(&format!("[{GOOD},\n {GOOD}]\n")), 2, "JSON array");
}

#[test]
fn a_byte_order_mark_is_skipped_in_documents() {
    // Two objects: a document of records (one alone would be a template).
    let one = "{\n  \"eid\": \"a\",\n  \"en\": \"x\",\n  \"ts\": 1\n}\n";
    assert_reads(&with_bom(&format!("{one}{one}")), 2, "JSON document");
}

// --- Skip mode keeps the bad records of arrays and documents too. ---

/// Runs in skip mode with a dead-letter file; returns (stdout, dead letters).
fn skip_run(content: &[u8], extra: &[&str]) -> (String, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--on-error", "skip", "--dead-letter", "dead.ndjson"];
    args.extend_from_slice(extra);
    let (ok, stderr, stdout) = run_file(dir.path(), content, &args);
    assert!(ok, "skip mode failed:\n{stderr}");
    (stdout, read_ndjson(&dir.path().join("dead.ndjson")))
}

#[test]
fn skip_mode_keeps_bad_array_elements_in_the_dead_letter() {
    // One element per line (element j on line j + 2), a multi-line bad one,
    // bad elements in both workers' halves of several batches.
    let mut elements: Vec<String> = (0..300)
        .map(|i| format!("{{\"eid\":\"e{i}\",\"en\":\"x\",\"ts\":{i}}}"))
        .collect();
    let bad = [
        (7usize, r#"{"eid":"b7","en":"x","ts":"late"}"#.to_string()),
        (60, r#"{"eid": nope}"#.to_string()),
        (161, r#"{"en":"x","ts":3}"#.to_string()),
        (
            250,
            "{\"eid\":\"b250\",\n \"en\":\"x\",\n \"ts\":\"late\"}".to_string(),
        ),
    ];
    for (j, text) in &bad {
        elements[*j] = text.clone();
    }
    let mut content = String::from("[\n");
    content.push_str(&elements.join(",\n"));
    content.push_str("\n]\n");
    let (stdout, dead) = skip_run(content.as_bytes(), &["--batch-size", "64"]);
    assert!(
        stdout.contains("296 records in") && stdout.contains("4 skipped"),
        "{stdout}"
    );
    // Element j starts on line j + 2 (the multi-line one errs on its third line).
    let mut want: Vec<(u64, &str)> = bad
        .iter()
        .map(|(j, text)| {
            let line = *j as u64 + 2 + if *j == 250 { 2 } else { 0 };
            (line, text.as_str())
        })
        .collect();
    want.sort();
    let mut got: Vec<(u64, String)> = dead
        .iter()
        .map(|d| {
            assert_eq!(d["file"], "input.ndjson");
            assert!(!d["error"].as_str().unwrap().is_empty(), "{d}");
            (
                d["line"].as_u64().unwrap(),
                d["record"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let got: Vec<(u64, &str)> = got.iter().map(|(l, r)| (*l, r.as_str())).collect();
    assert_eq!(got, want, "each bad element is kept with its line");
    let reasons: Vec<&str> = dead.iter().map(|d| d["error"].as_str().unwrap()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("malformed JSON")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("missing field `eid`")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("invalid type")),
        "{reasons:?}"
    );
}

#[test]
fn skip_mode_keeps_a_bad_document_in_the_dead_letter() {
    let good = "{\n  \"eid\": \"a\",\n  \"en\": \"x\",\n  \"ts\": 1\n}";
    let bad = "{\n  \"eid\": \"b\",\n  \"en\": \"x\",\n  \"ts\": \"late\"\n}";
    let content = format!("{good}\n{bad}\n");
    let (stdout, dead) = skip_run(content.as_bytes(), &[]);
    assert!(
        stdout.contains("1 record in") && stdout.contains("1 skipped"),
        "{stdout}"
    );
    assert_eq!(dead.len(), 1, "{dead:?}");
    let d = &dead[0];
    assert_eq!(d["file"], "input.ndjson");
    assert_eq!(d["line"], 9, "the `ts` line of the second document");
    assert!(d["error"].as_str().unwrap().contains("invalid type"), "{d}");
    assert_eq!(d["record"].as_str().unwrap().trim(), bad);
}

// --- NDJSON line numbers count blank, whitespace-only and CRLF lines, in
// --- every worker's share.

/// 2,000 lines; every 7th is a `blank` line; `end` ends every line. Bad
/// records at `bad` (line numbers, none of them a multiple of 7).
fn numbered(blank: &str, end: &str, bad: &[u64]) -> Vec<u8> {
    let mut text = String::new();
    for line in 1..=2000u64 {
        if bad.contains(&line) {
            text.push_str(&format!(
                "{{\"eid\":\"e{line:05}\",\"en\":\"x\",\"ts\":\"bad\"}}{end}"
            ));
        } else if line % 7 == 0 {
            text.push_str(&format!("{blank}{end}"));
        } else {
            text.push_str(&format!(
                "{{\"eid\":\"e{line:05}\",\"en\":\"x\",\"ts\":{line}}}{end}"
            ));
        }
    }
    text.into_bytes()
}

fn assert_lines_numbered(blank: &str, end: &str) {
    // Line 300 is in the first worker's half, 1700 in the second's; blank
    // lines come before each within the same half.
    let (first, second) = (300u64, 1700u64);
    assert_fails(
        &numbered(blank, end, &[first]),
        &[&format!("input.ndjson:{first}:")],
    );
    assert_fails(
        &numbered(blank, end, &[second]),
        &[&format!("input.ndjson:{second}:")],
    );
    let (stdout, dead) = skip_run(&numbered(blank, end, &[first, second]), &[]);
    assert!(stdout.contains("2 skipped"), "{stdout}");
    let mut lines: Vec<u64> = dead.iter().map(|d| d["line"].as_u64().unwrap()).collect();
    lines.sort();
    assert_eq!(lines, vec![first, second]);
    for d in &dead {
        let record = d["record"].as_str().unwrap();
        let line = d["line"].as_u64().unwrap();
        assert!(record.contains(&format!("e{line:05}")), "{d}");
        assert!(
            !record.ends_with('\r'),
            "the CR is not part of the record: {d}"
        );
    }
}

#[test]
fn line_numbers_count_blank_lines_in_both_shares() {
    assert_lines_numbered("", "\n");
}

#[test]
fn line_numbers_count_whitespace_only_lines_in_both_shares() {
    assert_lines_numbered("  \t ", "\n");
}

#[test]
fn line_numbers_count_crlf_lines_in_both_shares() {
    assert_lines_numbered("", "\r\n");
}

// --- Fail mode on several workers reports the earliest bad line. ---

/// Equal-length lines; the first worker's bad line is near the end of its
/// half, the second worker's is the first line of its half, so the second
/// worker meets its own long before the first does.
#[test]
fn fail_mode_reports_the_earliest_bad_line_of_ndjson() {
    let half = 20_000u64;
    let (early, late) = (half - 2, half + 1);
    let mut text = String::new();
    for line in 1..=2 * half {
        let record = if line == early {
            format!("{{\"eid\":\"e{line:06}\",\"xx\":\"x\",\"ts\":1}}") // missing en
        } else if line == late {
            format!("{{\"eid\":\"e{line:06}\",\"en\":\"x\",\"tz\":1}}") // missing ts
        } else {
            format!("{{\"eid\":\"e{line:06}\",\"en\":\"x\",\"ts\":1}}")
        };
        text.push_str(&record);
        text.push('\n');
    }
    for trial in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let (ok, stderr, _) = run_file(dir.path(), text.as_bytes(), &[]);
        assert!(!ok);
        assert!(
            stderr.contains(&format!("input.ndjson:{early}: ")) && stderr.contains("`en`"),
            "trial {trial}: the earliest bad line is {early}:\n{stderr}"
        );
    }
}

/// An array in one batch: the first worker parses elements 0..half, the
/// second only scans those (far cheaper) before its first element, which
/// is bad. Element j is on line j + 2.
#[test]
fn fail_mode_reports_the_earliest_bad_element_of_an_array() {
    let full =
        std::fs::read_to_string(support::cli::repo().join("testdata/mable_events_full.ndjson"))
            .unwrap();
    let template: serde_json::Value = serde_json::from_str(full.lines().next().unwrap()).unwrap();
    let half = 3000usize;
    let (early, late) = (half - 3, half);
    let elements: Vec<String> = (0..2 * half)
        .map(|j| {
            let mut e = template.clone();
            e["eid"] = format!("e{j}").into();
            if j == early {
                e["en"] = 5.into();
            } else if j == late {
                e["ts"] = "late".into();
            }
            e.to_string()
        })
        .collect();
    let content = format!("[\n{}\n]\n", elements.join(",\n"));
    let batch = (2 * half).to_string();
    for trial in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let (ok, stderr, _) = run_file(dir.path(), content.as_bytes(), &["--batch-size", &batch]);
        assert!(!ok);
        assert!(
            stderr.contains(&format!("input.ndjson:{}: ", early + 2)),
            "trial {trial}: the earliest bad element is on line {}:\n{stderr}",
            early + 2
        );
    }
}
