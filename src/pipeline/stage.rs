//! The operator shell every stage family is built in: an operator named by
//! the stage's path that takes whole containers, runs the stage's logic on
//! each under a [`Meter`] (records in and out, busy time per batch, a panic
//! in user code reported with the stage's name), and gives what came out.
//!
//! - [`unary_stage`]: one output (map, filter, generate, collect, custom).
//! - [`two_way_stage`]: a main and a side output (if/else's two branches,
//!   aggregate's keyed updates, reduce's per-batch partials). A stage that
//!   [holds batches](TwoWay::holds_batches) keeps a capability per batch and
//!   gives side records once the batch's input is complete.
//! - if/else's merge is binary and counts through the same [`Meter`].

use std::collections::BTreeMap;
use std::time::Instant;

use timely::dataflow::channels::pact::ParallelizationContract;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::{Operator, OutputBuilder};
use timely::progress::operate::FrontierInterest;

use super::{Batches, BuildContext, Epoch};
use crate::base::StageKind;
use crate::failure::{Supervisor, catch_stage_panic};
use crate::metrics::stage::StageRecorder;

/// Runs a stage's work on one container: times and counts it when metrics
/// are on, and turns a panic in it into the run's failure naming the stage.
pub(crate) struct Meter {
    path: String,
    recorder: Option<StageRecorder>,
    supervisor: Supervisor,
    worker: usize,
}

impl Meter {
    pub fn new(ctx: &BuildContext, path: &str, kind: StageKind, operator_id: usize) -> Meter {
        Meter {
            path: path.to_string(),
            recorder: ctx.recorder(path, kind, operator_id),
            supervisor: ctx.supervisor.clone(),
            worker: ctx.worker,
        }
    }

    /// Runs `work` on `n_in` records of batch `epoch`; `work` returns its
    /// result and how many records it passed on. `None` after a panic.
    pub fn run<T>(
        &self,
        epoch: Epoch,
        n_in: usize,
        work: impl FnOnce() -> (T, usize),
    ) -> Option<T> {
        let start = self.recorder.as_ref().map(|_| Instant::now());
        let (out, n_out) = self.run_untimed(epoch, work)?;
        if let (Some(r), Some(start)) = (&self.recorder, start) {
            r.record(epoch, n_in, n_out, start, Instant::now());
        }
        Some(out)
    }

    /// Runs `work` untimed, a panic in it still named as batch `epoch`'s.
    pub fn run_untimed<T>(&self, epoch: Epoch, work: impl FnOnce() -> T) -> Option<T> {
        match catch_stage_panic(work) {
            Ok(out) => Some(out),
            Err(payload) => {
                self.supervisor
                    .stage_panicked(&self.path, self.worker, epoch, &*payload);
                None
            }
        }
    }

    /// Adds records in and out to batch `epoch` with no busy time (for a
    /// stage whose work on several batches is timed as one call).
    pub fn count(&self, epoch: Epoch, n_in: usize, n_out: usize) {
        if let Some(r) = &self.recorder {
            let now = Instant::now();
            r.record(epoch, n_in, n_out, now, now);
        }
    }
}

/// Builds a one-output stage operator named by its path. `logic` gets batch
/// `epoch`'s records one container at a time and returns the container to pass on.
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
        let meter = Meter::new(&ctx, &path, kind, info.global_id);
        move |input, output| {
            input.for_each_stamp(|cap, containers| {
                let epoch = cap.least().copied().unwrap_or_default();
                let mut session = output.session(&cap);
                for container in containers {
                    let batch = std::mem::take(container);
                    let n_in = batch.len();
                    let out = meter.run(epoch, n_in, || {
                        let out = logic(epoch, batch);
                        let n = out.len();
                        (out, n)
                    });
                    if let Some(mut out) = out
                        && !out.is_empty()
                    {
                        session.give_container(&mut out);
                    }
                }
            });
        }
    })
}

/// The logic of a stage with a main and a side output.
pub(crate) trait TwoWay<I, O, S>: 'static {
    /// Handles one container of batch `epoch`: returns the main output's
    /// records and pushes the side output's onto `side`.
    fn container(&mut self, epoch: Epoch, batch: Vec<I>, side: &mut Vec<S>) -> Vec<O>;

    /// Whether the side output's records count as records out (if/else's
    /// second branch does; aggregate's key updates do not).
    fn side_counts(&self) -> bool {
        false
    }

    /// Whether side records wait for their batch to complete: then the
    /// shell keeps a capability per batch and calls [`passed`](Self::passed).
    fn holds_batches(&self) -> bool {
        false
    }

    /// Side records of batch `epoch`, now that all of its input arrived.
    fn passed(&mut self, _epoch: Epoch, _side: &mut Vec<S>) {}
}

/// Builds a two-output stage operator named by its path.
pub(crate) fn two_way_stage<'s, I, O, S, P, L>(
    stream: Batches<'s, I>,
    ctx: &BuildContext,
    name: &str,
    kind: StageKind,
    pact: P,
    mut logic: L,
) -> (Batches<'s, O>, Batches<'s, S>)
where
    I: 'static,
    O: 'static,
    S: 'static,
    P: ParallelizationContract<Epoch, Vec<I>>,
    L: TwoWay<I, O, S>,
{
    let path = ctx.path(name);
    let mut builder = OperatorBuilder::new(path.clone(), stream.scope());
    let info = builder.operator_info();
    let mut input = builder.new_input(stream, pact);
    let holds = logic.holds_batches();
    if !holds {
        builder.set_notify_for(0, FrontierInterest::Never);
    }
    let (main_out, main_stream) = builder.new_output::<Vec<O>>();
    let (side_out, side_stream) = builder.new_output::<Vec<S>>();
    let mut main_out = OutputBuilder::from(main_out);
    let mut side_out = OutputBuilder::from(side_out);
    let meter = Meter::new(ctx, &path, kind, info.global_id);
    let side_counts = logic.side_counts();
    builder.build(move |_caps| {
        // Batches whose side records wait for their input to complete.
        let mut held: BTreeMap<Epoch, Capability<Epoch>> = BTreeMap::new();
        move |frontiers| {
            let mut main = main_out.activate();
            let mut side = side_out.activate();
            input.for_each_stamp(|cap, containers| {
                let epoch = cap.least().copied().unwrap_or_default();
                if holds && !held.contains_key(&epoch) {
                    let kept = cap
                        .retain_least(1)
                        .expect("a batch capability for the side output");
                    held.insert(epoch, kept);
                }
                for container in containers {
                    let batch = std::mem::take(container);
                    let n_in = batch.len();
                    let gave = meter.run(epoch, n_in, || {
                        let mut aside = Vec::new();
                        let out = logic.container(epoch, batch, &mut aside);
                        let n = out.len() + if side_counts { aside.len() } else { 0 };
                        ((out, aside), n)
                    });
                    let Some((mut out, mut aside)) = gave else {
                        continue;
                    };
                    if !out.is_empty() {
                        main.session(&cap).give_container(&mut out);
                    }
                    if !aside.is_empty() {
                        side.session(&cap).give_container(&mut aside);
                    }
                }
            });
            // A held batch is complete once no more of its records can arrive.
            while let Some((&epoch, _)) = held.first_key_value() {
                if frontiers[0].less_equal(&epoch) {
                    break;
                }
                let cap = held.remove(&epoch).expect("first key exists");
                let mut aside = Vec::new();
                logic.passed(epoch, &mut aside);
                if !aside.is_empty() {
                    side.session(&cap).give_container(&mut aside);
                }
            }
        }
    });
    (main_stream, side_stream)
}
