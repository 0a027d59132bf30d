//! The engine's metric tables, read from `ops/clickhouse/schema.sql`: the one
//! reviewed file that defines them. They are [`Table`]s like any user's: the
//! sinks treat them no differently.

use std::sync::OnceLock;

use crate::table::{Table, tables_in};

/// The schema file: the database and every shipped table, as compose and
/// `mable-pipeline schema` hand it to ClickHouse.
pub const SCHEMA_SQL: &str = include_str!("../../ops/clickhouse/schema.sql");

/// The metric tables, each found by name in [`SCHEMA_SQL`].
pub struct MetricTables {
    /// One stage's work on one batch on one worker (`pipeline_metrics`).
    pub stages: Table,
    /// One row per process of a run (`pipeline_runs`).
    pub runs: Table,
    /// Timely's operators (`pipeline_operators`).
    pub operators: Table,
    /// Timely's channels (`pipeline_channels`).
    pub channels: Table,
    /// Batch latency from the probe (`pipeline_batches`).
    pub batches: Table,
    /// Reduce results per batch (`pipeline_reductions`).
    pub reductions: Table,
    /// Running keyed aggregates (`pipeline_aggregates`).
    pub aggregates: Table,
    /// Differential arrangement sizes (`pipeline_arrangements`).
    pub arrangements: Table,
    /// Traces of the slowest and sampled batches (`pipeline_spans`).
    pub spans: Table,
}

impl MetricTables {
    /// The tables every run with metrics writes, whatever its stages.
    pub fn every_run(&self) -> [&Table; 5] {
        [
            &self.stages,
            &self.runs,
            &self.operators,
            &self.channels,
            &self.batches,
        ]
    }

    /// Every metric table, in the schema's order.
    pub fn all(&self) -> [&Table; 9] {
        [
            &self.stages,
            &self.runs,
            &self.operators,
            &self.channels,
            &self.batches,
            &self.reductions,
            &self.aggregates,
            &self.arrangements,
            &self.spans,
        ]
    }
}

/// The metric tables.
///
/// ```
/// let t = mable_pipeline::metrics::tables::metric_tables();
/// assert_eq!(t.stages.name(), "pipeline_metrics");
/// assert_eq!(t.stages.columns()[0].0, "stage_name");
/// ```
pub fn metric_tables() -> &'static MetricTables {
    static TABLES: OnceLock<MetricTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let all = tables_in(SCHEMA_SQL);
        let get = |name: &str| {
            all.iter()
                .find(|t| t.name() == name)
                .cloned()
                .unwrap_or_else(|| panic!("ops/clickhouse/schema.sql defines no table {name}"))
        };
        MetricTables {
            stages: get("pipeline_metrics"),
            runs: get("pipeline_runs"),
            operators: get("pipeline_operators"),
            channels: get("pipeline_channels"),
            batches: get("pipeline_batches"),
            reductions: get("pipeline_reductions"),
            aggregates: get("pipeline_aggregates"),
            arrangements: get("pipeline_arrangements"),
            spans: get("pipeline_spans"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::rows::*;
    use serde::Serialize;

    fn keys<T: Serialize + Default>() -> Vec<String> {
        let v = serde_json::to_value(T::default()).unwrap();
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    fn declared(t: &Table) -> Vec<String> {
        let mut k: Vec<String> = t
            .columns()
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| n != "insert_id")
            .collect();
        k.sort();
        k
    }

    /// schema.sql and the row types stay equal: every row type writes exactly
    /// its table's columns (the sinks add `insert_id`).
    #[test]
    fn the_row_types_write_exactly_the_declared_columns() {
        let t = metric_tables();
        assert_eq!(keys::<StageMetricRow>(), declared(&t.stages));
        assert_eq!(keys::<RunRow>(), declared(&t.runs));
        assert_eq!(keys::<OperatorRow>(), declared(&t.operators));
        assert_eq!(keys::<ChannelRow>(), declared(&t.channels));
        assert_eq!(keys::<BatchRow>(), declared(&t.batches));
        assert_eq!(keys::<ReductionRow>(), declared(&t.reductions));
        assert_eq!(keys::<AggregateRow>(), declared(&t.aggregates));
        assert_eq!(keys::<ArrangementRow>(), declared(&t.arrangements));
        assert_eq!(keys::<SpanRow>(), declared(&t.spans));
        for table in t.all() {
            assert_eq!(table.columns().last().unwrap().0, "insert_id");
        }
    }
}
