//! The command line: `mable-pipeline [OPTIONS] [INPUT]` runs a dataflow;
//! `list` shows the dataflows; `metrics replay` delivers spooled metrics;
//! `metrics load` ships a file-only run's metrics; `schema` prints the DDL;
//! `report` makes a run's report.html again or compares two runs. A binary
//! adds commands of its own with an [`Extension`].

mod advice;
mod args;
mod commands;
mod extension;
mod load;
pub mod out;
mod preflight;
mod replay;
mod report;
mod signals;

pub use args::{Cli, Command, RunArgs};
pub use commands::{main, main_with};
pub use extension::Extension;
