//! The report in a real browser: headless Chromium loads `report.html` from
//! disk with networking off, and the rendered DOM must show every stage with
//! its records in and out as the metric files hold them, the verdict's
//! stage, the latency percentiles and the slowest batch's waterfall — with
//! no console message and no script error.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mable_pipeline::report::format::{count, ms};
use support::browser::{Rendered, element, render, screenshot, text};
use support::cli::{read_ndjson, repo, run_ok};

/// Where test artifacts (screenshots, the reports) are kept: under target/.
fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-artifacts")
}

/// The report path the run printed.
fn report_path(stdout: &str, cwd: &Path) -> PathBuf {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("report → "))
        .unwrap_or_else(|| panic!("no report path printed:\n{stdout}"));
    cwd.join(line.trim())
}

/// Per stage, from the files alone: records in, records out, and the most
/// busy time any one worker spent in it.
struct Expected {
    stages: BTreeMap<String, (u64, u64, u64)>,
}

fn expected(dir: &Path) -> Expected {
    let mut per: BTreeMap<String, (u64, u64, BTreeMap<u64, u64>)> = BTreeMap::new();
    for r in read_ndjson(&dir.join("pipeline_metrics.ndjson")) {
        let e = per
            .entry(r["stage_path"].as_str().unwrap().to_string())
            .or_default();
        e.0 += r["input_count"].as_u64().unwrap();
        e.1 += r["output_count"].as_u64().unwrap();
        *e.2.entry(r["worker_id"].as_u64().unwrap()).or_default() += r["busy_ns"].as_u64().unwrap();
    }
    Expected {
        stages: per
            .into_iter()
            .map(|(k, (i, o, w))| (k, (i, o, w.values().copied().max().unwrap_or(0))))
            .collect(),
    }
}

/// The page loaded cleanly: scripts ran to the end, nothing was logged.
fn assert_clean(page: &Rendered) {
    assert_eq!(page.page_errors(), None, "the page trapped a script error");
    assert!(
        page.console.is_empty(),
        "console messages: {:#?}",
        page.console
    );
    assert!(
        page.root_attr("data-ready-ms").is_some(),
        "the page's script did not run to its end"
    );
}

