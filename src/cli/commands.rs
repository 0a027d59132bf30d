//! What each command does.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches};

use super::args::{Cli, Command, MetricsCommand, RunArgs, Switch};
use super::extension::Extension;
use super::out::{self, StdoutClosed};
use super::preflight::{self, Named};
use crate::dataflow::{self, Dataflow};
use crate::input::{DeadLetter, ErrorPolicy, InputSpec, RecordErrors, single_object};
use crate::run::{
    ClusterConfig, ConnectError, MetricsTarget, Output, RunConfig, RunError, StopFlag, StopReason,
    render_summary,
};

/// Parses the command line, runs it, and returns the process exit code.
/// `dataflows` are the ones `--dataflow` can name, the first the default:
/// a binary of a user's own is
///
/// ```no_run
/// # use mable_pipeline::dataflow::Definition;
/// # use mable_pipeline::pipeline::Pipeline;
/// # static MINE: Definition<i64, i64> = Definition { name: "mine", about: "", pipeline: |_| Pipeline::new(), personal_data: false };
/// fn main() {
///     std::process::exit(mable_pipeline::cli::main(&[&MINE]));
/// }
/// ```
pub fn main(dataflows: &[&dyn Dataflow]) -> i32 {
    main_with(dataflows, &[])
}

/// [`main`] with commands of the binary's own beside the engine's (see
/// [`Extension`]).
pub fn main_with(dataflows: &[&dyn Dataflow], extensions: &[&dyn Extension]) -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let mut command = Cli::command();
    let mut own_names = Vec::with_capacity(extensions.len());
    for e in extensions {
        let sub = e.command();
        own_names.push(sub.get_name().to_string());
        command = command.subcommand(sub);
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .chain(["help".to_string()])
        .collect();
    let matches = command.get_matches();
    // A binary's own command first: the engine's `Cli` does not know it.
    let own = matches.subcommand().and_then(|(name, args)| {
        let at = own_names.iter().position(|n| n == name)?;
        Some((extensions[at], args))
    });
    let result = match own {
        Some((e, args)) => e.run(args),
        None => match Cli::from_arg_matches(&matches) {
            Err(e) => e.exit(),
            Ok(cli) => match cli.command {
                Some(Command::List) => list(dataflows),
                Some(Command::Metrics(MetricsCommand::Replay { dir, clickhouse })) => {
                    super::replay::replay(&dir, &clickhouse).map(|()| 0)
                }
                Some(Command::Metrics(MetricsCommand::Load { dir, clickhouse })) => {
                    super::load::load(&dir, &clickhouse, dataflows).map(|()| 0)
                }
                Some(Command::Schema { database }) => super::load::schema(&database).map(|()| 0),
                Some(Command::Report(args)) => super::report::report(&args).map(|()| 0),
                None => run(&cli.run, dataflows, &names),
            },
        },
    };
    match result {
        Ok(code) => code,
        Err(e) if e.is::<StdoutClosed>() => 0,
        Err(e) => {
            crate::atomic_file::remove_uncommitted();
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn list(dataflows: &[&dyn Dataflow]) -> anyhow::Result<i32> {
    for d in dataflows {
        let generates = if d.generates_input() {
            "; can generate its input (--size N, no INPUT)"
        } else {
            ""
        };
        let mut text = format!("{} — {}{}\n", d.name(), d.about(), generates);
        crate::pipeline::render(&d.stages(), 2, &mut text);
        out::println(text)?;
    }
    Ok(0)
}

fn run(args: &RunArgs, dataflows: &[&dyn Dataflow], commands: &[String]) -> anyhow::Result<i32> {
    let first = dataflows
        .first()
        .context("this binary offers no dataflow")?;
    let name = args.dataflow.as_deref().unwrap_or(first.name());
    let dataflow: &dyn Dataflow = dataflow::find(dataflows, name).with_context(|| {
        let names: Vec<_> = dataflows.iter().map(|d| d.name()).collect();
        format!(
            "no dataflow named `{name}`: choose one of {}",
            names.join(", ")
        )
    })?;
    let input = match (&args.input, args.size) {
        (Some(path), _) if path.as_os_str() != "-" && !path.exists() => {
            return Err(no_such_input(path, commands));
        }
        // One object is a template (the seed's benchmark event): cycled to a
        // real run's size, not run once.
        (Some(path), None) if path.as_os_str() != "-" && single_object(path)? => {
            InputSpec::Cycled {
                path: path.clone(),
                size: DEFAULT_SIZE,
            }
        }
        (Some(path), None) => InputSpec::File(path.clone()),
        (Some(path), Some(size)) => InputSpec::Cycled {
            path: path.clone(),
            size,
        },
        (None, size) if dataflow.generates_input() => InputSpec::Generated {
            size: size.unwrap_or(DEFAULT_SIZE),
            seed: args.seed,
        },
        (None, _) => bail!(
            "the {} dataflow cannot make its records: give an INPUT file",
            dataflow.name()
        ),
    };
    if args.dead_letter.is_some() && ErrorPolicy::from(args.on_error) != ErrorPolicy::Skip {
        bail!("--dead-letter only applies with --on-error skip");
    }
    if args.workers == Some(0) || args.processes == 0 {
        bail!("-w and -n must be at least 1");
    }
    if args.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    let threads = args.workers.unwrap_or_else(cores);
    let cluster = ClusterConfig {
        threads,
        processes: args.processes,
        process: args.process,
        hostfile: args.hostfile.clone(),
        connect_timeout: Duration::from_secs(args.connect_timeout),
        stall_timeout: Duration::from_secs(args.stall_timeout.max(1)),
    };
    cluster.validate()?;
    if args.processes > 1 {
        cluster.addresses()?;
    }
    oversubscribed(threads)?;
    let output = match &args.output {
        Some(p) if p.as_os_str() == "-" => Some(Output::Stdout),
        Some(p) => Some(Output::File(p.clone())),
        None => None,
    };
    if let Some(url) = &args.clickhouse.clickhouse_url {
        preflight::clickhouse_url(url)?;
        preflight::database(&args.clickhouse.database)?;
    }
    preflight_paths(args, &output)?;

    let dead_letter = match &args.dead_letter {
        Some(p) => Some(std::sync::Arc::new(DeadLetter::create(p)?)),
        None => None,
    };
    // `--metrics off` turns capture off; the sink stays for a dataflow's own
    // tables (the run starts it only if the pipeline has one).
    let keeps_tables = !dataflow.tables().is_empty();
    let metrics = match &args.clickhouse.clickhouse_url {
        _ if args.metrics == Switch::Off && !keeps_tables => MetricsTarget::Off,
        None => MetricsTarget::Files {
            dir: args.metrics_dir.clone(),
        },
        Some(url) => {
            super::replay::clickhouse_target(url, &args.clickhouse.database, &args.metrics_dir)?
        }
    };
    let stop = StopFlag::default();
    super::signals::stop_on_signals(stop.clone());
    let config = RunConfig {
        input,
        batch_size: args.batch_size,
        seed: args.seed,
        cluster,
        output: output.clone(),
        errors: RecordErrors {
            policy: args.on_error.into(),
            dead_letter: dead_letter.clone(),
            personal_data: dataflow.personal_data(),
        },
        metrics,
        capture_metrics: args.metrics == Switch::On,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        args: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        flush_wait: Duration::from_secs(10),
        stop,
    };
    // report.html goes with file metrics, after the run, failed or not.
    let report_dirs = (config.capture_metrics
        && matches!(config.metrics, MetricsTarget::Files { .. })
        && !args.no_report)
        .then(|| super::report::RunDirs::before(&args.metrics_dir));
    let result = dataflow.run(&config);
    // The dead-letter file replaces an older one only when the run succeeded.
    if let Some(d) = &dead_letter {
        match &result {
            Ok(_) => d.finish()?,
            Err(_) => d.discard(),
        }
    }
    let report = match result {
        Ok(report) => report,
        Err(RunError::Connect(ConnectError::Interrupted)) => {
            eprintln!("interrupted while the processes were connecting");
            return Ok(130);
        }
        Err(e) => {
            // A failed run still gets its report, written quietly: the
            // failure's own line is what the user must read now.
            if let Some(dir) = report_dirs.and_then(|d| d.failed_run(&config.args))
                && let Some(lines) = super::report::after_run(&dir, None)
            {
                tracing::info!("{}", lines.trim_end());
            }
            return Err(anyhow::anyhow!(super::advice::explain(&e)));
        }
    };
    if report.stopped == Some(StopReason::OutputClosed) {
        // `--output - | head`: the reader has what it wanted.
        return Ok(0);
    }
    // Old runs are removed (file system work, ~1 ms on ext4) on a thread
    // of their own while this one writes the report; this run's directory
    // is named to it, never to be removed.
    let pruning =
        (args.metrics == Switch::On && args.clickhouse.clickhouse_url.is_none()).then(|| {
            let (dir, keep) = (args.metrics_dir.clone(), args.keep_runs);
            let current = report.run_id.clone();
            std::thread::spawn(move || crate::sink::retention::prune(&dir, keep, Some(&current)))
        });
    let mut summary = render_summary(&report);
    if report_dirs.is_some() {
        let dir = args.metrics_dir.join(&report.run_id);
        if let Some(lines) = super::report::after_run(&dir, report.delivery.as_ref()) {
            summary.push_str(&lines);
        }
    } else if config.capture_metrics && args.clickhouse.clickhouse_url.is_some() && !args.no_report
    {
        // The report is made from metric files; say why there is none, and
        // how to get one, rather than leave the user looking for it.
        summary.push_str(
            "report: none — the metrics went to ClickHouse (the Grafana dashboard shows them); \
             run without --clickhouse-url for report.html\n",
        );
    }
    if let Some(pruning) = pruning {
        // Keeping the newest runs is housekeeping: a failure here is only worth a word.
        match pruning.join() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(dir = %args.metrics_dir.display(), error = %e, "cannot prune old runs")
            }
            Err(_) => tracing::warn!(dir = %args.metrics_dir.display(), "cannot prune old runs"),
        }
    }
    // Records on stdout keep stdout for records alone.
    if output == Some(Output::Stdout) {
        eprint!("{summary}");
    } else {
        out::print_or_stop(&summary)?;
    }
    if let Some(d) = &report.delivery
        && d.spooled > 0
    {
        let dir = super::replay::spool_dir(&args.metrics_dir);
        eprintln!(
            "{} metric rows wait in {}: deliver them with `mable-pipeline metrics replay {}`",
            d.spooled,
            dir.display(),
            dir.display()
        );
    }
    if let Some(d) = &report.delivery
        && (d.failed > 0 || d.dropped > 0)
    {
        bail!(
            "{} metric rows failed and {} were dropped (see above)",
            d.failed,
            d.dropped
        );
    }
    Ok(match report.stopped {
        Some(StopReason::Signal(signal)) => {
            eprintln!(
                "{} after {} records",
                StopReason::Signal(signal).describe(),
                report.records_in
            );
            128 + signal
        }
        _ => 0,
    })
}

/// Records made from a template, or generated, when `--size` is not given:
/// the Go seed's largest benchmark.
const DEFAULT_SIZE: u64 = 1_000_000;

/// An INPUT that does not exist; if it is close to a command's name (`lst`),
/// the user most likely meant the command.
fn no_such_input(path: &Path, commands: &[String]) -> anyhow::Error {
    let name = path.to_string_lossy();
    let near = commands
        .iter()
        .find(|c| !name.contains('/') && edit_distance(&name, c) <= 2);
    match near {
        Some(c) => anyhow::anyhow!(
            "{name}: no such input file. Did you mean the command `{c}`? (mable-pipeline {c})"
        ),
        None => anyhow::anyhow!("{name}: cannot read the input: No such file or directory"),
    }
}

/// Levenshtein distance, for "did you mean" (short strings only).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Far more workers than cores only makes them wait on each other (every
/// batch waits for the slowest), and timely's channels and progress traffic
/// grow with the square of the worker count: on 2 cores, `-w 200` took 3 s
/// and 0.5 GB for a single record, `-w 1000` 42 s and 3 GB. Above 8× the
/// cores that is worth a warning; above 64× it is refused.
fn oversubscribed(threads: usize) -> anyhow::Result<()> {
    let cores = cores();
    if threads > 64 * cores {
        bail!(
            "-w {threads} is more than 64× this machine's {cores} cores: timely's set-up alone would take \
             minutes and gigabytes (it grows with the square of the workers). Use -w {cores} to use every core, \
             or spread workers over processes with -n"
        );
    }
    if threads > 8 * cores {
        eprintln!(
            "warning: -w {threads} is more than 8× this machine's {cores} cores: the run will be slower, not faster \
             (each worker waits for the slowest at every batch); -w {cores} uses every core"
        );
    }
    Ok(())
}

/// The files and directories the run will write: none may be the input or
/// one another, and each must be writable — checked before any input is read.
fn preflight_paths(args: &RunArgs, output: &Option<Output>) -> anyhow::Result<()> {
    let stdin = Path::new("/dev/stdin");
    let mut named = Vec::new();
    if let Some(input) = &args.input {
        let path = if input.as_os_str() == "-" {
            stdin
        } else {
            input.as_path()
        };
        named.push(Named {
            flag: "INPUT",
            path,
        });
    }
    if let Some(Output::File(p)) = output {
        named.push(Named {
            flag: "--output",
            path: p,
        });
    }
    if let Some(p) = &args.dead_letter {
        named.push(Named {
            flag: "--dead-letter",
            path: p,
        });
    }
    if args.metrics == Switch::On {
        named.push(Named {
            flag: "--metrics-dir",
            path: &args.metrics_dir,
        });
    }
    preflight::distinct(&named)?;
    if let Some(Output::File(p)) = output {
        preflight::writable_file("--output", p)?;
    }
    if let Some(p) = &args.dead_letter {
        preflight::writable_file("--dead-letter", p)?;
    }
    if args.metrics == Switch::On {
        preflight::writable_dir("--metrics-dir", &args.metrics_dir)?;
    }
    Ok(())
}
