//! Inputs that are streams: standard input (`-`), a pipe or FIFO, a
//! character device — anything that cannot be split by byte range or
//! opened twice. One reader per run (on process 0) peeks a prefix to detect
//! the format, then a dealer thread reads on from it, cuts each batch of
//! `batch_size` records and hands each local worker its share. The workers
//! parse their shares in parallel, so batch *k* is still epoch *k* on every
//! worker, and line numbers are those of the stream, as for a file.
//!
//! Each worker's channel holds at most [`IN_FLIGHT`] shares: a slow worker
//! holds the dealer back, so memory stays bounded whatever the stream's size.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::array::{Scanned, Scanner};
use super::describe::describe;
use super::error::{BadRecords, Verdict};
use super::format::{BOM, Format, SAMPLE, detect_sample};
use super::parse::parse_record;
use super::{BatchSource, InputError, share};
use crate::base::Epoch;
use crate::record::SourceRecord;

/// Shares a worker's channel holds.
const IN_FLIGHT: usize = 2;

/// Bytes read from the stream at a time.
const CHUNK: usize = 1 << 20;

/// How often a worker waiting for its share looks whether another worker
/// posted a bad record (fail mode) and it should stop waiting.
const WAIT: Duration = Duration::from_millis(20);

/// Whether `path` is read as a stream: `-` (standard input), or anything
/// that is neither a regular file nor a directory.
pub(crate) fn is_stream(path: &Path) -> bool {
    path.as_os_str() == "-" || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// The stream's name in messages: `<stdin>` for `-`.
pub(crate) fn name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// A stream opened, with the prefix read to detect its format.
pub(crate) struct Opened {
    pub(crate) name: String,
    pub(crate) format: Format,
    prefix: Vec<u8>,
    reader: Box<dyn Read + Send>,
}

/// Opens the stream and reads until its format is known (the first
/// non-blank line, a `[`, 64 KiB, or the end).
pub(crate) fn open(path: &Path) -> Result<Opened, InputError> {
    let name = name(path);
    let fail = |e: std::io::Error| InputError::Open {
        path: name.clone(),
        reason: e.to_string(),
    };
    let mut reader: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(fail)?)
    };
    let mut prefix = Vec::new();
    loop {
        let eof = read_some(&mut reader, &mut prefix).map_err(fail)? == 0;
        let complete = eof || prefix.len() >= SAMPLE;
        if let Some(format) = detect_sample(&prefix, complete) {
            return Ok(Opened {
                name,
                format,
                prefix,
                reader,
            });
        }
        if complete {
            return Err(InputError::Empty { path: name });
        }
    }
}

impl Opened {
    /// Reads the rest of the stream: for a document, which one worker parses.
    pub(crate) fn read_all(mut self) -> Result<Vec<u8>, InputError> {
        let mut all = std::mem::take(&mut self.prefix);
        self.reader
            .read_to_end(&mut all)
            .map_err(|e| InputError::Open {
                path: self.name.clone(),
                reason: e.to_string(),
            })?;
        Ok(all)
    }

    /// Starts the dealer thread for an NDJSON or array stream; returns one
    /// receiver per local worker.
    pub(crate) fn deal(
        self,
        batch_size: usize,
        workers: usize,
        errors: BadRecords,
    ) -> Result<Vec<ShareReceiver>, InputError> {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..workers.max(1)).map(|_| bounded(IN_FLIGHT)).unzip();
        let name = self.name.clone();
        let dealer = Dealer {
            opened: self,
            senders,
            batch_size: batch_size.max(1),
            errors,
        };
        std::thread::Builder::new()
            .name("mable:dealer".into())
            .spawn(move || dealer.run())
            .map_err(|e| InputError::Open {
                path: name,
                reason: format!("cannot start the reader thread: {e}"),
            })?;
        Ok(receivers)
    }
}

