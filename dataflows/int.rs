//! `int`: the seed's integer benchmark.
//! map x·2 → filter x%3==0 → generate [x, x+1, x+2] → reduce sum → collect.

use super::{Definition, Params};
use mable_pipeline::pipeline::{Collect, Pipeline};

pub static DATAFLOW: Definition<i64, i64> = Definition {
    name: "int",
    about: "integers: double, keep multiples of 3, fan out ×3, sum per batch",
    pipeline,
    personal_data: false,
};

/// The pipeline.
///
/// ```
/// let p = mable_pipeline::dataflows::int::pipeline(&mable_pipeline::dataflows::Params { seed: 1, now: 0 });
/// assert_eq!(p.stages().len(), 5);
/// ```
pub fn pipeline(_: &Params) -> Pipeline<i64, i64> {
    Pipeline::new()
        .map_in_place("double", |x: &mut i64| *x = x.wrapping_mul(2))
        .filter("multiple_of_3", |x: &i64| x % 3 == 0)
        .generate("fan_out", |x: i64, out: &mut Vec<i64>| {
            out.extend([x, x.wrapping_add(1), x.wrapping_add(2)])
        })
        .reduce(
            "sum",
            0i64,
            |acc: &mut i64, x: &i64| *acc = acc.wrapping_add(*x),
            |acc: &mut i64, other: i64| *acc = acc.wrapping_add(other),
        )
        .collect("collect", Collect::discard())
}
