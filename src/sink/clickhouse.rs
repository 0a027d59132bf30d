//! The ClickHouse sink: the official `clickhouse` crate over HTTP, with
//! retries, a disk spool for when the server stays away or falls behind, and
//! exactly-once delivery.
//!
//! [`ClickHouseSink`] does the work, one chunk at a time, blocking while it
//! retries; `metrics replay` uses it directly. During a run the sidecar talks
//! to a [`BackgroundSink`], which runs it on a thread of its own and spills
//! chunks to the spool when that thread is behind, so a slow or absent server
//! never holds up the sidecar (see [`background`]).
//!
//! # Delivery guarantee
//!
//! Every row of a chunk handed to the sink ends up in its table exactly once,
//! or waits in the spool for `metrics replay`: it is delivered now, delivered
//! later from the spool (when the server comes back during the run, or by
//! replay), or kept in the spool because the server cannot take it as it is
//! (a table with another schema). Only when the spool itself cannot be
//! written is a chunk counted failed. Zero rows lost, zero duplicated, even
//! when the server dies in the middle of an insert. It rests on four facts:
//!
//! 1. A chunk is one `INSERT` of at most a few thousand rows (far below
//!    `max_insert_block_size`), which MergeTree stores as one part per
//!    partition, atomically: after any failure either all of the chunk's rows
//!    are in the table or none is. (The tables partition by month, so only a
//!    chunk straddling a month boundary becomes two parts; a crash between
//!    those two commits is the one way to reach the "some but not all" case
//!    below.)
//! 2. Every row carries its chunk's `insert_id`. After any failure that may
//!    have happened after the request reached the server (a broken
//!    connection, a timeout, a lost reply), and before every send from the
//!    spool, the sink asks `SELECT count() ... WHERE insert_id = '…'`: all rows
//!    there means delivered, nothing is sent; none means (re)send. Some but not
//!    all cannot come from a single-part insert, so that chunk stays in the
//!    spool with a message rather than risk duplicates.
//! 3. The insert's `query_id` is its `insert_id`, so an earlier attempt that is
//!    still running on the server is seen (`system.processes`) and waited for
//!    before the count, and a duplicate send while it runs is refused by the
//!    server (`Code: 216`).
//! 4. A spooled chunk is sent only by whoever holds the claim on its file
//!    (see [`super::spool`]), and its file is deleted only after its rows are
//!    known to be in ClickHouse; so a run draining its spool and any number of
//!    replays never send one chunk at the same time.
//!
//! As belt and braces the tables are `ReplacingMergeTree` on a deterministic
//! key, so a duplicate that slipped through anyway disappears at merge time;
//! `FINAL` shows the merged view at once.
//!
//! # When the server is away
//!
//! Network errors and timeouts are retried with exponential backoff (50 ms
//! doubling to 1 s) within [`ClickHouseConfig::retry_budget`]. When that runs
//! out, or the credentials are refused (a replay with the right ones can
//! deliver later), the chunk goes to the [`super::spool`] and the sink
//! enters "server away" mode: later chunks are spooled at once and the server
//! is re-probed at most every [`REPROBE_EVERY`]. Once it answers, chunks go to
//! it again, and what was spooled is drained when the sink has nothing newer
//! to send, and at the end of the run.
//!
//! # When the server refuses the rows
//!
//! At connect the sink compares each existing table's columns with
//! schema.sql's (see [`schema`]) and adds the columns a later version
//! added. A table that still differs is named with what differs, and its rows
//! go to the spool without being sent — RowBinary into a column of another
//! type may store garbage rather than fail. A reply with a `Code:` about the
//! data (unknown column, type mismatch) is never retried: the chunk goes to
//! the spool, the message names the table and what differs, and later chunks
//! for that table are spooled at once. Replay delivers them once the table is
//! fixed.
//!
//! 18.16 needs `.with_validation(false)` (no `RowBinaryWithNamesAndTypes`)
//! and `.with_database(db)` with bare table names, because the crate quotes
//! `db.table` as a single identifier.

pub mod background;
mod config;
mod error;
pub mod schema;
mod transport;

pub use background::BackgroundSink;
pub use config::ClickHouseConfig;
pub use error::{SinkError, validate_identifier};
pub use schema::{Difference, schema_statements};
pub use transport::{Attempt, StopBy, dedup_settings, dedup_window_statement};

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::spool::{Claim, Spool, Take};
use super::{Chunk, Ledger, Outcome};
use crate::metrics::tables::metric_tables;
use crate::table::Table;
use error::Failure;
use schema::Column;
use transport::Conn;

