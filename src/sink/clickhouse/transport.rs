//! The requests the sink makes, and the retry loop around one chunk.
//!
//! Everything runs on the sink's own current-thread runtime: the sidecar is a
//! plain thread, and one chunk at a time is all it ever asks for.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::clickhouse::Client;
use tokio::runtime::Runtime;

use super::error::{Failure, SinkError, classify, redact_url};
use super::schema::Column;
use crate::sink::Chunk;

/// How often a request in flight looks whether its [`StopBy`] moved.
const STOP_POLL: Duration = Duration::from_millis(50);

/// A deadline another thread can set for a connection's requests and retries.
///
/// At the end of a run the sidecar sets it: a request still in flight then
/// is abandoned (its chunk is spooled, and the `insert_id` check sorts out
/// later whether it landed), so shutdown never waits on a server that stopped
/// answering longer than it allowed.
#[derive(Debug, Clone, Default)]
pub struct StopBy(Arc<Mutex<Option<Instant>>>);

impl StopBy {
    /// Requests end at `at` at the latest, from now on (and those in flight).
    pub fn set(&self, at: Instant) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
    }

    /// No deadline beyond each request's own timeout.
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The earlier of `other` and the deadline.
    pub fn limit(&self, other: Instant) -> Instant {
        match *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(at) => at.min(other),
            None => other,
        }
    }

    /// True once the deadline has passed.
    pub fn passed(&self) -> bool {
        let now = Instant::now();
        self.limit(now + Duration::from_secs(1)) <= now
    }
}

/// Returns once `limit`, or the stop deadline if earlier, has passed.
async fn wait_until(stop: &StopBy, limit: Instant) {
    loop {
        let until = stop.limit(limit);
        let now = Instant::now();
        if now >= until {
            return;
        }
        tokio::time::sleep((until - now).min(STOP_POLL)).await;
    }
}

/// How many recent insert tokens a table keeps for deduplication, on
/// servers that support it: well above the chunks one run sends to a table
/// in the time a retry or a replay takes.
const DEDUP_WINDOW: u32 = 10_000;

/// The statement that gives `table` its deduplication window.
pub fn dedup_window_statement(database: &str, table: &str) -> String {
    format!(
        "ALTER TABLE {database}.`{table}` MODIFY SETTING non_replicated_deduplication_window = {DEDUP_WINDOW}"
    )
}

