//! The parsing ceiling for `bench --stream`: the same NDJSON file read on
//! one thread by plain parsers, as the hand-fused loop is the ceiling for the
//! seed's benchmarks. Each reads every line into a typed struct of the ten
//! fields a pipeline over these events reads (ids, name, time, the cart's
//! total and its items), ignoring the rest:
//!
//! * `sonic-rs typed`: sonic-rs (SIMD, this binary's build flags) into the
//!   struct — the reference the engine's parsing is held to;
//! * `serde_json typed`: serde_json into the same struct;
//! * `engine parser`: serde_json into the whole [`MableEvent`], every field
//!   typed and every unknown key kept, without the dataflow around it.
//!
//! So the table tells apart what parsing costs, what the full event type adds,
//! and what the dataflow adds on top.

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Deserialize;

use crate::dataflows::records::MableEvent;

/// The fields a pipeline reads: the reference parsers' target.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Read only by `Debug` and the checksum: parsing is the point.
pub struct Reference {
    pub eid: String,
    pub en: String,
    pub ts: i64,
    pub ii: Option<String>,
    pub esd: Option<RefEsd>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct RefEsd {
    pub oid: Option<String>,
    pub cart: Option<RefCart>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct RefCart {
    pub currency: Option<String>,
    pub total: Option<RefTotal>,
    pub items: Vec<RefItem>,
}

#[derive(Debug, Deserialize)]
pub struct RefTotal {
    pub price: f64,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct RefItem {
    pub id: String,
    pub price: f64,
}

impl Reference {
    fn price(&self) -> f64 {
        self.esd
            .as_ref()
            .and_then(|e| e.cart.as_ref())
            .and_then(|c| c.total.as_ref())
            .map_or(0.0, |t| t.price)
    }
}

/// A parser of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    SonicTyped,
    SerdeTyped,
    EngineType,
}

impl Parser {
    pub const ALL: [Parser; 3] = [Parser::SonicTyped, Parser::SerdeTyped, Parser::EngineType];

    pub fn name(self) -> &'static str {
        match self {
            Parser::SonicTyped => "sonic-rs typed",
            Parser::SerdeTyped => "serde_json typed",
            Parser::EngineType => "engine parser",
        }
    }

    /// Parses one line; returns its cart total (summed by the caller, so
    /// that no parser's work can be optimised away, and all must agree).
    fn parse(self, line: &[u8]) -> anyhow::Result<f64> {
        Ok(match self {
            Parser::SonicTyped => sonic_rs::from_slice::<Reference>(line)?.price(),
            // As the engine reads a record: UTF-8 checked in one pass, then
            // parsed as text (serde_json checks every string of bytes alone).
            Parser::SerdeTyped => {
                serde_json::from_str::<Reference>(std::str::from_utf8(line)?)?.price()
            }
            Parser::EngineType => {
                serde_json::from_str::<MableEvent>(std::str::from_utf8(line)?)?.price()
            }
        })
    }
}

/// One parser over the whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct CeilingRow {
    pub parser: Parser,
    pub records: u64,
    pub file_bytes: u64,
    /// Median wall time of the passes (as the engine's rows).
    pub ns: u64,
    /// Σ cart totals: the same for every parser.
    pub checksum: f64,
}

impl CeilingRow {
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / (self.ns.max(1) as f64 / 1e9)
    }
}

/// Reads `path` line by line with `parser`, `passes` times (at least once).
pub fn measure(parser: Parser, path: &Path, passes: usize) -> anyhow::Result<CeilingRow> {
    let file_bytes = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let mut times = Vec::new();
    let mut result = (0, 0.0);
    for _ in 0..passes.max(1) {
        let start = Instant::now();
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        // The engine's own input buffer size, so both read the file alike.
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::with_capacity(4096);
        let (mut records, mut sum) = (0u64, 0.0);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if text.is_empty() {
                continue;
            }
            sum += parser
                .parse(text)
                .with_context(|| format!("{} at line {}", parser.name(), records + 1))?;
            records += 1;
        }
        times.push(start.elapsed().as_nanos() as u64);
        result = (records, sum);
    }
    times.sort_unstable();
    Ok(CeilingRow {
        parser,
        records: result.0,
        file_bytes,
        ns: times[times.len() / 2],
        checksum: result.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parser_reads_the_same_totals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.ndjson");
        super::super::stream::append_events(&path, 0, 300, 7).unwrap();
        let rows: Vec<CeilingRow> = Parser::ALL
            .iter()
            .map(|&p| measure(p, &path, 1).unwrap())
            .collect();
        for r in &rows {
            assert_eq!(r.records, 300, "{r:?}");
            assert!(
                (r.checksum - rows[0].checksum).abs() < 1e-6 && r.checksum > 0.0,
                "{rows:?}"
            );
        }
    }

    #[test]
    fn a_bad_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.ndjson");
        super::super::stream::append_events(&path, 0, 3, 7).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"eid\":1}\n");
        std::fs::write(&path, text).unwrap();
        for p in Parser::ALL {
            let e = measure(p, &path, 1).unwrap_err();
            assert!(format!("{e}").contains("at line 4"), "{}: {e}", p.name());
        }
    }
}
