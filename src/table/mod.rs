//! Tables: where rows go — the engine's metric tables and users' own tables
//! alike, by one mechanism.
//!
//! A [`Table`] is a name and the `CREATE TABLE` statement that makes it; any
//! `Serialize` struct whose fields are its columns can be written to it. Rows
//! travel as [`Rows`]: already rendered as JSONEachRow lines, the format the
//! file sink writes and ClickHouse ingests, so a sink moves bytes and needs no
//! knowledge of the row type, a spool file can be replayed by any build, and
//! a user's table needs no registration anywhere: the ClickHouse sink creates
//! it from its statement the first time rows arrive.
//!
//! ```
//! use mable_pipeline::table::{Rows, Table};
//!
//! #[derive(serde::Serialize)]
//! struct Click { page: String, ms: u64 }
//!
//! let clicks = Table::new(
//!     "clicks",
//!     "CREATE TABLE IF NOT EXISTS {db}.clicks (page String, ms UInt64, insert_id String) \
//!      ENGINE = ReplacingMergeTree ORDER BY (page, insert_id)",
//! );
//! let mut rows = Rows::new(&clicks);
//! rows.push(&Click { page: "/".into(), ms: 12 }).unwrap();
//! let mut out = Vec::new();
//! rows.render("chunk-1", &mut out);
//! assert_eq!(out, b"{\"page\":\"/\",\"ms\":12,\"insert_id\":\"chunk-1\"}\n");
//! assert_eq!(clicks.columns()[1], ("ms".to_string(), "UInt64".to_string()));
//! ```

mod ddl;
mod schema;

pub use ddl::{Column, columns_of};
pub use schema::{statements, tables_in};

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// A table: its name and the statement that creates it, with `{db}` where
/// the database name goes. Cheap to clone; two handles with the same name are
/// the same table.
#[derive(Clone)]
pub struct Table(Arc<Def>);

struct Def {
    name: String,
    ddl: String,
    columns: Vec<Column>,
}

impl Table {
    /// A table called `name`, made by `ddl` (`CREATE TABLE IF NOT EXISTS
    /// {db}.name (…) ENGINE = …`). Every table has an `insert_id String`
    /// column: the sinks fill it with the id of the chunk a row travelled in,
    /// which is how delivery stays exactly-once.
    pub fn new(name: impl Into<String>, ddl: impl Into<String>) -> Table {
        let ddl = ddl.into();
        let columns = columns_of(&ddl);
        Table(Arc::new(Def {
            name: name.into(),
            ddl,
            columns,
        }))
    }

    /// The table's name (and its file's name under the metrics directory).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// True when the name is letters, digits and `_`, not starting with a
    /// digit: safe as a file name and as a ClickHouse identifier. Sinks
    /// refuse rows for any other name.
    pub fn has_plain_name(&self) -> bool {
        let name = self.name();
        name.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= 64
    }

    /// The `CREATE TABLE` statement for `database`.
    pub fn ddl(&self, database: &str) -> String {
        self.0.ddl.replace("{db}", database)
    }

    /// The statement as written, with `{db}` in it.
    pub fn ddl_template(&self) -> &str {
        &self.0.ddl
    }

    /// The columns the statement declares, in order.
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }
}

impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Table {}

impl PartialOrd for Table {
    fn partial_cmp(&self, other: &Table) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Table {
    fn cmp(&self, other: &Table) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl std::hash::Hash for Table {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Table({})", self.name())
    }
}

/// Rows of one table, rendered as JSONEachRow lines. Each line is kept
/// without its closing `}` so that [`render`](Self::render) can add the
/// chunk's `insert_id` when the rows are cut into a chunk.
#[derive(Clone)]
pub struct Rows {
    table: Table,
    text: Vec<u8>,
    count: usize,
}

impl Rows {
    /// No rows yet, for `table`.
    pub fn new(table: &Table) -> Rows {
        Rows {
            table: table.clone(),
            text: Vec::new(),
            count: 0,
        }
    }

    /// `rows` rendered, for `table`.
    pub fn of<T: Serialize>(table: &Table, rows: &[T]) -> serde_json::Result<Rows> {
        let mut out = Rows::new(table);
        let Some((first, rest)) = rows.split_first() else {
            return Ok(out);
        };
        // Rows of one table render to about the same length: size the buffer
        // once from the first row instead of doubling it many times (this
        // runs on the worker thread, once per batch and table).
        out.text.reserve(256);
        out.push(first)?;
        out.text.reserve(out.text.len() * rest.len() * 5 / 4);
        for r in rest {
            out.push(r)?;
        }
        Ok(out)
    }

    /// Adds one row: `row` must serialise as a JSON object whose fields are
    /// columns of the table (all but `insert_id`).
    pub fn push<T: Serialize + ?Sized>(&mut self, row: &T) -> serde_json::Result<()> {
        let start = self.text.len();
        let written = serde_json::to_writer(&mut self.text, row);
        if let Err(e) = written {
            self.text.truncate(start);
            return Err(e);
        }
        self.close_line(start)
    }

    /// Adds one row made of `prefix` (fields already rendered, e.g. a record
    /// table's run and batch columns: `"run_id":"…","batch_id":3`) followed
    /// by `row`'s own fields.
    pub fn push_with<T: Serialize + ?Sized>(
        &mut self,
        prefix: &[u8],
        row: &T,
    ) -> serde_json::Result<()> {
        let start = self.text.len();
        self.text.push(b'{');
        self.text.extend_from_slice(prefix);
        let fields = self.text.len();
        let written = serde_json::to_writer(&mut self.text, row);
        if let Err(e) = written {
            self.text.truncate(start);
            return Err(e);
        }
        // `row` rendered `{…}` after the prefix: drop its `{`, joining with a comma.
        if self.text.get(fields) != Some(&b'{') {
            self.text.truncate(start);
            return Err(serde::ser::Error::custom("a row must be a JSON object"));
        }
        if self.text.get(fields + 1) == Some(&b'}') || prefix.is_empty() {
            self.text.remove(fields);
        } else {
            self.text[fields] = b',';
        }
        self.close_line(start)
    }

