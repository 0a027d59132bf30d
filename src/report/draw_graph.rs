//! Drawing the stage graph and timely's operator graph as SVG.

use std::fmt::Write;

use super::format::{count, esc, ns, pct};
use super::graph::{Graph, NodeKind};
use super::layout::{Layout, layered};
use super::model::Run;
use super::svg::{Svg, heat, n};

/// Node box sizes and gaps of one drawing.
struct Geometry {
    w: f64,
    h: f64,
    gap_x: f64,
    gap_y: f64,
    margin: f64,
}

impl Geometry {
    /// The drawing's width and where each layout point goes (a node's top centre).
    fn place(&self, layout: &Layout) -> (f64, Placer) {
        let cols = || {
            layout
                .nodes
                .iter()
                .map(|p| p.0)
                .chain(layout.edges.iter().flatten().map(|p| p.0))
        };
        let min_col = cols().fold(0.0, f64::min);
        let max_col = cols().fold(0.0, f64::max);
        let width =
            (max_col - min_col + 1.0) * (self.w + self.gap_x) - self.gap_x + 2.0 * self.margin;
        let placer = Placer {
            min_col,
            x0: self.margin + self.w / 2.0,
            dx: self.w + self.gap_x,
            y0: self.margin,
            dy: self.h + self.gap_y,
        };
        (width, placer)
    }

    fn height(&self, layout: &Layout) -> f64 {
        layout.layers as f64 * (self.h + self.gap_y) - self.gap_y + 2.0 * self.margin
    }
}

struct Placer {
    min_col: f64,
    x0: f64,
    dx: f64,
    y0: f64,
    dy: f64,
}

impl Placer {
    fn at(&self, (col, layer): (f64, usize)) -> (f64, f64) {
        (
            self.x0 + (col - self.min_col) * self.dx,
            self.y0 + layer as f64 * self.dy,
        )
    }
}

/// The edge path through `points` (node tops/bottoms and placeholders).
fn edge_path(points: &[(f64, f64)]) -> String {
    let mut d = String::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        if i == 0 {
            let _ = write!(d, "M{} {}", n(x), n(y));
        } else {
            let (px, py) = points[i - 1];
            let my = (py + y) / 2.0;
            let _ = write!(
                d,
                " C{} {} {} {} {} {}",
                n(px),
                n(my),
                n(x),
                n(my),
                n(x),
                n(y)
            );
        }
    }
    d
}

