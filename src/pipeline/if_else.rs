//! `if_else`: records go down a `then` or an `else` pipeline by a condition,
//! and the two are merged afterwards. Branches nest.

use timely::dataflow::channels::pact::Pipeline as Local;
use timely::dataflow::operators::generic::Operator;

use super::stage::{Meter, TwoWay, two_way_stage};
use super::{Batches, BuildContext, Epoch};
use crate::base::StageKind;

/// Splits `stream` in place: the records that fail `cond` move to a second
/// container, the rest stay in the one they came in.
pub(crate) fn split<'s, R: 'static>(
    stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
    cond: impl FnMut(&R) -> bool + 'static,
) -> (Batches<'s, R>, Batches<'s, R>) {
    two_way_stage(stream, ctx, name, StageKind::IfElse, Local, Split(cond))
}

/// `then` records stay on the main output, `else` records go to the side.
struct Split<F>(F);

impl<R: 'static, F: FnMut(&R) -> bool + 'static> TwoWay<R, R, R> for Split<F> {
    fn container(&mut self, _: Epoch, mut batch: Vec<R>, otherwise: &mut Vec<R>) -> Vec<R> {
        otherwise.extend(batch.extract_if(.., |r| !(self.0)(r)));
        batch
    }

    fn side_counts(&self) -> bool {
        true
    }
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
            let meter = Meter::new(&ctx, &path, StageKind::Merge, info.global_id);
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
                                let n = container.len();
                                meter.run(epoch, n, || (session.give_container(container), n));
                            }
                        });
                    };
                pass(left);
                pass(right);
            }
        },
    )
}