/// Least time between probes while the server is away, so a dead server
/// costs the sink one quick request every so often, not one per chunk.
pub const REPROBE_EVERY: Duration = Duration::from_secs(2);
/// How long a probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A chunk this sink (or the sidecar on its behalf) put in the spool, to
/// drain later in the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub path: PathBuf,
    pub table: Table,
    pub rows: u64,
}

/// What one step of draining the spool did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Nothing of this sink's is left to drain.
    Empty,
    /// One chunk handled: delivered, or left in the spool for replay (its
    /// table refuses rows, or another process holds it).
    Progress,
    /// The server could not be reached; the chunk stays first in line.
    Stalled,
}

/// Delivers chunks to ClickHouse, blocking while it retries; see the module
/// docs for the guarantee. Counts go to its [`Ledger`].
pub struct ClickHouseSink {
    cfg: ClickHouseConfig,
    conn: Conn,
    schema: Vec<String>,
    schema_ready: bool,
    /// Tables made ready on this server: created if missing, columns checked.
    ready: std::collections::BTreeSet<Table>,
    /// Tables rows are not sent to, with why: they differ from what this
    /// version writes, or the server refused rows for them.
    unusable: BTreeMap<Table, String>,
    /// `Some(next_probe)` while the server is away; `Some(None)` never
    /// re-probes (a bad config: only `metrics replay` can deliver the rows).
    away: Option<Option<Instant>>,
    spool: Arc<Spool>,
    /// Spooled chunks to drain during the run, oldest first.
    spooled: VecDeque<Spooled>,
    ledger: Ledger,
}

impl ClickHouseSink {
    /// Connects, checking that the server answers and accepts the
    /// credentials, creates the database and tables, adds columns a later
    /// version added, and notes tables that differ (see [`schema_problems`](Self::schema_problems)).
    pub fn connect(cfg: ClickHouseConfig) -> Result<ClickHouseSink, SinkError> {
        validate_identifier(&cfg.database)?;
        let mut sink = Self::unconnected(cfg)?;
        sink.conn
            .probe(PROBE_TIMEOUT.max(sink.cfg.request_timeout))
            .map_err(Failure::into_error)?;
        sink.prepare_schema().map_err(Failure::into_error)?;
        Ok(sink)
    }

    /// Like [`connect`](Self::connect), but when that fails returns a sink
    /// that spools (and keeps probing), plus the error to show, so a run still
    /// completes with its metrics kept for `metrics replay`.
    pub fn connect_or_spool(cfg: ClickHouseConfig) -> (ClickHouseSink, Option<SinkError>) {
        let invalid = validate_identifier(&cfg.database).err();
        let fallback = cfg.clone();
        match Self::connect(cfg) {
            Ok(sink) => (sink, None),
            Err(e) => {
                let mut sink =
                    Self::unconnected(fallback).expect("build the ClickHouse sink's runtime");
                let retry = invalid.is_none().then(|| Instant::now() + REPROBE_EVERY);
                sink.away = Some(retry);
                tracing::info!(error = %e, spool = %sink.cfg.spool_dir.display(), "ClickHouse unavailable; spooling metrics");
                (sink, Some(e))
            }
        }
    }

    fn unconnected(cfg: ClickHouseConfig) -> Result<ClickHouseSink, SinkError> {
        let conn = Conn::new(
            &cfg.url,
            &cfg.database,
            cfg.user.as_deref(),
            cfg.password.as_deref(),
            cfg.request_timeout,
        )
        .map_err(|e| SinkError::Client {
            url: error::redact_url(&cfg.url),
            detail: format!("cannot start its runtime: {e}"),
        })?;
        Ok(ClickHouseSink {
            schema: schema_statements(&cfg.database),
            spool: Arc::new(Spool::new(&cfg.spool_dir)),
            cfg,
            conn,
            schema_ready: false,
            ready: Default::default(),
            unusable: BTreeMap::new(),
            away: None,
            spooled: VecDeque::new(),
            ledger: Ledger::default(),
        })
    }

