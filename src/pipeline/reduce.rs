//! `reduce`: a per-batch aggregate across all workers.
//!
//! Each worker folds its share of batch *k* into a partial while passing the
//! records through unchanged (as the seed did). When the worker's input
//! frontier passes *k* the partial is sent to global worker 0, which merges
//! the partials of all workers once its own frontier passes *k* and reports
//! the result. One partial per worker per batch crosses the exchange, never a record.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::Serialize;
use serde::de::DeserializeOwned;
use timely::dataflow::channels::pact::{Exchange, Pipeline as Local};
use timely::dataflow::operators::generic::Operator;

use super::context::ReductionResult;
use super::stage::{TwoWay, two_way_stage};
use super::{Batches, BuildContext, Epoch};
use crate::base::StageKind;
use crate::failure::catch_stage_panic;

/// What a reduce's accumulator must be: cloned from its initial value per
/// batch, sent between workers and processes, reported as JSON.
pub trait Accumulator: Clone + Send + Serialize + DeserializeOwned + 'static {}
impl<A: Clone + Send + Serialize + DeserializeOwned + 'static> Accumulator for A {}

/// Folds this worker's share of each batch into a partial, given on the
/// side output once the batch's input is complete.
struct Partials<A, F> {
    init: A,
    fold: F,
    open: BTreeMap<Epoch, A>,
}

impl<R: 'static, A: Accumulator, F: FnMut(&mut A, &R) + 'static> TwoWay<R, R, (Epoch, A)>
    for Partials<A, F>
{
    fn container(&mut self, epoch: Epoch, batch: Vec<R>, _: &mut Vec<(Epoch, A)>) -> Vec<R> {
        let acc = self.open.entry(epoch).or_insert_with(|| self.init.clone());
        batch.iter().for_each(|r| (self.fold)(acc, r));
        batch
    }

    fn holds_batches(&self) -> bool {
        true
    }

    fn passed(&mut self, epoch: Epoch, partials: &mut Vec<(Epoch, A)>) {
        let acc = self
            .open
            .remove(&epoch)
            .unwrap_or_else(|| self.init.clone());
        partials.push((epoch, acc));
    }
}

pub(crate) fn reduce<'s, R: 'static, A: Accumulator>(
    stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
    init: A,
    fold: impl FnMut(&mut A, &R) + 'static,
    mut merge: impl FnMut(&mut A, A) + 'static,
) -> Batches<'s, R> {
    let path = ctx.path(name);
    let partials = Partials {
        init,
        fold,
        open: BTreeMap::new(),
    };
    let (pass_stream, part_stream) =
        two_way_stage(stream, ctx, name, StageKind::Reduce, Local, partials);

    let results = ctx.results.clone();
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
                results.reduced(ReductionResult {
                    stage: path.clone(),
                    batch: epoch,
                    value,
                });
            }
        },
    );
    pass_stream
}
