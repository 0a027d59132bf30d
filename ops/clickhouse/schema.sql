-- mable-pipeline metrics schema: the single source of truth.
--
-- The binary embeds this file (include_str!) and runs each statement with
-- `{db}` replaced by the validated `--database` name; compose mounts it into
-- ClickHouse's init directory with `{db}` already set to `mable`.
--
-- Must run unchanged on ClickHouse 18.16 (Debian, what tests use) and on
-- current ClickHouse (what compose runs): plain types only, no DateTime64,
-- codecs, TTL or LowCardinality.
--
-- Delivery is exactly-once: every row carries a deterministic key (the ORDER BY
-- of its ReplacingMergeTree) and every insert chunk an `insert_id`; before a
-- chunk is re-sent after an ambiguous failure the sidecar asks whether that
-- `insert_id` already landed. ReplacingMergeTree collapses any duplicate that
-- still slipped through once parts merge (`FINAL` gives the exact view at once).

CREATE DATABASE IF NOT EXISTS {db};

-- One row per (run, stage, batch, worker): counted inside the stage operator.
-- The first seven columns are the Go seed's table, same names, compatible types,
-- so the seed README's example queries run unchanged.
CREATE TABLE IF NOT EXISTS {db}.pipeline_metrics (
    stage_name   String,
    batch_id     UInt32,
    input_count  UInt64,
    output_count UInt64,
    duration_ms  Float64,
    worker_id    UInt32,
    timestamp    DateTime,
    run_id       String,
    dataflow     String,
    stage_path   String,
    stage_kind   String,
    operator_id  UInt64,
    process_id   UInt32,
    busy_ns      UInt64,
    start_us     UInt64,
    end_us       UInt64,
    insert_id    String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (dataflow, run_id, stage_path, batch_id, worker_id);

-- One row per (run, process): what ran, how it ended, and what became of the
-- process's metric rows of every other table (produced = delivered + spooled +
-- failed + dropped), counted once they were settled just before this row.
--
-- The metric_rows_* columns were added after the table's first release. For a
-- table that predates them the binary adds them when it connects (it reads
-- system.columns first, because ClickHouse 18.16 cannot parse ADD COLUMN IF
-- NOT EXISTS and this file must run unchanged there). On a current server the
-- equivalent, for an existing deployment, is:
--   ALTER TABLE {db}.pipeline_runs
--     ADD COLUMN IF NOT EXISTS metric_rows_produced UInt64,
--     ADD COLUMN IF NOT EXISTS metric_rows_delivered UInt64,
--     ADD COLUMN IF NOT EXISTS metric_rows_spooled UInt64,
--     ADD COLUMN IF NOT EXISTS metric_rows_failed UInt64,
--     ADD COLUMN IF NOT EXISTS metric_rows_dropped UInt64
CREATE TABLE IF NOT EXISTS {db}.pipeline_runs (
    run_id       String,
    dataflow     String,
    process_id   UInt32,
    processes    UInt32,
    workers      UInt32,
    batch_size   UInt64,
    batches      UInt64,
    input        String,
    args         String,
    records_in   UInt64,
    records_out  UInt64,
    records_skipped UInt64,
    started_at   DateTime,
    start_us     UInt64,
    end_us       UInt64,
    elapsed_ms   Float64,
    status       String,
    error        String,
    version      String,
    host         String,
    metric_rows_produced  UInt64,
    metric_rows_delivered UInt64,
    metric_rows_spooled   UInt64,
    metric_rows_failed    UInt64,
    metric_rows_dropped   UInt64,
    insert_id    String
) ENGINE = ReplacingMergeTree(end_us)
PARTITION BY toYYYYMM(started_at)
ORDER BY (run_id, process_id);

