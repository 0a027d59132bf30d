//! Failures end a run promptly with a message that says what broke: a panic
//! in a user's stage, and a cluster peer that never starts.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use mable_pipeline::failure::Failure;
use mable_pipeline::input::InputSpec;
use mable_pipeline::pipeline::{Collect, Pipeline};
use mable_pipeline::run::{MetricsTarget, PipelineFactory, RunConfig, RunError, run};
use mable_pipeline::table::Table;
use support::cli::{hostfile, run_in};

/// A watchdog, not a timing assertion: a hang must fail the test rather than CI.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("the run hung")
}

/// Library runs in this file take turns, so that counting the process's
/// timely worker threads after one of them sees only its own.
static LIBRARY_RUN: Mutex<()> = Mutex::new(());

/// Runs `factory` as a library call on `workers` threads over `size`
/// generated records and returns its error, checking that no timely worker
/// thread outlives the failed run.
fn failing_run(workers: usize, size: u64, factory: PipelineFactory<i64, i64>) -> RunError {
    let mut config = RunConfig::local(InputSpec::Generated { size, seed: 1 }, workers);
    config.batch_size = Some(1000);
    failing_run_with(config, factory)
}

/// [`failing_run`] with a configuration of the test's own.
fn failing_run_with(config: RunConfig, factory: PipelineFactory<i64, i64>) -> RunError {
    let _turn = LIBRARY_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let err = within(Duration::from_secs(120), move || {
        run("test", factory, &config).err()
    })
    .expect("the run must fail");
    // A joined thread can stay listed in /proc for a moment after `join`
    // returns (the kernel wakes the joiner before it unlists the thread), so
    // look again for a little while: far less than the slow stage below.
    let until = std::time::Instant::now() + Duration::from_millis(250);
    let mut left = timely_threads();
    while !left.is_empty() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
        left = timely_threads();
    }
    assert!(
        left.is_empty(),
        "threads still running after `{err}`: {left:?}"
    );
    err
}

/// Names of this process's threads that belong to a timely run.
fn timely_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("timely:") || name.starts_with("mable:timely"))
        .collect()
}

#[test]
fn a_panicking_stage_ends_the_run_and_is_named() {
    // Generated values are < 1000; `seed_bad` turns 0 into 1233, which `fine`
    // makes 1234 on its way into the nested `explode`.
    let factory = Arc::new(|_: &mable_pipeline::dataflows::Params| {
        Pipeline::<i64, i64>::new()
            .map("seed_bad", |x: i64| if x == 0 { 1233 } else { x })
            .if_else(
                "all",
                |_: &i64| true,
                Pipeline::new().map("fine", |x: i64| x + 1).if_else(
                    "route",
                    |x: &i64| x % 2 == 0,
                    Pipeline::new().map("explode", |x: i64| {
                        if x == 1234 {
                            panic!("cannot handle {x}");
                        }
                        x
                    }),
                    Pipeline::new(),
                ),
                Pipeline::new(),
            )
    });
    let err = failing_run(3, 200_000, factory).to_string();
    assert!(
        err.contains("stage `all/then/route/then/explode` panicked"),
        "{err}"
    );
    assert!(err.contains("cannot handle 1234"), "{err}");
}

#[test]
fn a_failure_is_the_runs_error_not_a_hang() {
    // A failure reported while other workers still have work: they stop, and
    // run() returns only once they have, even one busy in a slow batch.
    let factory = Arc::new(|_: &mable_pipeline::dataflows::Params| {
        Pipeline::<i64, i64>::new().filter("boom", |x: &i64| {
            assert!(*x != 7, "seven");
            if *x == 8 {
                std::thread::sleep(Duration::from_secs(1));
            }
            true
        })
    });
    match failing_run(2, 1_000_000, factory) {
        RunError::Failed(Failure::StagePanic { stage, message, .. }) => {
            assert_eq!(stage, "boom");
            assert!(message.contains("seven"));
        }
        other => panic!("expected a stage panic, got {other:?}"),
    }
}

#[test]
fn an_aggregate_sum_beyond_i64_is_a_named_failure() {
    // Each worker's partial sum fits; their total does not. Summing exactly,
    // the stage must say so rather than wrap, saturate or die as a bug.
    let factory = Arc::new(|_: &mable_pipeline::dataflows::Params| {
        Pipeline::<i64, i64>::new().aggregate_by_key(
            "revenue",
            |_: &i64| Some(String::from("shop")),
            |_: &i64| i64::MAX / 1000,
        )
    });
    match failing_run(3, 3000, factory) {
        RunError::Failed(Failure::AggregateOverflow { stage, key, .. }) => {
            assert_eq!(stage, "revenue");
            assert_eq!(key, "\"shop\"");
        }
        other => panic!("expected an aggregate overflow, got {other:?}"),
    }
}

#[test]
fn an_absent_peer_is_an_error_after_the_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = hostfile(dir.path(), 2);
    let out = within(Duration::from_secs(120), {
        let dir = dir.path().to_path_buf();
        let hosts = hosts.to_str().unwrap().to_string();
        move || {
            run_in(
                &dir,
                &[
                    "--dataflow",
                    "int",
                    "--size",
                    "1000",
                    "-n",
                    "2",
                    "-p",
                    "1",
                    "--hostfile",
                    &hosts,
                    "--connect-timeout",
                    "2",
                    "-q",
                ],
            )
        }
    });
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not all processes connected within 2s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("-n 2"),
        "the error should say how to start the others:\n{stderr}"
    );
}

#[test]
fn a_bad_process_index_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "--dataflow",
            "int",
            "--size",
            "10",
            "-n",
            "2",
            "-p",
            "5",
            "-q",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("-p 5 is out of range"));
}

#[test]
fn a_record_the_table_cannot_write_fails_the_run_and_names_the_stage() {
    // JSON object keys must be strings: this record has no JSON form, and
    // keeping an empty row in its place would be silent loss.
    #[derive(serde::Serialize)]
    struct Pairs {
        m: BTreeMap<(i64, i64), i64>,
    }
    let factory = Arc::new(|_: &mable_pipeline::dataflows::Params| {
        let pairs = Table::new(
            "pairs",
            "CREATE TABLE IF NOT EXISTS {db}.pairs (run_id String, m String, insert_id String) \
             ENGINE = Log",
        );
        Pipeline::<i64, i64>::new()
            .map("pair_keys", |x: i64| BTreeMap::from([((x, x), x)]))
            .collect(
                "keep",
                Collect::table(&pairs, |m: &BTreeMap<(i64, i64), i64>| Pairs {
                    m: m.clone(),
                }),
            )
            .map("back", |m: BTreeMap<(i64, i64), i64>| m.len() as i64)
    });
    let dir = tempfile::tempdir().unwrap();
    let mut config = RunConfig::local(
        InputSpec::Generated {
            size: 5000,
            seed: 1,
        },
        2,
    );
    config.metrics = MetricsTarget::Files {
        dir: dir.path().to_path_buf(),
    };
    match failing_run_with(config, factory) {
        RunError::Failed(Failure::Output { path, reason }) => {
            assert_eq!(path, "table pairs");
            assert!(
                reason.contains("stage `keep` cannot be written as a row"),
                "{reason}"
            );
        }
        other => panic!("expected an output failure, got {other:?}"),
    }
}
