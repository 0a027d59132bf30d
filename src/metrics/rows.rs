//! Row types: one struct per ClickHouse table in `ops/clickhouse/schema.sql`.
//!
//! The same `Serialize` impl feeds both sinks: JSONEachRow files (via serde_json)
//! and ClickHouse's RowBinary (via the `clickhouse` crate), so field order and
//! types must match the DDL exactly. `DateTime` columns are unix seconds (`u32`),
//! which both formats accept.

use std::sync::Arc;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

/// One stage's work on one batch on one worker (`pipeline_metrics`).
///
/// The first seven fields are the Go seed's table; `worker_id` is timely's real
/// global worker index and `duration_ms` keeps sub-millisecond precision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
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
    pub insert_id: String,
}

/// What ran and how it ended, one row per process of a run (`pipeline_runs`).
///
/// The `metric_rows_*` counts are this process's rows of every other table
/// (this row excluded), as they stood once all of them were settled just
/// before this row was sent: `produced = delivered + spooled + failed +
/// dropped`. Rows spooled then and replayed later stay counted as spooled here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
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
    pub insert_id: String,
}

/// One timely operator on one worker, from timely's log (`pipeline_operators`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
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
    pub insert_id: String,
}

/// One timely channel on one worker, with the records that crossed it (`pipeline_channels`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
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
    pub insert_id: String,
}

/// End-to-end latency of one batch as global worker 0's probe saw it (`pipeline_batches`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
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
    pub insert_id: String,
}

/// A reduce stage's combined result for one batch (`pipeline_reductions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct ReductionRow {
    pub run_id: String,
    pub dataflow: String,
    pub stage_path: String,
    pub batch_id: u32,
    pub result: String,
    pub timestamp: u32,
    pub insert_id: String,
}

/// A key's running aggregate after a batch that changed it (`pipeline_aggregates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
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
    pub insert_id: String,
}

/// Size of one differential arrangement on one worker after a batch (`pipeline_arrangements`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
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
    pub insert_id: String,
}

/// A processed record kept by a `collect` stage (`conversions`). The labels
/// every row of a stage shares are reference-counted: one allocation per
/// stage, not three per record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct RecordRow {
    pub run_id: Arc<str>,
    pub dataflow: Arc<str>,
    pub stage_path: Arc<str>,
    pub batch_id: u32,
    pub worker_id: u32,
    pub process_id: u32,
    pub record_id: String,
    /// The record as JSON.
    pub record: String,
    pub timestamp: u32,
    pub insert_id: String,
}

/// The tables the sidecar ships to, in the order their DDL appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Table {
    Metrics,
    Runs,
    Operators,
    Channels,
    Batches,
    Reductions,
    Aggregates,
    Arrangements,
    Conversions,
}

impl Table {
    /// The tables every run with metrics writes to, whatever its stages.
    pub const EVERY_RUN: [Table; 5] = [
        Table::Metrics,
        Table::Runs,
        Table::Operators,
        Table::Channels,
        Table::Batches,
    ];

    /// Every table, in DDL order.
    pub const ALL: [Table; 9] = [
        Table::Metrics,
        Table::Runs,
        Table::Operators,
        Table::Channels,
        Table::Batches,
        Table::Reductions,
        Table::Aggregates,
        Table::Arrangements,
        Table::Conversions,
    ];

    /// Wraps record rows for this table; only record tables (`conversions`) take them.
    pub fn rows(self, rows: Vec<RecordRow>) -> Rows {
        match self {
            Table::Conversions => Rows::Conversions(rows),
            other => panic!("{} is not a record table", other.name()),
        }
    }

    /// The table's name in ClickHouse (and its file name under `--metrics-dir`).
    pub fn name(self) -> &'static str {
        match self {
            Table::Metrics => "pipeline_metrics",
            Table::Runs => "pipeline_runs",
            Table::Operators => "pipeline_operators",
            Table::Channels => "pipeline_channels",
            Table::Batches => "pipeline_batches",
            Table::Reductions => "pipeline_reductions",
            Table::Aggregates => "pipeline_aggregates",
            Table::Arrangements => "pipeline_arrangements",
            Table::Conversions => "conversions",
        }
    }
}

