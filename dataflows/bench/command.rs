//! `mable-pipeline bench`: the Go seed's `go run main.go -output=benchmarks.csv`,
//! with baselines beside the engine. The logic lives in [`crate::dataflows::bench`].

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches};

use mable_pipeline::cli::{Extension, out};

use super::report::{table_header, table_row};
use super::stream::{StreamOptions, render_stream_table, stream, write_stream_csv};
use super::{Options, Workload, run_matrix, scratch_dir, write_csv};

/// What the table's `vs fused` column means, printed under it.
const VS_FUSED: &str = "vs fused: the hand-fused loop's time over the engine's, at the same worker count \
(one loop per thread doing the same per-record work with no dataflow, no batches and no metrics): \
1.0× matches hand-written code, 0.5× takes twice as long, above 1.0× beats it.";

/// Benchmark the seed's pipelines against a hand-fused loop and rayon.
///
/// For each dataflow × size × worker count, runs the engine with metrics on
/// (the Go seed's BenchmarkPipeline, BenchmarkTestStructPipeline,
/// BenchmarkMableEventPipeline) and off, a hand-fused loop and a rayon chain,
/// each in a child process of its own. One operation is generating the input
/// plus running the pipeline, as the Go program timed it; NsPerOp is the
/// median of --runs. Writes the seed's CSV columns
/// (Benchmark,Size,NsPerOp,BytesPerOp,AllocsPerOp) then
/// Workers,RecordsPerSec,PeakRssBytes,VsFusedLoop,RecordsOut, and prints a table.
///
/// With --stream N: instead, writes N full events as NDJSON to a scratch
/// file and runs mable_event over it (metrics on at each worker count, off
/// at one worker). Then the parsing ceiling: sonic-rs and serde_json into a
/// typed struct of ten fields, and the engine's own event parser alone, on
/// one thread over the same file, with the engine's share of each. Then it
/// doubles the file and runs again.
///
/// Examples:
///   mable-pipeline bench --output benchmarks.csv
///   mable-pipeline bench --sizes 10000 --workers 2 --dataflows mable_event --runs 3
///   mable-pipeline bench --stream 2000000
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct BenchArgs {
    /// Input sizes (records).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,100,10000,100000,1000000"
    )]
    pub sizes: Vec<u64>,
    /// Worker (thread) counts.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub workers: Vec<usize>,
    /// Dataflows to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "int,test_struct,mable_event"
    )]
    pub dataflows: Vec<String>,
    /// Timed runs per configuration (default 5; 1 with --stream).
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// Where to write the CSV (default benchmarks.csv; none with --stream unless given).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The event(s) mable_event cycles to each size.
    #[arg(long, default_value = "testdata/mable_event.json", value_name = "FILE")]
    pub template: PathBuf,
    /// Seed of every pseudo-random value.
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub seed: u64,
    /// The streaming benchmark over N full events (default 2000000) and then 2N.
    #[arg(long, num_args = 0..=1, default_missing_value = "2000000", value_name = "N")]
    pub stream: Option<u64>,
    /// Where --stream writes its file (default: the system temp dir); removed at the end.
    #[arg(long, value_name = "DIR")]
    pub stream_dir: Option<PathBuf>,
    /// Internal: measure one configuration (JSON) and print the result.
    #[arg(long, hide = true)]
    pub child: Option<String>,
}

/// Runs `bench`.
fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(json) = &args.child {
        return super::measure::child_main(json);
    }
    if let Some(records) = args.stream {
        let opts = StreamOptions {
            records,
            workers: args.workers.clone(),
            runs: args.runs.unwrap_or(1),
            seed: args.seed,
            dir: args
                .stream_dir
                .clone()
                .unwrap_or_else(|| scratch_dir("stream")),
        };
        let (rows, ceilings) = stream(&opts, |line| eprintln!("{line}"))?;
        out::print_or_stop(&render_stream_table(&rows, &ceilings))?;
        if let Some(path) = &args.output {
            write_stream_csv(path, &rows)?;
            out::println(format!("wrote {}", path.display()))?;
        }
        return Ok(());
    }
    let workloads = args
        .dataflows
        .iter()
        .map(|d| Workload::from_name(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !super::alloc::installed() {
        eprintln!(
            "warning: no counting allocator in this binary: BytesPerOp and AllocsPerOp stay empty"
        );
    }
    let opts = Options {
        workloads,
        sizes: args.sizes.clone(),
        workers: args.workers.clone(),
        runs: args.runs.unwrap_or(5),
        seed: args.seed,
        template: args.template.clone(),
        scratch: scratch_dir("metrics"),
    };
    // One table, a row as each configuration finishes.
    out::print_or_stop(&table_header())?;
    let mut closed = false;
    let rows = run_matrix(&opts, |row| {
        closed = closed || out::print(&table_row(row)).is_err();
    })?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("benchmarks.csv"));
    write_csv(&output, &rows)?;
    if closed {
        return Err(out::StdoutClosed.into());
    }
    out::println(format!("\n{VS_FUSED}\nwrote {}", output.display()))?;
    Ok(())
}

/// The `bench` command, added to the engine's command line by the shipped
/// binary (`cli::main_with(dataflows::ALL, &[&bench::COMMAND])`).
pub struct BenchCommand;

/// See [`BenchCommand`].
pub static COMMAND: BenchCommand = BenchCommand;

impl Extension for BenchCommand {
    fn command(&self) -> clap::Command {
        // The help is `BenchArgs`'s doc comment.
        BenchArgs::augment_args(clap::Command::new("bench"))
    }

    fn run(&self, args: &ArgMatches) -> anyhow::Result<i32> {
        bench(&BenchArgs::from_arg_matches(args)?).map(|()| 0)
    }
}
