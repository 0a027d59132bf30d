//! Stage semantics on the real engine, against plain sequential loops, for
//! random inputs, worker counts 1–4 and random batch sizes.

use std::sync::{Arc, Mutex};

use mable_pipeline::input::InputSpec;
use mable_pipeline::pipeline::{Arrived, Collect, Give, Pipeline};
use mable_pipeline::record::Record;
use mable_pipeline::run::{RunConfig, RunReport, run};
use proptest::prelude::*;
use timely::progress::frontier::MutableAntichain;

/// Runs `make()`'s pipeline over `input` (as an NDJSON file, or generated
/// when `None`) and returns every record that reached the end.
fn execute<O: Record + Ord>(
    input: Option<&[i64]>,
    workers: usize,
    batch: usize,
    make: impl Fn() -> Pipeline<i64, O> + Send + Sync + 'static,
) -> (Vec<O>, RunReport) {
    let dir = tempfile::tempdir().unwrap();
    let spec = match input {
        Some(values) => {
            let path = dir.path().join("in.ndjson");
            let text: String = values.iter().map(|v| format!("{v}\n")).collect();
            std::fs::write(&path, text).unwrap();
            InputSpec::File(path)
        }
        None => InputSpec::Generated { size: 0, seed: 0 },
    };
    let captured = Arc::new(Mutex::new(Vec::new()));
    let sink = captured.clone();
    let factory = Arc::new(move |_: &mable_pipeline::dataflows::Params| {
        let sink = sink.clone();
        make().collect(
            "capture",
            Collect::callback(move |_, records: &[O]| {
                sink.lock().unwrap().extend_from_slice(records)
            }),
        )
    });
    let mut config = RunConfig::local(spec, workers);
    config.batch_size = Some(batch);
    config.metrics = mable_pipeline::run::MetricsTarget::Files {
        dir: dir.path().join("metrics"),
    };
    let report = run("test", factory, &config).expect("run succeeds");
    let mut out = std::mem::take(&mut *captured.lock().unwrap());
    out.sort();
    (out, report)
}

