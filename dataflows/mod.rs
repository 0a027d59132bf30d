//! The pipelines users run, one file each. Each reads like the seed's fluent
//! chains: `Pipeline::new().map(..).filter(..)...`.

pub mod bench;
pub mod conversions;
pub mod int;
pub mod mable_event;
pub mod records;
pub mod test_struct;

pub use mable_pipeline::base::Params;
pub use mable_pipeline::dataflow::{Dataflow, Definition};

/// Every dataflow the binary offers, the default (`mable_event`) first.
/// Adding one is one line here.
pub static ALL: &[&dyn Dataflow] = &[
    &mable_event::DATAFLOW,
    &int::DATAFLOW,
    &test_struct::DATAFLOW,
    &conversions::DATAFLOW,
];

/// Every dataflow, the default (`mable_event`) first.
pub fn all() -> &'static [&'static dyn Dataflow] {
    ALL
}

/// The dataflow called `name`.
///
/// ```
/// assert!(mable_pipeline::dataflows::find("int").is_some());
/// assert!(mable_pipeline::dataflows::find("nope").is_none());
/// ```
pub fn find(name: &str) -> Option<&'static dyn Dataflow> {
    mable_pipeline::dataflow::find(ALL, name)
}
