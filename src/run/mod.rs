//! Running a dataflow: timely workers fed batch by batch, supervised so that
//! any failure ends the run promptly, with metrics shipped by the sidecar.

mod cluster;
mod connect;
mod control;
mod progress;
mod recorder;
mod report;
mod worker;

pub use crate::stop::{StopFlag, StopReason};
pub use cluster::ClusterConfig;
pub use connect::{ConnectError, Fingerprint};
pub use control::PartReport;
pub use report::{RunReport, StageSummary, render_summary};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::base::Params;
use crate::failure::{Failure, Supervisor, WaitResult, watch_panics};
use crate::input::{InputError, InputPlan, InputSpec, RecordErrors, Workers};
use crate::metrics::clock::Clock;
use crate::metrics::rows::RunRow;
use crate::metrics::tables::metric_tables;
use crate::pipeline::{Pipeline, PipelineError, StageNode};
use crate::record::{Record, SourceRecord};
use crate::sink::Sink;
use crate::sink::sidecar::{DeliveryReport, Sidecar};

/// How long a process whose peer's connection broke waits for that peer's
/// own account of its failure (a peer killed outright closes its control
/// connection at once, so this is only ever waited in full on a hung host).
const RELAY_WAIT: Duration = Duration::from_secs(1);

/// Makes a run's sink from its run id.
pub type SinkFactory = Box<dyn Fn(&str) -> Box<dyn Sink> + Send + Sync>;

/// Where metric rows go.
pub enum MetricsTarget {
    /// No sink: nothing is captured or kept (a library run, or measuring
    /// overhead).
    Off,
    /// JSONEachRow files under `dir/<run_id>/`.
    Files { dir: PathBuf },
    /// A sink made once the run id is known (ClickHouse, in the binary).
    Custom(SinkFactory),
}

/// Where the records that reach the end of the pipeline go (`--output`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// NDJSON on standard output.
    Stdout,
    /// An NDJSON file, written under a temporary name and renamed into place
    /// when the run ends without failing.
    File(PathBuf),
}

/// Everything a run needs besides the dataflow.
pub struct RunConfig {
    pub input: InputSpec,
    pub batch_size: Option<usize>,
    pub seed: u64,
    pub cluster: ClusterConfig,
    /// `--output`: the records that reach the end, as NDJSON.
    pub output: Option<Output>,
    pub errors: RecordErrors,
    pub metrics: MetricsTarget,
    /// Make metric rows (`--metrics on`). Off, a run still sends the rows of
    /// its pipeline's own tables (`Collect::table`) to `metrics`: those are
    /// output, not metrics.
    pub capture_metrics: bool,
    /// Show progress on the terminal.
    pub progress: bool,
    /// The command line, recorded in `pipeline_runs` (already free of secrets).
    pub args: String,
    /// How long to wait for the sidecar at the end.
    pub flush_wait: Duration,
    /// Raised to end the run early and cleanly (Ctrl-C, a closed pipe).
    pub stop: StopFlag,
}

