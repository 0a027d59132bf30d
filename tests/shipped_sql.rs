//! Every SQL statement the project ships runs on ClickHouse 18.16 (Debian's
//! server, what the project started on) and on current ClickHouse (the pinned
//! chdb-core, in-process), and gives the numbers the runs' summaries and rows
//! say it must:
//!
//! - ops/clickhouse/schema.sql, every statement (twice: it must be idempotent);
//! - the dashboard's template variables and every panel target, expanded as
//!   Grafana and the plugin expand them (grafana.rs), for every run;
//! - every SQL block of README.md, for every run;
//! - the Go seed README's three example queries, unchanged.
//!
//! The data: real runs of the binary with the default file sink, loaded into
//! both versions as the README says (`INSERT … FORMAT JSONEachRow`). Both
//! versions must also return the same result for every statement.
//! `cargo test --release --test shipped_sql -- --nocapture` prints the table.

mod support;

#[path = "shipped_sql/chdb.rs"]
mod chdb;
#[path = "shipped_sql/checks.rs"]
mod checks;
#[path = "shipped_sql/engines.rs"]
mod engines;
#[path = "shipped_sql/grafana.rs"]
mod grafana;
#[path = "shipped_sql/readme_seed.rs"]
mod readme_seed;
#[path = "shipped_sql/report.rs"]
mod report;
#[path = "shipped_sql/runs.rs"]
mod runs;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use chdb::Chdb;
use checks::Check;
use engines::{Debian, Engine, Table, schema_statements, select};
use grafana::Frame;
use report::Report;
use runs::Run;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The Go seed README's "Example Queries", verbatim.
const SEED_QUERIES: [(&str, &str); 3] = [
    (
        "Stage Duration",
        "SELECT stage_name, avg(duration_ms) AS avg_duration\nFROM mable.pipeline_metrics\nGROUP BY stage_name\nORDER BY avg_duration DESC",
    ),
    (
        "Worker Load",
        "SELECT worker_id, count() AS total_batches\nFROM mable.pipeline_metrics\nGROUP BY worker_id\nORDER BY worker_id",
    ),
    (
        "Throughput",
        "SELECT toStartOfMinute(timestamp) AS minute, sum(output_count) AS total_output\nFROM mable.pipeline_metrics\nGROUP BY minute\nORDER BY minute ASC",
    ),
];

/// The run id the README's queries use as an example.
const README_RUN: &str = "1795506958-a33cb681";

/// Runs that give every statement something to tell apart: two runs of one
/// dataflow (the variables and panels must pick the selected one), an
/// if_else dataflow with aggregates (conversions), and a two-process cluster
/// (rows from several processes), newest last.
fn make_runs(dir: &Path) -> Vec<Run> {
    let template = repo().join("testdata/mable_event.json");
    let events = repo().join("testdata/mable_events_full.ndjson");
    let (template, events) = (template.to_str().unwrap(), events.to_str().unwrap());
    vec![
        runs::single(
            dir,
            &[
                "-w",
                "2",
                "--size",
                "20000",
                "--batch-size",
                "2000",
                template,
            ],
        ),
        runs::single(
            dir,
            &[
                "--dataflow",
                "conversions",
                "-w",
                "2",
                "--batch-size",
                "16",
                events,
            ],
        ),
        runs::single(dir, &["-w", "2", "--size", "6000", template]),
        runs::cluster(dir, 2, &["--dataflow", "int", "--size", "10000", "-w", "2"]),
    ]
}

/// One statement to run under one frame, and what it must answer.
struct Statement<'a> {
    name: String,
    frame: String,
    sql: String,
    check: Check<'a>,
}

fn no_check<'a>(what: String) -> Check<'a> {
    Box::new(move |_| {
        Err(format!(
            "no number check for {what}: add one in tests/shipped_sql/checks.rs"
        ))
    })
}

