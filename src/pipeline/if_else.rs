//! `if_else`: records go down a `then` or an `else` pipeline by a condition,
//! and the two are merged afterwards. Branches nest.

use std::time::Instant;

use timely::dataflow::channels::pact::Pipeline as Local;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::{Operator, OutputBuilder};

use super::{Batches, BuildContext};
use crate::base::StageKind;
use crate::failure::catch_stage_panic;

/// Splits `stream` in place: the records that fail `cond` move to a second
/// container, the rest stay in the one they came in.
pub(crate) fn split<'s, R: 'static>(
    stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
    mut cond: impl FnMut(&R) -> bool + 'static,
) -> (Batches<'s, R>, Batches<'s, R>) {
    let path = ctx.path(name);
    let mut builder = OperatorBuilder::new(path.clone(), stream.scope());
    let info = builder.operator_info();
    let mut input = builder.new_input(stream, Local);
    builder.set_notify_for(0, timely::progress::operate::FrontierInterest::Never);
    let (then_out, then_stream) = builder.new_output::<Vec<R>>();
    let (else_out, else_stream) = builder.new_output::<Vec<R>>();
    let mut then_out = OutputBuilder::from(then_out);
    let mut else_out = OutputBuilder::from(else_out);
    let recorder = ctx.recorder(&path, StageKind::IfElse, info.global_id);
    let supervisor = ctx.supervisor.clone();
    let worker = ctx.worker;
    builder.build(move |_caps| {
        move |_frontiers| {
            let mut then_h = then_out.activate();
            let mut else_h = else_out.activate();
            input.for_each_stamp(|cap, containers| {
                let epoch = cap.least().copied().unwrap_or_default();
                for container in containers {
                    let mut batch = std::mem::take(container);
                    let n_in = batch.len();
                    let start = Instant::now();
                    let split = catch_stage_panic(|| {
                        batch.extract_if(.., |r| !cond(r)).collect::<Vec<R>>()
                    });
                    let mut otherwise = match split {
                        Ok(v) => v,
                        Err(p) => {
                            supervisor.stage_panicked(&path, worker, epoch, &*p);
                            continue;
                        }
                    };
                    if let Some(r) = &recorder {
                        r.record(epoch, n_in, n_in, start, Instant::now());
                    }
                    if !batch.is_empty() {
                        then_h.session(&cap).give_container(&mut batch);
                    }
                    if !otherwise.is_empty() {
                        else_h.session(&cap).give_container(&mut otherwise);
                    }
                }
            });
        }
    });
    (then_stream, else_stream)
}

/// Merges the two branches back into one stream, as stage `{name}/merge`.
pub(crate) fn merge<'s, R: 'static>(
    then_stream: Batches<'s, R>,
    else_stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
) -> Batches<'s, R> {
    let path = ctx.path(&format!("{name}/merge"));
    let ctx = ctx.clone();
    then_stream.binary(
        else_stream,
        Local,
        Local,
        &path.clone(),
        move |_cap, info| {
            let recorder = ctx.recorder(&path, StageKind::Merge, info.global_id);
            move |left, right, output| {
                let mut pass =
                    |input: &mut timely::dataflow::operators::generic::InputHandleCore<
                        _,
                        Vec<R>,
                        _,
                    >| {
                        input.for_each_stamp(|cap, containers| {
                            let epoch = cap.least().copied().unwrap_or_default();
                            let mut session = output.session(&cap);
                            for container in containers {
                                let start = Instant::now();
                                let n = container.len();
                                session.give_container(container);
                                if let Some(r) = &recorder {
                                    r.record(epoch, n, n, start, Instant::now());
                                }
                            }
                        });
                    };
                pass(left);
                pass(right);
            }
        },
    )
}
