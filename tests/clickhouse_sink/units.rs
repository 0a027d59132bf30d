//! Checks that need no server: names, schema text, redaction, spool files.

use mable_pipeline::metrics::tables::metric_tables;
use mable_pipeline::sink::Chunk;
use mable_pipeline::sink::clickhouse::{
    ClickHouseConfig, ClickHouseSink, SinkError, schema_statements, validate_identifier,
};
use mable_pipeline::sink::spool::{self, Claim, Spool, Take};

use super::fixtures::batches;

#[test]
fn identifiers_are_validated() {
    for ok in ["mable", "_x", "a1_B2", &"a".repeat(64)] {
        validate_identifier(ok).unwrap();
    }
    for bad in [
        "",
        "1abc",
        "a-b",
        "a.b",
        "a b",
        "db;drop",
        "é",
        &"a".repeat(65),
    ] {
        let err = validate_identifier(bad).unwrap_err();
        assert!(
            err.to_string().contains("invalid ClickHouse database name"),
            "{err}"
        );
    }
    let (sink, err) = ClickHouseSink::connect_or_spool(ClickHouseConfig::new(
        "http://127.0.0.1:1",
        "no-good",
        "/nonexistent",
    ));
    assert!(matches!(err, Some(SinkError::InvalidDatabase { .. })) && sink.is_spooling());
}

#[test]
fn schema_splits_into_statements_for_the_database() {
    let statements = schema_statements("abc");
    assert_eq!(statements.len(), 1 + metric_tables().all().len());
    assert_eq!(statements[0], "CREATE DATABASE IF NOT EXISTS abc");
    for (sql, table) in statements[1..].iter().zip(metric_tables().all()) {
        assert!(
            sql.starts_with(&format!(
                "CREATE TABLE IF NOT EXISTS abc.{} (",
                table.name()
            )),
            "{sql}"
        );
        assert!(
            !sql.contains("{db}") && !sql.contains("--") && !sql.contains(';'),
            "{sql}"
        );
    }
}

#[test]
fn config_debug_never_shows_the_password() {
    let mut cfg = ClickHouseConfig::new("http://u:hunter22@host:8123", "db", "/tmp/s");
    cfg.password = Some("hunter22".into());
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("hunter22"), "{shown}");
}

#[test]
fn spool_keeps_order_and_writes_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let sp = Spool::open(dir.path()).unwrap();
    let chunks: Vec<Chunk> = (0..12)
        .map(|i| Chunk::new(format!("z-{}", 11 - i), batches("s", i + 1)))
        .collect();
    for c in &chunks[..6] {
        sp.push(c).unwrap();
    }
    // A reopened spool continues after what is there; a crash leftover is ignored.
    std::fs::write(
        dir.path().join(".000000000099-x.chunk.json.tmp"),
        b"{\"insert_id\":",
    )
    .unwrap();
    let sp = Spool::open(dir.path()).unwrap();
    for c in &chunks[6..] {
        sp.push(c).unwrap();
    }
    let pending = sp.pending().unwrap();
    let read: Vec<Chunk> = pending
        .iter()
        .map(|p| spool::read_chunk(p).unwrap())
        .collect();
    assert_eq!(read, chunks);
    let Take::Claimed(claim) = Claim::take(&pending[0]).unwrap() else {
        panic!("nobody else holds it")
    };
    claim.remove().unwrap();
    assert_eq!(sp.pending().unwrap(), pending[1..]);
}

#[test]
fn a_claimed_chunk_is_busy_to_others_free_if_released_and_gone_once_removed() {
    let dir = tempfile::tempdir().unwrap();
    let sp = Spool::open(dir.path()).unwrap();
    let chunk = Chunk::new("k-1".into(), batches("k", 3));
    let path = sp.push(&chunk).unwrap();
    let Take::Claimed(held) = Claim::take(&path).unwrap() else {
        panic!("a fresh chunk is free")
    };
    assert!(matches!(Claim::take(&path).unwrap(), Take::Busy));
    // A holder that lets go without deleting (a crash) leaves it to the next.
    drop(held);
    let Take::Claimed(mut again) = Claim::take(&path).unwrap() else {
        panic!("released chunks are free again")
    };
    assert_eq!(again.chunk().unwrap(), chunk);
    again.remove().unwrap();
    assert!(matches!(Claim::take(&path).unwrap(), Take::Gone));
}
