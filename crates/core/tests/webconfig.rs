//! `--web.config.file` end to end: the real server on a loopback port, the real `curl`, certificates made here.

// Test helpers may panic on broken fixtures.
#![allow(clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use oxporter_core::server::serve_listeners;
use oxporter_core::webconfig::WebConfigHandle;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The server on its own runtime and thread; stopped and joined on drop.
struct Server {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(web_config: &Path) -> Server {
        let web = WebConfigHandle::load(Some(web_config)).expect("web config loads");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let cfg = common::server_config(port, Some(web_config.to_path_buf()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
            rt.block_on(async move {
                let stop = async {
                    let _ = rx.await;
                };
                serve_listeners(cfg, web, vec![listener], stop).await.expect("serve");
            });
        });
        oxporter_testkit::ports::wait_for_port(port, Duration::from_secs(10), "oxporter test server");
        Server { port, stop: Some(tx), thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What one `curl` run saw.
#[derive(Debug)]
struct Reply {
    /// Whether curl exited 0.
    ok: bool,
    /// HTTP status, `0` when there was no HTTP response (e.g. the TLS handshake failed).
    code: u16,
    /// Seconds from start to end of the transfer, as curl measures it.
    seconds: f64,
    body: String,
    frame_options: String,
    stderr: String,
}

fn curl(port: u16, tls: bool, args: &[&str]) -> Reply {
    let bin = oxporter_testkit::process::require_binary("curl", "curl");
    let url =
        if tls { format!("https://localhost:{port}/metrics") } else { format!("http://127.0.0.1:{port}/metrics") };
    let out = Command::new(bin)
        .args(["-sS", "--max-time", "10", "--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(["-w", "\n@@%{http_code} %{time_total} %header{x-frame-options}"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, meta) = stdout.rsplit_once("\n@@").unwrap_or((&stdout, "0 0 "));
    let mut meta = meta.splitn(3, ' ');
    Reply {
        ok: out.status.success(),
        code: meta.next().and_then(|c| c.parse().ok()).unwrap_or(0),
        seconds: meta.next().and_then(|c| c.parse().ok()).unwrap_or(0.0),
        frame_options: meta.next().unwrap_or("").trim().to_owned(),
        body: body.to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A certificate authority in a temporary directory, issuing server and client certificates into it.
struct Pki {
    dir: tempfile::TempDir,
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        Pki { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new CA whose certificate is written to `<name>.crt`.
    fn ca(&self, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("test CA {name}"));
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("ca cert");
        std::fs::write(self.path(&format!("{name}.crt")), cert.pem()).expect("write");
        Ca { issuer: Issuer::new(params, key) }
    }

    /// `<name>.crt` and `<name>.key`, signed by `ca`.
    fn leaf(&self, ca: &Ca, name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("params");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca.issuer).expect("sign");
        // Write the key first: the pair is consistent again once the certificate lands.
        std::fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).expect("write");
        std::fs::write(self.path(&format!("{name}.crt")), cert.pem()).expect("write");
    }

    fn server_cert(&self, ca: &Ca) {
        self.leaf(ca, "server", &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    }

    fn write_config(&self, yaml: &str) -> PathBuf {
        let p = self.path("web.yml");
        std::fs::write(&p, yaml).expect("write config");
        // Some file systems keep whole-second mtimes; make every rewrite visible.
        let f = std::fs::File::options().append(true).open(&p).expect("open");
        f.set_modified(SystemTime::now() + Duration::from_secs(rand_secs())).expect("mtime");
        p
    }
}

/// A different future mtime per call, so two rewrites in the same second still differ.
fn rand_secs() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

fn hash(password: &str, cost: u32) -> String {
    bcrypt::hash(password, cost).expect("bcrypt")
}

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

#[test]
fn tls_handshake_and_basic_auth() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    pki.server_cert(&ca);
    let cfg = pki.write_config(&format!(
        "{TLS}http_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: {}\n",
        hash("wonderland", 4)
    ));
    let server = Server::start(&cfg);
    let cacert = pki.path("ca.crt");
    let cacert = cacert.to_str().expect("utf-8 path");

    let r = curl(server.port, true, &["--cacert", cacert, "-u", "alice:wonderland"]);
    assert_eq!(r.code, 200, "{r:?}");
    assert!(r.body.contains("test_up 1"), "{r:?}");
    assert_eq!(r.frame_options, "deny", "configured headers are sent");

    for (what, args) in [
        ("no credentials", vec!["--cacert", cacert]),
        ("wrong password", vec!["--cacert", cacert, "-u", "alice:looking-glass"]),
        ("unknown user", vec!["--cacert", cacert, "-u", "mallory:wonderland"]),
        ("garbage header", vec!["--cacert", cacert, "-H", "Authorization: Basic %%%"]),
    ] {
        let r = curl(server.port, true, &args);
        assert_eq!(r.code, 401, "{what}: {r:?}");
        assert_eq!(r.frame_options, "deny", "{what}: headers on 401 too");
    }

    // Without our CA the client refuses the certificate: it really is TLS with our certificate.
    let r = curl(server.port, true, &["-u", "alice:wonderland"]);
    assert!(!r.ok && r.code == 0, "{r:?}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let r = curl(server.port, false, &["-u", "alice:wonderland"]);
    assert_ne!(r.code, 200, "{r:?}");
}

#[test]
fn mutual_tls() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let other_ca = pki.ca("other-ca");
    pki.server_cert(&ca);
    pki.leaf(&ca, "prometheus", &["prometheus.example"], ExtendedKeyUsagePurpose::ClientAuth);
    pki.leaf(&ca, "stranger", &["stranger.example"], ExtendedKeyUsagePurpose::ClientAuth);
    pki.leaf(&other_ca, "forged", &["prometheus.example"], ExtendedKeyUsagePurpose::ClientAuth);
    let cfg = pki.write_config(&format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
         client_allowed_sans: [prometheus.example]\n"
    ));
    let server = Server::start(&cfg);
    let cacert = pki.path("ca.crt").display().to_string();
    let with_client = |name: &str| {
        let (cert, key) = (pki.path(&format!("{name}.crt")), pki.path(&format!("{name}.key")));
        curl(
            server.port,
            true,
            &["--cacert", &cacert, "--cert", cert.to_str().expect("p"), "--key", key.to_str().expect("p")],
        )
    };

    let r = curl(server.port, true, &["--cacert", &cacert]);
    assert!(!r.ok && r.code == 0, "no client certificate must be refused: {r:?}");
    // The server refuses with a TLS alert (e.g. "certificate required"), not by dropping the connection.
    assert!(r.stderr.contains("alert"), "{r:?}");
    let r = with_client("prometheus");
    assert_eq!(r.code, 200, "{r:?}");
    assert!(r.body.contains("test_up 1"), "{r:?}");
    let r = with_client("stranger");
    assert!(
        !r.ok && r.code == 0 && r.stderr.contains("alert"),
        "a SAN outside client_allowed_sans must be refused: {r:?}"
    );
    let r = with_client("forged");
    assert!(!r.ok && r.code == 0 && r.stderr.contains("alert"), "a certificate from another CA must be refused: {r:?}");
}

#[test]
fn rewritten_config_takes_effect_without_restart() {
    let pki = Pki::new();
    let cfg = pki.write_config(&format!("basic_auth_users:\n  alice: {}\n", hash("a-pass", 4)));
    let server = Server::start(&cfg);
    assert_eq!(curl(server.port, false, &["-u", "alice:a-pass"]).code, 200);
    assert_eq!(curl(server.port, false, &["-u", "bob:b-pass"]).code, 401);

    pki.write_config(&format!("basic_auth_users:\n  bob: {}\n", hash("b-pass", 4)));
    assert_eq!(curl(server.port, false, &["-u", "bob:b-pass"]).code, 200, "new user accepted");
    assert_eq!(curl(server.port, false, &["-u", "alice:a-pass"]).code, 401, "removed user rejected");

    // An invalid file keeps the previous configuration.
    pki.write_config("basic_auth_users:\n  bob: not-a-hash\n");
    assert_eq!(curl(server.port, false, &["-u", "bob:b-pass"]).code, 200);
    assert_eq!(curl(server.port, false, &["-u", "alice:a-pass"]).code, 401);

    // Removing every user opens the endpoint, as exporter-toolkit does.
    pki.write_config("");
    assert_eq!(curl(server.port, false, &[]).code, 200);
}

#[test]
fn rotated_certificate_is_served() {
    let pki = Pki::new();
    let old_ca = pki.ca("old-ca");
    let new_ca = pki.ca("new-ca");
    pki.server_cert(&old_ca);
    let cfg = pki.write_config(TLS);
    let server = Server::start(&cfg);
    let old = pki.path("old-ca.crt").display().to_string();
    let new = pki.path("new-ca.crt").display().to_string();
    assert_eq!(curl(server.port, true, &["--cacert", &old]).code, 200);
    assert_eq!(curl(server.port, true, &["--cacert", &new]).code, 0);

    pki.server_cert(&new_ca);
    // The listeners pick the new certificate up within about a second, without any request to trigger it.
    std::thread::sleep(Duration::from_millis(1500));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut r = curl(server.port, true, &["--cacert", &new]);
    while r.code != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        r = curl(server.port, true, &["--cacert", &new]);
    }
    assert_eq!(r.code, 200, "the new certificate is served: {r:?}");
    let r = curl(server.port, true, &["--cacert", &old]);
    assert_eq!(r.code, 0, "the old certificate is gone: {r:?}");
}

#[test]
fn cost_10_checks_are_cached() {
    let pki = Pki::new();
    let cfg = pki.write_config(&format!("basic_auth_users:\n  alice: {}\n", hash("wonderland", 10)));
    let server = Server::start(&cfg);
    let first = curl(server.port, false, &["-u", "alice:wonderland"]);
    assert_eq!(first.code, 200, "{first:?}");
    let mut cached = Vec::new();
    for _ in 0..3 {
        let r = curl(server.port, false, &["-u", "alice:wonderland"]);
        assert_eq!(r.code, 200, "{r:?}");
        cached.push(r.seconds);
    }
    let best_cached = cached.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        best_cached * 3.0 < first.seconds,
        "a cached check should be far faster than bcrypt at cost 10: first {:.4}s, cached {cached:?}",
        first.seconds
    );
    // Failures are not cached, and an unknown user costs a bcrypt check too (no user enumeration by timing).
    let wrong = curl(server.port, false, &["-u", "alice:nope"]);
    let unknown = curl(server.port, false, &["-u", "nobody:nope"]);
    assert_eq!((wrong.code, unknown.code), (401, 401));
    assert!(wrong.seconds > best_cached * 3.0, "wrong {:.4}s vs cached {best_cached:.4}s", wrong.seconds);
    assert!(unknown.seconds > best_cached * 3.0, "unknown {:.4}s vs cached {best_cached:.4}s", unknown.seconds);
}