/// The settings an insert of chunk `insert_id` carries on a server that
/// deduplicates by token.
pub fn dedup_settings(insert_id: &str) -> [(&'static str, String); 2] {
    [
        ("insert_deduplicate", "1".to_string()),
        ("insert_deduplication_token", insert_id.to_string()),
    ]
}

/// First pause between attempts; doubles up to [`MAX_BACKOFF`].
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest pause between attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What became of one chunk after retries.
#[derive(Debug)]
pub enum Attempt {
    /// Sent now and acknowledged.
    Delivered,
    /// The `insert_id` check found every row already there; nothing was sent.
    AlreadyPresent,
    /// Refused for good (a server data error, or a partial chunk).
    Rejected(SinkError),
    /// Not reachable or credentials refused within the budget: keep the rows.
    Unavailable(SinkError),
}

/// A connection to one server and database.
pub(crate) struct Conn {
    rt: Runtime,
    /// No default database: for DDL and probes, which must work before the
    /// database exists (18.16 refuses `?database=` naming a missing one).
    admin: Client,
    /// With the database set: inserts name bare tables, because the crate
    /// quotes `db.table` as a single identifier.
    client: Client,
    url: String,
    password: Option<String>,
    pub(crate) request_timeout: Duration,
    pub(crate) retries: u64,
    pub(crate) stop: StopBy,
    /// The server deduplicates inserts by token (ClickHouse ≥ 22.2): each
    /// chunk goes with `insert_deduplication_token` = its `insert_id`, and its
    /// tables keep a window of recent tokens. 18.16 has neither; there the
    /// `insert_id` check before a re-send is all there is.
    pub(crate) server_dedup: bool,
}

impl Conn {
    pub(crate) fn new(
        url: &str,
        database: &str,
        user: Option<&str>,
        password: Option<&str>,
        request_timeout: Duration,
    ) -> std::io::Result<Conn> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // 18.16 cannot describe tables the way the crate's validation asks.
        let mut admin = Client::default().with_url(url).with_validation(false);
        // A password without a user makes 18.16 look up the user "".
        if let Some(user) = user.or(password.map(|_| "default")) {
            admin = admin.with_user(user);
        }
        if let Some(password) = password {
            admin = admin.with_password(password);
        }
        let client = admin.clone().with_database(database);
        Ok(Conn {
            rt,
            admin,
            client,
            url: url.to_string(),
            password: password.map(str::to_string),
            request_timeout,
            retries: 0,
            stop: StopBy::default(),
            server_dedup: false,
        })
    }

    /// The server URL without credentials.
    pub(crate) fn url(&self) -> String {
        redact_url(&self.url)
    }

    fn run<T>(
        &self,
        timeout: Duration,
        fut: impl Future<Output = ::clickhouse::error::Result<T>>,
    ) -> Result<T, Failure> {
        let limit = Instant::now() + timeout;
        // The timer must be created inside the runtime.
        let out = self.rt.block_on(async {
            tokio::select! {
                biased;
                r = fut => Some(r),
                () = wait_until(&self.stop, limit) => None,
            }
        });
        match out {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(classify(&e, &self.url, self.password.as_deref())),
            None => Err(Failure::Transient(SinkError::Unreachable {
                url: self.url(),
                detail: if self.stop.passed() {
                    "abandoned at the end of the run".to_string()
                } else {
                    format!("no answer within {timeout:?}")
                },
            })),
        }
    }

    /// Asks the server for `SELECT 1`: does it answer and accept us?
    pub(crate) fn probe(&self, timeout: Duration) -> Result<(), Failure> {
        let q = self.admin.query("SELECT 1");
        self.run(timeout, q.fetch_one::<u8>()).map(drop)
    }

    /// The server's version, as `(major, minor)`.
    pub(crate) fn version(&self) -> Result<(u32, u32), Failure> {
        let q = self.admin.query("SELECT version()");
        let v: String = self.run(self.request_timeout, q.fetch_one())?;
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        Ok((parts.next().unwrap_or(0), parts.next().unwrap_or(0)))
    }

    /// Keeps the last inserts' tokens on `table`, so a chunk sent again is
    /// dropped by the server itself (only with [`server_dedup`](Self::server_dedup)).
    pub(crate) fn keep_dedup_window(&self, database: &str, table: &str) -> Result<(), Failure> {
        let q = self
            .admin
            .query_raw(&dedup_window_statement(database, table));
        self.run(self.request_timeout, q.execute())
    }

    /// Runs each statement of the schema, in order.
    pub(crate) fn create_schema(&self, statements: &[String]) -> Result<(), Failure> {
        for sql in statements {
            let q = self.admin.query_raw(sql);
            self.run(self.request_timeout, q.execute())?;
        }
        Ok(())
    }

    /// Every column of every table in `database`: `(table, (name, type))`.
    pub(crate) fn columns(&self, database: &str) -> Result<Vec<(String, Column)>, Failure> {
        let q = self
            .admin
            .query("SELECT table, name, type FROM system.columns WHERE database = ?")
            .bind(database);
        let rows: Vec<(String, String, String)> = self.run(self.request_timeout, q.fetch_all())?;
        Ok(rows.into_iter().map(|(t, n, ty)| (t, (n, ty))).collect())
    }

    /// Adds a column schema.sql declares to an existing table. `database` is
    /// validated and the column comes from schema.sql, so nothing needs quoting.
    pub(crate) fn add_column(
        &self,
        database: &str,
        table: &str,
        (name, ty): &Column,
    ) -> Result<(), Failure> {
        let sql = format!("ALTER TABLE {database}.{table} ADD COLUMN {name} {ty}");
        let q = self.admin.query_raw(&sql);
        self.run(self.request_timeout, q.execute())
    }

    /// How many rows of `table` carry `insert_id`.
    ///
    /// When all of the chunk's rows share a run and dataflow (a run's chunks
    /// always do), the query names them too: every table's sort key leads with
    /// them, so the server reads that run's granules instead of the whole
    /// `insert_id` column, which grows with every run ever stored.
    pub(crate) fn count_insert_id(&self, chunk: &Chunk) -> Result<u64, Failure> {
        let table = chunk.rows.table().name();
        // A chunk's rows always belong to one run (one process's sidecar
        // serves one run), so the first row's run stands for all of them.
        let has = |c: &str| chunk.rows.table().columns().iter().any(|(n, _)| n == c);
        let run = (has("run_id") && has("dataflow"))
            .then(|| {
                Some((
                    chunk.rows.first_str("run_id")?,
                    chunk.rows.first_str("dataflow")?,
                ))
            })
            .flatten();
        let q = match run {
            Some((run_id, dataflow)) => self
                .client
                .query(&format!(
                    "SELECT count() FROM `{table}` WHERE dataflow = ? AND run_id = ? AND insert_id = ?"
                ))
                .bind(dataflow)
                .bind(run_id),
            None => self
                .client
                .query(&format!("SELECT count() FROM `{table}` WHERE insert_id = ?")),
        };
        self.run(
            self.request_timeout,
            q.bind(&chunk.insert_id).fetch_one::<u64>(),
        )
    }

    /// Whether a query with this id is still running (an earlier attempt of
    /// the same insert whose reply we lost).
    fn still_running(&self, query_id: &str) -> Result<bool, Failure> {
        let q = self
            .admin
            .query("SELECT count() FROM system.processes WHERE query_id = ?")
            .bind(query_id);
        Ok(self.run(self.request_timeout, q.fetch_one::<u64>())? > 0)
    }

    /// Sends the chunk as one INSERT of JSONEachRow, with `query_id` = its
    /// `insert_id`. The server matches fields to columns by name and refuses
    /// a field the table lacks, so a row never lands in the wrong column.
    fn insert(&self, chunk: &Chunk) -> Result<(), Failure> {
        let table = chunk.rows.table().name();
        let id = chunk.insert_id.as_str();
        let t = self.request_timeout;
        let mut body = Vec::new();
        chunk.render(&mut body);
        self.run(t, async {
            let mut insert = self
                .client
                .insert_formatted_with(format!("INSERT INTO `{table}` FORMAT JSONEachRow"))
                .with_timeouts(Some(t), Some(t))
                .with_setting("query_id", id);
            if self.server_dedup {
                for (name, value) in dedup_settings(id) {
                    insert = insert.with_setting(name, value);
                }
            }
            insert.send(body.into()).await?;
            insert.end().await
        })
    }

    /// One try. `check_first` asks whether the chunk already landed before
    /// sending it; the error's flag says whether the request may have landed.
    fn try_once(&self, chunk: &Chunk, check_first: bool) -> Result<Attempt, (Failure, bool)> {
        if check_first {
            let id = &chunk.insert_id;
            if self.still_running(id).map_err(|f| (f, true))? {
                let e = SinkError::Unreachable {
                    url: self.url(),
                    detail: format!("an earlier attempt of insert {id} is still running"),
                };
                return Err((Failure::Transient(e), true));
            }
            let table = chunk.rows.table();
            let found = self.count_insert_id(chunk).map_err(|f| (f, true))?;
            let expected = chunk.rows.len() as u64;
            if found >= expected {
                if found > expected {
                    tracing::warn!(insert_id = %id, found, expected, "chunk present more than once");
                }
                return Ok(Attempt::AlreadyPresent);
            }
            if found > 0 {
                let e = SinkError::PartialChunk {
                    url: self.url(),
                    table: table.name().to_string(),
                    insert_id: id.clone(),
                    found,
                    expected,
                };
                return Err((Failure::Rejected(e), true));
            }
        }
        // Any failure of the insert itself may come after the server stored
        // the rows; a `Code:` reply means it did not, but checking is cheap.
        self.insert(chunk).map_err(|f| (f, true))?;
        Ok(Attempt::Delivered)
    }

    /// Tries `chunk` until it lands, is refused, or `until` passes, backing off
    /// exponentially. After any failure that may have reached the server, the
    /// next try first checks whether the chunk is already there.
    pub(crate) fn attempt(
        &mut self,
        chunk: &Chunk,
        mut check_first: bool,
        until: Instant,
    ) -> Attempt {
        let mut backoff = FIRST_BACKOFF;
        loop {
            if self.stop.passed() {
                // Not even started: the chunk goes to the spool untouched.
                return Attempt::Unavailable(SinkError::Unreachable {
                    url: self.url(),
                    detail: "abandoned at the end of the run".into(),
                });
            }
            match self.try_once(chunk, check_first) {
                Ok(done) => return done,
                Err((Failure::Rejected(e), _)) => return Attempt::Rejected(e),
                Err((Failure::Auth(e), _)) => return Attempt::Unavailable(e),
                Err((Failure::Transient(e), ambiguous)) => {
                    check_first |= ambiguous;
                    if Instant::now() + backoff > self.stop.limit(until) {
                        return Attempt::Unavailable(e);
                    }
                    tracing::debug!(error = %e, ?backoff, insert_id = %chunk.insert_id, "retrying");
                    self.retries += 1;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
