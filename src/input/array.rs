//! A top-level JSON array, read in parallel by element index.
//!
//! Every worker scans the array's structure (strings, escapes, nesting: far
//! cheaper than parsing) and parses only its own elements: element *j* of
//! batch *k* belongs to worker `j * peers / batch_size`, so batch *k* is
//! exactly elements `k·B .. (k+1)·B`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::describe::describe;
use super::error::{BadRecords, Verdict};
use super::parse::parse_record;
use super::{BatchSource, Fill, InputError};
use crate::base::Epoch;
use crate::record::SourceRecord;

pub(crate) struct ArraySource {
    path: PathBuf,
    reader: std::io::BufReader<std::fs::File>,
    index: usize,
    peers: usize,
    batch_size: usize,
    scan: Scanner,
    errors: BadRecords,
    skipped: u64,
    done: bool,
}

/// The array's structure, byte by byte: where elements start and end, and
/// their lines. Shared by the per-worker readers of files and the one reader
/// of a stream.
#[derive(Debug)]
pub(crate) struct Scanner {
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
    /// Whether the current element's bytes are kept.
    keep: bool,
    /// The current element's bytes, when kept.
    pub(crate) bytes: Vec<u8>,
}

/// What [`Scanner::scan`] stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scanned {
    /// The chunk is used up.
    More,
    /// Element `index`, starting on `line`, ended; its bytes are in
    /// [`Scanner::bytes`] if `kept`.
    Element { index: u64, line: u64, kept: bool },
    /// The input is not an array.
    Error(&'static str),
}

impl Scanner {
    pub(crate) fn new() -> Scanner {
        Scanner {
            started: false,
            closed: false,
            depth: 0,
            in_string: false,
            escaped: false,
            line: 1,
            element: 0,
            element_line: 0,
            element_has_content: false,
            keep: false,
            bytes: Vec::new(),
        }
    }

    /// The current line.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Elements ended so far: the index of the next one.
    pub(crate) fn elements(&self) -> u64 {
        self.element
    }

    /// What is wrong when the input ends here, if anything.
    pub(crate) fn at_end(&self) -> Option<&'static str> {
        match (self.started, self.closed) {
            (_, true) => None,
            (true, false) => Some("the file ends inside the array (truncated?)"),
            (false, false) => Some("no JSON array found"),
        }
    }

    /// Scans `chunk` up to the end of the next element; `keep(j)` says
    /// whether element *j*'s bytes are wanted. Returns the bytes consumed
    /// and what was found.
    #[inline]
    pub(crate) fn scan(&mut self, chunk: &[u8], keep: impl Fn(u64) -> bool) -> (usize, Scanned) {
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                self.line += 1;
            }
            if self.closed {
                if !b.is_ascii_whitespace() {
                    return (
                        i + 1,
                        Scanned::Error("unexpected data after the end of the array"),
                    );
                }
                continue;
            }
            if !self.started {
                match b {
                    b'[' => self.started = true,
                    // A byte-order mark before the array.
                    b'\xef' | b'\xbb' | b'\xbf' => {}
                    _ if b.is_ascii_whitespace() => {}
                    _ => return (i + 1, Scanned::Error("expected `[` to start a JSON array")),
                }
                continue;
            }
            let mut ends_element = false;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' if self.depth > 0 => self.depth -= 1,
                    b']' => {
                        self.closed = true;
                        ends_element = true;
                    }
                    b',' if self.depth == 0 => ends_element = true,
                    _ => {}
                }
            }
            if ends_element {
                if !self.element_has_content {
                    self.bytes.clear();
                    continue;
                }
                let index = self.element;
                self.element += 1;
                self.element_has_content = false;
                return (
                    i + 1,
                    Scanned::Element {
                        index,
                        line: self.element_line,
                        kept: self.keep,
                    },
                );
            }
            if !self.element_has_content && !b.is_ascii_whitespace() {
                self.element_has_content = true;
                self.element_line = self.line;
                self.keep = keep(self.element);
            }
            if self.element_has_content && self.keep {
                self.bytes.push(b);
            }
        }
        (chunk.len(), Scanned::More)
    }
}

