//! A JSON document: one value (the seed's sample event, pretty-printed), or
//! several in a row. Such files are small or unsplittable, so global worker
//! 0 streams them and the other workers read nothing.

use std::path::Path;

use super::describe::describe;
use super::error::{BadRecords, Verdict};
use super::format::BOM;
use super::{BatchSource, InputError};
use crate::base::Epoch;
use crate::record::SourceRecord;

pub(crate) struct DocumentSource {
    /// The input's name in messages.
    name: String,
    bytes: Option<Vec<u8>>,
    offset: usize,
    batch_size: usize,
    epoch: Epoch,
    errors: BadRecords,
    skipped: u64,
}

impl DocumentSource {
    pub(crate) fn open(
        path: &Path,
        index: usize,
        batch_size: usize,
        errors: BadRecords,
    ) -> Result<DocumentSource, InputError> {
        let bytes = if index == 0 {
            Some(std::fs::read(path).map_err(|e| InputError::open(path, e))?)
        } else {
            None
        };
        Ok(DocumentSource::from_bytes(
            path.display().to_string(),
            bytes,
            batch_size,
            errors,
        ))
    }

    /// A document already read (from a stream); `None` for the workers
    /// that read nothing.
    pub(crate) fn from_bytes(
        name: String,
        bytes: Option<Vec<u8>>,
        batch_size: usize,
        errors: BadRecords,
    ) -> DocumentSource {
        // A byte-order mark is not part of the document.
        let offset = match &bytes {
            Some(b) if b.starts_with(BOM) => BOM.len(),
            _ => 0,
        };
        DocumentSource {
            name,
            bytes,
            offset,
            batch_size: batch_size.max(1),
            epoch: 0,
            errors,
            skipped: 0,
        }
    }
}

impl<R: SourceRecord> BatchSource<R> for DocumentSource {
    fn next_batch(&mut self, out: &mut Vec<R>) -> Result<Option<Epoch>, InputError> {
        out.clear();
        let Some(bytes) = &self.bytes else {
            return Ok(None);
        };
        let body = &bytes[self.offset..];
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<R>();
        while out.len() < self.batch_size {
            let start = self.offset + stream.byte_offset();
            match stream.next() {
                None => break,
                Some(Ok(r)) => out.push(r),
                Some(Err(e)) => {
                    // serde_json counts lines from where this call began.
                    let line = bytes[..self.offset].iter().filter(|&&b| b == b'\n').count() as u64
                        + e.line() as u64;
                    let raw = &bytes[start..];
                    let reason = describe::<R>(&e, raw, true, self.errors.personal_data());
                    let verdict =
                        self.errors
                            .report(start as u64, &self.name, line, reason, raw)?;
                    // A damaged document cannot be resynchronised: skip the rest.
                    self.offset = bytes.len();
                    if verdict == Verdict::Stop {
                        out.clear();
                        return Ok(None);
                    }
                    self.skipped += 1;
                    let epoch = self.epoch;
                    self.epoch += 1;
                    return Ok(Some(epoch));
                }
            }
        }
        self.offset += stream.byte_offset();
        let epoch = self.epoch;
        self.epoch += 1;
        Ok(Some(epoch))
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}
