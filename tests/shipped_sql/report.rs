//! The outcome of every shipped statement on every engine, printed as one
//! table (statement × version) with the details of anything that failed.

use crate::engines::{Table, is_numeric};

/// One statement's outcome on one engine under one frame (run, dataflow…):
/// what was checked, or why it failed.
pub type Outcome = Result<String, String>;

struct Line {
    name: String,
    /// Per engine: (frame, outcome).
    results: Vec<Vec<(String, Outcome)>>,
    /// (frame, the engines gave the same result).
    same: Vec<(String, Result<(), String>)>,
}

pub struct Report {
    engines: Vec<String>,
    lines: Vec<Line>,
}

impl Report {
    pub fn new(engines: Vec<String>) -> Report {
        Report {
            engines,
            lines: Vec::new(),
        }
    }

    fn line(&mut self, name: &str) -> &mut Line {
        if let Some(i) = self.lines.iter().position(|l| l.name == name) {
            return &mut self.lines[i];
        }
        self.lines.push(Line {
            name: name.to_string(),
            results: vec![Vec::new(); self.engines.len()],
            same: Vec::new(),
        });
        self.lines.last_mut().unwrap()
    }

    /// Records each engine's outcome of `name` under `frame`.
    pub fn add(&mut self, name: &str, frame: &str, outcomes: Vec<Outcome>) {
        let line = self.line(name);
        for (i, o) in outcomes.into_iter().enumerate() {
            line.results[i].push((frame.to_string(), o));
        }
    }

    /// Records whether the engines' results of `name` under `frame` agree.
    pub fn same(&mut self, name: &str, frame: &str, tables: &[Option<Table>]) {
        let verdict = match tables {
            [Some(a), Some(b)] => agree(a, b),
            _ => Err("not comparable: a version failed".into()),
        };
        self.line(name).same.push((frame.to_string(), verdict));
    }

    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for line in &self.lines {
            for (engine, results) in self.engines.iter().zip(&line.results) {
                for (frame, o) in results {
                    if let Err(e) = o {
                        out.push(format!("{} [{frame}] on {engine}:\n{e}", line.name));
                    }
                }
            }
            for (frame, s) in &line.same {
                if let Err(e) = s {
                    out.push(format!(
                        "{} [{frame}] differs between versions:\n{e}",
                        line.name
                    ));
                }
            }
        }
        out
    }

    /// The table: statement, each engine's outcome, agreement, what was checked.
    pub fn render(&self) -> String {
        let cell = |results: &[(String, Outcome)]| -> String {
            let failed: Vec<&(String, Outcome)> =
                results.iter().filter(|(_, o)| o.is_err()).collect();
            match failed.first() {
                None if results.len() > 1 => format!("ok ×{}", results.len()),
                None => "ok".into(),
                Some((frame, Err(e))) => {
                    let first = e.lines().next().unwrap_or_default();
                    let short: String = first.chars().take(90).collect();
                    let frame = if frame.is_empty() {
                        String::new()
                    } else {
                        format!("[{frame}] ")
                    };
                    format!("FAIL {}/{} {frame}{short}", failed.len(), results.len())
                }
                Some(_) => unreachable!(),
            }
        };
        let mut out = format!(
            "| statement | {} | same result | checked |\n",
            self.engines.join(" | ")
        );
        out.push_str(&format!(
            "|---|{}---|---|\n",
            "---|".repeat(self.engines.len())
        ));
        for line in &self.lines {
            let cells: Vec<String> = line.results.iter().map(|r| cell(r)).collect();
            let same = if line.same.is_empty() {
                "–".to_string()
            } else if line.same.iter().all(|(_, s)| s.is_ok()) {
                "yes".to_string()
            } else {
                let n = line.same.iter().filter(|(_, s)| s.is_err()).count();
                format!("NO ({n}/{})", line.same.len())
            };
            let note = line.results[0]
                .iter()
                .find_map(|(_, o)| o.as_ref().ok().cloned())
                .unwrap_or_default();
            out.push_str(&format!(
                "| {} | {} | {same} | {note} |\n",
                line.name,
                cells.join(" | ")
            ));
        }
        out
    }
}

/// A row as a sort key: numbers rounded to 6 significant digits.
fn key(row: &[String], numeric: &[bool]) -> Vec<String> {
    row.iter()
        .zip(numeric)
        .map(|(c, n)| match (n, c.parse::<f64>()) {
            (true, Ok(x)) => format!("{x:.5e}"),
            _ => c.clone(),
        })
        .collect()
}

/// A column type without a DateTime's time zone: 18.16 names the server's
/// zone in `toStartOfMinute`'s type (`DateTime('Etc/UTC')`), current
/// versions do not; the values print the same.
fn plain_type(ty: &str) -> &str {
    if ty.starts_with("DateTime(") && !ty.starts_with("DateTime64") {
        "DateTime"
    } else {
        ty
    }
}

/// The same columns and the same rows (as a multiset: ties may sort either
/// way), numbers equal to 1e-9 relative.
fn agree(a: &Table, b: &Table) -> Result<(), String> {
    if a.names != b.names {
        return Err(format!("columns {:?} vs {:?}", a.names, b.names));
    }
    let (ta, tb): (Vec<&str>, Vec<&str>) = (
        a.types.iter().map(|t| plain_type(t)).collect(),
        b.types.iter().map(|t| plain_type(t)).collect(),
    );
    if ta != tb {
        return Err(format!("types {:?} vs {:?}", a.types, b.types));
    }
    if a.rows.len() != b.rows.len() {
        return Err(format!("{} rows vs {}", a.rows.len(), b.rows.len()));
    }
    let numeric: Vec<bool> = a.types.iter().map(|t| is_numeric(t)).collect();
    let sorted = |t: &Table| {
        let mut rows = t.rows.clone();
        rows.sort_by_key(|r| key(r, &numeric));
        rows
    };
    for (ra, rb) in sorted(a).iter().zip(&sorted(b)) {
        for ((x, y), n) in ra.iter().zip(rb).zip(&numeric) {
            let same = match (n, x.parse::<f64>(), y.parse::<f64>()) {
                (true, Ok(p), Ok(q)) => {
                    // A rounded figure (`round(x, 3)`) may land one step apart:
                    // 18.16 and 26.9 round a value that sits halfway between
                    // two steps differently (0.0005 → 0.001 vs 0). Counts
                    // (no decimals) must still match exactly.
                    let decimals = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len());
                    let places = decimals(x).max(decimals(y));
                    let step = if places == 0 {
                        0.0
                    } else {
                        10f64.powi(-(places as i32))
                    };
                    (p - q).abs() <= step * (1.0 + 1e-9) + 1e-9 * p.abs().max(q.abs()).max(1.0)
                }
                _ => x == y,
            };
            if !same {
                return Err(format!("row {ra:?} vs {rb:?}"));
            }
        }
    }
    Ok(())
}
