//! Every query of the Redis dashboards returns data through a real Prometheus: ours (dashboards/redis.json) and,
//! with `$OXPORTER_REFERENCE_DIR`, grafana.com 763 and the redis-mixin overview.
//!
//! Real servers: a primary with keys in four databases (some expiring), slow log entries, a failed command and a
//! maxmemory; a replica of it; a 3-primary cluster; and an address where nothing listens. oxporter-redis serves the
//! primary on `/metrics` and every server on `/scrape?target=` with the relabeling redis_exporter documents, a thread
//! sends commands all along (so rates are not zero), and Prometheus scrapes both every second.
//!
//! The template variables are resolved as Grafana does: each query variable from Prometheus's label values of its
//! `label_values(...)` query (with the variables before it already substituted), multi-value and "All" selections as
//! a regex alternation of the escaped values, `$__interval`/`$__rate_interval` as Grafana computes them for a 15 s
//! data source scrape interval. Three selections are checked: every instance; only the primary through `/metrics`;
//! only the primary through `/scrape`. Queries that cannot have data are listed below with the reason, and the test
//! checks they really have none, so the lists cannot go stale.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Exporter;
use oxporter_testkit::prometheus::{Prometheus, ScrapeJob};
use oxporter_testkit::redis::{RedisCluster, RedisServer};
use serde_json::Value;

/// Queries (dashboard file, a fragment of the query) that have no data with any redis_exporter, and why.
const NEVER: &[(&str, &str, &str)] = &[(
    "redis-mixin-overview.json",
    "redis_memory_fragmentation_ratio",
    "the mixin queries a name no redis_exporter version exports (the metric is redis_mem_fragmentation_ratio)",
)];

/// Metrics that only some kinds of server have: a query naming one of them has no data when only the primary is
/// selected.
const NOT_ON_A_PRIMARY: &[(&str, &str)] = &[
    ("redis_master_last_io_seconds_ago", "replicas only"),
    ("redis_master_link_up", "replicas only"),
    ("redis_cluster_", "cluster nodes only"),
    ("redis_exporter_last_scrape_error{instance=~\"$instance\"} == 1", "only while a scrape fails"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A dashboard's file name and JSON.
struct Dashboard {
    file: String,
    json: Value,
}

impl Dashboard {
    fn load(path: &Path) -> Dashboard {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Dashboard {
            file: path.file_name().unwrap().to_string_lossy().into_owned(),
            json: serde_json::from_str(&text).expect("dashboard JSON"),
        }
    }

    /// Every panel query (`targets[].expr`), nested rows included.
    fn exprs(&self) -> Vec<String> {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(targets) = m.get("targets").and_then(Value::as_array) {
                        out.extend(targets.iter().filter_map(|t| t["expr"].as_str()).map(str::to_owned));
                    }
                    m.iter().filter(|(k, _)| *k != "targets" && *k != "templating").for_each(|(_, v)| walk(v, out));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.json, &mut out);
        assert!(out.len() > 10, "{}: only {} queries found", self.file, out.len());
        out
    }
}

/// Grafana's escaping of a single-value variable in a Prometheus query.
fn regular_escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\'', "\\\\'")
}

