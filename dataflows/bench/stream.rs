//! `bench --stream N`: the engine reading a large NDJSON file of full Mable
//! events, the shape of `mable_event_full.json` (~1.4 KB each, every
//! section present, ids, prices, names and items varied per record).
//!
//! Writes N events to a scratch file, runs the `mable_event` dataflow over it
//! (metrics on) in a child process per worker count, then appends N more and
//! runs again: records/s, per worker, MB/s parsed per core and peak RSS,
//! which should stay flat when the file doubles (input is read in bounded
//! batches, never loaded whole).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::measure::{Config, Variant, measure_in_child};
use super::parse_ceiling::{self, CeilingRow, Parser};
use super::report::{human_count, human_ns, mib};
use super::workload::{Job, Workload};
use mable_pipeline::record::seeded_hash;

/// What `bench --stream` measures.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Events in the first file; the second has twice as many.
    pub records: u64,
    pub workers: Vec<usize>,
    /// Timed runs per configuration (each over the whole file).
    pub runs: usize,
    pub seed: u64,
    /// Where the file and metric files go (removed at the end).
    pub dir: PathBuf,
}

/// One run over the file.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRow {
    pub records: u64,
    pub file_bytes: u64,
    pub workers: usize,
    /// Metrics captured (the usual run) or `--metrics off`.
    pub metrics: bool,
    /// Median wall time of one run.
    pub ns: u64,
    pub records_out: u64,
    pub peak_rss: Option<u64>,
}

impl StreamRow {
    fn secs(&self) -> f64 {
        self.ns.max(1) as f64 / 1e9
    }
    /// Records parsed and processed per second.
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.secs()
    }
    /// MB (10⁶ bytes) of NDJSON parsed per second per worker (one core each).
    pub fn mb_per_sec_per_core(&self) -> f64 {
        self.file_bytes as f64 / 1e6 / self.secs() / self.workers as f64
    }
}

/// The header of the streaming CSV.
pub const STREAM_CSV_HEADER: &str = "Records,FileBytes,Workers,Metrics,NsPerRun,RecordsPerSec,RecordsPerSecPerWorker,MBPerSecPerCore,PeakRssBytes,RecordsOut";

const FIRST: [&str; 8] = [
    "Jana", "Marie", "Joe", "Aiko", "Lukas", "Sofia", "Mateo", "Olivia",
];
const LAST: [&str; 8] = [
    "Beispiel", "Dupont", "Public", "Tanaka", "Schmidt", "Rossi", "Garcia", "Smith",
];
const CITY: [(&str, &str, &str); 6] = [
    ("DE", "Bremen", "28199"),
    ("FR", "Lyon", "69002"),
    ("GB", "Bristol", "BS1 4DJ"),
    ("JP", "Osaka", "530-0001"),
    ("IT", "Milano", "20121"),
    ("ES", "Sevilla", "41001"),
];
const EVENT: [&str; 4] = [
    "Order Completed",
    "Add To Cart",
    "Page View",
    "Checkout Started",
];
const UA: [&str; 3] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
];
const ITEMS: [(&str, &str); 6] = [
    ("44321", "Linen shirt"),
    ("44877", "Straw hat"),
    ("45102", "Canvas tote"),
    ("45230", "Leather sandals"),
    ("45391", "Cotton summer dress"),
    ("45477", "Sunglasses"),
];

