//! Our own exporter binaries, built on demand and started as real processes on free loopback ports.
//!
//! [`binary`] runs `cargo build -p PKG --bin BIN` once per test process (once per run under nextest; with the
//! `cargo` that runs the tests, the same profile, and `CARGO_TARGET_DIR` if set), so `cargo test -p oxporter-e2e`
//! works from a clean tree and never tests a stale binary. `OXPORTER_BIN_DIR=/path` skips the build and takes binaries from that folder instead
//! (e.g. to test a release build).
//!
//! [`ExporterBuilder::start`] runs the binary with `--web.listen-address=127.0.0.1:PORT`, waits until
//! `/-/healthy` answers, and returns an [`Exporter`] that kills the process on drop. Its stderr (the log) is kept
//! in a file for assertions ([`Exporter::log`]) and printed when the test panics.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::{self, CurlOptions, CurlResponse, HttpError, Response};
use crate::ports::free_port;
use crate::process::{ChildGuard, run_with_timeout};

/// How long a freshly started exporter may take to answer `/-/healthy`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

static BUILT: Mutex<Option<HashMap<(String, String), PathBuf>>> = Mutex::new(None);

/// The path of workspace binary `bin` of package `package`, built now if this process has not built it yet.
/// Panics with cargo's output if the build fails.
pub fn binary(package: &str, bin: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("OXPORTER_BIN_DIR") {
        let p = PathBuf::from(dir).join(bin);
        assert!(p.is_file(), "OXPORTER_BIN_DIR is set but {} does not exist", p.display());
        return p;
    }
    // Held during the build so tests of one process that need the same binary build it once.
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let key = (package.to_owned(), bin.to_owned());
    if let Some(p) = built.get_or_insert_with(HashMap::new).get(&key) {
        return p.clone();
    }
    let marker = run_marker(bin);
    if let Some(p) = marker.as_ref().and_then(|m| std::fs::read_to_string(m).ok()).map(PathBuf::from)
        && p.is_file()
    {
        built.get_or_insert_with(HashMap::new).insert(key, p.clone());
        return p;
    }
    let path = cargo_build(package, bin);
    if let Some(m) = &marker {
        write_run_marker(m, bin, &path);
    }
    built.get_or_insert_with(HashMap::new).insert(key, path.clone());
    path
}

/// Under nextest every test is its own process, so "once per process" would mean a (no-op, but seconds on a busy
/// machine) cargo build per test. Within one nextest run (`NEXTEST_RUN_ID`) a marker file beside the test binaries
/// remembers the built path instead.
fn run_marker(bin: &str) -> Option<PathBuf> {
    let run = std::env::var("NEXTEST_RUN_ID").ok().filter(|r| !r.is_empty() && !r.contains(['/', '\\']))?;
    let profile_dir = std::env::current_exe().ok()?.parent()?.parent()?.to_path_buf();
    Some(profile_dir.join(".oxporter-testkit").join(format!("{bin}.{run}")))
}

fn write_run_marker(marker: &Path, bin: &str, built: &Path) {
    let Some(dir) = marker.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    // Markers of earlier runs are stale.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let stale = e.file_name().to_str().is_some_and(|n| n.starts_with(&format!("{bin}.")));
            if stale && e.path() != marker {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    // Written to a temporary name first so a concurrent reader never sees half a path.
    let tmp = marker.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, built.to_string_lossy().as_bytes()).is_ok() {
        let _ = std::fs::rename(&tmp, marker);
    }
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().and_then(Path::parent).map_or_else(|| here.to_path_buf(), Path::to_path_buf)
}

/// The cargo profile flag matching the running test binary: its folder is `<target>/<profile>/deps`.
fn profile_args() -> Vec<String> {
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    match profile_dir.as_deref() {
        None | Some("debug") => Vec::new(),
        Some("release") => vec!["--release".into()],
        Some(other) => vec!["--profile".into(), other.into()],
    }
}

fn cargo_build(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let manifest = workspace_root().join("Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", package, "--bin", bin, "--message-format=json-render-diagnostics"])
        .args(profile_args())
        .stdin(Stdio::null());
    // Cargo gives the test process the variables it gives the crate under test (CARGO_MANIFEST_DIR, CARGO_PKG_*,
    // ...). Build scripts that watch them (ring's does) would see a change and rebuild on every alternation between
    // this build and the outer `cargo test`, so they are dropped here.
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        let set_by_cargo = matches!(
            k,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        ) || ["CARGO_PKG_", "CARGO_BIN_EXE_", "CARGO_CFG_"].iter().any(|p| k.starts_with(p));
        if set_by_cargo {
            cmd.env_remove(&key);
        }
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("running {cmd:?} to build {bin}: {e} (is cargo on PATH?)"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "building {bin}: {cmd:?} failed ({}):\n{stderr}", out.status);
    // Cargo names the executable it produced in a `compiler-artifact` message.
    let exe = out.stdout.lines().map_while(Result::ok).find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(&line).ok()?;
        let is_bin = v["reason"] == "compiler-artifact"
            && v["target"]["name"] == bin
            && v["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin"));
        if is_bin { v["executable"].as_str().map(PathBuf::from) } else { None }
    });
    match exe {
        Some(p) if p.is_file() => p,
        _ => panic!("building {bin}: cargo reported no executable for it (package {package})\n{stderr}"),
    }
}

