//! Shared test support. Each integration test file includes it with `mod support;`.
#![allow(dead_code)]
pub mod cli;
pub mod clickhouse;
pub mod metric_rows;
pub mod netns;