impl RunConfig {
    /// A local run of `input` on `threads` workers, metrics off, for tests and examples.
    pub fn local(input: InputSpec, threads: usize) -> RunConfig {
        RunConfig {
            input,
            batch_size: None,
            seed: 0,
            cluster: ClusterConfig::local(threads),
            output: None,
            errors: RecordErrors::default(),
            metrics: MetricsTarget::Off,
            capture_metrics: true,
            progress: false,
            args: String::new(),
            flush_wait: Duration::from_secs(10),
            stop: StopFlag::default(),
        }
    }
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Failed(#[from] Failure),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("cannot start the workers: {0}")]
    Start(String),
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

impl From<InputError> for RunError {
    fn from(e: InputError) -> Self {
        RunError::Failed(Failure::Input(e))
    }
}

/// Makes a dataflow's pipeline; called once per worker (pipelines hold
/// per-worker closures and are not `Send`).
pub type PipelineFactory<R, O> = Arc<dyn Fn(&Params) -> Pipeline<R, O> + Send + Sync>;

/// Runs `pipeline` over the configured input. Returns when every worker of
/// this process finished, or as soon as anything failed — once the workers
/// have stopped, so a caller can go on. A cluster's processes connect
/// within `cluster.connect_timeout` or the run fails; raising `config.stop`
/// ends the run early with the records read so far.
pub fn run<R: SourceRecord, O: Record>(
    dataflow: &'static str,
    pipeline: PipelineFactory<R, O>,
    config: &RunConfig,
) -> Result<RunReport, RunError> {
    run_with_errors(dataflow, pipeline, config, config.errors.clone())
}

/// [`run`] with the input's bad-record handling given apart from `config`
/// (a dataflow adds its declaration that records carry personal data).
pub(crate) fn run_with_errors<R: SourceRecord, O: Record>(
    dataflow: &'static str,
    pipeline: PipelineFactory<R, O>,
    config: &RunConfig,
    errors: RecordErrors,
) -> Result<RunReport, RunError> {
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let stages = {
        let p = pipeline(&Params {
            seed: config.seed,
            now: unix_now,
        });
        p.check()?;
        p.stages().to_vec()
    };
    config.cluster.validate()?;
    let workers = Workers {
        threads: config.cluster.threads,
        processes: config.cluster.processes,
        process: config.cluster.process,
    };
    let plan = InputPlan::<R>::plan(&config.input, config.batch_size, workers, errors)?;
    let fingerprint = fingerprint(dataflow, &stages, config, plan.batch_size);
    let allocators =
        config
            .cluster
            .allocators(&fingerprint, &new_run_id(dataflow), unix_now, &config.stop)?;
    let run_id = allocators.run_id.clone();
    // The run's time starts once every process is there: waiting for a
    // peer to start is not the pipeline's time.
    let clock = Clock::now();
    let params = Params {
        seed: config.seed,
        now: allocators.now,
    };

    let supervisor = Supervisor::new();
    let _watch = watch_panics(&supervisor, &allocators.addresses);
    let insert_prefix = format!("{run_id}-p{}", config.cluster.process);
    let has_tables = !(pipeline)(&params).tables().is_empty();
    let sidecar = match &config.metrics {
        _ if !config.capture_metrics && !has_tables => None,
        MetricsTarget::Off => None,
        MetricsTarget::Files { dir } => {
            let dir = dir.join(&run_id);
            let sink = match config.cluster.processes {
                1 => crate::sink::files::FileSink::new(&dir),
                _ => crate::sink::files::FileSink::for_process(&dir, config.cluster.process),
            };
            let every_run = metric_tables().every_run().map(Clone::clone);
            let sink = match config.capture_metrics {
                true => sink.with_tables(every_run),
                false => sink,
            };
            Some(Sidecar::start(Box::new(sink), insert_prefix))
        }
        MetricsTarget::Custom(make) => Some(Sidecar::start(make(&run_id), insert_prefix)),
    };
    let progress = Arc::new(progress::Counters::default());
    let shared = Arc::new(worker::Shared {
        dataflow,
        run_id: run_id.clone(),
        pipeline,
        params,
        plan,
        cluster: config.cluster.clone(),
        output: config.output.clone(),
        supervisor: supervisor.clone(),
        stop: config.stop.clone(),
        metrics: sidecar
            .as_ref()
            .filter(|_| config.capture_metrics)
            .map(Sidecar::sender),
        tables: sidecar.as_ref().map(Sidecar::sender),
        progress: progress.clone(),
        clock,
    });

    let runner = {
        let supervisor = supervisor.clone();
        let shared = shared.clone();
        let (builders, others) = (allocators.builders, allocators.others);
        std::thread::Builder::new()
            .name("mable:timely".into())
            .spawn(move || {
                // Dropping timely's guards after a lost peer panics ("Send
                // thread panic"); the panic hook has reported it, and the
                // supervisor must still learn that the workers are done.
                let reports = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let result = timely::execute::execute_from(
                        builders,
                        others,
                        timely::WorkerConfig::default(),
                        move |w| worker::work(w, &shared),
                    );
                    match result {
                        Ok(guards) => guards.join(),
                        Err(e) => {
                            supervisor
                                .fail(Failure::Internal(format!("timely could not start: {e}")));
                            Vec::new()
                        }
                    }
                }))
                .unwrap_or_default();
                supervisor.finish();
                reports
            })
            .map_err(|e| RunError::Start(e.to_string()))?
    };

    let control = (config.cluster.processes > 1).then(|| {
        control::Control::start(
            config.cluster.process,
            allocators.addresses.clone(),
            allocators.controls,
            config.stop.clone(),
            progress.clone(),
        )
    });
    let ticker = config
        .progress
        .then(|| progress::Ticker::start(progress.clone(), shared.plan.estimated_records));
    let outcome = match &control {
        None => supervisor.wait(None),
        // A cluster run can stall (a partitioned host): watch for it.
        Some(control) => {
            let mut watchdog = control::Watchdog::new(config.cluster.stall_timeout);
            loop {
                match supervisor.wait(Some(control::HEARTBEAT)) {
                    WaitResult::TimedOut => {
                        let local = progress.activity.load(std::sync::atomic::Ordering::Relaxed);
                        if let Some(why) = watchdog.check(local, control) {
                            supervisor.fail(Failure::Stalled(why));
                        }
                    }
                    done => break done,
                }
            }
        }
    };
    drop(ticker);
    let end = Instant::now();

    let (worker_reports, failure) = match outcome {
        WaitResult::Failed(f) => {
            let f = match (f, &control) {
                (
                    Failure::PeerLost {
                        process: Some(p),
                        address,
                        detail,
                    },
                    Some(c),
                ) => {
                    // The lost process may have failed first and said why.
                    match c.failure_of(p, RELAY_WAIT) {
                        Some(message) => Failure::Relayed {
                            process: p,
                            message,
                        },
                        None => Failure::PeerLost {
                            process: Some(p),
                            address,
                            detail,
                        },
                    }
                }
                (f, _) => f,
            };
            // Before our sockets close: the others then name this cause,
            // not the closing of our connection.
            if let Some(c) = &control {
                c.announce_failure(&f.to_string());
            }
            // Timely's network threads end only when their sockets do.
            for socket in &allocators.data {
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
            reap(runner, &supervisor);
            (None, Some(f))
        }
        _ => {
            let joined = runner.join().unwrap_or_default();
            let mut ok = Vec::new();
            let mut err = supervisor
                .failure()
                .or_else(|| shared.plan.unreported_error().map(Failure::Input));
            for r in joined {
                match r {
                    Ok(r) => ok.push(r),
                    Err(e) if err.is_none() => {
                        err = Some(Failure::Internal(format!("a worker failed: {e}")))
                    }
                    Err(_) => {}
                }
            }
            (Some(ok), err)
        }
    };

    let mut report = match worker_reports {
        Some(workers) if failure.is_none() => {
            RunReport::new(&run_id, dataflow, &shared, workers, end)
        }
        // The workers did not all report: what the progress counters saw is
        // the best account of how far the run got.
        _ => RunReport::from_progress(&run_id, dataflow, &shared, &progress, end),
    };
    report.stopped = config.stop.reason();
    if let Some(control) = control {
        if failure.is_none() {
            report.cluster = control.finish(report.part(config.cluster.process));
        } else {
            drop(control);
        }
    }
    if let Some(sidecar) = sidecar {
        // Settle every row first, so the run's own row can say what became of them.
        let before = sidecar.flush(config.flush_wait / 2);
        if config.capture_metrics {
            let row = run_row(&report, config, &shared, failure.as_ref(), &before);
            sidecar
                .sender()
                .send_rows(&metric_tables().runs, std::slice::from_ref(&row));
        }
        report.delivery = Some(sidecar.shutdown(config.flush_wait / 2));
    }
    match failure {
        Some(f) => Err(RunError::Failed(f)),
        None => Ok(report),
    }
}

