//! `collect`: hands each batch's records to a sink and passes them on.
//!
//! Built-in sinks write NDJSON to a file or stdout, or discard; any closure
//! `FnMut(batch, &[R])` works too. File and stdout sinks are shared by all
//! workers of a process: each worker serialises a container into its own
//! buffer and takes the writer's lock once per 64 KiB, never per record. In
//! a cluster their records are routed to process 0, so one file holds them all.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::record::Record;
use timely::dataflow::channels::pact::{Exchange, Pipeline as Local};

use super::stage::unary_stage;
use super::{Batches, BuildContext, Epoch};
use crate::atomic_file::AtomicFile;
use crate::base::StageKind;
use crate::failure::{Failure, Supervisor};
use crate::stop::{StopFlag, StopReason};
use crate::table::Table;
use table::TableWriter;

mod table;

type Callback<R> = Box<dyn FnMut(Epoch, &[R])>;

/// Where a `collect` stage sends records.
pub struct Collect<R> {
    target: Target<R>,
}

enum Target<R> {
    Discard,
    Stdout,
    Ndjson(PathBuf),
    Callback(Callback<R>),
    Table(Table, table::RowFn<R>),
}

impl<R> Collect<R> {
    /// Drops the records (they still pass on to any later stage).
    pub fn discard() -> Collect<R> {
        Collect {
            target: Target::Discard,
        }
    }

    /// Writes the records as NDJSON to standard output.
    pub fn stdout() -> Collect<R> {
        Collect {
            target: Target::Stdout,
        }
    }

    /// Writes the records as NDJSON to `path`, created (or truncated) when the
    /// first record arrives, or at the end of the run if none does.
    pub fn ndjson(path: impl Into<PathBuf>) -> Collect<R> {
        Collect {
            target: Target::Ndjson(path.into()),
        }
    }

    /// Keeps one row per record, `row(record)`, in `table`, through the run's
    /// sink: ClickHouse with `--clickhouse-url` (the table is created from its
    /// statement when its first rows come), else a JSONEachRow file in the
    /// run's metrics directory. `--metrics off` turns off metrics capture,
    /// not this: a run with a table always has a sink.
    ///
    /// Each row starts with the context columns the table must declare:
    /// `run_id String, dataflow String, stage_path String, batch_id UInt32,
    /// worker_id UInt32, process_id UInt32, timestamp DateTime`, then
    /// `row`'s own fields, then `insert_id String`, which the sink fills.
    ///
    /// ```
    /// use mable_pipeline::pipeline::{Collect, Pipeline};
    /// use mable_pipeline::table::Table;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Doubled { value: i64 }
    ///
    /// let table = Table::new("doubled", "CREATE TABLE IF NOT EXISTS {db}.doubled (\
    ///     run_id String, dataflow String, stage_path String, batch_id UInt32, \
    ///     worker_id UInt32, process_id UInt32, timestamp DateTime, value Int64, insert_id String\
    ///     ) ENGINE = ReplacingMergeTree ORDER BY (dataflow, run_id, batch_id, value)");
    /// let p = Pipeline::<i64, i64>::new()
    ///     .map("double", |x| x * 2)
    ///     .collect("keep", Collect::table(&table, |x: &i64| Doubled { value: *x }));
    /// assert_eq!(p.tables(), [table]);
    /// ```
    pub fn table<T: serde::Serialize + 'static>(table: &Table, row: fn(&R) -> T) -> Collect<R>
    where
        R: 'static,
    {
        Collect {
            target: Target::Table(table.clone(), table::row_fn(row)),
        }
    }

    /// The table this collects into, if any.
    pub fn target_table(&self) -> Option<&Table> {
        match &self.target {
            Target::Table(t, _) => Some(t),
            _ => None,
        }
    }

    /// Calls `f(batch, records)` for each container of records that reaches
    /// the stage on this worker (a batch may come in several containers).
    ///
    /// ```
    /// use mable_pipeline::pipeline::Collect;
    /// let _c: Collect<i64> = Collect::callback(|batch, records: &[i64]| {
    ///     println!("batch {batch}: {} records", records.len());
    /// });
    /// ```
    pub fn callback(f: impl FnMut(Epoch, &[R]) + 'static) -> Collect<R> {
        Collect {
            target: Target::Callback(Box::new(f)),
        }
    }
}

