//! Bad input: errors that name the file, line and problem, and the skip mode
//! that counts bad records and keeps them in a dead-letter file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Something wrong with the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot read the input: {reason}")]
    Open { path: String, reason: String },

    #[error(
        "{path}: the file is empty; expected a JSON object, a JSON array, or NDJSON (one JSON value per line)"
    )]
    Empty { path: String },

    #[error("{path}: holds no records to cycle for --size")]
    NoRecords { path: String },

    #[error(
        "{path}:{line}: {reason}\n  (fix the record, or run with --on-error skip --dead-letter FILE to skip and keep bad records)"
    )]
    Record {
        path: String,
        line: u64,
        reason: String,
    },

    #[error(
        "this dataflow needs an input file (its records cannot be generated): give INPUT, optionally with --size N"
    )]
    NeedsInput,

    #[error("cannot write the dead-letter file {path}: {reason}")]
    DeadLetter { path: String, reason: String },
}

impl InputError {
    pub(crate) fn open(path: &Path, e: impl std::fmt::Display) -> InputError {
        InputError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

/// What to do with a record that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ErrorPolicy {
    /// Stop the run with an error naming the file, line and problem.
    #[default]
    Fail,
    /// Skip the record, count it, and write it to `--dead-letter` if given.
    Skip,
}

/// A file of skipped records, one JSON object per line:
/// `{"file": …, "line": …, "error": …, "record": …}`. Shared by all workers
/// of a process; written only when a record is bad, never on the hot path.
#[derive(Debug)]
pub struct DeadLetter {
    path: PathBuf,
    out: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl DeadLetter {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<DeadLetter, InputError> {
        let file = std::fs::File::create(path).map_err(|e| InputError::DeadLetter {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(DeadLetter {
            path: path.to_path_buf(),
            out: Mutex::new(std::io::BufWriter::new(file)),
        })
    }

    fn write(&self, file: &str, line: u64, error: &str, raw: &[u8]) -> Result<(), InputError> {
        let entry = serde_json::json!({
            "file": file,
            "line": line,
            "error": error,
            "record": String::from_utf8_lossy(raw),
        });
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::to_writer(&mut *out, &entry)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"))
            .and_then(|_| out.flush())
            .map_err(|e| InputError::DeadLetter {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            })
    }
}

/// The run's policy for bad records, handed to every source.
#[derive(Debug, Clone, Default)]
pub struct RecordErrors {
    pub policy: ErrorPolicy,
    pub dead_letter: Option<Arc<DeadLetter>>,
}

impl RecordErrors {
    /// Handles a bad record: an error in fail mode, a dead-letter entry
    /// (and `Ok`, for the caller to count) in skip mode.
    pub fn bad_record(
        &self,
        path: &Path,
        line: u64,
        reason: String,
        raw: &[u8],
    ) -> Result<(), InputError> {
        let file = path.display().to_string();
        match self.policy {
            ErrorPolicy::Fail => Err(InputError::Record {
                path: file,
                line,
                reason,
            }),
            ErrorPolicy::Skip => {
                tracing::debug!(%file, line, %reason, "skipping bad record");
                match &self.dead_letter {
                    Some(d) => d.write(&file, line, &reason, raw),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A readable reason for a record serde_json could not parse.
pub(crate) fn describe_json_error(
    e: &serde_json::Error,
    raw: &[u8],
    is_last_unterminated: bool,
) -> String {
    if let Err(u) = std::str::from_utf8(raw) {
        return format!(
            "not valid UTF-8 (byte {} of the record)",
            u.valid_up_to() + 1
        );
    }
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof if is_last_unterminated => format!(
            "truncated last line: the file ends in the middle of a JSON value ({})",
            strip_position(e)
        ),
        Category::Eof => format!("incomplete JSON value: {}", strip_position(e)),
        Category::Syntax => format!(
            "malformed JSON: {} at column {}",
            strip_position(e),
            e.column()
        ),
        Category::Data => format!(
            "wrong field or type: {} at column {}",
            strip_position(e),
            e.column()
        ),
        Category::Io => format!("read error: {e}"),
    }
}

/// serde_json appends "at line L column C"; for one-record parses the line is
/// meaningless, so the position is reported separately.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