    /// Creates what is missing, adds columns added later, and notes every
    /// table that still differs from schema.sql.
    fn prepare_schema(&mut self) -> Result<(), Failure> {
        self.conn.server_dedup = self.conn.version()? >= (22, 2);
        self.conn.create_schema(&self.schema)?;
        let mut found = self.found_columns()?;
        let mut added = false;
        for table in metric_tables().all() {
            let name = table.name();
            let have = found.get(name).map_or(&[][..], Vec::as_slice);
            for column in Difference::of(table, have).missing {
                if schema::added_later(name, &column.0) {
                    // Another process may add it at the same moment; the
                    // columns are read again below either way.
                    if let Err(f) = self.conn.add_column(&self.cfg.database, name, &column) {
                        tracing::debug!(table = name, column = %column.0, error = %f.into_error(), "cannot add a column");
                    }
                    added = true;
                }
            }
        }
        if added {
            found = self.found_columns()?;
        }
        self.unusable.clear();
        self.ready.clear();
        for table in metric_tables().all() {
            self.check_columns(table, &found);
        }
        self.schema_ready = true;
        Ok(())
    }

    /// Notes `table` as ready, or as unusable when its columns differ. On a
    /// server that deduplicates inserts by token, the table keeps a window
    /// of tokens (a failure there leaves the `insert_id` check alone on
    /// guard, as on 18.16).
    fn check_columns(&mut self, table: &Table, found: &BTreeMap<String, Vec<Column>>) {
        let have = found.get(table.name()).map_or(&[][..], Vec::as_slice);
        let d = Difference::of(table, have);
        if !d.is_empty() {
            self.unusable.insert(
                table.clone(),
                format!("the table differs from what mable-pipeline writes: {d}"),
            );
        } else if self.conn.server_dedup
            && let Err(f) = self
                .conn
                .keep_dedup_window(&self.cfg.database, table.name())
        {
            tracing::debug!(table = table.name(), error = %f.into_error(), "no deduplication window");
        }
        self.ready.insert(table.clone());
    }

    /// Makes a table that is not a metric table (a dataflow's own) ready the
    /// first time its rows come: creates it from its statement and checks
    /// its columns.
    fn prepare_table(&mut self, table: &Table) -> Result<(), Failure> {
        if self.ready.contains(table) {
            return Ok(());
        }
        if let Err(e) = validate_identifier(table.name()) {
            self.unusable.insert(table.clone(), e.to_string());
            self.ready.insert(table.clone());
            return Ok(());
        }
        self.conn.create_schema(&[table.ddl(&self.cfg.database)])?;
        let found = self.found_columns()?;
        self.check_columns(table, &found);
        Ok(())
    }

    fn found_columns(&self) -> Result<BTreeMap<String, Vec<Column>>, Failure> {
        let mut by_table: BTreeMap<String, Vec<Column>> = BTreeMap::new();
        for (table, column) in self.conn.columns(&self.cfg.database)? {
            by_table.entry(table).or_default().push(column);
        }
        Ok(by_table)
    }

    /// One line per table whose rows cannot be sent because the table differs
    /// from what this version writes, naming what differs; empty when all is
    /// well. For showing once, before the run.
    pub fn schema_problems(&self) -> Vec<String> {
        self.unusable
            .iter()
            .map(|(t, why)| format!("{}.{}: {why}", self.cfg.database, t.name()))
            .collect()
    }

    /// The counts this sink records in.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Records into `ledger` from now on (the sidecar's, during a run).
    pub fn set_ledger(&mut self, ledger: Ledger) {
        self.ledger = ledger;
    }

    /// Requests retried after transient failures so far.
    pub fn retries(&self) -> u64 {
        self.conn.retries
    }

    /// A handle that ends this sink's requests by a deadline, from any thread.
    pub fn stop_by(&self) -> StopBy {
        self.conn.stop.clone()
    }

    /// True while the server is away and chunks go to the spool.
    pub fn is_spooling(&self) -> bool {
        self.away.is_some()
    }

    /// Where this sink spools, for telling the user what to replay.
    pub fn spool_dir(&self) -> &Path {
        &self.cfg.spool_dir
    }

    pub(crate) fn spool(&self) -> Arc<Spool> {
        self.spool.clone()
    }

    /// A short description, never with credentials.
    pub fn describe(&self) -> String {
        format!("clickhouse {} (db {})", self.conn.url(), self.cfg.database)
    }

    fn refused(&self, table: &Table, detail: String) -> SinkError {
        SinkError::Refused {
            url: self.conn.url(),
            table: format!("{}.{}", self.cfg.database, table.name()),
            detail,
        }
    }

