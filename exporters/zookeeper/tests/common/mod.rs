//! Helpers shared by the integration tests: run one scrape through the real engine and read values back.
#![allow(dead_code)]

use std::time::Duration;

use oxporter_core::ScrapeContext;
use oxporter_core::encode::{Format, encode};
use oxporter_core::engine::Filter;
use oxporter_core::model::{MetricFamily, Value};
use oxporter_zookeeper::args::Args;
use oxporter_zookeeper::collectors::COLLECTORS;

/// Parses flags as the binary does.
pub fn args(flags: &[&str]) -> Args {
    let argv = std::iter::once("oxporter-zookeeper").chain(flags.iter().copied());
    oxporter_core::cli::try_parse_from::<Args, _, _, _>(&oxporter_zookeeper::INFO, COLLECTORS, argv)
        .expect("valid flags")
        .args
}

/// One scrape of `/metrics` (or of a probe `target`) with the given flags and timeout.
pub fn scrape(flags: &[&str], target: Option<&str>, timeout: Duration) -> Vec<MetricFamily> {
    let args = args(flags);
    let engine =
        oxporter_core::run::build_engine(&oxporter_zookeeper::INFO, COLLECTORS, &["mntr"], &args).expect("engine");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut ctx = ScrapeContext::with_timeout(timeout);
    ctx.target = target.map(std::sync::Arc::from);
    rt.block_on(engine.run(&ctx, &Filter::All)).families
}

/// The exposition text of `families`.
pub fn text(families: &[MetricFamily]) -> String {
    encode(Format::Text004, families)
}

/// The value of the sample of `name` whose labels include all of `labels`.
pub fn value(families: &[MetricFamily], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let fam = families.iter().find(|f| f.name == name)?;
    fam.samples
        .iter()
        .find(|s| labels.iter().all(|(k, v)| s.labels.iter().any(|(k2, v2)| k2 == k && v2 == v)))
        .and_then(|s| match s.value {
            Value::Scalar(v) => Some(v),
            _ => None,
        })
}

/// Like [`value`], panicking with the exposition when absent.
pub fn must(families: &[MetricFamily], name: &str, labels: &[(&str, &str)]) -> f64 {
    value(families, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in scrape:\n{}", text(families)))
}

/// Writes `content` to `tests/fixtures/<name>` when `ZK_CAPTURE_FIXTURES=1`: replies of the servers the tests start,
/// the inputs of the golden tests (kept apart from `UPDATE_GOLDEN`, which rewrites the expected outputs).
pub fn capture(name: &str, content: &str) {
    if std::env::var_os("ZK_CAPTURE_FIXTURES").is_some_and(|v| v == "1") {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
        std::fs::write(&path, content).expect("writing fixture");
    }
}

/// A blocking HTTP GET of `http://127.0.0.1:<port><path>`: status and body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to HTTP server");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let r = oxporter_zookeeper::client::http::parse_response(&raw).expect("HTTP response");
    (r.status, r.body)
}

/// The AdminServer URL's port and path: `http://127.0.0.1:8080/commands` → (8080, "/commands").
pub fn split_url(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://127.0.0.1:").expect("loopback http URL");
    let (port, path) = rest.split_once('/').expect("URL path");
    (port.parse().expect("port"), format!("/{path}"))
}

/// The repository root.
pub fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every PromQL expression of `dashboards/zookeeper.json` (targets' `expr`, variables' `query`).
pub fn dashboard_queries() -> Vec<String> {
    let path = repo().join("dashboards/zookeeper.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard file")).expect("dashboard JSON");
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "query" | "definition", serde_json::Value::String(s)) if s != "prometheus" => {
                            out.push(s.clone())
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&json, &mut out);
    out
}

/// The `zk_*` metric names used in `exprs`.
pub fn metric_names<'a>(exprs: impl IntoIterator<Item = &'a str>) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for e in exprs {
        let mut rest = e;
        while let Some(pos) = rest.find("zk_") {
            let before = &rest[..pos];
            let boundary = !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '"' || c == '{');
            let tail = &rest[pos..];
            let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
            // `zk_host` is a label (`zk_host=~"$zk_host"`, `{{zk_host}}`), not a metric.
            if boundary && &tail[..end] != "zk_host" {
                names.insert(tail[..end].to_owned());
            }
            rest = &tail[end..];
        }
    }
    names
}

/// The alert expressions of `deploy/prometheus/rules/zookeeper.yml` (lines starting with `expr:`).
pub fn alert_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("deploy/prometheus/rules/zookeeper.yml")).expect("rules file");
    text.lines().filter_map(|l| l.trim().strip_prefix("expr:")).map(|e| e.trim().to_owned()).collect()
}
