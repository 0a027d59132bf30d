//! Cluster runs across real network hosts: three network namespaces on a
//! bridge, each with its own address (tests/support/netns.rs), one process
//! in each, `-n 3 -w 2`. Every process works in a directory of its own (its
//! "disk"); they share only the input file, which stands in for the same
//! file on every host.
//!
//! - the cluster's output, aggregates, per-stage metric sums and metric row
//!   counts equal a single-process run's (and README's formula);
//! - a host killed mid-run ends the others within seconds, naming it;
//! - a host gone silent (a partition) ends the others within the stall
//!   timeout, naming it;
//! - start-up: nobody at an address, an unroutable address, a late process.
//!
//! Without root these tests print `SKIPPED: …` (and fail under
//! `MABLE_REQUIRE_NETNS=1`, as in ops/test.sh). `--nocapture` shows the
//! measured times.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cli::{read_ndjson, repo, run_ok};
use support::metric_rows::{self, RunFiles, RunShape};
use support::netns::{Hosts, Proc, serial, wait_all};

const PORT: u16 = 2101;

/// One cluster run's layout: a hostfile and a directory per host.
struct Cluster<'a> {
    hosts: &'a Hosts,
    dir: PathBuf,
    hostfile: PathBuf,
    processes: usize,
}

impl<'a> Cluster<'a> {
    /// A cluster whose hostfile lists `addrs` (line *i* for process *i*).
    fn new(hosts: &'a Hosts, dir: &Path, name: &str, addrs: &[String]) -> Cluster<'a> {
        let dir = dir.join(name);
        for i in 0..addrs.len() {
            std::fs::create_dir_all(dir.join(format!("h{i}"))).unwrap();
        }
        let hostfile = Hosts::hostfile(&dir, "hosts.txt", addrs);
        Cluster {
            hosts,
            dir,
            hostfile,
            processes: addrs.len(),
        }
    }

    /// A cluster of every host on `port`.
    fn on(hosts: &'a Hosts, dir: &Path, name: &str, port: u16) -> Cluster<'a> {
        Cluster::new(hosts, dir, name, &hosts.addresses(port))
    }

    fn host_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("h{i}"))
    }

    fn address(&self, i: usize) -> String {
        std::fs::read_to_string(&self.hostfile)
            .unwrap()
            .lines()
            .nth(i)
            .unwrap()
            .to_string()
    }

    /// Starts process `i` in host `i` with `args`, its own `-n -p --hostfile`
    /// and `--connect-timeout secs`.
    fn start(&self, i: usize, args: &[&str], connect_timeout: u64) -> Proc {
        let mut cmd = self.hosts.mable(i);
        cmd.current_dir(self.host_dir(i))
            .args(args)
            .args(["-n", &self.processes.to_string(), "-p", &i.to_string()])
            .arg("--hostfile")
            .arg(&self.hostfile)
            .args(["--connect-timeout", &connect_timeout.to_string()]);
        Proc::spawn(cmd, i)
    }

    fn start_all(&self, args: &[&str]) -> Vec<Proc> {
        (0..self.processes)
            .rev()
            .map(|i| self.start(i, args, 20))
            .rev()
            .collect()
    }

    fn metrics_dirs(&self) -> Vec<PathBuf> {
        (0..self.processes)
            .map(|i| self.host_dir(i).join("metrics"))
            .collect()
    }

    /// Process `i`'s `pipeline_runs` row.
    fn run_row(&self, i: usize) -> Value {
        let metrics = self.host_dir(i).join("metrics");
        let run = std::fs::read_dir(&metrics)
            .unwrap_or_else(|e| panic!("{}: {e}", metrics.display()))
            .flatten()
            .find(|e| e.path().is_dir() && e.file_name() != "spool")
            .expect("a run directory")
            .path();
        let rows = read_ndjson(&run.join(format!("pipeline_runs.p{i}.ndjson")));
        assert_eq!(rows.len(), 1, "process {i}: one pipeline_runs row");
        rows[0].clone()
    }