/// Grafana's escaping of each value of a multi-value (or "All") variable: regex metacharacters escaped, with the
/// backslash itself escaped for the PromQL string.
fn regex_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\\\\\"),
            '$' | '^' | '*' | '{' | '}' | '[' | ']' | '\'' | '+' | '?' | '.' | '(' | ')' | '|' => {
                out.push_str("\\\\");
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Replaces `$name`, `${name}` and `[[name]]` for every variable in `vars` (longest names first, so `$instance`
/// never eats `$instance_x`), and Grafana's built-in intervals.
fn substitute(expr: &str, vars: &[(String, String)]) -> String {
    let mut out = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h");
    let mut sorted: Vec<&(String, String)> = vars.iter().collect();
    sorted.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (k, v) in sorted {
        out = out.replace(&format!("${{{k}}}"), v).replace(&format!("[[{k}]]"), v).replace(&format!("${k}"), v);
    }
    assert!(!out.contains('$'), "unresolved variable in {out:?} (from {expr:?})");
    out
}

/// Chooses the selection of variable `name` from its options; `None` selects them all.
type Pick<'a> = dyn Fn(&str, &[String]) -> Option<Vec<String>> + 'a;

/// The template variables of `dash` as Grafana sets them, with `pick` choosing the selection of a variable from its
/// options (`None`: every option, as "All" or selecting each one).
fn resolve(prom: &Prometheus, dash: &Dashboard, pick: &Pick) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for v in dash.json["templating"]["list"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().expect("variable name").to_owned();
        match v["type"].as_str() {
            Some("datasource") => continue,
            Some("query") => {}
            other => panic!("{}: variable {name} of type {other:?} is not handled by this test", dash.file),
        }
        assert!(v["regex"].as_str().unwrap_or_default().is_empty(), "{}: regex of {name} not handled", dash.file);
        let query = v["query"].as_str().or_else(|| v["query"]["query"].as_str()).expect("variable query");
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{}: variable {name}: only label_values() is handled: {query}", dash.file));
        let (selector, label) = match inner.rsplit_once(',') {
            Some((s, l)) => (Some(substitute(s.trim(), &vars)), l.trim()),
            None => (None, inner.trim()),
        };
        let path = match &selector {
            Some(s) => format!("/api/v1/label/{label}/values?match[]={}", oxporter_testkit::http::url_encode(s)),
            None => format!("/api/v1/label/{label}/values"),
        };
        let options: Vec<String> =
            prom.api(&path).as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect();
        let multi = v["multi"].as_bool().unwrap_or(false) || v["includeAll"].as_bool().unwrap_or(false);
        let chosen = pick(&name, &options);
        let value = if multi {
            let chosen = chosen.unwrap_or_else(|| options.clone());
            let escaped: Vec<String> = chosen.iter().map(|o| regex_escape(o)).collect();
            if escaped.len() == 1 { escaped[0].clone() } else { format!("({})", escaped.join("|")) }
        } else {
            // A single-value variable shows its first option (no option: empty, which matches a missing label).
            let first = chosen.or_else(|| options.first().map(|o| vec![o.clone()])).unwrap_or_default();
            first.first().map(|o| regular_escape(o)).unwrap_or_default()
        };
        vars.push((name, value));
    }
    vars
}

/// Sends commands to `port` until `stop` is set: hits, misses, writes, an expiring key, so every rate moves.
fn traffic(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect for traffic");
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let cmds = format!(
                "SET traffic:{n} v\r\nGET traffic:{n}\r\nGET missing:{i}\r\nSET ttl:{i} v EX 1\r\nINCR counter\r\n",
                n = i % 50
            );
            if conn.write_all(cmds.as_bytes()).is_err() {
                return;
            }
            // Five replies; each fits in one read on loopback, but read until all five lines are in.
            let mut lines = 0;
            while lines < 5 {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => lines += buf[..n].iter().filter(|b| **b == b'\n').count(),
                }
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

fn has_data(prom: &Prometheus, q: &str) -> bool {
    prom.query_has_data(q)
}

#[test]
fn every_dashboard_query_returns_data_through_prometheus() {
    let mut dashboards = vec![Dashboard::load(&repo().join("dashboards/redis.json"))];
    if let Some(dir) =
        oxporter_testkit::reference_dir("every_dashboard_query_returns_data_through_prometheus (763, mixin)")
    {
        dashboards.push(Dashboard::load(&dir.join("dashboards/redis-763.json")));
        dashboards.push(Dashboard::load(&dir.join("dashboards/redis-mixin-overview.json")));
    }

    let primary = RedisServer::start_with(&["--maxmemory", "100mb", "--slowlog-log-slower-than", "0"]);
    let replica = RedisServer::replica_of(&primary);
    for db in 0..4 {
        let db = db.to_string();
        for k in 0..20 {
            primary.cli(&["-n", &db, "SET", &format!("key:{k}"), "value"]);
        }
        primary.cli(&["-n", &db, "SET", "expiring", "v", "EX", "3600"]);
    }
    // Errorstats lines only exist once an error happened.
    let _ = primary.try_cli(&["NOSUCHCOMMAND"]);
    let cluster = RedisCluster::start();
    let nobody = format!("redis://127.0.0.1:{}", oxporter_testkit::ports::free_port());

    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(primary.port, stop.clone());
    let exporter = Exporter::start(&["--redis.addr", &primary.url(), "--log.level", "error"]);
    let address = format!("127.0.0.1:{}", exporter.port);
    let probed = [primary.url(), replica.url(), cluster.nodes[0].url(), nobody.clone()];
    let prom = Prometheus::start(&[
        ScrapeJob::new("redis_exporter", [address.clone()]),
        ScrapeJob::probe("redis", &address, "/scrape", probed.iter().cloned()),
    ]);
    prom.wait_for_targets_up("redis_exporter", Duration::from_secs(30));
    prom.wait_for_targets_up("redis", Duration::from_secs(30));
    // The replica has caught up and every target has a few samples for rate() and irate().
    prom.wait_for_query(
        &format!("redis_master_link_up{{instance=\"{}\"}} == 1", replica.url()),
        Duration::from_secs(30),
    );
    prom.wait_for_query("min(count_over_time(redis_up[1m])) >= 5", Duration::from_secs(30));

    let never = |dash: &Dashboard, expr: &str| NEVER.iter().find(|(f, q, _)| *f == dash.file && expr.contains(q));
    let mut failures = Vec::new();

    // Every instance selected.
    for dash in &dashboards {
        let vars = resolve(&prom, dash, &|_, _| None);
        for expr in dash.exprs() {
            let q = substitute(&expr, &vars);
            let found = oxporter_testkit::poll(Duration::from_secs(20), Duration::from_millis(250), || {
                has_data(&prom, &q).then_some(())
            })
            .is_some();
            match (never(dash, &expr), found) {
                (None, false) => failures.push(format!("{}: no data: {q}", dash.file)),
                (Some((_, _, why)), true) => {
                    failures.push(format!("{}: listed as never having data ({why}) but has: {q}", dash.file))
                }
                _ => {}
            }
        }
    }

    // Only the primary, through /metrics and through /scrape: the same Redis, so the same panels have data.
    for instance in [address.as_str(), primary.url().as_str()] {
        let only = |name: &str, options: &[String]| {
            (name == "instance").then(|| {
                assert!(options.iter().any(|o| o == instance), "instance {instance} not among {options:?}");
                vec![instance.to_owned()]
            })
        };
        for dash in &dashboards {
            let vars = resolve(&prom, dash, &only);
            for expr in dash.exprs() {
                let q = substitute(&expr, &vars);
                let expected = never(dash, &expr).is_none() && !NOT_ON_A_PRIMARY.iter().any(|(m, _)| expr.contains(m));
                if has_data(&prom, &q) != expected {
                    failures.push(format!(
                        "{} with instance {instance}: {}: {q}",
                        dash.file,
                        if expected { "no data" } else { "data, though listed in NOT_ON_A_PRIMARY" }
                    ));
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));

    // Both ways of scraping report the same Redis as up.
    for (job, instance) in [("redis_exporter", address.as_str()), ("redis", primary.url().as_str())] {
        let q = format!("redis_up{{job=\"{job}\",instance=\"{instance}\"}}");
        assert_eq!(prom.query_values(&q), vec![1.0], "{q}");
    }
    assert_eq!(prom.query_values(&format!("redis_up{{instance=\"{nobody}\"}}")), vec![0.0]);
}
