//! The deployment files of oxporter-zookeeper, checked with the real tools: the alert rules pass
//! `promtool test rules`, every dashboard query is valid PromQL, and the systemd unit passes `systemd-analyze`.
#![allow(clippy::expect_used)] // test helpers outside #[test] functions

mod common;

use std::process::Command;

use common::repo;
use oxporter_testkit::process::require_binary;

fn run(bin: &str, package: &str, args: &[&str]) -> String {
    let out = Command::new(require_binary(bin, package)).args(args).current_dir(repo()).output().expect("run tool");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{bin} {args:?}:\n{text}");
    text
}

#[test]
fn alert_rules_pass_their_unit_tests() {
    run("promtool", "prometheus", &["check", "rules", "deploy/prometheus/rules/zookeeper.yml"]);
    run("promtool", "prometheus", &["test", "rules", "deploy/prometheus/rules/tests/zookeeper_test.yml"]);
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let queries = common::dashboard_queries();
    assert!(queries.len() > 25, "{queries:?}");
    // promtool checks recording rules strictly: one rule per query (label_values() is Grafana's, its argument is
    // the PromQL).
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, q) in queries.iter().enumerate() {
        let q = q.replace("$__rate_interval", "5m");
        let q = match q.strip_prefix("label_values(") {
            Some(inner) => inner.rsplit_once(',').map_or(inner, |(sel, _)| sel).to_owned(),
            None => q,
        };
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {}\n",
            serde_json::to_string(&q).expect("quote")
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dashboard.yml");
    std::fs::write(&path, rules).expect("write rules");
    run("promtool", "prometheus", &["check", "rules", path.to_str().expect("utf-8 path")]);
}

#[test]
fn systemd_unit_is_valid_and_hardened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/oxporter-zookeeper.service")).expect("unit");
    // verify wants the binary to exist: point it at the one cargo built.
    let unit = unit.replace("/usr/bin/oxporter-zookeeper", env!("CARGO_BIN_EXE_oxporter-zookeeper"));
    let path = dir.path().join("oxporter-zookeeper.service");
    std::fs::write(&path, unit).expect("write unit");
    let path = path.to_str().expect("utf-8 path");
    run("systemd-analyze", "systemd", &["verify", path]);
    let security = run("systemd-analyze", "systemd", &["security", "--offline=true", "--threshold=20", path]);
    assert!(security.contains("OK") || security.contains("SAFE"), "{security}");
}
