//! Metrics end to end: the real binary ships to a real (private) ClickHouse,
//! and what lands matches the run's summary, the dataflow's logic and
//! timely's graph — across processes, server crashes and bad credentials.

mod support;

use std::process::Command;

use support::cli::{repo, run_cluster, run_in, run_ok};
use support::clickhouse::ClickHouseServer;

fn template() -> String {
    repo()
        .join("testdata/mable_event.json")
        .display()
        .to_string()
}

/// The run id printed in the summary's first line.
fn run_id(summary: &str) -> String {
    let line = summary.lines().next().unwrap_or_default();
    let at = line.find("run ").expect("summary names the run") + 4;
    line[at..].split([',', ' ']).next().unwrap().to_string()
}

/// `(in, out)` of each stage row of the summary table.
fn summary_stages(summary: &str) -> Vec<(String, u64, u64)> {
    summary
        .lines()
        .skip_while(|l| !l.starts_with("stage "))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

fn produced(summary: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.starts_with("metrics →"))
        .expect("delivery line");
    let at = line.find(": ").unwrap() + 2;
    line[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

const TABLES: [&str; 9] = [
    "pipeline_metrics",
    "pipeline_runs",
    "pipeline_operators",
    "pipeline_channels",
    "pipeline_batches",
    "pipeline_reductions",
    "pipeline_aggregates",
    "pipeline_arrangements",
    "pipeline_spans",
];

fn rows_of_run(ch: &ClickHouseServer, run: &str) -> u64 {
    TABLES
        .iter()
        .map(|t| {
            ch.query_u64(&format!(
                "SELECT count() FROM mable.{t} WHERE run_id = '{run}'"
            ))
        })
        .sum()
}

#[test]
fn metrics_match_the_summary_the_logic_and_the_graph() {
    let ch = ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = ch.http_url();
    let summary = run_ok(
        dir.path(),
        &[
            "--size",
            "20000",
            "-w",
            "2",
            "--batch-size",
            "2000",
            "-q",
            "--clickhouse-url",
            &url,
            &template(),
        ],
    );
    let run = run_id(&summary);
    // No report for a ClickHouse run, and the summary says so.
    assert!(
        summary.contains("report: none — the metrics went to ClickHouse")
            && !summary.contains("report →"),
        "{summary}"
    );
    let q = |sql: &str| ch.query(&sql.replace("RUN", &run));
    let n = |sql: &str| ch.query_u64(&sql.replace("RUN", &run));

    // Per stage, ClickHouse's sums are the summary's numbers.
    let stages = summary_stages(&summary);
    assert_eq!(stages.len(), 5, "{summary}");
    for (path, input, output) in &stages {
        let got = q(&format!(
            "SELECT sum(input_count), sum(output_count) FROM mable.pipeline_metrics WHERE run_id = 'RUN' AND stage_path = '{path}'"
        ));
        assert_eq!(got.trim(), format!("{input}\t{output}"), "stage {path}");
    }
    // ... and the dataflow's logic: stamp keeps all, audit_copy doubles, the rest flows on.
    let st = |p: &str| stages.iter().find(|s| s.0 == p).unwrap().clone();
    assert_eq!((st("stamp").1, st("stamp").2), (20000, 20000));
    assert_eq!((st("audit_copy").1, st("audit_copy").2), (20000, 40000));
    assert_eq!(st("price_over_500").1, 40000);
    assert_eq!(st("max_price").1, st("price_over_500").2);

    // Every batch has exactly one row per stage and worker; worker ids are real.
    assert_eq!(
        n("SELECT uniqExact(batch_id) FROM mable.pipeline_metrics WHERE run_id = 'RUN'"),
        10
    );
    assert_eq!(
        n("SELECT count() FROM mable.pipeline_metrics WHERE run_id = 'RUN'"),
        10 * 5 * 2
    );
    assert_eq!(
        n("SELECT uniqExact(worker_id) FROM mable.pipeline_metrics WHERE run_id = 'RUN'"),
        2
    );
    assert!(
        n(
            "SELECT countIf(duration_ms > 0 AND duration_ms < 1) FROM mable.pipeline_metrics WHERE run_id = 'RUN'"
        ) > 0,
        "sub-millisecond durations survive"
    );

    // One latency row per batch, holding all of the batch's records.
    assert_eq!(
        n("SELECT count() FROM mable.pipeline_batches WHERE run_id = 'RUN'"),
        10
    );
    assert_eq!(
        n("SELECT uniqExact(batch_id) FROM mable.pipeline_batches WHERE run_id = 'RUN'"),
        10
    );
    assert_eq!(
        n("SELECT sum(records_in) FROM mable.pipeline_batches WHERE run_id = 'RUN'"),
        20000
    );
    assert_eq!(
        n(
            "SELECT countIf(completed_us < entered_us) FROM mable.pipeline_batches WHERE run_id = 'RUN'"
        ),
        0
    );

    // The run row.
    assert_eq!(
        q("SELECT status, records_in, workers FROM mable.pipeline_runs WHERE run_id = 'RUN'")
            .trim(),
        "ok\t20000\t2"
    );

    // The operator graph: every stage is a named operator on every worker, timely's
    // own operators are there too, and every channel joins two known operators.
    for (path, _, _) in &stages {
        assert_eq!(
            n(&format!(
                "SELECT count() FROM mable.pipeline_operators WHERE run_id = 'RUN' AND stage_path = '{path}' AND name = '{path}'"
            )),
            2,
            "stage {path} on both workers"
        );
    }
    assert!(
        n(
            "SELECT count() FROM mable.pipeline_operators WHERE run_id = 'RUN' AND stage_path = '' AND name IN ('Input', 'Probe')"
        ) >= 2
    );
    assert!(n("SELECT sum(activations) FROM mable.pipeline_operators WHERE run_id = 'RUN'") > 0);
    assert_eq!(
        n(
            "SELECT count() FROM mable.pipeline_channels AS c WHERE run_id = 'RUN' AND (source_operator_id, worker_id) NOT IN \
           (SELECT operator_id, worker_id FROM mable.pipeline_operators WHERE run_id = 'RUN')"
        ),
        0,
        "channels start at known operators"
    );
    // Timely's channel counts agree with the stages' own counts.
    let into = |path: &str| {
        n(&format!(
            "SELECT sum(records_received) FROM mable.pipeline_channels WHERE run_id = 'RUN' AND (target_operator_id, worker_id) IN \
             (SELECT operator_id, worker_id FROM mable.pipeline_operators WHERE run_id = 'RUN' AND stage_path = '{path}')"
        ))
    };
    assert_eq!(into("audit_copy"), 20000);
    assert_eq!(into("price_over_500"), 40000);

    // The reduce's results, one per batch.
    assert_eq!(
        n(
            "SELECT count() FROM mable.pipeline_reductions WHERE run_id = 'RUN' AND stage_path = 'max_price'"
        ),
        10
    );

    // The seed README's three example queries run unchanged and say something.
    for sql in [
        "SELECT stage_name, avg(duration_ms) AS avg_duration FROM mable.pipeline_metrics GROUP BY stage_name ORDER BY avg_duration DESC",
        "SELECT worker_id, count() AS total_batches FROM mable.pipeline_metrics GROUP BY worker_id ORDER BY worker_id",
        "SELECT toStartOfMinute(timestamp) AS minute, sum(output_count) AS total_output FROM mable.pipeline_metrics GROUP BY minute ORDER BY minute ASC",
    ] {
        let rows = ch.query(sql);
        assert!(rows.lines().count() >= 1, "{sql} returned nothing");
    }
    assert_eq!(ch.query("SELECT worker_id, count() FROM mable.pipeline_metrics GROUP BY worker_id ORDER BY worker_id").trim(), "0\t50\n1\t50");

    // Nothing lost, nothing twice.
    assert_eq!(rows_of_run(&ch, &run), produced(&summary));
}

#[test]
fn a_two_process_cluster_reports_from_every_worker_under_one_run() {
    let ch = ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = ch.http_url();
    let outs = run_cluster(
        dir.path(),
        2,
        &[
            "--dataflow",
            "int",
            "--size",
            "40000",
            "-w",
            "2",
            "-q",
            "--clickhouse-url",
            &url,
        ],
    );
    for (i, o) in outs.iter().enumerate() {
        assert!(
            o.status.success(),
            "process {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(
        ch.query_u64("SELECT uniqExact(run_id) FROM mable.pipeline_metrics"),
        1,
        "one run id across processes"
    );
    assert_eq!(ch.query("SELECT groupUniqArray(process_id) FROM (SELECT process_id FROM mable.pipeline_metrics ORDER BY process_id)").trim(), "[0,1]");
    assert_eq!(
        ch.query("SELECT worker_id, any(process_id) FROM mable.pipeline_metrics GROUP BY worker_id ORDER BY worker_id").trim(),
        "0\t0\n1\t0\n2\t1\n3\t1"
    );
    assert_eq!(
        ch.query_u64(
            "SELECT sum(input_count) FROM mable.pipeline_metrics WHERE stage_path = 'double'"
        ),
        40000
    );
    assert_eq!(
        ch.query_u64("SELECT count() FROM mable.pipeline_runs"),
        2,
        "one row per process"
    );
    assert_eq!(
        ch.query_u64("SELECT uniqExact(batch_id) = count() FROM mable.pipeline_batches"),
        1
    );
}

#[test]
fn a_server_crash_mid_run_loses_and_duplicates_nothing() {
    let mut ch = ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = ch.http_url();
    let mut child = support::cli::bin()
        .current_dir(dir.path())
        .args([
            "--dataflow",
            "int",
            "--size",
            "300000000",
            "--batch-size",
            "50000",
            "-w",
            "2",
            "-q",
            "--clickhouse-url",
            &url,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Crash the server once rows are landing, bring it back shortly after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ch
        .try_query("SELECT count() FROM mable.pipeline_metrics")
        .map_or(true, |c| c.trim() == "0")
    {
        assert!(std::time::Instant::now() < deadline, "no rows arrived");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ch.kill();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run must still be going when the server dies"
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    ch.restart();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run must outlive the outage, to deliver after it"
    );
    let out = child.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = run_id(&summary);
    eprintln!("{summary}");
    // Anything that could not be delivered in time is on disk; replay it.
    let spool = dir.path().join("metrics").join("spool");
    if spool.exists() {
        let replay = support::cli::bin()
            .args([
                "metrics",
                "replay",
                spool.to_str().unwrap(),
                "--clickhouse-url",
                &url,
            ])
            .output()
            .unwrap();
        assert!(
            replay.status.success(),
            "{}",
            String::from_utf8_lossy(&replay.stderr)
        );
    }
    assert_eq!(
        rows_of_run(&ch, &run),
        produced(&summary),
        "every produced row landed exactly once"
    );
    assert_eq!(
        ch.query_u64(&format!(
            "SELECT count() - uniqExact(stage_path, batch_id, worker_id) FROM mable.pipeline_metrics WHERE run_id = '{run}'"
        )),
        0,
        "no duplicates"
    );
}

#[test]
fn a_wrong_password_is_a_clear_error_and_the_rows_wait_in_the_spool() {
    let ch = ClickHouseServer::start_with_password("right-password");
    let dir = tempfile::tempdir().unwrap();
    let url = ch.http_url();
    let out = support::cli::bin()
        .current_dir(dir.path())
        .env("CLICKHOUSE_PASSWORD", "wrong-password")
        .args([
            "--dataflow",
            "int",
            "--size",
            "10000",
            "-w",
            "2",
            "-q",
            "--clickhouse-url",
            &url,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the run itself completes:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("CLICKHOUSE_PASSWORD") || stderr.contains("credentials"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong-password") && !stdout.contains("wrong-password"),
        "the password is never printed"
    );
    assert!(
        stdout.contains(" 0 delivered") && !stdout.contains(" 0 spooled"),
        "{stdout}"
    );
    let run = run_id(&stdout);
    let spool = dir.path().join("metrics").join("spool");
    let replay = |pw: &str| {
        support::cli::bin()
            .env("CLICKHOUSE_PASSWORD", pw)
            .args([
                "metrics",
                "replay",
                spool.to_str().unwrap(),
                "--clickhouse-url",
                &url,
            ])
            .output()
            .unwrap()
    };
    let r = replay("right-password");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(rows_of_run(&ch, &run), produced(&stdout));
    // Replaying again delivers nothing twice.
    let again = replay("right-password");
    assert!(again.status.success());
    assert_eq!(rows_of_run(&ch, &run), produced(&stdout));
}

#[test]
fn the_default_files_load_into_clickhouse_unchanged() {
    let ch = ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let summary = run_ok(
        dir.path(),
        &["--size", "5000", "-w", "2", "-q", &template()],
    );
    let run = run_id(&summary);
    let schema = std::fs::read_to_string(repo().join("ops/clickhouse/schema.sql"))
        .unwrap()
        .replace("{db}", "mable");
    let client = |args: &[&str], stdin: std::fs::File| {
        let out = Command::new("clickhouse-client")
            .args(["--host", "127.0.0.1", "--port", &ch.tcp_port.to_string()])
            .args(args)
            .stdin(stdin)
            .output()
            .expect("clickhouse-client runs (bash ops/test.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let schema_file = dir.path().join("schema.sql");
    std::fs::write(&schema_file, schema).unwrap();
    client(
        &["--multiquery"],
        std::fs::File::open(&schema_file).unwrap(),
    );
    let mut total = 0;
    for table in TABLES {
        let file = dir
            .path()
            .join("metrics")
            .join(&run)
            .join(format!("{table}.ndjson"));
        if !file.exists() {
            // A table this dataflow produced no rows for (no aggregate stages, say).
            continue;
        }
        let lines = std::fs::read_to_string(&file).unwrap().lines().count() as u64;
        client(
            &[
                "--query",
                &format!("INSERT INTO mable.{table} FORMAT JSONEachRow"),
            ],
            std::fs::File::open(&file).unwrap(),
        );
        assert_eq!(
            ch.query_u64(&format!("SELECT count() FROM mable.{table}")),
            lines,
            "{table}"
        );
        total += lines;
    }
    assert_eq!(total, produced(&summary));
    let _ = run_in;
}

#[test]
fn the_next_run_delivers_what_an_earlier_run_spooled() {
    let ch = ClickHouseServer::start_with_password("pw");
    let dir = tempfile::tempdir().unwrap();
    let url = ch.http_url();
    let run_with = |pw: &str| {
        let out = support::cli::bin()
            .current_dir(dir.path())
            .env("CLICKHOUSE_PASSWORD", pw)
            .args([
                "--dataflow",
                "test_struct",
                "--size",
                "5000",
                "-w",
                "2",
                "-q",
                "--clickhouse-url",
                &url,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (first, _) = run_with("not-it");
    assert!(first.contains(" 0 delivered"), "{first}");
    let (second, stderr) = run_with("pw");
    assert!(stderr.contains("an earlier run left"), "{stderr}");
    assert!(second.contains(" 0 spooled"), "{second}");
    assert_eq!(rows_of_run(&ch, &run_id(&first)), produced(&first));
    assert_eq!(rows_of_run(&ch, &run_id(&second)), produced(&second));
    assert!(crate::support::cli::read_spool_is_empty(
        &dir.path().join("metrics/spool")
    ));
}

/// Every SQL statement the README offers for pasting runs against a real
/// server after a real run, and returns rows.
#[test]
fn the_readmes_queries_run_and_return_rows() {
    let ch = ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = ch.http_url();
    let summary = run_ok(
        dir.path(),
        &[
            "--size",
            "3000",
            "-w",
            "2",
            "-q",
            "--clickhouse-url",
            &url,
            &template(),
        ],
    );
    let run = run_id(&summary);
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut statements = Vec::new();
    for block in readme.split("```sql").skip(1) {
        let body = block.split("```").next().unwrap();
        let sql: String = body
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        statements.extend(
            sql.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    assert!(statements.len() >= 5, "README lost its queries");
    for sql in statements {
        let sql = sql.replace("1795506958-a33cb681", &run);
        let rows = ch
            .try_query(&sql)
            .unwrap_or_else(|e| panic!("README query failed:\n{sql}\n{e}"));
        assert!(
            !rows.trim().is_empty(),
            "README query returned nothing:\n{sql}"
        );
    }
}
