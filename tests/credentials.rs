//! Credentials never reach storage or logs: a password in the URL is
//! refused, and a password given the right way (CLICKHOUSE_PASSWORD) appears
//! nowhere — not in any output, log line at `RUST_LOG=trace`, metrics file,
//! spool file or ClickHouse table.

mod support;

use std::path::Path;

use support::cli::{bin, repo};
use support::clickhouse::ClickHouseServer;

const PASSWORD: &str = "Pw-6f1c2e9a-credential";

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn a_password_in_the_url_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args([
            "--dataflow",
            "int",
            "--size",
            "10",
            "--clickhouse-url",
            &format!("http://default:{PASSWORD}@127.0.0.1:1"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CLICKHOUSE_PASSWORD"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(!dir.path().join("metrics").exists(), "nothing ran");
}

#[test]
fn the_password_appears_nowhere_even_at_trace_level() {
    let ch = ClickHouseServer::start_with_password(PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let template = repo().join("testdata/mable_event.json");
    let run = |extra: &[&str], password: &str| {
        let mut args = vec!["-w", "2", "--size", "20000", "--clickhouse-url"];
        let url = ch.http_url();
        args.push(&url);
        args.extend_from_slice(extra);
        let template = template.to_str().unwrap().to_string();
        bin()
            .current_dir(dir.path())
            .env("RUST_LOG", "trace")
            .env("CLICKHOUSE_PASSWORD", password)
            .args(&args)
            .arg(template)
            .output()
            .unwrap()
    };
    // Right password: delivered. Wrong one: spooled, then replayed right.
    let good = run(&[], PASSWORD);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let wrong = run(&[], "not-the-password");
    let replay = bin()
        .current_dir(dir.path())
        .env("RUST_LOG", "trace")
        .env("CLICKHOUSE_PASSWORD", PASSWORD)
        .args([
            "metrics",
            "replay",
            "metrics/spool",
            "--clickhouse-url",
            &ch.http_url(),
        ])
        .output()
        .unwrap();
    for (what, out) in [
        ("run", &good),
        ("wrong-password run", &wrong),
        ("replay", &replay),
    ] {
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                text.len() > 1000 || stream == "stdout",
                "trace logging is on: {text}"
            );
            assert!(
                !text.contains(PASSWORD),
                "{what} {stream} holds the password"
            );
        }
    }
    // The spool of the wrong-password run was delivered and removed; what
    // remains (run directories, anything else) must be clean too.
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PASSWORD),
            "{} holds the password",
            f.display()
        );
    }
    let tables = ch.query("SELECT name FROM system.tables WHERE database = 'mable'");
    let mut searched = 0;
    for t in tables.lines() {
        let all = ch.query(&format!("SELECT * FROM mable.{t} FORMAT TSV"));
        assert!(!all.contains(PASSWORD), "table {t} holds the password");
        searched += 1;
    }
    assert!(searched >= 5);
    let runs = ch.query_u64("SELECT count() FROM mable.pipeline_runs");
    assert!(runs >= 2, "both runs' rows landed");
}