/// Appends event number `i` (one NDJSON line) to `s`.
pub fn write_event(s: &mut String, i: u64, seed: u64) {
    let h = seeded_hash(seed, &i.to_le_bytes());
    let pick = |shift: u32, n: usize| ((h >> shift) as usize) % n;
    let (first, last) = (FIRST[pick(0, 8)], LAST[pick(3, 8)]);
    let (cc, city, zip) = CITY[pick(6, 6)];
    let price_cents = h % 100_000;
    let ts = 1_750_830_018 + i as i64;
    let _ = write!(
        s,
        r#"{{"eid":"0197a5a0-{:04x}-7e41-9b3a-{:012x}","en":"{}","ts":{ts},"ii":"web","#,
        (i >> 48) & 0xffff,
        i & 0xffff_ffff_ffff,
        EVENT[pick(9, 4)],
    );
    let _ = write!(
        s,
        r#""bd":{{"aid":"01979c1b-364b-700c-{:04x}-{:012x}","bsts":{},"cks":{{"_fbp":"fb.1.{}.{}","_ga":"GA1.1.{}.{}","_gid":"GA1.1.{}.{}"}},"iqpar":{{"utm_source":"newsletter","utm_campaign":"summer-sale-{}"}},"ir":"https://www.google.com/","ua":"{}","ul":"en-GB","srw":1312,"srh":848,"is_backend":false}},"#,
        h & 0xffff,
        h >> 16 & 0xffff_ffff_ffff,
        ts * 1000 - 159_299,
        ts * 1000 - 10_500,
        h % 1_000_000_000,
        h % 100_000_000,
        ts - 22_211,
        h >> 7 & 0xfff_ffff,
        ts - 3_600,
        i % 40,
        UA[pick(12, 3)],
    );
    let _ = write!(
        s,
        r#""cdas":{{"cc":["{cc}"],"ct":["{city}"],"em":["{first}.{last}@Example.com "],"fn":["{first}"],"ln":["{last}"],"id":["{}"],"street":["Flughafenallee {}"],"zip":["{zip}"]}},"#,
        h % 10_000_000,
        1 + i % 200,
    );
    let _ = write!(
        s,
        r#""sd":{{"ip4":"185.{}.{}.{}","sid":"s-01979c1b-{:04x}"}},"pd":{{"dl":"https://dev-test-1906.myshopify.com/checkouts/c/{:04x}/thank-you?locale=en-GB&skip_shop_pay=true","dt":"Thank you for your purchase, {first}!","pp":{}.{:02},"pb":{}}},"#,
        h >> 24 & 0xff,
        h >> 32 & 0xff,
        h >> 40 & 0xff,
        i & 0xffff,
        h >> 20 & 0xffff,
        h % 5000,
        h % 100,
        53_000_000 + h % 1_000_000,
    );
    let _ = write!(
        s,
        r#""pids":{{"fbc":"fb.1.{}.IwAR{:08x}","gclid":"Cj0KCQjw-{:010x}"}},"md":{{"shop":"dev-test-1906.myshopify.com","source":"shopify-pixel","v":"2.4.1"}},"#,
        ts * 1000 - 17_000,
        h >> 8 & 0xffff_ffff,
        h >> 4 & 0xff_ffff_ffff,
    );
    let _ = write!(
        s,
        r#""esd":{{"oid":"{}","cart":{{"currency":"EUR","total":{{"price":{}.{:02}}},"items":["#,
        5_931_772_510_438 + i,
        price_cents / 100,
        price_cents % 100,
    );
    let items = 2 + pick(16, 3);
    for k in 0..items {
        let (id, name) = ITEMS[(pick(20, 6) + k) % 6];
        let p = (h >> (8 * k)) % 50_000;
        let _ = write!(
            s,
            r#"{}{{"id":"{id}","name":"{name}","qty":{},"price":{}.{:02}}}"#,
            if k == 0 { "" } else { "," },
            1 + (h >> (4 * k)) % 3,
            p / 100,
            p % 100,
        );
    }
    s.push_str("]}}}\n");
}

/// Appends events `from..to` to `path` (created if missing); returns its size.
pub fn append_events(path: &Path, from: u64, to: u64, seed: u64) -> anyhow::Result<u64> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut s = String::with_capacity(1 << 20);
    for i in from..to {
        write_event(&mut s, i, seed);
        if s.len() > (1 << 20) - 4096 {
            w.write_all(s.as_bytes())?;
            s.clear();
        }
    }
    w.write_all(s.as_bytes())?;
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Runs the streaming benchmark, calling `progress` with each finished row.
pub fn stream(
    opts: &StreamOptions,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<(Vec<StreamRow>, Vec<CeilingRow>)> {
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("cannot create {}", opts.dir.display()))?;
    // Removes the (multi-GB) file however this returns.
    struct Cleanup<'a>(&'a Path);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _cleanup = Cleanup(&opts.dir);
    let path = opts.dir.join("events.ndjson");
    let _ = std::fs::remove_file(&path);
    let mut rows = Vec::new();
    let mut ceilings = Vec::new();
    let mut written = 0;
    for records in [opts.records, 2 * opts.records] {
        let start = Instant::now();
        let file_bytes = append_events(&path, written, records, opts.seed)?;
        progress(&format!(
            "wrote {records} events, {} ({:.0} B/event) in {}",
            mib(file_bytes),
            file_bytes as f64 / records.max(1) as f64,
            human_ns(start.elapsed().as_nanos() as u64)
        ));
        written = records;
        // The engine on every worker count with metrics on (the usual
        // run), and on one worker with metrics off: that row is held to the
        // parsing ceiling below.
        let runs = opts
            .workers
            .iter()
            .map(|&w| (w, true))
            .chain(std::iter::once((1, false)));
        for (workers, metrics) in runs {
            let cfg = Config {
                job: Job {
                    workload: Workload::MableEvent,
                    size: records,
                    seed: opts.seed,
                    template: path.clone(),
                },
                variant: if metrics {
                    Variant::MetricsOn
                } else {
                    Variant::MetricsOff
                },
                workers,
                runs: opts.runs,
                count_allocs: false,
                file: Some(path.clone()),
                scratch: opts.dir.join("metrics"),
            };
            let m = measure_in_child(&cfg)?;
            anyhow::ensure!(
                m.records_in == records,
                "read {} records of {records}",
                m.records_in
            );
            let row = StreamRow {
                records,
                file_bytes,
                workers,
                metrics,
                ns: m.median_ns(),
                records_out: m.outcome.records_out,
                peak_rss: m.peak_rss,
            };
            progress(&render_row(&row));
            rows.push(row);
        }
        for parser in Parser::ALL {
            let c = parse_ceiling::measure(parser, &path, opts.runs)?;
            anyhow::ensure!(
                c.records == records,
                "{} read {} records of {records}",
                parser.name(),
                c.records
            );
            progress(&render_ceiling(&c));
            ceilings.push(c);
        }
    }
    Ok((rows, ceilings))
}

