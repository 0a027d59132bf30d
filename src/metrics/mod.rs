//! Metrics capture.
pub mod rows;
