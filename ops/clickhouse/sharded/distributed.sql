-- The sharded mable-pipeline metrics store: one Distributed table per table
-- of ops/clickhouse/schema.sql, over that table on every shard, sharded by
-- run id. See README.md in this directory.
--
-- On EVERY server of the `mable` cluster (ops/clickhouse/sharded/remote_servers.xml):
--   1. schema.sql with {db} = the shard database (e.g. mable_shard): the
--      ReplacingMergeTree tables that hold this shard's rows;
--   2. this file with {db} = the database runs and dashboards use (mable)
--      and {shard_db} = the shard database.
-- Every table takes its columns from the shard table (`AS`), so the columns
-- are written once, in schema.sql. Every run lives on one shard, whole:
-- ReplacingMergeTree collapses duplicates within a shard only, and every
-- table's sorting key starts with (or holds) run_id.
--
-- Runs 18.16 and current ClickHouse alike. Idempotent.

CREATE DATABASE IF NOT EXISTS {db};

CREATE TABLE IF NOT EXISTS {db}.pipeline_metrics AS {shard_db}.pipeline_metrics
ENGINE = Distributed(mable, {shard_db}, pipeline_metrics, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.pipeline_runs AS {shard_db}.pipeline_runs
ENGINE = Distributed(mable, {shard_db}, pipeline_runs, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.pipeline_operators AS {shard_db}.pipeline_operators
ENGINE = Distributed(mable, {shard_db}, pipeline_operators, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.pipeline_channels AS {shard_db}.pipeline_channels
ENGINE = Distributed(mable, {shard_db}, pipeline_channels, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.pipeline_batches AS {shard_db}.pipeline_batches
ENGINE = Distributed(mable, {shard_db}, pipeline_batches, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.pipeline_reductions AS {shard_db}.pipeline_reductions
ENGINE = Distributed(mable, {shard_db}, pipeline_reductions, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.pipeline_aggregates AS {shard_db}.pipeline_aggregates
ENGINE = Distributed(mable, {shard_db}, pipeline_aggregates, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.pipeline_arrangements AS {shard_db}.pipeline_arrangements
ENGINE = Distributed(mable, {shard_db}, pipeline_arrangements, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.pipeline_spans AS {shard_db}.pipeline_spans
ENGINE = Distributed(mable, {shard_db}, pipeline_spans, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.conversions AS {shard_db}.conversions
ENGINE = Distributed(mable, {shard_db}, conversions, cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}.conversions_rejections AS {shard_db}.conversions_rejections
ENGINE = Distributed(mable, {shard_db}, conversions_rejections, cityHash64(run_id));