/// Rows of one table, moved in bulk from workers to the sidecar and from the
/// sidecar to sinks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Rows {
    Metrics(Vec<StageMetricRow>),
    Runs(Vec<RunRow>),
    Operators(Vec<OperatorRow>),
    Channels(Vec<ChannelRow>),
    Batches(Vec<BatchRow>),
    Reductions(Vec<ReductionRow>),
    Aggregates(Vec<AggregateRow>),
    Arrangements(Vec<ArrangementRow>),
    Conversions(Vec<RecordRow>),
}

/// Applies the same generic expression to whichever row vector `$rows` holds.
#[macro_export]
#[doc(hidden)]
macro_rules! for_rows {
    ($rows:expr, $v:ident => $body:expr) => {
        match $rows {
            $crate::metrics::rows::Rows::Metrics($v) => $body,
            $crate::metrics::rows::Rows::Runs($v) => $body,
            $crate::metrics::rows::Rows::Operators($v) => $body,
            $crate::metrics::rows::Rows::Channels($v) => $body,
            $crate::metrics::rows::Rows::Batches($v) => $body,
            $crate::metrics::rows::Rows::Reductions($v) => $body,
            $crate::metrics::rows::Rows::Aggregates($v) => $body,
            $crate::metrics::rows::Rows::Arrangements($v) => $body,
            $crate::metrics::rows::Rows::Conversions($v) => $body,
        }
    };
}

impl Rows {
    /// Which table these rows belong to.
    pub fn table(&self) -> Table {
        match self {
            Rows::Metrics(_) => Table::Metrics,
            Rows::Runs(_) => Table::Runs,
            Rows::Operators(_) => Table::Operators,
            Rows::Channels(_) => Table::Channels,
            Rows::Batches(_) => Table::Batches,
            Rows::Reductions(_) => Table::Reductions,
            Rows::Aggregates(_) => Table::Aggregates,
            Rows::Arrangements(_) => Table::Arrangements,
            Rows::Conversions(_) => Table::Conversions,
        }
    }

    /// An empty vector for `table`.
    pub fn empty(table: Table) -> Rows {
        match table {
            Table::Metrics => Rows::Metrics(Vec::new()),
            Table::Runs => Rows::Runs(Vec::new()),
            Table::Operators => Rows::Operators(Vec::new()),
            Table::Channels => Rows::Channels(Vec::new()),
            Table::Batches => Rows::Batches(Vec::new()),
            Table::Reductions => Rows::Reductions(Vec::new()),
            Table::Aggregates => Rows::Aggregates(Vec::new()),
            Table::Arrangements => Rows::Arrangements(Vec::new()),
            Table::Conversions => Rows::Conversions(Vec::new()),
        }
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        for_rows!(self, v => v.len())
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves `other`'s rows onto the end of these. Both must be the same table.
    pub fn append(&mut self, other: Rows) {
        match (self, other) {
            (Rows::Metrics(a), Rows::Metrics(b)) => a.extend(b),
            (Rows::Runs(a), Rows::Runs(b)) => a.extend(b),
            (Rows::Operators(a), Rows::Operators(b)) => a.extend(b),
            (Rows::Channels(a), Rows::Channels(b)) => a.extend(b),
            (Rows::Batches(a), Rows::Batches(b)) => a.extend(b),
            (Rows::Reductions(a), Rows::Reductions(b)) => a.extend(b),
            (Rows::Aggregates(a), Rows::Aggregates(b)) => a.extend(b),
            (Rows::Arrangements(a), Rows::Arrangements(b)) => a.extend(b),
            (Rows::Conversions(a), Rows::Conversions(b)) => a.extend(b),
            (a, b) => panic!("cannot append {:?} rows to {:?} rows", b.table(), a.table()),
        }
    }

    /// Stamps every row with the id of the insert chunk it travels in.
    pub fn set_insert_id(&mut self, id: &str) {
        for_rows!(self, v => v.iter_mut().for_each(|r| { r.insert_id.clear(); r.insert_id.push_str(id); }))
    }

    /// Writes the rows as JSONEachRow (one JSON object per line).
    pub fn write_json_each_row(&self, out: &mut Vec<u8>) {
        for_rows!(self, v => {
            for row in v {
                // Serialising plain structs of strings and numbers into a Vec cannot fail.
                serde_json::to_writer(&mut *out, row).expect("row serialises");
                out.push(b'\n');
            }
        })
    }
}
