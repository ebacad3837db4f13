//! Good and bad files, loaded from disk as the server loads them.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::*;

/// A CA and certificates it signs, written into a temporary directory next to the config file.
struct Fixture {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("key");
        let ca = params.self_signed(&key).expect("ca");
        std::fs::write(dir.path().join("ca.crt"), ca.pem()).expect("write");
        Fixture { dir, issuer: Issuer::new(params, key) }
    }

    /// Writes `<name>.crt` and `<name>.key` signed by the CA.
    fn leaf(&self, name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) {
        let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("p");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        std::fs::write(self.path(&format!("{name}.crt")), cert.pem()).expect("write");
        std::fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).expect("write");
    }

    fn server(&self) -> &Self {
        self.leaf("server", &["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `web.yml` and loads it.
    fn load(&self, yaml: &str) -> Result<Arc<WebConfigHandle>, WebConfigError> {
        let p = self.path("web.yml");
        std::fs::write(&p, yaml).expect("write");
        WebConfigHandle::load(Some(&p))
    }

    /// Loads `yaml`, expecting an error whose message names the file and every one of `words`.
    fn bad(&self, yaml: &str, words: &[&str]) -> String {
        let e = self.load(yaml).expect_err(yaml).to_string();
        assert!(e.contains(&self.path("web.yml").display().to_string()), "file not named: {e}");
        for w in words {
            assert!(e.contains(w), "{w:?} not in {e:?} (for {yaml:?})");
        }
        assert!(!e.contains('\n'), "one line: {e:?}");
        e
    }
}

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("hash")
}

#[test]
fn no_file_means_open_plain_http() {
    let h = WebConfigHandle::load(None).expect("load");
    assert!(h.tls_config().is_none() && h.path().is_none() && h.response_headers().is_empty());
    assert!(!h.reload_if_changed());
}

#[test]
fn good_files() {
    let f = Fixture::new();
    f.server();
    for yaml in ["", "# only a comment\n", "tls_server_config: {}\n", "tls_server_config:\n  min_version: TLS13\n"] {
        let h = f.load(yaml).unwrap_or_else(|e| panic!("{yaml:?}: {e}"));
        assert!(h.tls_config().is_none(), "{yaml:?} enables no TLS, as in exporter-toolkit");
    }
    let with_tls = [
        TLS.to_owned(),
        format!("{TLS}  min_version: TLS10\n  max_version: TLS12\n"),
        format!("{TLS}  min_version: TLS11\n"),
        format!(
            "{TLS}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, \
             TLS_AES_128_GCM_SHA256]\n  prefer_server_cipher_suites: false\n"
        ),
        // Only suites rustls lacks, but TLS 1.3 is allowed: TLS 1.3 only.
        format!("{TLS}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"),
        format!("{TLS}  curve_preferences: [CurveP521, X25519, CurveP256, CurveP384]\n"),
        format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"),
        format!("{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: {}\n", f.path("ca.crt").display()),
        format!("{TLS}  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [a.example]\n"),
        format!("{TLS}  client_auth_type: RequireClientCert\n"),
        format!("{TLS}  client_auth_type: RequestClientCert\n  client_ca_file: ca.crt\n"),
        format!("{TLS}  client_auth_type: NoClientCert\n"),
        // Inline PEM (newer exporter-toolkit).
        format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}",
            indent(&std::fs::read_to_string(f.path("server.crt")).expect("read")),
            indent(&std::fs::read_to_string(f.path("server.key")).expect("read"))
        ),
    ];
    for yaml in &with_tls {
        let h = f.load(yaml).unwrap_or_else(|e| panic!("{yaml:?}: {e}"));
        assert!(h.tls_config().is_some(), "{yaml:?}");
    }
    let tls13_only = f.load(&format!("{TLS}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n")).expect("load");
    let cfg = tls13_only.tls_config().expect("tls");
    assert!(cfg.crypto_provider().cipher_suites.iter().all(|s| s.version() == &rustls::version::TLS13));
    let ordered = f.load(&format!("{TLS}  curve_preferences: [CurveP384, X25519]\n")).expect("load");
    let names: Vec<_> =
        ordered.tls_config().expect("tls").crypto_provider().kx_groups.iter().map(|g| g.name()).collect();
    assert_eq!(names, vec![rustls::NamedGroup::secp384r1, rustls::NamedGroup::X25519]);
    let prefer = f.load(TLS).expect("load").tls_config().expect("tls");
    assert!(prefer.ignore_client_order, "prefer_server_cipher_suites defaults to true");

    let h = f
        .load(&format!(
            "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: sameorigin\n    \
             Content-Security-Policy: \"default-src 'self'\"\n    X-Content-Type-Options: nosniff\n    \
             Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: \"1; mode=block\"\n\
             basic_auth_users:\n  alice: {}\nrate_limit:\n  interval: 0\n",
            hash("x")
        ))
        .expect("load");
    assert_eq!(h.response_headers().len(), 5);
    assert!(h.tls_config().is_none());
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

