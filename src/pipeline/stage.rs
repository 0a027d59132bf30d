//! The operator shape shared by map, filter, generate and collect: one input,
//! one output, whole containers in and out, counted and timed per container,
//! user panics caught and reported with the stage's name.

use std::time::Instant;

use timely::dataflow::channels::pact::ParallelizationContract;
use timely::dataflow::operators::generic::Operator;

use super::{Batches, BuildContext, Epoch};
use crate::base::StageKind;
use crate::failure::catch_stage_panic;

/// Builds a stage operator named by its path. `logic` gets batch `epoch`'s
/// records one container at a time and returns the container to pass on.
pub(crate) fn unary_stage<'s, I, O, P, L>(
    stream: Batches<'s, I>,
    ctx: &BuildContext,
    name: &str,
    kind: StageKind,
    pact: P,
    mut logic: L,
) -> Batches<'s, O>
where
    I: 'static,
    O: 'static,
    P: ParallelizationContract<Epoch, Vec<I>>,
    L: FnMut(Epoch, Vec<I>) -> Vec<O> + 'static,
{
    let path = ctx.path(name);
    let ctx = ctx.clone();
    stream.unary(pact, &path.clone(), move |_cap, info| {
        let recorder = ctx.recorder(&path, kind, info.global_id);
        let supervisor = ctx.supervisor.clone();
        let worker = ctx.worker;
        move |input, output| {
            input.for_each_stamp(|cap, containers| {
                let epoch = cap.least().copied().unwrap_or_default();
                let mut session = output.session(&cap);
                for container in containers {
                    let batch = std::mem::take(container);
                    let n_in = batch.len();
                    let start = recorder.as_ref().map(|_| Instant::now());
                    match catch_stage_panic(|| logic(epoch, batch)) {
                        Ok(mut out) => {
                            if let (Some(r), Some(start)) = (&recorder, start) {
                                r.record(epoch, n_in, out.len(), start, Instant::now());
                            }
                            if !out.is_empty() {
                                session.give_container(&mut out);
                            }
                        }
                        Err(payload) => supervisor.stage_panicked(&path, worker, epoch, &*payload),
                    }
                }
            });
        }
    })
}
