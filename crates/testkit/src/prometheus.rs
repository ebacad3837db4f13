//! A real Prometheus server (Debian package `prometheus`) with a generated scrape config, on a free loopback port,
//! storing its data in a temporary directory, killed on drop.
//!
//! ```no_run
//! use std::time::Duration;
//! use oxporter_testkit::prometheus::{Prometheus, ScrapeJob};
//! let prom = Prometheus::start(&[ScrapeJob::new("node", ["127.0.0.1:9100"])]);
//! prom.wait_for_targets_up("node", Duration::from_secs(30));
//! assert!(prom.query_has_data("node_load1"));
//! ```
//!
//! The config is written as JSON, which YAML parsers (and so Prometheus) read unchanged; that keeps quoting exact.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http;
use crate::ports::free_port;
use crate::process::{ChildGuard, require_binary};

/// How long Prometheus may take to become ready.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// One `scrape_configs` entry.
#[derive(Debug, Clone)]
pub struct ScrapeJob {
    /// `job_name`.
    pub name: String,
    /// `static_configs[0].targets`.
    pub targets: Vec<String>,
    /// `scheme` (`http` when `None`).
    pub scheme: Option<String>,
    /// `metrics_path` (`/metrics` when `None`).
    pub metrics_path: Option<String>,
    /// `basic_auth` user and password.
    pub basic_auth: Option<(String, String)>,
    /// `tls_config.ca_file`.
    pub ca_file: Option<PathBuf>,
    /// `tls_config.cert_file` and `key_file` (client certificate for mutual TLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `tls_config.server_name`.
    pub server_name: Option<String>,
    /// `params`: URL parameters, each with one or more values.
    pub params: Vec<(String, Vec<String>)>,
    /// `scrape_interval`.
    pub interval: Duration,
    /// `scrape_timeout` (at most `interval`).
    pub timeout: Duration,
    /// `relabel_configs`, as JSON objects in Prometheus's config schema.
    pub relabel_configs: Vec<Value>,
}

impl ScrapeJob {
    /// A job scraping `targets` (`host:port`) over HTTP every second with a 1 s timeout.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(name: &str, targets: I) -> Self {
        ScrapeJob {
            name: name.to_owned(),
            targets: targets.into_iter().map(Into::into).collect(),
            scheme: None,
            metrics_path: None,
            basic_auth: None,
            ca_file: None,
            client_cert: None,
            server_name: None,
            params: Vec::new(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            relabel_configs: Vec::new(),
        }
    }

    /// A multi-target job in the usual `/probe` style: each of `targets` becomes the `target` URL parameter and the
    /// `instance` label, and every scrape goes to `exporter_address` at `path` (e.g. `/scrape` or `/probe`).
    pub fn probe<I: IntoIterator<Item = S>, S: Into<String>>(
        name: &str,
        exporter_address: &str,
        path: &str,
        targets: I,
    ) -> Self {
        let mut job = ScrapeJob::new(name, targets).metrics_path(path);
        job.relabel_configs = vec![
            json!({"source_labels": ["__address__"], "target_label": "__param_target"}),
            json!({"source_labels": ["__param_target"], "target_label": "instance"}),
            json!({"target_label": "__address__", "replacement": exporter_address}),
        ];
        job
    }

    /// Sets `scheme` (`https`).
    pub fn scheme(mut self, scheme: &str) -> Self {
        self.scheme = Some(scheme.to_owned());
        self
    }

    /// Sets `metrics_path`.
    pub fn metrics_path(mut self, path: &str) -> Self {
        self.metrics_path = Some(path.to_owned());
        self
    }

