//! Driving the real `mable-pipeline` binary from tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary cargo built for these tests.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mable-pipeline"));
    c.env_remove("CLICKHOUSE_URL").env("RUST_LOG", "warn");
    c
}

/// Runs the binary in `dir` with `args`; returns its output.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run mable-pipeline")
}

/// Runs and asserts success, returning stdout.
pub fn run_ok(dir: &Path, args: &[&str]) -> String {
    let out = run_in(dir, args);
    assert!(
        out.status.success(),
        "mable-pipeline {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The repository root (for testdata/).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An NDJSON file's records, parsed.
pub fn read_ndjson(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect()
}

/// Free TCP ports on 127.0.0.1 (bound and released, so a race is possible but rare).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Writes a timely hostfile for `n` local processes; returns its path.
pub fn hostfile(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("hosts.txt");
    let lines: Vec<String> = free_ports(n)
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Runs an `n`-process cluster of the binary (each with `args` plus its own
/// `-n n -p i --hostfile`); returns each process's output.
pub fn run_cluster(dir: &Path, n: usize, args: &[&str]) -> Vec<Output> {
    let hosts = hostfile(dir, n);
    let hosts = hosts.to_str().unwrap().to_string();
    let children: Vec<_> = (0..n)
        .map(|i| {
            bin()
                .current_dir(dir)
                .args(args)
                .args([
                    "-n",
                    &n.to_string(),
                    "-p",
                    &i.to_string(),
                    "--hostfile",
                    &hosts,
                    "--connect-timeout",
                    "60",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a cluster process")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// True when a spool directory holds no chunk files (or does not exist).
pub fn read_spool_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |entries| {
        entries
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().ends_with(".chunk.json"))
    })
}
