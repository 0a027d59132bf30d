//! Pipelines: a typed, fluent builder whose every stage becomes one named
//! timely operator.
//!
//! ```
//! use mable_pipeline::pipeline::{Collect, Pipeline};
//!
//! let p: Pipeline<i64, i64> = Pipeline::new()
//!     .map("double", |x: i64| x * 2)
//!     .filter("div3", |x: &i64| x % 3 == 0)
//!     .generate("fan_out", |x: i64, out: &mut Vec<i64>| out.extend([x, x + 1, x + 2]))
//!     .reduce("sum", 0i64, |acc: &mut i64, x: &i64| *acc += x, |acc: &mut i64, other: i64| *acc += other)
//!     .collect("sink", Collect::discard());
//! assert_eq!(p.stages().len(), 5);
//! ```
//!
//! Batches are epochs: records of input batch *k* carry timestamp *k*, and
//! each stage handles a whole container of them at a time.

mod aggregate;
mod builder;
mod collect;
mod context;
mod filter;
mod generate;
mod graph;
mod if_else;
mod map;
mod operator;
mod reduce;
mod stage;

pub use aggregate::{Aggregate, AggregateKey, AggregateUpdate};
pub use builder::Pipeline;
pub use builder::PipelineError;
pub use collect::Collect;
pub use context::{BuildContext, ReductionResult, StageResults};
pub use graph::render;
pub use graph::{StageNode, tables};
pub use operator::{Arrived, Give, OperatorLogic};

pub use crate::base::{Batches, Epoch};
