//! The sink's settings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::redact_url;

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
