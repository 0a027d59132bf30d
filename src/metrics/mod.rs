//! Metrics capture: counters inside stage operators ([`stage`]), timely's
//! own log ([`timely_log`]), batch latency from the probe ([`latency`]), and
//! the row types all of it becomes ([`rows`]).

pub mod arrangements;
pub mod clock;
pub mod latency;
pub mod rows;
pub mod stage;
pub mod tables;
pub mod timely_log;
