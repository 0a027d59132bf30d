//! The sharded metrics store of ops/clickhouse/sharded/, on two private
//! ClickHouse 18.16 servers as shards, configured with the recipe's own
//! files (remote_servers.xml in config.d/, users.xml in users.d/,
//! schema.sql as the shard tables and distributed.sql over them):
//!
//! - runs write through the Distributed tables (single processes and a
//!   two-process cluster whose processes use different servers), every row
//!   is delivered, and every run lives whole on one shard, both shards used;
//! - spooled rows replayed through the Distributed tables are queryable as
//!   soon as the replay returns, and a second replay of the same chunks
//!   finds them all (the sink's `insert_id` check reads every shard), so
//!   nothing is duplicated;
//! - every dashboard query (variables and panels, for every run, expanded
//!   as Grafana does) answers through either server exactly what one
//!   server holding the same rows answers;
//! - current ClickHouse (chdb-core) accepts the recipe too.

mod support;

#[path = "shipped_sql/grafana.rs"]
mod grafana;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;
use support::cli::{bin, hostfile, repo};
use support::clickhouse::{ClickHouseServer, Extra, free_ports};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn recipe(file: &str) -> String {
    read(&repo().join("ops/clickhouse/sharded").join(file))
}

/// A SQL file's statements: comment lines dropped, split at `;`.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// schema.sql for database `db`.
fn schema(db: &str) -> Vec<String> {
    statements(&read(&repo().join("ops/clickhouse/schema.sql")).replace("{db}", db))
}

/// The recipe's Distributed tables: `db` over `shard_db`.
fn distributed(db: &str, shard_db: &str) -> Vec<String> {
    statements(
        &recipe("distributed.sql")
            .replace("{db}", db)
            .replace("{shard_db}", shard_db),
    )
}

/// The tables schema.sql creates.
fn schema_tables() -> Vec<String> {
    let mut t: Vec<String> = schema("mable")
        .iter()
        .filter_map(|s| {
            s.strip_prefix("CREATE TABLE IF NOT EXISTS mable.")
                .map(|r| r.split([' ', '(']).next().unwrap().to_string())
        })
        .collect();
    t.sort();
    t
}

/// The recipe's remote_servers.xml with its two hosts pointed at local ports.
fn remote_servers(tcp: [u16; 2]) -> String {
    let mut xml = recipe("remote_servers.xml");
    for (i, port) in tcp.iter().enumerate() {
        let host = format!("<host>clickhouse-{}</host><port>9000</port>", i + 1);
        assert!(xml.contains(&host), "remote_servers.xml should name {host}");
        xml = xml.replace(&host, &format!("<host>127.0.0.1</host><port>{port}</port>"));
    }
    xml
}

/// Two shards set up as the recipe says, with `users` as their users.d file.
fn start_shards(users: &str) -> [ClickHouseServer; 2] {
    let ports = [free_ports(), free_ports()];
    let remote = remote_servers([ports[0].1, ports[1].1]);
    let servers = ports.map(|p| {
        ClickHouseServer::start_with(
            "",
            Extra {
                config_d: vec![("mable-remote-servers.xml".into(), remote.clone())],
                users_d: vec![("mable-sharded.xml".into(), users.to_string())],
                ports: Some(p),
            },
        )
    });
    for s in &servers {
        for sql in schema("mable_shard")
            .into_iter()
            .chain(distributed("mable", "mable_shard"))
        {
            s.query(&sql);
        }
        // Every table of the schema has its Distributed table, and only those.
        let tables = s
            .query("SELECT name, engine FROM system.tables WHERE database = 'mable' ORDER BY name");
        let want: Vec<String> = schema_tables()
            .iter()
            .map(|t| format!("{t}\tDistributed"))
            .collect();
        assert_eq!(
            tables.lines().collect::<Vec<_>>(),
            want,
            "distributed.sql must cover every table of schema.sql"
        );
    }
    servers
}

/// One run, as its summaries (one per process) report it.
#[derive(Debug, Clone)]
struct Run {
    id: String,
    dataflow: String,
    /// Metric rows produced, over all processes.
    produced: u64,
}

