//! `mable-pipeline report`, and writing the report after a run.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::args::ReportArgs;
use crate::report::compare::{Noise, compare};
use crate::report::{self, Delivery};
use crate::sink::sidecar::DeliveryReport;

/// `report RUN_DIR` writes its report again; with two runs, compares them.
pub fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let (baseline, run) = match (args.dirs.as_slice(), &args.compare) {
        ([dir], None) => {
            let written = report::write(dir, None)?;
            println!("verdict: {}", written.headline);
            println!("report → {}", written.path.display());
            return Ok(());
        }
        ([a, b], None) => (a.clone(), b.clone()),
        ([b], Some(a)) => (a.clone(), b.clone()),
        _ => bail!("give one run directory, or two to compare (the first is the baseline)"),
    };
    if !(args.noise_pct >= 0.0 && args.noise_floor_ms >= 0.0) {
        bail!("--noise-pct and --noise-floor-ms must be 0 or more");
    }
    let noise = Noise {
        relative: args.noise_pct / 100.0,
        floor_ms: args.noise_floor_ms,
        latency_floor_ms: args.noise_floor_ms / 2.0,
    };
    let cmp = compare(&baseline, &run, noise)?;
    let out = args.output.clone().unwrap_or_else(|| {
        run.join(format!(
            "compare-{}.html",
            file_safe(&cmp.a.run.info.run_id)
        ))
    });
    std::fs::write(&out, cmp.html())
        .with_context(|| format!("cannot write the comparison to {}", out.display()))?;
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{}", cmp.text());
    let _ = writeln!(stdout, "comparison → {}", out.display());
    Ok(())
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The run directories already in `--metrics-dir` before a run, so that a
/// failed run's directory (whose id the error does not carry) can be found.
pub struct RunDirs {
    root: PathBuf,
    before: HashSet<PathBuf>,
}

impl RunDirs {
    pub fn before(root: &Path) -> RunDirs {
        RunDirs {
            root: root.to_path_buf(),
            before: subdirs(root).into_iter().collect(),
        }
    }

    /// The directory a run that just failed wrote: the new one, or among
    /// several new ones (concurrent runs), the one whose `pipeline_runs` row
    /// has these arguments.
    pub fn failed_run(&self, args: &str) -> Option<PathBuf> {
        let fresh: Vec<PathBuf> = subdirs(&self.root)
            .into_iter()
            .filter(|d| !self.before.contains(d))
            .collect();
        if fresh.len() <= 1 {
            return fresh.into_iter().next();
        }
        fresh.into_iter().find(|d| {
            std::fs::read_to_string(d.join("pipeline_runs.ndjson")).is_ok_and(|text| {
                text.lines().any(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .is_ok_and(|v| v.get("args").and_then(|a| a.as_str()) == Some(args))
                })
            })
        })
    }
}

fn subdirs(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Writes the report of the run in `dir`; a report that cannot be written
/// is a warning, never the run's failure. Returns the lines to print.
pub fn after_run(dir: &Path, delivery: Option<&DeliveryReport>) -> Option<String> {
    let delivery = delivery.map(|d| Delivery {
        sink: d.sink.clone(),
        produced: d.produced,
        delivered: d.delivered,
        spooled: d.spooled,
        failed: d.failed,
        dropped: d.dropped,
    });
    match report::write(dir, delivery.as_ref()) {
        Ok(w) => Some(format!(
            "verdict: {}\nreport → {}\n",
            w.headline,
            w.path.display()
        )),
        Err(e) => {
            eprintln!("warning: no report.html: {e}");
            None
        }
    }
}
