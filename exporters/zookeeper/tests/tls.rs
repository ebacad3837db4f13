//! A real ZooKeeper with a secure client port (Netty, PEM key and trust stores), scraped over TLS.
#![allow(clippy::expect_used)] // test helpers outside #[test] functions

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{must, scrape};
use oxporter_testkit::tls::Pki;
use oxporter_testkit::zookeeper::{ZkEnsemble, ZkOptions, ZkTls};

struct Certs {
    ca: PathBuf,
    server_store: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
    _pki: (Pki, Pki),
}

/// The test kit's CA and certificates, with the server's key and certificate in one PEM file as ZooKeeper reads
/// its key store; and a second, unrelated CA.
fn certs() -> Certs {
    let pki = Pki::new();
    let other = Pki::new();
    let store = pki.dir().join("server-store.pem");
    let read = |p: &Path| std::fs::read_to_string(p).expect("certificate file");
    std::fs::write(&store, read(&pki.server_key) + &read(&pki.server_cert)).expect("key store");
    Certs {
        ca: pki.ca_cert.clone(),
        server_store: store,
        client_cert: pki.client_cert.clone(),
        client_key: pki.client_key.clone(),
        other_ca: other.ca_cert.clone(),
        _pki: (pki, other),
    }
}

#[test]
fn secure_client_port() {
    let c = certs();
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
