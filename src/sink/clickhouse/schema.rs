//! The schema: the statements that create it, the columns each table must
//! have, and how an existing table differs from that.
//!
//! A table's statement is the single source of its columns (for the metric
//! tables, `ops/clickhouse/schema.sql`). A table that already
//! exists may predate a column a later version added: those columns (listed in
//! [`ADDED_LATER`]) are added with `ALTER TABLE … ADD COLUMN` after checking
//! `system.columns`, because ClickHouse 18.16 cannot parse `ADD COLUMN IF NOT
//! EXISTS` and schema.sql must run unchanged there. Any other difference — a
//! missing column, a column of another type — is reported, and rows for that
//! table are spooled instead of sent: a column of another type may take a
//! row's value without complaint and store something else.

use std::fmt;

use crate::metrics::tables::metric_tables;
use crate::table::Table;

pub use crate::table::Column;

/// `(table, column)` pairs added after the table's first release. schema.sql
/// declares them in the `CREATE TABLE`; existing tables get them added.
pub(crate) const ADDED_LATER: &[(&str, &str)] = &[
    ("pipeline_runs", "metric_rows_produced"),
    ("pipeline_runs", "metric_rows_delivered"),
    ("pipeline_runs", "metric_rows_spooled"),
    ("pipeline_runs", "metric_rows_failed"),
    ("pipeline_runs", "metric_rows_dropped"),
];

/// What the sink runs at connect for `database`: the database, then each
/// metric table. Other tables (a dataflow's own) are created from their
/// statement when their first rows arrive.
pub fn schema_statements(database: &str) -> Vec<String> {
    let mut out = vec![format!("CREATE DATABASE IF NOT EXISTS {database}")];
    out.extend(metric_tables().all().iter().map(|t| t.ddl(database)));
    out
}

/// True for a column [`ADDED_LATER`] to `table`, which may be added to an existing table.
pub(crate) fn added_later(table: &str, column: &str) -> bool {
    ADDED_LATER.contains(&(table, column))
}

/// How an existing table's columns differ from what this version writes.
/// Extra columns are not a difference: inserts name their columns, and the
/// server fills the others with their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Difference {
    /// Expected columns the table lacks, with their expected type.
    pub missing: Vec<Column>,
    /// `(column, expected type, the table's type)`.
    pub wrong_type: Vec<(String, String, String)>,
}

impl Difference {
    /// `found`'s differences from the columns `table` declares.
    pub fn of(table: &Table, found: &[Column]) -> Difference {
        let mut d = Difference::default();
        for (name, ty) in table.columns() {
            match found.iter().find(|(n, _)| n == name) {
                None => d.missing.push((name.clone(), ty.clone())),
                Some((_, t)) if t != ty => d.wrong_type.push((name.clone(), ty.clone(), t.clone())),
                Some(_) => {}
            }
        }
        d
    }

    /// No difference that matters for inserting.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.wrong_type.is_empty()
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            let cols: Vec<String> = self
                .missing
                .iter()
                .map(|(n, t)| format!("{n} {t}"))
                .collect();
            let s = if cols.len() == 1 { "" } else { "s" };
            parts.push(format!("missing column{s} {}", cols.join(", ")));
        }
        for (name, want, have) in &self.wrong_type {
            parts.push(format!("column {name} is {have}, expected {want}"));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_table_is_created_with_its_columns() {
        let statements = schema_statements("db");
        assert_eq!(statements[0], "CREATE DATABASE IF NOT EXISTS db");
        for (sql, t) in statements[1..].iter().zip(metric_tables().all()) {
            assert!(sql.starts_with(&format!("CREATE TABLE IF NOT EXISTS db.{} (", t.name())));
            assert!(t.columns().len() >= 7, "{}", t.name());
        }
        let runs = &metric_tables().runs;
        for (table, col) in ADDED_LATER {
            assert_eq!(*table, runs.name());
            assert!(
                runs.columns().iter().any(|(n, _)| n == col),
                "{col} is added later, so schema.sql must declare it"
            );
        }
    }

    #[test]
    fn differences_name_the_columns() {
        let found = vec![
            ("run_id".to_string(), "String".to_string()),
            ("batch_id".to_string(), "String".to_string()),
            ("extra".to_string(), "UInt8".to_string()),
        ];
        let batches = &metric_tables().batches;
        let d = Difference::of(batches, &found);
        let text = d.to_string();
        assert!(
            text.starts_with("missing columns dataflow String, worker_id UInt32"),
            "{text}"
        );
        assert!(
            text.ends_with("; column batch_id is String, expected UInt32"),
            "{text}"
        );
        assert!(Difference::of(batches, batches.columns()).is_empty());
    }
}
