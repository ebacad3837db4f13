//! Shared helpers of the integration tests: the exporter binary on a free port, a minimal HTTP client, and an
//! exposition parser.

#![allow(dead_code, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use oxporter_testkit::ports::{free_port, wait_for_port};
use oxporter_testkit::process::ChildGuard;

/// The oxporter-redis binary, running.
pub struct Exporter {
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
    _child: ChildGuard,
}

impl Exporter {
    /// Starts `oxporter-redis` with `args` (plus a listen address) and the environment `env`.
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("exporter.log");
        let f = std::fs::File::create(&log).expect("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxporter-redis"));
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .env_remove("REDIS_ADDR")
            .env_remove("REDIS_PASSWORD")
            .env_remove("REDIS_USER")
            .env_remove("REDIS_PASSWORD_FILE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("log"))
            .stderr(f);
        let child = ChildGuard::spawn("oxporter-redis", &mut cmd);
        wait_for_port(port, Duration::from_secs(10), "oxporter-redis");
        Exporter { port, log, _dir: dir, _child: child }
    }

    /// Starts `oxporter-redis` with `args`.
    pub fn start(args: &[&str]) -> Exporter {
        Self::start_env(args, &[])
    }

    /// GET `path`; returns status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path, &[])
    }

    /// GET `path` with Prometheus's scrape timeout header.
    pub fn get_with_timeout(&self, path: &str, seconds: f64) -> (u16, String) {
        http_get(self.port, path, &[("X-Prometheus-Scrape-Timeout-Seconds", &seconds.to_string())])
    }

    /// The exporter's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A minimal HTTP/1.1 GET on 127.0.0.1.
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to exporter");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the sample lines of a text exposition (label values without escapes, as our tests use).
pub fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        let mut rest = labels;
        while let Some((k, r)) = rest.split_once("=\"") {
            let mut end = 0;
            let bytes = r.as_bytes();
            while end < bytes.len() && !(bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\')) {
                end += 1;
            }
            map.insert(k.trim_start_matches(',').to_owned(), r[..end].to_owned());
            rest = r.get(end + 1..).unwrap_or_default();
        }
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or(f64::NAN),
        };
        out.push(Sample { name: name.to_owned(), labels: map, value });
    }
    out
}

/// The value of the first sample called `name` whose labels include `labels`.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

/// Family name → (type, label names), folding histogram/summary series into their family.
pub fn families(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            if let (Some(n), Some(t)) = (it.next(), it.next()) {
                types.insert(n.to_owned(), t.to_owned());
            }
        }
    }
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for s in samples(text) {
        let mut name = s.name.clone();
        let mut labels: BTreeSet<String> = s.labels.keys().cloned().collect();
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = s.name.strip_suffix(suffix)
                && matches!(types.get(base).map(String::as_str), Some("histogram" | "summary"))
            {
                name = base.to_owned();
                labels.remove("le");
            }
        }
        if types.get(&name).map(String::as_str) == Some("summary") {
            labels.remove("quantile");
        }
        let t = types.get(&name).cloned().unwrap_or_else(|| "untyped".into());
        out.entry(name).or_insert_with(|| (t, BTreeSet::new())).1.extend(labels);
    }
    out
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
