//! Metric delivery under injected faults, end to end: the real binary, real
//! ClickHouse 18.16 servers killed and restarted, concurrent replays, a full
//! disk. Every check compares the summary's counts with what is really there
//! (`count()` with and without `FINAL`, lines in files), over several trials
//! where a race could make a single pass luck.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::clickhouse::ClickHouseServer;

/// The summary's last line: `metrics → …: P rows produced, D delivered, S spooled, F failed, X dropped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delivery {
    produced: u64,
    delivered: u64,
    spooled: u64,
    failed: u64,
    dropped: u64,
}

fn delivery(summary: &str) -> Delivery {
    let line = summary
        .lines()
        .find(|l| l.starts_with("metrics →"))
        .unwrap_or_else(|| panic!("no delivery line in:\n{summary}"));
    let tail = &line[line.rfind(": ").unwrap() + 2..];
    let n: Vec<u64> = tail
        .split(", ")
        .map(|part| part.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    Delivery {
        produced: n[0],
        delivered: n[1],
        spooled: n[2],
        failed: n[3],
        dropped: n[4],
    }
}

fn run_id(summary: &str) -> String {
    let line = summary.lines().next().unwrap_or_default();
    let at = line.find("run ").expect("summary names the run") + 4;
    line[at..].split([',', ' ']).next().unwrap().to_string()
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `(count(), count() FINAL)` per table for `run` in `db`: every table the
/// sink made there (the metric tables at connect, a dataflow's own on its
/// first rows).
fn counts(ch: &ClickHouseServer, db: &str, run: &str) -> BTreeMap<String, (u64, u64)> {
    let tables = ch.query(&format!(
        "SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name"
    ));
    tables
        .lines()
        .map(|t| {
            let q = |fin: &str| {
                ch.query_u64(&format!(
                    "SELECT count() FROM {db}.{t} {fin} WHERE run_id = '{run}'"
                ))
            };
            (t.to_string(), (q(""), q("FINAL")))
        })
        .collect()
}

fn total(c: &BTreeMap<String, (u64, u64)>) -> (u64, u64) {
    c.values().fold((0, 0), |(a, b), (x, y)| (a + x, b + y))
}

fn replay(spool: &Path, url: &str, db: &str) -> Command {
    let mut c = support::cli::bin();
    c.args([
        "metrics",
        "replay",
        spool.to_str().unwrap(),
        "--clickhouse-url",
        url,
        "--database",
        db,
    ]);
    c
}

fn spawn_run(dir: &Path, args: &[&str]) -> Child {
    support::cli::bin()
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mable-pipeline")
}

fn spool_files(spool: &Path) -> usize {
    std::fs::read_dir(spool).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".chunk.json"))
            .count()
    })
}

