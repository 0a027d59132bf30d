//! `mable-pipeline bench`: a small run writes a well-formed CSV, and the
//! baselines produce what the engine produces (correctness, not speed).

use std::path::PathBuf;
use std::process::Command;

use mable_pipeline::dataflows::bench::{CSV_HEADER, Job, Workload, engine, fused, rayon};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn bench_writes_the_seed_columns_and_ours() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bench.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_mable-pipeline"))
        .current_dir(root())
        .args([
            "bench",
            "--sizes",
            "10,1000",
            "--workers",
            "1,2",
            "--runs",
            "2",
        ])
        .arg("--output")
        .arg(&csv)
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("BenchmarkMableEventPipeline/fused-loop"),
        "{stdout}"
    );
    // One table (on stdout, nothing repeated on stderr), and its ratio explained.
    let both = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(both.matches("vs fused").count(), 2, "header + note: {both}");
    assert_eq!(
        both.matches("BenchmarkMableEventPipeline/fused-loop")
            .count(),
        4,
        "each configuration once: {both}"
    );
    assert!(stdout.contains("vs fused: the hand-fused loop's time over the engine's"));

    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    let columns: Vec<&str> = CSV_HEADER.split(',').collect();
    assert_eq!(
        &columns[..9],
        [
            "Benchmark",
            "Size",
            "NsPerOp",
            "BytesPerOp",
            "AllocsPerOp",
            "Workers",
            "RecordsPerSec",
            "PeakRssBytes",
            "VsFusedLoop"
        ]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 3 dataflows × 2 sizes × 2 worker counts × 4 variants.
    assert_eq!(rows.len(), 3 * 2 * 2 * 4);
    for r in &rows {
        assert_eq!(r.len(), columns.len(), "{r:?}");
        for (i, cell) in r.iter().enumerate().skip(1) {
            let v: f64 = cell
                .parse()
                .unwrap_or_else(|_| panic!("{} = {cell:?} in {r:?}", columns[i]));
            assert!(v >= 0.0 && v.is_finite(), "{r:?}");
        }
        assert!(r[2].parse::<u64>().unwrap() > 0, "NsPerOp in {r:?}");
        assert!(r[4].parse::<u64>().unwrap() > 0, "AllocsPerOp in {r:?}");
        assert!(
            r[7].parse::<u64>().unwrap() > 1 << 20,
            "PeakRssBytes in {r:?}"
        );
    }
    for go in [
        "BenchmarkPipeline",
        "BenchmarkTestStructPipeline",
        "BenchmarkMableEventPipeline",
    ] {
        for size in ["10", "1000"] {
            for workers in ["1", "2"] {
                let group: Vec<&Vec<&str>> = rows
                    .iter()
                    .filter(|r| {
                        r[0].split('/').next() == Some(go) && r[1] == size && r[5] == workers
                    })
                    .collect();
                let names: Vec<&str> = group.iter().map(|r| r[0]).collect();
                assert_eq!(
                    names,
                    [
                        go.to_string(),
                        format!("{go}/metrics-off"),
                        format!("{go}/fused-loop"),
                        format!("{go}/rayon")
                    ],
                    "{size} {workers}"
                );
                // Every variant sends the same records to collect.
                assert!(group.iter().all(|r| r[9] == group[0][9]), "{group:?}");
                // The fused loop is 1.000× itself.
                assert_eq!(group[2][8], "1.00");
            }
        }
    }
}

#[test]
fn baselines_agree_with_the_engine() {
    for workload in Workload::ALL {
        for size in [0, 10, 1000, 20_000] {
            let job = Job {
                workload,
                size,
                seed: 7,
                template: root().join("testdata/mable_event.json"),
            };
            let reference = engine(&job, 2, None).unwrap();
            assert!(
                reference.records_out > 0 || size < 100,
                "{workload:?} {size}: {reference:?}"
            );
            for threads in [1, 2, 3] {
                let f = fused(&job, threads).unwrap();
                assert!(
                    f.agrees_with(&reference),
                    "fused {workload:?} {size} {threads}: {f:?} vs {reference:?}"
                );
                let r = rayon(&job, threads).unwrap();
                assert!(
                    r.agrees_with(&reference),
                    "rayon {workload:?} {size} {threads}: {r:?} vs {reference:?}"
                );
            }
            let one = engine(&job, 1, None).unwrap();
            assert!(
                one.agrees_with(&reference),
                "{workload:?} {size}: -w 1 {one:?} vs -w 2 {reference:?}"
            );
        }
    }
}

#[test]
fn bench_stream_holds_the_engine_to_the_parsing_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("stream.csv");
    let scratch = dir.path().join("scratch");
    let out = Command::new(env!("CARGO_BIN_EXE_mable-pipeline"))
        .current_dir(root())
        .args(["bench", "--stream", "400", "--workers", "2", "--runs", "1"])
        .arg("--stream-dir")
        .arg(&scratch)
        .arg("--output")
        .arg(&csv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench --stream failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Per file size: the engine with metrics on at -w 2 and off at -w 1, and
    // the three reference parsers, each over all the file's events.
    for records in ["400", "800"] {
        let of = |what: &str| {
            stdout
                .lines()
                .filter(|l| l.trim_start().starts_with(records) && l.ends_with(what))
                .count()
        };
        assert_eq!(of("engine, metrics on"), 1, "{stdout}");
        assert_eq!(of("engine, metrics off"), 1, "{stdout}");
        for parser in ["sonic-rs typed", "serde_json typed", "engine parser"] {
            assert_eq!(of(parser), 1, "{parser}: {stdout}");
            let ratio = format!("{records} records: engine -w 1, metrics off ÷ {parser} = ");
            let line = stdout.lines().find(|l| l.starts_with(&ratio));
            let x: f64 = line
                .and_then(|l| l[ratio.len()..].trim_end_matches('×').parse().ok())
                .unwrap_or_else(|| panic!("no ratio for {parser}: {stdout}"));
            assert!(x > 0.0 && x.is_finite(), "{line:?}");
        }
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(mable_pipeline::dataflows::bench::stream::STREAM_CSV_HEADER)
    );
    let metrics: Vec<&str> = lines.map(|l| l.split(',').nth(3).unwrap()).collect();
    assert_eq!(metrics, ["on", "off", "on", "off"], "{text}");
    assert!(!scratch.exists(), "the scratch file is removed");
}
