//! Inputs: where records come from and how they are cut into batches.
//!
//! A run's input is planned once ([`InputPlan::plan`]: format detection,
//! batch size, templates) and then opened on every worker
//! ([`InputPlan::open`]), which parses its own share: NDJSON by byte range,
//! arrays and synthetic records by index. Each worker yields batch after batch
//! as it reads, so memory stays bounded whatever the file size. A stream
//! (standard input, a pipe) is read once, by a dealer thread on process 0
//! that hands each of its workers a share of every batch (see `stream.rs`).

mod array;
mod batching;
mod dead_letter;
mod describe;
mod document;
mod earliest;
mod error;
mod format;
mod ndjson;
mod parse;
mod stream;
mod synthetic;

pub use batching::{auto_batch_size, share};
pub use dead_letter::DeadLetter;
pub use error::{ErrorPolicy, InputError, RecordErrors};
pub use format::{Format, single_object};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use earliest::Earliest;
use error::BadRecords;

use crate::base::Epoch;
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

/// How far a source got with this call (inside the readers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// A full share of a batch.
    Batch,
    /// The input (this worker's share of it) ended.
    Exhausted,
    /// A bad record in fail mode: this worker feeds nothing more.
    Stopped,
}

/// Which workers a run has: `threads` per process in `processes`
/// processes, this being process `process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    pub threads: usize,
    pub processes: usize,
    pub process: usize,
}

impl Workers {
    /// One process of `threads` workers.
    pub fn local(threads: usize) -> Workers {
        Workers {
            threads: threads.max(1),
            processes: 1,
            process: 0,
        }
    }

    /// Workers in all processes.
    pub fn total(&self) -> usize {
        self.threads * self.processes
    }
}

/// Where a run's records come from.
#[derive(Debug, Clone)]
pub enum InputSpec {
    /// A file: a JSON object, a JSON array, or NDJSON. `-` is standard
    /// input; it, a pipe or a FIFO is read as a stream, on process 0 only.
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
    errors: BadRecords,
    workers: Workers,
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
    /// A stream's dealer: one receiver per local worker, taken as each opens.
    Stream {
        name: String,
        receivers: Mutex<Vec<Option<stream::ShareReceiver>>>,
    },
    /// A stream holding one document, read whole; worker 0 parses it.
    StreamDocument {
        name: String,
        bytes: Mutex<Option<Vec<u8>>>,
    },
    /// A stream read by another process (process 0): nothing to read here.
    Elsewhere,
    Indexed {
        templates: Option<Arc<Vec<R>>>,
        size: u64,
        seed: u64,
    },
}

