//! Inputs: where records come from and how they are cut into batches.
//!
//! A run's input is planned once ([`InputPlan::plan`]: format detection,
//! batch size, templates) and then opened on every worker
//! ([`InputPlan::open`]), which parses its own share: NDJSON by byte range,
//! arrays and synthetic records by index. Each worker yields batch after batch
//! as it reads, so memory stays bounded whatever the file size.

mod array;
mod batching;
mod document;
mod error;
mod format;
mod ndjson;
mod parse;
mod synthetic;

pub use batching::{auto_batch_size, share};
pub use error::{DeadLetter, ErrorPolicy, InputError, RecordErrors};
pub use format::{Format, single_object};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::pipeline::Epoch;
use crate::record::SourceRecord;

/// One worker's stream of batches.
pub trait BatchSource<R> {
    /// Fills `out` with this worker's share of the next batch and returns its
    /// epoch, or `None` when this worker's share of the input is exhausted.
    fn next_batch(&mut self, out: &mut Vec<R>) -> Result<Option<Epoch>, InputError>;

    /// Bad records skipped so far (`--on-error skip`).
    fn skipped(&self) -> u64 {
        0
    }
}

/// Where a run's records come from.
#[derive(Debug, Clone)]
pub enum InputSpec {
    /// A file: a JSON object, a JSON array, or NDJSON.
    File(PathBuf),
    /// `--size N` records made by cycling the file's records with fresh ids.
    Cycled { path: PathBuf, size: u64 },
    /// `--size N` records made from nothing (`int`, `test_struct`).
    Generated { size: u64, seed: u64 },
}

/// A planned input, shared (read-only) by every worker of a process.
pub struct InputPlan<R> {
    kind: Kind<R>,
    /// Records per batch, across all workers.
    pub batch_size: usize,
    /// Records expected, exact for synthetic input, estimated for files.
    pub estimated_records: u64,
    /// What the input is, for the summary and `pipeline_runs`.
    pub description: String,
    errors: RecordErrors,
}

enum Kind<R> {
    Ndjson {
        path: PathBuf,
        len: u64,
    },
    Array {
        path: PathBuf,
    },
    Document {
        path: PathBuf,
    },
    Indexed {
        templates: Option<Arc<Vec<R>>>,
        size: u64,
        seed: u64,
    },
}

impl<R: SourceRecord> InputPlan<R> {
    /// Checks the input, detects its format and fixes the batch size
    /// (`batch_size`, or [`auto_batch_size`] when `None`).
    pub fn plan(
        spec: &InputSpec,
        batch_size: Option<usize>,
        total_workers: usize,
        errors: RecordErrors,
    ) -> Result<InputPlan<R>, InputError> {
        // Bytes per record, for the batch size: the file's average, the
        // templates' JSON size, or the in-memory size of generated records.
        let (kind, estimated, description, record_bytes) = match spec {
            InputSpec::File(path) => {
                let (format, len, estimate) = format::detect(path)?;
                let kind = match format {
                    Format::Ndjson => Kind::Ndjson {
                        path: path.clone(),
                        len,
                    },
                    Format::Array => Kind::Array { path: path.clone() },
                    Format::Document => Kind::Document { path: path.clone() },
                };
                (
                    kind,
                    estimate,
                    format!("{} ({})", path.display(), format.name()),
                    (len / estimate.max(1)) as usize,
                )
            }
            InputSpec::Cycled { path, size } => {
                let templates = load_all::<R>(path, &errors)?;
                if templates.is_empty() {
                    return Err(InputError::NoRecords {
                        path: path.display().to_string(),
                    });
                }
                let description = match templates.len() {
                    1 => format!(
                        "{} (one record, as a template) cycled to {size} records",
                        path.display()
                    ),
                    n => format!(
                        "{} ({n} records, as templates) cycled to {size} records",
                        path.display()
                    ),
                };
                let sample = &templates[..templates.len().min(100)];
                let bytes = sample
                    .iter()
                    .map(|t| serde_json::to_vec(t).map_or(0, |v| v.len()))
                    .sum::<usize>()
                    / sample.len();
                (
                    Kind::Indexed {
                        templates: Some(Arc::new(templates)),
                        size: *size,
                        seed: 0,
                    },
                    *size,
                    description,
                    bytes,
                )
            }
            InputSpec::Generated { size, seed } => {
                if R::generate(0, *seed).is_none() {
                    return Err(InputError::NeedsInput);
                }
                (
                    Kind::Indexed {
                        templates: None,
                        size: *size,
                        seed: *seed,
                    },
                    *size,
                    format!("{size} generated records"),
                    std::mem::size_of::<R>(),
                )
            }
        };
        let batch_size =
            batch_size.unwrap_or_else(|| auto_batch_size(estimated, total_workers, record_bytes));
        Ok(InputPlan {
            kind,
            batch_size,
            estimated_records: estimated,
            description,
            errors,
        })
    }

    /// Opens worker `index`'s share (of `peers` workers in all processes).
    pub fn open(
        &self,
        index: usize,
        peers: usize,
    ) -> Result<Box<dyn BatchSource<R> + '_>, InputError> {
        let per_worker = self.batch_size.div_ceil(peers).max(1);
        Ok(match &self.kind {
            Kind::Ndjson { path, len } => Box::new(ndjson::NdjsonSource::open(
                path,
                *len,
                index,
                peers,
                per_worker,
                self.errors.clone(),
            )?),
            Kind::Array { path } => Box::new(array::ArraySource::open(
                path,
                index,
                peers,
                self.batch_size,
                self.errors.clone(),
            )?),
            Kind::Document { path } => Box::new(document::DocumentSource::open(
                path,
                index,
                self.batch_size,
                self.errors.clone(),
            )?),
            Kind::Indexed {
                templates,
                size,
                seed,
            } => Box::new(synthetic::IndexedSource::new(
                templates.clone(),
                *size,
                *seed,
                index,
                peers,
                self.batch_size,
            )),
        })
    }
}

/// Reads every record of a (template) file on one thread.
fn load_all<R: SourceRecord>(path: &Path, errors: &RecordErrors) -> Result<Vec<R>, InputError> {
    let plan = InputPlan::<R>::plan(
        &InputSpec::File(path.to_path_buf()),
        Some(usize::MAX / 2),
        1,
        errors.clone(),
    )?;
    let mut source = plan.open(0, 1)?;
    let mut all = Vec::new();
    let mut batch = Vec::new();
    while source.next_batch(&mut batch)?.is_some() {
        all.append(&mut batch);
    }
    Ok(all)
}
