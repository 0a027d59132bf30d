//! `generate`: each record in becomes zero or more records out.

use timely::dataflow::channels::pact::Pipeline as Local;

use super::stage::unary_stage;
use super::{Batches, BuildContext};
use crate::base::StageKind;

/// The user's function pushes its records onto the output container directly,
/// so fanning out allocates nothing per record (the seed returned a slice each time).
pub(crate) fn generate<'s, I: 'static, O: 'static>(
    stream: Batches<'s, I>,
    ctx: &BuildContext,
    name: &str,
    mut f: impl FnMut(I, &mut Vec<O>) + 'static,
) -> Batches<'s, O> {
    // Size each output from the fan-out seen so far, to avoid regrowing.
    let mut ratio = 1.0f64;
    unary_stage(
        stream,
        ctx,
        name,
        StageKind::Generate,
        Local,
        move |_, batch: Vec<I>| {
            let n_in = batch.len();
            let mut out = Vec::with_capacity((n_in as f64 * ratio) as usize + 1);
            for r in batch {
                f(r, &mut out);
            }
            if n_in > 0 {
                ratio = out.len() as f64 / n_in as f64;
            }
            out
        },
    )
}
