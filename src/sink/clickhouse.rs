//! The ClickHouse sink: the official `clickhouse` crate over HTTP, with
//! retries, a disk spool for when the server stays away, and exactly-once
//! delivery.
//!
//! # Delivery guarantee
//!
//! Every row of a chunk that [`ClickHouseSink::deliver`] accepts ends up in its
//! table exactly once: it is delivered now, delivered later from the spool
//! (when the server comes back during the run, or by `metrics replay`), or
//! reported as rejected. Zero rows lost, zero duplicated, even when the
//! server dies in the middle of an insert. It rests on three facts:
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
//!    all cannot come from a single-part insert, so that chunk is rejected with
//!    a message rather than risk duplicates.
//! 3. The insert's `query_id` is its `insert_id`, so an earlier attempt that is
//!    still running on the server is seen (`system.processes`) and waited for
//!    before the count, and a duplicate send while it runs is refused by the
//!    server (`Code: 216`).
//!
//! As belt and braces the tables are `ReplacingMergeTree` on a deterministic
//! key, so a duplicate that slipped through anyway (say, the same chunk sent
//! by two replays running at once) disappears at merge time; `FINAL` shows the
//! merged view at once.
//!
//! # When the server is away
//!
//! Network errors and timeouts are retried with exponential backoff (50 ms
//! doubling to 1 s) within [`ClickHouseConfig::retry_budget`]. When that runs
//! out, or the credentials are refused (a replay with the right ones can
//! deliver later), the chunk goes to the [`super::spool`] and the sink
//! enters "server away" mode: later chunks are spooled at once and the server
//! is re-probed at most every [`REPROBE_EVERY`]. When it answers again the sink
//! first drains what it spooled, in order, then delivers normally. A reply
//! with a `Code:` that is about the data (type mismatch, unknown column) is
//! never retried: the chunk is [`Outcome::Rejected`].
//!
//! 18.16 needs `.with_validation(false)` (no `RowBinaryWithNamesAndTypes`)
//! and `.with_database(db)` with bare table names, because the crate quotes
//! `db.table` as a single identifier.

mod config;
mod error;
mod transport;

pub use config::{ClickHouseConfig, SinkStats, StatsHandle, schema_statements};
pub use error::{SinkError, validate_identifier};
pub use transport::Attempt;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::spool::{self, Spool};
use super::{Chunk, Outcome, Sink};
use transport::Conn;

/// Least time between probes while the server is away, so a dead server
/// costs the sidecar one quick request every so often, not one per chunk.
pub const REPROBE_EVERY: Duration = Duration::from_secs(2);
/// How long a probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Delivers chunks to ClickHouse; see the module docs for the guarantee.
pub struct ClickHouseSink {
    cfg: ClickHouseConfig,
    conn: Conn,
    schema: Vec<String>,
    schema_ready: bool,
    /// `Some(next_probe)` while the server is away; `Some(None)` never
    /// re-probes (a bad config: only `metrics replay` can deliver the rows).
    away: Option<Option<Instant>>,
    spool: Option<Spool>,
    /// Files this sink spooled and has not drained yet, oldest first.
    spooled: VecDeque<PathBuf>,
    stats: StatsHandle,
}

