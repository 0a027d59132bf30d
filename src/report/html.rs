//! The report page: one self-contained HTML file. Styles, script and
//! charts are inline; a Content-Security-Policy forbids the page any fetch.

use std::fmt::Write;

use super::Delivery;
use super::charts;
use super::draw_graph::{self, selectivity};
use super::format::{count, esc, ms, ns, pct, rate};
use super::graph::Derived;
use super::model::Run;
use super::svg::STAGE_COLOURS;
use super::verdict::{Part, SKEW_FLOOR_NS, SKEW_RATIO, Verdict};
use super::waterfall;
use super::words::{details, headline, part_label};

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// Records script errors on the page itself, so a headless browser's DOM
/// dump shows them (`data-errors` on `<html>`).
const ERROR_TRAP: &str = "window.__reportErrors=[];window.addEventListener('error',function(e){window.__reportErrors.push(String(e.message||e));document.documentElement.setAttribute('data-errors',window.__reportErrors.join(' | '));});";

/// `text` with `code spans` in backticks turned into `<strong><code>`.
fn marked(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<strong><code>{}</code></strong>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The whole page.
pub fn page(run: &Run, d: &Derived, v: &Verdict, delivery: Option<&Delivery>) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let title = format!("{} — run {}", run.info.dataflow, run.info.run_id);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><script>{ERROR_TRAP}</script><style>{CSS}</style></head><body>",
        esc(&title)
    );
    header(&mut h, run, delivery);
    h.push_str(
        "<nav><a href=\"#verdict\">Verdict</a><a href=\"#graph\">Stage graph</a><a href=\"#latency\">Latency</a>\
         <a href=\"#waterfall\">Waterfall</a><a href=\"#skew\">Skew</a><a href=\"#results\">Results</a><a href=\"#method\">How to read this</a></nav>",
    );
    let cost = stage_cost(run, v);
    body(&mut h, run, d, v, &cost);
    let _ = writeln!(
        h,
        "<script type=\"application/json\" id=\"report-data\">{}</script><script>{JS}</script></body></html>",
        waterfall::data_json(run)
    );
    h
}

/// The page's sections.
fn body(h: &mut String, run: &Run, d: &Derived, v: &Verdict, cost: &[u64]) {
    verdict(h, run, v);
    graph(h, run, d, v, cost);
    latency(h, run);
    waterfall_section(h, run);
    skew(h, run, v);
    results(h, run, d);
    method(h, run, v);
}

/// Each stage's cost over all workers: busy time plus helpers.
fn stage_cost(run: &Run, v: &Verdict) -> Vec<u64> {
    (0..run.stages.len())
        .map(|s| v.workers.iter().map(|t| t.stage_ns[s]).sum())
        .collect()
}

fn fact(h: &mut String, k: &str, v: &str) {
    fact_classed(h, "fact", k, v);
}

fn fact_classed(h: &mut String, class: &str, k: &str, v: &str) {
    let _ = write!(
        h,
        "<div class=\"{class}\"><div class=\"k\">{}</div><div class=\"v\">{}</div></div>",
        esc(k),
        v
    );
}