    /// Bytes process `i` has written to `pipeline_metrics` so far.
    fn metrics_bytes(&self, i: usize) -> u64 {
        std::fs::read_dir(self.host_dir(i).join("metrics"))
            .map(|d| {
                d.flatten()
                    .filter_map(|run| {
                        std::fs::metadata(run.path().join(format!("pipeline_metrics.p{i}.ndjson")))
                            .ok()
                    })
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Waits until every process has shipped some batches' metrics: the
    /// run is under way on every host.
    fn wait_until_running(&self, procs: &mut [Proc]) {
        let start = Instant::now();
        loop {
            if (0..self.processes).all(|i| self.metrics_bytes(i) > 20_000) {
                return;
            }
            for p in procs.iter_mut() {
                if let Some(out) = p.exited() {
                    panic!(
                        "process {} ended before the run got going ({}): {}",
                        p.host,
                        out.status,
                        stderr(&out)
                    );
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the cluster never got going"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Output records, canonical: sorted JSON texts without the run-time stamp.
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

/// Each aggregate key's final (count, sum, min, max): its row of the latest batch.
fn aggregate_finals(files: &RunFiles) -> BTreeMap<(String, String), [i64; 4]> {
    let mut latest: BTreeMap<(String, String), (u64, [i64; 4])> = BTreeMap::new();
    for r in files.table("pipeline_aggregates") {
        let key = (
            r["stage_path"].as_str().unwrap().to_string(),
            r["key"].as_str().unwrap().to_string(),
        );
        let value = ["count", "sum", "min", "max"].map(|c| r[c].as_i64().unwrap());
        let batch = r["batch_id"].as_u64().unwrap();
        let slot = latest.entry(key).or_insert((batch, value));
        assert!(
            batch != slot.0 || value == slot.1,
            "two values for one key in one batch: {r}"
        );
        if batch > slot.0 {
            *slot = (batch, value);
        }
    }
    latest.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn times(v: &[Duration]) -> String {
    let mut s = v.to_vec();
    s.sort();
    format!(
        "min {:?}, median {:?}, max {:?} over {} exits",
        s[0],
        median(s.clone()),
        s[s.len() - 1],
        s.len()
    )
}

#[test]
fn three_hosts_give_a_single_process_runs_output_aggregates_and_metric_sums() {
    let _serial = serial();
    let Some(hosts) = Hosts::new(
        3,
        "three_hosts_give_a_single_process_runs_output_aggregates_and_metric_sums",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let template = repo().join("testdata/mable_event.json");
    let full = repo().join("testdata/mable_events_full.ndjson");
    let (template, full) = (template.to_str().unwrap(), full.to_str().unwrap());
    let cases: [(&str, Vec<&str>, bool); 3] = [
        (
            "mable_event",
            vec![
                "--size",
                "30000",
                "--batch-size",
                "3000",
                "--seed",
                "7",
                template,
            ],
            true,
        ),
        (
            "test_struct",
            vec![
                "--dataflow",
                "test_struct",
                "--size",
                "30000",
                "--batch-size",
                "3000",
                "--seed",
                "7",
            ],
            true,
        ),
        (
            "conversions",
            vec!["--dataflow", "conversions", "--batch-size", "6", full],
            false,
        ),
    ];
    for (dataflow, args, every_worker_every_batch) in cases {
        let mut args = args.clone();
        args.extend(["-q", "-w", "2", "--output", "out.ndjson"]);

        // The reference: one process, two workers, on this machine.
        let single = dir.path().join(format!("{dataflow}-single"));
        std::fs::create_dir_all(&single).unwrap();
        run_ok(&single, &args);
        let want = canonical(read_ndjson(&single.join("out.ndjson")));
        let want_files = RunFiles::read(&[single.join("metrics")]);

        // Three hosts.
        let cluster = Cluster::on(&hosts, dir.path(), dataflow, PORT);
        for p in cluster.start_all(&args) {
            let host = p.host;
            let out = p.output();
            assert!(
                out.status.success(),
                "{dataflow}: process {host} failed: {}",
                stderr(&out)
            );
        }
        let got = canonical(read_ndjson(&cluster.host_dir(0).join("out.ndjson")));
        assert!(!want.is_empty(), "{dataflow}: the reference has output");
        assert_eq!(
            got.len(),
            want.len(),
            "{dataflow}: record count across 3 hosts"
        );
        assert!(
            got == want,
            "{dataflow}: the 3-host output differs from one process's"
        );
        for i in 1..3 {
            let other = cluster.host_dir(i).join("out.ndjson");
            assert!(
                !other.exists() || read_ndjson(&other).is_empty(),
                "{dataflow}: records reach process 0's --output only"
            );
        }
        let files = RunFiles::read(&cluster.metrics_dirs());

        // Aggregates: every key's final value, exactly.
        let finals = aggregate_finals(&files);
        assert_eq!(
            finals,
            aggregate_finals(&want_files),
            "{dataflow}: aggregates across 3 hosts"
        );
        if dataflow == "conversions" {
            assert!(finals.len() > 10, "the test data has aggregate keys");
        }

        // Every process ships its own metrics, and they add up per stage.
        let totals = files.stage_totals();
        assert_eq!(
            totals,
            want_files.stage_totals(),
            "{dataflow}: per stage (sum of input_count, sum of output_count), 3 hosts vs one process"
        );
        for i in 0..3 {
            let own = files
                .table("pipeline_metrics")
                .iter()
                .filter(|r| r["process_id"] == i)
                .count();
            assert!(
                own > 0,
                "{dataflow}: process {i} shipped no pipeline_metrics"
            );
        }
        let runs = files.table("pipeline_runs");
        assert_eq!(
            runs.len(),
            3,
            "{dataflow}: one pipeline_runs row per process"
        );
        let mut processes: Vec<u64> = runs
            .iter()
            .map(|r| r["process_id"].as_u64().unwrap())
            .collect();
        processes.sort();
        assert_eq!(processes, [0, 1, 2]);
        for r in runs {
            assert_eq!(r["run_id"], runs[0]["run_id"], "one run id: {r}");
            assert_eq!(r["status"], "ok", "{r}");
            assert_eq!(r["processes"], 3, "{r}");
        }
        let records_in: u64 = runs.iter().map(|r| r["records_in"].as_u64().unwrap()).sum();
        assert_eq!(
            records_in,
            want_files.table("pipeline_runs")[0]["records_in"]
                .as_u64()
                .unwrap(),
            "{dataflow}: records in, summed over processes"
        );

        // README's formula for the number of rows, on both runs.
        for (label, files, workers, processes) in [
            ("one process", &want_files, 2, 1),
            ("3 hosts", &files, 6, 3),
        ] {
            let batches = files
                .table("pipeline_metrics")
                .iter()
                .map(|r| r["batch_id"].as_u64().unwrap())
                .max()
                .unwrap()
                + 1;
            let run = RunShape {
                batches,
                workers,
                processes,
                every_worker_every_batch,
            };
            let bad = metric_rows::check(dataflow, true, run, files);
            assert!(
                bad.is_empty(),
                "{dataflow}, {label}: rows per table disagree with README's formula:\n{}",
                bad.join("\n")
            );
        }
        eprintln!(
            "3 hosts, {dataflow}: output equal ({} records), {} aggregate keys exact, {} stages' \
             metric sums equal; rows per table match the formula",
            got.len(),
            finals.len(),
            totals.len()
        );
    }
}

#[test]
fn a_host_killed_mid_run_ends_the_others_within_seconds_naming_it() {
    let _serial = serial();
    let Some(hosts) = Hosts::new(
        3,
        "a_host_killed_mid_run_ends_the_others_within_seconds_naming_it",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let template = repo().join("testdata/mable_event.json");
    let args = [
        "--size",
        "100000000",
        "-q",
        "-w",
        "2",
        template.to_str().unwrap(),
    ];
    let mut waits = Vec::new();
    for (trial, victim) in [2, 1, 0, 2, 1, 0].into_iter().enumerate() {
        let cluster = Cluster::on(&hosts, dir.path(), &format!("kill{trial}"), PORT);
        let mut procs = cluster.start_all(&args);
        cluster.wait_until_running(&mut procs);
        let mut dead = procs.remove(victim);
        dead.kill();
        let killed = Instant::now();
        let address = cluster.address(victim);
        for exit in wait_all(procs, Duration::from_secs(15)) {
            let i = exit.host;
            let (out, at) = exit.result.unwrap_or_else(|e| panic!("trial {trial}: {e}"));
            let waited = at - killed;
            waits.push(waited);
            let err = stderr(&out);
            eprintln!(
                "dead host, trial {trial}: killed process {victim}; process {i} exited after {waited:?}: {}",
                err.trim()
            );
            assert!(
                waited < Duration::from_secs(10),
                "trial {trial}: process {i} took {waited:?}"
            );
            assert!(
                !out.status.success(),
                "trial {trial}: process {i} succeeded"
            );
            assert_eq!(
                err.trim().lines().count(),
                1,
                "trial {trial}: process {i}: one line: {err}"
            );
            let named = format!("lost process {victim} ({address})");
            assert!(
                err.starts_with("error: ") && err.contains(&named),
                "trial {trial}: process {i} should say {named:?}: {err}"
            );
            assert!(
                !err.contains("panicked") && !err.contains("internal error"),
                "{err}"
            );
            let row = cluster.run_row(i);
            assert_eq!(row["status"], "failed", "trial {trial}: process {i}: {row}");
            assert!(
                row["records_in"].as_u64().unwrap() > 0,
                "trial {trial}: process {i} kept its counts: {row}"
            );
            assert!(
                row["error"].as_str().unwrap().contains(&named),
                "trial {trial}: {row}"
            );
        }
    }
    eprintln!("dead host: time to exit after SIGKILL: {}", times(&waits));
}

/// The stall detector's contract (`--stall-timeout SECS`): no frontier
/// advance and no input read for that long while work remains fails the
/// run with one line `error: stalled: …` naming the processes (and their
/// addresses) still holding the frontier back.
#[test]
fn a_silent_host_stalls_the_others_which_end_naming_it() {
    let _serial = serial();
    let Some(hosts) = Hosts::new(3, "a_silent_host_stalls_the_others_which_end_naming_it") else {
        return;
    };
    let stall = Duration::from_secs(3);
    let dir = tempfile::tempdir().unwrap();
    let template = repo().join("testdata/mable_event.json");
    let args = [
        "--size",
        "100000000",
        "-q",
        "-w",
        "2",
        "--stall-timeout",
        "3",
        template.to_str().unwrap(),
    ];
    let mut waits = Vec::new();
    for (trial, victim) in [2, 0].into_iter().enumerate() {
        let cluster = Cluster::on(&hosts, dir.path(), &format!("silent{trial}"), PORT);
        let mut procs = cluster.start_all(&args);
        cluster.wait_until_running(&mut procs);
        let partition = hosts.partition(victim);
        let cut = Instant::now();
        let address = cluster.address(victim);
        let silent = procs.remove(victim);
        for exit in wait_all(procs, stall + Duration::from_secs(15)) {
            let i = exit.host;
            let (out, at) = exit.result.unwrap_or_else(|e| panic!("trial {trial}: {e}"));
            let waited = at - cut;
            waits.push(waited);
            let err = stderr(&out);
            eprintln!(
                "partition, trial {trial}: process {victim} silent; process {i} exited after {waited:?}: {}",
                err.trim()
            );
            assert!(
                waited < stall + Duration::from_secs(10),
                "trial {trial}: process {i} took {waited:?}"
            );
            assert!(!out.status.success());
            assert_eq!(
                err.trim().lines().count(),
                1,
                "trial {trial}: process {i}: one line: {err}"
            );
            assert!(
                err.starts_with("error: stalled:"),
                "trial {trial}: process {i}: {err}"
            );
            let named = format!("process {victim} ({address})");
            assert!(
                err.contains(&named),
                "trial {trial}: process {i} should name {named:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
            let row = cluster.run_row(i);
            assert_eq!(row["status"], "failed", "trial {trial}: process {i}: {row}");
            assert!(row["records_in"].as_u64().unwrap() > 0, "{row}");
        }
        // The silent host stalls too: it must end by itself as well.
        let exit = wait_all(vec![silent], stall + Duration::from_secs(15)).remove(0);
        let (out, at) = exit
            .result
            .unwrap_or_else(|e| panic!("trial {trial}, the silent host: {e}"));
        eprintln!(
            "partition, trial {trial}: the silent process {victim} exited after {:?}: {}",
            at - cut,
            stderr(&out).trim()
        );
        assert!(!out.status.success());
        drop(partition);
    }
    eprintln!(
        "partition: time to exit after the cut (stall timeout {stall:?}): {}",
        times(&waits)
    );
}

#[test]
fn start_up_across_hosts_names_a_missing_or_unroutable_process_and_waits_for_a_late_one() {
    let _serial = serial();
    let Some(hosts) = Hosts::new(
        3,
        "start_up_across_hosts_names_a_missing_or_unroutable_process_and_waits_for_a_late_one",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_secs(3);
    let quick = ["--dataflow", "int", "--size", "1000", "-q", "-w", "2"];

    // Process 0's hostfile line: a host with nothing listening, an address
    // of the hosts' /24 that no host has, one behind a blackhole route.
    let nobody = |port: u16| -> Vec<String> {
        let mut a = hosts.addresses(port);
        a[0] = format!("{}:{port}", hosts.addr(0));
        a
    };
    let with_first = |first: String, port: u16| -> Vec<String> {
        let mut a = hosts.addresses(port);
        a[0] = format!("{first}:{port}");
        a
    };
    let scenarios = [
        (
            "nothing listening",
            Cluster::new(&hosts, dir.path(), "nobody", &nobody(2201)),
        ),
        (
            "no host has the address",
            Cluster::new(
                &hosts,
                dir.path(),
                "unused",
                &with_first(hosts.unused_addr(), 2301),
            ),
        ),
        (
            "blackholed",
            Cluster::new(
                &hosts,
                dir.path(),
                "blackhole",
                &with_first(hosts.blackholed_addr(), 2401),
            ),
        ),
    ];
    let started = Instant::now();
    let mut labels = Vec::new();
    let mut procs = Vec::new();
    for (what, cluster) in &scenarios {
        for i in [1, 2] {
            labels.push((*what, cluster.address(0)));
            procs.push(cluster.start(i, &quick, 3));
        }
    }

    // Meanwhile: process 0 starts 2 s after the others, and the run goes on.
    let template = repo().join("testdata/mable_event.json");
    let late_args = [
        "--size",
        "20000",
        "--batch-size",
        "2000",
        "-q",
        "-w",
        "2",
        "--output",
        "out.ndjson",
        template.to_str().unwrap(),
    ];
    let late = Cluster::on(&hosts, dir.path(), "late", 2501);
    let late_started = Instant::now();
    let mut early = vec![late.start(1, &late_args, 10), late.start(2, &late_args, 10)];

    for ((what, address), exit) in labels
        .into_iter()
        .zip(wait_all(procs, timeout + Duration::from_secs(10)))
    {
        let i = exit.host;
        let (out, at) = exit.result.unwrap_or_else(|e| panic!("{what}: {e}"));
        let took = at - started;
        let err = stderr(&out);
        eprintln!(
            "start-up, {what}: process {i} gave up after {took:?}: {}",
            err.lines().next().unwrap_or("")
        );
        assert!(!out.status.success(), "{what}: process {i} succeeded");
        assert!(
            took >= timeout && took < timeout + Duration::from_secs(2),
            "{what}: process {i} gave up after {took:?}, --connect-timeout is {timeout:?}"
        );
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error: ")
                && first.contains("not all processes connected within 3s")
                && first.contains(&format!("process 0 at {address}")),
            "{what}: process {i} should name process 0 at {address}: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("internal error"),
            "{err}"
        );
    }

    let wait = Duration::from_secs(2).saturating_sub(late_started.elapsed());
    std::thread::sleep(wait);
    early.insert(0, late.start(0, &late_args, 10));
    for p in early {
        let i = p.host;
        let out = p.output();
        assert!(
            out.status.success(),
            "late start: process {i} failed: {}",
            stderr(&out)
        );
    }
    assert!(late_started.elapsed() >= Duration::from_secs(2));
    let single = dir.path().join("late-single");
    std::fs::create_dir_all(&single).unwrap();
    run_ok(&single, &late_args);
    let want = canonical(read_ndjson(&single.join("out.ndjson")));
    let got = canonical(read_ndjson(&late.host_dir(0).join("out.ndjson")));
    assert!(
        !want.is_empty() && got == want,
        "a late process 0: the output differs from one process's ({} vs {} records)",
        got.len(),
        want.len()
    );
    eprintln!(
        "start-up: process 0 started {:?} after the others; the run completed with the same {} records",
        Duration::from_secs(2),
        got.len()
    );
}
