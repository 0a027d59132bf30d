//! The verdict in words: one headline (also printed after the run) and the
//! sentences that qualify it.

use super::format::{count, ms, ns, pct};
use super::model::Run;
use super::verdict::{Part, Verdict, WhatIf};

/// A part's name in a sentence.
pub fn part_name(run: &Run, part: Part) -> String {
    match part {
        Part::Stage(s) => format!("stage `{}`", run.stages[s].path),
        Part::Timely => {
            "timely's own work (moving records between operators and workers, progress tracking)"
                .into()
        }
        Part::Input => input_name(run),
        Part::Startup => "start-up (before the first batch entered)".into(),
    }
}

/// A part's short label for tables.
pub fn part_label(run: &Run, part: Part) -> String {
    match part {
        Part::Stage(s) => run.stages[s].path.clone(),
        Part::Timely => "timely (exchange, progress)".into(),
        Part::Input => "input, outside the dataflow".into(),
        Part::Startup => "start-up".into(),
    }
}

fn input_name(run: &Run) -> String {
    let input = &run.info.input;
    if input.contains("cycled") {
        "making the input (cycling the file's records with fresh ids)".into()
    } else if input.contains("generated") || input.is_empty() && run.info.args.contains("--size") {
        "generating the input records".into()
    } else {
        "reading and parsing the input".into()
    }
}

fn saving(v: &Verdict, w: &WhatIf) -> String {
    let saved = v.elapsed_ms - w.estimate_ms;
    if saved < 0.001 * v.elapsed_ms {
        return "making it 2× faster would not shorten the run measurably".into();
    }
    format!(
        "2× faster, the run would take about {} instead of {} (−{})",
        ms(w.estimate_ms),
        ms(v.elapsed_ms),
        pct(saved / v.elapsed_ms.max(1e-9))
    )
}

/// The verdict in one sentence.
pub fn headline(run: &Run, v: &Verdict) -> String {
    let Some(bound) = v.bound() else {
        return "no stage reported any work: nothing to judge".into();
    };
    let elapsed = ms(v.elapsed_ms);
    match bound.part {
        Part::Stage(s) => {
            let worker = bound.worker.unwrap_or(0);
            format!(
                "stage `{}` bounds the run: {} on worker {worker}, the most any stage kept one worker busy in the {elapsed} run; {}.",
                run.stages[s].path,
                ns(bound.time_ns),
                saving(v, bound)
            )
        }
        Part::Timely => format!(
            "timely's own work bounds the run, not a stage: {} on worker {} moving records between operators and workers ({} records crossed workers) and tracking progress; {}.",
            ns(bound.time_ns),
            bound.worker.unwrap_or(0),
            count(v.exchanged_records),
            saving(v, bound)
        ),
        Part::Input => format!(
            "input bounds the run, not a stage: every worker spent at least {} of the {elapsed} outside the dataflow, {}; {}.",
            ns(bound.time_ns),
            input_name(run),
            saving(v, bound)
        ),
        Part::Startup => format!(
            "start-up dominates this short run: {} of the {elapsed} passed before the first batch entered, and the stages took {} on their busiest worker.",
            ns(bound.time_ns),
            ns(busiest_stage_ns(v))
        ),
    }
}

fn busiest_stage_ns(v: &Verdict) -> u64 {
    v.what_if
        .iter()
        .filter(|w| matches!(w.part, Part::Stage(_)))
        .map(|w| w.time_ns)
        .max()
        .unwrap_or(0)
}

/// Sentences that qualify the headline: the runner-up, skew, lost rows and
/// what the data cannot tell.
pub fn details(run: &Run, v: &Verdict) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(rows) = v.lost_rows {
        out.push(format!(
            "The metrics sink was a limit: {} rows were dropped or failed (a worker drops rows after waiting 100 ms for the sink), so the figures here under-count, and the time workers waited for the sink shows as time outside the dataflow.",
            count(rows)
        ));
    }
    if let Some((covered, read)) = v.uncovered {
        out.push(format!(
            "The metrics sink lost rows: the stage rows account for {} of the {} records the run read, so the figures here under-count.",
            count(covered),
            count(read)
        ));
    }
    let Some(bound) = v.bound() else { return out };
    // The busiest stage (most time on one worker), when the bound is not a stage.
    if !matches!(bound.part, Part::Stage(_))
        && let Some(s) = v
            .what_if
            .iter()
            .filter(|w| matches!(w.part, Part::Stage(_)) && w.time_ns > 0)
            .max_by_key(|w| w.time_ns)
    {
        out.push(format!(
            "The busiest stage is {}: {} on worker {}; {}.",
            part_name(run, s.part),
            ns(s.time_ns),
            s.worker.unwrap_or(0),
            saving(v, s)
        ));
    } else if let Some(next) = v.what_if.get(1)
        && next.estimate_ms < v.elapsed_ms
    {
        out.push(format!(
            "Next: {}, {}; {}.",
            part_name(run, next.part),
            ns(next.time_ns),
            saving(v, next)
        ));
    }
    for s in &v.skews {
        let stage = &run.stages[s.stage].path;
        let why = if s.records_ratio >= 1.25 {
            format!(
                "it received {:.1}× the mean records — the records are unevenly spread (a hot key?)",
                s.records_ratio
            )
        } else {
            format!(
                "with {:.1}× the mean records — the same share of data cost it more (a slow record, or a busy core?)",
                s.records_ratio
            )
        };
        out.push(format!(
            "Skew: worker {} carried {:.1}× the mean busy time of `{stage}` ({} vs a mean of {}); {why}.",
            s.worker,
            s.ratio(),
            ns(s.busy_ns),
            ns(s.mean_ns)
        ));
    }
    if !v.has_log {
        out.push("The run wrote no timely operator log (it ended early), so time inside the dataflow but outside the stages cannot be told from time outside it; both count as outside.".into());
    }
    if run.info.status != "ok" {
        out.push(format!(
            "The run did not finish ({}): these figures cover the batches it completed.",
            if run.info.error.is_empty() {
                run.info.status.clone()
            } else {
                run.info.error.clone()
            }
        ));
    }
    out
}
