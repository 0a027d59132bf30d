//! Personal data never leaves in clear text, not even through errors: bad
//! `conversions` records carrying known e-mails, names, streets and numbers
//! in every bad-input class, in fail and skip mode; then every output, log
//! line and metrics file is searched for them. The dead-letter file holds
//! the raw records (so the search is shown to find them), with mode 0600,
//! and replaces an older one only when the run succeeds.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::cli::{bin, read_ndjson};

const GOOD: &str = r#"{"eid":"g1","en":"Add To Cart","ts":1750830040,"md":{"shop":"s.example"},"esd":{"cart":{"currency":"EUR","total":{"price":10}}}}"#;

/// The personal values of the bad records below.
const PII: &[&str] = &[
    "secret.person@example.com",
    "other.person@example.org",
    "Quentinella",
    "Zwirblestone",
    "742 Evergreen Terrace",
    "Gruenwaldshausen",
    "4915112345678",
];

/// One bad record per class; the last one is truncated, so it goes last.
fn bad_records() -> Vec<(&'static str, Vec<u8>)> {
    let head = r#"{"eid":"b1","en":"Order Completed","ts":1750830040,"#;
    let with = |rest: &str| format!("{head}{rest}").into_bytes();
    let mut non_utf8 = with(r#""cdas":{"em":["secret.person@example.com"],"fn":["Quentinella"#);
    non_utf8.extend_from_slice(b"\xff\xfe\"]}}");
    vec![
        (
            "malformed JSON",
            with(r#""cdas":{"em":["secret.person@example.com"],"fn":[Quentinella],"street":["742 Evergreen Terrace"]}}"#),
        ),
        (
            "wrong type (string for a list)",
            with(r#""cdas":{"em":"secret.person@example.com","ln":["Zwirblestone"]}}"#),
        ),
        (
            "wrong type (number for a string)",
            with(r#""cdas":{"zip":[4915112345678],"ct":["Gruenwaldshausen"]}}"#),
        ),
        (
            "wrong type (object for a list)",
            with(r#""cdas":{"street":{"line":"742 Evergreen Terrace"}}}"#),
        ),
        (
            "invalid value",
            with(r#""bd":{"srw":-4915112345678},"cdas":{"ln":["Zwirblestone"]}}"#),
        ),
        (
            "missing field",
            br#"{"en":"Order Completed","ts":1750830040,"cdas":{"em":["secret.person@example.com"],"ln":["Zwirblestone"]}}"#.to_vec(),
        ),
        ("non-UTF-8", non_utf8),
        (
            "duplicate field",
            with(r#""cdas":{"em":["secret.person@example.com"],"em":["other.person@example.org"],"ct":["Gruenwaldshausen"]}}"#),
        ),
        (
            "truncated last line",
            with(r#""cdas":{"em":["secret.person@example.com"],"street":["742 Evergreen Ter"#),
        ),
    ]
}

/// The first personal value found in `text` as a whole token (not inside a
/// longer run of letters or digits), case-insensitively.
fn find_pii(text: &str) -> Option<&'static str> {
    let text = text.to_lowercase();
    PII.iter().copied().find(|v| {
        let v = v.to_lowercase();
        text.match_indices(v.as_str()).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + v.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

fn assert_clean(what: &str, text: &str) {
    if let Some(v) = find_pii(text) {
        panic!("personal value {v:?} found in {what}:\n{text}");
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs `conversions` on `input` with metrics to files and debug logs.
fn run(dir: &Path, input: &[u8], extra: &[&str]) -> Output {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/events.ndjson"), input).unwrap();
    bin()
        .current_dir(dir)
        .env("RUST_LOG", "debug")
        .args([
            "--dataflow",
            "conversions",
            "-w",
            "2",
            "-q",
            "--metrics-dir",
            "metrics",
        ])
        .args(extra)
        .arg("in/events.ndjson")
        .output()
        .unwrap()
}

/// Searches stdout, stderr (debug logs included) and every metrics file.
fn assert_nothing_leaks(dir: &Path, out: &Output) -> Vec<serde_json::Value> {
    assert_clean("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_clean("stderr", &String::from_utf8_lossy(&out.stderr));
    let metrics = files(&dir.join("metrics"));
    assert!(!metrics.is_empty(), "metrics were written to files");
    let mut runs = Vec::new();
    for f in &metrics {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        assert_clean(&f.display().to_string(), &text);
        if f.ends_with("pipeline_runs.ndjson") {
            runs.extend(read_ndjson(f));
        }
    }
    assert!(!runs.is_empty(), "a pipeline_runs row was written");
    runs
}

#[test]
fn errors_in_fail_mode_never_quote_personal_data() {
    for (class, bad) in bad_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut input = format!("{GOOD}\n").into_bytes();
        input.extend_from_slice(&bad);
        if class != "truncated last line" {
            input.push(b'\n');
        }
        let raw = String::from_utf8_lossy(&input).into_owned();
        assert!(
            find_pii(&raw).is_some(),
            "{class}: the search finds the input's values"
        );
        let out = run(dir.path(), &input, &[]);
        assert!(!out.status.success(), "{class}: bad input was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("in/events.ndjson:2: "),
            "{class}: the error names file and line:\n{stderr}"
        );
        let runs = assert_nothing_leaks(dir.path(), &out);
        let error = runs[0]["error"].as_str().unwrap();
        assert!(
            error.contains("in/events.ndjson:2: "),
            "{class}: pipeline_runs.error holds the error: {error}"
        );
    }
}

#[test]
fn a_type_error_names_the_field_path_and_the_types() {
    let dir = tempfile::tempdir().unwrap();
    let bad = &bad_records()[1].1;
    let out = run(dir.path(), bad, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("field cdas.em: expected a sequence, found a string"),
        "{stderr}"
    );
}

#[test]
fn skip_mode_keeps_raw_records_only_in_a_0600_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let records = bad_records();
    let mut input = Vec::new();
    for (i, (_, bad)) in records.iter().enumerate() {
        input.extend_from_slice(GOOD.replace("g1", &format!("g{i}")).as_bytes());
        input.push(b'\n');
        input.extend_from_slice(bad);
        input.push(b'\n');
    }
    input.pop(); // the last record stays truncated
    std::fs::create_dir_all(dir.path().join("dl")).unwrap();
    let out = run(
        dir.path(),
        &input,
        &["--on-error", "skip", "--dead-letter", "dl/dead.ndjson"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_nothing_leaks(dir.path(), &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let n = records.len();
    assert!(
        stdout.contains(&format!(
            "{n} bad records skipped → dl/dead.ndjson (holds raw input, mode 0600)"
        )),
        "the summary says where the raw records are:\n{stdout}"
    );
    // The dead-letter file's neighbours: nothing else, no temporary file left.
    let dl = dir.path().join("dl");
    for f in files(&dl) {
        assert_eq!(
            f,
            dl.join("dead.ndjson"),
            "an unexpected file beside the dead letters"
        );
    }
    let dead = dl.join("dead.ndjson");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dead).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the dead-letter file is private");
    }
    let letters = read_ndjson(&dead);
    assert_eq!(letters.len(), n);
    for d in &letters {
        let record = d["record"].as_str().unwrap();
        assert!(find_pii(record).is_some(), "the raw record is kept: {d}");
        assert_clean("a dead letter's error", d["error"].as_str().unwrap());
        assert_eq!(d["file"], "in/events.ndjson");
    }
    let lines: Vec<u64> = letters
        .iter()
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=n as u64).map(|i| 2 * i).collect::<Vec<_>>());
}

/// A failed run leaves an older dead-letter file as it was and no temporary
/// file; a good run replaces it, private, whatever the older one's mode.
#[test]
fn the_dead_letter_file_is_replaced_only_by_a_successful_run() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    std::fs::write(&dead, "older\n").unwrap();
    // An array that never closes fails even in skip mode, after a bad
    // element was already written.
    let broken = format!("[{GOOD},\n{{\"eid\": nope}},\n{GOOD},\n{GOOD}");
    let out = run(
        dir.path(),
        broken.as_bytes(),
        &["--on-error", "skip", "--dead-letter", "dead.ndjson"],
    );
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&dead).unwrap(), "older\n");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".dead.ndjson")),
        "a temporary file was left: {names:?}"
    );

    let fixed = format!("[{GOOD},\n{{\"eid\": nope}},\n{GOOD}]\n");
    let out = run(
        dir.path(),
        fixed.as_bytes(),
        &["--on-error", "skip", "--dead-letter", "dead.ndjson"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let letters = read_ndjson(&dead);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["line"], 2);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dead).unwrap().permissions().mode() & 0o777,
        0o600
    );
}