    /// The server's refusal of rows for `table`, with what differs from the
    /// expected columns where the table can be read.
    fn explain(&self, table: &Table, e: SinkError) -> SinkError {
        let detail = match e {
            SinkError::Server { detail, .. } | SinkError::Client { detail, .. } => detail,
            other => return other,
        };
        let differs = self
            .found_columns()
            .ok()
            .map(|f| Difference::of(table, f.get(table.name()).map_or(&[], Vec::as_slice)))
            .filter(|d| !d.is_empty());
        match differs {
            Some(d) => self.refused(
                table,
                format!("{detail}; the table differs from what mable-pipeline writes: {d}"),
            ),
            None => self.refused(table, detail),
        }
    }

    /// Notes a refusal once, and stops sending to its table unless it was
    /// about one chunk only (some but not all of its rows found).
    fn note_refusal(&mut self, table: &Table, e: &SinkError) {
        let dir = self.cfg.spool_dir.display();
        self.ledger.error(format!(
            "{e}; its rows are kept in {dir}: fix the table, then run `mable-pipeline metrics replay {dir}`"
        ));
        if !matches!(e, SinkError::PartialChunk { .. }) {
            self.unusable.insert(table.clone(), e.to_string());
        }
    }

    /// Delivers a chunk that may already be in ClickHouse (from a spool):
    /// checks its `insert_id` first, retries within the budget, never spools
    /// and counts nothing (replay reports for itself).
    pub fn deliver_checked(&mut self, chunk: &Chunk) -> Attempt {
        if !self.schema_ready
            && let Err(f) = self
                .conn
                .probe(PROBE_TIMEOUT)
                .and_then(|()| self.prepare_schema())
        {
            return Attempt::Unavailable(f.into_error());
        }
        let table = chunk.rows.table();
        if let Err(f) = self.prepare_table(table) {
            return Attempt::Unavailable(f.into_error());
        }
        if let Some(why) = self.unusable.get(table) {
            return Attempt::Rejected(self.refused(table, why.clone()));
        }
        match self
            .conn
            .attempt(chunk, true, Instant::now() + self.cfg.retry_budget)
        {
            Attempt::Rejected(e) => Attempt::Rejected(self.explain(table, e)),
            other => other,
        }
    }

    /// Delivers one chunk of the run, blocking for at most the retry budget:
    /// it is delivered, or spooled (the server is away or refuses it), or —
    /// only when the spool cannot be written — failed. Records the outcome in
    /// the ledger.
    pub fn deliver(&mut self, chunk: &Chunk) -> Outcome {
        let n = chunk.rows.len() as u64;
        if n == 0 {
            return Outcome::Delivered;
        }
        let table = chunk.rows.table();
        if self.away.is_none()
            && let Err(f) = self.prepare_table(table)
        {
            tracing::warn!(error = %f.into_error(), table = table.name(), "cannot create a table; spooling its rows");
            return self.spool_chunk(chunk);
        }
        if self.unusable.contains_key(table) || (self.away.is_some() && !self.come_back(false)) {
            return self.spool_chunk(chunk);
        }
        let attempt = self
            .conn
            .attempt(chunk, false, Instant::now() + self.cfg.retry_budget);
        match attempt {
            Attempt::Delivered | Attempt::AlreadyPresent => {
                self.ledger.delivered(n);
                Outcome::Delivered
            }
            Attempt::Rejected(e) => {
                let e = self.explain(table, e);
                self.note_refusal(table, &e);
                self.spool_chunk(chunk)
            }
            Attempt::Unavailable(e) => {
                if !self.conn.stop.passed() {
                    tracing::warn!(error = %e, spool = %self.cfg.spool_dir.display(), "ClickHouse unavailable; spooling metrics until it is back");
                    self.away = Some(Some(Instant::now() + REPROBE_EVERY));
                }
                self.spool_chunk(chunk)
            }
        }
    }

    fn spool_chunk(&mut self, chunk: &Chunk) -> Outcome {
        let n = chunk.rows.len() as u64;
        match self.spool.push(chunk) {
            Ok(path) => {
                self.spooled.push_back(Spooled {
                    path,
                    table: chunk.rows.table().clone(),
                    rows: n,
                });
                self.ledger.spooled(n);
                Outcome::Spooled
            }
            Err(source) => {
                let e = SinkError::Spool {
                    dir: self.cfg.spool_dir.clone(),
                    source,
                };
                self.ledger.failed(n, e.to_string());
                Outcome::Failed(e.to_string())
            }
        }
    }

    /// Takes on a chunk spooled on this sink's behalf (by the sidecar, while
    /// this sink was busy), to drain with its own.
    pub fn adopt(&mut self, spooled: Spooled) {
        self.spooled.push_back(spooled);
    }

