//! Shared test support. Each integration test file includes it with `mod support;`.
#![allow(dead_code)]
pub mod browser;
pub mod cli;
pub mod clickhouse;
pub mod metric_rows;
pub mod netns;
pub mod run_dir;