/// The README's SQL blocks, one `(comment above it, statement)` each.
fn readme_queries() -> Vec<(String, String)> {
    let readme = read(&repo().join("README.md"));
    let mut out = Vec::new();
    for block in readme.split("```sql").skip(1) {
        let body = block.split("```").next().unwrap();
        for chunk in body.split(';') {
            let name = chunk
                .lines()
                .filter_map(|l| l.trim().strip_prefix("--"))
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            let sql: String = chunk
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            if !sql.trim().is_empty() {
                out.push((name, sql.trim().to_string()));
            }
        }
    }
    out
}

fn statements<'a>(dashboard: &Json, all: &'a [Run], from: i64, to: i64) -> Vec<Statement<'a>> {
    let mut out = Vec::new();
    let frame = |vars: &[(&str, &str)], interval_s: i64| Frame {
        from,
        to,
        interval_s,
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };

    // Template variables: `dataflow` alone, then `run_id` for each dataflow.
    let vars = grafana::variables_of(dashboard);
    let names: Vec<&str> = vars.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["dataflow", "run_id"], "template variables");
    out.push(Statement {
        name: "variable dataflow".into(),
        frame: String::new(),
        sql: grafana::expand(&grafana::raw_sql(&vars[0]["query"]), &frame(&[], 60)),
        check: checks::dataflow_variable(all),
    });
    let mut dataflows: Vec<&str> = all.iter().map(|r| r.dataflow.as_str()).collect();
    dataflows.dedup();
    dataflows.sort();
    dataflows.dedup();
    for dataflow in dataflows {
        out.push(Statement {
            name: "variable run_id".into(),
            frame: dataflow.into(),
            sql: grafana::expand(
                &grafana::raw_sql(&vars[1]["query"]),
                &frame(&[("dataflow", dataflow)], 60),
            ),
            check: checks::run_variable(dataflow, all),
        });
    }

    // Every panel target, with each run selected.
    for run in all {
        let vars = [
            ("dataflow", run.dataflow.as_str()),
            ("run_id", run.id.as_str()),
        ];
        for panel in grafana::panels(dashboard) {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                let name = format!(
                    "panel \"{title}\" / {}",
                    target["refId"].as_str().unwrap_or("?")
                );
                let sql = grafana::expand(
                    &grafana::raw_sql(target),
                    &frame(&vars, grafana::interval_s(panel, from, to)),
                );
                let check: Check<'a> = match checks::panel(title, run, all) {
                    Some(numbers) => {
                        let panel = panel.clone();
                        Box::new(move |t: &Table| {
                            checks::panel_shape(&panel, t)?;
                            numbers(t)
                        })
                    }
                    None => no_check(format!("panel {title:?}")),
                };
                out.push(Statement {
                    name,
                    frame: format!("{} {}", run.dataflow, run.id),
                    sql,
                    check,
                });
            }
            // Data links that open a query (the slowest batch as a trace),
            // followed from the panel's first row as Grafana would.
            for link in grafana::link_queries(panel) {
                let Some(root) = checks::slowest_roots(run).first().copied() else {
                    continue;
                };
                let sql =
                    grafana::raw_sql(link).replace("${__value.raw}", runs::s(root, "trace_id"));
                out.push(Statement {
                    name: format!("panel \"{title}\" / link"),
                    frame: format!("{} {}", run.dataflow, run.id),
                    sql: grafana::expand(&sql, &frame(&vars, 60)),
                    check: checks::trace(run),
                });
            }
        }
    }

    // README's queries: with each run's id for the example one.
    let readme = readme_queries();
    assert!(readme.len() >= 5, "README lost its queries");
    for (name, sql) in readme {
        let label = format!("README: {name}");
        if !sql.contains(README_RUN) {
            let check =
                readme_seed::readme(&name, &all[0], all).unwrap_or_else(|| no_check(label.clone()));
            out.push(Statement {
                name: label,
                frame: String::new(),
                sql,
                check,
            });
            continue;
        }
        for run in all {
            let check =
                readme_seed::readme(&name, run, all).unwrap_or_else(|| no_check(label.clone()));
            out.push(Statement {
                name: label.clone(),
                frame: format!("{} {}", run.dataflow, run.id),
                sql: sql.replace(README_RUN, &run.id),
                check,
            });
        }
    }

    // The seed's queries, unchanged, over everything loaded.
    for (name, sql) in SEED_QUERIES {
        out.push(Statement {
            name: format!("seed: {name}"),
            frame: String::new(),
            sql: sql.to_string(),
            check: readme_seed::seed(name, all),
        });
    }
    out
}

