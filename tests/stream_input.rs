//! Inputs that are streams: `-` (standard input), a FIFO, `/dev/stdin` on a
//! pipe. One reader deals the records to the workers; results and line
//! numbers are those of the same bytes in a regular file. No hang.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use support::cli::{bin, read_ndjson, repo};

/// Longer than any of these runs takes; a run still going then hangs.
const LIMIT: Duration = Duration::from_secs(60);

/// Waits for `child` at most [`LIMIT`], killing it (and failing) on a hang.
fn wait(mut child: Child, what: &str) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} hangs (killed after {LIMIT:?}):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the binary in `dir` with `input` on its standard input.
fn run_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A reader that stops early closes the pipe: not this test's failure.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = wait(child, &format!("mable-pipeline {args:?} reading a pipe"));
    let _ = writer.join();
    out
}

/// Runs the binary in `dir` on a FIFO that a thread fills with `input`.
fn run_fifo(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let fifo = dir.join("events.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let child = bin()
        .current_dir(dir)
        .args(args)
        .arg("events.fifo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = input.to_vec();
    // Detached: a reader that never opens the FIFO again must not hang the test.
    std::thread::spawn(move || {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
            let _ = f.write_all(&input);
        }
    });
    wait(child, &format!("mable-pipeline {args:?} on a FIFO"))
}

fn run_file(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    std::fs::write(dir.join("events.ndjson"), input).unwrap();
    let child = bin()
        .current_dir(dir)
        .args(args)
        .arg("events.ndjson")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait(child, "a run on a regular file")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "the run failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The `N records in, M out` of a summary.
fn counts(summary: &str) -> (u64, u64) {
    let line = summary
        .lines()
        .find(|l| l.contains(" in, ") && l.contains(" record"))
        .unwrap_or_else(|| panic!("no counts in:\n{summary}"));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .map(|s| s.parse().unwrap())
        .collect();
    (n[0], n[1])
}

fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

/// Full events, cycled to `n` lines with fresh ids.
fn events(n: usize) -> String {
    let full = std::fs::read_to_string(repo().join("testdata/mable_events_full.ndjson")).unwrap();
    let templates: Vec<serde_json::Value> = full
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut out = String::new();
    for i in 0..n {
        let mut e = templates[i % templates.len()].clone();
        e["eid"] = format!("ev-{i}").into();
        out.push_str(&e.to_string());
        out.push('\n');
    }
    out
}

const ARGS: &[&str] = &[
    "--dataflow",
    "conversions",
    "-w",
    "3",
    "-q",
    "--metrics",
    "off",
    "--batch-size",
    "700",
    "--output",
    "out.ndjson",
];

/// The same records come out of a stream as out of the file.
fn assert_same_as_file(stream: impl Fn(&Path, &[&str], &[u8]) -> Output, input: &[u8]) {
    let a = tempfile::tempdir().unwrap();
    let file_summary = ok(&run_file(a.path(), ARGS, input));
    let b = tempfile::tempdir().unwrap();
    let stream_summary = ok(&stream(b.path(), ARGS, input));
    assert_eq!(counts(&stream_summary), counts(&file_summary));
    assert!(counts(&file_summary).1 > 0);
    assert_eq!(
        sorted_lines(&b.path().join("out.ndjson")),
        sorted_lines(&a.path().join("out.ndjson"))
    );
}

#[test]
fn dash_reads_standard_input() {
    assert_same_as_file(
        |dir, args, input| {
            let mut args = args.to_vec();
            args.push("-");
            run_stdin(dir, &args, input)
        },
        events(5000).as_bytes(),
    );
}

#[test]
fn a_fifo_is_read_once_and_dealt_to_the_workers() {
    assert_same_as_file(run_fifo, events(5000).as_bytes());
}

#[test]
fn dev_stdin_on_a_pipe_reads_arrays_and_documents() {
    let events = events(300);
    let array = format!("[\n{}]\n", events.lines().collect::<Vec<_>>().join(",\n"));
    for (input, format, records) in [
        (array.as_str(), "JSON array", 300),
        (
            "{\n  \"eid\": \"a\",\n  \"en\": \"x\",\n  \"ts\": 1\n}\n",
            "JSON document",
            1,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = run_stdin(
            dir.path(),
            &["-w", "2", "-q", "--metrics", "off", "/dev/stdin"],
            input.as_bytes(),
        );
        let summary = ok(&out);
        assert_eq!(counts(&summary).0, records, "{summary}");
        assert!(summary.contains(format), "{summary}");
    }
}

#[test]
fn a_byte_order_mark_on_a_stream_is_skipped() {
    let mut input = b"\xef\xbb\xbf".to_vec();
    input.extend_from_slice(events(10).as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let out = run_stdin(dir.path(), &["-q", "--metrics", "off", "-"], &input);
    assert_eq!(counts(&ok(&out)).0, 10);
}

/// Bad lines after blank, whitespace-only and CRLF lines.
fn with_bad_lines() -> (Vec<u8>, Vec<u64>) {
    let mut out = String::new();
    let mut bad = Vec::new();
    for line in 1..=3000u64 {
        match line % 11 {
            0 => out.push('\n'),
            5 => out.push_str("  \t\r\n"),
            7 => out.push_str(&format!(
                "{{\"eid\":\"e{line}\",\"en\":\"x\",\"ts\":{line}}}\r\n"
            )),
            _ if line % 401 == 0 => {
                out.push_str(&format!(
                    "{{\"eid\":\"e{line}\",\"en\":\"x\",\"ts\":\"late\"}}\n"
                ));
                bad.push(line);
            }
            _ if line % 577 == 0 => {
                out.push_str("{\"eid\": nope}\n");
                bad.push(line);
            }
            _ => out.push_str(&format!(
                "{{\"eid\":\"e{line}\",\"en\":\"x\",\"ts\":{line}}}\n"
            )),
        }
    }
    // A truncated last line.
    out.push_str("{\"eid\":\"last\",\"en\":\"Ad");
    bad.push(3001);
    (out.into_bytes(), bad)
}

/// (file, line, error) of each dead letter, by line.
fn dead_letters(dir: &Path) -> Vec<(u64, String)> {
    let mut d: Vec<(u64, String)> = read_ndjson(&dir.join("dead.ndjson"))
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap(),
                d["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    d.sort();
    d
}

#[test]
fn errors_in_a_stream_name_the_same_lines_as_in_the_file() {
    let (input, bad) = with_bad_lines();
    let skip = [
        "-w",
        "2",
        "-q",
        "--metrics",
        "off",
        "--batch-size",
        "256",
        "--on-error",
        "skip",
        "--dead-letter",
        "dead.ndjson",
    ];
    let a = tempfile::tempdir().unwrap();
    ok(&run_file(a.path(), &skip, &input));
    let from_file = dead_letters(a.path());
    let lines: Vec<u64> = from_file.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, bad);
    assert!(from_file.last().unwrap().1.contains("truncated last line"));

    let b = tempfile::tempdir().unwrap();
    let mut args = skip.to_vec();
    args.push("-");
    ok(&run_stdin(b.path(), &args, &input));
    assert_eq!(dead_letters(b.path()), from_file, "stdin");

    let c = tempfile::tempdir().unwrap();
    ok(&run_fifo(c.path(), &skip, &input));
    assert_eq!(dead_letters(c.path()), from_file, "FIFO");

    // Fail mode: the first bad line, named as in the file.
    let d = tempfile::tempdir().unwrap();
    let out = run_stdin(
        d.path(),
        &["-w", "2", "-q", "--metrics", "off", "-"],
        &input,
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("<stdin>:{}: ", bad[0])),
        "{stderr}"
    );
}

/// Fail mode on a stream: the dealer hands the first worker a long share
/// whose last record is bad and the second worker a share starting with a
/// bad record; the earliest is reported every time.
#[test]
fn fail_mode_on_a_stream_reports_the_earliest_bad_line() {
    let half = 4000usize;
    let mut lines: Vec<String> = events(2 * half).lines().map(String::from).collect();
    lines[half - 1] = lines[half - 1].replacen("\"en\":", "\"en_\":", 1);
    lines[half] = lines[half].replacen("\"ts\":", "\"ts_\":", 1);
    let input = lines.join("\n") + "\n";
    let batch = (2 * half).to_string();
    for trial in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let out = run_stdin(
            dir.path(),
            &[
                "-w",
                "2",
                "-q",
                "--metrics",
                "off",
                "--batch-size",
                &batch,
                "-",
            ],
            input.as_bytes(),
        );
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("<stdin>:{half}: ")) && stderr.contains("`en`"),
            "trial {trial}: expected line {half}:\n{stderr}"
        );
    }
}