/// Runs `bin` of `package` with `args` until it exits (at most `timeout`), capturing its output. For flags that
/// make the binary exit by itself (`--version`, `--help`, invalid flags). Runs without `RUST_BACKTRACE`, which the
/// test harness may set, so the output is what a user sees.
pub fn run(package: &str, bin: &str, args: &[&str], timeout: Duration) -> Output {
    let path = binary(package, bin);
    let mut cmd = Command::new(path);
    cmd.args(args).env_remove("RUST_BACKTRACE").env_remove("RUST_LIB_BACKTRACE");
    run_with_timeout(bin, &mut cmd, timeout)
}

/// How to start one exporter. Make one with [`exporter`] or [`node`].
#[derive(Debug, Clone)]
pub struct ExporterBuilder {
    package: String,
    bin: String,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    basic_auth: Option<(String, String)>,
    wait_healthy: bool,
}

/// A builder for binary `bin` of workspace package `package`.
pub fn exporter(package: &str, bin: &str) -> ExporterBuilder {
    ExporterBuilder {
        package: package.to_owned(),
        bin: bin.to_owned(),
        args: Vec::new(),
        env: Vec::new(),
        ca_file: None,
        client_cert: None,
        basic_auth: None,
        wait_healthy: true,
    }
}

/// A builder for `oxporter-node`.
pub fn node() -> ExporterBuilder {
    exporter("oxporter-node", "oxporter-node")
}

impl ExporterBuilder {
    /// Adds one command-line argument (the listen address is added by [`ExporterBuilder::start`]).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds command-line arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the exporter.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The exporter serves HTTPS (its `--web.config.file` enables TLS) with a certificate signed by `ca_file`.
    pub fn https(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// The exporter requires a client certificate: the health check presents this one.
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// The exporter requires basic auth: the health check and [`Exporter`]'s requests send these credentials.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Return as soon as the port accepts connections instead of waiting for `/-/healthy` to answer 200 (for
    /// configurations where the health check itself is expected to fail).
    pub fn no_health_check(mut self) -> Self {
        self.wait_healthy = false;
        self
    }

    /// Starts the exporter on a free loopback port and waits until it is healthy. Panics with the exporter's log if
    /// it exits or does not become healthy within [`STARTUP_TIMEOUT`].
    pub fn start(self) -> Exporter {
        let path = binary(&self.package, &self.bin);
        // Another process may grab the port between our check and the exporter's bind: retry on a new port.
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let dir = crate::tempdir(&self.bin);
            let log_path = dir.path().join("stderr.log");
            let stdout_path = dir.path().join("stdout.log");
            let create = |p: &Path| match std::fs::File::create(p) {
                Ok(f) => f,
                Err(e) => panic!("creating {}: {e}", p.display()),
            };
            let mut cmd = Command::new(&path);
            cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .args(&self.args)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(create(&stdout_path))
                .stderr(create(&log_path));
            let child = ChildGuard::spawn(&self.bin, &mut cmd);
            let mut exp = Exporter {
                child,
                port,
                log_path,
                ca_file: self.ca_file.clone(),
                client_cert: self.client_cert.clone(),
                basic_auth: self.basic_auth.clone(),
                bin: self.bin.clone(),
                _dir: dir,
            };
            match exp.wait_ready(self.wait_healthy) {
                Ok(()) => return exp,
                Err(log) if log.contains("in use") => last_log = log,
                Err(log) => {
                    // Dropped first so its Drop does not print the log a second time.
                    drop(exp);
                    panic!("{} ({cmd:?}) did not become healthy:\n{log}", self.bin)
                }
            }
        }
        panic!("{}: no free port after 3 tries:\n{last_log}", self.bin)
    }
}

/// A running exporter, killed on drop.
#[derive(Debug)]
pub struct Exporter {
    child: ChildGuard,
    port: u16,
    log_path: PathBuf,
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    basic_auth: Option<(String, String)>,
    bin: String,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, as a Prometheus target.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether it serves HTTPS.
    pub fn is_https(&self) -> bool {
        self.ca_file.is_some()
    }

