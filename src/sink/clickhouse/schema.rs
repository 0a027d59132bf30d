//! The schema: the statements that create it, the columns each table must
//! have, and how an existing table differs from that.
//!
//! `ops/clickhouse/schema.sql` is the single source of truth; the expected
//! columns are read from its `CREATE TABLE` statements. A table that already
//! exists may predate a column a later version added: those columns (listed in
//! [`ADDED_LATER`]) are added with `ALTER TABLE … ADD COLUMN` after checking
//! `system.columns`, because ClickHouse 18.16 cannot parse `ADD COLUMN IF NOT
//! EXISTS` and schema.sql must run unchanged there. Any other difference — a
//! missing column, a column of another type — is reported, and rows for that
//! table are spooled instead of sent: with RowBinary a wrong type does not
//! always fail, it can store garbage.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

/// The schema, run statement by statement at connect so a fresh server works.
const SCHEMA: &str = include_str!("../../../ops/clickhouse/schema.sql");

/// `(table, column)` pairs added after the table's first release. schema.sql
/// declares them in the `CREATE TABLE`; existing tables get them added.
pub(crate) const ADDED_LATER: &[(&str, &str)] = &[
    ("pipeline_runs", "metric_rows_produced"),
    ("pipeline_runs", "metric_rows_delivered"),
    ("pipeline_runs", "metric_rows_spooled"),
    ("pipeline_runs", "metric_rows_failed"),
    ("pipeline_runs", "metric_rows_dropped"),
];

/// The schema's statements for `database`: `{db}` substituted, comment lines
/// dropped, split at a `;` ending a line.
pub fn schema_statements(database: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in SCHEMA.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        let line = line.trim_end();
        let (text, ends) = match line.strip_suffix(';') {
            Some(text) => (text, true),
            None => (line, false),
        };
        current.push_str(text);
        current.push('\n');
        if ends {
            out.push(current.trim().replace("{db}", database));
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().replace("{db}", database));
    }
    out
}

/// A column's name and type, as ClickHouse spells them.
pub type Column = (String, String);

/// Every table's columns as schema.sql declares them.
pub fn expected_columns() -> &'static BTreeMap<String, Vec<Column>> {
    static PARSED: OnceLock<BTreeMap<String, Vec<Column>>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let prefix = "CREATE TABLE IF NOT EXISTS db.";
        schema_statements("db")
            .iter()
            .filter_map(|sql| {
                let rest = sql.strip_prefix(prefix)?;
                let (name, body) = rest.split_once(" (")?;
                let columns = body
                    .lines()
                    .map(str::trim)
                    .take_while(|l| !l.starts_with(')'))
                    .filter_map(|l| {
                        let l = l.trim_end_matches(',');
                        let (col, ty) = l.split_once(char::is_whitespace)?;
                        Some((col.to_string(), ty.trim().to_string()))
                    })
                    .collect();
                Some((name.to_string(), columns))
            })
            .collect()
    })
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
    /// `found`'s differences from schema.sql's `table`.
    pub fn of(table: &str, found: &[Column]) -> Difference {
        let mut d = Difference::default();
        for (name, ty) in expected_columns().get(table).into_iter().flatten() {
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
    use crate::metrics::rows::Table;

    #[test]
    fn every_table_is_parsed_with_its_columns() {
        let tables = expected_columns();
        for t in Table::ALL {
            let cols = &tables[t.name()];
            assert!(cols.len() >= 7, "{}: {cols:?}", t.name());
            assert_eq!(cols.last().unwrap().0, "insert_id", "{}", t.name());
        }
        let runs = &tables["pipeline_runs"];
        for (table, col) in ADDED_LATER {
            assert!(
                tables[*table].iter().any(|(n, _)| n == col),
                "{col} is added later, so schema.sql must declare it"
            );
        }
        assert!(runs.contains(&("metric_rows_spooled".into(), "UInt64".into())));
    }

    fn names<T: clickhouse::Row>(_: &[T]) -> &'static [&'static str] {
        T::COLUMN_NAMES
    }

    #[test]
    fn the_row_types_write_exactly_the_declared_columns() {
        for t in Table::ALL {
            let rows = crate::metrics::rows::Rows::empty(t);
            let mut written: Vec<&str> = crate::for_rows!(&rows, v => names(v)).to_vec();
            let mut declared: Vec<&str> = expected_columns()[t.name()]
                .iter()
                .map(|(n, _)| n.as_str())
                .collect();
            written.sort_unstable();
            declared.sort_unstable();
            assert_eq!(written, declared, "{}", t.name());
        }
    }

    #[test]
    fn differences_name_the_columns() {
        let found = vec![
            ("run_id".to_string(), "String".to_string()),
            ("batch_id".to_string(), "String".to_string()),
            ("extra".to_string(), "UInt8".to_string()),
        ];
        let d = Difference::of("pipeline_batches", &found);
        let text = d.to_string();
        assert!(
            text.starts_with("missing columns dataflow String, worker_id UInt32"),
            "{text}"
        );
        assert!(
            text.ends_with("; column batch_id is String, expected UInt32"),
            "{text}"
        );
        let all = &expected_columns()["pipeline_batches"];
        assert!(Difference::of("pipeline_batches", all).is_empty());
    }
}
