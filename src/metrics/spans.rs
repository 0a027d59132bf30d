//! Traces of batches (`pipeline_spans`), capped.
//!
//! A batch's trace is one root span (the batch from entering the input to
//! the probe passing it, as `pipeline_batches` has it on global worker 0)
//! and one child span per stage × worker (as `pipeline_metrics` has it:
//! first container's start to last container's end, records in/out, busy
//! time). Every batch would make `1 + S × W` spans — millions for a run of
//! one-record batches — so each worker keeps spans for few batches only:
//!
//! - its [`SLOWEST_BATCHES`] slowest (a bounded min-heap: by latency for the
//!   roots on worker 0, by the batch's extent on that worker — first stage
//!   start to last stage end — for stage spans), and
//! - an even sample of at most [`SAMPLED_BATCHES`]: the batches whose id is
//!   a multiple of `k`, with `k` doubling whenever more than that many were
//!   kept. Every worker samples the same ids, so sampled batches have whole
//!   traces.
//!
//! Memory holds at most `SLOWEST_BATCHES + SAMPLED_BATCHES + 1` batches'
//! rows per worker; the spans are made once, at the end of the run. So a
//! run writes at most `(SLOWEST_BATCHES + SAMPLED_BATCHES) × (S × W + 1)`
//! spans, whatever its length.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use sha2::{Digest, Sha256};

use super::rows::{BatchRow, SpanRow, StageMetricRow};

/// Slowest batches each worker keeps spans for.
pub const SLOWEST_BATCHES: usize = 20;
/// Most sampled batches each worker keeps spans for.
pub const SAMPLED_BATCHES: usize = 40;

/// Batches kept by the rule above, each with what its spans are made of.
#[derive(Debug)]
struct Kept<T> {
    /// `(duration, batch)` of the slowest, the fastest of them on top.
    slowest: BinaryHeap<Reverse<(u64, u32)>>,
    /// The sample is the batches whose id is a multiple of this.
    every: u32,
    kept: BTreeMap<u32, T>,
}

impl<T> Default for Kept<T> {
    fn default() -> Kept<T> {
        Kept {
            slowest: BinaryHeap::new(),
            every: 1,
            kept: BTreeMap::new(),
        }
    }
}

impl<T> Kept<T> {
    fn is_slowest(&self, batch: u32) -> bool {
        self.slowest.iter().any(|Reverse((_, b))| *b == batch)
    }

    /// Offers a batch; `payload` is made only when the batch is kept, so
    /// the rows of the many batches that are not are never copied.
    fn offer(&mut self, batch: u32, duration: u64, payload: impl FnOnce() -> T) {
        let mut slow = false;
        if self.slowest.len() < SLOWEST_BATCHES {
            self.slowest.push(Reverse((duration, batch)));
            slow = true;
        } else if self
            .slowest
            .peek()
            .is_some_and(|Reverse((d, _))| duration > *d)
        {
            let Reverse((_, out)) = self.slowest.pop().expect("peeked");
            self.slowest.push(Reverse((duration, batch)));
            slow = true;
            if !out.is_multiple_of(self.every) {
                self.kept.remove(&out);
            }
        }
        if !slow && !batch.is_multiple_of(self.every) {
            return;
        }
        self.kept.insert(batch, payload());
        while self
            .kept
            .keys()
            .filter(|b| b.is_multiple_of(self.every))
            .count()
            > SAMPLED_BATCHES
        {
            self.every *= 2;
            let every = self.every;
            let slowest: Vec<u32> = self.slowest.iter().map(|Reverse((_, b))| *b).collect();
            self.kept
                .retain(|b, _| b.is_multiple_of(every) || slowest.contains(b));
        }
        debug_assert!(
            self.kept
                .keys()
                .all(|b| b.is_multiple_of(self.every) || self.is_slowest(*b))
        );
    }
}

/// One worker's kept batches, turned into spans at the end of the run.
#[derive(Debug, Default)]
pub struct SpanKeeper {
    stages: Kept<Vec<StageMetricRow>>,
    roots: Kept<BatchRow>,
}

impl SpanKeeper {
    /// Offers the stage rows of finished batches (all stages of a batch on
    /// this worker come in one call, as `drain_completed` makes them).
    pub fn offer_stages(&mut self, rows: &[StageMetricRow]) {
        // Each batch's extent: first stage start to last stage end. A stage
        // that saw nothing of the batch has a zero-length row at drain time:
        // it says nothing about the extent.
        let mut extent: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for r in rows {
            let e = extent.entry(r.batch_id).or_insert((u64::MAX, 0));
            if r.busy_ns > 0 {
                e.0 = e.0.min(r.start_us);
                e.1 = e.1.max(r.end_us);
            }
        }
        for (batch, (start, end)) in extent {
            let duration = if start == u64::MAX {
                0
            } else {
                end.saturating_sub(start)
            };
            self.stages.offer(batch, duration, || {
                rows.iter()
                    .filter(|r| r.batch_id == batch)
                    .cloned()
                    .collect()
            });
        }
    }

