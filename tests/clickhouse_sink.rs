//! The ClickHouse sink against a real (18.16) server: schema, delivery,
//! crashes mid-delivery, lost replies, wrong credentials, data errors, and the
//! spool. Assertions are on row counts only, never on timing.

#[path = "clickhouse_sink/fixtures.rs"]
mod fixtures;
#[path = "clickhouse_sink/gate.rs"]
mod gate;
#[path = "clickhouse_sink/proxy.rs"]
mod proxy;
mod support;
#[path = "clickhouse_sink/units.rs"]
mod units;

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fixtures::{batches, config, metrics, one_of_each};
use gate::{Gate, Mode};
use mable_pipeline::metrics::tables::metric_tables;
use mable_pipeline::sink::clickhouse::{ClickHouseSink, SinkError};
use mable_pipeline::sink::spool::{self, Spool, replay};
use mable_pipeline::sink::{Chunk, Outcome};
use proxy::LostReplyProxy;
use support::clickhouse::ClickHouseServer;

fn count(server: &ClickHouseServer, sql: &str) -> u64 {
    server.query_u64(sql)
}

#[test]
fn connect_creates_schema_and_delivers_every_table() {
    let server = ClickHouseServer::start();
    let spool = tempfile::tempdir().unwrap();
    let mut sink = ClickHouseSink::connect(config(&server.http_url(), "m1", spool.path())).unwrap();
    let tables = server.query("SELECT name FROM system.tables WHERE database = 'm1' ORDER BY name");
    let mut expected: Vec<&str> = metric_tables().all().iter().map(|t| t.name()).collect();
    expected.sort();
    assert_eq!(tables.lines().collect::<Vec<_>>(), expected);

    for (i, rows) in one_of_each("r1").into_iter().enumerate() {
        let n = rows.len() as u64;
        let table = rows.table().name().to_string();
        let chunk = Chunk::new(format!("r1-p0-{i:06}"), rows);
        assert_eq!(sink.deliver(&chunk), Outcome::Delivered, "{table}");
        assert_eq!(
            count(&server, &format!("SELECT count() FROM m1.{table}")),
            n
        );
        let ids = server.query(&format!("SELECT DISTINCT insert_id FROM m1.{table}"));
        assert_eq!(ids.trim(), chunk.insert_id);
    }
    assert_eq!(
        server.query("SELECT batch_id, input_count, duration_ms, toUnixTimestamp(timestamp), stage_path FROM m1.pipeline_metrics ORDER BY batch_id"),
        "0\t100\t1.25\t1700000000\t0/parse\n1\t101\t1.25\t1700000000\t0/parse\n2\t102\t1.25\t1700000000\t0/parse\n"
    );
    assert_eq!(
        server.query("SELECT name, schedule_ns, activations FROM m1.pipeline_operators"),
        "Map \\'it\\'\\'s\\'\t123\t5\n"
    );
    assert_eq!(
        server.query("SELECT result FROM m1.pipeline_reductions"),
        "{\"sum\":42}\n"
    );
    assert_eq!(
        server
            .query("SELECT status, elapsed_ms, toUnixTimestamp(started_at) FROM m1.pipeline_runs"),
        "ok\t0.098\t1700000000\n"
    );
    let counts = sink.ledger().counts();
    assert_eq!((counts.delivered, counts.spooled, counts.failed), (9, 0, 0));
    assert!(
        sink.schema_problems().is_empty(),
        "{:?}",
        sink.schema_problems()
    );
    // Connecting again to an existing schema is fine.
    ClickHouseSink::connect(config(&server.http_url(), "m1", spool.path())).unwrap();
}

