//! README's "How much metrics data a run makes", held against real runs:
//! the rows per table (its formula, for several dataflows, worker counts,
//! batch sizes, a file and a two-process cluster), the default batching that
//! keeps `pipeline_metrics` at about S × N / k rows whatever the cluster
//! size, the bytes per row (JSONEachRow files, and ClickHouse 18.16's
//! compressed parts) and the sidecar's chunking (a chunk per table at 5,000
//! rows or 1 s: what each insert is).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use support::cli::{repo, run_cluster, run_ok};
use support::clickhouse::ClickHouseServer;
use support::metric_rows::{self, RunFiles, RunShape};

fn template() -> String {
    repo()
        .join("testdata/mable_event.json")
        .display()
        .to_string()
}

fn full_events() -> String {
    repo()
        .join("testdata/mable_events_full.ndjson")
        .display()
        .to_string()
}

/// One process in a fresh directory under `dir`; its run's files.
fn single(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, RunFiles) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let mut all = args.to_vec();
    all.push("-q");
    run_ok(&d, &all);
    let files = RunFiles::read(&[d.join("metrics")]);
    (d, files)
}

/// B, W and P as the run's own `pipeline_runs` rows say (batches begun,
/// workers, processes), never from the rows being counted.
fn run_shape(files: &RunFiles, every_worker_every_batch: bool) -> RunShape {
    let runs = files.table("pipeline_runs");
    let max = |c: &str| runs.iter().map(|r| r[c].as_u64().unwrap()).max().unwrap();
    let records: u64 = runs.iter().map(|r| r["records_in"].as_u64().unwrap()).sum();
    let batches = max("batches");
    if every_worker_every_batch {
        assert_eq!(
            batches,
            records.div_ceil(max("batch_size")),
            "B = ceil(records / batch size): {runs:?}"
        );
    }
    RunShape {
        batches,
        workers: max("workers"),
        processes: runs.len() as u64,
        every_worker_every_batch,
    }
}

