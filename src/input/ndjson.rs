//! NDJSON, read in parallel: worker *i* of *n* takes the lines that start in
//! the *i*-th *n*-th of the file's bytes and parses them straight out of its
//! own read buffer (no copy per line). Each batch is this worker's next
//! `per_worker` lines, so all workers' batch *k* together is about one batch.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::describe::describe;
use super::error::{BadRecords, Verdict};
use super::format::BOM;
use super::parse::parse_record;
use super::{BatchSource, Fill, InputError, share};
use crate::base::Epoch;
use crate::record::SourceRecord;

const BUF: usize = 4 << 20;

pub(crate) struct NdjsonSource {
    path: PathBuf,
    file: std::fs::File,
    /// Absolute offset of the next byte to read from the file.
    next_read: u64,
    /// Where this worker's share ends (a line start).
    end: u64,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// True when the share ends at the end of the file.
    at_file_end: bool,
    /// Lines of this worker's share consumed so far.
    local_line: u64,
    /// Line number of this share's first line, counted only when first needed.
    first_line: Option<u64>,
    start: u64,
    per_worker: usize,
    epoch: Epoch,
    errors: BadRecords,
    skipped: u64,
    /// Ended: exhausted, or stopped in fail mode.
    stopped: bool,
}

impl NdjsonSource {
    pub(crate) fn open(
        path: &Path,
        len: u64,
        index: usize,
        peers: usize,
        per_worker: usize,
        errors: BadRecords,
    ) -> Result<NdjsonSource, InputError> {
        let mut file = std::fs::File::open(path).map_err(|e| InputError::open(path, e))?;
        let (lo, hi) = share(len, index, peers);
        let start =
            line_start_at_or_after(&mut file, lo, len).map_err(|e| InputError::open(path, e))?;
        let end =
            line_start_at_or_after(&mut file, hi, len).map_err(|e| InputError::open(path, e))?;
        // A byte-order mark is not part of the first line.
        let mut first_byte = start;
        if start == 0 && len >= BOM.len() as u64 {
            let mut head = [0u8; 3];
            file.seek(SeekFrom::Start(0))
                .and_then(|_| file.read_exact(&mut head))
                .map_err(|e| InputError::open(path, e))?;
            if head == BOM {
                first_byte = BOM.len() as u64;
            }
        }
        file.seek(SeekFrom::Start(first_byte))
            .map_err(|e| InputError::open(path, e))?;
        Ok(NdjsonSource {
            path: path.to_path_buf(),
            file,
            next_read: first_byte,
            end,
            buf: vec![0; BUF],
            pos: 0,
            filled: 0,
            at_file_end: end >= len,
            local_line: 0,
            first_line: if start == 0 { Some(1) } else { None },
            start,
            per_worker,
            epoch: 0,
            errors,
            skipped: 0,
            stopped: false,
        })
    }

    /// Absolute offset of the next unread line.
    fn position(&self) -> u64 {
        self.next_read - (self.filled - self.pos) as u64
    }

    /// Moves unread bytes to the front and reads more of the share.
    /// Returns false when nothing is left to read.
    fn refill(&mut self) -> std::io::Result<bool> {
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.pos = 0;
        if self.filled == self.buf.len() {
            // A line longer than the buffer: grow rather than fail.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let want = ((self.end - self.next_read) as usize).min(self.buf.len() - self.filled);
        if want == 0 {
            return Ok(false);
        }
        let n = self
            .file
            .read(&mut self.buf[self.filled..self.filled + want])?;
        if n == 0 {
            // The file shrank under us; treat what we have as the end.
            self.end = self.next_read;
            return Ok(false);
        }
        self.filled += n;
        self.next_read += n as u64;
        Ok(true)
    }

    fn line_number(&mut self) -> u64 {
        let base = *self
            .first_line
            .get_or_insert_with(|| count_lines_before(&self.path, self.start).unwrap_or(0) + 1);
        base + self.local_line - 1
    }
}

impl NdjsonSource {
    /// Reads this worker's next `per_worker` records into `out`.
    fn fill<R: SourceRecord>(&mut self, out: &mut Vec<R>) -> Result<Fill, InputError> {
        while out.len() < self.per_worker {
            let (line_end, terminated) =
                match memchr::memchr(b'\n', &self.buf[self.pos..self.filled]) {
                    Some(i) => (self.pos + i, true),
                    None => match self.refill().map_err(|e| InputError::open(&self.path, e))? {
                        true => continue,
                        false if self.pos < self.filled => (self.filled, false),
                        false => return Ok(Fill::Exhausted),
                    },
                };
            self.local_line += 1;
            let line_start = self.pos;
            let mut line = &self.buf[self.pos..line_end];
            self.pos = if terminated { line_end + 1 } else { line_end };
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_record::<R>(line) {
                Ok(r) => out.push(r),
                Err(e) => {
                    let unterminated = !terminated && self.at_file_end;
                    let reason = describe::<R>(&e, line, unterminated, self.errors.personal_data());
                    let raw = line.to_vec();
                    let key = self.next_read - (self.filled - line_start) as u64;
                    let line_no = self.line_number();
                    let path = self.path.display().to_string();
                    match self.errors.report(key, &path, line_no, reason, &raw)? {
                        Verdict::Skipped => self.skipped += 1,
                        Verdict::Stop => return Ok(Fill::Stopped),
                    }
                }
            }
        }
        Ok(Fill::Batch)
    }

    /// Another worker posted a bad record at byte `limit` (fail mode):
    /// checks this share's records before it, without feeding them on,
    /// posting the first bad one.
    fn check_until<R: SourceRecord>(&mut self, mut limit: u64) -> Result<(), InputError> {
        let mut scratch: Vec<R> = Vec::new();
        while self.position() < limit {
            scratch.clear();
            if self.fill(&mut scratch)? != Fill::Batch {
                break;
            }
            limit = self.errors.posted().unwrap_or(limit);
        }
        Ok(())
    }
}

impl<R: SourceRecord> BatchSource<R> for NdjsonSource {
    fn next_batch(&mut self, out: &mut Vec<R>) -> Result<Option<Epoch>, InputError> {
        out.clear();
        if self.stopped {
            return Ok(None);
        }
        if let Some(limit) = self.errors.posted() {
            self.stopped = true;
            self.check_until::<R>(limit)?;
            return Ok(None);
        }
        match self.fill(out)? {
            Fill::Batch => {}
            Fill::Exhausted if !out.is_empty() => self.stopped = true,
            Fill::Exhausted | Fill::Stopped => {
                out.clear();
                self.stopped = true;
                return Ok(None);
            }
        }
        let epoch = self.epoch;
        self.epoch += 1;
        Ok(Some(epoch))
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// The first line start at or after `pos`: `pos` itself if a line starts
/// there, else the byte after the next newline, else `len`.
fn line_start_at_or_after(file: &mut std::fs::File, pos: u64, len: u64) -> std::io::Result<u64> {
    if pos == 0 || pos >= len {
        return Ok(pos.min(len));
    }
    file.seek(SeekFrom::Start(pos - 1))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = pos - 1;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(len);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
}

/// Newlines in the first `end` bytes of `path`; only used to name the line of
/// a bad record, so the cost is paid on the error path alone.
fn count_lines_before(path: &Path, end: u64) -> std::io::Result<u64> {
    let mut file = std::fs::File::open(path)?.take(end);
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}