/// Creates the schema (twice), loads every run and checks the row counts.
fn schema_and_load(report: &mut Report, engines: &[&dyn Engine], all: &[Run]) {
    for (name, sql) in schema_statements() {
        for pass in ["create", "again"] {
            let outcomes = engines
                .iter()
                .map(|e| e.run(&sql).map(|_| "runs; again is a no-op".to_string()))
                .collect();
            report.add(&format!("schema: {name}"), pass, outcomes);
        }
    }
    let columns = "SELECT table, name, type FROM system.columns WHERE database = 'mable' \
                   ORDER BY table, name";
    let tables: Vec<Option<Table>> = engines.iter().map(|e| select(*e, columns).ok()).collect();
    let outcomes = tables
        .iter()
        .map(|t| match t {
            Some(t) if !t.rows.is_empty() => Ok(format!("{} columns", t.rows.len())),
            _ => Err("no tables in database mable".to_string()),
        })
        .collect();
    report.add("schema: tables and column types", "", outcomes);
    report.same("schema: tables and column types", "", &tables);

    // Every row of every file is there: as the tables are ReplacingMergeTrees
    // (current servers collapse a key's duplicates already on insert),
    // `count() FINAL` is the number of distinct sorting keys in the files.
    let keys = engines::sorting_keys();
    for run in all {
        let outcomes = engines
            .iter()
            .map(|e| {
                let tables = engines::load(*e, &run.dir)?;
                for table in &tables {
                    let key = &keys[table];
                    let distinct: BTreeSet<Vec<String>> = run
                        .table(table)
                        .iter()
                        .map(|r| key.iter().map(|c| r[c].to_string()).collect())
                        .collect();
                    let body = e.run(&format!(
                        "SELECT count() FROM mable.{table} FINAL WHERE run_id = '{}'",
                        run.id
                    ))?;
                    if body.trim() != distinct.len().to_string() {
                        return Err(format!(
                            "{table}: {} rows, the files hold {} distinct keys",
                            body.trim(),
                            distinct.len()
                        ));
                    }
                }
                Ok(format!("{} tables, every row", tables.len()))
            })
            .collect();
        report.add(
            "load: INSERT INTO mable.<table> FORMAT JSONEachRow",
            &format!("{} {}", run.dataflow, run.id),
            outcomes,
        );
    }
}

#[test]
fn every_shipped_statement_gives_the_runs_numbers_on_clickhouse_18_16_and_current() {
    let dashboard: Json = serde_json::from_str(&read(
        &repo().join("ops/grafana/dashboards/mable-pipeline.json"),
    ))
    .expect("the dashboard is JSON");
    // Both versions first: a missing one fails the test at once.
    let current = Chdb::start();
    let debian = Debian::start();
    let dir = tempfile::tempdir().unwrap();
    let all = make_runs(dir.path());
    let engines: [&dyn Engine; 2] = [&debian, &current];
    let mut report = Report::new(engines.iter().map(|e| e.label()).collect());

    schema_and_load(&mut report, &engines, &all);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for st in statements(&dashboard, &all, now - 7 * 86400, now + 3600) {
        let mut tables = Vec::new();
        let mut outcomes = Vec::new();
        for e in engines {
            match select(e, &st.sql) {
                Ok(t) => {
                    outcomes.push((st.check)(&t).map_err(|err| format!("{err}\nSQL:\n{}", st.sql)));
                    tables.push(Some(t));
                }
                Err(err) => {
                    outcomes.push(Err(format!("rejected: {err}\nSQL:\n{}", st.sql)));
                    tables.push(None);
                }
            }
        }
        report.add(&st.name, &st.frame, outcomes);
        report.same(&st.name, &st.frame, &tables);
    }

    println!("{}", report.render());
    let failures = report.failures();
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}\n\n{}",
        failures.len(),
        failures.join("\n\n"),
        report.render()
    );
}