#[test]
fn server_killed_mid_delivery_loses_and_duplicates_nothing() {
    let mut server = ClickHouseServer::start();
    let url = server.http_url();
    let spool = tempfile::tempdir().unwrap();
    let mut sink = ClickHouseSink::connect(config(&url, "m2", spool.path())).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        rx.recv().unwrap();
        server.kill();
        std::thread::sleep(Duration::from_millis(1500));
        server.restart();
        server
    });
    let rows_per_chunk = 1000;
    let mut produced = 0u64;
    let mut outcomes = Vec::new();
    let mut deliver = |sink: &mut ClickHouseSink, i: u32| {
        let chunk = Chunk::new(
            format!("r2-p0-{i:06}"),
            metrics("r2", i * rows_per_chunk, rows_per_chunk),
        );
        produced += rows_per_chunk as u64;
        outcomes.push(sink.deliver(&chunk));
    };
    for i in 0..50 {
        if i == 20 {
            tx.send(()).unwrap();
        }
        deliver(&mut sink, i);
    }
    let server = killer.join().unwrap();
    // Give the sink a chance to notice the server is back in the middle of delivering.
    std::thread::sleep(mable_pipeline::sink::clickhouse::REPROBE_EVERY);
    for i in 50..60 {
        deliver(&mut sink, i);
    }
    sink.finish(Instant::now() + Duration::from_secs(20));

    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Delivered | Outcome::Spooled)),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&Outcome::Spooled),
        "the kill should have made the sink spool"
    );
    let counts = sink.ledger().counts();
    let spooled = outcomes.iter().filter(|o| **o == Outcome::Spooled).count();
    eprintln!("{spooled} of {} chunks spooled; {counts:?}", outcomes.len());
    assert_eq!(counts.failed, 0);
    assert_eq!(counts.spooled, 0, "{counts:?}");
    assert_eq!(counts.delivered, produced);
    assert!(spool::list(spool.path()).unwrap().is_empty());
    let report = replay(spool.path(), &mut sink).unwrap();
    assert_eq!((report.chunks_delivered, report.remaining), (0, 0));

    assert_eq!(
        count(&server, "SELECT count() FROM m2.pipeline_metrics"),
        produced
    );
    assert_eq!(
        count(
            &server,
            "SELECT uniqExact(insert_id, dataflow, run_id, stage_path, batch_id, worker_id) FROM m2.pipeline_metrics"
        ),
        produced
    );
    assert_eq!(
        count(
            &server,
            "SELECT uniqExact(insert_id) FROM m2.pipeline_metrics"
        ),
        60
    );
}

#[test]
fn lost_reply_after_a_landed_insert_does_not_duplicate() {
    let server = ClickHouseServer::start();
    let proxy = LostReplyProxy::start(server.http_port);
    let spool = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", proxy.port);
    let mut sink = ClickHouseSink::connect(config(&url, "m3", spool.path())).unwrap();

    proxy.armed.store(true, Ordering::SeqCst);
    let chunk = Chunk::new("r3-p0-000000".into(), metrics("r3", 0, 500));
    assert_eq!(sink.deliver(&chunk), Outcome::Delivered);
    assert_eq!(
        proxy.cut.load(Ordering::SeqCst),
        1,
        "the proxy should have cut the insert's reply"
    );
    assert!(sink.retries() >= 1);
    assert_eq!(
        count(&server, "SELECT count() FROM m3.pipeline_metrics"),
        500
    );

    // The same chunk again from a spool (as after a crash before its file was
    // deleted): found by its insert_id, not sent again.
    let sp = Spool::open(spool.path()).unwrap();
    sp.push(&chunk).unwrap();
    let report = replay(spool.path(), &mut sink).unwrap();
    assert_eq!(
        (
            report.chunks_already_present,
            report.chunks_delivered,
            report.remaining
        ),
        (1, 0, 0)
    );
    assert_eq!(
        count(&server, "SELECT count() FROM m3.pipeline_metrics"),
        500
    );
}

