//! Running a dataflow: timely workers fed batch by batch, supervised so that
//! any failure ends the run promptly, with metrics shipped by the sidecar.

mod cluster;
mod handoff;
mod progress;
mod report;
mod worker;

pub use cluster::ClusterConfig;
pub use report::{RunReport, StageSummary, render_summary};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dataflows::Params;
use crate::failure::{Failure, Supervisor, WaitResult, watch_panics};
use crate::input::{InputError, InputPlan, InputSpec, RecordErrors};
use crate::metrics::clock::Clock;
use crate::metrics::rows::{Rows, RunRow};
use crate::pipeline::{Pipeline, PipelineError};
use crate::record::{Record, SourceRecord};
use crate::sink::Sink;
use crate::sink::sidecar::{DeliveryReport, Sidecar};

/// Makes a run's sink from its run id.
pub type SinkFactory = Box<dyn Fn(&str) -> Box<dyn Sink> + Send + Sync>;

/// Where metric rows go.
pub enum MetricsTarget {
    /// Capture nothing (`--metrics off`): for measuring overhead.
    Off,
    /// JSONEachRow files under `dir/<run_id>/`.
    Files { dir: PathBuf },
    /// A sink made once the run id is known (ClickHouse, in the binary).
    Custom(SinkFactory),
}

/// Everything a run needs besides the dataflow.
pub struct RunConfig {
    pub input: InputSpec,
    pub batch_size: Option<usize>,
    pub seed: u64,
    pub cluster: ClusterConfig,
    /// `--output`: the records that reach the end, as NDJSON.
    pub output: Option<PathBuf>,
    pub errors: RecordErrors,
    pub metrics: MetricsTarget,
    /// Show progress on the terminal.
    pub progress: bool,
    /// The command line, recorded in `pipeline_runs`.
    pub args: String,
    /// How long to wait for the sidecar at the end.
    pub flush_wait: Duration,
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
            progress: false,
            args: String::new(),
            flush_wait: Duration::from_secs(10),
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
    #[error(
        "process {process} of {processes}: not all processes connected within {timeout:?}.\n  \
         Start every process with the same -n {processes}, -w and --hostfile (or none), each with its own -p 0..{last}, \
         or raise --connect-timeout"
    )]
    ConnectTimeout {
        process: usize,
        processes: usize,
        last: usize,
        timeout: Duration,
    },
}

impl From<InputError> for RunError {
    fn from(e: InputError) -> Self {
        RunError::Failed(Failure::Input(e))
    }
}

/// What the process learns once its workers are connected.
pub(crate) struct Started {
    run_id: String,
}

/// Makes a dataflow's pipeline; called once per worker (pipelines hold
/// per-worker closures and are not `Send`).
pub type PipelineFactory<R, O> = Arc<dyn Fn(&Params) -> Pipeline<R, O> + Send + Sync>;

