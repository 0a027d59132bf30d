//! Two runs side by side, stage by stage: busy time, records and latency
//! percentiles, with the changes beyond noise flagged.
//!
//! **Noise.** A time counts as changed when it moved by more than
//! [`Noise::relative`] of run A's value *and* by more than an absolute floor
//! ([`Noise::floor_ms`]; [`Noise::latency_floor_ms`] for latency
//! percentiles): on a shared machine a few percent and a few hundred
//! microseconds come and go between identical runs. Record counts are
//! deterministic for the same input, seed and dataflow, so any difference in
//! them is flagged.

use std::fmt::Write;
use std::path::Path;

use super::format::{change, count, esc, ms};
use super::{Judged, ReportError, judge};

/// What counts as a change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Relative change, e.g. 0.10 for 10 %.
    pub relative: f64,
    /// Absolute floor for busy and elapsed times, ms.
    pub floor_ms: f64,
    /// Absolute floor for latency percentiles, ms.
    pub latency_floor_ms: f64,
}

impl Default for Noise {
    fn default() -> Self {
        Noise {
            relative: 0.10,
            floor_ms: 1.0,
            latency_floor_ms: 0.5,
        }
    }
}

/// How a figure moved from run A to run B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Within noise.
    Same,
    Faster,
    Slower,
    /// A count that differs.
    Differs,
    /// Only one run has it.
    Missing,
}

impl Change {
    pub fn word(self) -> &'static str {
        match self {
            Change::Same => "",
            Change::Faster => "faster",
            Change::Slower => "slower",
            Change::Differs => "differs",
            Change::Missing => "only in one run",
        }
    }
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// A time in ms (else a count).
    pub is_time: bool,
    pub change: Change,
}

impl Row {
    fn time(label: &str, a: Option<f64>, b: Option<f64>, floor: f64, noise: &Noise) -> Row {
        let change = match (a, b) {
            (Some(a), Some(b)) => {
                let d = b - a;
                if d.abs() > floor && d.abs() > noise.relative * a.abs() {
                    if d < 0.0 {
                        Change::Faster
                    } else {
                        Change::Slower
                    }
                } else {
                    Change::Same
                }
            }
            _ => Change::Missing,
        };
        Row {
            label: label.to_string(),
            a,
            b,
            is_time: true,
            change,
        }
    }

    fn count(label: &str, a: Option<u64>, b: Option<u64>) -> Row {
        let change = match (a, b) {
            (Some(a), Some(b)) if a == b => Change::Same,
            (Some(_), Some(_)) => Change::Differs,
            _ => Change::Missing,
        };
        Row {
            label: label.to_string(),
            a: a.map(|v| v as f64),
            b: b.map(|v| v as f64),
            is_time: false,
            change,
        }
    }

    fn show(&self, v: Option<f64>) -> String {
        match v {
            None => "—".into(),
            Some(v) if self.is_time => ms(v),
            Some(v) => count(v as u64),
        }
    }

    fn relative(&self) -> String {
        match (self.a, self.b) {
            (Some(a), Some(b)) if a == b => "±0".into(),
            (Some(a), Some(b)) if a != 0.0 => change((b - a) / a),
            _ => String::new(),
        }
    }
}

/// A group of rows: the run, its latency, or one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub title: String,
    pub rows: Vec<Row>,
}

/// Two runs compared.
pub struct Comparison {
    pub a: Judged,
    pub b: Judged,
    pub groups: Vec<Group>,
    pub noise: Noise,
}

