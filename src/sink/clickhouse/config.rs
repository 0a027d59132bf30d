//! The sink's settings, the schema it creates, and the counts it keeps.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::error::redact_url;

/// The schema, run statement by statement at connect so a fresh server works.
const SCHEMA: &str = include_str!("../../../ops/clickhouse/schema.sql");

/// Where and how to reach ClickHouse.
#[derive(Clone)]
pub struct ClickHouseConfig {
    /// HTTP endpoint, e.g. `http://localhost:8123`.
    pub url: String,
    /// Database for all tables; checked with [`validate_identifier`](super::validate_identifier).
    pub database: String,
    /// From `CLICKHOUSE_USER`; `None` means the server's `default` user.
    pub user: Option<String>,
    /// From `CLICKHOUSE_PASSWORD`; never printed (see the `Debug` impl).
    pub password: Option<String>,
    /// Where chunks go while the server is away.
    pub spool_dir: PathBuf,
    /// Total backoff spent on one chunk before it is spooled.
    pub retry_budget: Duration,
    /// Longest wait for one request's answer.
    pub request_timeout: Duration,
}

impl ClickHouseConfig {
    /// A config with the default user, no password, a 5 s retry budget and a
    /// 10 s request timeout.
    pub fn new(
        url: impl Into<String>,
        database: impl Into<String>,
        spool_dir: impl Into<PathBuf>,
    ) -> Self {
        ClickHouseConfig {
            url: url.into(),
            database: database.into(),
            user: None,
            password: None,
            spool_dir: spool_dir.into(),
            retry_budget: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &redact_url(&self.url))
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("spool_dir", &self.spool_dir)
            .field("retry_budget", &self.retry_budget)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

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

/// Row counts for the run's summary ("produced, delivered, spooled, failed").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Rows known to be in ClickHouse: sent now, drained from the spool, or
    /// found already there by the `insert_id` check.
    pub delivered_rows: u64,
    /// Rows written to the spool (including those drained since).
    pub spooled_rows: u64,
    /// Of `spooled_rows`, those this sink delivered later.
    pub drained_rows: u64,
    /// Rows refused by the server, or that could not even be spooled.
    pub rejected_rows: u64,
    /// Requests retried after transient failures.
    pub retries: u64,
}

impl SinkStats {
    /// Rows still waiting in the spool for `metrics replay`.
    pub fn still_spooled(&self) -> u64 {
        self.spooled_rows.saturating_sub(self.drained_rows)
    }
}

/// A view of a sink's [`SinkStats`] that outlives handing the sink over as a
/// `Box<dyn Sink>`, so whoever made it can print them afterwards.
#[derive(Debug, Clone, Default)]
pub struct StatsHandle(Arc<Mutex<SinkStats>>);

impl StatsHandle {
    /// The current counts.
    pub fn get(&self) -> SinkStats {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut SinkStats)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}