    /// The full URL of `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        let scheme = if self.is_https() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path_and_query}", self.port)
    }

    /// `GET path_and_query` over plain HTTP with extra headers (and the basic auth credentials, if set). Panics on
    /// transport errors and when the exporter serves HTTPS (use [`Exporter::curl`]).
    pub fn get(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Response {
        assert!(!self.is_https(), "{} serves HTTPS: use Exporter::curl", self.bin);
        let auth = self.basic_auth.as_ref().map(|(u, p)| http::basic_auth_header(u, p));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = &auth
            && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            all.push(("Authorization", a));
        }
        http::must_get(&self.url(path_and_query), &all)
    }

    /// `GET /metrics` in the default (text 0.0.4) format; panics unless the status is 200.
    pub fn scrape(&self) -> String {
        self.scrape_path("/metrics")
    }

    /// `GET path_and_query` over HTTP or HTTPS; panics unless the status is 200.
    pub fn scrape_path(&self, path_and_query: &str) -> String {
        if self.is_https() {
            let r = self.curl(path_and_query, CurlOptions::default());
            assert_eq!(r.status, 200, "GET {path_and_query}: {} {}\n{}", r.exit_code, r.stderr, r.text());
            r.text()
        } else {
            let r = self.get(path_and_query, &[]);
            assert_eq!(r.status, 200, "GET {path_and_query}: {}", r.text());
            r.text()
        }
    }

    /// `curl` for `path_and_query` with this exporter's CA, client certificate and credentials filled in where
    /// `opts` leaves them unset.
    pub fn curl(&self, path_and_query: &str, mut opts: CurlOptions) -> CurlResponse {
        if opts.ca_file.is_none() {
            opts.ca_file.clone_from(&self.ca_file);
        }
        if opts.client_cert.is_none() {
            opts.client_cert.clone_from(&self.client_cert);
        }
        if opts.basic_auth.is_none() {
            opts.basic_auth.clone_from(&self.basic_auth);
        }
        http::curl(&self.url(path_and_query), &opts)
    }

    /// Everything the exporter has logged (its stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process's PID.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The process, e.g. to signal it or to wait for it to exit.
    pub fn child(&mut self) -> &mut ChildGuard {
        &mut self.child
    }

    /// Waits for the port (and `/-/healthy`, if asked); on failure returns the log.
    fn wait_ready(&mut self, healthy: bool) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        // Refused connections are expected until it listens; any other failure that persists this long is final.
        let mut failing_since: Option<Instant> = None;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if self.child.has_exited() {
                return Err(format!("exited before it was ready; its log:\n{}", self.log()));
            }
            match self.probe_health(healthy) {
                Ok(()) => return Ok(()),
                Err(Probe::NotListening(e)) => last = e,
                Err(Probe::Failing(e)) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(3) {
                        return Err(format!("health check keeps failing: {e}; its log:\n{}", self.log()));
                    }
                    last = e;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("not healthy after {STARTUP_TIMEOUT:?} (last: {last}); its log:\n{}", self.log()))
    }

    fn probe_health(&self, healthy: bool) -> Result<(), Probe> {
        let quick = Duration::from_secs(2);
        if !healthy {
            return http::connect("127.0.0.1", self.port, quick)
                .map(drop)
                .map_err(|e| Probe::NotListening(e.to_string()));
        }
        if self.is_https() {
            let r = self.curl("/-/healthy", CurlOptions { timeout: Some(quick), ..CurlOptions::default() });
            return match (r.status, r.exit_code) {
                (200, _) => Ok(()),
                // 7: could not connect, 28: timed out.
                (_, 7 | 28) => Err(Probe::NotListening(r.stderr)),
                (0, code) => Err(Probe::Failing(format!("curl exit {code}: {}", r.stderr.trim()))),
                (status, _) => Err(Probe::Failing(format!("HTTP {status}: {}", r.text()))),
            };
        }
        let auth = self.basic_auth.as_ref().map(|(u, p)| http::basic_auth_header(u, p));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        match http::get_with_timeout(&self.url("/-/healthy"), &headers, quick) {
            Ok(r) if r.status == 200 => Ok(()),
            Ok(r) => Err(Probe::Failing(format!("HTTP {}: {}", r.status, r.text()))),
            Err(HttpError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Err(Probe::NotListening(e.to_string()))
            }
            Err(e) => Err(Probe::Failing(e.to_string())),
        }
    }
}

/// Why a health check did not pass.
enum Probe {
    /// Nothing listens yet (keep waiting).
    NotListening(String),
    /// Something answers, but not with a healthy 200.
    Failing(String),
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- last lines of {} log (pid {}) ---\n{}", self.bin, self.pid(), crate::tail(&self.log(), 40));
        }
    }
}
