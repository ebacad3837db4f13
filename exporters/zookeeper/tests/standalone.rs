//! A real standalone ZooKeeper 3.8 (Debian's package), started on free loopback ports.
#![allow(clippy::expect_used)] // test helpers outside #[test] functions

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{capture, http_get, must, scrape, split_url, text, value};
use oxporter_core::MetricType;
use oxporter_testkit::ports::{free_port, wait_for_port};
use oxporter_testkit::process::ChildGuard;
use oxporter_testkit::zookeeper::{ZkEnsemble, ZkOptions};

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn standalone_with_four_letter_words() {
    let zk = ZkEnsemble::standalone(ZkOptions::default());
    zk.create_znode(0, "/anchors", "hello");
    zk.create_znode(0, "/anchors/child", "world");
    let addr = zk.servers[0].addr();
    let host = [("zk_host", addr.as_str())];
    let fams = scrape(&["--zk.hosts", &addr], None, TIMEOUT);

    assert_eq!(must(&fams, "zk_up", &host), 1.0);
    assert_eq!(must(&fams, "zk_ruok", &host), 1.0);
    assert_eq!(must(&fams, "zk_serving", &host), 1.0);
    assert_eq!(must(&fams, "zk_stats_source", &[("zk_host", &addr), ("source", "mntr")]), 1.0);
    assert_eq!(must(&fams, "zk_server_state", &[("zk_host", &addr), ("state", "standalone")]), 1.0);
    assert_eq!(must(&fams, "zk_server_state", &[("zk_host", &addr), ("state", "leader")]), 0.0);
    assert_eq!(must(&fams, "zk_server_leader", &host), 0.0);
    // Debian's build reports an unexpanded version string; it is kept whole as a label.
    let full = "3.8.0-${mvngit.commit.id}";
    let version = fams.iter().find(|f| f.name == "zk_version").expect("zk_version");
    let labels = &version.samples[0].labels;
    assert!(labels.iter().any(|(k, v)| k == "version" && v == "3.8.0"), "{labels:?}");
    assert!(labels.iter().any(|(k, v)| k == "full_version" && v.starts_with(full)), "{labels:?}");
    assert!(must(&fams, "zk_znode_count", &host) >= 6.0);
    assert!(must(&fams, "zk_cnt_write_per_namespace", &[("zk_host", &addr), ("namespace", "anchors")]) >= 2.0);
    assert!(!fams.iter().any(|f| f.name.contains("anchors")), "namespaces must be labels, not names");
    assert_eq!(must(&fams, "zk_ensemble_servers_configured", &[]), 1.0);
    assert_eq!(must(&fams, "zk_ensemble_leaders", &[]), 1.0);
    assert_eq!(must(&fams, "zk_ensemble_has_quorum", &[]), 1.0);
    assert_eq!(must(&fams, "zk_ensemble_quorum_size", &[]), 1.0);
    assert_eq!(must(&fams, "zk_ensemble_leader_id", &[]), 0.0);
    assert_eq!(must(&fams, "zk_scrape_collector_success", &[("collector", "mntr")]), 1.0);

    // Every key this ZooKeeper prints has a type and a HELP of its own.
    let untyped: Vec<&str> =
        fams.iter().filter(|f| f.metric_type == MetricType::Untyped).map(|f| f.name.as_ref()).collect();
    assert!(untyped.is_empty(), "keys without a known type: {untyped:?}");
    let types = |name: &str| fams.iter().find(|f| f.name == name).map(|f| f.metric_type);
    assert_eq!(types("zk_packets_received"), Some(MetricType::Counter));
    assert_eq!(types("zk_avg_latency"), Some(MetricType::Gauge));
    assert_eq!(types("zk_cnt_fsynctime"), Some(MetricType::Counter));
    assert_eq!(types("zk_p99_readlatency"), Some(MetricType::Gauge));

    // Capture what this server says, for the golden tests.
    let mntr = zk.four_letter_word(0, "mntr").expect("mntr");
    capture("standalone_mntr.txt", &mntr);
    let (port, path) = split_url(&zk.servers[0].admin_url());
    let (status, monitor) = http_get(port, &format!("{path}/monitor"));
    assert_eq!(status, 200);
    capture("standalone_admin_monitor.json", &monitor);

    // The exporter never changes server statistics: packets keep growing across scrapes (srst would reset them).
    let before = must(&fams, "zk_packets_received", &host);
    let fams = scrape(&["--zk.hosts", &addr], None, TIMEOUT);
    assert!(must(&fams, "zk_packets_received", &host) >= before);

    unreachable_and_hung_servers_are_down_within_the_deadline(&addr);
    binary_serves_metrics_and_probes(&addr);
}

