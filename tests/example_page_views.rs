//! `examples/page_views.rs` — a pipeline written outside the crate with the
//! public API only — run as a user runs it, its output, aggregates and own
//! table checked against plain loops over the same file.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::cli::{read_ndjson, repo};

/// `cargo test` builds the examples beside the test binaries.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("page_views")
}

fn normalise(page: &str) -> String {
    let path = page.split(['?', '#']).next().unwrap().trim_end_matches('/');
    if path.is_empty() {
        "/".into()
    } else {
        path.to_lowercase()
    }
}

#[test]
fn a_pipeline_written_outside_the_crate_runs_with_the_whole_cli() {
    let input = repo().join("testdata/page_views.ndjson");
    // The reference: the same rules as plain loops.
    let mut by_page: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    let mut slow: Vec<(String, u64)> = Vec::new();
    for v in read_ndjson(&input) {
        if v["agent"].as_str().unwrap().to_lowercase().contains("bot") {
            continue;
        }
        let page = normalise(v["page"].as_str().unwrap());
        let ms = v["ms"].as_u64().unwrap().min(60_000);
        let e = by_page
            .entry(page.clone())
            .or_insert((0, 0, i64::MAX, i64::MIN));
        e.0 += 1;
        e.1 += ms as i64;
        e.2 = e.2.min(ms as i64);
        e.3 = e.3.max(ms as i64);
        if ms >= 1000 {
            slow.push((page, ms));
        }
    }
    slow.sort();
    assert!(!slow.is_empty() && by_page.len() > 3);

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example())
        .current_dir(dir.path())
        .arg(&input)
        .args([
            "-w",
            "2",
            "--batch-size",
            "64",
            "--output",
            "out.ndjson",
            "--metrics-dir",
            "m",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", example().display()));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("page_views — run "), "{stdout}");
    // The custom stage is metered like the others.
    let custom = stdout
        .lines()
        .find(|l| l.starts_with("cap_load_time"))
        .unwrap();
    let cols: Vec<&str> = custom.split_whitespace().collect();
    assert_eq!(cols[1], "custom", "{custom}");
    let kept: u64 = by_page.values().map(|a| a.0 as u64).sum();
    assert_eq!(
        (cols[2], cols[3]),
        (kept.to_string().as_str(), kept.to_string().as_str())
    );

    // --output: the slow views.
    let mut output: Vec<(String, u64)> = read_ndjson(&dir.path().join("out.ndjson"))
        .iter()
        .map(|v| {
            (
                v["page"].as_str().unwrap().to_string(),
                v["ms"].as_u64().unwrap(),
            )
        })
        .collect();
    output.sort();
    assert_eq!(output, slow);

    // Its own table, beside the metric tables, one row per slow view.
    let run = std::fs::read_dir(dir.path().join("m"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let rows = read_ndjson(&run.join("slow_page_views.ndjson"));
    let mut table: Vec<(String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["page"].as_str().unwrap().to_string(),
                r["ms"].as_u64().unwrap(),
            )
        })
        .collect();
    table.sort();
    assert_eq!(table, slow);
    for r in &rows {
        assert_eq!(r["dataflow"], "page_views");
        assert_eq!(r["stage_path"], "slow_page_views");
        assert!(r["insert_id"].as_str().is_some_and(|s| !s.is_empty()));
    }

    // aggregate_by_key: each page's final value equals the reference.
    let mut last: BTreeMap<String, (u64, Value)> = BTreeMap::new();
    for r in read_ndjson(&run.join("pipeline_aggregates.ndjson")) {
        let key: String = serde_json::from_str(r["key"].as_str().unwrap()).unwrap();
        let batch = r["batch_id"].as_u64().unwrap();
        if last.get(&key).is_none_or(|(b, _)| *b <= batch) {
            last.insert(key, (batch, r));
        }
    }
    let finals: BTreeMap<String, (i64, i64, i64, i64)> = last
        .into_iter()
        .map(|(k, (_, r))| {
            let n = |f: &str| r[f].as_i64().unwrap();
            (k, (n("count"), n("sum"), n("min"), n("max")))
        })
        .collect();
    assert_eq!(finals, by_page);
}
