//! Golden tests of the INFO → metrics mapping: captured INFO replies under tests/fixtures/ (`info-*.txt`, with
//! `cluster-info-*.txt` for the cluster node), expected exposition beside them (`*.prom`).
//! `UPDATE_GOLDEN=1` rewrites the expected files.

#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use oxporter_core::encode::{Format, encode};
use oxporter_redis::collectors::{Settings, render};

/// A fixed "now", so `redis_start_time_seconds` is stable.
const NOW: f64 = 1_700_000_000.0;

fn check(info: &str, cluster: Option<&str>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let text = std::fs::read_to_string(dir.join(info)).expect("fixture");
    let cluster = cluster.map(|c| std::fs::read_to_string(dir.join(c)).expect("cluster fixture"));
    let config: HashMap<String, String> =
        [("maxmemory", "0"), ("maxclients", "10000"), ("io-threads", "1"), ("databases", "16")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
    let settings = Settings { include_system_metrics: false, latency_histogram: true, empty_databases: true };
    let families = render(&text, cluster.as_deref(), &config, &settings, NOW).into_sorted();
    let got = encode(Format::Text004, &families);
    let expected_path = dir.join(info.replace(".txt", ".prom"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &got).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).expect("golden file (UPDATE_GOLDEN=1 creates it)");
    if got != expected {
        let first = got.lines().zip(expected.lines()).position(|(a, b)| a != b);
        panic!(
            "{} differs from {} (first differing line {first:?}); rerun with UPDATE_GOLDEN=1 if intended\n{got}",
            info,
            expected_path.display()
        );
    }
}

#[test]
fn standalone_7_0() {
    check("info-7.0-standalone.txt", None);
}

#[test]
fn replica_7_0() {
    check("info-7.0-replica.txt", None);
}

#[test]
fn cluster_node_7_0() {
    check("info-7.0-cluster.txt", Some("cluster-info-7.0.txt"));
}

#[test]
fn older_format_keydb_multi_master_synthetic() {
    check("info-5.0-synthetic-keydb-replica.txt", None);
}
