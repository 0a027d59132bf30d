//! The report's charts as SVG: batch latency over the run, the worker ×
//! stage heat map of busy time, and where each worker's time went.

use super::format::{count, ms, ns, pct};
use super::model::{Percentiles, Run};
use super::svg::{STAGE_COLOURS, Svg, heat, n};
use super::verdict::Verdict;
use std::fmt::Write;

/// A "nice" step for about `parts` ticks up to `max`.
fn nice_step(max: f64, parts: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / parts;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Each batch's end-to-end latency, in batch order, with p50, p95 and the
/// maximum marked. Bars up to 400 batches, a line beyond.
pub fn latency(run: &Run, p: &Percentiles) -> String {
    let (w, h) = (1100.0, 250.0);
    let (left, right, top, bottom) = (58.0, 150.0, 14.0, 34.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let points: Vec<(u32, f64, u64)> = run
        .batches
        .iter()
        .filter_map(|b| Some((b.id, b.latency_ms?, b.records)))
        .collect();
    let step = nice_step(p.max, 4.0);
    let y_max = ((p.max / step).ceil() * step).max(step);
    let y = |v: f64| top + ph - v / y_max * ph;
    let count_pts = points.len().max(1) as f64;
    let x = |i: usize| left + (i as f64 + 0.5) / count_pts * pw;
    let mut svg = Svg::new(
        w,
        h,
        r#"class="chart" id="latency-chart" role="img" aria-label="batch latency""#,
    );
    let mut v = 0.0;
    while v <= y_max + step / 2.0 {
        svg.line(left, y(v), left + pw, y(v), r#"class="grid""#);
        svg.text(
            left - 6.0,
            y(v) + 4.0,
            r#"class="tick" text-anchor="end""#,
            &if v == 0.0 { "0".to_string() } else { ms(v) },
        );
        v += step;
    }
    let ticks = 8.min(points.len());
    for t in 0..ticks {
        let i = if ticks > 1 {
            t * (points.len() - 1) / (ticks - 1)
        } else {
            0
        };
        svg.text(
            x(i),
            top + ph + 16.0,
            r#"class="tick" text-anchor="middle""#,
            &points[i].0.to_string(),
        );
    }
    svg.text(
        left + pw / 2.0,
        h - 2.0,
        r#"class="axis-label" text-anchor="middle""#,
        "batch",
    );
    if points.len() <= 400 {
        let bw = (pw / count_pts * 0.8).clamp(0.5, 36.0);
        for (i, &(id, lat, records)) in points.iter().enumerate() {
            let class = if id == p.max_batch { "bar max" } else { "bar" };
            svg.rect_titled(
                x(i) - bw / 2.0,
                y(lat),
                bw,
                top + ph - y(lat),
                &format!(r#"class="{class}" data-batch="{id}""#),
                &format!("batch {id}: {} ({} records)", ms(lat), count(records)),
            );
        }
    } else {
        let mut d = String::with_capacity(points.len() * 12);
        for (i, &(_, lat, _)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{} {}",
                if i == 0 { 'M' } else { 'L' },
                n(x(i)),
                n(y(lat))
            );
        }
        svg.path(&d, r#"class="series""#);
    }
    // Labels at the right, kept 14 px apart (p95 above p50), below the max's.
    let y95 = y(p.p95).min(y(p.p50) - 14.0).max(top + 22.0);
    let y50 = y(p.p50).max(y95 + 14.0);
    for (label, value, class, at) in [("p50", p.p50, "p50", y50), ("p95", p.p95, "p95", y95)] {
        svg.line(
            left,
            y(value),
            left + pw,
            y(value),
            &format!(r#"class="mark {class}""#),
        );
        svg.text(
            left + pw + 8.0,
            at + 4.0,
            &format!(r#"class="mark-label {class}""#),
            &format!("{label} {}", ms(value)),
        );
    }
    if let Some(i) = points.iter().position(|pt| pt.0 == p.max_batch) {
        svg.raw(&format!(
            r#"<circle cx="{}" cy="{}" r="4.5" class="max-dot"/>"#,
            n(x(i)),
            n(y(p.max))
        ));
        svg.text(
            left + pw + 8.0,
            top + 8.0,
            r#"class="mark-label max""#,
            &format!("max {} (batch {})", ms(p.max), p.max_batch),
        );
    }
    svg.rect(
        left,
        top,
        pw,
        ph,
        &format!(
            r#"class="pick" id="latency-pick" data-batches="{}""#,
            points.len()
        ),
    );
    svg.finish()
}

/// Busy time per stage (rows) and worker (columns): stage code plus its
/// helper operators, coloured on one scale, with each stage's max ÷ mean.
pub fn heat_map(run: &Run, v: &Verdict) -> String {
    let workers = run.workers as usize;
    let label_w = 230.0;
    let cell_w = (780.0 / workers.max(1) as f64).clamp(9.0, 70.0);
    let cell_h = 26.0;
    let top = 34.0;
    let grid_w = cell_w * workers as f64;
    let w = label_w + grid_w + 110.0;
    let h = top + cell_h * run.stages.len() as f64 + 8.0;
    let max = v
        .workers
        .iter()
        .flat_map(|t| t.stage_ns.iter().copied())
        .max()
        .unwrap_or(0);
    let mut svg = Svg::new(
        w,
        h,
        r#"class="chart heat" role="img" aria-label="busy time by worker and stage""#,
    );
    let every = (22.0 / cell_w).ceil() as usize;
    for wk in (0..workers).step_by(every.max(1)) {
        svg.text(
            label_w + (wk as f64 + 0.5) * cell_w,
            top - 8.0,
            r#"class="tick" text-anchor="middle""#,
            &format!("{}{wk}", if cell_w >= 30.0 { "w" } else { "" }),
        );
    }
    if run.info.processes > 1 {
        let mut start = 0;
        for wk in 1..=workers {
            if wk == workers || run.process_of[wk] != run.process_of[start] {
                let x0 = label_w + start as f64 * cell_w;
                svg.line(x0, 2.0, x0, h, r#"class="process-rule""#);
                svg.text(
                    x0 + 3.0,
                    11.0,
                    r#"class="tick""#,
                    &format!("process {}", run.process_of[start]),
                );
                start = wk;
            }
        }
    }
    svg.text(
        label_w + grid_w + 10.0,
        top - 8.0,
        r#"class="tick""#,
        "max ÷ mean",
    );
    for (s, stage) in run.stages.iter().enumerate() {
        let y = top + s as f64 * cell_h;
        svg.text(
            label_w - 8.0,
            y + cell_h / 2.0 + 4.0,
            r#"class="row-label" text-anchor="end""#,
            &stage.path,
        );
        let row: Vec<u64> = v.workers.iter().map(|t| t.stage_ns[s]).collect();
        for (wk, &busy) in row.iter().enumerate() {
            let (fill, dark) = heat(busy as f64 / max.max(1) as f64);
            let x = label_w + wk as f64 * cell_w;
            let cell = run.cell(s, wk);
            svg.rect_titled(
                x,
                y,
                cell_w - 1.0,
                cell_h - 1.0,
                &format!(r#"fill="{fill}""#),
                &format!(
                    "{} · worker {wk} (process {}): busy {}, {} records in, {} out",
                    stage.path,
                    run.process_of[wk],
                    ns(busy),
                    count(cell.input),
                    count(cell.output)
                ),
            );
            if cell_w >= 56.0 {
                svg.text(
                    x + cell_w / 2.0,
                    y + cell_h / 2.0 + 4.0,
                    &format!(
                        r#"class="cell-label{}" text-anchor="middle""#,
                        if dark { " light" } else { "" }
                    ),
                    &ns(busy),
                );
            }
        }
        let mean = row.iter().sum::<u64>() as f64 / workers.max(1) as f64;
        let top_busy = row.iter().copied().max().unwrap_or(0);
        let ratio = top_busy as f64 / mean.max(1.0);
        let skewed = v.skews.iter().any(|k| k.stage == s);
        svg.text(
            label_w + grid_w + 10.0,
            y + cell_h / 2.0 + 4.0,
            &format!(
                r#"class="ratio{}" data-stage="{}""#,
                if skewed { " skewed" } else { "" },
                super::format::esc(&stage.path)
            ),
            &if mean > 0.0 {
                format!("{ratio:.2}×{}", if skewed { " skew" } else { "" })
            } else {
                "—".into()
            },
        );
    }
    svg.finish()
}

/// One stacked bar per worker: its stages, timely's own work, and the time
/// outside the dataflow, over its process's elapsed time.
pub fn worker_time(run: &Run, v: &Verdict) -> String {
    let workers = v.workers.len();
    let bar_h = if workers <= 16 { 18.0 } else { 7.0 };
    let gap = if workers <= 16 { 6.0 } else { 2.0 };
    let (left, width) = (40.0, 440.0);
    let top = 8.0;
    let h = top + workers as f64 * (bar_h + gap) + 8.0;
    let longest = v
        .workers
        .iter()
        .map(|t| t.elapsed_ns)
        .max()
        .unwrap_or(1)
        .max(1);
    let scale = width / longest as f64;
    let mut svg = Svg::new(
        left + width + 20.0,
        h,
        r#"class="chart" role="img" aria-label="each worker's time""#,
    );
    for (i, t) in v.workers.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        if workers <= 16 || i % 4 == 0 {
            svg.text(
                left - 8.0,
                y + bar_h - 1.0,
                r#"class="tick" text-anchor="end""#,
                &format!("w{}", t.worker),
            );
        }
        let mut x = left;
        let mut seg = |svg: &mut Svg, len: u64, attrs: &str, what: String| {
            let w = len as f64 * scale;
            if w > 0.0 {
                svg.rect_titled(
                    x,
                    y,
                    w,
                    bar_h,
                    attrs,
                    &format!("worker {}: {what}", t.worker),
                );
            }
            x += w;
        };
        for (s, &c) in t.stage_ns.iter().enumerate() {
            seg(
                &mut svg,
                c,
                &format!(r#"fill="{}""#, STAGE_COLOURS[s % STAGE_COLOURS.len()]),
                format!(
                    "{} {} ({} of its time)",
                    run.stages[s].path,
                    ns(c),
                    pct(c as f64 / t.elapsed_ns.max(1) as f64)
                ),
            );
        }
        if let Some(timely) = t.timely_ns {
            seg(
                &mut svg,
                timely,
                r#"class="seg-timely""#,
                format!("timely's own work {}", ns(timely)),
            );
        }
        seg(
            &mut svg,
            t.outside_ns,
            r#"class="seg-outside""#,
            format!(
                "outside the dataflow {} (start-up, input, metric rows, waiting)",
                ns(t.outside_ns)
            ),
        );
    }
    svg.finish()
}
