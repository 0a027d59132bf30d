//! What each command does.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use super::args::{Cli, Command, MetricsCommand, RunArgs, Switch};
use crate::dataflows::{self, Dataflow};
use crate::input::{DeadLetter, ErrorPolicy, InputSpec, RecordErrors};
use crate::run::{ClusterConfig, MetricsTarget, RunConfig, render_summary};

/// Parses the command line, runs it, and returns the process exit code.
pub fn main() -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::List) => list(),
        Some(Command::Metrics(MetricsCommand::Replay { dir, clickhouse })) => {
            super::replay::replay(&dir, &clickhouse)
        }
        Some(Command::Bench(args)) => super::bench::bench(&args),
        Some(Command::Report(args)) => super::report::report(&args),
        None => run(&cli.run),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn list() -> anyhow::Result<()> {
    for d in dataflows::all() {
        let generates = if d.generates_input() {
            "; can generate its input (--size N, no INPUT)"
        } else {
            ""
        };
        println!("{} — {}{}", d.name(), d.about(), generates);
        let mut tree = String::new();
        crate::pipeline::render(&d.stages(), 2, &mut tree);
        println!("{tree}");
    }
    Ok(())
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    let dataflow: &dyn Dataflow = dataflows::find(&args.dataflow).with_context(|| {
        let names: Vec<_> = dataflows::all().iter().map(|d| d.name()).collect();
        format!(
            "no dataflow named `{}`: choose one of {}",
            args.dataflow,
            names.join(", ")
        )
    })?;
    let input = match (&args.input, args.size) {
        (Some(path), None) => InputSpec::File(path.clone()),
        (Some(path), Some(size)) => InputSpec::Cycled {
            path: path.clone(),
            size,
        },
        (None, Some(size)) => InputSpec::Generated {
            size,
            seed: args.seed,
        },
        (None, None) => bail!(
            "give an INPUT file (e.g. testdata/mable_event.json){}",
            if dataflow.generates_input() {
                ", or --size N to generate records"
            } else {
                ""
            }
        ),
    };
    if args.dead_letter.is_some() && args.on_error != ErrorPolicy::Skip {
        bail!("--dead-letter only applies with --on-error skip");
    }
    if args.workers == Some(0) || args.processes == 0 {
        bail!("-w and -n must be at least 1");
    }
    if args.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    let dead_letter = match &args.dead_letter {
        Some(p) => Some(std::sync::Arc::new(DeadLetter::create(p)?)),
        None => None,
    };
    let threads = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let output = args.output.as_ref().map(|p| {
        if p.as_os_str() == "-" {
            PathBuf::from("<stdout>")
        } else {
            p.clone()
        }
    });
    let metrics = match (args.metrics, &args.clickhouse.clickhouse_url) {
        (Switch::Off, _) => MetricsTarget::Off,
        (Switch::On, None) => MetricsTarget::Files {
            dir: args.metrics_dir.clone(),
        },
        (Switch::On, Some(url)) => {
            super::replay::clickhouse_target(url, &args.clickhouse.database, &args.metrics_dir)?
        }
    };
    let config = RunConfig {
        input,
        batch_size: args.batch_size,
        seed: args.seed,
        cluster: ClusterConfig {
            threads,
            processes: args.processes,
            process: args.process,
            hostfile: args.hostfile.clone(),
            connect_timeout: Duration::from_secs(args.connect_timeout),
        },
        output: output.clone(),
        errors: RecordErrors {
            policy: args.on_error,
            dead_letter,
        },
        metrics,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        args: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        flush_wait: Duration::from_secs(10),
    };
    // report.html goes with file metrics, after the run, failed or not.
    let report_dirs = (matches!(config.metrics, MetricsTarget::Files { .. }) && !args.no_report)
        .then(|| super::report::RunDirs::before(&args.metrics_dir));
    let report = match dataflow.run(&config) {
        Ok(report) => report,
        Err(e) => {
            if let Some(dir) = report_dirs.and_then(|d| d.failed_run(&config.args))
                && let Some(lines) = super::report::after_run(&dir, None)
            {
                eprint!("{lines}");
            }
            return Err(e.into());
        }
    };
    let mut summary = render_summary(&report);
    if report_dirs.is_some() {
        let dir = args.metrics_dir.join(&report.run_id);
        if let Some(lines) = super::report::after_run(&dir, report.delivery.as_ref()) {
            summary.push_str(&lines);
        }
    }
    // Records on stdout keep stdout for records alone.
    if output.as_deref() == Some(std::path::Path::new("<stdout>")) {
        eprint!("{summary}");
    } else {
        print!("{summary}");
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
    Ok(())
}