impl ArraySource {
    pub(crate) fn open(
        path: &Path,
        index: usize,
        peers: usize,
        batch_size: usize,
        errors: BadRecords,
    ) -> Result<ArraySource, InputError> {
        let file = std::fs::File::open(path).map_err(|e| InputError::open(path, e))?;
        Ok(ArraySource {
            path: path.to_path_buf(),
            reader: std::io::BufReader::with_capacity(1 << 20, file),
            index,
            peers,
            batch_size: batch_size.max(1),
            scan: Scanner::new(),
            errors,
            skipped: 0,
            done: false,
        })
    }

    fn structure_error(&self, reason: &str) -> InputError {
        InputError::Record {
            path: self.path.display().to_string(),
            line: self.scan.line(),
            reason: reason.to_string(),
        }
    }

    /// Damage to the array's structure: the run's error (in fail mode once
    /// no earlier bad element is found).
    fn structure(&mut self, reason: &str) -> Result<Fill, InputError> {
        let error = self.structure_error(reason);
        self.errors.structure(self.scan.elements(), error)?;
        Ok(Fill::Stopped)
    }

    /// Parses the element that just ended, if it is ours.
    fn end_element<R: SourceRecord>(
        &mut self,
        out: &mut Vec<R>,
        index: u64,
        line: u64,
    ) -> Result<Verdict, InputError> {
        let bytes = std::mem::take(&mut self.scan.bytes);
        let verdict = match parse_record::<R>(&bytes) {
            Ok(r) => {
                out.push(r);
                Verdict::Skipped
            }
            Err(e) => {
                let reason = describe::<R>(&e, &bytes, false, self.errors.personal_data());
                let line = line + e.line().saturating_sub(1) as u64;
                let path = self.path.display().to_string();
                let verdict = self.errors.report(index, &path, line, reason, &bytes)?;
                if verdict == Verdict::Skipped {
                    self.skipped += 1;
                }
                verdict
            }
        };
        self.scan.bytes = bytes;
        self.scan.bytes.clear();
        Ok(verdict)
    }

    /// Scans to the end of the current batch, parsing this worker's elements.
    fn fill<R: SourceRecord>(&mut self, out: &mut Vec<R>) -> Result<Fill, InputError> {
        let batch = self.scan.elements() / self.batch_size as u64;
        let (index, peers, batch_size) = (self.index, self.peers, self.batch_size as u64);
        let owner = move |element: u64| {
            let within = element % batch_size;
            (within as u128 * peers as u128 / batch_size as u128) as usize == index
        };
        loop {
            let buf = self
                .reader
                .fill_buf()
                .map_err(|e| InputError::open(&self.path, e))?;
            if buf.is_empty() {
                return match self.scan.at_end() {
                    Some(what) => self.structure(what),
                    None => Ok(Fill::Exhausted),
                };
            }
            let (consumed, found) = self.scan.scan(buf, owner);
            self.reader.consume(consumed);
            match found {
                Scanned::More => {}
                Scanned::Error(what) => return self.structure(what),
                Scanned::Element { index, line, kept } => {
                    if kept && self.end_element(out, index, line)? == Verdict::Stop {
                        return Ok(Fill::Stopped);
                    }
                    if self.scan.elements() / batch_size > batch {
                        return Ok(Fill::Batch);
                    }
                }
            }
        }
    }
}

impl<R: SourceRecord> BatchSource<R> for ArraySource {
    fn next_batch(&mut self, out: &mut Vec<R>) -> Result<Option<Epoch>, InputError> {
        out.clear();
        if self.done {
            return Ok(None);
        }
        if let Some(limit) = self.errors.posted() {
            // Fail mode, a bad element posted: check ours before it.
            self.done = true;
            let mut scratch: Vec<R> = Vec::new();
            let mut limit = limit;
            while self.scan.elements() < limit {
                scratch.clear();
                if self.fill(&mut scratch)? != Fill::Batch {
                    break;
                }
                limit = self.errors.posted().unwrap_or(limit);
            }
            return Ok(None);
        }
        let batch = self.scan.elements() / self.batch_size as u64;
        match self.fill(out)? {
            Fill::Batch => Ok(Some(batch)),
            Fill::Exhausted => {
                self.done = true;
                Ok(Some(batch))
            }
            Fill::Stopped => {
                out.clear();
                self.done = true;
                Ok(None)
            }
        }
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}
