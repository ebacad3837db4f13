//! A real ZooKeeper with a secure client port (Netty, PEM key and trust stores), scraped over TLS.
#![allow(clippy::expect_used)] // test helpers outside #[test] functions

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{must, scrape};
use oxporter_testkit::zookeeper::{ZkEnsemble, ZkOptions, ZkTls};

struct Certs {
    ca: PathBuf,
    server_store: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
}

/// A CA, a server key store (key and certificate in one PEM file, as ZooKeeper reads it) and a client certificate.
fn certs(dir: &Path) -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca = |cn: &str| {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        (cert.pem(), rcgen::Issuer::new(params, key))
    };
    let (ca_pem, issuer) = ca("oxporter zookeeper test CA");
    let (other_ca_pem, _) = ca("some other CA");
    let leaf = |cn: &str| {
        let key = KeyPair::generate().expect("leaf key");
        let mut p = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        let cert = p.signed_by(&key, &issuer).expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key) = leaf("zookeeper");
    let (client_pem, client_key) = leaf("oxporter-zookeeper");
    let write = |name: &str, content: &str| {
        let p = dir.join(name);
        std::fs::write(&p, content).expect("write certificate file");
        p
    };
    Certs {
        ca: write("ca.pem", &ca_pem),
        server_store: write("server-store.pem", &format!("{server_key}{server_pem}")),
        client_cert: write("client.pem", &client_pem),
        client_key: write("client.key", &client_key),
        other_ca: write("other-ca.pem", &other_ca_pem),
    }
}

#[test]
fn secure_client_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = certs(dir.path());
    let tls = ZkTls { keystore_pem: c.server_store.clone(), truststore_pem: c.ca.clone(), client_auth: true };
    let zk = ZkEnsemble::standalone(ZkOptions { tls: Some(tls), ..ZkOptions::default() });
    let secure = zk.servers[0].secure_addr().expect("secure port");
    let host = [("zk_host", secure.as_str())];
    let path = |p: &PathBuf| p.display().to_string();
    let (ca, cert, key, other) = (path(&c.ca), path(&c.client_cert), path(&c.client_key), path(&c.other_ca));
    let timeout = Duration::from_secs(10);

    let fams = scrape(
        &[
            "--zk.hosts",
            &secure,
            "--zk.tls",
            "--zk.tls.ca-file",
            &ca,
            "--zk.tls.cert-file",
            &cert,
            "--zk.tls.key-file",
            &key,
        ],
        None,
        timeout,
    );
    assert_eq!(must(&fams, "zk_up", &host), 1.0);
    assert_eq!(must(&fams, "zk_ruok", &host), 1.0);
    assert_eq!(must(&fams, "zk_serving", &host), 1.0);
    assert_eq!(must(&fams, "zk_server_state", &[("zk_host", &secure), ("state", "standalone")]), 1.0);

    // No client certificate, an unknown CA, or plain TCP to the secure port: down, and within the deadline.
    let zk_flags = ["--zk.hosts", &secure, "--zk.admin-port", "1"];
    for extra in [
        vec!["--zk.tls", "--zk.tls.ca-file", &ca],
        vec!["--zk.tls", "--zk.tls.ca-file", &other, "--zk.tls.cert-file", &cert, "--zk.tls.key-file", &key],
        vec![],
    ] {
        let flags: Vec<&str> = zk_flags.iter().copied().chain(extra.iter().copied()).collect();
        let start = std::time::Instant::now();
        let fams = scrape(&flags, None, Duration::from_secs(2));
        assert!(start.elapsed() < Duration::from_secs(3), "{extra:?} took {:?}", start.elapsed());
        assert_eq!(must(&fams, "zk_up", &host), 0.0, "{extra:?}");
    }
}
