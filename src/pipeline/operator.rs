//! `operator`: a stage that is a timely operator of the user's own, metered
//! like every built-in stage.
//!
//! Timely calls the operator's logic whenever it is scheduled. The shell
//! hands the logic what arrived since the last call, each container with a
//! [`Capability`] for its batch that the logic may keep (to give records
//! later, once the frontier says a batch is complete), and the input
//! frontier. Records the logic gives go out after it returns. The shell
//! counts records in and out per batch (by the capability's time) and times
//! each call, so the stage's rows, totals and report look like any other's.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline as Local;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::{Operator, OperatorInfo};
use timely::progress::frontier::MutableAntichain;

use super::stage::Meter;
use super::{Batches, BuildContext, Epoch};
use crate::base::StageKind;

/// Containers that arrived since the operator's last call, each with a
/// capability for its batch. Take them (`drain(..)`); what is left is
/// dropped after the call, releasing its capability.
pub type Arrived<R> = Vec<(Capability<Epoch>, Vec<R>)>;

/// Where an operator stage gives records: each container at a capability
/// it holds, so at that capability's batch.
pub struct Give<R> {
    given: Vec<(Capability<Epoch>, Vec<R>)>,
}

impl<R> Give<R> {
    /// Gives `records` at `cap`'s batch (nothing when empty).
    pub fn give(&mut self, cap: &Capability<Epoch>, records: Vec<R>) {
        if !records.is_empty() {
            self.given.push((cap.clone(), records));
        }
    }
}

/// The logic of an operator stage: called with what arrived, the input
/// frontier (batches it holds are complete once the frontier passes them),
/// and where to give records.
pub trait OperatorLogic<I, O>:
    FnMut(&mut Arrived<I>, &MutableAntichain<Epoch>, &mut Give<O>)
{
}
impl<I, O, F: FnMut(&mut Arrived<I>, &MutableAntichain<Epoch>, &mut Give<O>)> OperatorLogic<I, O>
    for F
{
}

pub(crate) fn operator<'s, I, O, B, L>(
    stream: Batches<'s, I>,
    ctx: &BuildContext,
    name: &str,
    constructor: B,
) -> Batches<'s, O>
where
    I: 'static,
    O: 'static,
    B: FnOnce(&OperatorInfo) -> L + 'static,
    L: OperatorLogic<I, O> + 'static,
{
    let path = ctx.path(name);
    let ctx = ctx.clone();
    stream.unary_frontier::<CapacityContainerBuilder<Vec<O>>, _, _, _>(
        Local,
        &path.clone(),
        move |_cap, info| {
            let meter = Meter::new(&ctx, &path, StageKind::Custom, info.global_id);
            let mut logic = constructor(&info);
            let mut arrived: Arrived<I> = Vec::new();
            let mut give = Give { given: Vec::new() };
            // batch → (records in, records out) in this call.
            let mut counts: BTreeMap<Epoch, (usize, usize)> = BTreeMap::new();
            let mut last_seen: Epoch = 0;
            move |(input, frontier), output| {
                input.for_each_stamp(|cap, containers| {
                    let kept = cap.retain_least(0).expect("a capability for the output");
                    for container in containers {
                        let batch = std::mem::take(container);
                        counts.entry(*kept.time()).or_default().0 += batch.len();
                        arrived.push((kept.clone(), batch));
                    }
                });
                // The call's time goes to the earliest batch it touched (or, when
                // it only saw the frontier move, the earliest still open).
                let first_in = counts.keys().next().copied();
                if let Some(&e) = counts.keys().next_back() {
                    last_seen = last_seen.max(e);
                }
                let ran = match first_in.or_else(|| frontier.frontier().first().copied()) {
                    Some(epoch) => meter.run(epoch, 0, || {
                        logic(&mut arrived, frontier, &mut give);
                        ((), 0)
                    }),
                    // The input is closed: a last call, so the logic releases what
                    // it holds. Its time goes to no batch (every batch it did not
                    // hold may already be recorded), but a panic is still named.
                    None => {
                        meter.run_untimed(last_seen, || logic(&mut arrived, frontier, &mut give))
                    }
                };
                arrived.clear();
                if ran.is_none() {
                    give.given.clear();
                    counts.clear();
                    return;
                }
                for (cap, mut records) in give.given.drain(..) {
                    counts.entry(*cap.time()).or_default().1 += records.len();
                    output.session(&cap).give_container(&mut records);
                }
                // Counts per batch, the call's time already recorded against `epoch`.
                for (batch, (n_in, n_out)) in std::mem::take(&mut counts) {
                    meter.count(batch, n_in, n_out);
                }
            }
        },
    )
}