fn check(label: &str, dataflow: &str, output: bool, every: bool, files: &RunFiles) {
    let shape = run_shape(files, every);
    let bad = metric_rows::check(dataflow, output, shape, files);
    assert!(
        bad.is_empty(),
        "{label} ({shape:?}): rows per table disagree with README's formula:\n{}",
        bad.join("\n")
    );
    eprintln!(
        "{label}: B={} W={} P={}: {}",
        shape.batches,
        shape.workers,
        shape.processes,
        files
            .rows
            .iter()
            .map(|(t, r)| format!("{t} {}", r.len()))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn rows_per_table_follow_the_readme_formula() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (t, f) = (template(), full_events());
    let cases: Vec<(&str, &str, Vec<&str>, bool, bool)> = vec![
        (
            "mable_event -w 1",
            "mable_event",
            vec!["-w", "1", "--size", "20000", "--batch-size", "2000", &t],
            false,
            true,
        ),
        (
            "mable_event -w 3 --output",
            "mable_event",
            vec![
                "-w",
                "3",
                "--size",
                "20001",
                "--batch-size",
                "999",
                "--output",
                "out.ndjson",
                &t,
            ],
            true,
            true,
        ),
        (
            "int -w 2",
            "int",
            vec![
                "--dataflow",
                "int",
                "-w",
                "2",
                "--size",
                "20000",
                "--batch-size",
                "1000",
            ],
            false,
            true,
        ),
        (
            "test_struct -w 4",
            "test_struct",
            vec![
                "--dataflow",
                "test_struct",
                "-w",
                "4",
                "--size",
                "10000",
                "--batch-size",
                "700",
            ],
            false,
            true,
        ),
        (
            "conversions, generated, -w 2",
            "conversions",
            vec![
                "--dataflow",
                "conversions",
                "-w",
                "2",
                "--size",
                "20000",
                "--batch-size",
                "1000",
            ],
            false,
            true,
        ),
        (
            "conversions, a file, -w 3",
            "conversions",
            vec![
                "--dataflow",
                "conversions",
                "-w",
                "3",
                "--batch-size",
                "7",
                &f,
            ],
            false,
            false,
        ),
    ];
    for (i, (label, dataflow, args, output, every)) in cases.into_iter().enumerate() {
        let (_, files) = single(d, &format!("case{i}"), &args);
        check(label, dataflow, output, every, &files);
    }
    let cd = d.join("cluster");
    std::fs::create_dir_all(&cd).unwrap();
    for o in run_cluster(
        &cd,
        2,
        &[
            "-q",
            "-w",
            "2",
            "--size",
            "20000",
            "--batch-size",
            "2000",
            &t,
        ],
    ) {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let files = RunFiles::read(&[cd.join("metrics")]);
    check(
        "mable_event, 2 processes × -w 2",
        "mable_event",
        false,
        true,
        &files,
    );
}

/// With the default batch size each worker takes k records of every batch,
/// k fixed by the record size: B × W ≈ N / k, so `pipeline_metrics` is
/// about S × N / k rows however many workers and processes share the run.
#[test]
fn default_batches_keep_metric_rows_at_s_n_over_k_whatever_the_cluster_size() {
    let dir = tempfile::tempdir().unwrap();
    let t = template();
    let n = 1_000_000u64;
    let (_, one) = single(dir.path(), "w2", &["-w", "2", "--size", "1000000", &t]);
    let cd = dir.path().join("cluster");
    std::fs::create_dir_all(&cd).unwrap();
    for o in run_cluster(&cd, 2, &["-q", "-w", "3", "--size", "1000000", &t]) {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let two = RunFiles::read(&[cd.join("metrics")]);
    let mut ks = Vec::new();
    for (label, files) in [("-w 2", &one), ("2 processes × -w 3", &two)] {
        let run = &files.table("pipeline_runs")[0];
        let (batch, workers) = (
            run["batch_size"].as_u64().unwrap(),
            run["workers"].as_u64().unwrap(),
        );
        assert_eq!(batch % workers, 0, "{run}");
        let k = batch / workers;
        ks.push(k);
        let shape = run_shape(files, true);
        let rows = files.count("pipeline_metrics");
        let s = metric_rows::shape("mable_event", false).stages;
        assert_eq!(rows, shape.batches * s * shape.workers);
        // B = ceil(N / (W k)), so N / k ≤ B × W < N / k + W.
        let bw = shape.batches * shape.workers;
        assert!(
            n / k <= bw && bw < n / k + workers + 1,
            "{label}: B × W = {bw}, N / k = {}",
            n / k
        );
        eprintln!(
            "default batches, {label}: k = {k}, B = {}, pipeline_metrics {rows} rows (S × N / k = {})",
            shape.batches,
            s * n / k
        );
    }
    assert_eq!(ks[0], ks[1], "k depends on the record, not on the cluster");
}

/// README's table, `(rows formula, JSON bytes per row, compressed bytes per
/// row or None)` per table.
fn readme_table() -> BTreeMap<String, (String, f64, Option<f64>)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("### How much metrics data a run makes")
        .nth(1)
        .expect("README has a section \"How much metrics data a run makes\"");
    let mut out = BTreeMap::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() != 6 || !cells[1].starts_with('`') {
            continue;
        }
        let table = cells[1].trim_matches('`').to_string();
        // pipeline_runs holds the command line: no fixed size to state.
        let json = cells[3].replace(',', "").parse::<f64>().unwrap_or(f64::NAN);
        let compressed = cells[4].trim_end_matches('*').parse::<f64>().ok();
        out.insert(table, (cells[2].to_string(), json, compressed));
    }
    out
}

/// README's table of dataflow shapes agrees with the one the checks use.
#[test]
fn readme_states_each_dataflows_shape() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("### How much metrics data a run makes")
        .nth(1)
        .unwrap();
    let mut seen = Vec::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() != 8 || !cells[1].starts_with('`') {
            continue;
        }
        let n: Vec<u64> = cells[2..7].iter().filter_map(|c| c.parse().ok()).collect();
        if n.len() != 5 {
            continue;
        }
        for dataflow in cells[1].split(',').map(|d| d.trim().trim_matches('`')) {
            let s = metric_rows::shape(dataflow, false);
            assert_eq!(
                n,
                [s.stages, s.reduces, s.aggregates, s.operators, s.channels],
                "README's S, R, aggregate stages, O, C for {dataflow}"
            );
            seen.push(dataflow.to_string());
        }
    }
    seen.sort();
    assert_eq!(seen, ["conversions", "int", "mable_event", "test_struct"]);
}

/// Measured and stated agree within `tolerance` (a fraction).
fn near(measured: f64, stated: f64, tolerance: f64) -> bool {
    (measured - stated).abs() <= tolerance * stated
}

