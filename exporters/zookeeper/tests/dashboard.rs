//! dashboards/zookeeper.json: every query is valid PromQL (checked by `promtool`). The alert rules and the systemd
//! unit are checked with every exporter's by the end-to-end suite (`tests/tests/deploy_{prometheus,systemd}.rs`);
//! that every dashboard query returns data through a real Prometheus is part of `tests/ensemble.rs`.
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
