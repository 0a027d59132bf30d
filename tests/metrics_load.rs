//! Offline runs reach ClickHouse later: `metrics load RUN_DIR` ships a
//! file-only run's rows exactly once, `schema` prints DDL that creates every
//! table on a fresh server (18.16 through `clickhouse-client --multiquery`,
//! as the README says, and current ClickHouse), and `metrics replay` given a
//! run's directory says it is not a spool instead of delivering nothing.
//!
//! One private ClickHouse 18.16 for the whole file: a single test drives it.

mod support;

#[allow(dead_code)]
#[path = "shipped_sql/chdb.rs"]
mod chdb;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::cli::{bin, repo, run_cluster, run_in, run_ok};
use support::clickhouse::ClickHouseServer;

/// The run directories under `root/metrics` (one per run; not the spool).
fn run_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("metrics"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().unwrap() != "spool")
        .collect();
    dirs.sort();
    dirs
}

/// Lines per table in a run directory, `.p<i>` files summed, and the run id.
fn file_lines(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".ndjson") else {
            continue;
        };
        let table = match stem.rsplit_once(".p") {
            Some((t, i)) if i.parse::<u32>().is_ok() => t.to_string(),
            _ => stem.to_string(),
        };
        let text = std::fs::read_to_string(e.path()).unwrap();
        *out.entry(table).or_default() +=
            text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    }
    out
}

fn counts(
    ch: &ClickHouseServer,
    db: &str,
    run_id: &str,
    tables: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    tables
        .keys()
        .map(|t| {
            let n = ch.query_u64(&format!(
                "SELECT count() FROM {db}.{t} WHERE run_id = '{run_id}'"
            ));
            (t.clone(), n)
        })
        .collect()
}

fn load(dir: &Path, url: &str, db: &str) -> std::process::Output {
    bin()
        .args(["metrics", "load"])
        .arg(dir)
        .args(["--clickhouse-url", url, "--database", db])
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `mable-pipeline schema --database DB`, run with clickhouse-client
/// --multiquery against `ch` (the README's recipe).
fn schema_through_client(ch: &ClickHouseServer, db: &str) {
    let schema = run_ok(&repo(), &["schema", "--database", db]);
    let mut client = Command::new("clickhouse-client")
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &ch.tcp_port.to_string(),
            "--multiquery",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run clickhouse-client");
    client
        .stdin
        .take()
        .unwrap()
        .write_all(schema.as_bytes())
        .unwrap();
    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "clickhouse-client refused `schema`: {}",
        text(&out)
    );
}

/// The tables schema.sql creates, by name.
fn schema_tables() -> Vec<String> {
    let sql = std::fs::read_to_string(repo().join("ops/clickhouse/schema.sql")).unwrap();
    let mut t: Vec<String> = sql
        .lines()
        .filter_map(|l| l.strip_prefix("CREATE TABLE IF NOT EXISTS {db}."))
        .map(|r| r.split([' ', '(']).next().unwrap().to_string())
        .collect();
    t.sort();
    t
}

#[test]
fn a_file_only_run_loads_exactly_once_and_schema_creates_every_table_on_18_16() {
    let ch = ClickHouseServer::start();
    let url = ch.http_url();
    let work = tempfile::tempdir().unwrap();

    // `schema` on a fresh server, as the README's recipe runs it.
    let bad = run_in(work.path(), &["schema", "--database", "no;such"]);
    assert!(
        !bad.status.success(),
        "an invalid database name: {}",
        text(&bad)
    );
    schema_through_client(&ch, "fresh");
    schema_through_client(&ch, "fresh"); // idempotent
    let made: Vec<String> = ch
        .query("SELECT name FROM system.tables WHERE database = 'fresh' ORDER BY name")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(made, schema_tables());

    // Two file-only runs: one with a dataflow's own table (conversions), one
    // a two-process cluster (`<table>.p<i>.ndjson`).
    let events = repo().join("testdata/mable_events_full.ndjson");
    let one = work.path().join("one");
    std::fs::create_dir(&one).unwrap();
    run_ok(
        &one,
        &[
            "--dataflow",
            "conversions",
            "-w",
            "2",
            "--batch-size",
            "16",
            "-q",
            events.to_str().unwrap(),
        ],
    );
    let two = work.path().join("two");
    std::fs::create_dir(&two).unwrap();
    for out in run_cluster(
        &two,
        2,
        &["--dataflow", "int", "--size", "10000", "-w", "2", "-q"],
    ) {
        assert!(out.status.success(), "cluster run: {}", text(&out));
    }
    let dirs: Vec<PathBuf> = run_dirs(&one).into_iter().chain(run_dirs(&two)).collect();
    assert_eq!(dirs.len(), 2);
    // A file no table of this binary matches is named, not loaded.
    std::fs::write(dirs[0].join("mystery.ndjson"), "{\"a\":1}\n").unwrap();

    // Replay is for spools: a run's directory is refused with the way out.
    let replay = bin()
        .args(["metrics", "replay"])
        .arg(&dirs[0])
        .args(["--clickhouse-url", &url])
        .output()
        .unwrap();
    let said = text(&replay);
    assert!(
        !replay.status.success(),
        "replay of a run directory: {said}"
    );
    assert!(
        said.contains("not a spool") && said.contains("metrics load"),
        "{said}"
    );

    // Exact counts: no merge may collapse a duplicate before it is counted.
    ch.query("SYSTEM STOP MERGES");
    for dir in &dirs {
        let run_id = dir.file_name().unwrap().to_str().unwrap();
        let lines = file_lines(dir);
        assert!(lines.len() >= 5, "{lines:?}");
        if dir == &dirs[0] {
            assert!(lines["conversions"] > 0, "{lines:?}");
        }
        let mut expected = lines.clone();
        expected.remove("mystery");
        let first = load(dir, &url, "mable");
        let said = text(&first);
        assert!(first.status.success(), "metrics load: {said}");
        if dir == &dirs[0] {
            assert!(
                said.contains("skipped") && said.contains("mystery.ndjson"),
                "{said}"
            );
        }
        assert_eq!(
            counts(&ch, "mable", run_id, &expected),
            expected,
            "after one load: {said}"
        );
        let total: u64 = expected.values().sum();
        assert!(
            said.contains(&format!("{total} rows delivered, 0 already there")),
            "{said}"
        );

        let again = load(dir, &url, "mable");
        let said = text(&again);
        assert!(again.status.success(), "metrics load again: {said}");
        assert!(
            said.contains(&format!("0 rows delivered, {total} already there")),
            "{said}"
        );
        assert_eq!(
            counts(&ch, "mable", run_id, &expected),
            expected,
            "after two loads: {said}"
        );
    }
    ch.query("SYSTEM START MERGES");
}

/// Current ClickHouse takes `schema`'s statements too (chdb-core, one
/// statement at a time as the HTTP interface would).
#[test]
fn schema_creates_every_table_on_current_clickhouse() {
    let current = chdb::Chdb::start();
    let schema = run_ok(&repo(), &["schema", "--database", "fresh"]);
    let code: String = schema
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for _ in 0..2 {
        for sql in code.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            current
                .try_query(sql)
                .unwrap_or_else(|e| panic!("current ClickHouse refused:\n{sql}\n{e}"));
        }
    }
    let made: Vec<String> = current
        .try_query("SELECT name FROM system.tables WHERE database = 'fresh' ORDER BY name")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(made, schema_tables());
}