fn header(h: &mut String, run: &Run, delivery: Option<&Delivery>) {
    let i = &run.info;
    let status = match i.status.as_str() {
        "ok" => "ok",
        "failed" => "failed",
        _ => "unknown",
    };
    let _ = write!(
        h,
        "<header class=\"card\"><h1>{} <span class=\"sub\">— run {}</span><span class=\"badge {status}\" id=\"status\">{}</span></h1>",
        esc(&i.dataflow),
        esc(&i.run_id),
        esc(if status == "unknown" {
            "unfinished"
        } else {
            status
        })
    );
    if !i.args.is_empty() || !i.version.is_empty() {
        let _ = write!(
            h,
            "<div class=\"sub mono\">mable-pipeline {}{}{}</div>",
            esc(&i.version),
            if i.host.is_empty() {
                String::new()
            } else {
                format!(" on {}", esc(&i.host))
            },
            if i.args.is_empty() {
                String::new()
            } else {
                format!(" · {}", esc(&i.args))
            }
        );
    }
    h.push_str("<div class=\"facts\">");
    fact(h, "dataflow", &esc(&i.dataflow));
    fact_classed(
        h,
        "fact wide",
        "input",
        &if i.input.is_empty() {
            "—".into()
        } else {
            esc(&i.input).into_owned()
        },
    );
    let per_process = run.workers / i.processes.max(1);
    fact(
        h,
        "workers × processes",
        &format!(
            "{} × {} <span class=\"sub\">({} worker{} in all)</span>",
            per_process,
            i.processes,
            run.workers,
            if run.workers == 1 { "" } else { "s" }
        ),
    );
    fact(
        h,
        "records in / out / skipped",
        &format!(
            "<span id=\"records-in\">{}</span> / <span id=\"records-out\">{}</span> / {}",
            count(i.records_in),
            count(i.records_out),
            count(i.records_skipped)
        ),
    );
    fact(
        h,
        "batches",
        &format!(
            "{} <span class=\"sub\">of {} records</span>",
            count(i.batches.max(run.batches.len() as u64)),
            count(i.batch_size)
        ),
    );
    fact(h, "elapsed", &ms(i.elapsed_ms));
    fact(
        h,
        "rate",
        &rate(i.records_in as f64 / (i.elapsed_ms / 1e3).max(1e-9)),
    );
    let delivered = match delivery {
        Some(d) => format!(
            "{} rows produced, {} delivered, {} spooled, {} failed, {} dropped <span class=\"sub\">→ {}</span>",
            count(d.produced),
            count(d.delivered),
            count(d.spooled),
            count(d.failed),
            count(d.dropped),
            esc(&d.sink)
        ),
        None => format!(
            "{} rows in {} files",
            count(run.tables.iter().map(|t| t.rows).sum()),
            run.tables.iter().map(|t| t.files).sum::<usize>()
        ),
    };
    let complete = match run.coverage() {
        Some((covered, read)) if covered == read => format!(
            "<br><span class=\"sub\">stage rows cover every record read ({})</span>",
            count(read)
        ),
        Some((covered, read)) => format!(
            "<br><span class=\"sub\" style=\"color:var(--accent)\">stage rows cover {} of {} records read</span>",
            count(covered),
            count(read)
        ),
        None => String::new(),
    };
    fact_classed(h, "fact wide", "metrics delivery", &(delivered + &complete));
    h.push_str("</div>");
    if !i.error.is_empty() {
        let _ = write!(h, "<div class=\"error\">{}</div>", esc(&i.error));
    }
    if i.processes > 1 && i.processes_reported.len() < i.processes as usize {
        let _ = write!(
            h,
            "<div class=\"error\">Only {} of {} processes' rows are in this directory (processes on other hosts write their own). Run `mable-pipeline report` again once every process's files are here.</div>",
            i.processes_reported.len(),
            i.processes
        );
    }
    h.push_str("</header>");
}