    /// Sets `basic_auth`.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Sets `tls_config.ca_file` (and the scheme to `https`).
    pub fn ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self.scheme.get_or_insert_with(|| "https".to_owned());
        self
    }

    /// Sets the client certificate Prometheus presents.
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Sets `tls_config.server_name`.
    pub fn server_name(mut self, name: &str) -> Self {
        self.server_name = Some(name.to_owned());
        self
    }

    /// Adds a value of URL parameter `key` (e.g. `collect[]`).
    pub fn param(mut self, key: &str, value: &str) -> Self {
        match self.params.iter_mut().find(|(k, _)| k == key) {
            Some((_, values)) => values.push(value.to_owned()),
            None => self.params.push((key.to_owned(), vec![value.to_owned()])),
        }
        self
    }

    /// Sets `scrape_interval`, and `scrape_timeout` to at most the interval.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self.timeout = self.timeout.min(interval);
        self
    }

    /// Sets `scrape_timeout` (capped at the interval, as Prometheus requires).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(self.interval);
        self
    }

    /// This job as a `scrape_configs` entry.
    pub fn to_config(&self) -> Value {
        let mut job = json!({
            "job_name": self.name,
            "scrape_interval": go_duration(self.interval),
            "scrape_timeout": go_duration(self.timeout),
            "static_configs": [{"targets": self.targets}],
        });
        let obj = job.as_object_mut();
        let Some(obj) = obj else { return job };
        if let Some(s) = &self.scheme {
            obj.insert("scheme".into(), json!(s));
        }
        if let Some(p) = &self.metrics_path {
            obj.insert("metrics_path".into(), json!(p));
        }
        if let Some((u, p)) = &self.basic_auth {
            obj.insert("basic_auth".into(), json!({"username": u, "password": p}));
        }
        let mut tls = serde_json::Map::new();
        if let Some(ca) = &self.ca_file {
            tls.insert("ca_file".into(), json!(ca.to_string_lossy()));
        }
        if let Some((cert, key)) = &self.client_cert {
            tls.insert("cert_file".into(), json!(cert.to_string_lossy()));
            tls.insert("key_file".into(), json!(key.to_string_lossy()));
        }
        if let Some(n) = &self.server_name {
            tls.insert("server_name".into(), json!(n));
        }
        if !tls.is_empty() {
            obj.insert("tls_config".into(), Value::Object(tls));
        }
        if !self.params.is_empty() {
            let params: serde_json::Map<String, Value> =
                self.params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            obj.insert("params".into(), Value::Object(params));
        }
        if !self.relabel_configs.is_empty() {
            obj.insert("relabel_configs".into(), json!(self.relabel_configs));
        }
        job
    }
}

/// A Go duration string with millisecond precision (`1500ms`).
fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// The whole `prometheus.yml` for `jobs` and `rule_files`.
pub fn config(jobs: &[ScrapeJob], rule_files: &[PathBuf]) -> Value {
    json!({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": rule_files.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
        "scrape_configs": jobs.iter().map(ScrapeJob::to_config).collect::<Vec<_>>(),
    })
}

/// A running Prometheus, killed on drop (its storage is removed with it).
#[derive(Debug)]
pub struct Prometheus {
    child: ChildGuard,
    port: u16,
    log_path: PathBuf,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `jobs` and waits until `/-/ready` answers 200.
    pub fn start(jobs: &[ScrapeJob]) -> Prometheus {
        Prometheus::start_with_rules(jobs, &[])
    }

    /// Starts Prometheus scraping `jobs` and evaluating `rule_files` every second; waits until it is ready.
    /// Panics (with its log) if the binary is missing, the config is rejected or it is not ready in
    /// [`STARTUP_TIMEOUT`].
    pub fn start_with_rules(jobs: &[ScrapeJob], rule_files: &[PathBuf]) -> Prometheus {
        let bin = require_binary("prometheus", "prometheus");
        let cfg = config(jobs, rule_files);
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = crate::tempdir("prometheus");
            let config_path = dir.path().join("prometheus.yml");
            crate::write_file(&config_path, serde_json::to_string_pretty(&cfg).unwrap_or_default());
            let log_path = dir.path().join("prometheus.log");
            let log = match std::fs::File::create(&log_path) {
                Ok(f) => f,
                Err(e) => panic!("creating {}: {e}", log_path.display()),
            };
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("--config.file={}", config_path.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg(format!("--web.external-url=http://127.0.0.1:{port}/"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            let child = ChildGuard::spawn("prometheus", &mut cmd);
            let mut prom = Prometheus { child, port, log_path, dir };
            match prom.wait_ready() {
                Ok(()) => return prom,
                Err(log) if log.contains("address already in use") => last_log = log,
                Err(log) => panic!("prometheus ({cmd:?}) did not become ready:\n{log}\nconfig:\n{cfg:#}"),
            }
        }
        panic!("prometheus: no free port after 3 tries:\n{last_log}")
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            if self.child.has_exited() {
                return Err(format!("prometheus exited; its log:\n{}", self.log()));
            }
            if let Ok(r) = http::get_with_timeout(&self.url("/-/ready"), &[], Duration::from_secs(2))
                && r.status == 200
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("not ready after {STARTUP_TIMEOUT:?}; its log:\n{}", self.log()))
    }

    /// The port of its HTTP API.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT{path_and_query}`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{path_and_query}", self.port)
    }

