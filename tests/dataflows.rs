//! The seed's three dataflows, through the real binary: identical output
//! multisets for -w 1, -w 4, other batch sizes and a two-process cluster,
//! equal to plain loops over the same records.

mod support;

use mable_pipeline::dataflows::records::{MableEvent, TestStruct};
use mable_pipeline::dataflows::{mable_event, test_struct};
use mable_pipeline::record::SourceRecord;
use serde_json::Value;
use support::cli::{read_ndjson, repo, run_cluster, run_ok};

/// Runs one configuration and returns its output, canonicalised: sorted
/// JSON texts with the run-time stamp `created_at` removed.
fn output(dir: &std::path::Path, name: &str, args: &[&str]) -> Vec<String> {
    let out = dir.join(format!("{name}.ndjson"));
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--output", out.to_str().unwrap(), "-q", "--metrics", "off"]);
    run_ok(dir, &all);
    canonical(read_ndjson(&out))
}

fn canonical(values: Vec<Value>) -> Vec<String> {
    let mut v: Vec<String> = values
        .into_iter()
        .map(|mut r| {
            if let Some(o) = r.as_object_mut() {
                o.remove("created_at");
            }
            r.to_string()
        })
        .collect();
    v.sort();
    v
}

fn cluster_output(dir: &std::path::Path, args: &[&str]) -> Vec<String> {
    let out = dir.join("cluster.ndjson");
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--output",
        out.to_str().unwrap(),
        "-q",
        "--metrics",
        "off",
        "-w",
        "2",
    ]);
    for (i, o) in run_cluster(dir, 2, &all).iter().enumerate() {
        assert!(
            o.status.success(),
            "process {i} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    canonical(read_ndjson(&out))
}

/// Every configuration gives the same multiset, equal to `expected`.
fn check_all_configurations(args: &[&str], expected: Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w1 = output(d, "w1", &[args, &["-w", "1"]].concat());
    assert_eq!(
        w1.len(),
        expected.len(),
        "record count differs from the reference loop"
    );
    assert!(
        w1 == expected,
        "-w 1 output differs from the reference loop"
    );
    let w4 = output(
        d,
        "w4",
        &[args, &["-w", "4", "--batch-size", "333"]].concat(),
    );
    assert!(w4 == expected, "-w 4 --batch-size 333 differs");
    let w3 = output(
        d,
        "w3",
        &[args, &["-w", "3", "--batch-size", "97"]].concat(),
    );
    assert!(w3 == expected, "-w 3 --batch-size 97 differs");
    let cl = cluster_output(d, args);
    assert!(cl == expected, "the two-process cluster's output differs");
}

const N: u64 = 4000;
const SEED: u64 = 7;

#[test]
fn int_is_the_same_everywhere_and_equals_a_loop() {
    let mut expected = Vec::new();
    for i in 0..N {
        let x = i64::generate(i, SEED).unwrap() * 2;
        if x % 3 == 0 {
            expected.extend([x, x + 1, x + 2]);
        }
    }
    let expected = canonical(expected.into_iter().map(Value::from).collect());
    check_all_configurations(
        &["--dataflow", "int", "--size", "4000", "--seed", "7"],
        expected,
    );
}

#[test]
fn test_struct_is_the_same_everywhere_and_equals_a_loop() {
    let mut expected = Vec::new();
    for i in 0..N {
        let mut t = TestStruct::generate(i, SEED).unwrap();
        t.value += 10.0;
        if t.value > 1000.0 {
            let dup = test_struct::duplicate(&t);
            expected.push(serde_json::to_value(&t).unwrap());
            expected.push(serde_json::to_value(&dup).unwrap());
        }
    }
    check_all_configurations(
        &["--dataflow", "test_struct", "--size", "4000", "--seed", "7"],
        canonical(expected),
    );
}

#[test]
fn mable_event_is_the_same_everywhere_and_equals_a_loop() {
    let template_path = repo().join("testdata/mable_event.json");
    let template: MableEvent =
        serde_json::from_slice(&std::fs::read(&template_path).unwrap()).unwrap();
    let mut expected = Vec::new();
    for i in 0..N {
        let mut e = MableEvent::synthesize(&template, i);
        e.set_price(mable_event::price_of(SEED, &e.eid));
        let audit = mable_event::audit_copy(&e);
        for r in [e, audit] {
            if r.price() > 500.0 {
                expected.push(serde_json::to_value(&r).unwrap());
            }
        }
    }
    assert!(
        !expected.is_empty() && expected.len() < N as usize,
        "the filter keeps some, not all"
    );
    let t = template_path.to_str().unwrap();
    check_all_configurations(&["--size", "4000", "--seed", "7", t], canonical(expected));
}

/// NDJSON and array inputs are read in parallel by byte range and by element:
/// every record is read exactly once whatever the worker count.
#[test]
fn ndjson_and_array_files_read_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let template: MableEvent =
        serde_json::from_slice(&std::fs::read(repo().join("testdata/mable_event.json")).unwrap())
            .unwrap();
    let events: Vec<MableEvent> = (0..2500)
        .map(|i| MableEvent::synthesize(&template, i))
        .collect();
    let ndjson: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(d.join("events.ndjson"), &ndjson).unwrap();
    std::fs::write(
        d.join("events.json"),
        serde_json::to_string_pretty(&events).unwrap(),
    )
    .unwrap();
    let mut expected = Vec::new();
    for e in &events {
        let mut e = e.clone();
        e.set_price(mable_event::price_of(0, &e.eid));
        if e.price() > 500.0 {
            expected.push(serde_json::to_value(&e).unwrap());
        }
    }
    let expected = canonical(expected);
    for file in ["events.ndjson", "events.json"] {
        for w in ["1", "2", "4"] {
            let got = output(
                d,
                &format!("{file}-{w}"),
                &["-w", w, "--batch-size", "100", file],
            );
            assert!(
                got == expected,
                "{file} with -w {w} differs ({} vs {} records)",
                got.len(),
                expected.len()
            );
        }
    }
}