/// Runs `pipeline` over the configured input. Returns when every worker of
/// this process finished, or as soon as anything failed — once the workers
/// have stopped, so a caller can go on. The exception is a cluster peer that
/// never connects: timely's connection set-up cannot be interrupted, so its
/// threads stay until the process ends.
pub fn run<R: SourceRecord, O: Record>(
    dataflow: &'static str,
    pipeline: PipelineFactory<R, O>,
    config: &RunConfig,
) -> Result<RunReport, RunError> {
    let clock = Clock::now();
    let params = Params {
        seed: config.seed,
        now: (clock.now_us() / 1_000_000) as i64,
    };
    pipeline(&params).check()?;
    let timely_config = config.cluster.timely().map_err(RunError::Start)?;
    let plan = InputPlan::<R>::plan(
        &config.input,
        config.batch_size,
        config.cluster.peers(),
        config.errors.clone(),
    )?;

    let supervisor = Supervisor::new();
    let _watch = watch_panics(&supervisor);
    let handoff = handoff::Handoff::<Started, Option<crate::sink::sidecar::MetricsSender>>::new();
    let progress = Arc::new(progress::Counters::default());
    let shared = Arc::new(worker::Shared {
        dataflow,
        pipeline,
        params,
        plan,
        cluster: config.cluster.clone(),
        output: config.output.clone(),
        supervisor: supervisor.clone(),
        handoff: handoff.clone(),
        progress: progress.clone(),
        clock,
        proposed_run_id: new_run_id(dataflow),
    });

    let runner = {
        let supervisor = supervisor.clone();
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("mable:timely".into())
            .spawn(move || {
                let result = timely::execute(timely_config, move |w| worker::work(w, &shared));
                let reports = match result {
                    Ok(guards) => guards.join(),
                    Err(e) => {
                        supervisor.fail(Failure::Internal(format!("timely could not start: {e}")));
                        Vec::new()
                    }
                };
                supervisor.finish();
                reports
            })
            .map_err(|e| RunError::Start(e.to_string()))?
    };

    // Wait for the workers to connect (a missing peer makes timely wait forever).
    // The handoff wakes us the moment they report in; the timeout only bounds
    // how late a failure before that is noticed.
    let connect = if config.cluster.processes > 1 {
        Some(config.cluster.connect_timeout)
    } else {
        None
    };
    let started = loop {
        if let Some(started) = handoff.wait_request(Duration::from_millis(20)) {
            break started;
        }
        match supervisor.wait(Some(Duration::ZERO)) {
            WaitResult::Failed(f) => {
                reap(runner, &supervisor);
                return Err(f.into());
            }
            WaitResult::Finished => {
                return Err(RunError::Start("the workers ended before starting".into()));
            }
            WaitResult::TimedOut => {}
        }
        if connect.is_some_and(|t| clock.start().elapsed() > t) {
            return Err(RunError::ConnectTimeout {
                process: config.cluster.process,
                processes: config.cluster.processes,
                last: config.cluster.processes - 1,
                timeout: connect.unwrap_or_default(),
            });
        }
    };

    let run_id = started.run_id;
    let insert_prefix = format!("{run_id}-p{}", config.cluster.process);
    let sidecar = match &config.metrics {
        MetricsTarget::Off => None,
        MetricsTarget::Files { dir } => {
            let dir = dir.join(&run_id);
            let sink = match config.cluster.processes {
                1 => crate::sink::files::FileSink::new(&dir),
                _ => crate::sink::files::FileSink::for_process(&dir, config.cluster.process),
            };
            Some(Sidecar::start(Box::new(sink), insert_prefix))
        }
        MetricsTarget::Custom(make) => Some(Sidecar::start(make(&run_id), insert_prefix)),
    };
    handoff.reply(sidecar.as_ref().map(Sidecar::sender));

    let ticker = config
        .progress
        .then(|| progress::Ticker::start(progress.clone(), shared.plan.estimated_records));
    let outcome = supervisor.wait(None);
    drop(ticker);
    let end = Instant::now();

    let (worker_reports, failure) = match outcome {
        WaitResult::Failed(f) => {
            reap(runner, &supervisor);
            (Vec::new(), Some(f))
        }
        _ => {
            let joined = runner.join().unwrap_or_default();
            let mut ok = Vec::new();
            let mut err = supervisor.failure();
            for r in joined {
                match r {
                    Ok(r) => ok.push(r),
                    Err(e) if err.is_none() => {
                        err = Some(Failure::Internal(format!("a worker failed: {e}")))
                    }
                    Err(_) => {}
                }
            }
            (ok, err)
        }
    };

    let mut report = RunReport::new(&run_id, dataflow, &shared, worker_reports, end);
    if let Some(sidecar) = sidecar {
        // Settle every row first, so the run's own row can say what became of them.
        let before = sidecar.flush(config.flush_wait / 2);
        sidecar.sender().send(Rows::Runs(vec![run_row(
            &report,
            config,
            &shared,
            failure.as_ref(),
            &before,
        )]));
        report.delivery = Some(sidecar.shutdown(config.flush_wait / 2));
    }
    match failure {
        Some(f) => Err(RunError::Failed(f)),
        None => Ok(report),
    }
}

/// How long a failed run waits for its workers to notice and return. They
/// check between steps (at most a park of 1 ms apart), so this is only
/// reached when a worker is stuck inside a stage or in timely itself.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// Joins the workers of a failed run, so a library caller that goes on after
/// an `Err` is not left with threads still running the dataflow. Workers
/// blocked where they cannot see the failure (timely waiting for a peer that
/// never connects) are left to end with the process, and said so.
fn reap<T>(runner: std::thread::JoinHandle<T>, supervisor: &Supervisor) {
    if supervisor.wait_finished(REAP_GRACE) {
        let _ = runner.join();
    } else {
        tracing::warn!(
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
        status: if failure.is_some() { "failed" } else { "ok" }.to_string(),
        error: failure.map(|f| f.to_string()).unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        metric_rows_produced: rows.produced,
        metric_rows_delivered: rows.delivered,
        metric_rows_spooled: rows.spooled,
        metric_rows_failed: rows.failed,
        metric_rows_dropped: rows.dropped,
        insert_id: String::new(),
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
