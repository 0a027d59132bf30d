//! `aggregate_by_key` on differential dataflow: after every batch, exactly the
//! keys that batch touched are reported, each with its exact running count,
//! sum, min and max — compared with a plain loop, for 1–4 workers and random
//! batch sizes.

use std::collections::BTreeMap;
use std::sync::Arc;

use mable_pipeline::input::InputSpec;
use mable_pipeline::pipeline::{Aggregate, Pipeline};
use mable_pipeline::record::SourceRecord;
use mable_pipeline::run::{MetricsTarget, RunConfig, run};
use proptest::prelude::*;

fn check(size: u64, seed: u64, workers: usize, batch: usize, modulus: i64) {
    let dir = tempfile::tempdir().unwrap();
    let factory = Arc::new(move |_: &mable_pipeline::dataflows::Params| {
        Pipeline::<i64, i64>::new()
            .filter("some", |x: &i64| x % 10 != 0)
            .aggregate_by_key(
                "by_rest",
                move |x: &i64| Some(x % modulus),
                |x: &i64| *x - 500,
            )
    });
    let mut config = RunConfig::local(InputSpec::Generated { size, seed }, workers);
    config.batch_size = Some(batch);
    config.metrics = MetricsTarget::Files {
        dir: dir.path().to_path_buf(),
    };
    let report = run("agg", factory, &config).expect("run");

    // The plain loop: running aggregates, and what each batch changed.
    let mut running: BTreeMap<i64, Aggregate> = BTreeMap::new();
    let mut expected: BTreeMap<(u64, String), Aggregate> = BTreeMap::new();
    for i in 0..size {
        let x = i64::generate(i, seed).unwrap();
        if x % 10 == 0 {
            continue;
        }
        let (k, v) = (x % modulus, x - 500);
        let a = running.entry(k).or_insert(Aggregate {
            count: 0,
            sum: 0,
            min: i64::MAX,
            max: i64::MIN,
        });
        a.count += 1;
        a.sum += v;
        a.min = a.min.min(v);
        a.max = a.max.max(v);
        expected.insert((i / batch as u64, k.to_string()), *a);
    }
    let mut got: BTreeMap<(u64, String), Aggregate> = BTreeMap::new();
    for u in std::fs::read_dir(dir.path()).unwrap() {
        let file = u.unwrap().path().join("pipeline_aggregates.ndjson");
        for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let a = Aggregate {
                count: v["count"].as_i64().unwrap(),
                sum: v["sum"].as_i64().unwrap(),
                min: v["min"].as_i64().unwrap(),
                max: v["max"].as_i64().unwrap(),
            };
            let prev = got.insert(
                (
                    v["batch_id"].as_u64().unwrap(),
                    v["key"].as_str().unwrap().to_string(),
                ),
                a,
            );
            assert!(prev.is_none(), "a key was reported twice for one batch");
        }
    }
    assert_eq!(got, expected, "per-batch updates differ from the loop");
    // Differential's arrangement log shows the state it keeps.
    let mut arranged = 0;
    for u in std::fs::read_dir(dir.path()).unwrap() {
        let file = u.unwrap().path().join("pipeline_arrangements.ndjson");
        for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            arranged = arranged.max(v["records"].as_i64().unwrap());
        }
    }
    assert!(arranged > 0, "no arrangement sizes were captured");
    // The summary holds the final values.
    let finals: BTreeMap<String, Aggregate> = report
        .aggregates
        .iter()
        .map(|u| (u.key.clone(), u.value))
        .collect();
    let loop_finals: BTreeMap<String, Aggregate> =
        running.iter().map(|(k, a)| (k.to_string(), *a)).collect();
    assert_eq!(finals, loop_finals);
    // Records pass through the stage unchanged.
    assert_eq!(
        report.records_out,
        (0..size)
            .filter(|&i| i64::generate(i, seed).unwrap() % 10 != 0)
            .count() as u64
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn running_aggregates_match_a_plain_loop(
        size in 1u64..3000,
        seed in any::<u64>(),
        workers in 1usize..=4,
        batch in 1usize..400,
        modulus in 1i64..40,
    ) {
        check(size, seed, workers, batch, modulus);
    }
}

#[test]
fn many_batches_and_keys() {
    check(50_000, 9, 3, 777, 97);
}
