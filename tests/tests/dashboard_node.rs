//! `dashboards/node.json`: imports into Grafana as usual (datasource input `DS_PROMETHEUS`, template variables from
//! `node_uname_info`), covers the areas issue 3 asks for, every query is valid PromQL (checked by `promtool`), and
//! every metric it queries is one node_exporter exports (checked against Debian's `prometheus-node-exporter` running
//! on this machine).
//!
//! Still to come: the end-to-end test that runs every panel query through a real Prometheus scraping oxporter-node
//! and asserts data, once the testkit's `prometheus` module is on main.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oxporter_testkit::ports::{free_port, wait_for_port};
use oxporter_testkit::process::{ChildGuard, require_binary};
use serde_json::Value;

const DS: &str = "${DS_PROMETHEUS}";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn dashboard() -> Value {
    let text = fs::read_to_string(repo().join("dashboards/node.json")).unwrap();
    serde_json::from_str(&text).expect("dashboards/node.json is JSON")
}

/// Panels, including those nested in collapsed rows.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// Every (panel title, expression) of the dashboard.
fn queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            out.push((title, t["expr"].as_str().expect("target without expr").to_owned()));
        }
    }
    out
}

/// The expression as Grafana sends it, with template variables filled in.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m").replace("$job", "node").replace("$instance", "localhost:9100")
}

/// Metric names an expression reads (`node_*` and the series Prometheus itself adds).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':') {
                i += 1;
            }
            let word = &expr[start..i];
            // Words inside label matchers and strings are not metric names; those are followed by `=`, `!` or `"`.
            let next = expr[i..].trim_start().chars().next();
            let is_label = matches!(next, Some('=' | '!' | '~'));
            let in_string = expr[..start].matches('"').count() % 2 == 1;
            if !is_label && !in_string && (word.starts_with("node_") || word == "up" || word.starts_with("scrape_")) {
                names.insert(word.to_owned());
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn imports_with_a_datasource_input_and_node_uname_info_variables() {
    let d = dashboard();
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["type"] == "datasource" && i["pluginId"] == "prometheus"),
        "__inputs lacks the DS_PROMETHEUS datasource input: {inputs:?}"
    );
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()), "no uid");
    assert!(d["title"].as_str().is_some_and(|u| !u.is_empty()), "no title");

    let vars = d["templating"]["list"].as_array().expect("templating.list");
    for (name, query) in [
        ("job", "label_values(node_uname_info, job)"),
        ("instance", "label_values(node_uname_info{job=\"$job\"}, instance)"),
    ] {
        let v = vars.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no ${name} variable"));
        assert_eq!(v["query"]["query"], query, "${name}");
        assert_eq!(v["datasource"]["uid"], DS, "${name}");
    }

    let mut ids = BTreeSet::new();
    for p in panels(&d) {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate panel id in {title}");
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
        assert!(x + w <= 24, "{title} is wider than the dashboard");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], DS, "{title}: panel datasource");
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], DS, "{title}: query datasource");
            let expr = t["expr"].as_str().unwrap_or_default();
            assert!(expr.contains("job=\"$job\"") && expr.contains("instance=\"$instance\""), "{title}: {expr}");
        }
    }
}

#[test]
fn covers_every_area_of_a_host() {
    let d = dashboard();
    let rows: Vec<String> = panels(&d)
        .into_iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap_or_default().to_lowercase())
        .collect();
    for area in ["cpu", "load", "memory", "disk i/o", "file systems", "network", "pressure", "collector"] {
        assert!(rows.iter().any(|r| r.contains(area)), "no row for {area}: {rows:?}");
    }
}

#[test]
fn every_query_is_valid_promql() {
    let d = dashboard();
    let tmp = tempfile::tempdir().unwrap();
    // promtool parses rule files strictly; a recording rule per query checks each expression's syntax.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries(&d).iter().enumerate() {
        let quoted = serde_json::to_string(&substitute(expr)).unwrap();
        rules.push_str(&format!("      - record: dashboard:query_{i}\n        expr: {quoted}\n"));
    }
    let path = tmp.path().join("dashboard.yml");
    fs::write(&path, &rules).unwrap();
    let out =
        Command::new(require_binary("promtool", "prometheus")).args(["check", "rules"]).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_metric_is_one_node_exporter_exports() {
    let d = dashboard();
    let binary = require_binary("prometheus-node-exporter", "prometheus-node-exporter");
    let curl = require_binary("curl", "curl");
    let port = free_port();
    let _exporter = ChildGuard::spawn(
        "prometheus-node-exporter",
        Command::new(binary).arg(format!("--web.listen-address=127.0.0.1:{port}")).stderr(std::process::Stdio::null()),
    );
    wait_for_port(port, Duration::from_secs(20), "prometheus-node-exporter");
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let out = Command::new(&curl)
            .args(["-sf", "--max-time", "10", &format!("http://127.0.0.1:{port}/metrics")])
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        assert!(Instant::now() < deadline, "no /metrics from prometheus-node-exporter");
        std::thread::sleep(Duration::from_millis(200));
    };
    let exported: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let mut missing = Vec::new();
    for (title, expr) in queries(&d) {
        for name in metric_names(&expr) {
            // `up` and `scrape_*` are made by Prometheus itself.
            if name != "up" && !name.starts_with("scrape_") && !exported.contains(name.as_str()) {
                missing.push(format!("{title}: {name}"));
            }
        }
    }
    assert!(missing.is_empty(), "metrics node_exporter does not export here:\n{}", missing.join("\n"));
}

#[test]
fn metric_names_are_found_in_expressions() {
    let names = metric_names(r#"sum by (mode) (rate(node_cpu_seconds_total{job="$job", mode!="idle"}[1m])) / up"#);
    assert_eq!(names, BTreeSet::from(["node_cpu_seconds_total".to_owned(), "up".to_owned()]));
}
