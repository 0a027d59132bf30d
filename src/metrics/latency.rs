//! End-to-end batch latency: one row per batch, made on global worker 0.
//!
//! Every worker reports `(batch, entered_us, records)` on a small side stream
//! when it feeds its share of a batch; the stream is exchanged to worker 0,
//! so worker 0 knows when the batch first entered and how many records it
//! had in all. Completion is when worker 0's probe at the end of the pipeline
//! passes the batch — which happens only once every worker finished it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::InputHandle;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::Input;
use timely::dataflow::operators::generic::Operator;

use super::rows::BatchRow;
use super::stage::RowContext;
use crate::base::Epoch;

type Entry = (Epoch, u64, u64);

#[derive(Debug, Default)]
struct Gathered {
    /// batch → (first entry, records), from all workers.
    entered: BTreeMap<Epoch, (u64, u64)>,
    /// Every worker's entry for batches below this has arrived.
    complete_below: Option<Epoch>,
}

/// The side stream and worker 0's view of it.
pub struct BatchLatency {
    /// `None` once this worker has fed its last batch.
    input: Option<InputHandle<Epoch, CapacityContainerBuilder<Vec<Entry>>>>,
    gathered: Rc<RefCell<Gathered>>,
    /// batch → when worker 0 saw the probe pass it (unix µs).
    completed: BTreeMap<Epoch, u64>,
}

impl BatchLatency {
    /// Builds the side stream inside the pipeline's dataflow.
    pub fn build(scope: timely::dataflow::Scope<'_, Epoch>) -> BatchLatency {
        let mut input = InputHandle::new();
        let gathered = Rc::new(RefCell::new(Gathered::default()));
        let sink = gathered.clone();
        scope.input_from(&mut input).sink(
            Exchange::new(|_: &Entry| 0),
            "batch_latency",
            move |(handle, frontier)| {
                let mut g = sink.borrow_mut();
                handle.for_each(|_cap, entries| {
                    for (epoch, at, records) in entries.drain(..) {
                        let e = g.entered.entry(epoch).or_insert((at, 0));
                        e.0 = e.0.min(at);
                        e.1 += records;
                    }
                });
                g.complete_below = frontier.frontier().first().copied().or(Some(Epoch::MAX));
            },
        );
        BatchLatency {
            input: Some(input),
            gathered,
            completed: BTreeMap::new(),
        }
    }

    /// Reports this worker feeding `records` records of `epoch` at `at_us`.
    pub fn entered(&mut self, epoch: Epoch, at_us: u64, records: u64) {
        let Some(input) = &mut self.input else { return };
        if epoch > *input.time() {
            input.advance_to(epoch);
        }
        input.send((epoch, at_us, records));
        input.advance_to(epoch + 1);
    }

    /// No more batches from this worker.
    pub fn close(&mut self) {
        // Dropping the handle closes the side stream.
        self.input = None;
    }

    /// Notes the probe's frontier (`None`: done) at `now_us`, and returns the
    /// rows of batches now known complete. Only worker 0 gathers entries, so
    /// only it returns rows.
    pub fn rows(
        &mut self,
        probe_frontier: Option<Epoch>,
        now_us: u64,
        ctx: &RowContext,
    ) -> Vec<BatchRow> {
        let mut g = self.gathered.borrow_mut();
        let passed = probe_frontier.unwrap_or(Epoch::MAX);
        for (&epoch, _) in g.entered.range(..passed) {
            self.completed.entry(epoch).or_insert(now_us);
        }
        let ready = g.complete_below.unwrap_or(0).min(passed);
        let mut rows = Vec::new();
        while let Some((&epoch, &(entered_us, records))) = g.entered.first_key_value() {
            if epoch >= ready {
                break;
            }
            g.entered.remove(&epoch);
            let completed_us = self
                .completed
                .remove(&epoch)
                .unwrap_or(now_us)
                .max(entered_us);
            rows.push(BatchRow {
                run_id: ctx.run_id.clone(),
                dataflow: ctx.dataflow.clone(),
                batch_id: epoch as u32,
                worker_id: ctx.worker_id,
                process_id: ctx.process_id,
                records_in: records,
                entered_us,
                completed_us,
                latency_ms: (completed_us - entered_us) as f64 / 1e3,
                timestamp: (completed_us / 1_000_000) as u32,
            });
        }
        rows
    }
}
