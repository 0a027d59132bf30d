//! The two ClickHouse versions every shipped statement runs on: Debian's
//! 18.16 server (a private instance) and current ClickHouse in-process
//! (chdb-core), behind one interface, plus loading a run's files into them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::chdb::Chdb;
use crate::runs;
use crate::support::clickhouse::ClickHouseServer;

pub trait Engine {
    /// "ClickHouse 18.16.1", "ClickHouse 26.9.2.1 (chdb-core 26.9.0)".
    fn label(&self) -> String;
    /// Runs one statement (data may follow an INSERT's FORMAT); its output or the error text.
    fn run(&self, sql: &str) -> Result<String, String>;
}

/// Debian's clickhouse-server, as the other tests use it.
pub struct Debian {
    pub server: ClickHouseServer,
    version: String,
}

impl Debian {
    pub fn start() -> Debian {
        let server = ClickHouseServer::start();
        let version = server.query("SELECT version()").trim().to_string();
        Debian { server, version }
    }
}

impl Engine for Debian {
    fn label(&self) -> String {
        format!("ClickHouse {}", self.version)
    }
    fn run(&self, sql: &str) -> Result<String, String> {
        self.server.try_query(sql)
    }
}

impl Engine for Chdb {
    fn label(&self) -> String {
        format!(
            "ClickHouse {} (chdb-core {})",
            self.server_version, self.chdb_version
        )
    }
    fn run(&self, sql: &str) -> Result<String, String> {
        self.try_query(sql)
    }
}

/// A result in TabSeparatedWithNamesAndTypes.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub names: Vec<String>,
    pub types: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn unescape(cell: &str) -> String {
    let mut out = String::new();
    let mut chars = cell.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Runs a SELECT and parses its result.
pub fn select(engine: &dyn Engine, sql: &str) -> Result<Table, String> {
    let body = engine.run(&format!(
        "{}\nFORMAT TabSeparatedWithNamesAndTypes",
        sql.trim().trim_end_matches(';')
    ))?;
    let mut lines = body.lines();
    let split = |l: &str| -> Vec<String> { l.split('\t').map(unescape).collect() };
    let names = split(lines.next().ok_or("an empty reply (no header)")?);
    let types = split(lines.next().ok_or("no types line")?);
    let rows = lines.map(split).collect();
    Ok(Table { names, types, rows })
}

pub fn is_numeric(ty: &str) -> bool {
    let ty = ty
        .strip_prefix("Nullable(")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(ty);
    ["UInt", "Int", "Float", "Decimal"]
        .iter()
        .any(|p| ty.starts_with(p))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// ops/clickhouse/schema.sql for database `mable`, one `(name, statement)`
/// per statement: "CREATE DATABASE mable", "CREATE TABLE pipeline_metrics", ….
pub fn schema_statements() -> Vec<(String, String)> {
    let schema = std::fs::read_to_string(repo().join("ops/clickhouse/schema.sql"))
        .expect("read ops/clickhouse/schema.sql")
        .replace("{db}", "mable");
    let code: String = schema
        .lines()
        .map(|l| l.split("--").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|sql| {
            let words: Vec<&str> = sql.split_whitespace().collect();
            let name = match words.as_slice() {
                ["CREATE", "DATABASE", "IF", "NOT", "EXISTS", db, ..] => {
                    format!("CREATE DATABASE {db}")
                }
                ["CREATE", "TABLE", "IF", "NOT", "EXISTS", table, ..] => format!(
                    "CREATE TABLE {}",
                    table.trim_start_matches("mable.").trim_end_matches('(')
                ),
                _ => words.iter().take(3).copied().collect::<Vec<_>>().join(" "),
            };
            (name, sql.to_string())
        })
        .collect()
}

/// Each table's sorting key (its `ORDER BY`), from schema.sql: the tables
/// are ReplacingMergeTrees, so `count() … FINAL` is the number of distinct keys.
pub fn sorting_keys() -> BTreeMap<String, Vec<String>> {
    schema_statements()
        .into_iter()
        .filter_map(|(name, sql)| {
            let table = name.strip_prefix("CREATE TABLE ")?.to_string();
            let key = sql.split("ORDER BY").nth(1)?;
            let key = key.trim().trim_start_matches('(');
            let key = key.split(')').next()?;
            Some((
                table,
                key.split(',').map(|c| c.trim().to_string()).collect(),
            ))
        })
        .collect()
}

/// Loads every metric file of a run into `mable` as the README says:
/// `INSERT INTO mable.<table> FORMAT JSONEachRow` with the file as data.
/// An empty file is left out: current ClickHouse refuses an INSERT with no
/// data ("No data to insert"), as `clickhouse-client` would with that file.
/// Returns the tables loaded.
pub fn load(engine: &dyn Engine, run_dir: &Path) -> Result<BTreeSet<String>, String> {
    let mut loaded = BTreeSet::new();
    for (table, file) in runs::files(run_dir) {
        let data = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        if data.trim().is_empty() {
            continue;
        }
        engine
            .run(&format!(
                "INSERT INTO mable.{table} FORMAT JSONEachRow\n{data}"
            ))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        loaded.insert(table);
    }
    Ok(loaded)
}