impl ClickHouseSink {
    /// Connects, checking that the server answers and accepts the
    /// credentials, and creates the database and tables.
    pub fn connect(cfg: ClickHouseConfig) -> Result<ClickHouseSink, SinkError> {
        validate_identifier(&cfg.database)?;
        let mut sink = Self::unconnected(cfg)?;
        sink.conn
            .probe(PROBE_TIMEOUT.max(sink.cfg.request_timeout))
            .map_err(|f| f.into_error())?;
        sink.conn
            .create_schema(&sink.schema)
            .map_err(|f| f.into_error())?;
        sink.schema_ready = true;
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
            cfg,
            conn,
            schema_ready: false,
            away: None,
            spool: None,
            spooled: VecDeque::new(),
            stats: StatsHandle::default(),
        })
    }

    /// The counts so far.
    pub fn stats(&self) -> SinkStats {
        self.stats.get()
    }

    /// A handle to the counts that stays valid after the sink is boxed away.
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// True while the server is away and chunks go to the spool.
    pub fn is_spooling(&self) -> bool {
        self.away.is_some()
    }

    /// Where this sink spools, for telling the user what to replay.
    pub fn spool_dir(&self) -> &Path {
        &self.cfg.spool_dir
    }

    /// Delivers a chunk that may already be in ClickHouse (from a spool):
    /// checks its `insert_id` first, retries within the budget, never spools.
    pub fn deliver_checked(&mut self, chunk: &Chunk) -> Attempt {
        if !self.schema_ready {
            match self
                .conn
                .probe(PROBE_TIMEOUT)
                .and_then(|()| self.conn.create_schema(&self.schema))
            {
                Ok(()) => self.schema_ready = true,
                Err(f) => return Attempt::Unavailable(f.into_error()),
            }
        }
        let attempt = self
            .conn
            .attempt(chunk, true, Instant::now() + self.cfg.retry_budget);
        self.count(chunk, &attempt);
        attempt
    }

    fn count(&self, chunk: &Chunk, attempt: &Attempt) {
        let n = chunk.rows.len() as u64;
        let retries = self.conn.retries;
        self.stats.update(|s| {
            s.retries = retries;
            match attempt {
                Attempt::Delivered | Attempt::AlreadyPresent => s.delivered_rows += n,
                Attempt::Rejected(_) => s.rejected_rows += n,
                Attempt::Unavailable(_) => {}
            }
        });
    }

    fn spool_chunk(&mut self, chunk: &Chunk) -> Outcome {
        let n = chunk.rows.len() as u64;
        let dir = &self.cfg.spool_dir;
        let pushed = match &mut self.spool {
            Some(spool) => spool.push(chunk),
            None => Spool::open(dir).and_then(|s| self.spool.insert(s).push(chunk)),
        };
        match pushed {
            Ok(path) => {
                self.spooled.push_back(path);
                self.stats.update(|s| s.spooled_rows += n);
                Outcome::Spooled
            }
            Err(source) => {
                self.stats.update(|s| s.rejected_rows += n);
                let e = SinkError::Spool {
                    dir: dir.clone(),
                    source,
                };
                tracing::error!(error = %e, "metric rows lost");
                Outcome::Rejected(e.to_string())
            }
        }
    }

    /// Leaves "server away" mode if it is time to probe (or `force`), the
    /// server answers, and everything this sink spooled drains before `until`.
    fn try_come_back(&mut self, until: Instant, force: bool) -> bool {
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
            ready = self.conn.create_schema(&self.schema);
            self.schema_ready = ready.is_ok();
        }
        let back = match ready {
            Ok(()) => self.drain(until),
            Err(f) => {
                tracing::debug!(error = %f.into_error(), "ClickHouse still away");
                false
            }
        };
        if back {
            tracing::info!(url = %self.conn.url(), "ClickHouse is back; spool drained");
            self.away = None;
        } else {
            self.away = Some(Some(Instant::now() + REPROBE_EVERY));
        }
        back
    }

    /// Delivers this sink's spooled chunks in order; false if any is left.
    fn drain(&mut self, until: Instant) -> bool {
        while let Some(path) = self.spooled.front().cloned() {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            let chunk = match spool::read_chunk(&path) {
                Ok(chunk) => chunk,
                Err(why) => {
                    tracing::error!(file = %path.display(), %why, "unreadable spool file left in place");
                    self.spooled.pop_front();
                    continue;
                }
            };
            let attempt = self
                .conn
                .attempt(&chunk, true, until.min(now + self.cfg.retry_budget));
            self.count(&chunk, &attempt);
            match attempt {
                Attempt::Delivered | Attempt::AlreadyPresent => {
                    let n = chunk.rows.len() as u64;
                    self.stats.update(|s| s.drained_rows += n);
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::warn!(file = %path.display(), error = %e, "cannot delete a drained spool file");
                    }
                }
                Attempt::Rejected(e) => {
                    tracing::error!(file = %path.display(), error = %e, "spooled chunk rejected; file kept for replay");
                }
                Attempt::Unavailable(_) => return false,
            }
            self.spooled.pop_front();
        }
        true
    }
}

impl Sink for ClickHouseSink {
    fn describe(&self) -> String {
        format!("clickhouse {} (db {})", self.conn.url(), self.cfg.database)
    }

    fn deliver(&mut self, chunk: &Chunk) -> Outcome {
        if chunk.rows.is_empty() {
            return Outcome::Delivered;
        }
        if self.away.is_some()
            && !self.try_come_back(Instant::now() + Duration::from_secs(3600), false)
        {
            return self.spool_chunk(chunk);
        }
        let attempt = self
            .conn
            .attempt(chunk, false, Instant::now() + self.cfg.retry_budget);
        self.count(chunk, &attempt);
        match attempt {
            Attempt::Delivered | Attempt::AlreadyPresent => Outcome::Delivered,
            Attempt::Rejected(e) => Outcome::Rejected(e.to_string()),
            Attempt::Unavailable(e) => {
                tracing::warn!(error = %e, spool = %self.cfg.spool_dir.display(), "ClickHouse unavailable; spooling metrics until it is back");
                self.away = Some(Some(Instant::now() + REPROBE_EVERY));
                self.spool_chunk(chunk)
            }
        }
    }

    fn finish(&mut self, deadline: Instant) {
        if self.spooled.is_empty() {
            return;
        }
        if !self.try_come_back(deadline, true) {
            let left = self.spooled.len();
            // The run's summary tells the user; this is for RUST_LOG=info.
            tracing::info!(
                chunks = left,
                spool = %self.cfg.spool_dir.display(),
                "metrics remain spooled; deliver them with `mable-pipeline metrics replay {}`",
                self.cfg.spool_dir.display()
            );
        }
    }

    fn drained_rows(&self) -> u64 {
        self.stats().drained_rows
    }
}
