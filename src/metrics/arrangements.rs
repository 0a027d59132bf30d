//! Differential's arrangement log, per worker: how many records each
//! arrangement holds, how many batches it received and merges it did. A row
//! per arrangement is shipped after each finished batch in which it changed,
//! so the growth of incremental state is visible over the run.

use super::capture_time::CaptureTime;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use differential_dataflow::logging::{DifferentialEvent, DifferentialEventBuilder};
use timely::worker::Worker;

use super::rows::ArrangementRow;
use super::stage::RowContext;

#[derive(Debug, Default, Clone, Copy)]
struct Arrangement {
    records: i64,
    batches: u64,
    merges: u64,
    changed: bool,
}

/// The arrangement log of one worker.
pub struct ArrangementLog {
    state: Rc<RefCell<BTreeMap<usize, Arrangement>>>,
}

impl ArrangementLog {
    /// Starts capturing; call before building the dataflow. Reading the
    /// log counts toward `capture`.
    pub fn register(worker: &mut Worker, capture: &CaptureTime) -> ArrangementLog {
        let state = Rc::new(RefCell::new(BTreeMap::<usize, Arrangement>::new()));
        let s = state.clone();
        let capture = capture.clone();
        if let Some(mut registry) = worker.log_register() {
            registry.insert::<DifferentialEventBuilder, _>(
                "differential/arrange",
                move |_time, batch| {
                    let Some(events) = batch else { return };
                    capture.time(|| {
                        let mut s = s.borrow_mut();
                        for (_ts, event) in events.drain(..) {
                            let (op, change): (usize, fn(&mut Arrangement, i64)) = match &event {
                                DifferentialEvent::Batch(e) => (e.operator, |a, n| {
                                    a.records += n;
                                    a.batches += 1;
                                }),
                                // Batches are dropped only when the whole trace is, at
                                // shutdown; counting that would zero every final size.
                                DifferentialEvent::Merge(e) if e.complete.is_some() => {
                                    (e.operator, |a, n| {
                                        a.records += n;
                                        a.merges += 1;
                                    })
                                }
                                _ => continue,
                            };
                            let n = match &event {
                                DifferentialEvent::Batch(e) => e.length as i64,
                                // A completed merge replaces two batches by one of `complete` records.
                                DifferentialEvent::Merge(e) => {
                                    e.complete.unwrap_or(0) as i64 - (e.length1 + e.length2) as i64
                                }
                                _ => 0,
                            };
                            let a = s.entry(op).or_default();
                            change(a, n);
                            a.changed = true;
                        }
                    });
                },
            );
        }
        ArrangementLog { state }
    }

    /// Rows for the arrangements that changed since the last call, stamped
    /// with the last finished `batch`.
    pub fn rows(&self, batch: u64, ctx: &RowContext) -> Vec<ArrangementRow> {
        let mut s = self.state.borrow_mut();
        let timestamp = (ctx.clock.now_us() / 1_000_000) as u32;
        s.iter_mut()
            .filter(|(_, a)| a.changed)
            .map(|(op, a)| {
                a.changed = false;
                ArrangementRow {
                    run_id: ctx.run_id.clone(),
                    dataflow: ctx.dataflow.clone(),
                    worker_id: ctx.worker_id,
                    process_id: ctx.process_id,
                    operator_id: *op as u64,
                    batch_id: batch as u32,
                    records: a.records,
                    batches: a.batches,
                    merges: a.merges,
                    timestamp,
                }
            })
            .collect()
    }

    /// Each arrangement's current record count.
    pub fn sizes(&self) -> Vec<(u64, i64)> {
        self.state
            .borrow()
            .iter()
            .map(|(op, a)| (*op as u64, a.records))
            .collect()
    }
}
