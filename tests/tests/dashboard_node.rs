//! `dashboards/node.json`: imports into Grafana as usual (datasource input `DS_PROMETHEUS`, template variables from
//! `node_uname_info`), covers the areas issue 3 asks for, every query is valid PromQL (checked by `promtool`), every
//! metric it queries is one node_exporter exports (checked against Debian's `prometheus-node-exporter` running on this
//! machine), and every panel shows data: a real Prometheus scrapes oxporter-node and each query, with the template
//! variables filled in as Grafana fills them, returns series.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oxporter_testkit::exporter;
use oxporter_testkit::grafana::{Builtins, Dashboard, metric_names};
use oxporter_testkit::ports::{free_port, wait_for_port};
use oxporter_testkit::process::{ChildGuard, require_binary};
use oxporter_testkit::prometheus::{Prometheus, ScrapeJob};

const DS: &str = "${DS_PROMETHEUS}";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn dashboard() -> Dashboard {
    Dashboard::load(&repo().join("dashboards/node.json"))
}

/// Every (panel title, expression) of the dashboard.
fn queries(d: &Dashboard) -> Vec<(String, String)> {
    d.targets().into_iter().map(|t| (t.panel, t.expr)).collect()
}

/// Grafana's view for these tests: Prometheus scrapes every second, so a 15 s `$__rate_interval` holds plenty of
/// samples once a few scrapes are in.
fn builtins() -> Builtins {
    Builtins::new(Duration::from_secs(15))
}

#[test]
fn imports_with_a_datasource_input_and_node_uname_info_variables() {
    let dash = dashboard();
    let d = &dash.json;
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
    for p in dash.panels() {
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
    let rows: Vec<String> = d
        .panels()
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
    let vars = d.fixed_variables(&builtins(), &[("job", "node"), ("instance", "localhost:9100")]);
    for (i, (_, expr)) in queries(&d).iter().enumerate() {
        let quoted = serde_json::to_string(&vars.interpolate(expr).unwrap()).unwrap();
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

/// Panels that cannot show data on this machine: (panel title, reason). Each must really return nothing here (so
/// the list cannot go stale); every other panel must return data. Empty: this machine has everything the dashboard
/// shows.
const NO_DATA_HERE: &[(&str, &str)] = &[];

#[test]
fn every_panel_returns_data_from_a_real_prometheus() {
    // The default collectors: the dashboard needs no opt-in one.
    let node = exporter::node().start();
    let prom = Prometheus::start(&[ScrapeJob::new("node", [node.address()])]);
    prom.wait_for_targets_up("node", Duration::from_secs(30));
    // rate() needs two samples in its window; three scrapes leave a margin.
    prom.wait_for_query(r#"count_over_time(up{job="node"}[1m]) >= 3"#, Duration::from_secs(30));

    let d = dashboard();
    let vars = d.resolve_variables(&prom, &builtins());
    assert_eq!(vars.value("job"), Some("node"), "$job from node_uname_info");
    assert_eq!(vars.value("instance"), Some(node.address().as_str()), "$instance from node_uname_info");

    let mut failures = Vec::new();
    let mut quiet_panels = Vec::new();
    for t in d.targets() {
        let expr = vars.interpolate(&t.expr).unwrap();
        let has_data = prom.query_has_data(&expr);
        match NO_DATA_HERE.iter().find(|(panel, _)| *panel == t.panel) {
            Some(_) if has_data => failures.push(format!("{}: listed in NO_DATA_HERE but has data: {expr}", t.panel)),
            Some(_) => quiet_panels.push(t.panel.clone()),
            None if !has_data => failures.push(format!("{} ({}): no data: {expr}", t.panel, t.ref_id)),
            None => {}
        }
    }
    for (panel, _) in NO_DATA_HERE {
        assert!(quiet_panels.iter().any(|p| p == panel), "NO_DATA_HERE names {panel:?}, which has no such query");
    }
    assert!(failures.is_empty(), "panels without data:\n{}", failures.join("\n"));
}
