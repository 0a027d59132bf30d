//! Failures end a run promptly with a message that says what broke: a panic
//! in a user's stage, and a cluster peer that never starts.

mod support;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use mable_pipeline::failure::Failure;
use mable_pipeline::input::InputSpec;
use mable_pipeline::pipeline::Pipeline;
use mable_pipeline::run::{RunConfig, RunError, run};
use support::cli::{hostfile, run_in};

/// A watchdog, not a timing assertion: a hang must fail the test rather than CI.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("the run hung")
}

#[test]
fn a_panicking_stage_ends_the_run_and_is_named() {
    let err = within(Duration::from_secs(120), || {
        let factory = Arc::new(|_: &mable_pipeline::dataflows::Params| {
            Pipeline::<i64, i64>::new()
                .map("fine", |x: i64| x + 1)
                .if_else(
                    "route",
                    |x: &i64| x % 2 == 0,
                    Pipeline::new().map("explode", |x: i64| {
                        if x == 1234 {
                            panic!("cannot handle {x}");
                        }
                        x
                    }),
                    Pipeline::new(),
                )
        });
        let mut config = RunConfig::local(
            InputSpec::Generated {
                size: 200_000,
                seed: 1,
            },
            3,
        );
        config.batch_size = Some(1000);
        // Values are < 1000 before `fine`; make one of them 1233.
        let factory2 = factory.clone();
        let wrapped = Arc::new(move |p: &mable_pipeline::dataflows::Params| {
            Pipeline::<i64, i64>::new()
                .map("seed_bad", |x: i64| if x == 0 { 1233 } else { x })
                .if_else("all", |_: &i64| true, factory2(p), Pipeline::new())
        });
        run("test", wrapped, &config).err().map(|e| e.to_string())
    });
    let err = err.expect("the run must fail");
    assert!(
        err.contains("stage `all/then/route/then/explode` panicked"),
        "{err}"
    );
    assert!(err.contains("cannot handle 1234"), "{err}");
}

#[test]
fn a_failure_is_the_runs_error_not_a_hang() {
    // A failure reported while other workers still have work: they stop.
    let result = within(Duration::from_secs(120), || {
        let factory = Arc::new(|_: &mable_pipeline::dataflows::Params| {
            Pipeline::<i64, i64>::new().filter("boom", |x: &i64| {
                assert!(*x != 7, "seven");
                true
            })
        });
        let config = RunConfig::local(
            InputSpec::Generated {
                size: 1_000_000,
                seed: 3,
            },
            2,
        );
        run("test", factory, &config).map(|_| ())
    });
    match result {
        Err(RunError::Failed(Failure::StagePanic { stage, message, .. })) => {
            assert_eq!(stage, "boom");
            assert!(message.contains("seven"));
        }
        other => panic!("expected a stage panic, got {other:?}"),
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
