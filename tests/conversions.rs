//! The `conversions` dataflow over full Mable events, against an independent
//! reference: plain loops over the same file parsed as untyped JSON.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use support::cli::{read_ndjson, repo, run_cluster, run_ok};
use support::clickhouse::ClickHouseServer;

const BOTS: [&str; 8] = [
    "bot",
    "crawler",
    "spider",
    "slurp",
    "headless",
    "lighthouse",
    "pingdom",
    "facebookexternalhit",
];

fn events() -> Vec<Value> {
    read_ndjson(&repo().join("testdata/mable_events_full.ndjson"))
}

fn kept(e: &Value) -> bool {
    let id = e["eid"].as_str().unwrap_or("").trim();
    let backend = e["bd"]["is_backend"].as_bool().unwrap_or(false);
    let ua = e["bd"]["ua"].as_str().unwrap_or("").to_lowercase();
    !id.is_empty() && !backend && !BOTS.iter().any(|b| ua.contains(b))
}

/// (count, sum, min, max).
type Agg = (i64, i64, i64, i64);
type Finals = BTreeMap<(String, String), Agg>;

/// The reference: final (count, sum, min, max) per (stage, key JSON).
fn expected() -> Finals {
    let mut out: Finals = BTreeMap::new();
    let mut add = |stage: &str, key: Value, v: i64| {
        let e =
            out.entry((stage.to_string(), key.to_string()))
                .or_insert((0, 0, i64::MAX, i64::MIN));
        e.0 += 1;
        e.1 += v;
        e.2 = e.2.min(v);
        e.3 = e.3.max(v);
    };
    for e in events().iter().filter(|e| kept(e)) {
        let shop = e["md"]["shop"].as_str().unwrap_or("").to_string();
        let en = e["en"].as_str().unwrap().to_string();
        if let (true, Some(cur)) = (
            en == "Order Completed",
            e["esd"]["cart"]["currency"].as_str(),
        ) {
            let cents =
                (e["esd"]["cart"]["total"]["price"].as_f64().unwrap_or(0.0) * 100.0).round() as i64;
            add(
                "revenue_by_shop_currency",
                serde_json::json!([shop, cur]),
                cents,
            );
        }
        add("events_by_shop_name", serde_json::json!([shop, en]), 1);
        if en == "Order Completed" {
            for rule in reference_rules(e, unix_now()) {
                add("rejections_by_destination_rule", Value::String(rule), 1);
            }
        }
    }
    out
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn non_empty(v: &Value) -> usize {
    match v {
        Value::Array(a) => a
            .iter()
            .filter(|x| x.as_str().is_some_and(|s| !s.trim().is_empty()))
            .count(),
        Value::String(s) if !s.trim().is_empty() => 1,
        _ => 0,
    }
}

/// The reference validator: the `destination/rule` keys an order breaks,
/// written from the platforms' pages over the untyped JSON. (Phones here
/// count as identifiers when written internationally: the test data's are.)
fn reference_rules(e: &Value, now: i64) -> Vec<String> {
    let mut out = Vec::new();
    let ts = e["ts"].as_i64().unwrap();
    let seconds = ts > 0 && ts < 10_000_000_000;
    let cdas = &e["cdas"];
    // Meta (server-event and parameters pages).
    if !seconds {
        out.push("meta/event_time_not_unix_seconds".to_string());
    } else if now - ts > 7 * 86_400 {
        out.push("meta/event_time_older_than_7_days".to_string());
    }
    let customer: usize = [
        "em", "ph", "fn", "ln", "ct", "st", "zip", "cc", "id", "db", "ge",
    ]
    .iter()
    .map(|k| non_empty(&cdas[*k]))
    .sum();
    let fbc = e["pids"]["fbc"].as_str().is_some();
    let fbp = e["bd"]["cks"]["_fbp"].as_str().is_some();
    if customer == 0 && !fbc && !fbp {
        out.push("meta/user_data_without_identifier".to_string());
    }
    if e["bd"]["ua"].as_str().is_none_or(|s| s.trim().is_empty()) {
        out.push("meta/website_without_client_user_agent".to_string());
    }
    if e["pd"]["dl"].as_str().is_none_or(|s| s.trim().is_empty()) {
        out.push("meta/website_without_event_source_url".to_string());
    }
    // Google (enhanced conversions page).
    if e["esd"]["oid"].as_str().is_none_or(|s| s.trim().is_empty()) {
        out.push("google/order_id_missing".to_string());
    }
    if !seconds {
        out.push("google/conversion_time_not_unix_seconds".to_string());
    } else if now - ts > 86_400 {
        out.push("google/upload_later_than_24_h".to_string());
    }
    let phones = match &cdas["ph"] {
        Value::Array(a) => a
            .iter()
            .filter(|p| p.as_str().is_some_and(|p| p.trim().starts_with('+')))
            .count(),
        _ => 0,
    };
    let address = ["fn", "ln", "cc", "zip"]
        .iter()
        .all(|k| non_empty(&cdas[*k]) > 0);
    let identifiers = non_empty(&cdas["em"]) + phones + usize::from(address);
    if identifiers == 0 {
        out.push("google/no_user_identifier".to_string());
    } else if identifiers > 5 {
        out.push("google/more_than_5_user_identifiers".to_string());
    }
    out
}

/// The final value of each key from a run's `pipeline_aggregates` files (the
/// update of the latest batch in which the key changed).
fn finals_from_files(metrics: &Path) -> Finals {
    let mut latest: BTreeMap<(String, String), (u64, Agg)> = BTreeMap::new();
    for run in std::fs::read_dir(metrics).unwrap().flatten() {
        for file in std::fs::read_dir(run.path()).unwrap().flatten() {
            let name = file.file_name().to_string_lossy().to_string();
            if !name.starts_with("pipeline_aggregates") {
                continue;
            }
            for r in read_ndjson(&file.path()) {
                let key = (
                    r["stage_path"].as_str().unwrap().to_string(),
                    r["key"].as_str().unwrap().to_string(),
                );
                let value = (
                    r["count"].as_i64().unwrap(),
                    r["sum"].as_i64().unwrap(),
                    r["min"].as_i64().unwrap(),
                    r["max"].as_i64().unwrap(),
                );
                let batch = r["batch_id"].as_u64().unwrap();
                let slot = latest.entry(key).or_insert((batch, value));
                if batch >= slot.0 {
                    *slot = (batch, value);
                }
            }
        }
    }
    latest.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

fn input() -> String {
    repo()
        .join("testdata/mable_events_full.ndjson")
        .display()
        .to_string()
}

#[test]
fn aggregates_are_exact_for_any_workers_batches_and_processes() {
    let want = expected();
    assert!(
        want.keys().any(|(s, _)| s == "revenue_by_shop_currency"),
        "the test data has orders"
    );
    for (i, extra) in [
        vec!["-w", "1"],
        vec!["-w", "3", "--batch-size", "7"],
        vec!["-w", "2", "--batch-size", "1"],
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--dataflow", "conversions", "-q"];
        args.extend(extra);
        let file = input();
        args.push(&file);
        run_ok(dir.path(), &args);
        assert_eq!(
            finals_from_files(&dir.path().join("metrics")),
            want,
            "configuration {i}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = input();
    for o in run_cluster(
        dir.path(),
        2,
        &[
            "--dataflow",
            "conversions",
            "-q",
            "-w",
            "2",
            "--batch-size",
            "5",
            &file,
        ],
    ) {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(
        finals_from_files(&dir.path().join("metrics")),
        want,
        "two-process cluster"
    );
}

/// Every personal value of the input that is not also part of the event's
/// non-personal text (a shop domain containing a surname, say).
fn clear_text_pii() -> Vec<String> {
    let mut out = Vec::new();
    for e in events() {
        let Some(cdas) = e.get("cdas").and_then(Value::as_object) else {
            continue;
        };
        let mut rest = e.clone();
        rest.as_object_mut().unwrap().remove("cdas");
        let rest = rest.to_string().to_lowercase();
        for (_, values) in cdas {
            let values: Vec<String> = match values {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => vec![],
            };
            for v in values {
                let v = v.trim().to_lowercase();
                if v.len() >= 4 && !rest.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The first personal value found in `text` as a whole token: not inside a
/// longer run of letters or digits. Otherwise a zip code turns up inside a
/// microsecond timestamp, or a short name inside a hex digest, by chance (CI
/// once failed on "49007" inside a `pipeline_runs` timestamp).
fn find_pii<'a>(text: &str, pii: &'a [String]) -> Option<&'a String> {
    let text = text.to_lowercase();
    pii.iter().find(|v| {
        text.match_indices(v.as_str()).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + v.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

fn assert_no_pii(what: &str, text: &str, pii: &[String]) {
    if let Some(v) = find_pii(text, pii) {
        panic!("clear-text personal data {v:?} found in {what}");
    }
}

#[test]
fn no_clear_text_personal_data_leaves_and_clickhouse_holds_the_final_values() {
    let pii = clear_text_pii();
    assert!(
        pii.iter().any(|v| v.contains('@')),
        "the test data has e-mails"
    );
    let raw = std::fs::read_to_string(input()).unwrap();
    assert!(
        find_pii(&raw, &pii).is_some(),
        "the leak check finds the input's own clear-text values"
    );
    let ch = ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = ch.http_url();
    let file = input();
    let summary = run_ok(
        dir.path(),
        &[
            "--dataflow",
            "conversions",
            "-w",
            "2",
            "--batch-size",
            "9",
            "-q",
            "--output",
            "out.ndjson",
            "--clickhouse-url",
            &url,
            &file,
        ],
    );
    let out = std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap();
    assert!(out.lines().count() > 0);
    assert_no_pii("--output", &out, &pii);
    assert_no_pii("the summary", &summary, &pii);
    for table in [
        "conversions",
        "conversions_rejections",
        "pipeline_aggregates",
        "pipeline_metrics",
        "pipeline_runs",
        "pipeline_reductions",
    ] {
        let rows = ch.query(&format!("SELECT * FROM mable.{table} FORMAT JSONEachRow"));
        assert_no_pii(table, &rows, &pii);
    }
    // Every record that left is in one of the two tables: a rejection in
    // its own table (the ClickHouse sink created it from its statement on
    // its first rows), everything else in `conversions`.
    let rejected = out
        .lines()
        .filter(|l| l.contains(r#""destination":"rejected""#))
        .count() as u64;
    assert!(rejected > 0);
    assert_eq!(
        ch.query_u64("SELECT count() FROM mable.conversions"),
        out.lines().count() as u64 - rejected
    );
    assert_eq!(
        ch.query_u64("SELECT count() FROM mable.conversions_rejections"),
        rejected
    );
    // The latest value per key, two ways.
    let latest = ch.query(
        "SELECT stage_path, key, argMax(count, batch_id), argMax(sum, batch_id), argMax(min, batch_id), argMax(max, batch_id) \
         FROM mable.pipeline_aggregates GROUP BY stage_path, key ORDER BY stage_path, key",
    );
    let final_ = ch.query("SELECT stage_path, key, count, sum, min, max FROM mable.pipeline_aggregates FINAL ORDER BY stage_path, key");
    assert_eq!(latest, final_);
    let got: Finals = latest
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let key = f[1].replace("\\\"", "\"");
            (
                (f[0].to_string(), key),
                (
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                    f[4].parse().unwrap(),
                    f[5].parse().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(got, expected());
}

/// Unknown fields, at the top and nested, pass through a pipeline and come
/// out as they went in (mable_event changes only price and created_at).
#[test]
fn unknown_fields_survive_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let file = input();
    run_ok(
        dir.path(),
        &[
            "--dataflow",
            "mable_event",
            "-w",
            "2",
            "-q",
            "--metrics",
            "off",
            "--output",
            "out.ndjson",
            &file,
        ],
    );
    let by_id: BTreeMap<String, Value> = events()
        .into_iter()
        .map(|e| (e["eid"].as_str().unwrap_or("").to_string(), e))
        .collect();
    let strip = |mut v: Value| {
        let o = v.as_object_mut().unwrap();
        o.remove("created_at");
        if let Some(t) = o
            .get_mut("esd")
            .and_then(|e| e.get_mut("cart"))
            .and_then(|c| c.get_mut("total"))
        {
            t.as_object_mut().unwrap().remove("price");
        }
        // `stamp` gives a cart (with its price) to events that had none.
        if o.get("esd") == Some(&serde_json::json!({"cart": {"total": {}}})) {
            o.remove("esd");
        }
        v
    };
    let mut compared = 0;
    for got in read_ndjson(&dir.path().join("out.ndjson")) {
        let id = got["eid"].as_str().unwrap().to_string();
        if let Some(orig) = by_id.get(&id) {
            assert_eq!(
                strip(got.clone()),
                strip(orig.clone()),
                "event {id} changed beyond price and created_at"
            );
            compared += 1;
        }
    }
    assert!(compared > 5, "too few events compared ({compared})");
    let has_unknown = events().iter().any(|e| {
        e.as_object().unwrap().keys().any(|k| {
            ![
                "eid", "en", "ts", "ii", "bd", "cdas", "sd", "pd", "pids", "md", "esd",
            ]
            .contains(&k.as_str())
        })
    });
    assert!(has_unknown, "the test data carries unknown fields");
}

/// A fresh, valid order: passes every Meta and Google rule. Its customer
/// data carries Meta's published examples.
fn order(eid: &str, ts: i64) -> Value {
    serde_json::json!({
        "eid": eid, "en": "Order Completed", "ts": ts,
        "bd": {"aid": "a1", "ua": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "ul": "en",
               "cks": {"_fbp": "fb.1.1596403881668.1116446470"}, "is_backend": false},
        "cdas": {"cc": ["United States"], "ct": ["Mountain View"], "em": ["John_Smith@gmail.com"],
                 "fn": ["Mary"], "ln": ["Valéry"], "id": ["cust-4242"],
                 "street": ["1600 Amphitheatre Pkwy"], "zip": ["94035-1234"],
                 "ph": ["(650)555-1212"], "st": ["California"]},
        "pd": {"dl": "https://shop.example/checkout/thanks", "dt": "Thanks", "pp": 10.0, "pb": 1},
        "pids": {"fbc": "fb.1.1554763741205.AbCdEfGh", "gclid": "Cj0KCQjw-test"},
        "md": {"shop": "shop.example"},
        "esd": {"oid": format!("o-{eid}"), "cart": {"currency": "USD", "total": {"price": 19.99}}}
    })
}

/// One event per rule that the payloads built from real events can break,
/// each breaking it once (staleness and milliseconds break the same rule
/// for both platforms), plus a valid order; with the exact counts.
fn corpus(now: i64) -> (Vec<Value>, BTreeMap<String, i64>) {
    let hour = 3_600;
    let mut events = vec![order("valid", now - hour)];
    let mut e = order("millis", now - hour);
    e["ts"] = Value::from((now - hour) * 1000);
    events.push(e);
    events.push(order("stale-8-days", now - 8 * 24 * hour));
    events.push(order("late-30-hours", now - 30 * hour));
    let mut e = order("no-user-agent", now - hour);
    e["bd"].as_object_mut().unwrap().remove("ua");
    events.push(e);
    let mut e = order("no-url", now - hour);
    e.as_object_mut().unwrap().remove("pd");
    events.push(e);
    let mut e = order("anonymous", now - hour);
    for k in ["cdas", "pids"] {
        e.as_object_mut().unwrap().remove(k);
    }
    e["bd"].as_object_mut().unwrap().remove("cks");
    events.push(e);
    let mut e = order("no-order-id", now - hour);
    e["esd"].as_object_mut().unwrap().remove("oid");
    events.push(e);
    let mut e = order("six-identifiers", now - hour);
    e["cdas"]["em"] = serde_json::json!([
        "a1@example.org",
        "a2@example.org",
        "a3@example.org",
        "a4@example.org",
        "a5@example.org"
    ]);
    events.push(e);
    let want: BTreeMap<String, i64> = [
        ("meta/event_time_not_unix_seconds", 1),
        ("google/conversion_time_not_unix_seconds", 1),
        ("meta/event_time_older_than_7_days", 1),
        ("google/upload_later_than_24_h", 2),
        ("meta/website_without_client_user_agent", 1),
        ("meta/website_without_event_source_url", 1),
        ("meta/user_data_without_identifier", 1),
        ("google/no_user_identifier", 1),
        ("google/order_id_missing", 1),
        ("google/more_than_5_user_identifiers", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    (events, want)
}

fn write_ndjson(path: &Path, events: &[Value]) {
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// Every file under `dir`, recursively, as text.
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            out.push((p.display().to_string(), text));
        }
    }
    out
}

#[test]
fn each_rule_is_counted_exactly_and_rejected_events_never_ship() {
    let now = unix_now();
    let (events, want) = corpus(now);
    // The independent reference agrees with the corpus's own count.
    let mut reference: BTreeMap<String, i64> = BTreeMap::new();
    for e in &events {
        for r in reference_rules(e, now) {
            *reference.entry(r).or_default() += 1;
        }
    }
    assert_eq!(reference, want, "the reference validator");
    let dir = tempfile::tempdir().unwrap();
    write_ndjson(&dir.path().join("in.ndjson"), &events);
    let summary = run_ok(
        dir.path(),
        &[
            "--dataflow",
            "conversions",
            "-w",
            "2",
            "--batch-size",
            "3",
            "--output",
            "out.ndjson",
            "in.ndjson",
        ],
    );
    let out = read_ndjson(&dir.path().join("out.ndjson"));
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    let mut shipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &out {
        match r["destination"].as_str().unwrap() {
            "rejected" => {
                assert_eq!(r.as_object().unwrap().len(), 4, "ids and rule only: {r}");
                let key = format!(
                    "{}/{}",
                    r["platform"].as_str().unwrap(),
                    r["rule"].as_str().unwrap()
                );
                *got.entry(key).or_default() += 1;
            }
            d @ ("meta" | "google") => {
                let id = r["event_id"].as_str().map(String::from).unwrap_or_else(|| {
                    r["order_id"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("o-")
                        .to_string()
                });
                shipped.entry(d.to_string()).or_default().push(id);
            }
            other => panic!("unexpected record {other}: {r}"),
        }
    }
    assert_eq!(got, want, "rejection records per rule");
    // Only events that meet every rule of a platform go to it.
    let ok_for = |platform: &str| -> Vec<String> {
        let mut v: Vec<String> = events
            .iter()
            .filter(|e| {
                !reference_rules(e, now)
                    .iter()
                    .any(|r| r.starts_with(platform))
            })
            .map(|e| e["eid"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    for (platform, ids) in &mut shipped {
        ids.sort();
        assert_eq!(*ids, ok_for(&format!("{platform}/")), "{platform} payloads");
    }
    assert_eq!(
        shipped["meta"],
        ["late-30-hours", "no-order-id", "six-identifiers", "valid"]
    );
    assert_eq!(shipped["google"], ["no-url", "no-user-agent", "valid"]);
    // The counts, per destination and rule, in the metrics and the summary.
    let finals = finals_from_files(&dir.path().join("metrics"));
    for (rule, n) in &want {
        let key = (
            "rejections_by_destination_rule".to_string(),
            Value::String(rule.clone()).to_string(),
        );
        assert_eq!(finals.get(&key), Some(&(*n, *n, 1, 1)), "{rule}");
        assert!(
            summary.contains(&format!("\"{rule}\"  count {n}  sum {n}")),
            "the summary counts {rule}:\n{summary}"
        );
    }
    // Meta's published hashes reach Meta's payload of the valid order.
    let valid = out
        .iter()
        .find(|r| r["destination"] == "meta" && r["event_id"] == "valid")
        .unwrap();
    let u = &valid["user_data"];
    assert_eq!(
        u["em"][0],
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    );
    assert_eq!(
        u["ph"][0],
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    );
    assert_eq!(
        u["fn"][0],
        "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"
    );
    assert_eq!(
        u["ln"][0],
        "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"
    );
    assert_eq!(
        u["country"][0],
        "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"
    );
}

/// Personal data in clear text: e-mails, phones, names, streets and ids
/// never appear in any output; the address fields Google wants in clear
/// (city, region, postal code, country) appear only there, in
/// `address_info` of a Google payload.
#[test]
fn clear_text_appears_only_where_a_spec_requires_it() {
    let now = unix_now();
    let (events, _) = corpus(now);
    let dir = tempfile::tempdir().unwrap();
    write_ndjson(&dir.path().join("in.ndjson"), &events);
    let run = support::cli::bin()
        .current_dir(dir.path())
        .env("RUST_LOG", "debug")
        .args([
            "--dataflow",
            "conversions",
            "-w",
            "2",
            "--output",
            "out.ndjson",
            "in.ndjson",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let never = [
        "john_smith@gmail.com",
        "a3@example.org",
        "(650)555-1212",
        "6505551212",
        "Mary",
        "valéry",
        "1600 Amphitheatre Pkwy",
        "cust-4242",
    ];
    let clear_only_in_google = ["Mountain View", "California", "94035"];
    let mut texts = Vec::new();
    let mut table_rows = 0;
    for (file, text) in all_files(&dir.path().join("metrics")) {
        if !file.ends_with("/conversions.ndjson") {
            texts.push((file, text));
            continue;
        }
        // The `conversions` table keeps each record as JSON text: strip it too.
        let mut stripped = String::new();
        for mut row in text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
        {
            let mut record: Value = serde_json::from_str(row["record"].as_str().unwrap()).unwrap();
            strip_google_clear(&mut record);
            row["record"] = Value::String(record.to_string());
            stripped.push_str(&format!("{row}\n"));
            table_rows += 1;
        }
        texts.push((file, stripped));
    }
    assert!(table_rows > 0, "the conversions table was written");
    assert!(texts.iter().any(|(f, _)| f.contains("pipeline_aggregates")));
    texts.push((
        "stdout".into(),
        String::from_utf8_lossy(&run.stdout).into_owned(),
    ));
    texts.push((
        "stderr".into(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    ));
    let out_text = std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap();
    // `--output` with Google's clear address fields taken out.
    let mut google_clear = 0;
    let stripped: String = read_ndjson(&dir.path().join("out.ndjson"))
        .into_iter()
        .map(|mut r| {
            google_clear += strip_google_clear(&mut r);
            format!("{r}\n")
        })
        .collect();
    assert!(google_clear > 0, "a Google payload carries an address");
    let find = |text: &str, values: &[&str]| -> Option<String> {
        let values: Vec<String> = values.iter().map(|v| v.to_lowercase()).collect();
        find_pii(text, &values).cloned()
    };
    assert_eq!(find(&out_text, &never), None, "in --output");
    assert!(
        find(&out_text, &clear_only_in_google).is_some(),
        "the search finds Google's clear fields in --output"
    );
    texts.push(("--output without Google's address fields".into(), stripped));
    let all: Vec<&str> = never.iter().chain(&clear_only_in_google).copied().collect();
    for (what, text) in &texts {
        assert_eq!(find(text, &all), None, "in {what}");
    }
}

/// Takes the clear-text address fields out of a Google payload's
/// `address_info`, checking them; returns how many addresses it stripped.
fn strip_google_clear(r: &mut Value) -> usize {
    let mut n = 0;
    if r["destination"] == "google" {
        for id in r["user_identifiers"].as_array_mut().unwrap() {
            if let Some(a) = id.get_mut("address_info") {
                assert_eq!(a["city"], "Mountain View");
                assert_eq!(a["state"], "California");
                assert_eq!(a["postal_code"], "94035-1234");
                assert_eq!(a["country_code"], "US");
                for k in ["city", "state", "postal_code", "country_code"] {
                    a.as_object_mut().unwrap().remove(k);
                }
                n += 1;
            }
        }
    }
    n
}

/// The `conversions_rejections` DDL runs on the ClickHouse installed here
/// (18.16) and holds a rejection row.
#[test]
fn the_rejections_table_ddl_runs_on_clickhouse() {
    use mable_pipeline::dataflows::conversions::{Rejection, rejections_table};
    let ch = ClickHouseServer::start();
    ch.query("CREATE DATABASE IF NOT EXISTS rj");
    ch.query(&rejections_table().ddl("rj"));
    let row = serde_json::to_value(Rejection {
        destination: "meta".into(),
        rule: "event_time_older_than_7_days".into(),
        event_id: "e1".into(),
        count: 1,
    })
    .unwrap();
    let mut full = serde_json::json!({
        "run_id": "r1", "dataflow": "conversions", "stage_path": "conversions_table",
        "batch_id": 0, "worker_id": 0, "process_id": 0,
        "timestamp": "2026-12-01 00:00:00", "insert_id": "r1-p0-0"
    });
    for (k, v) in row.as_object().unwrap() {
        full[k] = v.clone();
    }
    ch.query(&format!(
        "INSERT INTO rj.conversions_rejections FORMAT JSONEachRow {full}"
    ));
    assert_eq!(
        ch.query("SELECT destination, rule, event_id, count FROM rj.conversions_rejections"),
        "meta\tevent_time_older_than_7_days\te1\t1\n"
    );
}

/// `--metrics off` turns off metrics, not the dataflow's output: the
/// `conversions` table still gets one row per record that reached it, and
/// no metric table is written. (Before, the table's rows went through the
/// metrics channel and `--metrics off` dropped them without a word.)
#[test]
fn metrics_off_still_keeps_the_conversions_table() {
    let dir = tempfile::tempdir().unwrap();
    let input = input();
    let on = run_ok(
        dir.path(),
        &[
            "--dataflow",
            "conversions",
            "-w",
            "2",
            "--metrics-dir",
            "on",
            "--output",
            "on.ndjson",
            &input,
        ],
    );
    let off = run_ok(
        dir.path(),
        &[
            "--dataflow",
            "conversions",
            "-w",
            "2",
            "--metrics",
            "off",
            "--metrics-dir",
            "off",
            &input,
        ],
    );
    let count_rows = |base: &str| -> (usize, Vec<String>) {
        let runs: Vec<_> = std::fs::read_dir(dir.path().join(base))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(runs.len(), 1, "one run directory in {base}");
        let mut names: Vec<String> = std::fs::read_dir(runs[0].path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        let rows = read_ndjson(&runs[0].path().join("conversions.ndjson")).len()
            + read_ndjson(&runs[0].path().join("conversions_rejections.ndjson")).len();
        (rows, names)
    };
    let records = read_ndjson(&dir.path().join("on.ndjson")).len();
    let (with_metrics, _) = count_rows("on");
    let (without, files) = count_rows("off");
    assert!(records > 0);
    assert_eq!(with_metrics, records, "{on}");
    assert_eq!(without, records, "{off}");
    assert_eq!(
        files,
        ["conversions.ndjson", "conversions_rejections.ndjson"],
        "no metric table with --metrics off"
    );
}
