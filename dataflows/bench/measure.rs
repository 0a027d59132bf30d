//! Measuring one configuration, in a child process of its own so that its
//! peak RSS is its own: the parent re-runs its own executable as
//! `mable-pipeline bench --child <JSON config>`; the child runs the
//! configuration once with allocation counting on (which also warms up),
//! then `runs` times with counting off, timing each whole operation, and
//! prints one result line with its `VmHWM`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::alloc::{AllocCount, count_allocations};
use super::baseline::{fused, rayon};
use super::engine::{engine, outcome, run_dataflow};
use super::workload::{Job, Outcome, Workload};
use mable_pipeline::input::InputSpec;

/// Which implementation runs the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    /// The engine with metrics captured and written as files.
    MetricsOn,
    /// The engine with `--metrics off`.
    MetricsOff,
    /// The hand-fused loop ([`fused`]).
    FusedLoop,
    /// The rayon chain ([`rayon()`]).
    Rayon,
}

impl Variant {
    /// All four, in table order.
    pub const ALL: [Variant; 4] = [
        Variant::MetricsOn,
        Variant::MetricsOff,
        Variant::FusedLoop,
        Variant::Rayon,
    ];

    /// The `Benchmark` column: the Go seed's name, with a suffix for all
    /// but the engine with metrics on (what the Go program measured).
    pub fn benchmark_name(self, workload: Workload) -> String {
        let suffix = match self {
            Variant::MetricsOn => "",
            Variant::MetricsOff => "/metrics-off",
            Variant::FusedLoop => "/fused-loop",
            Variant::Rayon => "/rayon",
        };
        format!("{}{suffix}", workload.go_name())
    }
}

/// What to run: the input is generated from `job.file` records when set
/// (the streaming benchmark) or else as the job says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub job: Job,
    pub variant: Variant,
    /// Workers (engine) or threads (baselines).
    pub workers: usize,
    /// Timed runs.
    pub runs: usize,
    /// Make one run with allocation counting on before the timed ones.
    pub count_allocs: bool,
    /// Read this NDJSON file instead of synthesising input (engine only).
    pub file: Option<PathBuf>,
    /// Where the engine writes metric files (emptied after every run).
    pub scratch: PathBuf,
}

/// What the child measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Wall time of each timed run.
    pub ns: Vec<u64>,
    /// Allocations of the counted run (`None`: not counted, or no counting allocator).
    pub alloc: Option<AllocCount>,
    /// What the runs produced (the same every run).
    pub outcome: Outcome,
    /// Records read, per run.
    pub records_in: u64,
    /// The child's peak resident set (`VmHWM`), bytes.
    pub peak_rss: Option<u64>,
}

impl Measured {
    /// The median of the timed runs, ns.
    pub fn median_ns(&self) -> u64 {
        let mut ns = self.ns.clone();
        ns.sort_unstable();
        ns.get(ns.len() / 2).copied().unwrap_or(0)
    }
}

const RESULT_PREFIX: &str = "mable-bench-result: ";

/// One operation: the Go seed's "generate the records, run the pipeline".
/// Returns what it produced and the records read.
fn one_op(cfg: &Config) -> anyhow::Result<(Outcome, u64)> {
    let job = &cfg.job;
    let metrics = Some(cfg.scratch.as_path());
    let out = match (cfg.variant, &cfg.file) {
        (Variant::MetricsOn | Variant::MetricsOff, Some(file)) => {
            let metrics = metrics.filter(|_| cfg.variant == Variant::MetricsOn);
            let input = InputSpec::File(file.clone());
            let report = run_dataflow(job.workload, input, job.seed, cfg.workers, metrics)?;
            return Ok((outcome(job.workload, &report)?, report.records_in));
        }
        (_, Some(_)) => bail!("the baselines do not read files"),
        (Variant::MetricsOn, None) => engine(job, cfg.workers, metrics)?,
        (Variant::MetricsOff, None) => engine(job, cfg.workers, None)?,
        (Variant::FusedLoop, None) => fused(job, cfg.workers)?,
        (Variant::Rayon, None) => rayon(job, cfg.workers)?,
    };
    Ok((out, job.size))
}

fn clear(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `cfg` in this process: the counted run, then the timed runs.
pub fn measure_here(cfg: &Config) -> anyhow::Result<Measured> {
    let mut alloc = None;
    let mut result = None;
    if cfg.count_allocs {
        let (r, count) = count_allocations(|| one_op(cfg));
        result = Some(r?);
        alloc = count;
        clear(&cfg.scratch);
    }
    let mut ns = Vec::with_capacity(cfg.runs);
    for _ in 0..cfg.runs {
        let start = Instant::now();
        let r = one_op(cfg)?;
        ns.push(start.elapsed().as_nanos() as u64);
        if let Some((first, _)) = &result
            && !first.agrees_with(&r.0)
        {
            bail!(
                "two runs of the same configuration disagree: {first:?} vs {:?}",
                r.0
            );
        }
        result = Some(r);
    }
    // Metric files are removed once, after the timed runs: each run writes its
    // own run directory. Deleting them between runs made ext4 scan for
    // recently freed inodes on every file the next run created, a cost of
    // 1–2 ms per run that a user's run never pays.
    clear(&cfg.scratch);
    let (outcome, records_in) = result.context("nothing ran: give --runs 1 or more")?;
    Ok(Measured {
        ns,
        alloc,
        outcome,
        records_in,
        peak_rss: peak_rss(),
    })
}

/// The `bench --child` entry point: measures and prints the result line.
pub fn child_main(json: &str) -> anyhow::Result<()> {
    let cfg: Config = serde_json::from_str(json).context("bad --child configuration")?;
    let m = measure_here(&cfg)?;
    println!("{RESULT_PREFIX}{}", serde_json::to_string(&m)?);
    Ok(())
}

/// Runs `cfg` in a fresh child process (this executable, `bench --child`).
pub fn measure_in_child(cfg: &Config) -> anyhow::Result<Measured> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let out = Command::new(&exe)
        .arg("bench")
        .arg("--child")
        .arg(serde_json::to_string(cfg)?)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{} {} at {} records ({} workers) failed: {}",
            cfg.job.workload.name(),
            cfg.variant.benchmark_name(cfg.job.workload),
            cfg.job.size,
            cfg.workers,
            out.status
        );
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .context("the child printed no result")?;
    Ok(serde_json::from_str(line)?)
}

/// This process's peak resident set so far (`VmHWM` in /proc/self/status), bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
