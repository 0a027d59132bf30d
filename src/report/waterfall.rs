//! The data the page's script draws batch waterfalls from: for every batch
//! kept in detail, each stage × worker span as offsets from the batch's
//! entry, in a flat array of numbers (compact for big runs).

use std::fmt::Write;

use super::model::{Run, batch_time};
use super::svg::STAGE_COLOURS;

/// Numbers per span in a batch's flat array: stage, worker, start µs, length
/// µs, busy µs, records in, records out.
pub const SPAN_FIELDS: usize = 7;

/// The JSON the page's script reads (safe to put inside `<script>`).
pub fn data_json(run: &Run) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("{\"stages\":[");
    for (i, s) in run.stages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"p\":{},\"k\":{}}}",
            json_str(&s.path),
            json_str(&s.kind)
        );
    }
    let _ = write!(out, "],\"workers\":{},\"colours\":[", run.workers);
    for (i, c) in STAGE_COLOURS.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{c}\"");
    }
    // Batches in id order: [id, latency ms or -1, records].
    out.push_str("],\"batches\":[");
    for (i, b) in run.batches.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "[{},{},{}]",
            b.id,
            b.latency_ms.map_or("-1".into(), |l| format!("{l:.3}")),
            b.records
        );
    }
    // The latency chart's points, in order: batch ids.
    out.push_str("],\"lat\":[");
    let mut first = true;
    for b in run.batches.iter().filter(|b| b.latency_ms.is_some()) {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{}", b.id);
    }
    out.push_str("],\"detail\":{");
    let by_id: std::collections::HashMap<u32, &super::model::Batch> =
        run.batches.iter().map(|b| (b.id, b)).collect();
    for (i, (id, spans)) in run.spans.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let batch = by_id.get(id);
        let first_start = spans.iter().map(|s| s.start_us).min().unwrap_or(0);
        let t0 = batch
            .map(|b| b.entered_us)
            .filter(|&e| e > 0 && e <= first_start)
            .unwrap_or(first_start);
        let end = batch
            .filter(|b| b.completed_us > 0)
            .map_or(-1, |b| b.completed_us.saturating_sub(t0) as i64);
        let _ = write!(out, "\"{id}\":{{\"end\":{end},\"s\":[");
        for (j, s) in spans.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            // Thousands of numbers: written digit by digit, not through `fmt`.
            for (k, v) in [
                u64::from(s.stage),
                u64::from(s.worker),
                s.start_us.saturating_sub(t0),
                s.end_us - s.start_us,
            ]
            .into_iter()
            .enumerate()
            {
                if k > 0 {
                    out.push(',');
                }
                push_u64(&mut out, v);
            }
            out.push(',');
            push_busy_us(&mut out, s.busy_ns);
            out.push(',');
            push_u64(&mut out, s.input);
            out.push(',');
            push_u64(&mut out, s.output);
        }
        out.push_str("]}");
    }
    let slowest = run
        .batches
        .iter()
        .filter(|b| run.spans.contains_key(&b.id))
        .max_by(|a, b| {
            batch_time(a)
                .total_cmp(&batch_time(b))
                .then(b.id.cmp(&a.id))
        })
        .map_or(-1, |b| b.id as i64);
    let _ = write!(
        out,
        "}},\"slowest\":{slowest},\"complete\":{}}}",
        run.spans_complete
    );
    debug_assert_eq!(SPAN_FIELDS, 7);
    // `</script>` inside the data would end the script element.
    out.replace("</", "<\\/")
}

/// Appends `n` in decimal.
fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Appends busy µs to a tenth, without a trailing `.0`.
fn push_busy_us(out: &mut String, ns: u64) {
    let tenths = (ns + 50) / 100;
    push_u64(out, tenths / 10);
    if !tenths.is_multiple_of(10) {
        out.push('.');
        out.push((b'0' + (tenths % 10) as u8) as char);
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_plainly() {
        let busy = |ns| {
            let mut s = String::new();
            push_busy_us(&mut s, ns);
            s
        };
        assert_eq!(busy(16384), "16.4");
        assert_eq!(busy(2_000_000), "2000");
        assert_eq!(busy(0), "0");
        let mut s = String::new();
        push_u64(&mut s, u64::MAX);
        push_u64(&mut s, 0);
        assert_eq!(s, "184467440737095516150");
    }
}