#[test]
fn wrong_password_spools_then_replay_delivers_exactly_once() {
    let server = ClickHouseServer::start_with_password("right-pass-42");
    let spool = tempfile::tempdir().unwrap();
    let mut bad = config(&server.http_url(), "m4", spool.path());
    bad.password = Some("wrong-pass-17".into());
    assert!(!format!("{bad:?}").contains("wrong-pass-17"));

    let err = ClickHouseSink::connect(bad.clone())
        .err()
        .expect("a wrong password must fail");
    let msg = err.to_string();
    assert!(matches!(err, SinkError::Credentials { .. }), "{msg}");
    eprintln!("credentials: {msg}");
    assert!(
        msg.contains("credentials") && msg.contains("CLICKHOUSE_PASSWORD"),
        "{msg}"
    );
    assert!(
        !msg.contains("wrong-pass-17") && !msg.contains("right-pass-42"),
        "{msg}"
    );

    let (mut sink, err) = ClickHouseSink::connect_or_spool(bad);
    assert!(err.unwrap().to_string().contains("credentials"));
    let chunks: Vec<Chunk> = (0..5)
        .map(|i| Chunk::new(format!("r4-p0-{i:06}"), metrics("r4", i * 10, 10)))
        .collect();
    for chunk in &chunks {
        assert_eq!(sink.deliver(chunk), Outcome::Spooled);
    }
    sink.finish(Instant::now() + Duration::from_secs(3));
    assert_eq!(sink.ledger().counts().spooled, 50);
    assert_eq!(spool::list(spool.path()).unwrap().len(), 5);

    let mut good = config(&server.http_url(), "m4", spool.path());
    good.password = Some("right-pass-42".into());
    let mut sink = ClickHouseSink::connect(good).unwrap();
    // As if an earlier replay had sent the first chunk but not deleted its file.
    assert_eq!(sink.deliver(&chunks[0]), Outcome::Delivered);
    let report = replay(spool.path(), &mut sink).unwrap();
    assert!(report.stopped.is_none() && report.corrupt.is_empty() && report.rejected.is_empty());
    assert_eq!((report.chunks_delivered, report.rows_delivered), (4, 40));
    assert_eq!((report.chunks_already_present, report.remaining), (1, 0));
    assert_eq!(
        count(&server, "SELECT count() FROM m4.pipeline_metrics"),
        50
    );

    let again = replay(spool.path(), &mut sink).unwrap();
    assert_eq!(
        (
            again.chunks_delivered,
            again.chunks_already_present,
            again.remaining
        ),
        (0, 0, 0)
    );
    assert_eq!(
        count(&server, "SELECT count() FROM m4.pipeline_metrics"),
        50
    );
}

#[test]
fn a_table_with_another_schema_is_named_at_connect_and_its_rows_spooled() {
    let server = ClickHouseServer::start();
    server.query("CREATE DATABASE m5");
    server.query("CREATE TABLE m5.pipeline_batches (run_id String, batch_id String) ENGINE = MergeTree ORDER BY batch_id");
    let spool = tempfile::tempdir().unwrap();
    let mut sink = ClickHouseSink::connect(config(&server.http_url(), "m5", spool.path())).unwrap();

    let problems = sink.schema_problems();
    eprintln!("{problems:?}");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("m5.pipeline_batches: "),
        "{problems:?}"
    );
    for what in [
        "missing columns dataflow String, worker_id UInt32",
        "column batch_id is String, expected UInt32",
    ] {
        assert!(problems[0].contains(what), "{what} in {problems:?}");
    }
    // Nothing is sent to it (RowBinary into the wrong types could store
    // garbage): its rows wait in the spool, nothing counts as failed.
    let outcome = sink.deliver(&Chunk::new("r5-p0-000000".into(), batches("r5", 4)));
    assert_eq!(outcome, Outcome::Spooled);
    let counts = sink.ledger().counts();
    assert_eq!((counts.spooled, counts.failed, sink.retries()), (4, 0, 0));
    assert!(!sink.is_spooling(), "the server is not away");
    assert_eq!(spool::list(spool.path()).unwrap().len(), 1);
    assert_eq!(count(&server, "SELECT count() FROM m5.pipeline_batches"), 0);
    // The other tables still work.
    assert_eq!(
        sink.deliver(&Chunk::new("r5-p0-000001".into(), metrics("r5", 0, 2))),
        Outcome::Delivered
    );
    // Replay names the table too, and keeps the file until the table is fixed.
    let report = replay(spool.path(), &mut sink).unwrap();
    assert_eq!((report.rejected.len(), report.remaining), (1, 1));
    assert!(
        report.rejected[0].1.contains("m5.pipeline_batches"),
        "{report:?}"
    );

    server.query("DROP TABLE m5.pipeline_batches");
    let mut fixed =
        ClickHouseSink::connect(config(&server.http_url(), "m5", spool.path())).unwrap();
    assert!(fixed.schema_problems().is_empty());
    let report = replay(spool.path(), &mut fixed).unwrap();
    assert_eq!(
        (report.rows_delivered, report.remaining),
        (4, 0),
        "{report:?}"
    );
    assert_eq!(count(&server, "SELECT count() FROM m5.pipeline_batches"), 4);
}

