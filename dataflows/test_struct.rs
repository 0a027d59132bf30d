//! `test_struct`: the seed's ten-field struct benchmark.
//! map value+10 → filter value>1000 → generate [e, {id+1, name+"_dup", value·0.95}]
//! → reduce {total_value, count} → collect.

use compact_str::format_compact;
use serde::{Deserialize, Serialize};

use super::records::TestStruct;
use super::{Definition, Params};
use mable_pipeline::pipeline::{Collect, Pipeline};

pub static DATAFLOW: Definition<TestStruct, TestStruct> = Definition {
    name: "test_struct",
    about: "10-field structs: add 10, keep value > 1000, duplicate, total per batch",
    pipeline,
    personal_data: false,
};

/// The reduce's result: the batch's total value and record count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub total_value: f64,
    pub count: u64,
}

/// The duplicate the seed made: only id, name and value set.
pub fn duplicate(t: &TestStruct) -> TestStruct {
    TestStruct {
        id: t.id + 1,
        name: format_compact!("{}_dup", t.name),
        value: t.value * 0.95,
        ..TestStruct::default()
    }
}

/// The pipeline.
pub fn pipeline(_: &Params) -> Pipeline<TestStruct, TestStruct> {
    Pipeline::new()
        .map_in_place("add_10", |t: &mut TestStruct| t.value += 10.0)
        .filter("value_over_1000", |t: &TestStruct| t.value > 1000.0)
        .generate("duplicate", |t: TestStruct, out: &mut Vec<TestStruct>| {
            let dup = duplicate(&t);
            out.push(t);
            out.push(dup);
        })
        .reduce(
            "totals",
            Totals::default(),
            |acc: &mut Totals, t: &TestStruct| {
                acc.total_value += t.value;
                acc.count += 1;
            },
            |acc: &mut Totals, other: Totals| {
                acc.total_value += other.total_value;
                acc.count += other.count;
            },
        )
        .collect("collect", Collect::discard())
}