/// Compares run `b` with run `a` (the baseline).
pub fn compare(a: &Path, b: &Path, noise: Noise) -> Result<Comparison, ReportError> {
    let a = judge(a, None)?;
    let b = judge(b, None)?;
    let mut groups = Vec::new();
    let (ia, ib) = (&a.run.info, &b.run.info);
    groups.push(Group {
        title: "run".into(),
        rows: vec![
            Row::time(
                "elapsed",
                Some(ia.elapsed_ms),
                Some(ib.elapsed_ms),
                noise.floor_ms,
                &noise,
            ),
            Row::count("records in", Some(ia.records_in), Some(ib.records_in)),
            Row::count("records out", Some(ia.records_out), Some(ib.records_out)),
            Row::count(
                "workers",
                Some(a.run.workers as u64),
                Some(b.run.workers as u64),
            ),
            Row::count(
                "batches",
                Some(a.run.batches.len() as u64),
                Some(b.run.batches.len() as u64),
            ),
        ],
    });
    let (la, lb) = (a.run.latency(), b.run.latency());
    groups.push(Group {
        title: "batch latency".into(),
        rows: vec![
            Row::time(
                "p50",
                la.map(|p| p.p50),
                lb.map(|p| p.p50),
                noise.latency_floor_ms,
                &noise,
            ),
            Row::time(
                "p95",
                la.map(|p| p.p95),
                lb.map(|p| p.p95),
                noise.latency_floor_ms,
                &noise,
            ),
            Row::time(
                "max",
                la.map(|p| p.max),
                lb.map(|p| p.max),
                noise.latency_floor_ms,
                &noise,
            ),
        ],
    });
    // Stages in B's order, then those only A has.
    let mut paths: Vec<&str> = b.run.stages.iter().map(|s| s.path.as_str()).collect();
    for s in &a.run.stages {
        if !paths.contains(&s.path.as_str()) {
            paths.push(&s.path);
        }
    }
    for path in paths {
        let fa = stage_figures(&a, path);
        let fb = stage_figures(&b, path);
        groups.push(Group {
            title: format!("stage {path}"),
            rows: vec![
                Row::time(
                    "busy, all workers",
                    fa.map(|f| f.busy_ms),
                    fb.map(|f| f.busy_ms),
                    noise.floor_ms,
                    &noise,
                ),
                Row::time(
                    "busiest worker",
                    fa.map(|f| f.busiest_ms),
                    fb.map(|f| f.busiest_ms),
                    noise.floor_ms,
                    &noise,
                ),
                Row::count("records in", fa.map(|f| f.input), fb.map(|f| f.input)),
                Row::count("records out", fa.map(|f| f.output), fb.map(|f| f.output)),
            ],
        });
    }
    Ok(Comparison {
        a,
        b,
        groups,
        noise,
    })
}

#[derive(Debug, Clone, Copy)]
struct StageFigures {
    busy_ms: f64,
    busiest_ms: f64,
    input: u64,
    output: u64,
}

fn stage_figures(j: &Judged, path: &str) -> Option<StageFigures> {
    let s = j.run.stage_index(path)?;
    let per_worker = j.verdict.workers.iter().map(|t| t.stage_ns[s]);
    Some(StageFigures {
        busy_ms: per_worker.clone().sum::<u64>() as f64 / 1e6,
        busiest_ms: per_worker.max().unwrap_or(0) as f64 / 1e6,
        input: j.run.stages[s].input,
        output: j.run.stages[s].output,
    })
}

impl Comparison {
    /// Rows whose change is beyond noise.
    pub fn flagged(&self) -> impl Iterator<Item = (&Group, &Row)> {
        self.groups.iter().flat_map(|g| {
            g.rows
                .iter()
                .filter(|r| r.change != Change::Same)
                .map(move |r| (g, r))
        })
    }

    fn noise_text(&self) -> String {
        format!(
            "a time counts as changed beyond noise when it moved by more than {:.0} % and more than {} ({} for latency percentiles); record counts on any difference",
            self.noise.relative * 100.0,
            ms(self.noise.floor_ms),
            ms(self.noise.latency_floor_ms)
        )
    }