#[test]
fn size_cycles_the_records_of_a_stream() {
    let input = events(50);
    let a = tempfile::tempdir().unwrap();
    let args = [
        "--dataflow",
        "conversions",
        "-w",
        "2",
        "-q",
        "--metrics",
        "off",
        "--size",
        "2000",
        "--output",
        "out.ndjson",
    ];
    let from_file = ok(&run_file(a.path(), &args, input.as_bytes()));
    let b = tempfile::tempdir().unwrap();
    let mut with_dash = args.to_vec();
    with_dash.push("-");
    let from_stdin = ok(&run_stdin(b.path(), &with_dash, input.as_bytes()));
    assert_eq!(counts(&from_stdin), counts(&from_file));
    assert_eq!(counts(&from_stdin).0, 2000);
    assert_eq!(
        sorted_lines(&b.path().join("out.ndjson")),
        sorted_lines(&a.path().join("out.ndjson"))
    );
}

/// In a cluster only process 0 reads standard input: process 1's is not
/// even looked at (here it holds garbage).
#[test]
fn in_a_cluster_only_process_0_reads_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = support::cli::hostfile(dir.path(), 2);
    let hosts = hosts.to_str().unwrap().to_string();
    let input = events(3000);
    let children: Vec<(Child, Vec<u8>)> = (0..2)
        .map(|p| {
            let mut child = bin()
                .current_dir(dir.path())
                .args([
                    "--dataflow",
                    "conversions",
                    "-w",
                    "2",
                    "-q",
                    "--metrics",
                    "off",
                    "-n",
                    "2",
                    "-p",
                    &p.to_string(),
                    "--hostfile",
                    &hosts,
                    "--connect-timeout",
                    "30",
                    "-",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let data = if p == 0 {
                input.clone().into_bytes()
            } else {
                b"not json at all\n".to_vec()
            };
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
            (child, Vec::new())
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .enumerate()
        .map(|(p, (c, _))| wait(c, &format!("cluster process {p}")))
        .collect();
    let s0 = ok(&outs[0]);
    let s1 = ok(&outs[1]);
    assert_eq!(counts(&s0).0, 3000, "{s0}");
    assert_eq!(counts(&s1).0, 0, "{s1}");
    assert!(s1.contains("read by process 0"), "{s1}");
}

#[test]
fn help_says_how_streams_are_read() {
    let out = bin().arg("--help").output().unwrap();
    let help = text(&out.stdout);
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("`-` reads standard input"), "{help}");
    assert!(help.contains("only process 0 reads"), "{help}");
}
