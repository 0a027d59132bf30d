//! A pipeline of your own, written outside the crate with its public API
//! only: a record type (page views), a dataflow using `filter`, `map`, a
//! custom stage and `aggregate_by_key`, and a table of its own, run by the
//! whole command line (flags, metrics, ClickHouse, report).
//!
//! ```text
//! cargo run --release --example page_views -- testdata/page_views.ndjson -w 2
//! cargo run --release --example page_views -- list
//! ```

use std::sync::OnceLock;

use mable_pipeline::base::Params;
use mable_pipeline::dataflow::Definition;
use mable_pipeline::pipeline::{Collect, Pipeline};
use mable_pipeline::record::SourceRecord;
use mable_pipeline::table::Table;
use serde::{Deserialize, Serialize};

/// One page view, as the tracker sends it (one JSON object per line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageView {
    pub page: String,
    pub user: String,
    /// How long the page took to load, in milliseconds.
    pub ms: u32,
    pub agent: String,
}

/// `--size N` cycles the input's views, each under a user of its own.
impl SourceRecord for PageView {
    fn synthesize(template: &Self, index: u64) -> Self {
        PageView {
            user: format!("u{index}"),
            ..template.clone()
        }
    }
}

/// Longest load time kept as measured: beyond it a tab was left in the
/// background, which says nothing about the page.
const CAP_MS: u32 = 60_000;
/// A view at least this slow goes into the `slow_page_views` table.
const SLOW_MS: u32 = 1_000;

/// `/Shop/Bags/?utm=x` → `/shop/bags`: one key per page.
fn normalise(page: &str) -> String {
    let path = page.split(['?', '#']).next().unwrap_or("");
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        "/".to_string()
    } else {
        path.to_lowercase()
    }
}

/// A row of `slow_page_views` after the context columns every collected
/// table has (run, dataflow, stage, batch, worker, process, timestamp).
#[derive(Serialize)]
struct SlowView {
    page: String,
    ms: u32,
}

/// This dataflow's own table: any name and statement, no registration.
fn slow_views() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        Table::new(
            "slow_page_views",
            "CREATE TABLE IF NOT EXISTS {db}.slow_page_views (
    run_id     String,
    dataflow   String,
    stage_path String,
    batch_id   UInt32,
    worker_id  UInt32,
    process_id UInt32,
    timestamp  DateTime,
    page       String,
    ms         UInt32,
    insert_id  String
) ENGINE = ReplacingMergeTree
ORDER BY (dataflow, run_id, stage_path, batch_id, worker_id, page, ms)",
        )
    })
}

fn pipeline(_: &Params) -> Pipeline<PageView, PageView> {
    Pipeline::new()
        .filter("drop_bots", |v: &PageView| {
            !v.agent.to_ascii_lowercase().contains("bot")
        })
        .map("normalise_page", |v: PageView| PageView {
            page: normalise(&v.page),
            ..v
        })
        // A custom stage works on a whole container at once.
        .stage("cap_load_time", |_batch, mut views: Vec<PageView>| {
            for v in &mut views {
                v.ms = v.ms.min(CAP_MS);
            }
            views
        })
        .aggregate_by_key(
            "load_ms_by_page",
            |v: &PageView| Some(v.page.clone()),
            |v: &PageView| i64::from(v.ms),
        )
        .filter("slow", |v: &PageView| v.ms >= SLOW_MS)
        .collect(
            "slow_page_views",
            Collect::table(slow_views(), |v: &PageView| SlowView {
                page: v.page.clone(),
                ms: v.ms,
            }),
        )
}

static PAGE_VIEWS: Definition<PageView, PageView> = Definition {
    name: "page_views",
    about: "page views: drop bots, one key per page, cap load times, load time per page, keep the slow ones",
    pipeline,
    personal_data: false,
};

fn main() {
    // exit(): a failed run's other workers may still be spinning.
    std::process::exit(mable_pipeline::cli::main(&[&PAGE_VIEWS]));
}
