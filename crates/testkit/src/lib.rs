//! Test-only helpers for oxporter: real servers started on free loopback ports and stopped on drop, and checks of
//! exposition output with real tools.
//!
//! - [`ports`], [`process`]: free ports, child processes killed on drop, required binaries.
//! - [`http`]: a small blocking HTTP/1.1 client (and `curl` for HTTPS).
//! - [`exporter`]: build and start our own exporter binaries.
//! - [`grafana`]: dashboards' queries with template variables filled in as Grafana fills them.
//! - [`prometheus`]: a real Prometheus with a generated scrape config, queried over its HTTP API.
//! - [`promtool`], [`openmetrics`]: exposition checks with `promtool` and Python's strict OpenMetrics parser.
//! - [`redis`]: real `redis-server` processes: standalone, ACL, replica, TLS, a 3-primary cluster.
//! - [`tls`]: a throw-away certificate authority, server and client certificates, bcrypt hashes.
//! - [`textformat`]: the core's text format 0.0.4 parser in strict mode, to compare two exporters' output.
//!
//! A missing server binary fails the test with a message naming the Debian package that provides it; nothing here
//! skips silently. Helpers panic (with a message saying what failed and what the server logged) where a failure is
//! fatal to the test anyway.

pub mod exporter;
pub mod grafana;
pub mod http;
pub mod openmetrics;
pub mod ports;
pub mod process;
pub mod prometheus;
pub mod promtool;
pub mod redis;
pub mod textformat;
pub mod tls;
pub mod zookeeper;

/// The reference data folder from `$OXPORTER_REFERENCE_DIR`, or `None` after printing the one allowed skip line.
pub fn reference_dir(test: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os("OXPORTER_REFERENCE_DIR") {
        Some(d) if !d.is_empty() => Some(std::path::PathBuf::from(d)),
        _ => {
            println!("SKIP {test}: OXPORTER_REFERENCE_DIR is not set (.ci/run sets it to ../shared/reference)");
            None
        }
    }
}

/// A fresh temporary directory named after `what`, removed on drop; panics if none can be made.
pub fn tempdir(what: &str) -> tempfile::TempDir {
    match tempfile::Builder::new().prefix(&format!("oxporter-{what}-")).tempdir() {
        Ok(d) => d,
        Err(e) => panic!("creating a temporary directory for {what}: {e}"),
    }
}

/// Writes `contents` to `path`, panicking with the path on failure.
pub fn write_file(path: &std::path::Path, contents: impl AsRef<[u8]>) {
    if let Err(e) = std::fs::write(path, contents) {
        panic!("writing {}: {e}", path.display())
    }
}

/// The last `n` lines of `text` (for log excerpts in panic messages).
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Polls `check` every `every` until it returns `Some`, or returns `None` once `timeout` has passed.
pub fn poll<T>(
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}
