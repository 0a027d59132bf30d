//! A top-level JSON array, read in parallel by element index.
//!
//! Every worker scans the array's structure (strings, escapes, nesting: far
//! cheaper than parsing) and parses only its own elements: element *j* of
//! batch *k* belongs to worker `j * peers / batch_size`, so batch *k* is
//! exactly elements `k·B .. (k+1)·B`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::error::describe_json_error;
use super::parse::parse_record;
use super::{BatchSource, InputError, RecordErrors};
use crate::pipeline::Epoch;
use crate::record::SourceRecord;

pub(crate) struct ArraySource {
    path: PathBuf,
    reader: std::io::BufReader<std::fs::File>,
    index: usize,
    peers: usize,
    batch_size: usize,
    scan: Scan,
    errors: RecordErrors,
    skipped: u64,
    done: bool,
}

#[derive(Default)]
struct Scan {
    started: bool,
    closed: bool,
    depth: u32,
    in_string: bool,
    escaped: bool,
    line: u64,
    /// Elements seen so far.
    element: u64,
    element_line: u64,
    element_has_content: bool,
    element_bytes: Vec<u8>,
}

impl ArraySource {
    pub(crate) fn open(
        path: &Path,
        index: usize,
        peers: usize,
        batch_size: usize,
        errors: RecordErrors,
    ) -> Result<ArraySource, InputError> {
        let file = std::fs::File::open(path).map_err(|e| InputError::open(path, e))?;
        Ok(ArraySource {
            path: path.to_path_buf(),
            reader: std::io::BufReader::with_capacity(1 << 20, file),
            index,
            peers,
            batch_size: batch_size.max(1),
            scan: Scan {
                line: 1,
                ..Scan::default()
            },
            errors,
            skipped: 0,
            done: false,
        })
    }

    fn owner(&self, element: u64) -> usize {
        let within = element % self.batch_size as u64;
        (within as u128 * self.peers as u128 / self.batch_size as u128) as usize
    }

    fn structure_error(&self, reason: &str) -> InputError {
        InputError::Record {
            path: self.path.display().to_string(),
            line: self.scan.line,
            reason: reason.to_string(),
        }
    }

    /// Finishes element `self.scan.element`: parses it if it is ours.
    fn end_element<R: SourceRecord>(&mut self, out: &mut Vec<R>) -> Result<(), InputError> {
        let s = &mut self.scan;
        if !s.element_has_content {
            s.element_bytes.clear();
            return Ok(());
        }
        let element = s.element;
        s.element += 1;
        s.element_has_content = false;
        if self.owner(element) != self.index {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.scan.element_bytes);
        match parse_record::<R>(&bytes) {
            Ok(r) => out.push(r),
            Err(e) => {
                let reason = describe_json_error(&e, &bytes, false);
                let line = self.scan.element_line + e.line().saturating_sub(1) as u64;
                self.errors.bad_record(&self.path, line, reason, &bytes)?;
                self.skipped += 1;
            }
        }
        self.scan.element_bytes = bytes;
        self.scan.element_bytes.clear();
        Ok(())
    }
}

impl<R: SourceRecord> BatchSource<R> for ArraySource {
    fn next_batch(&mut self, out: &mut Vec<R>) -> Result<Option<Epoch>, InputError> {
        out.clear();
        if self.done {
            return Ok(None);
        }
        let batch = self.scan.element / self.batch_size as u64;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = {
                let buf = self
                    .reader
                    .fill_buf()
                    .map_err(|e| InputError::open(&self.path, e))?;
                let n = buf.len().min(chunk.len());
                chunk[..n].copy_from_slice(&buf[..n]);
                n
            };
            if n == 0 {
                if !self.scan.closed {
                    let what = if self.scan.started {
                        "the file ends inside the array (truncated?)"
                    } else {
                        "no JSON array found"
                    };
                    return Err(self.structure_error(what));
                }
                self.done = true;
                return Ok(Some(batch));
            }
            let mut consumed = 0;
            let mut batch_complete = false;
            for &b in &chunk[..n] {
                consumed += 1;
                let s = &mut self.scan;
                if b == b'\n' {
                    s.line += 1;
                }
                if s.closed {
                    if !b.is_ascii_whitespace() {
                        return Err(
                            self.structure_error("unexpected data after the end of the array")
                        );
                    }
                    continue;
                }
                if !s.started {
                    match b {
                        b'[' => s.started = true,
                        b'\xef' | b'\xbb' | b'\xbf' => {}
                        _ if b.is_ascii_whitespace() => {}
                        _ => return Err(self.structure_error("expected `[` to start a JSON array")),
                    }
                    continue;
                }
                let mut ends_element = false;
                if s.in_string {
                    if s.escaped {
                        s.escaped = false;
                    } else if b == b'\\' {
                        s.escaped = true;
                    } else if b == b'"' {
                        s.in_string = false;
                    }
                } else {
                    match b {
                        b'"' => s.in_string = true,
                        b'{' | b'[' => s.depth += 1,
                        b'}' | b']' if s.depth > 0 => s.depth -= 1,
                        b']' => {
                            s.closed = true;
                            ends_element = true;
                        }
                        b',' if s.depth == 0 => ends_element = true,
                        _ => {}
                    }
                }
                if ends_element {
                    self.end_element(out)?;
                    if self.scan.element / self.batch_size as u64 > batch {
                        batch_complete = true;
                        break;
                    }
                    continue;
                }
                let s = &mut self.scan;
                if !s.element_has_content && !b.is_ascii_whitespace() {
                    s.element_has_content = true;
                    s.element_line = s.line;
                }
                if s.element_has_content && self.owner(self.scan.element) == self.index {
                    self.scan.element_bytes.push(b);
                }
            }
            self.reader.consume(consumed);
            if batch_complete {
                return Ok(Some(batch));
            }
        }
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}
