//! The deployment in ops/: compose file, Grafana provisioning and dashboard,
//! runner image, runner script and ClickHouse init script.
//!
//! The dashboard's SQL itself, run on ClickHouse 18.16 and current ClickHouse
//! after real runs, is tests/shipped_sql.rs; here the dashboard is checked as
//! Grafana and the pinned plugin read and store it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use support::clickhouse::ClickHouseServer;

/// The provisioned data source's type: the official Grafana ClickHouse plugin.
const PLUGIN: &str = "grafana-clickhouse-datasource";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ops() -> PathBuf {
    repo().join("ops")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn yaml_file(path: &Path) -> Yaml {
    serde_norway::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn json_file(path: &Path) -> Json {
    serde_json::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A YAML scalar as a string (numbers included), or "" for anything else.
fn scalar(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn keys(v: &Yaml) -> BTreeSet<String> {
    v.as_mapping()
        .map(|m| m.keys().map(scalar).collect())
        .unwrap_or_default()
}

/// `KEY=value` lines of ops/.env.
fn dotenv() -> BTreeMap<String, String> {
    read(&ops().join(".env"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The compose file as written (not as `config` resolves it).
fn compose_source() -> Yaml {
    yaml_file(&ops().join("docker-compose.yml"))
}

/// A service's short-syntax bind mounts, as (host path in the repo, container path).
fn bind_mounts(compose: &Yaml, service: &str) -> Vec<(PathBuf, String)> {
    compose["services"][service]["volumes"]
        .as_sequence()
        .unwrap_or_else(|| panic!("service {service} has no volumes"))
        .iter()
        .map(scalar)
        .filter(|v| v.starts_with("./") || v.starts_with("../"))
        .map(|v| {
            let mut parts = v.split(':');
            let host = parts.next().unwrap();
            let container = parts.next().expect("a container path").to_string();
            (ops().join(host), container)
        })
        .collect()
}

/// Maps a container path back into the repository through `service`'s bind mounts.
fn host_path(compose: &Yaml, service: &str, container: &str) -> PathBuf {
    for (host, target) in bind_mounts(compose, service) {
        let target = target.trim_end_matches('/');
        if container == target {
            return host;
        }
        if let Some(rest) = container.strip_prefix(&format!("{target}/")) {
            return host.join(rest);
        }
    }
    panic!("{container} is not under any bind mount of service {service}");
}

// ---------------------------------------------------------------------------
// 1. The compose file.
// ---------------------------------------------------------------------------

/// `docker-compose` (v1) or `docker compose` (v2), whichever works here.
fn compose_command() -> Command {
    let works = |cmd: &mut Command| cmd.output().map(|o| o.status.success()).unwrap_or(false);
    if works(Command::new("docker-compose").arg("version")) {
        return Command::new("docker-compose");
    }
    if works(Command::new("docker").args(["compose", "version"])) {
        let mut c = Command::new("docker");
        c.arg("compose");
        return c;
    }
    panic!(
        "neither `docker-compose` nor `docker compose` is available: run `bash ops/test.sh`, \
         which installs Debian's docker-compose"
    );
}

/// Container ports a service publishes, from `config` output (short or long syntax).
fn published_targets(service: &Yaml) -> BTreeSet<u16> {
    service["ports"]
        .as_sequence()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| match p {
                    Yaml::Mapping(_) if !scalar(&p["published"]).is_empty() => {
                        scalar(&p["target"]).parse().ok()
                    }
                    Yaml::String(s) => s.rsplit(':').next()?.split('/').next()?.parse().ok(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A service's environment from `config` output (mapping or `KEY=value` list).
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    match &service["environment"] {
        Yaml::Mapping(m) => m.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Yaml::Sequence(s) => s
            .iter()
            .filter_map(|e| {
                let e = scalar(e);
                e.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

#[test]
fn compose_file_is_valid_and_wires_the_three_services() {
    let out = compose_command()
        .args(["-f", "ops/docker-compose.yml", "config"])
        .current_dir(repo())
        .output()
        .expect("run compose config");
    assert!(
        out.status.success(),
        "compose config failed:\n{}",
        text(&out)
    );
    let resolved = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "clickhouse:",
        "grafana:",
        "runner:",
        "healthcheck",
        "service_healthy",
    ] {
        assert!(
            resolved.contains(needle),
            "compose config output lacks {needle:?}:\n{resolved}"
        );
    }
    let config: Yaml = serde_norway::from_str(&resolved).expect("compose config prints YAML");
    let services = &config["services"];
    assert_eq!(
        keys(services),
        ["clickhouse", "grafana", "runner"].map(String::from).into(),
        "services"
    );

    let ch = &services["clickhouse"];
    let grafana = &services["grafana"];
    let runner = &services["runner"];
    assert_eq!(
        published_targets(ch),
        [8123, 9000].into(),
        "ClickHouse ports"
    );
    assert_eq!(published_targets(grafana), [3000].into(), "Grafana port");
    assert!(
        published_targets(runner).is_empty(),
        "the runner publishes nothing"
    );

    // Pinned images, no `latest`.
    for (name, repo_prefix) in [
        ("clickhouse", "clickhouse/clickhouse-server:"),
        ("grafana", "grafana/grafana:"),
    ] {
        let image = scalar(&services[name]["image"]);
        let tag = image
            .strip_prefix(repo_prefix)
            .unwrap_or_else(|| panic!("{name} image {image:?} is not {repo_prefix}<tag>"));
        assert!(
            tag.starts_with(|c: char| c.is_ascii_digit()),
            "{name} image tag {tag:?} is not a pinned version"
        );
    }

    // ClickHouse: health-checked, file limits raised, credentials from .env.
    let test = &ch["healthcheck"]["test"];
    assert!(
        test.as_sequence().is_some_and(|t| t.len() >= 2) || !scalar(test).is_empty(),
        "ClickHouse healthcheck has no test: {test:?}"
    );
    assert!(
        scalar(&test[1]).contains("SELECT 1") || scalar(test).contains("SELECT 1"),
        "the healthcheck asks the server a query"
    );
    assert!(
        !scalar(&ch["ulimits"]["nofile"]["soft"]).is_empty(),
        "nofile ulimit"
    );
    let env = dotenv();
    let ch_env = environment(ch);
    for key in ["CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_DB"] {
        assert_eq!(
            ch_env.get(key),
            env.get(key),
            "clickhouse gets {key} from ops/.env"
        );
    }

    // Grafana and the runner wait for a healthy ClickHouse.
    for (name, service) in [("grafana", grafana), ("runner", runner)] {
        assert_eq!(
            scalar(&service["depends_on"]["clickhouse"]["condition"]),
            "service_healthy",
            "{name} waits for a healthy clickhouse"
        );
    }

    // Grafana installs the pinned plugin before it serves (GF_INSTALL_PLUGINS
    // is deprecated since Grafana 12.1) and logs in with .env's admin password.
    let gf_env = environment(grafana);
    assert!(
        !gf_env.contains_key("GF_INSTALL_PLUGINS"),
        "GF_INSTALL_PLUGINS is deprecated: use GF_PLUGINS_PREINSTALL_SYNC"
    );
    assert_eq!(
        gf_env.get("GF_PLUGINS_PREINSTALL_SYNC"),
        Some(&format!("{PLUGIN}@{}", plugin_version())),
        "Grafana preinstalls {PLUGIN}@<the pinned version>"
    );
    assert_eq!(
        gf_env.get("GF_SECURITY_ADMIN_PASSWORD"),
        env.get("GF_SECURITY_ADMIN_PASSWORD")
    );

    // The runner: built from ops/Dockerfile with the repo root as context,
    // pointed at ClickHouse over HTTP, credentials in its environment.
    let context = PathBuf::from(scalar(&runner["build"]["context"]));
    assert_eq!(
        context.canonicalize().unwrap(),
        repo().canonicalize().unwrap(),
        "build context"
    );
    assert_eq!(scalar(&runner["build"]["dockerfile"]), "ops/Dockerfile");
    let run_env = environment(runner);
    assert_eq!(
        run_env.get("CLICKHOUSE_URL").map(String::as_str),
        Some("http://clickhouse:8123")
    );
    for key in ["CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD"] {
        assert_eq!(
            run_env.get(key),
            env.get(key),
            "runner gets {key} from ops/.env"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Grafana provisioning.
// ---------------------------------------------------------------------------

/// The one provisioned data source.
fn datasource() -> Yaml {
    let file = yaml_file(&ops().join("grafana/provisioning/datasources/clickhouse.yml"));
    assert_eq!(scalar(&file["apiVersion"]), "1");
    let list = file["datasources"].as_sequence().expect("datasources list");
    assert_eq!(list.len(), 1, "one data source");
    list[0].clone()
}

/// `$VAR` or `${VAR}` → `VAR`.
fn env_reference(value: &str) -> Option<&str> {
    let v = value.strip_prefix('$')?;
    Some(
        v.strip_prefix('{')
            .and_then(|v| v.strip_suffix('}'))
            .unwrap_or(v),
    )
}

#[test]
fn provisioning_points_at_files_and_services_that_exist() {
    let compose = compose_source();
    let env = dotenv();

    // Both provisioning files sit where Grafana looks for them.
    let provisioning = host_path(&compose, "grafana", "/etc/grafana/provisioning");
    for file in ["datasources/clickhouse.yml", "dashboards/mable.yml"] {
        assert!(
            provisioning.join(file).is_file(),
            "{file} under {}",
            provisioning.display()
        );
    }

    // The data source reaches the compose service on a port it serves.
    let ds = datasource();
    assert_eq!(scalar(&ds["type"]), PLUGIN);
    assert!(!scalar(&ds["uid"]).is_empty(), "a fixed uid");
    let json = &ds["jsonData"];
    let host = scalar(&json["host"]);
    assert!(
        keys(&compose["services"]).contains(&host),
        "data source host {host:?} is not a compose service"
    );
    let port: u16 = scalar(&json["port"]).parse().expect("numeric port");
    let protocol = scalar(&json["protocol"]);
    match (protocol.as_str(), port) {
        ("http", 8123) | ("native", 9000) => {}
        other => panic!("protocol/port {other:?}: expected http on 8123 or native on 9000"),
    }
    assert_eq!(
        Some(&scalar(&json["defaultDatabase"])),
        env.get("CLICKHOUSE_DB"),
        "defaultDatabase is the database compose creates"
    );
    // Credentials are environment references that Grafana's env_file defines.
    for value in [
        scalar(&json["username"]),
        scalar(&ds["secureJsonData"]["password"]),
    ] {
        let var = env_reference(&value)
            .unwrap_or_else(|| panic!("credential {value:?} is not an environment reference"));
        assert!(env.contains_key(var), "{var} is not set in ops/.env");
    }
    assert!(
        compose["services"]["grafana"]["env_file"] == Yaml::String(".env".into()),
        "grafana reads ops/.env"
    );

    // The dashboard provider's container path maps back to a repo folder holding the dashboard.
    let providers = yaml_file(&provisioning.join("dashboards/mable.yml"));
    let list = providers["providers"]
        .as_sequence()
        .expect("providers list");
    assert!(!list.is_empty());
    for provider in list {
        assert_eq!(scalar(&provider["type"]), "file");
        let path = scalar(&provider["options"]["path"]);
        let dir = host_path(&compose, "grafana", &path);
        assert!(
            dir.is_dir(),
            "{path} maps to {}, not a directory",
            dir.display()
        );
        assert!(
            dir.join("mable-pipeline.json").is_file(),
            "{} lacks mable-pipeline.json",
            dir.display()
        );
    }
    let home = scalar(
        &compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"],
    );
    assert!(
        host_path(&compose, "grafana", &home).is_file(),
        "home dashboard {home}"
    );

    // ClickHouse: the init script runs from the init directory and finds the
    // schema where it looks; schema.sql itself is not in the init directory
    // (its `{db}` placeholder would fail there).
    let mounts = bind_mounts(&compose, "clickhouse");
    for (host, _) in &mounts {
        assert!(host.is_file(), "{} is mounted but missing", host.display());
    }
    let init: Vec<_> = mounts
        .iter()
        .filter(|(_, c)| c.starts_with("/docker-entrypoint-initdb.d/"))
        .collect();
    assert_eq!(init.len(), 1, "one init entry: {init:?}");
    assert!(init[0].0.ends_with("clickhouse/init-schema.sh") && init[0].1.ends_with(".sh"));
    let schema_at = scalar(&compose["services"]["clickhouse"]["environment"]["MABLE_SCHEMA"]);
    assert_eq!(
        host_path(&compose, "clickhouse", &schema_at),
        ops().join("./clickhouse/schema.sql"),
        "MABLE_SCHEMA points at the mounted schema"
    );
}

fn dashboard() -> Json {
    json_file(&ops().join("grafana/dashboards/mable-pipeline.json"))
}

/// The plugin version compose installs: ops/.env's
/// GRAFANA_CLICKHOUSE_PLUGIN_VERSION, which the compose file's fallback repeats.
fn plugin_version() -> String {
    let version = dotenv()
        .get("GRAFANA_CLICKHOUSE_PLUGIN_VERSION")
        .cloned()
        .expect("ops/.env pins GRAFANA_CLICKHOUSE_PLUGIN_VERSION");
    let source = read(&ops().join("docker-compose.yml"));
    assert!(
        source.contains(&format!(
            "${{GRAFANA_CLICKHOUSE_PLUGIN_VERSION:-{version}}}"
        )),
        "the compose file's fallback plugin version is not ops/.env's {version}"
    );
    let parts: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    assert!(
        parts.len() == 3 && version.split('.').count() == 3,
        "plugin version {version:?} is not pinned as major.minor.patch"
    );
    version
}

/// Every `datasource` object anywhere in `v`, with where it is.
fn datasource_objects<'a>(v: &'a Json, at: String, out: &mut Vec<(String, &'a Json)>) {
    match v {
        Json::Object(map) => {
            for (k, child) in map {
                if k == "datasource" {
                    out.push((at.clone(), child));
                }
                datasource_objects(child, format!("{at}.{k}"), out);
            }
        }
        Json::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let name = child["title"]
                    .as_str()
                    .or(child["name"].as_str())
                    .or(child["refId"].as_str())
                    .map_or(i.to_string(), |n| format!("{i}:{n}"));
                datasource_objects(child, format!("{at}[{name}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_dashboard_datasource_is_the_provisioned_one() {
    let uid = scalar(&datasource()["uid"]);
    let dashboard = dashboard();
    let mut found = Vec::new();
    datasource_objects(&dashboard, "dashboard".into(), &mut found);
    let mut ours = 0;
    for (at, source) in &found {
        // Grafana's own annotation source (alerts and manual annotations).
        if at.starts_with("dashboard.annotations") && source["uid"] == "-- Grafana --" {
            assert_eq!(source["type"], "grafana", "{at}");
            continue;
        }
        assert_eq!(source["type"], PLUGIN, "{at}: {source}");
        assert_eq!(source["uid"], uid.as_str(), "{at}: {source}");
        ours += 1;
    }
    // And none is missing: every query panel, target and variable names one.
    let mut needed = 0;
    for p in panels(&dashboard) {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(
            p["datasource"].is_object(),
            "panel {title} has no data source"
        );
        for t in p["targets"].as_array().into_iter().flatten() {
            assert!(
                t["datasource"].is_object(),
                "a target of {title} has no data source"
            );
            needed += 1;
        }
        needed += 1;
    }
    for v in variables(&dashboard) {
        assert!(
            v["datasource"].is_object(),
            "variable {} has no data source",
            v["name"]
        );
        needed += 1;
    }
    // A data link that opens a query (the slowest batches' trace link) names
    // its data source inside the link.
    needed += found
        .iter()
        .filter(|(at, _)| at.contains(".internal.query"))
        .count();
    assert_eq!(ours, needed, "data source references");
    assert!(ours > 10, "only {ours} data source references");
}

/// The Grafana format number plugin v4 stores for a query type
/// (`mapQueryTypeToGrafanaFormat`, src/data/utils.ts).
fn plugin_format(query_type: &str) -> i64 {
    match query_type {
        "table" => 1,
        "logs" => 2,
        "timeseries" => 0,
        "traces" => 3,
        other => panic!("query type {other:?} is not one of plugin v4's"),
    }
}

/// Stored as plugin v4 stores queries, so that opening a panel's editor
/// changes nothing: the SQL editor's save (src/components/SqlEditor.tsx)
/// writes `{...query, pluginVersion, editorType: "sql", format:
/// format(queryType || "table")}`, and a query without a v4 pluginVersion is
/// migrated as a v3 one first (src/data/migration.ts).
#[test]
fn dashboard_queries_are_stored_as_plugin_v4_writes_them() {
    let version = plugin_version();
    assert!(
        version.starts_with("4."),
        "these fields are plugin v4's; {version} is another major version"
    );
    let dashboard = dashboard();
    let fields: BTreeSet<&str> = [
        "refId",
        "datasource",
        "editorType",
        "format",
        "queryType",
        "pluginVersion",
        "rawSql",
    ]
    .into();
    for p in panels(&dashboard) {
        let title = p["title"].as_str().unwrap_or("?");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {title} has no query");
        for t in targets {
            let keys: BTreeSet<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, fields, "panel {title}: the target's fields");
            assert!(
                t["refId"].as_str().is_some_and(|r| !r.is_empty()),
                "{title}: refId"
            );
            assert!(
                t["rawSql"].as_str().is_some_and(|r| !r.trim().is_empty()),
                "{title}: SQL"
            );
            let query_type = t["queryType"].as_str().expect("queryType");
            let want = if p["type"] == "timeseries" {
                "timeseries"
            } else {
                "table"
            };
            assert_eq!(
                query_type, want,
                "panel {title} ({}) queries as {want}",
                p["type"]
            );
            let mut saved = t.clone();
            saved["pluginVersion"] = Json::from(version.clone());
            saved["editorType"] = Json::from("sql");
            saved["format"] = Json::from(plugin_format(query_type));
            assert_eq!(
                &saved, t,
                "panel {title}: the editor would rewrite this query"
            );
        }
    }
    // Variables: the guided variable editor's model (src/data/CHVariableSupport.tsx),
    // custom SQL, and Grafana's definition showing that SQL.
    for v in variables(&dashboard) {
        let name = v["name"].as_str().unwrap_or("?");
        let query = &v["query"];
        let keys: BTreeSet<&str> = query
            .as_object()
            .expect("a query object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["queryType", "rawSql", "refId"].into(),
            "variable {name}"
        );
        assert_eq!(query["queryType"], "sql", "variable {name}: custom SQL");
        assert!(
            query["refId"].as_str().is_some_and(|r| !r.is_empty()),
            "variable {name}: refId"
        );
        assert_eq!(
            v["definition"], query["rawSql"],
            "variable {name}: definition"
        );
    }
}

fn panels(dashboard: &Json) -> Vec<&Json> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

fn variables(dashboard: &Json) -> Vec<&Json> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .collect()
}

// ---------------------------------------------------------------------------
// 4. The runner image.
// ---------------------------------------------------------------------------

struct Stage {
    image: String,
    name: String,
    /// (instruction, arguments), continuation lines joined.
    lines: Vec<(String, String)>,
}

fn dockerfile_stages() -> Vec<Stage> {
    let source = read(&ops().join("Dockerfile"));
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in source.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (instr, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let (instr, args) = (instr.to_ascii_uppercase(), args.trim().to_string());
        if instr == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, kw, name] if kw.eq_ignore_ascii_case("as") => name.to_string(),
                _ => String::new(),
            };
            stages.push(Stage {
                image: words[0].to_string(),
                name,
                lines: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("an instruction before FROM")
                .lines
                .push((instr, args));
        }
    }
    stages
}

/// `major.minor` at the start of `s` (`1.95.0 (…)`, `1.95-bookworm`, `"1.89"`).
fn major_minor(s: &str) -> (u32, u32) {
    let mut parts = s.trim_matches('"').split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok());
    let minor = parts.next().and_then(|p| p.parse().ok());
    major
        .zip(minor)
        .unwrap_or_else(|| panic!("no major.minor in {s:?}"))
}

#[test]
fn dockerfile_builds_the_release_binary_and_runs_it_unprivileged() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "a multi-stage build");

    // The build stage: `cargo build --release`, nothing that changes features.
    let build = stages
        .iter()
        .find(|s| {
            s.lines
                .iter()
                .any(|(i, a)| i == "RUN" && a.contains("cargo build"))
        })
        .expect("a stage running cargo build");
    let cargo: Vec<&str> = build
        .lines
        .iter()
        .filter(|(i, a)| i == "RUN" && a.contains("cargo build"))
        .flat_map(|(_, a)| a.split_whitespace())
        .collect();
    assert!(
        cargo.contains(&"--release") && cargo.contains(&"--locked"),
        "{cargo:?}"
    );
    for flag in [
        "--features",
        "-F",
        "--all-features",
        "--no-default-features",
        "--profile",
        "--target",
    ] {
        assert!(
            !cargo
                .iter()
                .any(|w| w == &flag || w.starts_with(&format!("{flag}="))),
            "{flag} changes what `cargo build --release` builds"
        );
    }
    assert!(
        build.lines.iter().any(|(i, a)| i == "COPY"
            && (a.split_whitespace().next() == Some(".") || a.contains("Cargo.lock"))),
        "the build stage copies Cargo.lock (needed by --locked)"
    );

    // Its toolchain: at least the crate's rust-version, and the rustc this
    // project is tested with (or, if they differ, explicitly noted).
    let tag = build
        .image
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("build image {} is not rust:<version>", build.image));
    let image_version = major_minor(tag);
    let manifest = read(&repo().join("Cargo.toml"));
    let floor = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version"))
        .map(|v| major_minor(v.trim_start_matches([' ', '='])))
        .expect("rust-version in Cargo.toml");
    assert!(
        image_version >= floor,
        "rust:{tag} is older than the crate's rust-version {floor:?}"
    );
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .expect("rustc");
    let rustc = String::from_utf8_lossy(&rustc.stdout).to_string();
    let local = major_minor(rustc.trim_start_matches("rustc "));
    let dockerfile = read(&ops().join("Dockerfile"));
    let noted = format!("{}.{}", image_version.0, image_version.1);
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim_start().starts_with('#') && l.contains(&noted)),
        "a comment notes the toolchain {noted}"
    );
    assert!(
        image_version == local || dockerfile.contains("rust-version"),
        "rust:{tag} differs from this machine's {rustc} and no comment says why it suffices"
    );

    // The runtime: the same Debian release as the build (glibc), non-root,
    // holding the binary, the sample data and the runner script.
    let runtime = stages.last().unwrap();
    let codename = tag
        .split('-')
        .nth(1)
        .expect("rust:<version>-<debian codename>");
    assert_eq!(
        runtime.image,
        format!("debian:{codename}-slim"),
        "runtime image"
    );
    let user = runtime
        .lines
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, a)| a.split(':').next().unwrap().to_string())
        .expect("the runtime stage sets USER");
    assert!(user != "root" && user != "0", "runs as {user}");
    let copies: Vec<&str> = runtime
        .lines
        .iter()
        .filter(|(i, _)| i == "COPY")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(
        copies
            .iter()
            .any(|c| c.contains(&format!("--from={}", build.name))
                && c.contains("target/release/mable-pipeline")),
        "the binary comes from the build stage: {copies:?}"
    );
    for needed in ["testdata", "ops/runner.sh"] {
        assert!(copies.iter().any(|c| c.contains(needed)), "copies {needed}");
    }
    assert!(
        runtime
            .lines
            .iter()
            .any(|(i, a)| (i == "ENTRYPOINT" || i == "CMD") && a.contains("runner.sh")),
        "starts ops/runner.sh"
    );

    // The build context (repo root) keeps build output and history out, sources in.
    let ignored: Vec<String> = read(&repo().join(".dockerignore"))
        .lines()
        .map(|l| l.trim().trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for out in ["target", ".git"] {
        assert!(
            ignored.iter().any(|l| l == out),
            ".dockerignore lacks {out}"
        );
    }
    for keep in [
        "src",
        "Cargo.toml",
        "Cargo.lock",
        "testdata",
        "ops",
        "dataflows",
        "*",
    ] {
        assert!(
            !ignored.iter().any(|l| l == keep),
            ".dockerignore drops {keep}"
        );
    }
}

// ---------------------------------------------------------------------------
// 5. The runner script and the ClickHouse init script.
// ---------------------------------------------------------------------------

/// A stand-in for the binary: logs its arguments and whether it saw the password.
fn stub_binary(dir: &Path, fail_on_call: Option<u32>) -> (PathBuf, PathBuf) {
    let log = dir.join("calls.log");
    let stub = dir.join("stub.sh");
    let fail = fail_on_call.map_or(String::new(), |n| {
        format!("[ \"$(wc -l < '{}')\" -ge {n} ] && exit 3\n", log.display())
    });
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\necho \"pw=${{CLICKHOUSE_PASSWORD:+set}} $*\" >> '{}'\n{fail}exit 0\n",
            log.display()
        ),
    )
    .unwrap();
    let status = Command::new("chmod").arg("+x").arg(&stub).status().unwrap();
    assert!(status.success());
    (stub, log)
}

fn runner(stub: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg(ops().join("runner.sh"))
        .env("CLICKHOUSE_URL", "http://clickhouse:8123")
        .env("CLICKHOUSE_USER", "default")
        .env("CLICKHOUSE_PASSWORD", "s3cret-pw")
        .env("MABLE_BIN", stub)
        .env("MABLE_HOME", repo())
        .env_remove("MABLE_SIZE")
        .env_remove("MABLE_WORKERS")
        .env_remove("CLICKHOUSE_DB");
    c
}

#[test]
fn runner_runs_the_seed_dataflows_with_credentials_only_in_the_environment() {
    let script = read(&ops().join("runner.sh"));
    assert!(script.contains("set -euo pipefail"));
    let dir = tempfile::tempdir().unwrap();
    let (stub, log) = stub_binary(dir.path(), None);
    let out = runner(&stub).output().unwrap();
    assert!(out.status.success(), "runner.sh failed:\n{}", text(&out));
    let calls: Vec<String> = read(&log).lines().map(String::from).collect();
    let sink = "--clickhouse-url http://clickhouse:8123 --database mable";
    assert_eq!(
        calls,
        [
            format!("pw=set -w 2 testdata/mable_event.json {sink}"),
            format!("pw=set --dataflow int --size 1000000 -w 2 {sink}"),
            format!("pw=set --dataflow test_struct --size 1000000 -w 2 {sink}"),
            format!(
                "pw=set --dataflow mable_event --size 1000000 -w 2 testdata/mable_event.json {sink}"
            ),
        ]
    );
    assert!(repo().join("testdata/mable_event.json").is_file());
    assert!(
        !read(&log).contains("s3cret-pw"),
        "a password reached a command line"
    );

    // A failing run stops the runner with an error.
    let dir = tempfile::tempdir().unwrap();
    let (stub, log) = stub_binary(dir.path(), Some(2));
    let out = runner(&stub).output().unwrap();
    assert!(!out.status.success(), "runner.sh hid a failed run");
    assert_eq!(
        read(&log).lines().count(),
        2,
        "runner.sh went on after a failure"
    );

    // No URL, no runs.
    let out = runner(&stub).env_remove("CLICKHOUSE_URL").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CLICKHOUSE_URL"));
}

#[test]
fn init_script_creates_every_table_and_can_run_twice() {
    if Command::new("clickhouse-client")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("clickhouse-client is not installed: run `bash ops/test.sh`");
    }
    let ch = ClickHouseServer::start_with_password("init-pw");
    let schema = read(&ops().join("clickhouse/schema.sql"));
    let tables = schema.matches("CREATE TABLE IF NOT EXISTS {db}.").count();
    assert!(tables >= 6, "{tables} tables in schema.sql");
    for _ in 0..2 {
        let out = Command::new("bash")
            .arg(ops().join("clickhouse/init-schema.sh"))
            .env("MABLE_SCHEMA", ops().join("clickhouse/schema.sql"))
            .env("CLICKHOUSE_DB", "mable_init")
            .env("CLICKHOUSE_USER", "default")
            .env("CLICKHOUSE_PASSWORD", &ch.password)
            .env("CLICKHOUSE_HOST", "127.0.0.1")
            .env("CLICKHOUSE_PORT", ch.tcp_port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init-schema.sh failed:\n{}",
            text(&out)
        );
    }
    let found = ch.query_u64("SELECT count() FROM system.tables WHERE database = 'mable_init'");
    assert_eq!(found, tables as u64);

    // A database name that is not a plain identifier is refused before any SQL runs.
    let out = Command::new("bash")
        .arg(ops().join("clickhouse/init-schema.sh"))
        .env("MABLE_SCHEMA", ops().join("clickhouse/schema.sql"))
        .env("CLICKHOUSE_DB", "x; DROP DATABASE mable_init")
        .env("CLICKHOUSE_PORT", ch.tcp_port.to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        ch.query_u64("SELECT count() FROM system.tables WHERE database = 'mable_init'"),
        tables as u64
    );
}