/// What the processes of a cluster must agree on, from this process's settings.
fn fingerprint(
    dataflow: &str,
    stages: &[StageNode],
    config: &RunConfig,
    batch_size: usize,
) -> Fingerprint {
    let mut paths = StageNode::paths(stages);
    if config.output.is_some() {
        paths.push("output".to_string());
    }
    if !matches!(config.metrics, MetricsTarget::Off) {
        paths.push("(metrics capture)".to_string());
    }
    Fingerprint {
        dataflow: dataflow.to_string(),
        threads: config.cluster.threads,
        processes: config.cluster.processes,
        batch_size,
        seed: config.seed,
        size: match &config.input {
            InputSpec::File(_) => None,
            InputSpec::Cycled { size, .. } | InputSpec::Generated { size, .. } => Some(*size),
        },
        stages: paths,
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// How long a failed run waits for its workers to notice and return. They
/// check between steps (at most a park of 1 ms apart), so this is only
/// reached when a worker is stuck inside a stage or in timely itself.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// Joins the workers of a failed run, so a library caller that goes on after
/// an `Err` is not left with threads still running the dataflow. Workers
/// stuck where they cannot see the failure (inside a stage's own code) are
/// left to end with the process, and said so.
fn reap<T>(runner: std::thread::JoinHandle<T>, supervisor: &Supervisor) {
    if supervisor.wait_finished(REAP_GRACE) {
        let _ = runner.join();
    } else {
        // The failure itself is what the user needs to read; this is detail.
        tracing::info!(
            "worker threads did not stop within {REAP_GRACE:?} of the failure; they end with the process"
        );
    }
}

fn run_row(
    report: &RunReport,
    config: &RunConfig,
    shared: &worker::Shared<impl SourceRecord, impl Record>,
    failure: Option<&Failure>,
    rows: &DeliveryReport,
) -> RunRow {
    let start_us = shared.clock.unix_us(shared.clock.start());
    let (status, error) = match (failure, report.stopped) {
        (Some(f), _) => ("failed", f.to_string()),
        (None, Some(reason)) => ("interrupted", reason.describe()),
        (None, None) => ("ok", String::new()),
    };
    RunRow {
        run_id: report.run_id.clone(),
        dataflow: report.dataflow.to_string(),
        process_id: config.cluster.process as u32,
        processes: config.cluster.processes as u32,
        workers: config.cluster.peers() as u32,
        batch_size: shared.plan.batch_size as u64,
        batches: report.batches,
        input: shared.plan.description.clone(),
        args: config.args.clone(),
        records_in: report.records_in,
        records_out: report.records_out,
        records_skipped: report.skipped,
        started_at: (start_us / 1_000_000) as u32,
        start_us,
        end_us: start_us + report.elapsed.as_micros() as u64,
        elapsed_ms: report.elapsed.as_secs_f64() * 1e3,
        status: status.to_string(),
        error,
        version: env!("CARGO_PKG_VERSION").to_string(),
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        metric_rows_produced: rows.produced,
        metric_rows_delivered: rows.delivered,
        metric_rows_spooled: rows.spooled,
        metric_rows_failed: rows.failed,
        metric_rows_dropped: rows.dropped,
    }
}

/// A fresh run id: UTC time to the second plus 32 random bits, so ids sort by
/// start time and two runs started in the same second still differ.
fn new_run_id(dataflow: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let noise = crate::record::seeded_hash(
        now.as_nanos() as u64 ^ std::process::id() as u64,
        dataflow.as_bytes(),
    );
    format!("{}-{:08x}", now.as_secs(), noise as u32)
}