pub(crate) fn collect<'s, R: Record>(
    stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
    sink: Collect<R>,
) -> Batches<'s, R> {
    let (path, stdout) = match sink.target {
        Target::Discard => {
            return unary_stage(stream, ctx, name, StageKind::Collect, Local, |_, b| b);
        }
        Target::Callback(mut f) => {
            return unary_stage(
                stream,
                ctx,
                name,
                StageKind::Collect,
                Local,
                move |epoch, b: Vec<R>| {
                    f(epoch, &b);
                    b
                },
            );
        }
        Target::Table(table, row) => {
            // Without a sink (a library run with no metrics target) nothing
            // is kept; the stage still counts and passes records on.
            let writer = TableWriter::new(ctx, name, table, row);
            return unary_stage(
                stream,
                ctx,
                name,
                StageKind::Collect,
                Local,
                move |epoch, b: Vec<R>| {
                    if let Some(w) = &writer {
                        w.write(epoch, &b);
                    }
                    b
                },
            );
        }
        Target::Stdout => (PathBuf::from("standard output"), true),
        Target::Ndjson(p) => (p, false),
    };
    let writer = SharedWriter::for_path(&path, stdout, &ctx.supervisor);
    let mut guard = FlushGuard {
        writer,
        buffer: Vec::with_capacity(FLUSH_AT + 4096),
        supervisor: ctx.supervisor.clone(),
        stop: ctx.stop.clone(),
        owns_output: ctx.worker < ctx.threads,
    };
    let logic = move |_, batch: Vec<R>| {
        for r in &batch {
            if let Err(e) = serde_json::to_writer(&mut guard.buffer, r) {
                guard.fail(e.to_string());
                break;
            }
            guard.buffer.push(b'\n');
        }
        if guard.buffer.len() >= FLUSH_AT {
            guard.write_buffer();
        }
        batch
    };
    if ctx.processes > 1 {
        // Spread over process 0's workers: records must reach one machine.
        let threads = ctx.threads as u64;
        let mut next = 0u64;
        let pact = Exchange::new(move |_: &R| {
            next = next.wrapping_add(1);
            next % threads
        });
        unary_stage(stream, ctx, name, StageKind::Collect, pact, logic)
    } else {
        unary_stage(stream, ctx, name, StageKind::Collect, Local, logic)
    }
}

const FLUSH_AT: usize = 64 * 1024;

/// The open output: standard output, or a file under a temporary name.
enum Out {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    File(std::io::BufWriter<AtomicFile>),
    /// Whoever read standard output went away: nothing more is written.
    Closed,
}

/// One output per path per process, shared by its workers; opened lazily so
/// a process that never receives records never creates the file. A file is
/// written under a temporary name and renamed into place when the last
/// worker lets go of it, unless the run failed: a failed run never leaves a
/// half-written file where a good one stood.
struct SharedWriter {
    path: PathBuf,
    stdout: bool,
    supervisor: Supervisor,
    out: Mutex<Option<Out>>,
}

impl SharedWriter {
    fn for_path(path: &Path, stdout: bool, supervisor: &Supervisor) -> Arc<SharedWriter> {
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<SharedWriter>>>> = OnceLock::new();
        let mut open = OPEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(w) = open.get(path).and_then(Weak::upgrade) {
            return w;
        }
        let w = Arc::new(SharedWriter {
            path: path.to_path_buf(),
            stdout,
            supervisor: supervisor.clone(),
            out: Mutex::new(None),
        });
        open.insert(path.to_path_buf(), Arc::downgrade(&w));
        w
    }

    fn with_out(
        &self,
        f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if out.is_none() {
            *out = Some(if self.stdout {
                Out::Stdout(std::io::BufWriter::with_capacity(
                    1 << 20,
                    std::io::stdout(),
                ))
            } else {
                Out::File(std::io::BufWriter::with_capacity(
                    1 << 20,
                    AtomicFile::create(&self.path, 0o644)?,
                ))
            });
        }
        let result = match out.as_mut().expect("just opened") {
            Out::Stdout(w) => f(w),
            Out::File(w) => f(w),
            Out::Closed => return Ok(()),
        };
        if let Err(e) = &result
            && self.stdout
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            *out = Some(Out::Closed);
        }
        result
    }
}

impl Drop for SharedWriter {
    fn drop(&mut self) {
        let out = self.out.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        let Some(Out::File(w)) = out else { return };
        if self.supervisor.has_failed() {
            return; // dropping the AtomicFile removes the temporary file
        }
        let committed = w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(AtomicFile::commit);
        if let Err(e) = committed {
            self.supervisor.fail(Failure::Output {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            });
        }
    }
}

/// A worker's buffer in front of the shared writer; writes and flushes it
/// when the stage is dropped at the end of the run.
struct FlushGuard {
    writer: Arc<SharedWriter>,
    buffer: Vec<u8>,
    supervisor: Supervisor,
    stop: StopFlag,
    owns_output: bool,
}

impl FlushGuard {
    fn write_buffer(&mut self) {
        let buffer = &self.buffer;
        if let Err(e) = self.writer.with_out(|w| w.write_all(buffer)) {
            self.failed(e);
        }
        self.buffer.clear();
    }

    /// A reader that closed standard output ends the run quietly, as
    /// `head` expects; anything else is a failure naming the output.
    fn failed(&self, e: std::io::Error) {
        if self.writer.stdout && e.kind() == std::io::ErrorKind::BrokenPipe {
            self.stop.raise(StopReason::OutputClosed);
        } else {
            self.fail(e.to_string());
        }
    }

    fn fail(&self, reason: String) {
        self.supervisor.fail(Failure::Output {
            path: self.writer.path.display().to_string(),
            reason,
        });
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        if self.buffer.is_empty() && !self.owns_output {
            return;
        }
        self.write_buffer();
        if let Err(e) = self.writer.with_out(|w| w.flush()) {
            self.failed(e);
        }
    }
}