/// Waits (bounded) until the run's first rows are in ClickHouse.
fn wait_for_rows(ch: &ClickHouseServer, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while ch
        .try_query("SELECT count() FROM mable.pipeline_metrics")
        .map_or(true, |c| c.trim() == "0")
    {
        assert!(Instant::now() < deadline, "no rows arrived");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `int` dataflow has five stages; with one record per batch every
/// worker still reports every stage of every batch.
const STAGES: u64 = 5;
const WORKERS: u64 = 2;

/// A run of `batches` one-record batches: its expected rows per table.
fn expect_int_run(c: &BTreeMap<String, (u64, u64)>, batches: u64) {
    assert_eq!(c["pipeline_metrics"].0, batches * STAGES * WORKERS, "{c:?}");
    assert_eq!(c["pipeline_batches"].0, batches, "{c:?}");
    assert_eq!(c["pipeline_runs"].0, 1, "{c:?}");
}

/// The run's own row: its counts are of every other row, and add up.
fn check_runs_row(ch: &ClickHouseServer, db: &str, run: &str, d: Delivery) -> [u64; 5] {
    let row = ch.query(&format!(
        "SELECT metric_rows_produced, metric_rows_delivered, metric_rows_spooled, metric_rows_failed, metric_rows_dropped \
         FROM {db}.pipeline_runs FINAL WHERE run_id = '{run}'"
    ));
    let v: Vec<u64> = row.split_whitespace().map(|x| x.parse().unwrap()).collect();
    let v: [u64; 5] = v
        .try_into()
        .unwrap_or_else(|_| panic!("one runs row: {row:?}"));
    assert_eq!(
        v[0],
        d.produced - 1,
        "the runs row counts every row but itself"
    );
    assert_eq!(
        v[0],
        v[1] + v[2] + v[3] + v[4],
        "the runs row's counts add up: {v:?}"
    );
    v
}

/// A slow or absent sink never makes the run drop rows: ClickHouse is
/// SIGKILLed for 2.5 s in the middle of a run of 200,000 one-record batches
/// (about 2.3 M rows); afterwards every row is in ClickHouse or the spool,
/// the summary says so, and after a replay every table holds exactly the
/// rows produced — with and without FINAL.
#[test]
fn an_outage_mid_run_drops_nothing_and_every_row_lands_once() {
    for trial in 0..5 {
        let mut ch = ClickHouseServer::start();
        let dir = tempfile::tempdir().unwrap();
        let url = ch.http_url();
        let mut child = spawn_run(
            dir.path(),
            &[
                "--dataflow",
                "int",
                "--size",
                "200000",
                "--batch-size",
                "1",
                "-w",
                "2",
                "-q",
                "--clickhouse-url",
                &url,
            ],
        );
        wait_for_rows(&ch, &mut child);
        ch.kill();
        std::thread::sleep(Duration::from_millis(2500));
        let running_at_restart = child.try_wait().unwrap().is_none();
        ch.restart();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "trial {trial}: {}", text(&out));
        let summary = String::from_utf8_lossy(&out.stdout).to_string();
        let d = delivery(&summary);
        let run = run_id(&summary);
        eprintln!("trial {trial}: {d:?}; run still going at restart: {running_at_restart}");
        assert_eq!(
            (d.dropped, d.failed),
            (0, 0),
            "trial {trial}: {}",
            text(&out)
        );
        assert_eq!(d.produced, d.delivered + d.spooled, "trial {trial}");

        let spool = dir.path().join("metrics/spool");
        let before = total(&counts(&ch, "mable", &run)).0;
        assert!(
            before >= d.delivered && before <= d.produced,
            "trial {trial}: {before} rows in ClickHouse, {d:?}"
        );
        if d.spooled > 0 || spool_files(&spool) > 0 {
            let r = replay(&spool, &url, "mable").output().unwrap();
            assert!(r.status.success(), "trial {trial}: {}", text(&r));
        }
        assert_eq!(spool_files(&spool), 0);
        let c = counts(&ch, "mable", &run);
        assert_eq!(total(&c), (d.produced, d.produced), "trial {trial}: {c:?}");
        expect_int_run(&c, 200_000);
        let row = check_runs_row(&ch, "mable", &run, d);
        assert_eq!(row[3] + row[4], 0, "trial {trial}: {row:?}");
    }
}

/// A run whose server is unreachable spools everything: the spool the
/// concurrent-replay trials start from.
fn spooled_run(dir: &Path) -> (Delivery, String, PathBuf) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = support::cli::bin()
        .current_dir(dir)
        .args([
            "--dataflow",
            "int",
            "--size",
            "20000",
            "--batch-size",
            "1",
            "-w",
            "2",
            "-q",
            "--clickhouse-url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let d = delivery(&summary);
    assert_eq!((d.delivered, d.spooled), (0, d.produced), "{d:?}");
    (d, run_id(&summary), dir.join("metrics/spool"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Two `metrics replay`s on one spool at the same moment: each chunk lands
/// once, and neither reports a chunk the other took as corrupt or fails.
#[test]
fn two_replays_at_once_never_insert_a_chunk_twice() {
    let ch = ClickHouseServer::start();
    let url = ch.http_url();
    let dir = tempfile::tempdir().unwrap();
    let (d, run, spool) = spooled_run(dir.path());
    let chunks = spool_files(&spool);
    assert!(chunks >= 20, "{chunks} chunks: too few to race over");
    for trial in 0..6 {
        let db = format!("race{trial}");
        // Both connect first (creating the schema), then race on the chunks.
        ch.query(&format!("CREATE DATABASE {db}"));
        let copy = dir.path().join(format!("spool{trial}"));
        copy_dir(&spool, &copy);
        let racers: Vec<Child> = (0..2)
            .map(|_| {
                replay(&copy, &url, &db)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for r in racers {
            let out = r.wait_with_output().unwrap();
            assert!(out.status.success(), "trial {trial}: {}", text(&out));
            let all = text(&out);
            assert!(
                !all.contains("not a chunk") && !all.contains("cannot read"),
                "{all}"
            );
            eprintln!(
                "trial {trial}: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        assert_eq!(spool_files(&copy), 0, "trial {trial}");
        let c = counts(&ch, &db, &run);
        assert_eq!(total(&c), (d.produced, d.produced), "trial {trial}: {c:?}");
    }
}

/// A replay started while the run is still draining its own spool after an
/// outage: between them every chunk lands exactly once, and neither fails.
#[test]
fn a_run_and_a_replay_never_insert_a_chunk_twice() {
    for trial in 0..5 {
        let mut ch = ClickHouseServer::start();
        let dir = tempfile::tempdir().unwrap();
        let url = ch.http_url();
        let spool = dir.path().join("metrics/spool");
        let mut child = spawn_run(
            dir.path(),
            &[
                "--dataflow",
                "int",
                "--size",
                "200000",
                "--batch-size",
                "1",
                "-w",
                "2",
                "-q",
                "--clickhouse-url",
                &url,
            ],
        );
        wait_for_rows(&ch, &mut child);
        ch.kill();
        std::thread::sleep(Duration::from_millis(2500));
        ch.restart();
        // Replays alongside the run until it ends.
        let mut replays = 0;
        while child.try_wait().unwrap().is_none() {
            if spool_files(&spool) > 0 {
                let r = replay(&spool, &url, "mable").output().unwrap();
                assert!(r.status.success(), "trial {trial}: {}", text(&r));
                replays += 1;
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "trial {trial}: {}", text(&out));
        let summary = String::from_utf8_lossy(&out.stdout).to_string();
        let d = delivery(&summary);
        let run = run_id(&summary);
        eprintln!("trial {trial}: {d:?}, {replays} replays during the run");
        assert_eq!((d.dropped, d.failed), (0, 0), "trial {trial}");
        assert_eq!(d.produced, d.delivered + d.spooled, "trial {trial}");
        if spool_files(&spool) > 0 {
            let r = replay(&spool, &url, "mable").output().unwrap();
            assert!(r.status.success(), "trial {trial}: {}", text(&r));
        }
        let c = counts(&ch, "mable", &run);
        assert_eq!(total(&c), (d.produced, d.produced), "trial {trial}: {c:?}");
        expect_int_run(&c, 200_000);
    }
}

/// `pipeline_runs` says what became of the run's other rows, and its counts
/// add up — also in a deployment whose table predates those columns.
#[test]
fn the_runs_row_counts_every_other_row_also_in_an_older_table() {
    let ch = ClickHouseServer::start();
    let url = ch.http_url();
    // pipeline_runs as the first release created it.
    ch.query("CREATE DATABASE mable");
    ch.query(
        "CREATE TABLE mable.pipeline_runs (run_id String, dataflow String, process_id UInt32, processes UInt32, \
         workers UInt32, batch_size UInt64, batches UInt64, input String, args String, records_in UInt64, \
         records_out UInt64, records_skipped UInt64, started_at DateTime, start_us UInt64, end_us UInt64, \
         elapsed_ms Float64, status String, error String, version String, host String, insert_id String) \
         ENGINE = ReplacingMergeTree(end_us) PARTITION BY toYYYYMM(started_at) ORDER BY (run_id, process_id)",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = support::cli::bin()
        .current_dir(dir.path())
        .args([
            "--dataflow",
            "int",
            "--size",
            "30000",
            "--batch-size",
            "100",
            "-w",
            "2",
            "-q",
            "--clickhouse-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("differ"),
        "the added columns are no difference: {stderr}"
    );
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let d = delivery(&summary);
    assert_eq!(
        (d.delivered, d.spooled, d.failed, d.dropped),
        (d.produced, 0, 0, 0)
    );
    let run = run_id(&summary);
    let c = counts(&ch, "mable", &run);
    assert_eq!(total(&c), (d.produced, d.produced), "{c:?}");
    let row = check_runs_row(&ch, "mable", &run, d);
    assert_eq!(row, [d.produced - 1, d.produced - 1, 0, 0, 0]);

    // With the server away, the rows it names as spooled are the ones replay delivers.
    let dir = tempfile::tempdir().unwrap();
    let (d, run, spool) = spooled_run(dir.path());
    let r = replay(&spool, &url, "mable").output().unwrap();
    assert!(r.status.success(), "{}", text(&r));
    let c = counts(&ch, "mable", &run);
    assert_eq!(total(&c), (d.produced, d.produced), "{c:?}");
    let row = check_runs_row(&ch, "mable", &run, d);
    assert_eq!(row, [d.produced - 1, 0, d.produced - 1, 0, 0]);
}

/// An existing table with another schema is named, with what differs, once
/// and before the run; its rows wait in the spool (nothing is lost, nothing
/// counts as failed) and are delivered by a replay once the table is fixed.
#[test]
fn a_table_with_another_schema_is_named_once_and_its_rows_wait_for_a_fix() {
    let ch = ClickHouseServer::start();
    let url = ch.http_url();
    ch.query("CREATE DATABASE mable");
    ch.query("CREATE TABLE mable.pipeline_batches (run_id String, batch_id String, latency_ms Float64) ENGINE = MergeTree ORDER BY run_id");
    let dir = tempfile::tempdir().unwrap();
    let out = support::cli::bin()
        .current_dir(dir.path())
        .args([
            "--dataflow",
            "int",
            "--size",
            "20000",
            "--batch-size",
            "1000",
            "-w",
            "2",
            "-q",
            "--clickhouse-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert_eq!(
        stderr.matches("mable.pipeline_batches").count(),
        1,
        "said once: {stderr}"
    );
    for what in [
        "missing columns dataflow String, worker_id UInt32",
        "column batch_id is String, expected UInt32",
        "metrics replay",
    ] {
        assert!(stderr.contains(what), "{what} in {stderr}");
    }
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let d = delivery(&summary);
    let run = run_id(&summary);
    assert_eq!((d.spooled, d.failed, d.dropped), (20, 0, 0), "{d:?}");
    assert_eq!(
        ch.query_u64("SELECT count() FROM mable.pipeline_batches"),
        0
    );

    ch.query("DROP TABLE mable.pipeline_batches");
    let r = replay(&dir.path().join("metrics/spool"), &url, "mable")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", text(&r));
    let c = counts(&ch, "mable", &run);
    assert_eq!(total(&c), (d.produced, d.produced), "{c:?}");
    assert_eq!(c["pipeline_batches"], (20, 20));
}

/// Mounts a small tmpfs, and unmounts it however the test ends.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        assert!(
            is_root(),
            "this test mounts a tmpfs to fill a disk: run it as root (CI does)"
        );
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {}", text(&out));
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

/// Metric files on a disk that fills up mid-run: every file ends at its last
/// complete row, the summary's delivered count is exactly the rows in the
/// files, and the error is said once.
#[test]
fn a_full_disk_leaves_whole_rows_and_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("small"), "256k");
    let out = support::cli::bin()
        .current_dir(dir.path())
        .args([
            "--dataflow",
            "int",
            "--size",
            "20000",
            "--batch-size",
            "10",
            "-w",
            "2",
            "-q",
            "--metrics-dir",
        ])
        .arg(&disk.0)
        .output()
        .unwrap();
    let all = text(&out);
    eprintln!("{all}");
    assert!(
        !out.status.success(),
        "rows were lost, so the exit says so: {all}"
    );
    assert_eq!(
        all.matches("No space left on device").count(),
        1,
        "said once: {all}"
    );
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let d = delivery(&summary);
    assert!(d.failed > 0, "{d:?}");
    assert_eq!((d.spooled, d.dropped), (0, 0), "{d:?}");
    assert_eq!(d.produced, d.delivered + d.failed, "{d:?}");

    let run_dir = disk.0.join(run_id(&summary));
    let mut lines = 0;
    for e in std::fs::read_dir(&run_dir).unwrap().flatten() {
        let body = std::fs::read(e.path()).unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        assert!(
            body.is_empty() || body.ends_with(b"\n"),
            "{name} ends in half a row"
        );
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            serde_json::from_slice::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{name}: a line is not a row ({e})"));
            lines += 1;
        }
    }
    assert_eq!(
        lines, d.delivered,
        "the files hold exactly the rows called delivered"
    );
}
