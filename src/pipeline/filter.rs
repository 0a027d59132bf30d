//! `filter`: keeps the records a predicate accepts, in place.

use timely::dataflow::channels::pact::Pipeline as Local;

use super::stage::unary_stage;
use super::{Batches, BuildContext};
use crate::base::StageKind;

pub(crate) fn filter<'s, R: 'static>(
    stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
    mut pred: impl FnMut(&R) -> bool + 'static,
) -> Batches<'s, R> {
    unary_stage(
        stream,
        ctx,
        name,
        StageKind::Filter,
        Local,
        move |_, mut batch: Vec<R>| {
            batch.retain(|r| pred(r));
            batch
        },
    )
}