fn verdict(h: &mut String, run: &Run, v: &Verdict) {
    h.push_str("<section id=\"verdict\"><h2>Verdict</h2>");
    let bound_attr = match v.bound().map(|b| b.part) {
        Some(Part::Stage(s)) => format!(" data-bound-stage=\"{}\"", esc(&run.stages[s].path)),
        Some(p) => format!(" data-bound=\"{}\"", esc(&part_label(run, p))),
        None => String::new(),
    };
    let _ = write!(
        h,
        "<p class=\"headline\" id=\"headline\"{bound_attr}>{}</p><ul class=\"details\">",
        marked(&upper_first(&headline(run, v)))
    );
    for line in details(run, v) {
        let class = if line.starts_with("Skew") || line.starts_with("The metrics sink") {
            " class=\"warn\""
        } else {
            ""
        };
        let _ = write!(h, "<li{class}>{}</li>", marked(&line));
    }
    h.push_str("</ul>");
    h.push_str("<div class=\"cols\"><div><h3>What making one part 2× faster would buy</h3><table><tr><th>part</th><th class=\"num\">time</th><th>on</th><th class=\"num\">run would take</th><th class=\"num\">saving</th></tr>");
    for (i, w) in v.what_if.iter().take(8).enumerate() {
        let saved = v.elapsed_ms - w.estimate_ms;
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            if i == 0 { " class=\"bound\"" } else { "" },
            esc(&part_label(run, w.part)),
            ns(w.time_ns),
            w.worker
                .map_or("every worker".into(), |w| format!("worker {w}")),
            ms(w.estimate_ms),
            if saved < 0.001 * v.elapsed_ms {
                "—".to_string()
            } else {
                pct(saved / v.elapsed_ms.max(1e-9))
            }
        );
    }
    h.push_str("</table></div><div class=\"grow\"><h3>Where each worker's time went</h3><div class=\"legend\">");
    for (s, st) in run.stages.iter().enumerate().take(12) {
        let _ = write!(
            h,
            "<span class=\"sw\" style=\"background:{}\"></span>{}",
            STAGE_COLOURS[s % STAGE_COLOURS.len()],
            esc(st.name())
        );
    }
    h.push_str("<span class=\"sw\" style=\"background:#9aa3b2\"></span>timely<span class=\"sw\" style=\"background:#e4e8ee;border:1px solid #ccd\"></span>outside the dataflow</div>");
    h.push_str(&charts::worker_time(run, v));
    h.push_str("</div></div></section>");
}

fn graph(h: &mut String, run: &Run, d: &Derived, v: &Verdict, cost: &[u64]) {
    h.push_str("<section id=\"graph\"><h2>Stage graph</h2>");
    let source = if d.stages.from_log {
        "Drawn from timely's operator log: edges carry the records that flowed (summed over workers); dashed purple edges crossed workers (an exchange)."
    } else {
        "Drawn from the stage names: this run wrote no timely operator log (it ended early), so edges carry no record counts."
    };
    let _ = write!(
        h,
        "<div class=\"legend\">{source} A box's colour is its share of all stage time (stage code plus its helper operators, over all workers): pale is little, dark red is most of it.</div>"
    );
    if !d.operators.nodes.is_empty() {
        h.push_str("<div class=\"controls\"><label><input type=\"checkbox\" id=\"show-operators\"> show timely's own operators (exchange, input, probe, arrangements) with their scheduling time</label></div>");
    }
    h.push_str("<div id=\"graph-stages\"><div class=\"cols\"><div class=\"scroll\">");
    h.push_str(&draw_graph::stages(run, &d.stages, cost));
    h.push_str("</div><div class=\"scroll\">");
    stage_table(h, run, d, v, cost);
    h.push_str("</div></div></div>");
    if !d.operators.nodes.is_empty() {
        h.push_str("<div id=\"graph-operators\" hidden><div class=\"cols\"><div class=\"scroll\">");
        h.push_str(&draw_graph::operators(run, &d.operators));
        h.push_str("</div><div class=\"scroll\">");
        operator_table(h, run, d);
        h.push_str("</div></div></div>");
    }
    h.push_str("</section>");
}

