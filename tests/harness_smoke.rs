mod support;

#[test]
fn private_clickhouse_answers_and_stops() {
    let mut ch = support::clickhouse::ClickHouseServer::start_with_password("s3cret");
    assert_eq!(ch.query_u64("SELECT 40 + 2"), 42);
    assert!(ch.try_query("SELECT throwIf(1)").is_err());
    ch.kill();
    assert!(ch.try_query("SELECT 1").is_err());
    ch.restart();
    assert_eq!(ch.query_u64("SELECT 1"), 1);
}
