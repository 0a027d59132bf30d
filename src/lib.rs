//! mable-pipeline: event-processing pipelines as timely dataflows, with
//! per-operator, per-batch metrics shipped while they run.
//!
//! A record's path through the crate reads off the module names:
//! [`input`] (files and synthetic sources, cut into batches) →
//! [`pipeline`] (the builder and its stages, each one named timely operator) →
//! [`metrics`] (capture inside operators, timely's log and probes) →
//! [`sink`] (the sidecar thread, JSONEachRow files, ClickHouse).
//! [`run`] ties them together on timely workers; [`dataflows`] holds the
//! pipelines users run; [`record`] the record types they process; [`report`]
//! turns a run's metric files into a self-contained HTML report and verdict.

// Content (`dataflows/`) names the engine as a user's crate would.
extern crate self as mable_pipeline;

pub mod atomic_file;
pub mod base;
pub mod cli;
pub mod dataflow;
#[path = "../dataflows/mod.rs"]
pub mod dataflows;
pub mod failure;
pub mod input;
pub mod metrics;
pub mod pipeline;
pub mod record;
pub mod report;
pub mod run;
pub mod sink;
pub mod stop;
pub mod table;