#[test]
fn current_clickhouse_is_the_pinned_chdb_core_with_current_defaults() {
    let current = Chdb::start();
    assert_eq!(
        current.chdb_version,
        chdb::pinned_version(),
        "target/chdb-venv holds another chdb-core than ops/test.sh pins: run `bash ops/test.sh`"
    );
    let major: u32 = current
        .server_version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap();
    assert!(
        major >= 25,
        "ClickHouse {} is not current",
        current.server_version
    );
    // The default that broke a panel: current servers refuse unaliased joined subqueries.
    let setting = current
        .try_query("SELECT toUInt8(getSetting('joined_subquery_requires_alias'))")
        .unwrap();
    assert_eq!(setting.trim(), "1");
    let err = current
        .try_query("SELECT 1 FROM (SELECT 1 AS k) ANY LEFT JOIN (SELECT 1 AS k) USING k")
        .unwrap_err();
    assert!(err.contains("Code: 206"), "{err}");
}

/// Server-side deduplication as the sink asks current servers for it: each
/// metric table created from schema.sql takes the deduplication window the
/// sink sets, and a chunk inserted twice with its token (a retry after a
/// lost reply, or a replay) is stored once. 18.16 refuses the setting, so
/// the sink only turns it on from 22.2 and keeps its `insert_id` check there.
#[test]
fn a_chunk_sent_twice_with_its_token_is_stored_once_on_current_clickhouse() {
    use mable_pipeline::metrics::tables::metric_tables;
    use mable_pipeline::sink::clickhouse::{dedup_settings, dedup_window_statement};
    let current = Chdb::start();
    let db = "dedup";
    current
        .try_query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .unwrap();
    for t in metric_tables().all() {
        current.try_query(&t.ddl(db)).unwrap();
        current
            .try_query(&dedup_window_statement(db, t.name()))
            .unwrap_or_else(|e| panic!("{}: {e}", t.name()));
    }
    let row = r#"{"run_id":"r","dataflow":"d","batch_id":1,"worker_id":0,"process_id":0,"records_in":5,"entered_us":1,"completed_us":2,"latency_ms":0.001,"timestamp":1700000000,"insert_id":"r-p0-000001"}"#;
    let insert = |token: &str| {
        let settings: Vec<String> = dedup_settings(token)
            .iter()
            .map(|(k, v)| format!("{k} = '{v}'"))
            .collect();
        current
            .try_query(&format!(
                "INSERT INTO {db}.pipeline_batches SETTINGS {} FORMAT JSONEachRow {row}",
                settings.join(", ")
            ))
            .unwrap();
    };
    insert("r-p0-000001");
    insert("r-p0-000001");
    let count = |sql: &str| current.try_query(sql).unwrap().trim().to_string();
    assert_eq!(
        count(&format!("SELECT count() FROM {db}.pipeline_batches")),
        "1"
    );
    // Another chunk (another token) with the same row is a new insert.
    insert("r-p0-000002");
    assert_eq!(
        count(&format!("SELECT count() FROM {db}.pipeline_batches")),
        "2"
    );
    // 18.16 does not know the table setting: the sink must not send it there.
    let old = Debian::start();
    old.run(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .unwrap();
    old.run(&metric_tables().batches.ddl(db)).unwrap();
    assert!(
        old.run(&dedup_window_statement(db, "pipeline_batches"))
            .is_err()
    );
}