#[test]
fn bytes_per_row_and_chunks_are_what_readme_says() {
    let dir = tempfile::tempdir().unwrap();
    let (t, f) = (template(), full_events());
    // README's measurement: 1M template events in 1,000-record batches, and
    // 20,000 full events (the test file cycled) through conversions.
    let runs = [
        single(
            dir.path(),
            "events",
            &["-w", "2", "--size", "1000000", "--batch-size", "1000", &t],
        ),
        single(
            dir.path(),
            "conversions",
            &[
                "--dataflow",
                "conversions",
                "-w",
                "2",
                "--size",
                "20000",
                "--batch-size",
                "500",
                &f,
            ],
        ),
    ];

    // Chunks: rows carry their chunk's insert_id; a table gets a chunk when
    // 5,000 rows wait or its oldest row is 1 s old, and once at the end.
    for (_, files) in &runs {
        let elapsed_s = files.table("pipeline_runs")[0]["elapsed_ms"]
            .as_f64()
            .unwrap()
            / 1000.0;
        for (table, rows) in &files.rows {
            let mut chunks: BTreeMap<&str, u64> = BTreeMap::new();
            for r in rows {
                *chunks.entry(r["insert_id"].as_str().unwrap()).or_default() += 1;
            }
            let most = elapsed_s.ceil() as u64 + rows.len() as u64 / 5000 + 2;
            assert!(
                chunks.len() as u64 <= most,
                "{table}: {} chunks in a {elapsed_s:.2} s run of {} rows; at most {most}",
                chunks.len(),
                rows.len()
            );
        }
    }

    // JSONEachRow bytes per row, over both runs.
    let mut rows: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (_, files) in &runs {
        for (table, r) in &files.rows {
            let e = rows.entry(table.clone()).or_default();
            e.0 += r.len() as u64;
            e.1 += files.bytes[table];
        }
    }

    // ClickHouse 18.16: the files loaded as the README says, one insert per
    // file, then the active parts' compressed bytes.
    let server = ClickHouseServer::start();
    let schema = std::fs::read_to_string(repo().join("ops/clickhouse/schema.sql"))
        .unwrap()
        .replace("{db}", "mable");
    let code: String = schema
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for sql in code.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        server.query(sql);
    }
    for (d, _) in &runs {
        for run in std::fs::read_dir(d.join("metrics")).unwrap().flatten() {
            for file in std::fs::read_dir(run.path()).unwrap().flatten() {
                let name = file.file_name().to_string_lossy().to_string();
                // Tables only: the run directory also holds report.html.
                if !name.ends_with(".ndjson") {
                    continue;
                }
                let table = name.split('.').next().unwrap();
                let data = std::fs::read_to_string(file.path()).unwrap();
                server.query(&format!(
                    "INSERT INTO mable.{table} FORMAT JSONEachRow\n{data}"
                ));
            }
        }
    }
    let parts = server.query(
        "SELECT table, sum(rows), sum(data_compressed_bytes) FROM system.parts \
         WHERE active AND database = 'mable' GROUP BY table ORDER BY table",
    );
    let mut compressed: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in parts.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        compressed.insert(
            c[0].to_string(),
            (c[1].parse().unwrap(), c[2].parse().unwrap()),
        );
    }

    let readme = readme_table();
    let mut report = Vec::new();
    let mut bad = Vec::new();
    for (table, (n, bytes)) in &rows {
        let json = *bytes as f64 / *n as f64;
        let (ch_rows, ch_bytes) = compressed[table];
        assert_eq!(ch_rows, *n, "{table}: every row loaded");
        let ch = ch_bytes as f64 / ch_rows as f64;
        report.push(format!(
            "{table}: {n} rows, {json:.0} bytes/row as JSONEachRow, {ch:.1} compressed in 18.16"
        ));
        let Some((_, stated_json, stated_ch)) = readme.get(table) else {
            bad.push(format!("README's table has no row for {table}"));
            continue;
        };
        if table != "pipeline_runs" && !near(json, *stated_json, 0.2) {
            bad.push(format!(
                "{table}: README says {stated_json} JSON bytes/row, measured {json:.0}"
            ));
        }
        match stated_ch {
            // Only tables with enough rows for a stable figure state one.
            Some(s) if !near(ch, *s, 0.35) => bad.push(format!(
                "{table}: README says {s} compressed bytes/row, measured {ch:.1}"
            )),
            None if *n >= 1000 && table != "pipeline_runs" => bad.push(format!(
                "{table}: {n} rows measured: README should state its compressed bytes/row ({ch:.1})"
            )),
            _ => {}
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let formulas: BTreeMap<&str, &str> = [
        ("pipeline_metrics", "B × S × W"),
        ("pipeline_batches", "B"),
        ("pipeline_reductions", "B × R"),
        ("pipeline_operators", "O × W"),
        ("pipeline_channels", "C × W"),
        ("pipeline_runs", "P"),
    ]
    .into();
    for (table, formula) in formulas {
        let stated = readme.get(table).map(|r| r.0.as_str()).unwrap_or("");
        assert!(
            stated.contains(formula),
            "README's row for {table} should give {formula} (the formula tests/support/metric_rows.rs checks): {stated:?}"
        );
    }
}
