//! Golden tests: replies captured from the real servers the other tests start (tests/fixtures/), turned into
//! exposition text and compared with the `.prom` file beside them (`UPDATE_GOLDEN=1` rewrites those); and the
//! reference replies of ZooKeeper 3.8.0 in `$OXPORTER_REFERENCE_DIR/zookeeper/`, checked by property (they are
//! never copied into the repository).
#![allow(clippy::expect_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use oxporter_core::encode::{Format, encode};
use oxporter_core::model::{MetricFamily, Value};
use oxporter_core::{MetricType, Snapshot};
use oxporter_zookeeper::output::{ServerResult, Source, write_ensemble, write_servers};
use oxporter_zookeeper::parse::{Reply, parse_admin_monitor, parse_admin_monitor_response, parse_mntr};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn result(addr: &str, reply: Reply, source: Source, server_id: Option<u64>) -> ServerResult {
    ServerResult { addr: addr.to_owned(), ruok: true, reply: Some(reply), source: Some(source), server_id }
}

fn families(results: &[ServerResult]) -> Vec<MetricFamily> {
    let mut snap = Snapshot::new();
    write_servers(&mut snap, results);
    write_ensemble(&mut snap, results);
    snap.into_sorted()
}

fn check_golden(name: &str, families: &[MetricFamily]) {
    let actual = encode(Format::Text004, families);
    let path = fixtures().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).expect("writing golden file");
        return;
    }
    let expected = read(&path);
    if actual != expected {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .filter(|(e, a)| e != a)
            .take(5)
            .map(|(e, a)| format!("-{e}\n+{a}"))
            .collect();
        panic!("{name} differs (UPDATE_GOLDEN=1 rewrites it):\n{}", diff.join("\n"));
    }
}

fn mntr(path: &Path) -> Reply {
    parse_mntr(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn standalone_mntr() {
    let reply = mntr(&fixtures().join("standalone_mntr.txt"));
    check_golden("standalone_mntr.prom", &families(&[result("zk1:2181", reply, Source::Mntr, Some(0))]));
}

#[test]
fn standalone_admin_monitor() {
    let text = read(&fixtures().join("standalone_admin_monitor.json"));
    let reply = parse_admin_monitor(&text).expect("monitor JSON");
    check_golden("standalone_admin_monitor.prom", &families(&[result("zk1:2181", reply, Source::Admin, Some(0))]));
}

#[test]
fn ensemble_leader_follower_and_lost_server() {
    let f = fixtures();
    let results = [
        result("zk1:2181", mntr(&f.join("ensemble_leader_mntr.txt")), Source::Mntr, Some(1)),
        result("zk2:2181", mntr(&f.join("ensemble_follower_mntr.txt")), Source::Mntr, None),
        result("zk3:2181", mntr(&f.join("ensemble_no_quorum_mntr.txt")), Source::Mntr, None),
        ServerResult { addr: "zk4:2181".into(), ruok: false, reply: None, source: None, server_id: None },
    ];
    assert_eq!(results[2].reply, Some(Reply::NotServing));
    check_golden("ensemble.prom", &families(&results));
}

#[test]
fn admin_server_without_quorum_is_up_but_not_serving() {
    let body = read(&fixtures().join("ensemble_no_quorum_admin_monitor.html"));
    assert_eq!(parse_admin_monitor_response(500, &body), Ok(Reply::NotServing));
}

/// Checks what every reference reply must give: parsed stats, typed families with HELP, every numeric line present
/// with its value, namespaces and learners as labels.
fn check_reference_stats(name: &str, reply: Reply, numeric_lines: &[(String, f64)]) -> Vec<MetricFamily> {
    let Reply::Stats(stats) = &reply else { panic!("{name}: expected statistics, got {reply:?}") };
    assert_eq!(stats.version.as_deref().map(|v| v.starts_with("3.8.0-${mvngit.commit.id}")), Some(true), "{name}");
    let fams = families(&[result("zk1:2181", reply.clone(), Source::Mntr, None)]);
    for f in &fams {
        assert_ne!(f.metric_type, MetricType::Untyped, "{name}: {} has no known type", f.name);
        assert!(!f.help.is_empty(), "{name}: {} has no HELP", f.name);
        assert!(!f.name.contains("anchors") && !f.name.contains("_1_") && !f.name.contains("_2_"), "{}", f.name);
    }
    let values: Vec<f64> = fams
        .iter()
        .flat_map(|f| f.samples.iter())
        .filter_map(|s| match s.value {
            Value::Scalar(v) => Some(v),
            _ => None,
        })
        .collect();
    for (key, v) in numeric_lines {
        assert!(values.contains(v), "{name}: value {v} of {key} is missing");
    }
    fams
}

fn numeric_mntr_lines(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(k, v)| v.parse::<f64>().ok().map(|v| (k.to_owned(), v)))
        .collect()
}

#[test]
fn reference_replies() {
    let Some(dir) = oxporter_testkit::reference_dir("reference_replies") else { return };
    let zk = dir.join("zookeeper");

    let standalone = read(&zk.join("mntr.txt"));
    let fams =
        check_reference_stats("mntr.txt", parse_mntr(&standalone).expect("mntr"), &numeric_mntr_lines(&standalone));
    assert!(fams.iter().any(|f| f.name == "zk_avg_read_per_namespace"
        && f.samples.iter().any(|s| s.labels.iter().any(|(k, v)| k == "namespace" && v == "anchors"))));

    let leader = read(&zk.join("ensemble/leader_mntr.txt"));
    let leader_fams =
        check_reference_stats("leader_mntr", parse_mntr(&leader).expect("mntr"), &numeric_mntr_lines(&leader));
    assert!(leader_fams.iter().any(|f| f.name == "zk_p99_learner_handler_qp_time_ms"
        && f.samples.iter().any(|s| s.labels.iter().any(|(k, v)| k == "learner" && v == "2"))));
    for leader_only in ["zk_learners", "zk_synced_followers", "zk_pending_syncs", "zk_last_proposal_size"] {
        assert!(leader_fams.iter().any(|f| f.name == leader_only), "{leader_only}");
    }

    let follower = read(&zk.join("ensemble/follower_mntr.txt"));
    check_reference_stats("follower_mntr", parse_mntr(&follower).expect("mntr"), &numeric_mntr_lines(&follower));

    // The AdminServer's JSON gives the same families as mntr of the same server.
    let admin = read(&zk.join("ensemble/leader_admin_monitor.json"));
    let admin_fams = check_reference_stats("leader_admin_monitor", parse_admin_monitor(&admin).expect("json"), &[]);
    let names = |f: &[MetricFamily]| f.iter().map(|f| (f.name.to_string(), f.metric_type)).collect::<Vec<_>>();
    assert_eq!(names(&admin_fams), names(&leader_fams));

    // A leader without quorum: imok, but mntr (and srvr, stat) say it is not serving.
    let lost = read(&zk.join("ensemble/leader_without_quorum.txt"));
    let mntr_part = lost.split("== n3 mntr (no quorum)\n").nth(1).and_then(|r| r.split("\n==").next()).expect("mntr");
    assert_eq!(parse_mntr(mntr_part), Ok(Reply::NotServing));
}
