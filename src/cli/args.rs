//! Arguments, with `--help` as the manual.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run event-processing pipelines as timely dataflows and see where their time goes.
///
/// Runs a dataflow over INPUT (a JSON object, a JSON array, or NDJSON — detected
/// automatically) on many worker threads and, with -n, many processes. Every stage
/// reports records in/out and busy time per batch and worker; timely's log adds the
/// operator graph and scheduling time. Metrics go to ./metrics/<run_id>/*.ndjson by
/// default, or to ClickHouse with --clickhouse-url, while the run goes.
///
/// Examples:
///   mable-pipeline -w 8 testdata/mable_event.json
///   mable-pipeline --dataflow int --size 1000000 -w 2
///   mable-pipeline --size 1000000 --output out.ndjson testdata/mable_event.json
///   zcat events.ndjson.gz | mable-pipeline -w 4 -      (`-` reads standard input)
///   mable-pipeline -w 2 -n 2 -p 0 --hostfile hosts.txt events.ndjson   (and -p 1 on the other host)
#[derive(Debug, Parser)]
#[command(
    name = "mable-pipeline",
    version,
    args_conflicts_with_subcommands = true,
    verbatim_doc_comment
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the dataflows and their stage graphs.
    List,
    /// Work with metrics written earlier.
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// Write a run's report.html again from its metric files, or compare two runs.
    Report(ReportArgs),
    /// Print the ClickHouse schema (every table's CREATE TABLE), for
    /// `clickhouse-client --multiquery`.
    ///
    /// Example:
    ///   mable-pipeline schema --database mable | clickhouse-client --multiquery
    #[command(verbatim_doc_comment)]
    Schema {
        /// The database the statements create and use.
        #[arg(long, default_value = "mable", value_name = "NAME")]
        database: String,
    },
}

/// `report RUN_DIR` or `report RUN_A RUN_B`.
///
/// Examples:
///   mable-pipeline report metrics/1796104862-fe456f70
///   mable-pipeline report metrics/<before> metrics/<after>     (what changed, stage by stage)
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct ReportArgs {
    /// A run's metrics directory (`metrics/<run_id>`, printed by the run). With two,
    /// compare them: the first is the baseline.
    #[arg(value_name = "RUN_DIR", num_args = 1..=2, required = true)]
    pub dirs: Vec<PathBuf>,
    /// Compare RUN_DIR with this earlier run (the same as `report BASELINE RUN_DIR`).
    #[arg(long, value_name = "BASELINE_DIR")]
    pub compare: Option<PathBuf>,
    /// Where the comparison page goes (default: `compare-<baseline run id>.html` in the newer run's directory).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A time counts as changed when it moved by more than this many percent…
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub noise_pct: f64,
    /// …and by more than this many milliseconds (half of it for latency percentiles).
    #[arg(long, default_value_t = 1.0, value_name = "MS")]
    pub noise_floor_ms: f64,
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Deliver metric rows spooled while ClickHouse was unreachable. Delivers each
    /// chunk exactly once, however often it is run.
    Replay {
        /// The spool directory (printed by the run that spooled, `<metrics-dir>/spool` by default).
        dir: PathBuf,
        #[command(flatten)]
        clickhouse: ClickHouseArgs,
    },
    /// Ship a run's metric files (`metrics/<run_id>`, written without
    /// --clickhouse-url) to ClickHouse. Each chunk the run wrote goes in
    /// exactly once, however often it is run; the tables are created if missing.
    ///
    /// Example:
    ///   mable-pipeline metrics load metrics/1796104862-fe456f70 --clickhouse-url http://localhost:8123
    #[command(verbatim_doc_comment)]
    Load {
        /// The run's metrics directory (printed by the run, `<metrics-dir>/<run_id>`).
        #[arg(value_name = "RUN_DIR")]
        dir: PathBuf,
        #[command(flatten)]
        clickhouse: ClickHouseArgs,
    },
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Args)]
pub struct ClickHouseArgs {
    /// Ship metrics to ClickHouse over HTTP, e.g. http://localhost:8123. User and password
    /// come from CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (never from the command line).
    #[arg(long, env = "CLICKHOUSE_URL", value_name = "URL")]
    pub clickhouse_url: Option<String>,
    /// The ClickHouse database (created, with its tables, if missing).
    #[arg(long, default_value = "mable", value_name = "NAME")]
    pub database: String,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The input: a JSON array or NDJSON file (its records, exactly), or a file
    /// holding a single JSON object — a template, cycled with fresh ids to
    /// --size records (default 1,000,000; --size 1 runs it once). `-` reads
    /// standard input; it, a pipe or a FIFO is read once and its records dealt
    /// to the workers (in a cluster, only process 0 reads it). Without INPUT, every shipped dataflow generates --size
    /// records (default 1,000,000): int and test_struct the seed's values,
    /// mable_event and conversions minimal events (id, name, time, a cart)
    /// like the Go generator's; `list` says which can.
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// The dataflow to run (see `list`). Default: the first one `list` shows.
    #[arg(long, value_name = "NAME")]
    pub dataflow: Option<String>,

