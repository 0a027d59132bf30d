//! Rows for every table, and the sink config the tests use.

use std::path::Path;
use std::time::Duration;

use mable_pipeline::metrics::rows::*;
use mable_pipeline::metrics::tables::metric_tables;
use mable_pipeline::table::{Rows, Table};

fn rows<T: serde::Serialize>(table: &Table, rows: Vec<T>) -> Rows {
    Rows::of(table, &rows).unwrap()
}
use mable_pipeline::sink::clickhouse::ClickHouseConfig;

pub const TS: u32 = 1_700_000_000;

pub fn config(url: &str, db: &str, spool: &Path) -> ClickHouseConfig {
    let mut cfg = ClickHouseConfig::new(url, db, spool);
    cfg.retry_budget = Duration::from_secs(1);
    cfg.request_timeout = Duration::from_secs(5);
    cfg
}

pub fn metrics(run: &str, first_batch: u32, n: u32) -> Rows {
    rows(
        &metric_tables().stages,
        (first_batch..first_batch + n)
            .map(|b| StageMetricRow {
                stage_name: "parse".into(),
                batch_id: b,
                input_count: 100 + b as u64,
                output_count: 90,
                duration_ms: 1.25,
                worker_id: 0,
                timestamp: TS,
                run_id: run.into(),
                dataflow: "df".into(),
                stage_path: "0/parse".into(),
                stage_kind: "map".into(),
                operator_id: 7,
                process_id: 0,
                busy_ns: 1_250_000,
                start_us: 10,
                end_us: 20,
            })
            .collect(),
    )
}

pub fn batches(run: &str, n: u32) -> Rows {
    rows(
        &metric_tables().batches,
        (0..n)
            .map(|b| BatchRow {
                run_id: run.into(),
                dataflow: "df".into(),
                batch_id: b,
                worker_id: 0,
                process_id: 0,
                records_in: 1000,
                entered_us: 5,
                completed_us: 2005,
                latency_ms: 2.0,
                timestamp: TS,
            })
            .collect(),
    )
}

pub fn one_of_each(run: &str) -> Vec<Rows> {
    let s = |x: &str| x.to_string();
    vec![
        metrics(run, 0, 3),
        rows(
            &metric_tables().runs,
            vec![RunRow {
                run_id: s(run),
                dataflow: s("df"),
                process_id: 0,
                processes: 1,
                workers: 2,
                batch_size: 1000,
                batches: 3,
                input: s("synthetic"),
                args: s("run df"),
                records_in: 3000,
                records_out: 2700,
                records_skipped: 1,
                started_at: TS,
                start_us: 1,
                end_us: 99,
                elapsed_ms: 0.098,
                status: s("ok"),
                error: s(""),
                version: s("0.1.0"),
                host: s("h"),
                metric_rows_produced: 8,
                metric_rows_delivered: 7,
                metric_rows_spooled: 1,
                metric_rows_failed: 0,
                metric_rows_dropped: 0,
            }],
        ),
        rows(
            &metric_tables().operators,
            vec![OperatorRow {
                run_id: s(run),
                dataflow: s("df"),
                worker_id: 1,
                process_id: 0,
                operator_id: 4,
                address: s("[0, 4]"),
                parent_address: s("[0]"),
                name: s("Map 'it''s'"),
                stage_path: s("0/parse"),
                is_scope: 0,
                schedule_ns: 123,
                activations: 5,
                max_activation_ns: 40,
                timestamp: TS,
            }],
        ),
        rows(
            &metric_tables().channels,
            vec![ChannelRow {
                run_id: s(run),
                dataflow: s("df"),
                worker_id: 0,
                process_id: 0,
                channel_id: 2,
                scope_address: s("[0]"),
                source_node: 1,
                source_port: 0,
                target_node: 2,
                target_port: 0,
                source_operator_id: 3,
                target_operator_id: 4,
                kind: s("pipeline"),
                messages_sent: 10,
                records_sent: 1000,
                messages_received: 10,
                records_received: 1000,
                timestamp: TS,
            }],
        ),
        batches(run, 2),
        rows(
            &metric_tables().reductions,
            vec![ReductionRow {
                run_id: s(run),
                dataflow: s("df"),
                stage_path: s("0/sum"),
                batch_id: 0,
                result: s("{\"sum\":42}"),
                timestamp: TS,
            }],
        ),
    ]
}