/// The stage graph: every stage a box coloured by its share of stage time
/// (`cost_ns` per stage: busy time plus helpers, over all workers).
pub fn stages(run: &Run, g: &Graph, cost_ns: &[u64]) -> String {
    let edges: Vec<(usize, usize)> = g.edges.iter().map(|e| (e.from, e.to)).collect();
    let layout = layered(g.nodes.len(), &edges);
    let geo = Geometry {
        w: 300.0,
        h: 66.0,
        gap_x: 36.0,
        gap_y: 54.0,
        margin: 12.0,
    };
    let (width, placer) = geo.place(&layout);
    let at = |p| placer.at(p);
    let height = geo.height(&layout);
    let total: u64 = cost_ns.iter().sum();
    let mut svg = Svg::new(
        width,
        height,
        r#"class="graph" role="img" aria-label="stage graph""#,
    );
    svg.raw(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#667"/></marker></defs>"##);
    let size = |k: NodeKind| match k {
        NodeKind::Input | NodeKind::End => (150.0, 30.0),
        _ => (geo.w, geo.h),
    };
    // Edges first, under the boxes.
    for (e, points) in g.edges.iter().zip(&layout.edges) {
        let mut pts: Vec<(f64, f64)> = points.iter().map(|&p| at(p)).collect();
        let (_, fh) = size(g.nodes[e.from]);
        if let Some(first) = pts.first_mut() {
            first.1 += fh / 2.0 + geo.h / 2.0;
        }
        let (_, th) = size(g.nodes[e.to]);
        if let Some(last) = pts.last_mut() {
            last.1 += geo.h / 2.0 - th / 2.0 - 1.0;
        }
        // Placeholder points sit at box centres: route through the middle.
        let k = pts.len();
        for p in pts.iter_mut().take(k - 1).skip(1) {
            p.1 += geo.h / 2.0;
        }
        let class = if e.exchange { "edge exchange" } else { "edge" };
        svg.path(
            &edge_path(&pts),
            &format!(r#"class="{class}" marker-end="url(#arrow)""#),
        );
        if let Some(records) = e.records {
            let (x0, y0) = pts[0];
            let (x1, y1) = pts[1];
            let (lx, ly) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0 + 4.0);
            let label = if e.exchange {
                format!("⇄ {}", count(records))
            } else {
                count(records)
            };
            let title = if e.exchange {
                format!(
                    "{} records; some crossed workers (an exchange)",
                    count(records)
                )
            } else {
                format!("{} records", count(records))
            };
            let w = 7.0 * label.chars().count() as f64 + 10.0;
            svg.rect_titled(
                lx - w / 2.0,
                ly - 12.0,
                w,
                16.0,
                r#"class="edge-label-bg" rx="3""#,
                &title,
            );
            svg.text(lx, ly, r#"class="edge-label" text-anchor="middle""#, &label);
        }
    }
    for (i, kind) in g.nodes.iter().enumerate() {
        let (cx, top) = at(layout.nodes[i]);
        let (w, h) = size(*kind);
        let x = cx - w / 2.0;
        let y = top + geo.h / 2.0 - h / 2.0;
        match *kind {
            NodeKind::Input | NodeKind::End => {
                let label = if *kind == NodeKind::Input {
                    format!("input · {}", count(run.info.records_in))
                } else {
                    format!("end · {}", count(run.info.records_out))
                };
                svg.rect(x, y, w, h, r#"class="terminal" rx="15""#);
                svg.text(
                    cx,
                    y + 19.0,
                    r#"class="terminal-label" text-anchor="middle""#,
                    &label,
                );
            }
            NodeKind::Stage(s) => {
                let st = &run.stages[s];
                let share = cost_ns[s] as f64 / total.max(1) as f64;
                // √share spreads the small shares apart; 100 % would be the darkest.
                let (fill, dark) = heat(0.95 * share.sqrt());
                let text = if dark { " light" } else { "" };
                svg.raw(&format!(
                    r#"<g class="node" data-stage="{}" data-in="{}" data-out="{}">"#,
                    esc(&st.path),
                    st.input,
                    st.output
                ));
                svg.rect_titled(
                    x,
                    y,
                    w,
                    h,
                    &format!(r#"rx="6" fill="{fill}" class="box""#),
                    &format!(
                        "{} ({})\n{} records in, {} out\nbusy {} over all workers; {} of stage time",
                        st.path,
                        st.kind,
                        count(st.input),
                        count(st.output),
                        ns(cost_ns[s]),
                        pct(share)
                    ),
                );
                let branch = branch_of(&st.path);
                let name_x = x + 10.0;
                if let Some(b) = branch {
                    svg.text(
                        name_x,
                        y + 18.0,
                        &format!(r#"class="branch{text}""#),
                        &format!("{b} ›"),
                    );
                }
                let nx = name_x + branch.map_or(0.0, |b| 7.0 * b.len() as f64 + 16.0);
                // Bold 13 px is about 7.6 px a character; the kind keeps its room on the right.
                let room = ((x + w - 16.0 - 6.2 * st.kind.len() as f64 - nx) / 7.6).max(4.0);
                svg.text(
                    nx,
                    y + 18.0,
                    &format!(r#"class="name{text}""#),
                    &ellipsis(st.name(), room as usize),
                );
                svg.text(
                    x + w - 8.0,
                    y + 18.0,
                    &format!(r#"class="kind{text}" text-anchor="end""#),
                    &st.kind,
                );
                svg.text(
                    name_x,
                    y + 38.0,
                    &format!(r#"class="counts{text}""#),
                    &format!(
                        "{} → {}  {}",
                        count(st.input),
                        count(st.output),
                        selectivity(st.input, st.output)
                    ),
                );
                svg.text(
                    name_x,
                    y + 56.0,
                    &format!(r#"class="busy{text}""#),
                    &format!("busy {} · {}", ns(cost_ns[s]), pct(share)),
                );
                svg.raw("</g>");
            }
            NodeKind::Operator(_) => {}
        }
    }
    svg.finish()
}

/// `then` or `else` when the stage sits in an `if_else` branch.
fn branch_of(path: &str) -> Option<&str> {
    let mut parts = path.rsplit('/');
    parts.next()?;
    parts.next().filter(|b| *b == "then" || *b == "else")
}

/// `s` in at most `max` characters, cut with `…` (the full text is in the box's title).
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Out ÷ in, as a share (`25 %`) or a factor (`×2.00`).
pub fn selectivity(input: u64, output: u64) -> String {
    if input == 0 {
        return String::new();
    }
    let r = output as f64 / input as f64;
    if r <= 1.0 {
        format!("({} kept)", pct(r))
    } else {
        format!("(×{r:.2})")
    }
}

/// Timely's operator graph: every operator of the pipeline's dataflow with
/// its scheduling time over all workers.
pub fn operators(run: &Run, g: &Graph) -> String {
    let edges: Vec<(usize, usize)> = g.edges.iter().map(|e| (e.from, e.to)).collect();
    let layout = layered(g.nodes.len(), &edges);
    let geo = Geometry {
        w: 210.0,
        h: 44.0,
        gap_x: 24.0,
        gap_y: 40.0,
        margin: 12.0,
    };
    let (width, placer) = geo.place(&layout);
    let at = |p| placer.at(p);
    let height = geo.height(&layout);
    let total: u64 = g
        .nodes
        .iter()
        .map(|k| match k {
            NodeKind::Operator(o) => run.operators[*o].total_ns(),
            _ => 0,
        })
        .sum();
    let mut svg = Svg::new(
        width,
        height,
        r#"class="graph" role="img" aria-label="timely operator graph""#,
    );
    svg.raw(r##"<defs><marker id="arrow2" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#667"/></marker></defs>"##);
    for (e, points) in g.edges.iter().zip(&layout.edges) {
        let mut pts: Vec<(f64, f64)> = points.iter().map(|&p| at(p)).collect();
        if let Some(first) = pts.first_mut() {
            first.1 += geo.h;
        }
        let k = pts.len();
        for p in pts.iter_mut().take(k - 1).skip(1) {
            p.1 += geo.h / 2.0;
        }
        if let Some(last) = pts.last_mut() {
            last.1 -= 1.0;
        }
        let class = if e.exchange { "edge exchange" } else { "edge" };
        svg.path(
            &edge_path(&pts),
            &format!(r#"class="{class}" marker-end="url(#arrow2)""#),
        );
        if let (Some(records), true) = (e.records, pts.len() > 1) {
            let (x0, y0) = pts[0];
            let (x1, y1) = pts[1];
            let label = count(records);
            let w = 7.0 * label.len() as f64 + 8.0;
            let (lx, ly) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0 + 4.0);
            svg.rect(
                lx - w / 2.0,
                ly - 12.0,
                w,
                16.0,
                r#"class="edge-label-bg" rx="3""#,
            );
            svg.text(lx, ly, r#"class="edge-label" text-anchor="middle""#, &label);
        }
    }
    for (i, kind) in g.nodes.iter().enumerate() {
        let NodeKind::Operator(o) = *kind else {
            continue;
        };
        let op = &run.operators[o];
        let (cx, y) = at(layout.nodes[i]);
        let x = cx - geo.w / 2.0;
        let t = op.total_ns();
        let (fill, dark) = heat(0.95 * (t as f64 / total.max(1) as f64).sqrt());
        let text = if dark { " light" } else { "" };
        let class = if op.stage_path.is_empty() {
            "box internal"
        } else {
            "box"
        };
        svg.rect_titled(
            x,
            y,
            geo.w,
            geo.h,
            &format!(r#"rx="5" fill="{fill}" class="{class}""#),
            &format!(
                "{} (operator {}, address {})\n{}scheduled {} over all workers ({} of the dataflow's operator time), {} activations, longest {}",
                op.name,
                op.id,
                op.address,
                if op.stage_path.is_empty() {
                    String::new()
                } else {
                    format!("stage {}\n", op.stage_path)
                },
                ns(t),
                pct(t as f64 / total.max(1) as f64),
                count(op.activations),
                ns(op.max_activation_ns)
            ),
        );
        svg.text(
            x + 8.0,
            y + 17.0,
            &format!(r#"class="name{text}""#),
            &ellipsis(&op.name, 25),
        );
        svg.text(
            x + 8.0,
            y + 35.0,
            &format!(r#"class="busy{text}""#),
            &format!("{} · {} act.", ns(t), count(op.activations)),
        );
    }
    svg.finish()
}
