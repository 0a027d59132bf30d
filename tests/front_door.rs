//! The front door: the README's first command runs the real job (one event
//! as a template, cycled to a million), the README's sample summary has the
//! real summary's shape, and the small things a new user trips on.

mod support;

use support::cli::{repo, run_in, run_ok};

/// `line` with every run id (`<digits>-<8 hex>`) replaced by `RUN`.
fn without_run_ids(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let at_word = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if at_word && digits > 0 && b.get(i + digits) == Some(&b'-') {
            let hex = &b[i + digits + 1..];
            let n = hex.iter().take_while(|c| c.is_ascii_hexdigit()).count();
            if n == 8 {
                out.push_str("RUN");
                i += digits + 1 + 8;
                continue;
            }
        }
        let c = line[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// A summary line with run ids replaced by `RUN`, every number by `#`, and
/// runs of spaces collapsed: its shape.
fn shape(line: &str) -> String {
    let line = without_run_ids(line);
    let mut out = String::new();
    let mut in_number = false;
    for c in line.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    let hexless: Vec<String> = out
        .split_whitespace()
        // run ids end in 8 hex digits; reduce values hold free JSON
        .map(|w| {
            if w.contains('-') && w.starts_with('#') {
                "#-id".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    hexless.join(" ")
}

/// The summary block the README pastes under "What a run prints".
fn readme_sample() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme.find("## What a run prints").expect("the section")..];
    let block = &section[section.find("```\n").unwrap() + 4..];
    let block = &block[..block.find("```").unwrap()];
    block.lines().map(String::from).collect()
}

fn significant(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // The verdict's words depend on the machine's timing: keep its label.
            if l.starts_with("verdict: ") {
                return "verdict:".to_string();
            }
            // The reduce line carries a JSON value whose digits vary: keep its head.
            match l.split_once(": {") {
                Some((head, _)) => shape(head),
                None => shape(l),
            }
        })
        .collect()
}

#[test]
fn the_readme_command_runs_a_million_events_and_its_sample_has_the_real_shape() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(readme.contains("cargo run --release -- -w 8 testdata/mable_event.json"));
    let dir = tempfile::tempdir().unwrap();
    let template = repo().join("testdata/mable_event.json");
    let summary = run_ok(dir.path(), &["-w", "8", template.to_str().unwrap()]);
    assert!(
        summary.contains("1000000 records in"),
        "one event cycled to a million: {summary}"
    );
    assert!(summary.contains("(one record, as a template) cycled to 1000000 records"));
    // The README's command names the file relative to the repository.
    let prefix = format!("{}/", repo().display());
    let real: Vec<String> = summary.lines().map(|l| l.replace(&prefix, "")).collect();
    assert_eq!(
        significant(&readme_sample()),
        significant(&real),
        "README sample vs a real run"
    );
}

#[test]
fn a_single_run_of_the_template_and_records_files_mean_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let template = repo().join("testdata/mable_event.json");
    let once = run_ok(
        dir.path(),
        &["-q", "--size", "1", template.to_str().unwrap()],
    );
    assert!(once.contains("1 record in,"), "singular: {once}");
    assert!(once.contains("1 batch of"), "singular: {once}");
    let full = repo().join("testdata/mable_events_full.ndjson");
    let lines = std::fs::read_to_string(&full)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    let out = run_ok(dir.path(), &["-q", full.to_str().unwrap()]);
    assert!(out.contains(&format!("{lines} records in")), "{out}");
}

#[test]
fn threads_is_workers_and_near_miss_commands_are_suggested() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        dir.path(),
        &[
            "--dataflow",
            "int",
            "--size",
            "1000",
            "--threads",
            "3",
            "-q",
        ],
    );
    assert!(out.contains(", 3 workers"), "{out}");
    let miss = run_in(dir.path(), &["lst"]);
    assert!(!miss.status.success());
    let err = String::from_utf8_lossy(&miss.stderr);
    assert!(err.contains("Did you mean the command `list`?"), "{err}");
}

#[test]
fn every_shipped_dataflow_runs_with_no_input_as_list_and_help_say() {
    let dir = tempfile::tempdir().unwrap();
    let list = run_ok(dir.path(), &["list"]);
    let help = run_ok(dir.path(), &["--help"]);
    for name in ["mable_event", "int", "test_struct", "conversions"] {
        let line = list.lines().find(|l| l.starts_with(name)).unwrap();
        assert!(line.contains("can generate its input"), "{line}");
        assert!(help.contains(name), "--help names {name}");
        let out = run_ok(dir.path(), &["--dataflow", name, "--size", "2000", "-q"]);
        assert!(out.contains("2000 records in"), "{name}: {out}");
    }
    let out = run_ok(dir.path(), &["--dataflow", "test_struct", "-q"]);
    assert!(
        out.contains("1000000 records in"),
        "the default size: {out}"
    );
}

#[test]
fn old_runs_are_pruned_to_the_newest_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("metrics/mine")).unwrap();
    let mut last = String::new();
    for _ in 0..4 {
        last = run_ok(
            dir.path(),
            &[
                "--dataflow",
                "int",
                "--size",
                "100",
                "-q",
                "--keep-runs",
                "2",
            ],
        );
    }
    let mut left: Vec<String> = std::fs::read_dir(dir.path().join("metrics"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left.len(),
        3,
        "two runs and the user's own directory: {left:?}"
    );
    assert!(left.contains(&"mine".to_string()));
    // The last run's own directory is among them (runs of one second have
    // random ids, so a run could sort as the oldest and remove itself).
    let at = last.find("files in metrics/").expect("the metrics line") + "files in metrics/".len();
    let id = &last[at..at + 19];
    assert!(
        left.iter().any(|l| l == id),
        "{id} was removed: {left:?}\n{last}"
    );
}

#[test]
fn the_summary_says_what_capturing_metrics_cost_and_only_when_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let template = repo().join("testdata/mable_event.json");
    let template = template.to_str().unwrap();
    let on = run_ok(
        dir.path(),
        &[
            "-w",
            "2",
            "--size",
            "50000",
            "--batch-size",
            "500",
            template,
        ],
    );
    let line = on
        .lines()
        .find(|l| l.starts_with("metrics capture: "))
        .unwrap_or_else(|| panic!("no capture line: {on}"));
    // "metrics capture: X ms of worker time (P % of 2 × E ms): ..."
    let num = |after: &str, upto: &str| -> f64 {
        let at = line.find(after).unwrap() + after.len();
        line[at..at + line[at..].find(upto).unwrap()]
            .parse()
            .unwrap()
    };
    let ms = num("metrics capture: ", " ms");
    let pct = num("(", " %");
    let elapsed = num("of 2 × ", " ms)");
    assert!(ms > 0.0 && ms < 2.0 * elapsed, "{line}");
    // The share is of the workers' time, from the line's own figures: the
    // elapsed time is rounded to a millisecond (±0.5 ms, 2 % of a 25 ms
    // run), the share to a hundredth of a percent.
    let share = |elapsed: f64| ms / (2.0 * elapsed) * 100.0;
    let (low, high) = (
        share(elapsed + 0.5) - 0.005,
        share((elapsed - 0.5).max(0.1)) + 0.005,
    );
    assert!(
        (low..=high).contains(&pct),
        "{pct} % is not within {low:.3}..{high:.3} %: {line}"
    );
    let off = run_ok(
        dir.path(),
        &["-w", "2", "--size", "50000", "--metrics", "off", template],
    );
    assert!(!off.contains("metrics capture"), "{off}");
}
