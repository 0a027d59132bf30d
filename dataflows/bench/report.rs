//! Rows of the benchmark: the Go seed's CSV columns plus ours, and the
//! readable table.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::measure::{Measured, Variant};
use super::workload::Workload;

/// The CSV header: the Go seed's five columns, then ours.
pub const CSV_HEADER: &str = "Benchmark,Size,NsPerOp,BytesPerOp,AllocsPerOp,Workers,RecordsPerSec,PeakRssBytes,VsFusedLoop,RecordsOut";

/// One (dataflow × size × workers × variant).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub workload: Workload,
    pub variant: Variant,
    pub size: u64,
    pub workers: usize,
    /// Median wall time of one operation (generate + run).
    pub ns_per_op: u64,
    pub bytes_per_op: Option<u64>,
    pub allocs_per_op: Option<u64>,
    pub peak_rss: Option<u64>,
    /// The fused loop's median at the same size and thread count.
    pub fused_ns: Option<u64>,
    pub records_out: u64,
}

impl Row {
    /// A row from what a child measured.
    pub fn new(
        workload: Workload,
        variant: Variant,
        size: u64,
        workers: usize,
        m: &Measured,
    ) -> Row {
        Row {
            workload,
            variant,
            size,
            workers,
            ns_per_op: m.median_ns(),
            bytes_per_op: m.alloc.map(|a| a.bytes),
            allocs_per_op: m.alloc.map(|a| a.allocs),
            peak_rss: m.peak_rss,
            fused_ns: None,
            records_out: m.outcome.records_out,
        }
    }

    /// `Benchmark`: e.g. `BenchmarkMableEventPipeline/rayon`.
    pub fn benchmark(&self) -> String {
        self.variant.benchmark_name(self.workload)
    }

    /// Input records per second.
    pub fn records_per_sec(&self) -> f64 {
        self.size as f64 / (self.ns_per_op.max(1) as f64 / 1e9)
    }

    /// Fused-loop time over this time: ≥ 1 means faster than the fused loop.
    pub fn vs_fused(&self) -> Option<f64> {
        self.fused_ns
            .map(|f| f as f64 / self.ns_per_op.max(1) as f64)
    }

    /// The row in [`CSV_HEADER`]'s columns; unknown values are left empty.
    pub fn csv(&self) -> String {
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        format!(
            "{},{},{},{},{},{},{:.0},{},{},{}",
            self.benchmark(),
            self.size,
            self.ns_per_op,
            opt(self.bytes_per_op),
            opt(self.allocs_per_op),
            self.workers,
            self.records_per_sec(),
            opt(self.peak_rss),
            self.vs_fused().map_or(String::new(), significant),
            self.records_out,
        )
    }
}

/// Writes `rows` as CSV.
pub fn write_csv(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.csv());
        s.push('\n');
    }
    write_whole(path, s.as_bytes())
}

/// A ratio with three significant digits: `1.23`, `0.0456`, `0.000123`.
pub fn significant(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        return format!("{v}");
    }
    let decimals = (2 - v.log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

/// A duration, readable: `812 µs`, `12.3 ms`, `1.234 s`.
pub fn human_ns(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e6 {
        format!("{:.0} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

/// A count, readable: `950`, `12.4 k`, `3.1 M`, `2.0 G`.
pub fn human_count(v: f64) -> String {
    if v < 1e4 {
        format!("{v:.0}")
    } else if v < 1e6 {
        format!("{:.1} k", v / 1e3)
    } else if v < 1e9 {
        format!("{:.2} M", v / 1e6)
    } else {
        format!("{:.2} G", v / 1e9)
    }
}

/// Bytes in MiB.
pub fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

const TABLE_FORMAT_WIDTHS: [usize; 10] = [42, 9, 2, 10, 10, 9, 9, 8, 8, 9];

fn table_line(cells: [String; 10]) -> String {
    let mut s = String::new();
    for (i, (c, w)) in cells.iter().zip(TABLE_FORMAT_WIDTHS).enumerate() {
        if i == 0 {
            let _ = write!(s, "{c:<w$}");
        } else {
            let _ = write!(s, " {c:>w$}");
        }
    }
    s.push('\n');
    s
}

/// The table's header line.
pub fn table_header() -> String {
    table_line(
        [
            "benchmark",
            "size",
            "w",
            "time/op",
            "records/s",
            "B/op",
            "allocs/op",
            "peak RSS",
            "vs fused",
            "out",
        ]
        .map(String::from),
    )
}

/// One line of the table.
pub fn table_row(r: &Row) -> String {
    table_line([
        r.benchmark(),
        r.size.to_string(),
        r.workers.to_string(),
        human_ns(r.ns_per_op),
        human_count(r.records_per_sec()),
        r.bytes_per_op.map_or("-".into(), |b| human_count(b as f64)),
        r.allocs_per_op
            .map_or("-".into(), |a| human_count(a as f64)),
        r.peak_rss.map_or("-".into(), mib),
        r.vs_fused()
            .map_or("-".into(), |v| format!("{}×", significant(v))),
        r.records_out.to_string(),
    ])
}

/// The readable table.
pub fn render_table(rows: &[Row]) -> String {
    let mut s = table_header();
    for r in rows {
        s.push_str(&table_row(r));
    }
    s
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so
/// a failed run never leaves half a CSV where an earlier one stood.
pub fn write_whole(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let write = || -> std::io::Result<()> {
        let mut f = mable_pipeline::atomic_file::AtomicFile::create(path, 0o644)?;
        f.file().write_all(bytes)?;
        f.commit()
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}
