//! The command line: `mable-pipeline [OPTIONS] [INPUT]` runs a dataflow;
//! `list` shows the dataflows; `metrics replay` delivers spooled metrics.

mod args;
mod bench;
mod commands;
mod out;
mod preflight;
mod replay;
mod signals;

pub use args::{Cli, Command, RunArgs};
pub use commands::main;