#[test]
fn bad_files_name_key_and_file() {
    let f = Fixture::new();
    f.server();
    f.leaf("other", &["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    std::fs::write(f.path("empty.pem"), "not a pem file\n").expect("write");
    f.bad("tls_server_confg:\n  cert_file: a\n", &["tls_server_confg"]);
    f.bad(&format!("{TLS}  cert_fil: x\n"), &["cert_fil"]);
    f.bad("http_server_config:\n  http3: true\n", &["http3"]);
    f.bad("basic_auth_user:\n  a: b\n", &["basic_auth_user"]);
    f.bad("tls_server_config:\n  cert_file: server.crt\n", &["key_file"]);
    f.bad("tls_server_config:\n  key_file: server.key\n", &["cert_file"]);
    f.bad("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n", &["cert_file"]);
    f.bad("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n", &["cert_file", "missing.crt"]);
    f.bad("tls_server_config:\n  cert_file: server.crt\n  key_file: missing.key\n", &["key_file", "missing.key"]);
    f.bad("tls_server_config:\n  cert_file: empty.pem\n  key_file: server.key\n", &["cert_file", "empty.pem"]);
    f.bad("tls_server_config:\n  cert_file: server.crt\n  key_file: empty.pem\n", &["key_file", "empty.pem"]);
    f.bad("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n", &["server.crt", "other.key"]);
    f.bad(&format!("{TLS}  client_ca_file: ca.crt\n"), &["client_ca_file", "NoClientCert"]);
    f.bad(&format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"), &["client_ca_file"]);
    f.bad(&format!("{TLS}  client_auth_type: VerifyClientCertIfGiven\n"), &["client_ca_file"]);
    f.bad(
        &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: empty.pem\n"),
        &["client_ca_file", "empty.pem"],
    );
    f.bad(&format!("{TLS}  client_auth_type: Always\n"), &["client_auth_type", "Always"]);
    f.bad(&format!("{TLS}  min_version: TLS14\n"), &["min_version", "TLS14"]);
    f.bad(&format!("{TLS}  max_version: TLS11\n"), &["max_version", "TLS11", "not supported"]);
    f.bad(&format!("{TLS}  min_version: TLS13\n  max_version: TLS12\n"), &["min_version TLS13", "max_version TLS12"]);
    f.bad(&format!("{TLS}  cipher_suites: [TLS_NULL_WITH_NULL_NULL]\n"), &["cipher_suites", "TLS_NULL_WITH_NULL_NULL"]);
    f.bad(&format!("{TLS}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n  max_version: TLS12\n"), &["cipher_suites"]);
    f.bad(&format!("{TLS}  curve_preferences: [CurveP999]\n"), &["curve_preferences", "CurveP999"]);
    f.bad(&format!("{TLS}  curve_preferences: [CurveP521]\n"), &["curve_preferences"]);
    f.bad(
        &format!(
            "{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n  client_allowed_sans: [a]\n"
        ),
        &["client_allowed_sans"],
    );
    f.bad(&format!("{TLS}  client_allowed_sans: [a]\n"), &["client_allowed_sans"]);
    f.bad("http_server_config:\n  headers:\n    Server: oxporter\n", &["headers", "Server"]);
    f.bad("http_server_config:\n  headers:\n    x-frame-options: deny\n", &["headers", "x-frame-options"]);
    f.bad("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", &["X-Frame-Options", "allow"]);
    f.bad("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n", &["X-Content-Type-Options"]);
    f.bad("rate_limit:\n  interval: 1s\n  burst: -1\n", &["rate_limit.burst"]);
    f.bad("rate_limit:\n  interval: soon\n", &["interval"]);
    f.bad("tls_server_config: [\n", &[]);
    f.bad("basic_auth_users:\n  alice: password\n", &["basic_auth_users", "alice"]);

    let missing = WebConfigHandle::load(Some(&f.path("nope.yml"))).expect_err("missing").to_string();
    assert!(missing.contains("nope.yml"), "{missing}");
}

#[test]
fn errors_never_show_secrets() {
    let f = Fixture::new();
    let h = hash("hunter2");
    let salt_and_digest = &h[7..];
    for yaml in [
        format!("basic_auth_users: {h}\n"),
        format!("basic_auth_users:\n  alice: {h}\n  alice: {h}\n"),
        format!("basic_auth_users:\n  alice: {h}\n  bob: {}\n", &h[..20]),
        format!("basic_auth_users:\n  alice: {h}\nextra: 1\n"),
        format!("basic_auth_users:\n  alice: [{h}]\n"),
    ] {
        let e = f.load(&yaml).expect_err(&yaml).to_string();
        assert!(!e.contains(salt_and_digest) && !e.contains(&h[..20]), "{yaml:?} leaked: {e}");
    }
    let key = std::fs::read_to_string({
        f.server();
        f.path("server.key")
    })
    .expect("key");
    let key_line = key.lines().nth(1).expect("a base64 line");
    let e = f
        .load(&format!("tls_server_config:\n  key: |\n{}  cert: 1\n  bogus: 2\n", indent(&key)))
        .expect_err("bogus key")
        .to_string();
    assert!(!e.contains(key_line), "leaked key: {e}");
}

#[tokio::test]
async fn basic_auth_decisions() {
    let f = Fixture::new();
    let h = f
        .load(&format!("basic_auth_users:\n  alice: {}\n  bob: {}\n", hash("wonderland"), hash("builder")))
        .expect("load");
    let header = |user: &str, pass: &str| {
        let raw = format!("{user}:{pass}");
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut enc = String::new();
        for chunk in raw.as_bytes().chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    enc.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    enc.push('=');
                }
            }
        }
        HeaderValue::from_str(&format!("Basic {enc}")).expect("header")
    };
    assert_eq!(h.authorize(Some(&header("alice", "wonderland"))).await, AuthDecision::Allowed);
    assert_eq!(h.authorize(Some(&header("bob", "builder"))).await, AuthDecision::Allowed);
    assert_eq!(h.cache.len(), 2);
    assert_eq!(h.authorize(Some(&header("alice", "wonderland"))).await, AuthDecision::Allowed);
    assert_eq!(h.authorize(Some(&header("alice", "builder"))).await, AuthDecision::Denied);
    assert_eq!(h.authorize(Some(&header("mallory", "wonderland"))).await, AuthDecision::Denied);
    assert_eq!(h.authorize(Some(&header("", ""))).await, AuthDecision::Denied);
    assert_eq!(h.authorize(None).await, AuthDecision::Denied);
    for junk in ["Basic", "Basic ", "Basic ****", "Bearer abc", "Basic YWxpY2U=", "basic", "\u{7f}"] {
        if let Ok(v) = HeaderValue::from_str(junk) {
            assert_eq!(h.authorize(Some(&v)).await, AuthDecision::Denied, "{junk:?}");
        }
    }
    assert_eq!(h.cache.len(), 2, "failures are not cached");
    // A changed hash for the same password misses the cache and is checked again (and passes).
    std::fs::write(f.path("web.yml"), format!("basic_auth_users:\n  alice: {}\n", hash("wonderland"))).expect("w");
    bump_mtime(&f.path("web.yml"));
    assert!(h.reload_if_changed());
    assert_eq!(h.authorize(Some(&header("alice", "wonderland"))).await, AuthDecision::Allowed);
    assert_eq!(h.cache.len(), 3);
    assert_eq!(h.authorize(Some(&header("bob", "builder"))).await, AuthDecision::Denied, "bob was removed");
}