    /// Turns the object just written at `start` into a kept line.
    fn close_line(&mut self, start: usize) -> serde_json::Result<()> {
        if self.text.len() < start + 2 || self.text.last() != Some(&b'}') {
            self.text.truncate(start);
            return Err(serde::ser::Error::custom("a row must be a JSON object"));
        }
        // `{}`: an empty object. Keep `{` alone; render adds the id.
        self.text.pop();
        self.text.push(b'\n');
        self.count += 1;
        Ok(())
    }

    /// The table the rows belong to.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Moves `other`'s rows after these; both must be of the same table.
    pub fn append(&mut self, other: Rows) {
        debug_assert_eq!(self.table, other.table);
        if self.text.is_empty() {
            self.text = other.text;
        } else {
            self.text.extend_from_slice(&other.text);
        }
        self.count += other.count;
    }

    /// Writes the rows as JSONEachRow, each with `"insert_id": insert_id`.
    pub fn render(&self, insert_id: &str, out: &mut Vec<u8>) {
        let mut id = Vec::with_capacity(insert_id.len() + 16);
        serde_json::to_writer(&mut id, insert_id).expect("a string serialises");
        out.reserve(self.text.len() + self.count * (id.len() + 16));
        for line in self.text.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            out.extend_from_slice(line);
            if line.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(b"\"insert_id\":");
            out.extend_from_slice(&id);
            out.extend_from_slice(b"}\n");
        }
    }

    /// The string field `name` of the first row, if it has one: a chunk's
    /// run and dataflow, which narrow the lookup of an insert id.
    pub fn first_str(&self, name: &str) -> Option<String> {
        let line = self.lines().next()?;
        let v: serde_json::Value = serde_json::from_str(&line).ok()?;
        v.get(name)?.as_str().map(str::to_string)
    }

    /// The rows as JSONEachRow without the `insert_id` field.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut s = String::from_utf8_lossy(l).into_owned();
                s.push('}');
                s
            })
    }
}

/// How rows are kept in a spool file: the table travels with them (name and
/// statement), so a replay needs no catalogue to know where they go.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    table: String,
    ddl: String,
    count: usize,
    text: String,
}

impl Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Stored {
            table: self.table.name().to_string(),
            ddl: self.table.ddl_template().to_string(),
            count: self.count,
            // serde_json writes UTF-8 only.
            text: String::from_utf8_lossy(&self.text).into_owned(),
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Rows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rows, D::Error> {
        let stored = Stored::deserialize(d)?;
        let lines = stored.text.bytes().filter(|&b| b == b'\n').count();
        if lines != stored.count {
            return Err(serde::de::Error::custom(format!(
                "{} rows of {} announced, {lines} found",
                stored.count, stored.table
            )));
        }
        Ok(Rows {
            table: Table::new(stored.table, stored.ddl),
            text: stored.text.into_bytes(),
            count: stored.count,
        })
    }
}

impl PartialEq for Rows {
    fn eq(&self, other: &Rows) -> bool {
        self.table == other.table && self.text == other.text
    }
}

impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rows({} × {})", self.count, self.table.name())
    }
}

/// Somewhere rows can be sent while a run goes: the run's sidecar, which
/// delivers them to files or ClickHouse. Stage operators that keep records
/// in a table hold one.
pub trait Shipper: Send + Sync + fmt::Debug {
    /// Hands over rows in bulk; never drops them.
    fn ship(&self, rows: Rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Table {
        Table::new(
            "t",
            "CREATE TABLE IF NOT EXISTS {db}.t (a UInt8, b String, insert_id String) ENGINE = Log",
        )
    }

    #[derive(Serialize)]
    struct Row {
        a: u8,
        b: &'static str,
    }

    #[test]
    fn rows_render_with_the_chunk_id() {
        let mut rows = Rows::new(&t());
        rows.push(&Row { a: 1, b: "x\n}" }).unwrap();
        rows.push_with(b"\"a\":2", &serde_json::json!({"b": "y"}))
            .unwrap();
        let mut more = Rows::new(&t());
        more.push(&serde_json::json!({})).unwrap();
        rows.append(more);
        assert_eq!(rows.len(), 3);
        let mut out = Vec::new();
        rows.render("c\"1", &mut out);
        let text = String::from_utf8(out).unwrap();
        let parsed: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            parsed[0],
            serde_json::json!({"a": 1, "b": "x\n}", "insert_id": "c\"1"})
        );
        assert_eq!(
            parsed[1],
            serde_json::json!({"a": 2, "b": "y", "insert_id": "c\"1"})
        );
        assert_eq!(parsed[2], serde_json::json!({"insert_id": "c\"1"}));
    }

    #[test]
    fn a_row_that_is_not_an_object_is_refused_and_leaves_nothing() {
        let mut rows = Rows::new(&t());
        assert!(rows.push(&5).is_err());
        assert!(rows.push_with(b"\"a\":1", &[1, 2]).is_err());
        assert!(rows.is_empty());
        let mut out = Vec::new();
        rows.render("x", &mut out);
        assert!(out.is_empty());
    }
}