/// "N rows produced, N delivered, N spooled, N failed, N dropped" → numbers.
fn metric_counts(summary: &str) -> [u64; 5] {
    let line = summary
        .lines()
        .find(|l| l.contains(" rows produced, "))
        .unwrap_or_else(|| panic!("no metrics line in\n{summary}"));
    let counts = line.rsplit("): ").next().unwrap();
    let n: Vec<u64> = counts
        .split(", ")
        .map(|part| part.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    [n[0], n[1], n[2], n[3], n[4]]
}

fn from_outputs(outs: &[Output], args: &[String]) -> (Run, [u64; 5]) {
    let mut run: Option<Run> = None;
    let mut total = [0u64; 5];
    for out in outs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mable-pipeline {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let header = stdout
            .lines()
            .find(|l| l.contains(" — run "))
            .expect("a summary header");
        let (dataflow, rest) = header.split_once(" — run ").unwrap();
        let id = rest.split(',').next().unwrap().trim().to_string();
        let counts = metric_counts(&stdout);
        for (t, c) in total.iter_mut().zip(counts) {
            *t += c;
        }
        match &run {
            Some(r) => assert_eq!(r.id, id, "processes share one run id"),
            None => {
                run = Some(Run {
                    id,
                    dataflow: dataflow.trim().to_string(),
                    produced: 0,
                })
            }
        }
    }
    let mut run = run.unwrap();
    run.produced = total[0];
    (run, total)
}

/// Runs one process in `dir` with metrics to `url`; every row delivered.
fn run_single(dir: &Path, args: &[&str], url: &str) -> Run {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(["-q".into(), "--clickhouse-url".into(), url.to_string()]);
    let out = bin().current_dir(dir).args(&all).output().unwrap();
    let (run, [produced, delivered, spooled, failed, dropped]) = from_outputs(&[out], &all);
    assert!(
        produced > 0 && delivered == produced && spooled + failed + dropped == 0,
        "{run:?}: every row delivered"
    );
    run
}

/// A two-process cluster on this machine; process *i* ships to `urls[i]`.
fn run_pair(dir: &Path, args: &[&str], urls: [&str; 2]) -> Run {
    let hosts = hostfile(dir, 2);
    let mut all = Vec::new();
    let children: Vec<_> = (0..2)
        .map(|i| {
            let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            a.extend(
                [
                    "-q",
                    "-n",
                    "2",
                    "-p",
                    &i.to_string(),
                    "--hostfile",
                    hosts.to_str().unwrap(),
                    "--connect-timeout",
                    "60",
                    "--clickhouse-url",
                    urls[i],
                ]
                .map(String::from),
            );
            all.push(a.clone());
            bin()
                .current_dir(dir)
                .args(&a)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let (run, [produced, delivered, spooled, failed, dropped]) = from_outputs(&outs, &all.concat());
    assert!(
        produced > 0 && delivered == produced && spooled + failed + dropped == 0,
        "{run:?}: every row delivered"
    );
    run
}

/// Rows of `run` in every table, read through `server`'s `db` (no FINAL:
/// duplicates would count).
fn rows_of(server: &ClickHouseServer, db: &str, run: &str) -> u64 {
    schema_tables()
        .iter()
        .map(|t| {
            server.query_u64(&format!(
                "SELECT count() FROM {db}.{t} WHERE run_id = '{run}'"
            ))
        })
        .sum()
}

/// A result: header lines (names, types) and rows, as TabSeparated text.
type Table = (String, Vec<Vec<String>>);

fn select(server: &ClickHouseServer, sql: &str) -> Result<Table, String> {
    let body = server.try_query(&format!(
        "{}\nFORMAT TabSeparatedWithNamesAndTypes",
        sql.trim().trim_end_matches(';')
    ))?;
    let mut lines = body.lines();
    let header = format!(
        "{}\n{}",
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default()
    );
    Ok((
        header,
        lines
            .map(|l| l.split('\t').map(String::from).collect())
            .collect(),
    ))
}

/// Same columns, and the same rows in any order, numbers equal to 1e-9
/// (floating sums may add in another order across shards).
fn same(a: &Table, b: &Table) -> bool {
    if a.0 != b.0 || a.1.len() != b.1.len() {
        return false;
    }
    let (mut x, mut y) = (a.1.clone(), b.1.clone());
    x.sort();
    y.sort();
    x.iter().zip(&y).all(|(r, s)| {
        r.len() == s.len()
            && r.iter().zip(s).all(|(p, q)| {
                p == q
                    || matches!((p.parse::<f64>(), q.parse::<f64>()), (Ok(u), Ok(v))
                        if (u - v).abs() <= 1e-9 * u.abs().max(v.abs()).max(1.0))
            })
    })
}

/// Every dashboard statement, expanded for every run: `(label, SQL)`.
fn dashboard_statements(runs: &[Run]) -> Vec<(String, String)> {
    let dashboard: Json = serde_json::from_str(&read(
        &repo().join("ops/grafana/dashboards/mable-pipeline.json"),
    ))
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (from, to) = (now - 7 * 86400, now + 3600);
    let frame = |vars: &[(&str, &str)], interval_s: i64| grafana::Frame {
        from,
        to,
        interval_s,
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let mut out = Vec::new();
    let vars = grafana::variables_of(&dashboard);
    out.push((
        "variable dataflow".to_string(),
        grafana::expand(&grafana::raw_sql(&vars[0]["query"]), &frame(&[], 60)),
    ));
    for run in runs {
        let v = [
            ("dataflow", run.dataflow.as_str()),
            ("run_id", run.id.as_str()),
        ];
        out.push((
            format!("variable run_id, {}", run.dataflow),
            grafana::expand(&grafana::raw_sql(&vars[1]["query"]), &frame(&v, 60)),
        ));
        for panel in grafana::panels(&dashboard) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push((
                    format!(
                        "panel {:?}, run {}",
                        panel["title"].as_str().unwrap_or("?"),
                        run.id
                    ),
                    grafana::expand(
                        &grafana::raw_sql(target),
                        &frame(&v, grafana::interval_s(panel, from, to)),
                    ),
                ));
            }
        }
    }
    out
}

/// The shard (0 or 1) holding `run`, asserting it is whole there.
fn shard_of(shards: &[ClickHouseServer; 2], run: &Run) -> usize {
    let held = shards
        .each_ref()
        .map(|s| rows_of(s, "mable_shard", &run.id));
    assert!(
        held.contains(&0) && held.iter().sum::<u64>() == run.produced,
        "{run:?} must live whole on one shard: {held:?} rows"
    );
    usize::from(held[0] == 0)
}

#[test]
fn sharded_store_takes_every_row_once_and_answers_every_dashboard_query_as_one_server() {
    let shards = start_shards(&recipe("users.xml"));
    let urls = shards.each_ref().map(|s| s.http_url());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let template = repo().join("testdata/mable_event.json");
    let events = repo().join("testdata/mable_events_full.ndjson");
    let (template, events) = (template.to_str().unwrap(), events.to_str().unwrap());

    // Runs through either server; a cluster whose processes use both. As
    // soon as a run has ended, all its rows are there, through either server.
    let all_there = |run: Run| -> Run {
        for s in &shards {
            assert_eq!(
                rows_of(s, "mable", &run.id),
                run.produced,
                "{run:?}: every row once, queryable through {} as the run ends",
                s.http_url()
            );
        }
        run
    };
    let mut runs = vec![
        all_there(run_single(
            d,
            &[
                "-w",
                "2",
                "--size",
                "20000",
                "--batch-size",
                "2000",
                template,
            ],
            &urls[0],
        )),
        all_there(run_single(
            d,
            &[
                "--dataflow",
                "conversions",
                "-w",
                "2",
                "--batch-size",
                "16",
                events,
            ],
            &urls[1],
        )),
        all_there(run_pair(
            d,
            &["--dataflow", "int", "--size", "10000", "-w", "2"],
            [&urls[0], &urls[1]],
        )),
    ];
    // Run ids are random: go on until both shards hold runs.
    while runs
        .iter()
        .map(|r| shard_of(&shards, r))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        < 2
    {
        assert!(
            runs.len() < 16,
            "16 runs, all on one shard: is the sharding key run_id?"
        );
        let url = &urls[runs.len() % 2];
        runs.push(all_there(run_single(
            d,
            &["-w", "2", "--size", "6000", template],
            url,
        )));
    }

    // Spooled rows, replayed through the server that is not their shard.
    let spooling = d.join("spooling");
    std::fs::create_dir_all(&spooling).unwrap();
    let nowhere = format!("http://127.0.0.1:{}", free_ports().0);
    let args = [
        "-q",
        "-w",
        "2",
        "--size",
        "8000",
        template,
        "--clickhouse-url",
    ];
    let out = bin()
        .current_dir(&spooling)
        .args(args)
        .arg(&nowhere)
        .output()
        .unwrap();
    let (spooled_run, [produced, _, spooled, _, _]) = from_outputs(&[out], &args.map(String::from));
    assert!(
        produced > 0 && spooled == produced,
        "{spooled_run:?}: all spooled"
    );
    let slot = shards[0].query_u64(&format!("SELECT cityHash64('{}') % 2", spooled_run.id));
    let entry = &shards[1 - slot as usize];
    let spool = spooling.join("metrics/spool");
    let copy = spooling.join("spool-copy");
    std::fs::create_dir_all(&copy).unwrap();
    for f in std::fs::read_dir(&spool).unwrap().flatten() {
        std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
    }
    let replay = |dir: &Path| -> String {
        let out = bin()
            .args(["metrics", "replay"])
            .arg(dir)
            .args(["--clickhouse-url", &entry.http_url()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "replay {}: {text}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let first = replay(&spool);
    assert!(
        first.contains(&format!("({produced} rows) delivered")),
        "{first}"
    );
    assert_eq!(
        rows_of(entry, "mable", &spooled_run.id),
        produced,
        "replayed rows are queryable through the Distributed tables once the replay returns"
    );
    let again = replay(&copy);
    assert!(
        again.contains("(0 rows) delivered")
            && again.contains(&format!("({produced} rows) were already there")),
        "the second replay finds every chunk through the Distributed tables: {again}"
    );
    assert_eq!(
        rows_of(entry, "mable", &spooled_run.id),
        produced,
        "nothing duplicated"
    );
    assert_eq!(shard_of(&shards, &spooled_run), slot as usize);
    runs.push(spooled_run);

    // One server holding the same rows: copied from the shards' own tables.
    let single = ClickHouseServer::start();
    for sql in schema("mable") {
        single.query(&sql);
    }
    for table in schema_tables() {
        for s in &shards {
            single.query(&format!(
                "INSERT INTO mable.{table} SELECT * FROM remote('127.0.0.1:{}', mable_shard, {table})",
                s.tcp_port
            ));
        }
    }

    let mut compared = 0;
    for (label, sql) in dashboard_statements(&runs) {
        let want =
            select(&single, &sql).unwrap_or_else(|e| panic!("{label}, one server: {e}\n{sql}"));
        for s in &shards {
            let got = select(s, &sql)
                .unwrap_or_else(|e| panic!("{label}, through {}: {e}\n{sql}", s.http_url()));
            assert!(
                same(&want, &got),
                "{label}: through {} the sharded store answers\n{got:?}\none server answers\n{want:?}\nSQL:\n{sql}",
                s.http_url()
            );
        }
        assert!(!want.1.is_empty(), "{label}: no rows to compare");
        compared += 1;
    }
    eprintln!(
        "sharded store: {} runs over 2 shards; {compared} dashboard statements answer the same through \
         either server as on one",
        runs.len()
    );
}

/// The Python of the chdb-core venv ops/test.sh installs.
fn chdb_python() -> PathBuf {
    if let Some(p) = std::env::var_os("MABLE_CHDB_PYTHON") {
        return PathBuf::from(p);
    }
    let p = repo().join("target/chdb-venv/bin/python");
    assert!(
        p.exists(),
        "current ClickHouse (chdb-core) is not installed: {} is missing. Run `bash ops/test.sh`",
        p.display()
    );
    p
}

#[test]
fn the_sharded_recipe_is_accepted_by_current_clickhouse() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.xml");
    std::fs::write(&config, recipe("remote_servers.xml")).unwrap();
    let mut sql = schema("mable_shard");
    sql.extend(distributed("mable", "mable_shard"));
    sql.extend(distributed("mable", "mable_shard")); // idempotent
    // The users.d settings exist under these names and take these values.
    let users = recipe("users.xml");
    for (name, value) in [
        ("insert_distributed_sync", "1"),
        ("distributed_product_mode", "global"),
    ] {
        assert!(
            users.contains(&format!("<{name}>{value}</{name}>")),
            "users.xml sets {name}"
        );
        sql.push(format!("SET {name} = '{value}'"));
    }
    let checks = [
        "SELECT name, engine FROM system.tables WHERE database = 'mable' ORDER BY name",
        "SELECT toUInt8(getSetting('insert_distributed_sync')), toString(getSetting('distributed_product_mode'))",
        "SELECT cluster, shard_num, host_name FROM system.clusters WHERE cluster = 'mable' ORDER BY shard_num",
        "SELECT version()",
    ];
    sql.extend(checks.iter().map(|s| s.to_string()));
    let mut child = Command::new(chdb_python())
        .arg(repo().join("tests/sharded_clickhouse/current.py"))
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &sql).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Json> = serde_json::from_slice(&out.stdout).unwrap();
    for (sql, r) in sql.iter().zip(&results) {
        assert_eq!(
            r["ok"], true,
            "current ClickHouse refused:\n{sql}\n{}",
            r["error"]
        );
    }
    let rows = |i: usize| -> Vec<String> {
        results[results.len() - checks.len() + i]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .collect()
    };
    let want: Vec<String> = schema_tables()
        .iter()
        .map(|t| format!("{t}\tDistributed"))
        .collect();
    assert_eq!(rows(0), want);
    assert_eq!(rows(1), ["1\tglobal"]);
    assert_eq!(
        rows(2),
        ["mable\t1\tclickhouse-1", "mable\t2\tclickhouse-2"]
    );
    eprintln!("current ClickHouse {} takes the sharded recipe", rows(3)[0]);
}