fn reduce_total(report: &RunReport, stage: &str) -> i64 {
    report
        .reductions
        .iter()
        .filter(|r| r.stage == stage)
        .map(|r| r.value.parse::<i64>().unwrap())
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn linear_stages_match_a_plain_loop(
        input in prop::collection::vec(-1000i64..1000, 1..400),
        workers in 1usize..=4,
        batch in 1usize..64,
        k in -5i64..5,
        m in 1i64..7,
        fan in 0i64..4,
    ) {
        let (out, report) = execute(Some(&input), workers, batch, move || {
            Pipeline::new()
                .map("scale", move |x: i64| x * k)
                .filter("divisible", move |x: &i64| x % m == 0)
                .generate("fan", move |x: i64, out: &mut Vec<i64>| out.extend((0..fan).map(|i| x + i)))
                .reduce("sum", 0i64, |a: &mut i64, x: &i64| *a += x, |a: &mut i64, b: i64| *a += b)
        });
        let mut expected = Vec::new();
        for x in &input {
            let y = x * k;
            if y % m == 0 {
                for i in 0..fan {
                    expected.push(y + i);
                }
            }
        }
        let total: i64 = expected.iter().sum();
        expected.sort();
        prop_assert_eq!(&out, &expected);
        prop_assert_eq!(report.records_in, input.len() as u64);
        prop_assert_eq!(report.records_out, expected.len() as u64);
        prop_assert_eq!(reduce_total(&report, "sum"), total);
        // Every stage's counts are the loop's.
        let stage = |p: &str| report.stages.iter().find(|s| s.path == p).unwrap().clone();
        prop_assert_eq!(stage("scale").input, input.len() as u64);
        prop_assert_eq!(stage("fan").output, expected.len() as u64);
    }

    #[test]
    fn nested_if_else_matches_a_plain_loop(
        input in prop::collection::vec(-500i64..500, 1..300),
        workers in 1usize..=4,
        batch in 1usize..50,
    ) {
        let (out, report) = execute(Some(&input), workers, batch, || {
            Pipeline::new().if_else(
                "if_even",
                |x: &i64| x % 2 == 0,
                Pipeline::new().map("halve", |x: i64| x / 2).if_else(
                    "if_positive",
                    |x: &i64| *x > 0,
                    Pipeline::new().generate("twice", |x: i64, o: &mut Vec<i64>| o.extend([x, x])),
                    Pipeline::new().filter("small", |x: &i64| *x > -100),
                ),
                Pipeline::new().map("negate", |x: i64| -x),
            )
        });
        let mut expected = Vec::new();
        for &x in &input {
            if x % 2 == 0 {
                let h = x / 2;
                if h > 0 {
                    expected.extend([h, h]);
                } else if h > -100 {
                    expected.push(h);
                }
            } else {
                expected.push(-x);
            }
        }
        expected.sort();
        prop_assert_eq!(&out, &expected);
        let paths: Vec<_> = report.stages.iter().map(|s| s.path.as_str()).collect();
        for p in ["if_even", "if_even/then/halve", "if_even/then/if_positive/then/twice", "if_even/merge", "if_even/else/negate"] {
            prop_assert!(paths.contains(&p), "missing stage {} in {:?}", p, paths);
        }
    }

    /// A user's own timely operator that holds each batch until the input
    /// frontier passes it, then gives one record: (batch, records it saw on
    /// this worker). Released early, a batch would show up more than once
    /// per worker; kept, its counts would be lost.
    #[test]
    fn an_operator_stage_holds_batches_until_the_frontier_passes(
        input in prop::collection::vec(-1000i64..1000, 1..300),
        workers in 1usize..=4,
        batch in 1usize..40,
    ) {
        let (out, report) = execute(Some(&input), workers, batch, || {
            Pipeline::new()
                .filter("positive", |x: &i64| *x > 0)
                .operator("count_per_batch", |_info| {
                    let mut held = std::collections::BTreeMap::new();
                    move |arrived: &mut Arrived<i64>, frontier: &MutableAntichain<u64>, out: &mut Give<(u64, i64)>| {
                        for (cap, records) in arrived.drain(..) {
                            let (_, n) = held.entry(*cap.time()).or_insert_with(|| (cap.clone(), 0i64));
                            *n += records.len() as i64;
                        }
                        while let Some(entry) = held.first_entry() {
                            if frontier.less_equal(entry.key()) {
                                break;
                            }
                            let (cap, n) = entry.remove();
                            out.give(&cap, vec![(*cap.time(), n)]);
                        }
                    }
                })
        });
        let positive = input.iter().filter(|x| **x > 0).count() as i64;
        prop_assert_eq!(out.iter().map(|(_, n)| n).sum::<i64>(), positive);
        let mut per_batch = std::collections::BTreeMap::<u64, usize>::new();
        for (b, _) in &out {
            *per_batch.entry(*b).or_default() += 1;
        }
        for (b, n) in per_batch {
            prop_assert!(n <= workers, "batch {} released {} times by {} workers", b, n, workers);
        }
        // Metered like a built-in stage: records in and out, kind custom.
        let stage = report.stages.iter().find(|s| s.path == "count_per_batch").unwrap();
        prop_assert_eq!(stage.kind.as_str(), "custom");
        prop_assert_eq!(stage.input, positive as u64);
        prop_assert_eq!(stage.output, out.len() as u64);
    }

    #[test]
    fn type_changing_map_matches_a_plain_loop(
        input in prop::collection::vec(any::<i64>(), 1..200),
        workers in 1usize..=3,
        batch in 1usize..40,
    ) {
        let (out, _) = execute(Some(&input), workers, batch, || {
            Pipeline::new().map("describe", |x: i64| format!("n{x}"))
        });
        let mut expected: Vec<String> = input.iter().map(|x| format!("n{x}")).collect();
        expected.sort();
        prop_assert_eq!(out, expected);
    }
}

#[test]
fn one_record_passes_every_stage() {
    let (out, report) = execute(Some(&[3]), 4, 1, || {
        Pipeline::new().map("inc", |x: i64| x + 1).reduce(
            "sum",
            0i64,
            |a: &mut i64, x: &i64| *a += x,
            |a: &mut i64, b: i64| *a += b,
        )
    });
    assert_eq!(out, vec![4]);
    assert_eq!(reduce_total(&report, "sum"), 4);
    assert_eq!(report.batches, 1);
}

#[test]
fn empty_input_runs_and_yields_nothing() {
    let (out, report) = execute(None, 3, 10, || Pipeline::new().map("inc", |x: i64| x + 1));
    assert!(out.is_empty());
    assert_eq!(report.records_in, 0);
}

#[test]
fn duplicate_stage_names_are_refused() {
    let p: Pipeline<i64, i64> = Pipeline::new()
        .map("a", |x: i64| x)
        .filter("a", |_: &i64| true);
    assert!(p.check().unwrap_err().to_string().contains("`a`"));
}
