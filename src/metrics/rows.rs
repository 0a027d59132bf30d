//! Row types: one struct per metric table of `ops/clickhouse/schema.sql`
//! (see [`tables`](super::tables)).
//!
//! A row is rendered once as a JSONEachRow line ([`crate::table::Rows`]),
//! which both sinks take as it is: files append it, ClickHouse inserts it by
//! column name. `DateTime` columns are unix seconds (`u32`). Every table's
//! last column, `insert_id`, is not a field here: it is the id of the chunk a
//! row travels in, added when the chunk is cut.

use serde::{Deserialize, Serialize};

/// One stage's work on one batch on one worker (`pipeline_metrics`).
///
/// The first seven fields are the Go seed's table; `worker_id` is timely's real
/// global worker index and `duration_ms` keeps sub-millisecond precision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageMetricRow {
    pub stage_name: String,
    pub batch_id: u32,
    pub input_count: u64,
    pub output_count: u64,
    pub duration_ms: f64,
    pub worker_id: u32,
    pub timestamp: u32,
    pub run_id: String,
    pub dataflow: String,
    pub stage_path: String,
    pub stage_kind: String,
    pub operator_id: u64,
    pub process_id: u32,
    pub busy_ns: u64,
    pub start_us: u64,
    pub end_us: u64,
}

/// What ran and how it ended, one row per process of a run (`pipeline_runs`).
///
/// The `metric_rows_*` counts are this process's rows of every other table
/// (this row excluded), as they stood once all of them were settled just
/// before this row was sent: `produced = delivered + spooled + failed +
/// dropped`. Rows spooled then and replayed later stay counted as spooled here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub run_id: String,
    pub dataflow: String,
    pub process_id: u32,
    pub processes: u32,
    pub workers: u32,
    pub batch_size: u64,
    pub batches: u64,
    pub input: String,
    pub args: String,
    pub records_in: u64,
    pub records_out: u64,
    pub records_skipped: u64,
    pub started_at: u32,
    pub start_us: u64,
    pub end_us: u64,
    pub elapsed_ms: f64,
    pub status: String,
    pub error: String,
    pub version: String,
    pub host: String,
    pub metric_rows_produced: u64,
    pub metric_rows_delivered: u64,
    pub metric_rows_spooled: u64,
    pub metric_rows_failed: u64,
    pub metric_rows_dropped: u64,
}

/// One timely operator on one worker, from timely's log (`pipeline_operators`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatorRow {
    pub run_id: String,
    pub dataflow: String,
    pub worker_id: u32,
    pub process_id: u32,
    pub operator_id: u64,
    pub address: String,
    pub parent_address: String,
    pub name: String,
    pub stage_path: String,
    pub is_scope: u8,
    pub schedule_ns: u64,
    pub activations: u64,
    pub max_activation_ns: u64,
    pub timestamp: u32,
}

/// One timely channel on one worker, with the records that crossed it (`pipeline_channels`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelRow {
    pub run_id: String,
    pub dataflow: String,
    pub worker_id: u32,
    pub process_id: u32,
    pub channel_id: u64,
    pub scope_address: String,
    pub source_node: u32,
    pub source_port: u32,
    pub target_node: u32,
    pub target_port: u32,
    pub source_operator_id: u64,
    pub target_operator_id: u64,
    pub kind: String,
    pub messages_sent: u64,
    pub records_sent: u64,
    pub messages_received: u64,
    pub records_received: u64,
    pub timestamp: u32,
}

/// End-to-end latency of one batch as global worker 0's probe saw it (`pipeline_batches`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchRow {
    pub run_id: String,
    pub dataflow: String,
    pub batch_id: u32,
    pub worker_id: u32,
    pub process_id: u32,
    pub records_in: u64,
    pub entered_us: u64,
    pub completed_us: u64,
    pub latency_ms: f64,
    pub timestamp: u32,
}

/// A reduce stage's combined result for one batch (`pipeline_reductions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReductionRow {
    pub run_id: String,
    pub dataflow: String,
    pub stage_path: String,
    pub batch_id: u32,
    pub result: String,
    pub timestamp: u32,
}

/// A key's running aggregate after a batch that changed it (`pipeline_aggregates`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateRow {
    pub run_id: String,
    pub dataflow: String,
    pub stage_path: String,
    pub key: String,
    pub batch_id: u32,
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
    pub timestamp: u32,
}

/// Size of one differential arrangement on one worker after a batch (`pipeline_arrangements`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArrangementRow {
    pub run_id: String,
    pub dataflow: String,
    pub worker_id: u32,
    pub process_id: u32,
    pub operator_id: u64,
    pub batch_id: u32,
    pub records: i64,
    pub batches: u64,
    pub merges: u64,
    pub timestamp: u32,
}

/// One span of a batch's trace (`pipeline_spans`): the batch itself (root,
/// `parent_span_id` empty, worker 0's latency) or one stage on one worker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanRow {
    pub run_id: String,
    pub dataflow: String,
    pub batch_id: u32,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// The dataflow.
    pub service_name: String,
    /// The stage path, or `batch` for the root.
    pub operation_name: String,
    pub start_us: u64,
    pub duration_us: u64,
    pub worker_id: u32,
    pub process_id: u32,
    pub records_in: u64,
    pub records_out: u64,
    pub busy_ns: u64,
    pub timestamp: u32,
}