    /// Its data directory (config file, storage, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything Prometheus has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `GET` an API path and return its `data` member; panics on transport errors or an API error.
    pub fn api(&self, path_and_query: &str) -> Value {
        let r = http::must_get(&self.url(path_and_query), &[]);
        let v = r.json();
        if v["status"] != "success" {
            panic!("prometheus {path_and_query}: HTTP {}: {v}", r.status);
        }
        v["data"].clone()
    }

    /// The active targets of scrape pool (job) `job`, as `/api/v1/targets` returns them.
    pub fn targets(&self, job: &str) -> Vec<Value> {
        let data = self.api("/api/v1/targets?state=active");
        let all = data["activeTargets"].as_array().cloned().unwrap_or_default();
        all.into_iter().filter(|t| t["scrapePool"] == job).collect()
    }

    /// Polls `/api/v1/targets` until every target of `job` is up and its samples can be queried. Panics after
    /// `timeout` naming each target that is not up, with Prometheus's `lastError` for it.
    pub fn wait_for_targets_up(&self, job: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let targets = self.targets(job);
            // A target's health is reported as soon as its scrape ends, a moment before the scrape's samples are
            // committed and queryable: wait for those too, so callers can query at once.
            if !targets.is_empty()
                && targets.iter().all(|t| t["health"] == "up")
                && self.query(&format!("up{{job=\"{job}\"}}")).as_array().is_some_and(|r| r.len() == targets.len())
            {
                return;
            }
            if Instant::now() >= deadline {
                let detail: Vec<String> = targets
                    .iter()
                    .map(|t| {
                        format!(
                            "  {} health={} lastError={}",
                            t["scrapeUrl"].as_str().unwrap_or("?"),
                            t["health"].as_str().unwrap_or("?"),
                            t["lastError"]
                        )
                    })
                    .collect();
                panic!(
                    "targets of job {job:?} not all up after {timeout:?}:\n{}\nprometheus log:\n{}",
                    if detail.is_empty() { "  (no active targets)".to_owned() } else { detail.join("\n") },
                    crate::tail(&self.log(), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Evaluates `expr` at the current time (`/api/v1/query`) and returns `data.result` (for a vector, an array of
    /// `{"metric": {...}, "value": [ts, "v"]}`). Panics on an API error (e.g. a syntax error in `expr`).
    pub fn query(&self, expr: &str) -> Value {
        self.api(&format!("/api/v1/query?query={}", http::url_encode(expr)))["result"].clone()
    }

    /// Whether `expr` returns at least one series (or a scalar/string).
    pub fn query_has_data(&self, expr: &str) -> bool {
        match self.query(expr) {
            Value::Array(a) => !a.is_empty(),
            Value::Null => false,
            _ => true,
        }
    }

    /// The values of `expr`'s result series, as numbers.
    pub fn query_values(&self, expr: &str) -> Vec<f64> {
        let result = self.query(expr);
        result
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["value"][1].as_str().and_then(|v| v.parse().ok())).collect())
            .unwrap_or_default()
    }

    /// Polls `expr` until it returns data, and returns that result; panics after `timeout`.
    pub fn wait_for_query(&self, expr: &str, timeout: Duration) -> Value {
        let found = crate::poll(timeout, Duration::from_millis(200), || {
            let r = self.query(expr);
            r.as_array().is_some_and(|a| !a.is_empty()).then_some(r)
        });
        match found {
            Some(r) => r,
            None => panic!("query {expr:?} returned no data within {timeout:?}"),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- last lines of prometheus log ---\n{}", crate::tail(&self.log(), 30));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_config() {
        let job = ScrapeJob::new("a", ["127.0.0.1:1"])
            .ca_file("/ca.pem")
            .basic_auth("u", "p\"w")
            .param("collect[]", "cpu")
            .param("collect[]", "loadavg")
            .interval(Duration::from_millis(500));
        let c = job.to_config();
        assert_eq!(c["scheme"], "https");
        assert_eq!(c["scrape_interval"], "500ms");
        assert_eq!(c["scrape_timeout"], "500ms");
        assert_eq!(c["tls_config"]["ca_file"], "/ca.pem");
        assert_eq!(c["basic_auth"]["password"], "p\"w");
        assert_eq!(c["params"]["collect[]"], json!(["cpu", "loadavg"]));
        let p = ScrapeJob::probe("r", "127.0.0.1:9121", "/scrape", ["redis://h:1"]).to_config();
        assert_eq!(p["metrics_path"], "/scrape");
        assert_eq!(p["relabel_configs"][2]["replacement"], "127.0.0.1:9121");
    }
}