fn stage_table(h: &mut String, run: &Run, d: &Derived, v: &Verdict, cost: &[u64]) {
    let total: u64 = cost.iter().sum();
    let workers = v.workers.len().max(1) as u64;
    h.push_str("<table id=\"stage-table\"><tr><th>stage</th><th class=\"num\">records in</th><th class=\"num\">records out</th><th class=\"num\">out ÷ in</th><th class=\"num\">busy, all workers</th><th class=\"num\">busiest worker</th><th class=\"num\">share</th></tr>");
    let bound = match v.bound().map(|b| b.part) {
        Some(Part::Stage(s)) => Some(s),
        _ => None,
    };
    for (s, st) in run.stages.iter().enumerate() {
        let busiest = v.workers.iter().map(|t| t.stage_ns[s]).max().unwrap_or(0);
        let helpers: Vec<&str> = d.helpers[s]
            .iter()
            .map(|&o| run.operators[o].name.as_str())
            .collect();
        let helper_note = if helpers.is_empty() {
            String::new()
        } else {
            format!(
                "<br><span class=\"sub\" title=\"scheduling time of its helper operators: {}\">+ {} helpers</span>",
                esc(&helpers.join(", ")),
                ns(d.helpers[s]
                    .iter()
                    .map(|&o| run.operators[o].total_ns())
                    .sum())
            )
        };
        let _ = write!(
            h,
            "<tr data-stage=\"{}\" data-in=\"{}\" data-out=\"{}\"{}><td><span class=\"mono\">{}</span><br><span class=\"sub\">{}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}{helper_note}</td><td class=\"num\">{}<br><span class=\"sub\">mean {}</span></td><td class=\"num\">{}</td></tr>",
            esc(&st.path),
            st.input,
            st.output,
            if Some(s) == bound {
                " class=\"bound\""
            } else {
                ""
            },
            esc(&st.path),
            esc(&st.kind),
            count(st.input),
            count(st.output),
            selectivity(st.input, st.output).trim_matches(|c| c == '(' || c == ')'),
            ns(st.busy_ns),
            ns(busiest),
            ns(cost[s] / workers),
            pct(cost[s] as f64 / total.max(1) as f64)
        );
    }
    h.push_str("</table>");
}

fn operator_table(h: &mut String, run: &Run, d: &Derived) {
    h.push_str("<table><tr><th>operator</th><th>address</th><th>stage</th><th class=\"num\">scheduled</th><th class=\"num\">busiest worker</th><th class=\"num\">activations</th><th class=\"num\">longest</th></tr>");
    let mut ops: Vec<usize> = d
        .operators
        .nodes
        .iter()
        .filter_map(|k| match k {
            super::graph::NodeKind::Operator(o) => Some(*o),
            _ => None,
        })
        .collect();
    if let Some(r) = d.root {
        ops.insert(0, r);
    }
    for o in ops {
        let op = &run.operators[o];
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&op.name),
            esc(&op.address),
            esc(&op.stage_path),
            ns(op.total_ns()),
            ns(op.schedule_ns.iter().copied().max().unwrap_or(0)),
            count(op.activations),
            ns(op.max_activation_ns)
        );
    }
    h.push_str("</table><div class=\"legend\">The first row is the dataflow's root scope: its time is all the time workers spent inside the dataflow.</div>");
}

fn latency(h: &mut String, run: &Run) {
    h.push_str("<section id=\"latency\"><h2>Batch latency over the run</h2>");
    match run.latency() {
        Some(p) => {
            let _ = write!(
                h,
                "<div class=\"legend\">Each batch's end-to-end latency: from its first record entering the input (on any worker) to the probe at the end of the dataflow passing it (seen on worker 0). Over {} batches: <strong>p50 <span id=\"p50\">{}</span></strong>, <strong>p95 <span id=\"p95\">{}</span></strong>, <strong>max <span id=\"pmax\">{}</span></strong> (batch {}). Click the chart to see a batch's waterfall.</div>",
                count(p.batches as u64),
                ms(p.p50),
                ms(p.p95),
                ms(p.max),
                p.max_batch
            );
            h.push_str("<div class=\"scroll\">");
            h.push_str(&charts::latency(run, &p));
            h.push_str("</div><div id=\"latency-hover\"></div>");
        }
        None => h.push_str(
            "<p class=\"sub\">No batch latencies: the run wrote no pipeline_batches rows (it ended before a batch completed, or ran with an older build).</p>",
        ),
    }
    h.push_str("</section>");
}