    /// The comparison as a terminal table.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let (a, b) = (&self.a.run.info, &self.b.run.info);
        let _ = writeln!(
            s,
            "A: {} run {} ({})\nB: {} run {} ({})\n",
            a.dataflow,
            a.run_id,
            self.a.run.dir.display(),
            b.dataflow,
            b.run_id,
            self.b.run.dir.display()
        );
        let width = self
            .groups
            .iter()
            .flat_map(|g| g.rows.iter().map(|r| r.label.len() + 2))
            .chain(self.groups.iter().map(|g| g.title.len()))
            .max()
            .unwrap_or(10)
            .max(12);
        let _ = writeln!(
            s,
            "{:width$}  {:>12}  {:>12}  {:>8}",
            "", "A", "B", "change"
        );
        for g in &self.groups {
            let _ = writeln!(s, "{}", g.title);
            for r in &g.rows {
                let _ = writeln!(
                    s,
                    "  {:w$}  {:>12}  {:>12}  {:>8}  {}",
                    r.label,
                    r.show(r.a),
                    r.show(r.b),
                    r.relative(),
                    r.change.word(),
                    w = width - 2
                );
            }
        }
        let _ = writeln!(s, "\nA: {}", self.a.headline());
        let _ = writeln!(s, "B: {}", self.b.headline());
        let flagged = self.flagged().count();
        let _ = writeln!(
            s,
            "\n{} beyond noise ({}).",
            match flagged {
                0 => "No change".to_string(),
                1 => "1 change".to_string(),
                n => format!("{n} changes"),
            },
            self.noise_text()
        );
        s
    }

    /// The comparison as a self-contained page.
    pub fn html(&self) -> String {
        let mut h = String::with_capacity(32 * 1024);
        let (a, b) = (&self.a.run.info, &self.b.run.info);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <title>compare {} → {}</title><style>{}</style></head><body>",
            esc(&a.run_id),
            esc(&b.run_id),
            include_str!("page.css")
        );
        let _ = write!(
            h,
            "<header class=\"card\"><h1>Comparing two runs</h1><div class=\"facts\">\
             <div class=\"fact\"><div class=\"k\">A (baseline)</div><div class=\"v\">{} — run {}</div><div class=\"sub mono\">{}</div></div>\
             <div class=\"fact\"><div class=\"k\">B</div><div class=\"v\">{} — run {}</div><div class=\"sub mono\">{}</div></div></div></header>",
            esc(&a.dataflow),
            esc(&a.run_id),
            esc(&self.a.run.dir.display().to_string()),
            esc(&b.dataflow),
            esc(&b.run_id),
            esc(&self.b.run.dir.display().to_string())
        );
        let _ = write!(
            h,
            "<section><h2>Verdicts</h2><ul class=\"details\"><li>A: {}</li><li>B: {}</li></ul><div class=\"legend\">Changes are flagged when beyond noise: {}.</div></section>",
            esc(&self.a.headline()),
            esc(&self.b.headline()),
            esc(&self.noise_text())
        );
        h.push_str("<section><h2>Side by side</h2><table id=\"compare-table\"><tr><th></th><th class=\"num\">A</th><th class=\"num\">B</th><th class=\"num\">change</th><th></th></tr>");
        for g in &self.groups {
            let _ = write!(
                h,
                "<tr><th colspan=\"5\" style=\"padding-top:12px\">{}</th></tr>",
                esc(&g.title)
            );
            for r in &g.rows {
                let class = match r.change {
                    Change::Faster => " class=\"better\"",
                    Change::Same => "",
                    _ => " class=\"flag\"",
                };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td{class}>{}</td></tr>",
                    esc(&r.label),
                    r.show(r.a),
                    r.show(r.b),
                    r.relative(),
                    r.change.word()
                );
            }
        }
        h.push_str("</table></section></body></html>\n");
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_count_beyond_both_thresholds() {
        let n = Noise::default();
        assert_eq!(
            Row::time("t", Some(100.0), Some(105.0), 1.0, &n).change,
            Change::Same
        );
        assert_eq!(
            Row::time("t", Some(100.0), Some(89.0), 1.0, &n).change,
            Change::Faster
        );
        assert_eq!(
            Row::time("t", Some(100.0), Some(120.0), 1.0, &n).change,
            Change::Slower
        );
        // 50 % but only 0.4 ms: below the floor.
        assert_eq!(
            Row::time("t", Some(0.8), Some(1.2), 1.0, &n).change,
            Change::Same
        );
        assert_eq!(Row::count("c", Some(5), Some(5)).change, Change::Same);
        assert_eq!(Row::count("c", Some(5), Some(6)).change, Change::Differs);
        assert_eq!(Row::count("c", None, Some(6)).change, Change::Missing);
    }
}
