//! Metrics capture: counters inside stage operators ([`stage`]), timely's
//! own log ([`timely_log`]), batch latency from the probe ([`latency`]), and
//! the row types all of it becomes ([`rows`]), and capped traces of batches
//! made from them ([`spans`]).

pub mod arrangements;
pub mod capture_time;
pub mod clock;
pub mod latency;
pub mod rows;
pub mod spans;
pub mod stage;
pub mod tables;
pub mod timely_log;