    /// True when spooled chunks wait and the server is not known to be away.
    pub fn can_drain(&self) -> bool {
        self.away.is_none() && !self.spooled.is_empty()
    }

    /// How long there is nothing to do: until the next probe while away.
    pub(crate) fn idle_for(&self) -> Duration {
        match self.away {
            Some(Some(next)) => next
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(10)),
            _ => Duration::from_secs(1),
        }
    }

    /// Leaves "server away" mode if it is time to probe (or `force`) and the
    /// server answers; true when the server is not away.
    pub fn come_back(&mut self, force: bool) -> bool {
        let Some(next_probe) = self.away else {
            return true;
        };
        let Some(next_probe) = next_probe else {
            return false;
        };
        if !force && Instant::now() < next_probe {
            return false;
        }
        let mut ready = self.conn.probe(PROBE_TIMEOUT);
        if ready.is_ok() && !self.schema_ready {
            ready = self.prepare_schema();
        }
        match ready {
            Ok(()) => {
                tracing::info!(url = %self.conn.url(), "ClickHouse is back");
                self.away = None;
                true
            }
            Err(f) => {
                tracing::debug!(error = %f.into_error(), "ClickHouse still away");
                self.away = Some(Some(Instant::now() + REPROBE_EVERY));
                false
            }
        }
    }

    /// Sends the oldest spooled chunk, under a claim on its file; the file is
    /// deleted only once the chunk's rows are known to be in ClickHouse.
    pub fn drain_one(&mut self, until: Instant) -> Drain {
        let Some(entry) = self.spooled.pop_front() else {
            return Drain::Empty;
        };
        if self.unusable.contains_key(&entry.table) {
            // Stays in the spool, for a replay once the table is fixed.
            return Drain::Progress;
        }
        let mut claim = match Claim::take(&entry.path) {
            Ok(Take::Claimed(claim)) => claim,
            // A replay is delivering it, or did: no longer this sink's to drain.
            Ok(Take::Busy | Take::Gone) => return Drain::Progress,
            Err(e) => {
                tracing::warn!(file = %entry.path.display(), error = %e, "cannot open a spool file; left for replay");
                return Drain::Progress;
            }
        };
        let chunk = match claim.chunk() {
            Ok(chunk) => chunk,
            Err(why) => {
                tracing::error!(file = %entry.path.display(), %why, "unreadable spool file left in place");
                return Drain::Progress;
            }
        };
        let until = until.min(Instant::now() + self.cfg.retry_budget);
        match self.conn.attempt(&chunk, true, until) {
            Attempt::Delivered | Attempt::AlreadyPresent => {
                self.ledger.drained(entry.rows);
                if let Err(e) = claim.remove() {
                    // The rows are in; a leftover file is caught by the check next time.
                    tracing::warn!(file = %entry.path.display(), error = %e, "cannot delete a drained spool file");
                }
                Drain::Progress
            }
            Attempt::Rejected(e) => {
                let e = self.explain(&entry.table, e);
                self.note_refusal(&entry.table, &e);
                Drain::Progress
            }
            Attempt::Unavailable(e) => {
                self.spooled.push_front(entry);
                if !self.conn.stop.passed() {
                    tracing::debug!(error = %e, "ClickHouse went away while draining the spool");
                    self.away = Some(Some(Instant::now() + REPROBE_EVERY));
                }
                Drain::Stalled
            }
        }
    }

    /// Drains spooled chunks until none is left, `until` passes, or the
    /// server fails again; true if none is left.
    pub fn drain(&mut self, until: Instant) -> bool {
        loop {
            if self.spooled.is_empty() {
                return true;
            }
            if Instant::now() >= self.conn.stop.limit(until) {
                return false;
            }
            match self.drain_one(until) {
                Drain::Empty => return true,
                Drain::Progress => {}
                Drain::Stalled => return false,
            }
        }
    }

    /// Settles what this sink spooled: probes at once if the server was
    /// away, and drains until `deadline`. What is left stays spooled.
    pub fn finish(&mut self, deadline: Instant) {
        if self.spooled.is_empty() {
            return;
        }
        if self.come_back(true) && self.drain(deadline) {
            return;
        }
        // The run's summary tells the user; this is for RUST_LOG=info.
        tracing::info!(
            chunks = self.spooled.len(),
            spool = %self.cfg.spool_dir.display(),
            "metrics remain spooled; deliver them with `mable-pipeline metrics replay {}`",
            self.cfg.spool_dir.display()
        );
    }
}