/// Reads what is there (at most [`CHUNK`] bytes) onto the end of `buf`.
fn read_some(reader: &mut dyn Read, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let len = buf.len();
    buf.resize(len + CHUNK, 0);
    let n = loop {
        match reader.read(&mut buf[len..]) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    buf.truncate(len + *n.as_ref().unwrap_or(&0));
    n
}

/// One record's place in a share.
#[derive(Debug, Clone, Copy)]
struct Piece {
    start: usize,
    end: usize,
    /// The line it starts on.
    line: u64,
    /// Its place in the stream: the line (NDJSON) or element index (array).
    key: u64,
}

/// A worker's share of one batch: its records' bytes, back to back.
#[derive(Debug, Default)]
pub(crate) struct Share {
    bytes: Vec<u8>,
    records: Vec<Piece>,
    /// The share's last record is an NDJSON line the stream ended inside.
    last_unterminated: bool,
}

/// What a worker receives: its next share, or the error that ends the stream.
pub(crate) type Message = Result<Share, InputError>;

/// A worker's end of the dealer's channel.
pub(crate) type ShareReceiver = Receiver<Message>;

struct Dealer {
    opened: Opened,
    senders: Vec<Sender<Message>>,
    batch_size: usize,
    errors: BadRecords,
}

impl Dealer {
    fn run(mut self) {
        let result = match self.opened.format {
            Format::Array => self.run_array(),
            _ => self.run_ndjson(),
        };
        if let Err(e) = result {
            for s in &self.senders {
                let _ = s.send(Err(e.clone()));
            }
        }
    }

    fn read_error(&self, e: std::io::Error) -> InputError {
        InputError::Open {
            path: self.opened.name.clone(),
            reason: e.to_string(),
        }
    }

    /// Cuts lines into batches; blank lines are counted, not dealt.
    fn run_ndjson(&mut self) -> Result<(), InputError> {
        let mut buf = std::mem::take(&mut self.opened.prefix);
        let mut pos = if buf.starts_with(BOM) { BOM.len() } else { 0 };
        let mut eof = false;
        let mut line = 0u64;
        loop {
            let mut batch = Share::default();
            while batch.records.len() < self.batch_size {
                match memchr::memchr(b'\n', &buf[pos..]) {
                    Some(i) => {
                        line += 1;
                        push_line(&mut batch, &buf[pos..pos + i], line);
                        pos += i + 1;
                    }
                    None if !eof => {
                        buf.drain(..pos);
                        pos = 0;
                        eof = read_some(&mut self.opened.reader, &mut buf)
                            .map_err(|e| self.read_error(e))?
                            == 0;
                    }
                    None => {
                        if pos < buf.len() {
                            line += 1;
                            if push_line(&mut batch, &buf[pos..], line) {
                                batch.last_unterminated = true;
                            }
                            pos = buf.len();
                        }
                        break;
                    }
                }
            }
            let last = eof && pos >= buf.len();
            if !batch.records.is_empty() && !self.deal(batch) {
                return Ok(());
            }
            if last {
                return Ok(());
            }
        }
    }

    /// Cuts an array's elements into batches.
    fn run_array(&mut self) -> Result<(), InputError> {
        let mut buf = std::mem::take(&mut self.opened.prefix);
        let mut pos = 0;
        let mut eof = false;
        let mut scan = Scanner::new();
        loop {
            let mut batch = Share::default();
            let mut damage = None;
            while batch.records.len() < self.batch_size {
                if pos == buf.len() {
                    if eof {
                        damage = scan.at_end();
                        break;
                    }
                    buf.clear();
                    pos = 0;
                    eof = read_some(&mut self.opened.reader, &mut buf)
                        .map_err(|e| self.read_error(e))?
                        == 0;
                    continue;
                }
                let (n, found) = scan.scan(&buf[pos..], |_| true);
                pos += n;
                match found {
                    Scanned::More => {}
                    Scanned::Element { index, line, .. } => {
                        let start = batch.bytes.len();
                        batch.bytes.extend_from_slice(&scan.bytes);
                        scan.bytes.clear();
                        batch.records.push(Piece {
                            start,
                            end: batch.bytes.len(),
                            line,
                            key: index,
                        });
                    }
                    Scanned::Error(what) => {
                        damage = Some(what);
                        break;
                    }
                }
            }
            let last = damage.is_some() || (eof && pos >= buf.len());
            // Deal what precedes any damage first: a worker that learns of
            // the damage checks only what it already holds.
            if !batch.records.is_empty() && !self.deal(batch) {
                return Ok(());
            }
            if let Some(what) = damage {
                let error = InputError::Record {
                    path: self.opened.name.clone(),
                    line: scan.line(),
                    reason: what.to_string(),
                };
                self.errors.structure(scan.elements(), error)?;
            }
            if last {
                return Ok(());
            }
        }
    }

    /// Splits a batch evenly over the workers (contiguous shares, in worker
    /// order) and sends each its share, empty or not. False once a worker
    /// is gone: the run ended, so the dealer stops.
    fn deal(&self, batch: Share) -> bool {
        let n = batch.records.len() as u64;
        let workers = self.senders.len();
        for (i, sender) in self.senders.iter().enumerate() {
            let (lo, hi) = share(n, i, workers);
            let (lo, hi) = (lo as usize, hi as usize);
            let mut part = Share::default();
            if lo < hi {
                let base = batch.records[lo].start;
                let end = batch.records[hi - 1].end;
                part.bytes = batch.bytes[base..end].to_vec();
                part.records = batch.records[lo..hi]
                    .iter()
                    .map(|p| Piece {
                        start: p.start - base,
                        end: p.end - base,
                        ..*p
                    })
                    .collect();
                part.last_unterminated = batch.last_unterminated && hi as u64 == n;
            }
            if sender.send(Ok(part)).is_err() {
                return false;
            }
        }
        true
    }
}

/// Adds a line to the batch unless it is blank; true if added.
fn push_line(batch: &mut Share, line: &[u8], number: u64) -> bool {
    let line = match line {
        [rest @ .., b'\r'] => rest,
        l => l,
    };
    if line.iter().all(u8::is_ascii_whitespace) {
        return false;
    }
    let start = batch.bytes.len();
    batch.bytes.extend_from_slice(line);
    batch.records.push(Piece {
        start,
        end: batch.bytes.len(),
        line: number,
        key: number,
    });
    true
}

/// One worker's side: its shares, parsed as they come.
pub(crate) struct StreamSource {
    name: String,
    /// `None` for workers of a process that does not read the stream.
    rx: Option<Receiver<Message>>,
    errors: BadRecords,
    epoch: Epoch,
    skipped: u64,
    stopped: bool,
}

impl StreamSource {
    pub(crate) fn new(
        name: String,
        rx: Option<Receiver<Message>>,
        errors: BadRecords,
    ) -> StreamSource {
        StreamSource {
            name,
            rx,
            errors,
            epoch: 0,
            skipped: 0,
            stopped: false,
        }
    }

    /// Parses the share's records before `limit` into `out`.
    fn parse<R: SourceRecord>(
        &mut self,
        share: &Share,
        out: &mut Vec<R>,
        limit: u64,
    ) -> Result<Verdict, InputError> {
        let n = share.records.len();
        for (i, p) in share.records.iter().enumerate() {
            if p.key >= limit {
                break;
            }
            let raw = &share.bytes[p.start..p.end];
            match parse_record::<R>(raw) {
                Ok(r) => out.push(r),
                Err(e) => {
                    let unterminated = share.last_unterminated && i + 1 == n;
                    let reason = describe::<R>(&e, raw, unterminated, self.errors.personal_data());
                    let line = p.line + e.line().saturating_sub(1) as u64;
                    match self.errors.report(p.key, &self.name, line, reason, raw)? {
                        Verdict::Skipped => self.skipped += 1,
                        Verdict::Stop => return Ok(Verdict::Stop),
                    }
                }
            }
        }
        Ok(Verdict::Skipped)
    }

    /// Another worker posted a bad record at `limit` (fail mode): checks the
    /// shares this worker already holds — every record before `limit` was
    /// dealt before it — without feeding them on.
    fn check_until<R: SourceRecord>(&mut self, mut limit: u64) -> Result<(), InputError> {
        let Some(rx) = self.rx.take() else {
            return Ok(());
        };
        let mut scratch: Vec<R> = Vec::new();
        // A read error after the bad record is not the earliest problem.
        while let Ok(Ok(share)) = rx.try_recv() {
            scratch.clear();
            if self.parse(&share, &mut scratch, limit)? == Verdict::Stop {
                break;
            }
            limit = self.errors.posted().unwrap_or(limit);
        }
        Ok(())
    }
}

impl<R: SourceRecord> BatchSource<R> for StreamSource {
    fn next_batch(&mut self, out: &mut Vec<R>) -> Result<Option<Epoch>, InputError> {
        out.clear();
        if self.stopped {
            return Ok(None);
        }
        let share = loop {
            if let Some(limit) = self.errors.posted() {
                self.stopped = true;
                self.check_until::<R>(limit)?;
                return Ok(None);
            }
            let Some(rx) = &self.rx else {
                self.stopped = true;
                return Ok(None);
            };
            match rx.recv_timeout(WAIT) {
                Ok(Ok(share)) => break share,
                Ok(Err(e)) => {
                    self.stopped = true;
                    return Err(e);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.stopped = true;
                    return Ok(None);
                }
            }
        };
        if self.parse(&share, out, u64::MAX)? == Verdict::Stop {
            out.clear();
            self.stopped = true;
            self.rx = None;
            return Ok(None);
        }
        let epoch = self.epoch;
        self.epoch += 1;
        Ok(Some(epoch))
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}
