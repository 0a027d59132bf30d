//! Bad input: errors that name the file, line and problem, and the skip mode
//! that counts bad records and keeps them in a dead-letter file.

use std::path::Path;
use std::sync::Arc;

use super::dead_letter::DeadLetter;
use super::earliest::Earliest;

/// Something wrong with the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot read the input: {reason}")]
    Open { path: String, reason: String },

    #[error(
        "{path}: the file is empty; expected a JSON object, a JSON array, or NDJSON (one JSON value per line)"
    )]
    Empty { path: String },

    #[error("{path}: holds no records to cycle")]
    NoRecords { path: String },

    #[error("{path}:{line}: {reason}")]
    Record {
        path: String,
        line: u64,
        reason: String,
    },

    #[error("this dataflow needs an input file (its records cannot be generated)")]
    NeedsInput,

    #[error(
        "{path}: in a cluster every process cycles the input's records, so the input must be a regular file, not standard input or a pipe"
    )]
    StreamInCluster { path: String },

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// Stop the run with an error naming the file, line and problem.
    #[default]
    Fail,
    /// Skip the record, count it, and keep it in the dead-letter file if there is one.
    Skip,
}

/// The run's policy for bad records, handed to every source.
#[derive(Debug, Clone, Default)]
pub struct RecordErrors {
    pub policy: ErrorPolicy,
    pub dead_letter: Option<Arc<DeadLetter>>,
    /// The dataflow's records carry personal data: error messages name the
    /// file, line, field and expected type but never quote an input value.
    /// A dataflow that declares personal data sets this for every run of it.
    pub personal_data: bool,
}

/// What a source does after reporting a bad record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Skipped and counted (`--on-error skip`): go on.
    Skipped,
    /// Fail mode: the record is the run's error candidate; stop feeding.
    Stop,
}

/// A source's handle on the run's bad-record handling: the policy, and the
/// process-wide slot where fail mode keeps the earliest bad record found.
#[derive(Debug, Clone)]
pub(crate) struct BadRecords {
    pub(crate) errors: RecordErrors,
    pub(crate) earliest: Arc<Earliest>,
}

impl BadRecords {
    /// Whether messages must not quote input values.
    pub(crate) fn personal_data(&self) -> bool {
        self.errors.personal_data
    }

    /// The key of the earliest bad record any worker found in fail mode:
    /// records before it must still be checked, records after it need not
    /// be read. One atomic load; sources ask once per batch.
    #[inline]
    pub(crate) fn posted(&self) -> Option<u64> {
        self.earliest.posted()
    }

    /// Handles a bad record at `key` (its position in the input, in the
    /// source's own order): in fail mode it becomes a candidate for the
    /// run's error and the source stops; in skip mode it is written to the
    /// dead-letter file (if any) for the caller to count.
    pub(crate) fn report(
        &self,
        key: u64,
        path: &str,
        line: u64,
        reason: String,
        raw: &[u8],
    ) -> Result<Verdict, InputError> {
        match self.errors.policy {
            ErrorPolicy::Fail => {
                let error = InputError::Record {
                    path: path.to_string(),
                    line,
                    reason,
                };
                self.earliest.post(key, error);
                Ok(Verdict::Stop)
            }
            ErrorPolicy::Skip => {
                tracing::debug!(file = %path, line, %reason, "skipping bad record");
                if let Some(d) = &self.errors.dead_letter {
                    d.write(path, line, &reason, raw)?;
                }
                Ok(Verdict::Skipped)
            }
        }
    }

    /// Handles damage that cannot be skipped (an array that never closes):
    /// in fail mode a candidate like any bad record at `key`, in skip mode
    /// the run's error at once.
    pub(crate) fn structure(&self, key: u64, error: InputError) -> Result<(), InputError> {
        match self.errors.policy {
            ErrorPolicy::Fail => {
                self.earliest.post(key, error);
                Ok(())
            }
            ErrorPolicy::Skip => Err(error),
        }
    }
}