fn waterfall_section(h: &mut String, run: &Run) {
    h.push_str("<section id=\"waterfall\"><h2>Batch waterfall</h2>");
    let kept = run.spans.len();
    let note = if run.spans_complete {
        "Every batch is here."
    } else {
        "This run is big: worker-level spans are kept for the ten slowest batches, the median, the first and last, and an even sample."
    };
    let _ = write!(
        h,
        "<div class=\"legend\">Each stage's work on one batch, per worker: the pale bar runs from the stage's first container of the batch to its last; the dark line at its foot is the busy time within. {note} ({} of {} batches.)</div>",
        count(kept as u64),
        count(run.batches.len() as u64)
    );
    h.push_str("<div class=\"controls\"><label>batch <select id=\"wf-batch\"></select></label><button id=\"wf-prev\" type=\"button\">◀ previous</button><button id=\"wf-next\" type=\"button\">next ▶</button><button id=\"wf-slowest\" type=\"button\">slowest</button><label><input type=\"checkbox\" id=\"wf-fit\" checked> fit the axis to the stages' work</label></div>");
    h.push_str("<div id=\"waterfall-caption\"></div><div class=\"scroll\" id=\"waterfall-svg\"></div></section>");
}

fn skew(h: &mut String, run: &Run, v: &Verdict) {
    let _ = write!(
        h,
        "<section id=\"skew\"><h2>Skew: busy time by worker and stage</h2><div class=\"legend\">Each cell is one stage's time on one worker (its code plus its helper operators), all on one colour scale. The right column is the busiest worker ÷ the mean; a stage is flagged as skewed at ≥ {SKEW_RATIO}× and ≥ {} above the mean.</div><div class=\"scroll\">",
        ns(SKEW_FLOOR_NS)
    );
    h.push_str(&charts::heat_map(run, v));
    h.push_str("</div></section>");
}

fn results(h: &mut String, run: &Run, d: &Derived) {
    h.push_str("<section id=\"results\"><h2>Results</h2>");
    if run.reductions.is_empty() && run.aggregates.is_empty() && run.arrangements.is_empty() {
        h.push_str("<p class=\"sub\">This dataflow has no reduce or aggregate stage.</p>");
    }
    for (stage, rows) in &run.reductions {
        let Some((last_batch, last)) = rows.last() else {
            continue;
        };
        let _ = write!(
            h,
            "<h3>reduce <code>{}</code> — {} batches</h3><div class=\"legend\">Each batch's merged result; the last (batch {last_batch}):</div><pre>{}</pre>",
            esc(stage),
            count(rows.len() as u64),
            esc(&pretty(last))
        );
        let shown = rows.len().min(200);
        let _ = write!(
            h,
            "<details><summary>every batch's result{}</summary><table><tr><th class=\"num\">batch</th><th>result</th></tr>",
            if shown < rows.len() {
                format!(" (the last {shown})")
            } else {
                String::new()
            }
        );
        for (b, r) in &rows[rows.len() - shown..] {
            let _ = write!(
                h,
                "<tr><td class=\"num\">{b}</td><td class=\"mono\">{}</td></tr>",
                esc(clip(r, 400))
            );
        }
        h.push_str("</table></details>");
    }
    for (stage, keys) in &run.aggregates {
        let shown = keys.len().min(100);
        let _ = write!(
            h,
            "<h3>aggregate <code>{}</code> — {} keys</h3><div class=\"legend\">Each key's running count, sum, min and max after the last batch that changed it{}.</div><table><tr><th>key</th><th class=\"num\">count</th><th class=\"num\">sum</th><th class=\"num\">min</th><th class=\"num\">max</th><th class=\"num\">last batch</th></tr>",
            esc(stage),
            count(keys.len() as u64),
            if shown < keys.len() {
                format!("; the {shown} largest sums")
            } else {
                String::new()
            }
        );
        for k in &keys[..shown] {
            let _ = write!(
                h,
                "<tr><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(clip(&k.key, 200)),
                super::format::signed(k.count),
                super::format::signed(k.sum),
                super::format::signed(k.min),
                super::format::signed(k.max),
                k.batch
            );
        }
        h.push_str("</table>");
    }
    if !run.arrangements.is_empty() {
        h.push_str("<h3>Arrangements (differential's incremental state)</h3><table><tr><th>operator</th><th>stage</th><th class=\"num\">records held at the end</th><th class=\"num\">most held</th><th class=\"num\">merges</th></tr>");
        for a in &run.arrangements {
            let op = run.operators.iter().position(|o| o.id == a.operator_id);
            let name = op.map_or(format!("operator {}", a.operator_id), |o| {
                run.operators[o].name.clone()
            });
            let stage = op
                .and_then(|o| d.helpers.iter().position(|hs| hs.contains(&o)))
                .map_or(String::new(), |s| run.stages[s].path.clone());
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&name),
                esc(&stage),
                super::format::signed(a.records),
                super::format::signed(a.peak_records),
                count(a.merges)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");
}

fn pretty(json: &str) -> String {
    let pretty = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.to_string());
    clip(&pretty, 4000).to_string()
}

fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn method(h: &mut String, run: &Run, v: &Verdict) {
    h.push_str("<section id=\"method\" class=\"method\"><h2>How to read this</h2>");
    let _ = write!(
        h,
        "<p><strong>Where a worker's time goes.</strong> Each worker's wall time (its process's elapsed time, {}) is split into <em>stage work</em> — a stage's busy time, measured around every container of records it handles, plus the scheduling time of the stage's helper operators (a reduce's combiner, an aggregate's arrangement and count) —, <em>timely</em> — the rest of its time inside the dataflow, as timely's log times the dataflow's root scope: moving records between operators and across workers (the exchange; {} records crossed workers in this run), progress tracking, and timely's input, probe and inspect operators —, and <em>outside the dataflow</em>: start-up ({} here, until the first batch entered), reading and parsing its share of the input, building metric rows, and waiting for other workers.</p>",
        ms(v.elapsed_ms),
        count(v.exchanged_records),
        ns(v.startup_ns)
    );
    h.push_str("<p><strong>What the data cannot tell.</strong> The run has no timer around input parsing, so parsing is not measured directly: it is inside the time outside the dataflow, together with waiting. The least any worker spent outside the dataflow (start-up excluded) is taken as the input time — the worker that spent least time outside waited least — so this is an upper bound on parsing for that worker. Busy time is wall-clock time inside the stage's code: with more workers than cores it includes time a worker waited for a core. The metrics sidecar runs on a thread of its own; its CPU use is not in any figure here, only rows it lost are.</p>");
    let _ = write!(
        h,
        "<p><strong>The estimate.</strong> The run lasts as long as its busiest worker: elapsed ≈ max over workers of (time inside the dataflow) + the input time above. Making a part 2× faster removes half of that part's time from every worker, and the estimate is the new maximum — so a stage that is slow on one worker only buys as much as the next-busiest worker allows (skew is included). The part whose halving buys the most is the one that bounds the run. The model ignores that workers hand batches to each other (at most two in flight), so treat it as an estimate, not a prediction. Skew is flagged when a stage's busiest worker carries ≥ {SKEW_RATIO}× the mean and ≥ {} more than it. Latency percentiles are nearest-rank over the batches.</p>",
        ns(SKEW_FLOOR_NS)
    );
    h.push_str("<h3>Files read</h3><table><tr><th>table</th><th class=\"num\">files</th><th class=\"num\">rows</th><th class=\"num\">unreadable lines</th></tr>");
    for t in &run.tables {
        let _ = write!(
            h,
            "<tr><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            t.table,
            t.files,
            count(t.rows),
            count(t.unreadable)
        );
    }
    let _ = write!(
        h,
        "</table><div class=\"legend\">From <span class=\"mono\">{}</span>. Rebuild this page with <span class=\"mono\">mable-pipeline report {}</span>; compare two runs with <span class=\"mono\">mable-pipeline report RUN_A RUN_B</span>.</div></section>",
        esc(&run.dir.display().to_string()),
        esc(&run.dir.display().to_string())
    );
}
