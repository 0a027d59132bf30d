//! The report's own view of each metric file's rows: only the columns it
//! uses, borrowed from the line where possible. Unknown columns are ignored,
//! so files from newer or older builds still make a report (see
//! `ops/clickhouse/schema.sql` for every column).

use std::borrow::Cow;

use serde::Deserialize;

/// `pipeline_metrics`: one stage × batch × worker.
#[derive(Debug, Deserialize)]
pub struct MetricLine<'a> {
    #[serde(borrow)]
    pub stage_path: Cow<'a, str>,
    #[serde(borrow, default)]
    pub stage_kind: Cow<'a, str>,
    #[serde(default)]
    pub operator_id: u64,
    pub batch_id: u32,
    pub input_count: u64,
    pub output_count: u64,
    pub busy_ns: u64,
    #[serde(default)]
    pub start_us: u64,
    #[serde(default)]
    pub end_us: u64,
    pub worker_id: u32,
    #[serde(default)]
    pub process_id: u32,
}

/// `pipeline_runs`: one row per process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunLine {
    pub run_id: String,
    pub dataflow: String,
    pub process_id: u32,
    pub processes: u32,
    /// Workers in the whole run (every process).
    pub workers: u32,
    pub batch_size: u64,
    pub batches: u64,
    pub input: String,
    pub args: String,
    pub records_in: u64,
    pub records_out: u64,
    pub records_skipped: u64,
    pub start_us: u64,
    pub end_us: u64,
    pub elapsed_ms: f64,
    pub status: String,
    pub error: String,
    pub version: String,
    pub host: String,
}

/// `pipeline_batches`: one row per batch, made on worker 0.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct BatchLine {
    pub batch_id: u32,
    #[serde(default)]
    pub records_in: u64,
    pub entered_us: u64,
    pub completed_us: u64,
    pub latency_ms: f64,
}

/// `pipeline_operators`: one timely operator on one worker.
#[derive(Debug, Deserialize)]
pub struct OperatorLine<'a> {
    pub worker_id: u32,
    #[serde(default)]
    pub process_id: u32,
    pub operator_id: u64,
    #[serde(borrow)]
    pub address: Cow<'a, str>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow, default)]
    pub stage_path: Cow<'a, str>,
    #[serde(default)]
    pub is_scope: u8,
    pub schedule_ns: u64,
    #[serde(default)]
    pub activations: u64,
    #[serde(default)]
    pub max_activation_ns: u64,
}

/// `pipeline_channels`: one timely channel on one worker.
#[derive(Debug, Deserialize)]
pub struct ChannelLine {
    pub worker_id: u32,
    pub channel_id: u64,
    pub source_port: u32,
    pub source_operator_id: u64,
    pub target_port: u32,
    pub target_operator_id: u64,
    #[serde(default)]
    pub messages_sent: u64,
    pub records_sent: u64,
    #[serde(default)]
    pub records_received: u64,
}

/// `pipeline_reductions`: a reduce stage's merged result for one batch.
#[derive(Debug, Deserialize)]
pub struct ReductionLine<'a> {
    #[serde(borrow)]
    pub stage_path: Cow<'a, str>,
    pub batch_id: u32,
    #[serde(borrow)]
    pub result: Cow<'a, str>,
}

/// `pipeline_aggregates`: a key's running value after a batch that changed it.
#[derive(Debug, Deserialize)]
pub struct AggregateLine<'a> {
    #[serde(borrow)]
    pub stage_path: Cow<'a, str>,
    #[serde(borrow)]
    pub key: Cow<'a, str>,
    pub batch_id: u32,
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
}

/// `pipeline_arrangements`: a differential arrangement's size after a batch.
#[derive(Debug, Deserialize)]
pub struct ArrangementLine {
    pub worker_id: u32,
    pub operator_id: u64,
    pub batch_id: u32,
    pub records: i64,
    #[serde(default)]
    pub merges: u64,
}