impl<R: SourceRecord> InputPlan<R> {
    /// Checks the input, detects its format and fixes the batch size
    /// (`batch_size`, or [`auto_batch_size`] when `None`). A stream input
    /// is opened here, on process 0 (which starts reading it).
    pub fn plan(
        spec: &InputSpec,
        batch_size: Option<usize>,
        workers: Workers,
        errors: RecordErrors,
    ) -> Result<InputPlan<R>, InputError> {
        let errors = BadRecords {
            errors,
            earliest: Arc::new(Earliest::new(workers.threads)),
        };
        let total_workers = workers.total();
        // Bytes per record, for the batch size: the file's average, the
        // templates' JSON size, or the in-memory size of generated records.
        let (kind, estimated, description, record_bytes) = match spec {
            InputSpec::File(path) if stream::is_stream(path) => {
                return Self::plan_stream(path, batch_size, workers, errors);
            }
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
            InputSpec::Cycled { path, .. } if workers.processes > 1 && stream::is_stream(path) => {
                return Err(InputError::StreamInCluster {
                    path: stream::name(path),
                });
            }
            InputSpec::Cycled { path, size } => {
                let templates = load_all::<R>(path, &errors.errors)?;
                if templates.is_empty() {
                    return Err(InputError::NoRecords {
                        path: stream::name(path),
                    });
                }
                let description = match templates.len() {
                    1 => format!(
                        "{} (one record, as a template) cycled to {size} records",
                        stream::name(path)
                    ),
                    n => format!(
                        "{} ({n} records, as templates) cycled to {size} records",
                        stream::name(path)
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
            workers,
        })
    }

    /// A stream: its size is unknown, so the default batch is the largest
    /// (by the record type's size, the same on every process); process 0
    /// peeks its format and starts the dealer, the others read nothing.
    fn plan_stream(
        path: &Path,
        batch_size: Option<usize>,
        workers: Workers,
        errors: BadRecords,
    ) -> Result<InputPlan<R>, InputError> {
        let name = stream::name(path);
        let batch_size = batch_size.unwrap_or_else(|| {
            auto_batch_size(u64::MAX, workers.threads, std::mem::size_of::<R>())
        });
        let (kind, description) = if workers.process != 0 {
            (Kind::Elsewhere, format!("{name} (read by process 0)"))
        } else {
            let opened = stream::open(path)?;
            let description = format!("{name} ({}, streamed)", opened.format.name());
            let kind = match opened.format {
                Format::Document => Kind::StreamDocument {
                    bytes: Mutex::new(Some(opened.read_all()?)),
                    name,
                },
                Format::Ndjson | Format::Array => {
                    let receivers = opened.deal(batch_size, workers.threads, errors.clone())?;
                    Kind::Stream {
                        receivers: Mutex::new(receivers.into_iter().map(Some).collect()),
                        name,
                    }
                }
            };
            (kind, description)
        };
        Ok(InputPlan {
            kind,
            batch_size,
            estimated_records: 0,
            description,
            errors,
            workers,
        })
    }

    /// Opens worker `index`'s share (of `peers` workers in all processes).
    ///
    /// In fail mode a worker stops at the first bad record it meets; the
    /// run's error is then the earliest bad record of the input (see
    /// `earliest.rs`): the source of the process's last worker to stop
    /// returns it.
    pub fn open(
        &self,
        index: usize,
        peers: usize,
    ) -> Result<Box<dyn BatchSource<R> + '_>, InputError> {
        let per_worker = self.batch_size.div_ceil(peers).max(1);
        let errors = self.errors.clone();
        let source: Box<dyn BatchSource<R> + '_> = match &self.kind {
            Kind::Ndjson { path, len } => Box::new(ndjson::NdjsonSource::open(
                path, *len, index, peers, per_worker, errors,
            )?),
            Kind::Array { path } => Box::new(array::ArraySource::open(
                path,
                index,
                peers,
                self.batch_size,
                errors,
            )?),
            Kind::Document { path } => Box::new(document::DocumentSource::open(
                path,
                index,
                self.batch_size,
                errors,
            )?),
            Kind::Stream { name, receivers } => {
                let local = index.saturating_sub(self.workers.process * self.workers.threads);
                let rx = receivers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(local)
                    .and_then(Option::take);
                Box::new(stream::StreamSource::new(name.clone(), rx, errors))
            }
            Kind::StreamDocument { name, bytes } => {
                let bytes = match index {
                    0 => bytes.lock().unwrap_or_else(|e| e.into_inner()).take(),
                    _ => None,
                };
                Box::new(document::DocumentSource::from_bytes(
                    name.clone(),
                    bytes,
                    self.batch_size,
                    errors,
                ))
            }
            Kind::Elsewhere => Box::new(stream::StreamSource::new(String::new(), None, errors)),
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
        };
        Ok(Box::new(Ended {
            source,
            earliest: &self.errors.earliest,
            ended: false,
        }))
    }
}

impl<R> InputPlan<R> {
    /// A bad record found in fail mode that no worker reported: the run
    /// ended for another reason first. The run must not succeed with it.
    pub fn unreported_error(&self) -> Option<InputError> {
        self.errors.earliest.unreported()
    }

    /// The dead-letter file, if bad records are kept.
    pub fn dead_letter(&self) -> Option<&DeadLetter> {
        self.errors.errors.dead_letter.as_deref()
    }
}

/// A worker's source that tells the process's [`Earliest`] when it ends,
/// and returns the run's input error if it is the last to end.
struct Ended<'a, R> {
    source: Box<dyn BatchSource<R> + 'a>,
    earliest: &'a Earliest,
    ended: bool,
}

impl<R> BatchSource<R> for Ended<'_, R> {
    fn next_batch(&mut self, out: &mut Vec<R>) -> Result<Option<Epoch>, InputError> {
        if self.ended {
            out.clear();
            return Ok(None);
        }
        match self.source.next_batch(out) {
            Ok(None) => {
                self.ended = true;
                match self.earliest.end() {
                    Some(e) => Err(e),
                    None => Ok(None),
                }
            }
            Err(e) => {
                self.ended = true;
                Err(e)
            }
            batch => batch,
        }
    }

    fn skipped(&self) -> u64 {
        self.source.skipped()
    }
}

/// Reads every record of a (template) file on one thread.
fn load_all<R: SourceRecord>(path: &Path, errors: &RecordErrors) -> Result<Vec<R>, InputError> {
    let plan = InputPlan::<R>::plan(
        &InputSpec::File(path.to_path_buf()),
        Some(usize::MAX / 2),
        Workers::local(1),
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
