//! Every metric the dashboards query is exported: ours (dashboards/redis.json) and, with
//! `$OXPORTER_REFERENCE_DIR`, grafana.com 763 and the redis-mixin overview. Names are taken from every query and
//! checked against real scrapes of a primary, a replica and a cluster node. (That every query returns data
//! through a real Prometheus is `dashboards_prometheus.rs`.)

#![allow(clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Exporter, samples};
use oxporter_testkit::redis::{RedisCluster, RedisServer};

/// Names a dashboard queries that no redis_exporter version exports, so no query can return data for them.
const QUIRKS: &[(&str, &str)] = &[(
    "redis_memory_fragmentation_ratio",
    "the redis-mixin overview queries it; redis_exporter (and we) export redis_mem_fragmentation_ratio",
)];

fn queried_names(dashboard: &Path) -> BTreeSet<String> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard).expect("dashboard file")).expect("dashboard JSON");
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "query" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&json, &mut exprs);
    assert!(!exprs.is_empty(), "{} has no queries", dashboard.display());
    let mut names = BTreeSet::new();
    for e in exprs {
        let bytes = e.as_bytes();
        let mut i = 0;
        while let Some(pos) = e[i..].find("redis_") {
            let start = i + pos;
            let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
            let end =
                e[start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(e.len(), |n| start + n);
            if boundary {
                names.insert(e[start..end].to_owned());
            }
            i = end;
        }
    }
    names
}

#[test]
fn dashboards_query_only_exported_metrics() {
    let primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    primary.cli(&["SET", "k", "v"]);
    primary.cli(&["-n", "1", "SET", "e", "v", "EX", "100"]);
    // Errorstats lines only exist once an error happened.
    let _ = primary.try_cli(&["NOSUCHCOMMAND"]);
    let cluster = RedisCluster::start();
    let exp = Exporter::start(&["--redis.addr", &primary.url()]);
    let mut exported = BTreeSet::new();
    for path in [
        "/metrics".to_owned(),
        format!("/scrape?target={}", replica.url()),
        format!("/scrape?target={}", cluster.nodes[0].url()),
    ] {
        let (_, body) = exp.get(&path);
        exported.extend(samples(&body).into_iter().map(|s| s.name));
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dashboards = vec![root.join("dashboards/redis.json")];
    if let Some(dir) = oxporter_testkit::reference_dir("dashboards_query_only_exported_metrics (reference dashboards)")
    {
        dashboards.push(dir.join("dashboards/redis-763.json"));
        dashboards.push(dir.join("dashboards/redis-mixin-overview.json"));
    }
    let mut missing = Vec::new();
    for d in &dashboards {
        for name in queried_names(d) {
            if !exported.contains(&name) && !QUIRKS.iter().any(|(q, _)| *q == name) {
                missing.push(format!("{}: {name}", d.file_name().and_then(|f| f.to_str()).unwrap_or_default()));
            }
        }
    }
    assert!(missing.is_empty(), "queried but not exported:\n{}", missing.join("\n"));
}
