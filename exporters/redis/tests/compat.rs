//! Side by side with Debian's prometheus-redis-exporter (1.45) scraping the same Redis: the same metric names,
//! types and label names, except the intended differences in [`ALLOWED`] (mirrored in docs/compatibility.md under
//! "Redis exporter").

#![allow(clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Exporter, eventually, families, http_get, value};
use oxporter_testkit::ports::{free_port, wait_for_port};
use oxporter_testkit::process::{ChildGuard, require_binary};
use oxporter_testkit::redis::RedisServer;

/// Intended differences: (metric, what differs, why).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "redis_commands_latencies_usec",
        "only ours",
        "LATENCY HISTOGRAM per-command histograms, added in later redis_exporter releases",
    ),
    (
        "redis_exporter_key_check_truncated",
        "only ours",
        "says a key check was cut short by the deadline (only with key checks)",
    ),
    (
        "redis_exporter_build_info",
        "labels",
        "the oxporter build info label set (version, revision, branch, goversion=rustc, goos, goarch, tags)",
    ),
];

fn allowed(name: &str, what: &str) -> bool {
    ALLOWED.iter().any(|(n, w, _)| *n == name && *w == what)
}

struct GoExporter {
    port: u16,
    _child: ChildGuard,
}

impl GoExporter {
    fn start(args: &[&str]) -> GoExporter {
        let bin = require_binary("prometheus-redis-exporter", "prometheus-redis-exporter");
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("-web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = ChildGuard::spawn("prometheus-redis-exporter", &mut cmd);
        wait_for_port(port, Duration::from_secs(10), "prometheus-redis-exporter");
        GoExporter { port, _child: child }
    }

    fn get(&self, path: &str) -> String {
        http_get(self.port, path, &[]).1
    }
}

fn relevant(name: &str) -> bool {
    !(name.starts_with("go_") || name.starts_with("process_") || name.starts_with("promhttp_"))
}

fn compare(go: &str, ours: &str) -> Vec<String> {
    let (g, o) = (families(go), families(ours));
    let mut problems = Vec::new();
    let names: BTreeSet<&String> = g.keys().chain(o.keys()).filter(|n| relevant(n)).collect();
    for n in names {
        match (g.get(n), o.get(n)) {
            (Some(_), None) => problems.push(format!("missing in oxporter-redis: {n}")),
            (None, Some(_)) if !allowed(n, "only ours") => problems.push(format!("only in oxporter-redis: {n}")),
            (Some((gt, gl)), Some((ot, ol))) => {
                if gt != ot {
                    problems.push(format!("{n}: type {gt} (redis_exporter) vs {ot}"));
                }
                if gl != ol && !allowed(n, "labels") {
                    problems.push(format!("{n}: labels {gl:?} (redis_exporter) vs {ol:?}"));
                }
            }
            _ => {}
        }
    }
    problems
}

fn seed(redis: &RedisServer) {
    redis.cli(&["SET", "num", "42"]);
    redis.cli(&["SET", "str", "hello"]);
    redis.cli(&["-n", "1", "SET", "t", "1", "EX", "1000"]);
    redis.cli(&["-n", "2", "RPUSH", "list", "a", "b"]);
    redis.cli(&["XADD", "stream", "*", "f", "v"]);
    redis.cli(&["XGROUP", "CREATE", "stream", "g", "0"]);
    redis.cli(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "stream", ">"]);
    let _ = redis.try_cli(&["NOSUCHCOMMAND"]);
    redis.cli(&["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    redis.cli(&["DEBUG", "SLEEP", "0.01"]);
}

#[test]
fn same_families_as_redis_exporter() {
    let primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    seed(&primary);
    assert!(eventually(Duration::from_secs(15), || primary.cli(&["INFO", "replication"]).contains("state=online")));

    let keys = [
        "-check-keys=db0=n*,db0=s*",
        "-check-single-keys=db2=list,db0=missing",
        "-count-keys=db0=*",
        "-check-streams=db0=stream",
    ];
    for extra in [&[][..], &keys[..]] {
        let mut args = vec!["-redis.addr", primary.url().leak() as &str];
        args.extend(extra);
        let go = GoExporter::start(&args);
        let ours = Exporter::start(&args);
        // Scrape twice so both have seen the other's commands in commandstats; compare the second answers.
        let _ = (go.get("/metrics"), ours.get("/metrics"));
        let (go_body, our_body) = (go.get("/metrics"), ours.get("/metrics").1);
        let problems = compare(&go_body, &our_body);
        assert!(problems.is_empty(), "with {extra:?}:\n{}", problems.join("\n"));

        for (name, labels) in [
            ("redis_db_keys", vec![("db", "db0")]),
            ("redis_db_keys", vec![("db", "db1")]),
            ("redis_db_keys", vec![("db", "db7")]),
            ("redis_db_keys_expiring", vec![("db", "db1")]),
            ("redis_config_maxclients", vec![]),
            ("redis_config_maxmemory", vec![]),
            ("redis_connected_slaves", vec![]),
            ("redis_up", vec![]),
            ("redis_key_size", vec![("key", "str")]),
            ("redis_key_size", vec![("key", "list")]),
            ("redis_key_value", vec![("key", "num")]),
            ("redis_keys_count", vec![("key", "*")]),
            ("redis_stream_length", vec![("stream", "stream")]),
        ] {
            assert_eq!(value(&go_body, name, &labels), value(&our_body, name, &labels), "{name}{labels:?}");
        }

        // The multi-target endpoint, on the replica.
        let path = format!("/scrape?target=redis://127.0.0.1:{}", replica.port);
        // redis_exporter's key checks make errors (WRONGTYPE) that appear in the next scrape's errorstats: scrape
        // twice here too.
        let _ = (go.get(&path), ours.get(&path));
        let (go_body, our_body) = (go.get(&path), ours.get(&path).1);
        let problems = compare(&go_body, &our_body);
        assert!(problems.is_empty(), "/scrape on a replica with {extra:?}:\n{}", problems.join("\n"));
        assert_eq!(value(&our_body, "redis_master_link_up", &[]), value(&go_body, "redis_master_link_up", &[]));
    }
}

#[test]
fn same_answer_for_a_dead_target() {
    let go = GoExporter::start(&["-redis.addr=redis://127.0.0.1:1"]);
    let ours = Exporter::start(&["-redis.addr=redis://127.0.0.1:1"]);
    let (go_body, our_body) = (go.get("/metrics"), ours.get("/metrics").1);
    let names = |b: &str| -> BTreeMap<String, String> {
        families(b).into_iter().filter(|(n, _)| relevant(n)).map(|(n, (t, _))| (n, t)).collect()
    };
    let (g, o) = (names(&go_body), names(&our_body));
    assert_eq!(g.keys().collect::<Vec<_>>(), o.keys().collect::<Vec<_>>(), "{go_body}\n---\n{our_body}");
    assert_eq!(value(&our_body, "redis_up", &[]), Some(0.0));
}