    /// Worker threads per process (timely calls them threads). Default: the number of CPUs.
    #[arg(short = 'w', long, visible_alias = "threads", value_name = "N")]
    pub workers: Option<usize>,

    /// Processes in the cluster (timely's cluster mode); start each with its own -p.
    #[arg(short = 'n', long, default_value_t = 1, value_name = "N")]
    pub processes: usize,

    /// This process's index, 0..N-1.
    #[arg(short = 'p', long, default_value_t = 0, value_name = "I")]
    pub process: usize,

    /// Timely's hostfile: one host:port per line, line i for process i. Without it,
    /// process i listens on localhost:2101+i. (`-h` is help, so this has no short form.)
    #[arg(long, value_name = "FILE")]
    pub hostfile: Option<PathBuf>,

    /// Seconds to wait for all processes to connect before giving up.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub connect_timeout: u64,

    /// In a cluster, seconds with no progress anywhere (no batch read, no
    /// batch finished) before the run is called stalled and ends, naming the
    /// processes that went silent. A partitioned host's connections do not
    /// break by themselves; without this the run would wait forever.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub stall_timeout: u64,

    /// Records per batch (one timely epoch each). Default: about four batches per
    /// worker, between 1,024 and 65,536 records.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// Seed of every pseudo-random value; output depends on it and on record ids
    /// only, never on worker count, batch size or process count.
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub seed: u64,

    /// Make N records: cycle INPUT's records with fresh ids, or generate them
    /// (int, test_struct) when INPUT is omitted. Default for a single-object
    /// INPUT and for generated records: 1,000,000.
    #[arg(long, value_name = "N")]
    pub size: Option<u64>,

    /// Write the records that reach the end of the pipeline here, as NDJSON (`-` for stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// What to do with a record that cannot be read: stop with an error naming
    /// the file and line, or skip it, count it, and keep it in --dead-letter.
    #[arg(long, value_enum, default_value_t = OnError::Fail, value_name = "POLICY")]
    pub on_error: OnError,

    /// With --on-error skip: write each skipped record here (NDJSON with file, line, error,
    /// record). It holds raw input, so it is private (mode 0600), and it replaces an older
    /// file only when the run succeeds.
    #[arg(long, value_name = "FILE")]
    pub dead_letter: Option<PathBuf>,

    /// Capture metrics (`off` disables all capture, for measuring overhead).
    #[arg(long, value_enum, default_value_t = Switch::On, value_name = "ON|OFF")]
    pub metrics: Switch,

    /// Where metric files (and the ClickHouse spool) go.
    #[arg(long, default_value = "metrics", value_name = "DIR")]
    pub metrics_dir: PathBuf,

    /// Keep the newest N runs' directories under --metrics-dir and remove
    /// older ones after each run (0 keeps everything). Only directories named
    /// like a run id and holding only metric files are ever removed.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub keep_runs: usize,

    /// Write the metric files only: no report.html in the run's metrics directory.
    #[arg(long)]
    pub no_report: bool,

    #[command(flatten)]
    pub clickhouse: ClickHouseArgs,

    /// Never show the progress line (it only shows on a terminal anyway).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `--on-error`: what to do with a record that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Stop the run with an error naming the file, line and problem.
    Fail,
    /// Skip the record, count it, and write it to `--dead-letter` if given.
    Skip,
}

impl From<OnError> for crate::input::ErrorPolicy {
    fn from(o: OnError) -> Self {
        match o {
            OnError::Fail => crate::input::ErrorPolicy::Fail,
            OnError::Skip => crate::input::ErrorPolicy::Skip,
        }
    }
}
