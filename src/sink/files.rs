//! The default sink: one JSONEachRow file per table under
//! `--metrics-dir/<run_id>/`, appended chunk by chunk during the run. Each
//! file loads into ClickHouse as it is:
//! `clickhouse-client --query "INSERT INTO mable.pipeline_metrics FORMAT JSONEachRow" < pipeline_metrics.ndjson`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Chunk, Outcome, Sink};
use crate::metrics::rows::Table;

/// Writes rows to `dir/<table>.ndjson` (`<table>.p<i>.ndjson` for process
/// *i* of a cluster, so processes sharing a directory never share a file).
pub struct FileSink {
    dir: PathBuf,
    suffix: String,
    files: HashMap<Table, std::fs::File>,
    buf: Vec<u8>,
}

impl FileSink {
    /// A sink writing into `dir` (created when the first rows arrive).
    pub fn new(dir: &Path) -> FileSink {
        FileSink {
            dir: dir.to_path_buf(),
            suffix: String::new(),
            files: HashMap::new(),
            buf: Vec::new(),
        }
    }

    /// A sink for process `process` of a cluster run.
    pub fn for_process(dir: &Path, process: usize) -> FileSink {
        FileSink {
            suffix: format!(".p{process}"),
            ..FileSink::new(dir)
        }
    }

    /// The directory the files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn open(&mut self, table: Table) -> std::io::Result<&mut std::fs::File> {
        if !self.files.contains_key(&table) {
            std::fs::create_dir_all(&self.dir)?;
            let file = std::fs::OpenOptions::new().create(true).append(true).open(
                self.dir
                    .join(format!("{}{}.ndjson", table.name(), self.suffix)),
            )?;
            self.files.insert(table, file);
        }
        Ok(self.files.get_mut(&table).expect("opened above"))
    }

    fn write(&mut self, chunk: &Chunk) -> std::io::Result<()> {
        let table = chunk.rows.table();
        self.open(table)?;
        self.buf.clear();
        chunk.rows.write_json_each_row(&mut self.buf);
        // One write per chunk: a reader never sees half a chunk's lines for long.
        self.files
            .get_mut(&table)
            .expect("opened above")
            .write_all(&self.buf)
    }
}

impl Sink for FileSink {
    fn describe(&self) -> String {
        format!("files in {}", self.dir.display())
    }

    /// Opens the files of the tables every run writes. An error here is left
    /// for the first delivery to report.
    fn prepare(&mut self) {
        for table in Table::EVERY_RUN {
            if self.open(table).is_err() {
                return;
            }
        }
    }

    fn deliver(&mut self, chunk: &Chunk) -> Outcome {
        match self.write(chunk) {
            Ok(()) => Outcome::Delivered,
            Err(e) => Outcome::Rejected(format!("cannot write {}: {e}", self.dir.display())),
        }
    }

    // No fsync at the end: these are local files read after the run, and an
    // fsync per table cost whole milliseconds per run on these VMs. Each chunk
    // is one write(), so the files are complete once the process exits.
}
