//! What can go wrong talking to ClickHouse, and what each failure means for a
//! chunk: retry it, spool it, or give it up.
//!
//! The split matters for exactly-once delivery and for not losing rows: only a
//! reply in which the server itself says the rows are wrong (`Code: NNN` that
//! is neither transient nor about credentials) makes rows be given up; anything
//! else keeps them, in memory while retrying and on disk once the retry budget
//! is spent.

use std::path::PathBuf;

/// Why the ClickHouse sink could not do what was asked.
///
/// `Display` is written for the person running the command: it says what to
/// do, and it never contains the password (details quoted from the server or
/// the network stack are scrubbed of it, and URLs lose any `user:pass@`).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The `--database` name is refused before anything is sent, because it is
    /// pasted into DDL and must not need quoting.
    #[error(
        "invalid ClickHouse database name {name:?}: {reason} \
         (use ASCII letters, digits and _, not starting with a digit, at most 64 characters)"
    )]
    InvalidDatabase { name: String, reason: &'static str },
    /// Nothing answered, the connection broke, or the server took too long.
    #[error(
        "cannot reach ClickHouse at {url}: {detail} \
         (is the server running, and is --clickhouse-url right?)"
    )]
    Unreachable { url: String, detail: String },
    /// The server answered but refused the user or password (or their rights).
    #[error(
        "ClickHouse at {url} rejected the credentials ({detail}): \
         set CLICKHOUSE_USER / CLICKHOUSE_PASSWORD"
    )]
    Credentials { url: String, detail: String },
    /// The server refused the statement itself, e.g. a type mismatch or an
    /// unknown table or column; sending it again would fail the same way.
    #[error("ClickHouse at {url} refused the request: {detail}")]
    Server { url: String, detail: String },
    /// Rows for `table` cannot go in as they are: the server refused them, or
    /// the table is known to differ from what this version writes (`detail`
    /// names the columns where it can).
    #[error("ClickHouse at {url} cannot take rows for {table}: {detail}")]
    Refused {
        url: String,
        table: String,
        detail: String,
    },
    /// A chunk's `insert_id` matched some but not all of its rows, so neither
    /// re-sending nor calling it delivered is safe.
    #[error(
        "ClickHouse at {url} holds {found} of the {expected} rows of chunk {insert_id} in {table}: \
         not re-sending it, to avoid duplicates (a ReplacingMergeTree merge may have collapsed rows)"
    )]
    PartialChunk {
        url: String,
        table: String,
        insert_id: String,
        found: u64,
        expected: u64,
    },
    /// The client library failed before or after talking to the server
    /// (bad URL, a row it could not encode, a reply it could not decode).
    #[error("the ClickHouse client failed for {url}: {detail}")]
    Client { url: String, detail: String },
    /// The spool directory could not be written or listed, so rows that could
    /// not be delivered could not be kept either.
    #[error("cannot use the metrics spool directory {dir}: {source}")]
    Spool {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a failure means for the chunk being sent.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth retrying; the request may or may not have reached the server.
    Transient(SinkError),
    /// The credentials were refused: no retry now, spool for a later replay.
    Auth(SinkError),
    /// The server (or client) says these rows can never go in as they are.
    Rejected(SinkError),
}

impl Failure {
    pub(crate) fn into_error(self) -> SinkError {
        match self {
            Failure::Transient(e) | Failure::Auth(e) | Failure::Rejected(e) => e,
        }
    }
}

/// Server codes for conditions that pass by themselves (load, timeouts, a
/// previous attempt of the same insert still running, a restarting replica).
const TRANSIENT_CODES: &[u32] = &[
    159, // TIMEOUT_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    216, // QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING
    236, // ABORTED
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    319, // UNKNOWN_STATUS_OF_INSERT
    394, // QUERY_WAS_CANCELLED
    425, // SYSTEM_ERROR
    999, // KEEPER_EXCEPTION
];

/// Server codes about who is asking: a replay with other credentials can fix them.
const AUTH_CODES: &[u32] = &[
    192, // UNKNOWN_USER
    193, // WRONG_PASSWORD
    194, // REQUIRED_PASSWORD
    195, // IP_ADDRESS_NOT_ALLOWED
    291, // DATABASE_ACCESS_DENIED
    497, // ACCESS_DENIED
    516, // AUTHENTICATION_FAILED
];

/// Checks a database name before it is pasted into DDL, so that no quoting is
/// ever needed and no input can change the statement.
pub fn validate_identifier(name: &str) -> Result<(), SinkError> {
    let fail = |reason| {
        Err(SinkError::InvalidDatabase {
            name: name.to_string(),
            reason,
        })
    };
    let Some(first) = name.chars().next() else {
        return fail("it is empty");
    };
    if name.len() > 64 {
        return fail("it is longer than 64 characters");
    }
    if !(first.is_ascii_alphabetic() || first == '_') {
        return fail("it must start with a letter or _");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return fail("it contains a character other than a letter, digit or _");
    }
    Ok(())
}

/// The server's error code in a reply such as `Code: 60, e.displayText() = ...`.
pub(crate) fn server_code(text: &str) -> Option<u32> {
    let at = text.find("Code: ")? + "Code: ".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `url` without any `user:password@` part, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// What the user sees of a failure: its first line, bounded, without the password.
pub(crate) fn scrub(detail: &str, password: Option<&str>) -> String {
    let first = detail.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("bad response: ").unwrap_or(first);
    let first = first
        .strip_suffix(", e.what() = DB::Exception")
        .unwrap_or(first);
    let mut out: String = first.chars().take(400).collect();
    if let Some(pw) = password.filter(|p| p.len() >= 3) {
        out = out.replace(pw, "***");
    }
    out
}

/// Sorts a client error into retry / spool / give up.
pub(crate) fn classify(
    err: &::clickhouse::error::Error,
    url: &str,
    password: Option<&str>,
) -> Failure {
    use ::clickhouse::error::Error as E;
    let url = redact_url(url);
    let detail = scrub(&err.to_string(), password);
    match err {
        E::BadResponse(text) => match server_code(text) {
            Some(code) if AUTH_CODES.contains(&code) => {
                Failure::Auth(SinkError::Credentials { url, detail })
            }
            Some(code) if TRANSIENT_CODES.contains(&code) => {
                Failure::Transient(SinkError::Unreachable { url, detail })
            }
            Some(_) => Failure::Rejected(SinkError::Server { url, detail }),
            // No `Code:`: not ClickHouse itself (a proxy?) or an empty error reply.
            None if text.starts_with("401") || text.starts_with("403") => {
                Failure::Auth(SinkError::Credentials { url, detail })
            }
            None => Failure::Transient(SinkError::Unreachable { url, detail }),
        },
        E::InvalidParams(_)
        | E::Compression(_)
        | E::SequenceMustHaveLength
        | E::Custom(_)
        | E::Unsupported(_)
        | E::SchemaMismatch(_) => Failure::Rejected(SinkError::Client { url, detail }),
        // Network, timeouts, truncated or undecodable replies (a dying server
        // produces those), and anything newer than this list.
        _ => Failure::Transient(SinkError::Unreachable { url, detail }),
    }
}
