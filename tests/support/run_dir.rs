//! A run directory written by hand, row by row in the engine's format, for
//! checking the report's arithmetic exactly.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

pub const T: u64 = 1_800_000_000_000_000;
pub const MS: u64 = 1_000_000;

fn write(dir: &Path, table: &str, lines: &[String]) {
    std::fs::write(dir.join(format!("{table}.ndjson")), lines.join("\n") + "\n").unwrap();
}

/// The run: elapsed 100 ms; worker 0 spends 60 ms in the dataflow (stage
/// `a` 40 ms, `b` 10 ms, timely 10 ms), worker 1 30 ms (`a` 10, `b` 10,
/// timely 10); the first batch enters 5 ms after the start.
pub fn hand_written_run(dir: &Path) {
    hand_written_run_with(dir, [20, 5], 10);
}

/// [`hand_written_run`] with stage `a`'s busy ms per batch on each worker,
/// and the records every stage sees per batch and worker.
pub fn hand_written_run_with(dir: &Path, a_busy_ms: [u64; 2], records: u64) {
    write(
        dir,
        "pipeline_runs",
        &[format!(
            r#"{{"run_id":"r1","dataflow":"hand","process_id":0,"processes":1,"workers":2,"batch_size":10,"batches":2,"input":"hand.ndjson (NDJSON)","args":"hand.ndjson","records_in":{},"records_out":{},"records_skipped":0,"started_at":1800000000,"start_us":{T},"end_us":{},"elapsed_ms":100.0,"status":"ok","error":"","version":"0.1.0","host":"h","insert_id":"x","a_future_column":[1,2]}}"#,
            4 * records,
            4 * records,
            T + 100_000
        )],
    );
    write(
        dir,
        "pipeline_batches",
        &[
            format!(
                r#"{{"run_id":"r1","dataflow":"hand","batch_id":0,"worker_id":0,"process_id":0,"records_in":20,"entered_us":{},"completed_us":{},"latency_ms":45.0,"timestamp":1800000000,"insert_id":"x"}}"#,
                T + 5_000,
                T + 50_000
            ),
            format!(
                r#"{{"run_id":"r1","dataflow":"hand","batch_id":1,"worker_id":0,"process_id":0,"records_in":20,"entered_us":{},"completed_us":{},"latency_ms":84.0,"timestamp":1800000000,"insert_id":"x"}}"#,
                T + 6_000,
                T + 90_000
            ),
        ],
    );
    let mut metrics = Vec::new();
    for batch in 0..2u64 {
        for (stage, op, busy) in [
            ("a", 5, [a_busy_ms[0] * MS, a_busy_ms[1] * MS]),
            ("b", 7, [5 * MS, 5 * MS]),
        ] {
            for (worker, busy) in busy.into_iter().enumerate() {
                let start = T + 6_000 + batch * 40_000 + if stage == "b" { 25_000 } else { 0 };
                let mut line = String::new();
                let _ = write!(
                    line,
                    r#"{{"stage_name":"{stage}","batch_id":{batch},"input_count":{records},"output_count":{records},"duration_ms":0,"worker_id":{worker},"timestamp":1800000000,"run_id":"r1","dataflow":"hand","stage_path":"{stage}","stage_kind":"map","operator_id":{op},"process_id":0,"busy_ns":{},"start_us":{start},"end_us":{},"insert_id":"x"}}"#,
                    busy,
                    start + busy / 1000
                );
                metrics.push(line);
            }
        }
    }
    write(dir, "pipeline_metrics", &metrics);
    let mut ops = Vec::new();
    for (worker, a_ms) in a_busy_ms.into_iter().enumerate() {
        for (id, addr, name, stage, scope, ns) in [
            (0, "0", "Dataflow", "", 1, (2 * a_ms + 20) * MS),
            (1, "0.1", "Input", "", 0, 1000),
            (5, "0.2", "a", "a", 0, 1000),
            (7, "0.3", "b", "b", 0, 1000),
            (9, "0.4", "Probe", "", 0, 1000),
        ] {
            ops.push(format!(
                r#"{{"run_id":"r1","dataflow":"hand","worker_id":{worker},"process_id":0,"operator_id":{id},"address":"{addr}","parent_address":"","name":"{name}","stage_path":"{stage}","is_scope":{scope},"schedule_ns":{ns},"activations":3,"max_activation_ns":10,"timestamp":1800000000,"insert_id":"x"}}"#
            ));
        }
    }
    write(dir, "pipeline_operators", &ops);
    let mut channels = Vec::new();
    for worker in 0..2 {
        for (id, from, to) in [(2, 1, 5), (6, 5, 7), (8, 7, 9)] {
            channels.push(format!(
                r#"{{"run_id":"r1","dataflow":"hand","worker_id":{worker},"process_id":0,"channel_id":{id},"scope_address":"0","source_node":1,"source_port":0,"target_node":2,"target_port":0,"source_operator_id":{from},"target_operator_id":{to},"kind":"Vec<i64>","messages_sent":2,"records_sent":20,"messages_received":2,"records_received":20,"timestamp":1800000000,"insert_id":"x"}}"#
            ));
        }
    }
    // A cut-off last line, as a crash mid-write leaves it.
    channels.push(r#"{"run_id":"r1","worker_id":1,"chan"#.to_string());
    write(dir, "pipeline_channels", &channels);
}
