//! Reading a schema file (`ops/clickhouse/schema.sql`): its statements, and
//! the tables its `CREATE TABLE` statements make. One reviewed file stays the
//! source of a table's definition; code takes its tables from there.

use super::Table;

/// The statements of `sql`, in order: comment lines dropped, split at a `;`
/// that ends a line, `{db}` left in place.
///
/// ```
/// let sql = "-- a comment\nCREATE DATABASE IF NOT EXISTS {db};\nCREATE TABLE {db}.t (\n  a UInt8\n) ENGINE = Log;\n";
/// let s = mable_pipeline::table::statements(sql);
/// assert_eq!(s, ["CREATE DATABASE IF NOT EXISTS {db}", "CREATE TABLE {db}.t (\n  a UInt8\n) ENGINE = Log"]);
/// ```
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
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
            out.push(current.trim().to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// The tables `sql` creates with `CREATE TABLE IF NOT EXISTS {db}.name (…)`,
/// in order.
pub fn tables_in(sql: &str) -> Vec<Table> {
    const PREFIX: &str = "CREATE TABLE IF NOT EXISTS {db}.";
    statements(sql)
        .into_iter()
        .filter_map(|stmt| {
            let rest = stmt.strip_prefix(PREFIX)?;
            let name = rest.split(|c: char| c.is_whitespace() || c == '(').next()?;
            Some(Table::new(name.to_string(), stmt.clone()))
        })
        .collect()
}