-- One row per (run, worker, operator), from timely's own log: the operator graph
-- (internal operators included) with scheduling time and activation counts.
CREATE TABLE IF NOT EXISTS {db}.pipeline_operators (
    run_id       String,
    dataflow     String,
    worker_id    UInt32,
    process_id   UInt32,
    operator_id  UInt64,
    address      String,
    parent_address String,
    name         String,
    stage_path   String,
    is_scope     UInt8,
    schedule_ns  UInt64,
    activations  UInt64,
    max_activation_ns UInt64,
    timestamp    DateTime,
    insert_id    String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (run_id, worker_id, operator_id);

-- One row per (run, worker, channel): endpoints and the records that crossed it.
CREATE TABLE IF NOT EXISTS {db}.pipeline_channels (
    run_id        String,
    dataflow      String,
    worker_id     UInt32,
    process_id    UInt32,
    channel_id    UInt64,
    scope_address String,
    source_node   UInt32,
    source_port   UInt32,
    target_node   UInt32,
    target_port   UInt32,
    source_operator_id UInt64,
    target_operator_id UInt64,
    kind          String,
    messages_sent UInt64,
    records_sent  UInt64,
    messages_received UInt64,
    records_received  UInt64,
    timestamp     DateTime,
    insert_id     String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (run_id, worker_id, channel_id);

-- One row per (run, batch): end-to-end latency as the dataflow's probe saw it
-- on global worker 0, from the batch entering the input to the probe's frontier
-- passing it.
CREATE TABLE IF NOT EXISTS {db}.pipeline_batches (
    run_id       String,
    dataflow     String,
    batch_id     UInt32,
    worker_id    UInt32,
    process_id   UInt32,
    records_in   UInt64,
    entered_us   UInt64,
    completed_us UInt64,
    latency_ms   Float64,
    timestamp    DateTime,
    insert_id    String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (run_id, batch_id);

-- One row per (run, reduce stage, batch): the combined per-batch aggregate.
CREATE TABLE IF NOT EXISTS {db}.pipeline_reductions (
    run_id       String,
    dataflow     String,
    stage_path   String,
    batch_id     UInt32,
    result       String,
    timestamp    DateTime,
    insert_id    String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (run_id, stage_path, batch_id);

-- One row per (run, aggregate stage, key, batch in which the key changed):
-- the key's running count/sum/min/max after that batch. ReplacingMergeTree on
-- batch_id keeps the latest per key once parts merge; `FINAL` (or argMax by
-- batch_id) gives the latest value at once.
CREATE TABLE IF NOT EXISTS {db}.pipeline_aggregates (
    run_id       String,
    dataflow     String,
    stage_path   String,
    key          String,
    batch_id     UInt32,
    count        Int64,
    sum          Int64,
    min          Int64,
    max          Int64,
    timestamp    DateTime,
    insert_id    String
) ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (run_id, stage_path, key);

-- One row per (run, worker, arrangement operator, batch): differential's
-- arrangement log, so the size of incremental state can be watched growing.
CREATE TABLE IF NOT EXISTS {db}.pipeline_arrangements (
    run_id       String,
    dataflow     String,
    worker_id    UInt32,
    process_id   UInt32,
    operator_id  UInt64,
    batch_id     UInt32,
    records      Int64,
    batches      UInt64,
    merges       UInt64,
    timestamp    DateTime,
    insert_id    String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (run_id, worker_id, operator_id, batch_id);

-- Traces of batches, for Grafana's trace view (the ClickHouse plugin's trace
-- columns, aliased by the dashboard's queries): one root span per batch (the
-- batch's latency, from worker 0's probe) and one child span per stage x
-- worker, from the same timing as pipeline_metrics. Ids are hex: trace_id per
-- (run, batch), span_id per (run, batch, stage path, worker); the root's
-- parent_span_id is ''. Capped: only the slowest batches plus an even sample
-- get spans (README, "Traces"), so a run of a million one-record batches
-- writes thousands of spans, not millions. Plain types for 18.16: times are
-- unix microseconds, the tags separate columns.
CREATE TABLE IF NOT EXISTS {db}.pipeline_spans (
    run_id         String,
    dataflow       String,
    batch_id       UInt32,
    trace_id       String,
    span_id        String,
    parent_span_id String,
    service_name   String,
    operation_name String,
    start_us       UInt64,
    duration_us    UInt64,
    worker_id      UInt32,
    process_id     UInt32,
    records_in     UInt64,
    records_out    UInt64,
    busy_ns        UInt64,
    timestamp      DateTime,
    insert_id      String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (run_id, trace_id, span_id);

-- Records a dataflow's `collect` stage keeps in ClickHouse (the `conversions`
-- dataflow's payloads): one row per record, the record as JSON. Records ride
-- the metrics sidecar, so they get the same batching, retries, spool and
-- exactly-once delivery. `record_id` is unique per record within a run.
CREATE TABLE IF NOT EXISTS {db}.conversions (
    run_id       String,
    dataflow     String,
    stage_path   String,
    batch_id     UInt32,
    worker_id    UInt32,
    process_id   UInt32,
    record_id    String,
    record       String,
    timestamp    DateTime,
    insert_id    String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (run_id, record_id);

-- Payloads the `conversions` dataflow's validator stopped, one row per broken rule
-- (destination, rule, event id: never personal data), kept apart from the payloads
-- that are sent. Created from this statement by the sink on its first rows, too.
CREATE TABLE IF NOT EXISTS {db}.conversions_rejections (
    run_id       String,
    dataflow     String,
    stage_path   String,
    batch_id     UInt32,
    worker_id    UInt32,
    process_id   UInt32,
    destination  String,
    rule         String,
    count        UInt64,
    event_id     String,
    timestamp    DateTime,
    insert_id    String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (run_id, destination, rule, event_id);