#[test]
fn rows_refused_mid_run_are_spooled_naming_the_table_and_column() {
    let server = ClickHouseServer::start();
    let spool = tempfile::tempdir().unwrap();
    let mut sink = ClickHouseSink::connect(config(&server.http_url(), "m8", spool.path())).unwrap();
    // Changed under the running sink: only the server's reply tells.
    server.query("ALTER TABLE m8.pipeline_batches DROP COLUMN latency_ms");
    for i in 0..3 {
        let chunk = Chunk::new(format!("r8-p0-{i:06}"), batches(&format!("r8-{i}"), 4));
        assert_eq!(sink.deliver(&chunk), Outcome::Spooled);
    }
    let counts = sink.ledger().counts();
    assert_eq!(
        (counts.spooled, counts.failed, counts.delivered),
        (12, 0, 0)
    );
    assert_eq!(sink.retries(), 0, "a data error is not retried");
    assert_eq!(counts.errors.len(), 1, "said once: {:?}", counts.errors);
    let msg = &counts.errors[0];
    eprintln!("{msg}");
    for what in [
        "m8.pipeline_batches",
        "missing column latency_ms Float64",
        "metrics replay",
    ] {
        assert!(msg.contains(what), "{what} in {msg}");
    }

    server.query("ALTER TABLE m8.pipeline_batches ADD COLUMN latency_ms Float64");
    let mut fixed =
        ClickHouseSink::connect(config(&server.http_url(), "m8", spool.path())).unwrap();
    let report = replay(spool.path(), &mut fixed).unwrap();
    assert_eq!(
        (report.rows_delivered, report.remaining),
        (12, 0),
        "{report:?}"
    );
    assert_eq!(
        count(&server, "SELECT count() FROM m8.pipeline_batches"),
        12
    );
    assert_eq!(
        count(&server, "SELECT count() FROM m8.pipeline_batches FINAL"),
        12
    );
}

/// Spools five chunks through a gate that refuses everything, then lets the
/// sink come back with `half_way` set up to fail the drain.
fn spool_five_then_come_back(
    server: &ClickHouseServer,
    db: &str,
    spool: &std::path::Path,
    half_way: impl FnOnce(&Gate),
) -> (ClickHouseSink, Gate) {
    let gate = Gate::start(server.http_port);
    let mut sink = ClickHouseSink::connect(config(&gate.url(), db, spool)).unwrap();
    gate.set(Mode::Refuse);
    for i in 0..5 {
        let chunk = Chunk::new(format!("{db}-p0-{i:06}"), metrics(db, i * 100, 100));
        assert_eq!(sink.deliver(&chunk), Outcome::Spooled);
    }
    assert_eq!(spool::list(spool).unwrap().len(), 5);
    half_way(&gate);
    std::thread::sleep(mable_pipeline::sink::clickhouse::REPROBE_EVERY);
    sink.finish(Instant::now() + Duration::from_secs(5));
    (sink, gate)
}

