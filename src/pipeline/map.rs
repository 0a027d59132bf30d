//! `map` and `map_in_place`: one record out per record in.

use timely::dataflow::channels::pact::Pipeline as Local;

use super::stage::unary_stage;
use super::{Batches, BuildContext};
use crate::base::StageKind;

/// A map that may change the record type. Collecting `into_iter().map()` into
/// a `Vec` reuses the input's allocation when the two types have the same layout.
pub(crate) fn map<'s, I: 'static, O: 'static>(
    stream: Batches<'s, I>,
    ctx: &BuildContext,
    name: &str,
    mut f: impl FnMut(I) -> O + 'static,
) -> Batches<'s, O> {
    unary_stage(
        stream,
        ctx,
        name,
        StageKind::Map,
        Local,
        move |_, batch: Vec<I>| batch.into_iter().map(&mut f).collect(),
    )
}

/// A map that edits records where they are: no allocation at all.
pub(crate) fn map_in_place<'s, R: 'static>(
    stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
    mut f: impl FnMut(&mut R) + 'static,
) -> Batches<'s, R> {
    unary_stage(
        stream,
        ctx,
        name,
        StageKind::Map,
        Local,
        move |_, mut batch: Vec<R>| {
            batch.iter_mut().for_each(&mut f);
            batch
        },
    )
}
