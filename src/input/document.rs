//! A JSON document: one value (the seed's sample event, pretty-printed), or
//! several in a row. Such files are small or unsplittable, so global worker
//! 0 streams them and the other workers read nothing.

use std::path::{Path, PathBuf};

use super::error::describe_json_error;
use super::{BatchSource, InputError, RecordErrors};
use crate::pipeline::Epoch;
use crate::record::SourceRecord;

pub(crate) struct DocumentSource {
    path: PathBuf,
    bytes: Option<Vec<u8>>,
    offset: usize,
    batch_size: usize,
    epoch: Epoch,
    errors: RecordErrors,
    skipped: u64,
}

impl DocumentSource {
    pub(crate) fn open(
        path: &Path,
        index: usize,
        batch_size: usize,
        errors: RecordErrors,
    ) -> Result<DocumentSource, InputError> {
        let bytes = if index == 0 {
            Some(std::fs::read(path).map_err(|e| InputError::open(path, e))?)
        } else {
            None
        };
        Ok(DocumentSource {
            path: path.to_path_buf(),
            bytes,
            offset: 0,
            batch_size: batch_size.max(1),
            epoch: 0,
            errors,
            skipped: 0,
        })
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
                    let line = bytes[..start].iter().filter(|&&b| b == b'\n').count() as u64
                        + e.line() as u64;
                    let reason = describe_json_error(&e, &bytes[start..], true);
                    let raw = bytes[start..].to_vec();
                    self.errors.bad_record(&self.path, line, reason, &raw)?;
                    // A damaged document cannot be resynchronised: skip the rest.
                    self.skipped += 1;
                    self.offset = bytes.len();
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