/// The server comes back, the sink starts draining its spool, and the server
/// fails again on the first insert: the spool must still hold every chunk.
#[test]
fn a_second_outage_mid_drain_loses_nothing() {
    let server = ClickHouseServer::start();
    let spool = tempfile::tempdir().unwrap();
    let (mut sink, gate) = spool_five_then_come_back(&server, "m9", spool.path(), |gate| {
        gate.set(Mode::CutInserts)
    });
    assert_eq!(
        spool::list(spool.path()).unwrap().len(),
        5,
        "a chunk whose delivery failed must stay in the spool"
    );
    let counts = sink.ledger().counts();
    assert_eq!((counts.delivered, counts.spooled), (0, 500), "{counts:?}");

    gate.set(Mode::Pass);
    sink.finish(Instant::now() + Duration::from_secs(30));
    let counts = sink.ledger().counts();
    assert_eq!(
        (counts.delivered, counts.spooled, counts.failed),
        (500, 0, 0),
        "{counts:?}"
    );
    assert!(spool::list(spool.path()).unwrap().is_empty());
    assert_eq!(
        count(&server, "SELECT count() FROM m9.pipeline_metrics"),
        500
    );
    assert_eq!(
        count(&server, "SELECT count() FROM m9.pipeline_metrics FINAL"),
        500
    );
}

/// The server is back but refuses the spooled rows (the table changed): the
/// files stay for a replay once the table is fixed.
#[test]
fn a_refusal_mid_drain_keeps_the_spooled_rows() {
    let server = ClickHouseServer::start();
    let spool = tempfile::tempdir().unwrap();
    let (sink, _gate) = spool_five_then_come_back(&server, "m10", spool.path(), |gate| {
        server.query("ALTER TABLE m10.pipeline_metrics DROP COLUMN busy_ns");
        gate.set(Mode::Pass);
    });
    assert_eq!(spool::list(spool.path()).unwrap().len(), 5);
    let counts = sink.ledger().counts();
    assert_eq!(
        (counts.delivered, counts.spooled, counts.failed),
        (0, 500, 0),
        "{counts:?}"
    );
    assert!(counts.errors[0].contains("busy_ns"), "{counts:?}");

    server.query("ALTER TABLE m10.pipeline_metrics ADD COLUMN busy_ns UInt64");
    let mut fixed =
        ClickHouseSink::connect(config(&server.http_url(), "m10", spool.path())).unwrap();
    let report = replay(spool.path(), &mut fixed).unwrap();
    assert_eq!(
        (report.rows_delivered, report.remaining),
        (500, 0),
        "{report:?}"
    );
    assert_eq!(
        count(&server, "SELECT count() FROM m10.pipeline_metrics"),
        500
    );
}

#[test]
fn unreachable_server_gives_a_clear_error_and_spools() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let spool = tempfile::tempdir().unwrap();
    let err = ClickHouseSink::connect(config(&url, "m6", spool.path()))
        .err()
        .unwrap();
    assert!(matches!(err, SinkError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("cannot reach ClickHouse"), "{err}");

    let (mut sink, err) = ClickHouseSink::connect_or_spool(config(&url, "m6", spool.path()));
    assert!(err.is_some() && sink.is_spooling());
    let chunk = Chunk::new("r6-p0-000000".into(), batches("r6", 3));
    assert_eq!(sink.deliver(&chunk), Outcome::Spooled);
    let files = spool::list(spool.path()).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(spool::read_chunk(&files[0]).unwrap(), chunk);
}

#[test]
fn corrupt_spool_files_are_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("000000000000-c-0.chunk.json");
    std::fs::write(&bad, b"{ not json").unwrap();
    let sp = Spool::open(dir.path()).unwrap();
    sp.push(&Chunk::new("c-1".into(), batches("c", 1))).unwrap();
    // Nothing listens there: the good chunk cannot go, the bad one is reported.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut sink, _) = ClickHouseSink::connect_or_spool(config(
        &format!("http://127.0.0.1:{port}"),
        "m7",
        dir.path(),
    ));
    let report = replay(dir.path(), &mut sink).unwrap();
    assert!(
        matches!(report.stopped, Some(SinkError::Unreachable { .. })),
        "{report:?}"
    );
    assert_eq!(report.corrupt.len(), 1, "{report:?}");
    assert_eq!(report.corrupt[0].0, bad);
    assert_eq!(report.remaining, 2);
    assert!(bad.exists());
}