/// A parsing-ceiling row, in the engine rows' columns.
fn render_ceiling(c: &CeilingRow) -> String {
    format!(
        "{:>9} {:>9} {:>2} {:>10} {:>10} {:>10} {:>8.1} {:>9}  {}",
        c.records,
        mib(c.file_bytes),
        1,
        human_ns(c.ns),
        human_count(c.records_per_sec()),
        human_count(c.records_per_sec()),
        c.file_bytes as f64 / 1e6 / (c.ns.max(1) as f64 / 1e9),
        "-",
        c.parser.name(),
    )
}

fn render_row(r: &StreamRow) -> String {
    format!(
        "{:>9} {:>9} {:>2} {:>10} {:>10} {:>10} {:>8.1} {:>9}  {}",
        r.records,
        mib(r.file_bytes),
        r.workers,
        human_ns(r.ns),
        human_count(r.records_per_sec()),
        human_count(r.records_per_sec() / r.workers as f64),
        r.mb_per_sec_per_core(),
        r.peak_rss.map_or("-".into(), mib),
        if r.metrics {
            "engine, metrics on"
        } else {
            "engine, metrics off"
        },
    )
}

/// The readable table: the engine's rows and the parsing ceiling's, the
/// engine's one-worker rate as a share of each reference parser's, and peak
/// RSS at 2N over N per worker count.
pub fn render_stream_table(rows: &[StreamRow], ceilings: &[CeilingRow]) -> String {
    let mut s = format!(
        "{:>9} {:>9} {:>2} {:>10} {:>10} {:>10} {:>8} {:>9}  {}\n",
        "records", "file", "w", "time", "records/s", "rec/s/wkr", "MB/s/core", "peak RSS", "what"
    );
    for r in rows {
        s.push_str(&render_row(r));
        s.push('\n');
    }
    for c in ceilings {
        s.push_str(&render_ceiling(c));
        s.push('\n');
    }
    for c in ceilings {
        for metrics in [false, true] {
            if let Some(r) = rows
                .iter()
                .find(|r| r.records == c.records && r.workers == 1 && r.metrics == metrics)
            {
                let _ = writeln!(
                    s,
                    "{} records: engine -w 1, metrics {} ÷ {} = {:.2}×",
                    c.records,
                    if metrics { "on" } else { "off" },
                    c.parser.name(),
                    r.records_per_sec() / c.records_per_sec()
                );
            }
        }
    }
    for small in rows
        .iter()
        .filter(|r| r.records == rows[0].records && r.metrics)
    {
        if let Some(big) = rows
            .iter()
            .find(|b| b.workers == small.workers && b.metrics && b.records == 2 * small.records)
            && let (Some(a), Some(b)) = (small.peak_rss, big.peak_rss)
        {
            let _ = writeln!(
                s,
                "-w {}: peak RSS {} at {} records, {} at {} ({:.2}×)",
                small.workers,
                mib(a),
                small.records,
                mib(b),
                big.records,
                b as f64 / a as f64
            );
        }
    }
    s
}

/// Writes the rows as CSV ([`STREAM_CSV_HEADER`]).
pub fn write_stream_csv(path: &Path, rows: &[StreamRow]) -> anyhow::Result<()> {
    let mut s = format!("{STREAM_CSV_HEADER}\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{:.0},{:.0},{:.1},{},{}",
            r.records,
            r.file_bytes,
            r.workers,
            if r.metrics { "on" } else { "off" },
            r.ns,
            r.records_per_sec(),
            r.records_per_sec() / r.workers as f64,
            r.mb_per_sec_per_core(),
            r.peak_rss.map_or(String::new(), |v| v.to_string()),
            r.records_out
        );
    }
    super::report::write_whole(path, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflows::records::MableEvent;

    #[test]
    fn events_are_full_valid_and_distinct() {
        let mut s = String::new();
        for i in 0..200 {
            write_event(&mut s, i, 3);
        }
        let mut ids = std::collections::HashSet::new();
        for line in s.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            // (serde_json's map is sorted.)
            assert_eq!(
                keys,
                [
                    "bd", "cdas", "eid", "en", "esd", "ii", "md", "pd", "pids", "sd", "ts"
                ]
            );
            let e: MableEvent = serde_json::from_str(line).unwrap();
            assert!(e.price() > 0.0 || line.contains(r#""price":0.00"#));
            assert!(ids.insert(e.eid.clone()));
        }
        let per_event = s.len() / 200;
        assert!(
            (1250..1550).contains(&per_event),
            "{per_event} bytes per event"
        );
    }
}
