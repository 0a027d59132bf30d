//! What Grafana and the ClickHouse plugin (grafana-clickhouse-datasource v4,
//! the version ops/docker-compose.yml pins) do to a panel's SQL before
//! ClickHouse sees it, so the tests run exactly that text.
//!
//! Order, as in the plugin: the frontend's `applyTemplateVariables` first
//! resolves `$__conditionalAll(cond, $var)` (src/data/CHDatasource.ts), then
//! Grafana's template service replaces the variables (`${v:singlequote}`
//! escapes `'` as `\'` and nothing else); the backend then expands the `$__`
//! macros (pkg/macros/macros.go, through macropro).

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// The time range, interval and variable values a panel is drawn with.
pub struct Frame {
    pub from: i64,
    pub to: i64,
    pub interval_s: i64,
    pub vars: BTreeMap<String, String>,
}

/// A `$__name(args)` occurrence at or after `from`: (start, end, name, args
/// split at top-level commas). A name with no `(` after it has no arguments.
fn find_macro(sql: &str, from: usize) -> Option<(usize, usize, String, Vec<String>)> {
    let start = from + sql[from..].find("$__")?;
    let name_end = start
        + 3
        + sql[start + 3..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(sql.len() - start - 3);
    let name = sql[start + 3..name_end].to_string();
    if !sql[name_end..].starts_with('(') {
        return Some((start, name_end, name, Vec::new()));
    }
    let (mut depth, mut args, mut current) = (0, Vec::new(), String::new());
    for (i, c) in sql[name_end..].char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' if depth == 1 => {
                args.push(current.trim().to_string());
                return Some((start, name_end + i + 1, name, args));
            }
            ')' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 1 => args.push(std::mem::take(&mut current).trim().to_string()),
            _ => current.push(c),
        }
    }
    panic!("unbalanced macro call in {sql}");
}

/// The plugin's `applyConditionalAll`: the condition stands unless the
/// variable's value is empty or "All", then it is `1=1`.
fn conditional_all(sql: &str, frame: &Frame) -> String {
    let mut sql = sql.to_string();
    let mut from = 0;
    while let Some((start, end, name, args)) = find_macro(&sql, from) {
        if name != "conditionalAll" {
            from = end;
            continue;
        }
        assert_eq!(args.len(), 2, "$__conditionalAll takes two arguments");
        let var = args[1]
            .trim_start_matches('$')
            .trim_start_matches('{')
            .trim_end_matches('}');
        // A variable the dashboard does not have leaves the condition standing.
        let phrase = match frame.vars.get(var).map(String::as_str) {
            Some("" | "$__all") => "1=1".to_string(),
            _ => args[0].clone(),
        };
        sql.replace_range(start..end, &phrase);
        from = start + phrase.len();
    }
    sql
}

/// Grafana's template service: `${v:singlequote}`, `${v}` and `$v`.
fn variables(sql: &str, frame: &Frame) -> String {
    let mut sql = sql.to_string();
    for (name, value) in &frame.vars {
        let quoted = format!("'{}'", value.replace('\'', "\\'"));
        sql = sql.replace(&format!("${{{name}:singlequote}}"), &quoted);
        sql = sql.replace(&format!("${{{name}}}"), value);
        // `$name` not followed by more of an identifier.
        let bare = format!("${name}");
        let mut out = String::new();
        let mut rest = sql.as_str();
        while let Some(i) = rest.find(&bare) {
            let after = &rest[i + bare.len()..];
            out.push_str(&rest[..i]);
            if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                out.push_str(&bare);
            } else {
                out.push_str(value);
            }
            rest = after;
        }
        out.push_str(rest);
        sql = out;
    }
    sql
}

/// The backend's macros (pkg/macros/macros.go of plugin v4).
fn macros(sql: &str, frame: &Frame) -> String {
    let mut sql = sql.to_string();
    let (from, to, interval) = (frame.from, frame.to, frame.interval_s.max(1));
    while let Some((start, end, name, args)) = find_macro(&sql, 0) {
        let arg = |i: usize| -> &str {
            args.get(i)
                .map(String::as_str)
                .unwrap_or_else(|| panic!("$__{name} needs argument {i}"))
        };
        let replacement = match name.as_str() {
            "timeFilter" => format!(
                "{c} >= toDateTime({from}) AND {c} <= toDateTime({to})",
                c = arg(0)
            ),
            "timeFilter_ms" => format!(
                "{c} >= fromUnixTimestamp64Milli({f}) AND {c} <= fromUnixTimestamp64Milli({t})",
                c = arg(0),
                f = from * 1000,
                t = to * 1000
            ),
            "timeFrom" => format!("{} >= toDateTime({from})", arg(0)),
            "timeTo" => format!("{} <= toDateTime({to})", arg(0)),
            "fromTime" => format!("toDateTime({from})"),
            "toTime" => format!("toDateTime({to})"),
            "fromTime_ms" => format!("fromUnixTimestamp64Milli({})", from * 1000),
            "toTime_ms" => format!("fromUnixTimestamp64Milli({})", to * 1000),
            "interval_s" => interval.to_string(),
            "timeInterval" => format!(
                "toStartOfInterval(toDateTime({}), INTERVAL {interval} second)",
                arg(0)
            ),
            "timeInterval_ms" => format!(
                "toStartOfInterval(toDateTime64({}, 3), INTERVAL {} millisecond)",
                arg(0),
                interval * 1000
            ),
            other => panic!("macro $__{other} is not expanded by this test: add it"),
        };
        sql.replace_range(start..end, &replacement);
    }
    sql
}