    /// Offers batch latency rows (global worker 0 has them).
    pub fn offer_batches(&mut self, rows: &[BatchRow]) {
        for r in rows {
            let latency = r.completed_us.saturating_sub(r.entered_us);
            self.roots.offer(r.batch_id, latency, || r.clone());
        }
    }

    /// The spans of every kept batch.
    pub fn rows(&self) -> Vec<SpanRow> {
        let mut out = Vec::new();
        for r in self.roots.kept.values() {
            out.push(SpanRow {
                run_id: r.run_id.clone(),
                dataflow: r.dataflow.clone(),
                batch_id: r.batch_id,
                trace_id: trace_id(&r.run_id, r.batch_id),
                span_id: span_id(&r.run_id, r.batch_id, "", 0),
                parent_span_id: String::new(),
                service_name: r.dataflow.clone(),
                operation_name: "batch".into(),
                start_us: r.entered_us,
                duration_us: r.completed_us.saturating_sub(r.entered_us),
                worker_id: r.worker_id,
                process_id: r.process_id,
                records_in: r.records_in,
                records_out: 0,
                busy_ns: 0,
                timestamp: r.timestamp,
            });
        }
        for r in self.stages.kept.values().flatten() {
            out.push(SpanRow {
                run_id: r.run_id.clone(),
                dataflow: r.dataflow.clone(),
                batch_id: r.batch_id,
                trace_id: trace_id(&r.run_id, r.batch_id),
                span_id: span_id(&r.run_id, r.batch_id, &r.stage_path, r.worker_id + 1),
                parent_span_id: span_id(&r.run_id, r.batch_id, "", 0),
                service_name: r.dataflow.clone(),
                operation_name: r.stage_path.clone(),
                start_us: r.start_us,
                duration_us: r.end_us.saturating_sub(r.start_us),
                worker_id: r.worker_id,
                process_id: r.process_id,
                records_in: r.input_count,
                records_out: r.output_count,
                busy_ns: r.busy_ns,
                timestamp: r.timestamp,
            });
        }
        out
    }
}

/// Lower-case hex, in one allocation (a `format!` per byte made most of a
/// short run's allocations: three ids for each of hundreds of spans).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// 32 hex digits, stable per (run, batch).
///
/// ```
/// use mable_pipeline::metrics::spans::trace_id;
/// assert_eq!(trace_id("r", 1), trace_id("r", 1));
/// assert_ne!(trace_id("r", 1), trace_id("r", 2));
/// assert_eq!(trace_id("r", 1).len(), 32);
/// ```
pub fn trace_id(run_id: &str, batch: u32) -> String {
    let d = Sha256::digest(format!("trace\0{run_id}\0{batch}"));
    hex(&d[..16])
}

/// 16 hex digits, stable per (run, batch, stage path, worker + 1); the
/// batch's root span is stage `""`, worker 0.
pub fn span_id(run_id: &str, batch: u32, stage: &str, worker: u32) -> String {
    let d = Sha256::digest(format!("span\0{run_id}\0{batch}\0{stage}\0{worker}"));
    hex(&d[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        let bytes: Vec<u8> = (0..=255).collect();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&bytes), expected);
    }

    #[test]
    fn a_long_run_keeps_the_slowest_and_an_even_sample_only() {
        let mut k: Kept<u32> = Kept::default();
        // Batch 777 and the 19 below 100_000 that are slowest.
        for b in 0..100_000u32 {
            let d = if b == 777 {
                1_000_000
            } else {
                u64::from(b % 5000)
            };
            k.offer(b, d, || b);
        }
        assert!(k.kept.len() <= SLOWEST_BATCHES + SAMPLED_BATCHES);
        assert!(k.kept.contains_key(&777));
        assert!(k.kept.contains_key(&0), "batch 0 is always sampled");
        let sampled = k.kept.keys().filter(|b| *b % k.every == 0).count();
        assert!(
            sampled > SAMPLED_BATCHES / 2 && sampled <= SAMPLED_BATCHES,
            "{sampled}"
        );
        let mut slow: Vec<u64> = k.slowest.iter().map(|Reverse((d, _))| *d).collect();
        slow.sort();
        assert_eq!(slow[0], 4999, "the 20 slowest: {slow:?}");
    }

    #[test]
    fn a_short_run_keeps_every_batch() {
        let mut k: Kept<()> = Kept::default();
        for b in 0..SAMPLED_BATCHES as u32 {
            k.offer(b, 1, || ());
        }
        assert_eq!(k.kept.len(), SAMPLED_BATCHES);
    }
}