fn unreachable_and_hung_servers_are_down_within_the_deadline(real: &str) {
    // A port nobody listens on, and one that accepts but never answers.
    let closed = format!("127.0.0.1:{}", free_port());
    let hung_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hung = format!("127.0.0.1:{}", hung_listener.local_addr().expect("addr").port());
    let hosts = format!("{real},{closed},{hung}");
    let start = Instant::now();
    let fams =
        scrape(&["--zk.hosts", &hosts, "--zk.admin-port", &free_port().to_string()], None, Duration::from_secs(1));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(2), "scrape took {took:?} with a 1s deadline");
    assert_eq!(must(&fams, "zk_up", &[("zk_host", real)]), 1.0);
    assert_eq!(must(&fams, "zk_up", &[("zk_host", &closed)]), 0.0);
    assert_eq!(must(&fams, "zk_up", &[("zk_host", &hung)]), 0.0);
    assert_eq!(must(&fams, "zk_ruok", &[("zk_host", &hung)]), 0.0);
    assert_eq!(value(&fams, "zk_serving", &[("zk_host", &hung)]), None);
    assert_eq!(must(&fams, "zk_ensemble_servers_configured", &[]), 3.0);
    assert_eq!(must(&fams, "zk_ensemble_servers_up", &[]), 1.0);
    assert_eq!(must(&fams, "zk_scrape_collector_success", &[("collector", "mntr")]), 1.0, "{}", text(&fams));
    drop(hung_listener);
}

fn binary_serves_metrics_and_probes(real: &str) {
    let port = free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_oxporter-zookeeper"));
    cmd.args(["--web.listen-address", &format!("127.0.0.1:{port}"), "--zk.hosts", real, "--log.level", "warn"]);
    let _exporter = ChildGuard::spawn("oxporter-zookeeper", &mut cmd);
    wait_for_port(port, Duration::from_secs(10), "oxporter-zookeeper");

    let (status, body) = http_get(port, "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains(&format!("zk_up{{zk_host=\"{real}\"}} 1")), "{body}");
    assert!(body.contains("# TYPE zk_packets_received counter"), "{body}");
    assert!(body.contains("zk_exporter_build_info{"), "{body}");

    let other = format!("127.0.0.1:{}", free_port());
    let (status, body) = http_get(port, &format!("/probe?target={other}"));
    assert_eq!(status, 200);
    assert!(body.contains(&format!("zk_up{{zk_host=\"{other}\"}} 0")), "{body}");
    assert!(!body.contains(&format!("zk_host=\"{real}\"")), "a probe shows only its target: {body}");

    let (status, body) = http_get(port, &format!("/probe?target={real},{other}"));
    assert_eq!(status, 200);
    assert!(body.contains("zk_ensemble_servers_configured 2"), "{body}");
    assert!(body.contains("zk_ensemble_servers_up 1"), "{body}");

    let (status, _) = http_get(port, "/probe?target=not%20a%20host");
    assert_eq!(status, 400);
    let (status, _) = http_get(port, "/probe");
    assert_eq!(status, 400);
}

#[test]
fn admin_server_fallback_when_words_are_not_whitelisted() {
    let zk = ZkEnsemble::standalone(ZkOptions { four_letter_words: false, ..ZkOptions::default() });
    let s = &zk.servers[0];
    assert!(zk.four_letter_word(0, "mntr").expect("mntr").contains("not in the whitelist"));
    let addr = s.addr();
    let host = [("zk_host", addr.as_str())];

    // Through the default admin port rule (same host, --zk.admin-port) …
    let fams = scrape(&["--zk.hosts", &addr, "--zk.admin-port", &s.admin_port.to_string()], None, TIMEOUT);
    assert_eq!(must(&fams, "zk_up", &host), 1.0);
    assert_eq!(must(&fams, "zk_serving", &host), 1.0);
    assert_eq!(must(&fams, "zk_ruok", &host), 1.0, "ruok is asked of the AdminServer too");
    assert_eq!(must(&fams, "zk_stats_source", &[("zk_host", &addr), ("source", "admin")]), 1.0);
    assert_eq!(must(&fams, "zk_server_state", &[("zk_host", &addr), ("state", "standalone")]), 1.0);
    assert!(must(&fams, "zk_znode_count", &host) >= 2.0);
    assert_eq!(must(&fams, "zk_ensemble_leader_id", &[]), 0.0, "id from the AdminServer's configuration");

    // … and through --zk.admin-url.
    let fams = scrape(&["--zk.hosts", &addr, "--zk.admin-url", &format!("{}/monitor", s.admin_url())], None, TIMEOUT);
    assert_eq!(must(&fams, "zk_up", &host), 1.0);
    assert_eq!(must(&fams, "zk_stats_source", &[("zk_host", &addr), ("source", "admin")]), 1.0);

    // With no AdminServer where we look, the server is reported down, as the mntr exporter does.
    let fams = scrape(&["--zk.hosts", &addr, "--zk.admin-port", &free_port().to_string()], None, TIMEOUT);
    assert_eq!(must(&fams, "zk_up", &host), 0.0);
    assert_eq!(must(&fams, "zk_ruok", &host), 0.0);
}