#[tokio::test]
async fn rate_limit_applies_before_auth() {
    let f = Fixture::new();
    let h = f.load("rate_limit:\n  interval: 1h\n  burst: 2\n").expect("load");
    assert_eq!(h.authorize(None).await, AuthDecision::Allowed);
    assert_eq!(h.authorize(None).await, AuthDecision::Allowed);
    assert_eq!(h.authorize(None).await, AuthDecision::RateLimited);
}

/// Makes sure the stamp changes even on file systems with coarse timestamps.
fn bump_mtime(p: &Path) {
    let f = std::fs::File::options().append(true).open(p).expect("open");
    let later = SystemTime::now() + Duration::from_secs(2);
    f.set_modified(later).expect("set mtime");
}

#[test]
fn reload_swaps_keeps_old_on_error_and_keeps_tls_mode() {
    let f = Fixture::new();
    f.server();
    let h = f.load(TLS).expect("load");
    let first = h.tls_config().expect("tls");
    assert!(!h.reload_if_changed(), "nothing changed");

    // A new certificate is noticed through the files the config names.
    f.server();
    bump_mtime(&f.path("server.crt"));
    assert!(h.reload_if_changed());
    let second = h.tls_config().expect("tls");
    assert!(!Arc::ptr_eq(&first, &second));

    // Invalid file: old config kept, and not retried until something changes again.
    std::fs::write(f.path("web.yml"), format!("{TLS}  nonsense: 1\n")).expect("write");
    bump_mtime(&f.path("web.yml"));
    assert!(!h.reload_if_changed());
    assert!(Arc::ptr_eq(&second, &h.tls_config().expect("tls")));
    assert!(!h.reload_if_changed());

    // Turning TLS off at run time is refused.
    std::fs::write(f.path("web.yml"), "basic_auth_users: {}\n").expect("write");
    bump_mtime(&f.path("web.yml"));
    assert!(!h.reload_if_changed());
    assert!(h.tls_config().is_some());

    // A valid file again.
    std::fs::write(f.path("web.yml"), format!("{TLS}  min_version: TLS13\n")).expect("write");
    bump_mtime(&f.path("web.yml"));
    assert!(h.reload_if_changed());
    assert!(!Arc::ptr_eq(&second, &h.tls_config().expect("tls")));

    // A cert file named by a failed load is watched: when it appears, the reload succeeds.
    std::fs::write(f.path("web.yml"), "tls_server_config:\n  cert_file: later.crt\n  key_file: later.key\n")
        .expect("write");
    bump_mtime(&f.path("web.yml"));
    assert!(!h.reload_if_changed());
    f.leaf("later", &["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    assert!(h.reload_if_changed());
}

#[test]
fn plain_http_stays_plain() {
    let f = Fixture::new();
    f.server();
    let h = f.load("").expect("load");
    std::fs::write(f.path("web.yml"), TLS).expect("write");
    bump_mtime(&f.path("web.yml"));
    assert!(h.reload_if_changed(), "the rest of the file applies");
    assert!(h.tls_config().is_none(), "TLS on/off is decided at start-up");
}