/// A panel's SQL as ClickHouse receives it from Grafana with `frame`.
pub fn expand(sql: &str, frame: &Frame) -> String {
    let sql = macros(&variables(&conditional_all(sql, frame), frame), frame);
    assert!(
        !sql.contains('$'),
        "unexpanded variable or macro left in:\n{sql}"
    );
    sql
}

/// The SQL of a query target or variable (object with rawSql, or a plain string).
pub fn raw_sql(query: &Json) -> String {
    query["rawSql"]
        .as_str()
        .or(query.as_str())
        .unwrap_or_else(|| panic!("no SQL in {query}"))
        .to_string()
}

/// Grafana's `$__interval` for a panel: the range over max data points, at
/// least the panel's minimum interval. (Grafana also rounds it to a "nice"
/// step; the bucket width changes no total the tests check.)
pub fn interval_s(panel: &Json, from: i64, to: i64) -> i64 {
    let min = panel["interval"]
        .as_str()
        .map(|s| {
            let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
            let n: i64 = n.parse().unwrap_or(1);
            match unit {
                "m" => n * 60,
                "h" => n * 3600,
                "d" => n * 86400,
                _ => n,
            }
        })
        .unwrap_or(1);
    let points = panel["maxDataPoints"].as_i64().unwrap_or(1000).max(1);
    ((to - from) / points).max(min).max(1)
}

/// The dashboard's panels that hold queries (rows left out).
pub fn panels(dashboard: &Json) -> Vec<&Json> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

/// The queries a panel's data links open (`internal.query`), e.g. a batch
/// as a trace. (shipped_sql follows them; sharded_clickhouse does not yet.)
#[allow(dead_code)]
pub fn link_queries(panel: &Json) -> Vec<&Json> {
    let overrides = panel["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten();
    overrides
        .flat_map(|o| o["properties"].as_array().into_iter().flatten())
        .filter(|p| p["id"] == "links")
        .flat_map(|p| p["value"].as_array().into_iter().flatten())
        .filter_map(|l| l.get("internal").map(|i| &i["query"]))
        .collect()
}

/// The dashboard's template variables, in the order Grafana resolves them.
pub fn variables_of(dashboard: &Json) -> Vec<&Json> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(vars: &[(&str, &str)]) -> Frame {
        Frame {
            from: 100,
            to: 200,
            interval_s: 60,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn variables_expand_as_grafana_does() {
        let frame = frame(&[
            ("dataflow", r"it's a\b"),
            ("run_id", "r1"),
            ("run_idx", "7"),
        ]);
        // singlequote escapes the quote only (Grafana's formatRegistry); a
        // backslash passes as it is.
        assert_eq!(
            expand(
                "d = ${dataflow:singlequote} AND r = '$run_id' AND x = '${run_id}' AND y = $run_idx",
                &frame
            ),
            r"d = 'it\'s a\b' AND r = 'r1' AND x = 'r1' AND y = 7"
        );
    }

    #[test]
    fn macros_expand_as_the_plugin_does() {
        let frame = frame(&[("run_id", "r1"), ("all", "$__all"), ("none", "")]);
        assert_eq!(
            expand(
                "WHERE $__timeFilter(ts) AND $__timeFrom(a) AND $__timeTo( b )",
                &frame
            ),
            "WHERE ts >= toDateTime(100) AND ts <= toDateTime(200) AND a >= toDateTime(100) AND b <= toDateTime(200)"
        );
        assert_eq!(
            expand(
                "SELECT $__timeInterval(t) AS time, $__interval_s, $__fromTime, $__toTime",
                &frame
            ),
            "SELECT toStartOfInterval(toDateTime(t), INTERVAL 60 second) AS time, 60, toDateTime(100), toDateTime(200)"
        );
        assert_eq!(
            expand("$__timeFilter_ms(t), $__timeInterval_ms(t)", &frame),
            "t >= fromUnixTimestamp64Milli(100000) AND t <= fromUnixTimestamp64Milli(200000), \
             toStartOfInterval(toDateTime64(t, 3), INTERVAL 60000 millisecond)"
        );
        // $__conditionalAll keeps the condition as written for a chosen value,
        // and is 1=1 for "All" or nothing chosen.
        assert_eq!(
            expand(
                "$__conditionalAll(a IN (f(1), '$run_id'), $run_id) AND $__conditionalAll(b = 1, ${all}) AND $__conditionalAll(c = 2, $none)",
                &frame
            ),
            "a IN (f(1), 'r1') AND 1=1 AND 1=1"
        );
    }
}
