//! The default sink: one JSONEachRow file per table under
//! `--metrics-dir/<run_id>/`, appended chunk by chunk during the run. A run
//! directory reaches ClickHouse later, exactly once, with `mable-pipeline
//! metrics load` (see [`super::load`]); each file also loads as it is, once
//! `mable-pipeline schema | clickhouse-client --multiquery` made the tables:
//! `clickhouse-client --query "INSERT INTO mable.pipeline_metrics FORMAT JSONEachRow" < pipeline_metrics.ndjson`.
//!
//! Writing is the delivery: a row is delivered once its whole line is in the
//! file. A write that stops short (a full disk) is cut back to the last
//! complete line, so a file never ends in half a row; the rows of the chunk
//! that did not fit are counted failed, and the error is reported once.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{Chunk, Ledger, Sink};
use crate::table::Table;

/// Writes rows to `dir/<table>.ndjson` (`<table>.p<i>.ndjson` for process
/// *i* of a cluster, so processes sharing a directory never share a file).
pub struct FileSink {
    dir: PathBuf,
    suffix: String,
    /// Each open file and its length: the end of its last complete line.
    files: HashMap<Table, (File, u64)>,
    /// Tables whose files exist from the start, even if no row comes.
    upfront: Vec<Table>,
    buf: Vec<u8>,
    ledger: Ledger,
}

impl FileSink {
    /// A sink writing into `dir` (created when the sink starts).
    pub fn new(dir: &Path) -> FileSink {
        FileSink {
            dir: dir.to_path_buf(),
            suffix: String::new(),
            files: HashMap::new(),
            upfront: Vec::new(),
            buf: Vec::new(),
            ledger: Ledger::default(),
        }
    }

    /// A sink for process `process` of a cluster run.
    pub fn for_process(dir: &Path, process: usize) -> FileSink {
        FileSink {
            suffix: format!(".p{process}"),
            ..FileSink::new(dir)
        }
    }

    /// Creates the files of `tables` when the sink starts, so that a reader
    /// finds every table a run always writes (the metric tables), even empty.
    pub fn with_tables(mut self, tables: impl IntoIterator<Item = Table>) -> FileSink {
        self.upfront.extend(tables);
        self
    }

    /// The directory the files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn open(&mut self, table: Table) -> io::Result<&mut (File, u64)> {
        if !self.files.contains_key(&table) {
            // The name becomes a file name: nothing that could leave the directory.
            if !table.has_plain_name() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "table name {:?} is not letters, digits and '_'",
                        table.name()
                    ),
                ));
            }
            std::fs::create_dir_all(&self.dir)?;
            let file = std::fs::OpenOptions::new().create(true).append(true).open(
                self.dir
                    .join(format!("{}{}.ndjson", table.name(), self.suffix)),
            )?;
            let len = file.metadata()?.len();
            self.files.insert(table.clone(), (file, len));
        }
        Ok(self.files.get_mut(&table).expect("opened above"))
    }

    /// Appends the chunk's lines in one write where possible; returns the rows
    /// now in the file and, if not all made it, why.
    fn write(&mut self, chunk: &Chunk) -> (u64, Option<io::Error>) {
        self.buf.clear();
        chunk.render(&mut self.buf);
        let buf = std::mem::take(&mut self.buf);
        let result = match self.open(chunk.rows.table().clone()) {
            Ok((file, len)) => append_whole_lines(file, len, &buf),
            Err(e) => (0, Some(e)),
        };
        self.buf = buf;
        result
    }
}

/// Appends `buf` (whole lines) to `file`, whose complete lines end at `*len`.
/// On a short write the file is cut back to the last complete line written,
/// and `*len` moves to there.
fn append_whole_lines(file: &mut File, len: &mut u64, buf: &[u8]) -> (u64, Option<io::Error>) {
    let mut written = 0;
    let error = loop {
        if written == buf.len() {
            break None;
        }
        match file.write(&buf[written..]) {
            Ok(0) => break Some(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e),
        }
    };
    let whole = match error {
        None => written,
        Some(_) => buf[..written]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1),
    };
    if whole < written {
        // Half a line is worse than none: a reader would reject the whole file.
        if let Err(e) = file.set_len(*len + whole as u64) {
            return (0, Some(e));
        }
    }
    *len += whole as u64;
    // JSON text escapes newlines, so each line is exactly one row.
    let rows = memchr::memchr_iter(b'\n', &buf[..whole]).count() as u64;
    (rows, error)
}

impl Sink for FileSink {
    fn describe(&self) -> String {
        format!("files in {}", self.dir.display())
    }

    /// Opens the files of the tables every run writes. An error here is left
    /// for the first delivery to report.
    fn start(&mut self, ledger: Ledger) {
        self.ledger = ledger;
        for table in std::mem::take(&mut self.upfront) {
            if self.open(table).is_err() {
                return;
            }
        }
    }

    fn deliver(&mut self, chunk: Chunk) {
        let n = chunk.rows.len() as u64;
        let (kept, error) = self.write(&chunk);
        self.ledger.delivered(kept);
        if let Some(e) = error {
            // One message per cause, not per chunk or table: a full disk
            // fails every later chunk the same way.
            self.ledger.failed(
                n - kept,
                format!("cannot write metric files in {}: {e}", self.dir.display()),
            );
        }
    }

    // No fsync at the end: these are local files read after the run, and an
    // fsync per table cost whole milliseconds per run on these VMs. Each chunk
    // is one write(), so the files are complete once the process exits.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_write_is_cut_back_to_the_last_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ndjson");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let mut len = 0;
        assert_eq!(
            append_whole_lines(&mut file, &mut len, b"{\"a\":1}\n{\"a\":2}\n").0,
            2
        );
        // /dev/full-like failure is hard to make portable; a read-only handle
        // fails the first write, which must leave the file as it was.
        let mut ro = File::open(&path).unwrap();
        let (rows, err) = append_whole_lines(&mut ro, &mut len, b"{\"a\":3}\n");
        assert_eq!(rows, 0);
        assert!(err.is_some());
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(len, 16);
    }
}
