//! `mable-pipeline report`, and writing the report after a run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

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
            // Quiet on a closed pipe.
            let _ = writeln!(
                std::io::stdout().lock(),
                "verdict: {}\nreport → {}",
                written.headline,
                written.path.display()
            );
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

/// Finds the directory of a run that failed (its error carries no run id):
/// the newest directory in `--metrics-dir` changed since the run started
/// whose `pipeline_runs` row has the run's arguments, or without such a row
/// (the run ended before writing it) the newest changed directory. Costs
/// nothing unless the run fails.
pub struct RunDirs {
    root: PathBuf,
    started: SystemTime,
}

impl RunDirs {
    pub fn before(root: &Path) -> RunDirs {
        RunDirs {
            root: root.to_path_buf(),
            // File times can trail the clock a little.
            started: SystemTime::now() - Duration::from_secs(1),
        }
    }

    pub fn failed_run(&self, args: &str) -> Option<PathBuf> {
        let mut fresh: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(&self.root)
            .ok()?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let changed = e.metadata().ok()?.modified().ok()?;
                (changed >= self.started).then(|| (changed, e.path()))
            })
            .collect();
        fresh.sort();
        let ours = |d: &Path| {
            std::fs::read_dir(d)
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| {
                    f.file_name().to_string_lossy().starts_with("pipeline_runs")
                        && std::fs::read_to_string(f.path()).is_ok_and(|text| {
                            text.lines().any(|l| {
                                serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
                                    v.get("args").and_then(|a| a.as_str()) == Some(args)
                                })
                            })
                        })
                })
        };
        let newest = fresh.last().map(|(_, d)| d.clone());
        fresh
            .into_iter()
            .rev()
            .map(|(_, d)| d)
            .find(|d| ours(d))
            .or(newest)
    }
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
    // Rows the files lack would make a report that misleads, and the
    // summary has already said once why they are missing (a full disk
    // would only fail again here with the same error).
    if delivery
        .as_ref()
        .is_some_and(|d| d.failed > 0 || d.dropped > 0)
    {
        tracing::info!("no report.html: the metric files are incomplete");
        return None;
    }
    let started = Instant::now();
    let written = report::write(dir, delivery.as_ref());
    tracing::debug!(elapsed = ?started.elapsed(), "report.html written");
    match written {
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