/// Every stage shows its records in and out, in the table and the graph.
fn assert_stages(dom: &str, want: &Expected) {
    for (stage, (input, output, _)) in &want.stages {
        let marker = format!(r#"data-stage="{stage}""#);
        let row = element(dom, "tr", &marker).unwrap_or_else(|| panic!("no table row for {stage}"));
        let row_text = text(row);
        assert!(row_text.contains(stage.as_str()), "{row_text}");
        assert!(
            row_text.contains(&format!(" {} ", count(*input)))
                && row_text.contains(&format!(" {} ", count(*output))),
            "{stage}: want {input} in, {output} out; the row reads {row_text:?}"
        );
        let node =
            element(dom, "g", &marker).unwrap_or_else(|| panic!("no graph node for {stage}"));
        let node_text = text(node);
        assert!(
            node_text.contains(&format!("{} → {}", count(*input), count(*output))),
            "{stage}: the graph node reads {node_text:?}"
        );
    }
}

/// The page names no address of any kind and loads nothing.
fn assert_self_contained(html: &str) {
    for forbidden in [
        "http://", "https://", "//cdn", " src=", "<link", "@import", "url(http",
    ] {
        assert!(
            !html.contains(forbidden),
            "the report contains {forbidden:?}"
        );
    }
}

#[test]
fn a_1m_event_report_renders_every_stage_and_the_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let input = repo().join("testdata/mable_event.json");
    let stdout = run_ok(
        tmp.path(),
        &[
            "-w",
            "2",
            "--size",
            "1000000",
            "-q",
            input.to_str().unwrap(),
        ],
    );
    let report = report_path(&stdout, tmp.path());
    let dir = report.parent().unwrap();
    assert!(stdout.contains("verdict: "), "{stdout}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert_self_contained(&html);

    let page = render(&report);
    assert_clean(&page);
    let want = expected(dir);
    assert_eq!(want.stages.len(), 5, "{:?}", want.stages.keys());
    assert_stages(&page.dom, &want);

    // The verdict names the stage that kept one worker busiest (it may say
    // input bounds the run, and then names that stage as the busiest).
    let (busiest, _) = want.stages.iter().max_by_key(|(_, v)| v.2).unwrap();
    let verdict = text(element(&page.dom, "section", r#"id="verdict""#).unwrap());
    assert!(
        verdict.contains(&format!("stage {busiest} "))
            || verdict.contains(&format!("stage {busiest}:")),
        "the verdict does not name {busiest}: {verdict}"
    );

    // Latency percentiles (nearest rank) and the slowest batch, from the file.
    let batches = read_ndjson(&dir.join("pipeline_batches.ndjson"));
    let mut lat: Vec<(f64, u64)> = batches
        .iter()
        .map(|b| {
            (
                b["latency_ms"].as_f64().unwrap(),
                b["batch_id"].as_u64().unwrap(),
            )
        })
        .collect();
    lat.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let rank = |p: f64| lat[((p * lat.len() as f64).ceil() as usize).max(1) - 1].0;
    let span = |id: &str| text(element(&page.dom, "span", &format!(r#"id="{id}""#)).unwrap());
    assert_eq!(span("p50").trim(), ms(rank(0.5)));
    assert_eq!(span("p95").trim(), ms(rank(0.95)));
    assert_eq!(span("pmax").trim(), ms(lat.last().unwrap().0));
    let slowest = lat.last().unwrap().1;
    assert!(
        page.dom.contains(&format!(
            r#"class="chart waterfall" data-batch="{slowest}""#
        )),
        "the waterfall does not show the slowest batch {slowest}"
    );
    // The header's totals are the run's.
    let run = &read_ndjson(&dir.join("pipeline_runs.ndjson"))[0];
    assert_eq!(
        span("records-in").trim(),
        count(run["records_in"].as_u64().unwrap())
    );
    assert_eq!(
        span("records-out").trim(),
        count(run["records_out"].as_u64().unwrap())
    );

    // The artifact: the page as a reader first sees it.
    let keep = artifacts();
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::copy(&report, keep.join("report-1M-mable_event.html")).unwrap();
    screenshot(
        &report,
        &keep.join("report-1M-mable_event.png"),
        (1400, 3000),
    );
}

#[test]
fn an_if_else_and_aggregate_report_renders_branches_merges_and_results() {
    let tmp = tempfile::tempdir().unwrap();
    let input = repo().join("testdata/mable_events_full.ndjson");
    let stdout = run_ok(
        tmp.path(),
        &[
            "--dataflow",
            "conversions",
            "-w",
            "2",
            "--batch-size",
            "10",
            "-q",
            input.to_str().unwrap(),
        ],
    );
    let report = report_path(&stdout, tmp.path());
    let dir = report.parent().unwrap();
    let page = render(&report);
    assert_clean(&page);
    let want = expected(dir);
    for stage in [
        "if_order",
        "if_order/then/destination_payloads",
        "if_order/else/page_analytics",
        "if_order/merge",
    ] {
        assert!(want.stages.contains_key(stage), "{:?}", want.stages.keys());
    }
    assert_stages(&page.dom, &want);

    // Each aggregate key's latest value, from the file.
    let mut latest: BTreeMap<(String, String), (u64, i64)> = BTreeMap::new();
    for r in read_ndjson(&dir.join("pipeline_aggregates.ndjson")) {
        let key = (
            r["stage_path"].as_str().unwrap().to_string(),
            r["key"].as_str().unwrap().to_string(),
        );
        let batch = r["batch_id"].as_u64().unwrap();
        let e = latest.entry(key).or_insert((batch, 0));
        if batch >= e.0 {
            *e = (batch, r["sum"].as_i64().unwrap());
        }
    }
    let results = text(element(&page.dom, "section", r#"id="results""#).unwrap());
    for ((stage, key), (_, sum)) in latest
        .iter()
        .filter(|((s, _), _)| s == "revenue_by_shop_currency")
    {
        assert!(results.contains(stage.as_str()));
        assert!(
            results.contains(&format!("{key} ")) && results.contains(&count(*sum as u64)),
            "{key}: sum {sum} not shown in {results}"
        );
    }
    std::fs::create_dir_all(artifacts()).unwrap();
    screenshot(
        &report,
        &artifacts().join("report-conversions.png"),
        (1400, 3000),
    );
}
