//! `reduce`: a per-batch aggregate across all workers.
//!
//! Each worker folds its share of batch *k* into a partial while passing the
//! records through unchanged (as the seed did). When the worker's input
//! frontier passes *k* the partial is sent to global worker 0, which merges
//! the partials of all workers once its own frontier passes *k* and reports
//! the result. One partial per worker per batch crosses the exchange, never a record.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;
use timely::dataflow::channels::pact::{Exchange, Pipeline as Local};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::{Operator, OutputBuilder};

use super::context::ReductionResult;
use super::{Batches, BuildContext, Epoch};
use crate::base::StageKind;
use crate::failure::catch_stage_panic;

/// What a reduce's accumulator must be: cloned from its initial value per
/// batch, sent between workers and processes, reported as JSON.
pub trait Accumulator: Clone + Send + Serialize + DeserializeOwned + 'static {}
impl<A: Clone + Send + Serialize + DeserializeOwned + 'static> Accumulator for A {}

pub(crate) fn reduce<'s, R: 'static, A: Accumulator>(
    stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
    init: A,
    mut fold: impl FnMut(&mut A, &R) + 'static,
    mut merge: impl FnMut(&mut A, A) + 'static,
) -> Batches<'s, R> {
    let path = ctx.path(name);
    let mut builder = OperatorBuilder::new(path.clone(), stream.scope());
    let info = builder.operator_info();
    let mut input = builder.new_input(stream, Local);
    let (pass_out, pass_stream) = builder.new_output::<Vec<R>>();
    let (part_out, part_stream) = builder.new_output::<Vec<(Epoch, A)>>();
    let mut pass_out = OutputBuilder::from(pass_out);
    let mut part_out = OutputBuilder::from(part_out);

    let recorder = ctx.recorder(&path, StageKind::Reduce, info.global_id);
    let supervisor = ctx.supervisor.clone();
    let worker = ctx.worker;
    let stage_path = path.clone();
    let init_fold = init.clone();
    builder.build(move |_initial_caps| {
        let mut open: BTreeMap<Epoch, (A, Capability<Epoch>)> = BTreeMap::new();
        move |frontiers| {
            let mut pass = pass_out.activate();
            let mut part = part_out.activate();
            input.for_each_stamp(|cap, containers| {
                let epoch = cap.least().copied().unwrap_or_default();
                let (acc, _) = open.entry(epoch).or_insert_with(|| {
                    let c = cap
                        .retain_least(1)
                        .expect("a batch capability for the partials output");
                    (init_fold.clone(), c)
                });
                let mut session = pass.session(&cap);
                for container in containers {
                    let mut batch = std::mem::take(container);
                    let start = Instant::now();
                    let folded = catch_stage_panic(|| batch.iter().for_each(|r| fold(acc, r)));
                    if let Err(payload) = folded {
                        supervisor.stage_panicked(&stage_path, worker, epoch, &*payload);
                        continue;
                    }
                    if let Some(r) = &recorder {
                        r.record(epoch, batch.len(), batch.len(), start, Instant::now());
                    }
                    if !batch.is_empty() {
                        session.give_container(&mut batch);
                    }
                }
            });
            // A batch's partial is final once no more of its records can arrive.
            while let Some((&epoch, _)) = open.first_key_value() {
                if frontiers[0].less_equal(&epoch) {
                    break;
                }
                let (acc, cap) = open.remove(&epoch).expect("first key exists");
                part.session(&cap).give((epoch, acc));
            }
        }
    });

    let reductions = ctx.reductions.clone();
    let supervisor = ctx.supervisor.clone();
    let mut combined: BTreeMap<Epoch, A> = BTreeMap::new();
    part_stream.sink(
        Exchange::new(|_: &(Epoch, A)| 0),
        &format!("{path}/combine"),
        move |(input, frontier)| {
            input.for_each(|_cap, partials| {
                for (epoch, acc) in partials.drain(..) {
                    match combined.entry(epoch) {
                        Entry::Vacant(v) => {
                            v.insert(acc);
                        }
                        Entry::Occupied(mut o) => {
                            if let Err(p) = catch_stage_panic(|| merge(o.get_mut(), acc)) {
                                supervisor.stage_panicked(&path, 0, epoch, &*p);
                            }
                        }
                    }
                }
            });
            // Every worker's partial for a batch has arrived once the frontier passes it.
            while let Some((&epoch, _)) = combined.first_key_value() {
                if frontier.less_equal(&epoch) {
                    break;
                }
                let acc = combined.remove(&epoch).expect("first key exists");
                let value = serde_json::to_string(&acc)
                    .unwrap_or_else(|e| format!("\"unserialisable: {e}\""));
                tracing::debug!(stage = %path, batch = epoch, %value, "reduce result");
                reductions.borrow_mut().push(ReductionResult {
                    stage: path.clone(),
                    batch: epoch,
                    value,
                });
            }
        },
    );
    pass_stream
}
