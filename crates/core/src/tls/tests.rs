//! PEM loading and client settings on certificates made by the test kit. The handshakes themselves are tested in
//! `net::tests`, against a real rustls server.

use oxporter_testkit::tls::Pki;

use super::*;

fn pem(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("test kit PEM file")
}

#[test]
fn certificates_and_keys_from_pem() {
    let pki = Pki::new();
    assert_eq!(parse_certs(&pem(&pki.server_cert)).expect("server cert").len(), 1);
    parse_private_key(&pem(&pki.server_key)).expect("server key");
    // A chain and a key in one file, as ZooKeeper's key store is written: both found.
    let both = [pem(&pki.client_key), pem(&pki.client_cert), pem(&pki.ca_cert)].concat();
    assert_eq!(parse_certs(&both).expect("chain").len(), 2);
    parse_private_key(&both).expect("key before the chain");
    assert_eq!(root_store(parse_certs(&pem(&pki.ca_cert)).expect("ca")).expect("store").len(), 1);
}

#[test]
fn pem_without_the_wanted_item() {
    let pki = Pki::new();
    assert_eq!(parse_certs(b""), Err(PemError::NoCertificate));
    assert_eq!(parse_certs(b"not a pem file\n"), Err(PemError::NoCertificate));
    assert_eq!(parse_certs(&pem(&pki.server_key)), Err(PemError::NoCertificate));
    assert_eq!(parse_private_key(&pem(&pki.server_cert)), Err(PemError::NoPrivateKey));
    assert_eq!(PemError::NoCertificate.to_string(), "no PEM certificate found");
    assert_eq!(PemError::NoPrivateKey.to_string(), "no PEM private key found");
}

#[test]
fn damaged_pem_is_an_error_that_quotes_nothing() {
    // A key whose body is not base64, and a certificate without its end line.
    let secret = "c2VjcmV0LWtleS1tYXRlcmlhbA!!!SECRET-KEY-MATERIAL";
    let key = format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n");
    let e = parse_private_key(key.as_bytes()).expect_err("damaged key");
    assert!(matches!(e, PemError::Invalid(_)), "{e:?}");
    assert!(!e.to_string().contains("SECRET"), "key material in {e}");

    let pki = Pki::new();
    let cert = String::from_utf8(pem(&pki.server_cert)).expect("PEM is text");
    let cut = cert.replace("-----END CERTIFICATE-----", "");
    assert!(matches!(parse_certs(cut.as_bytes()), Err(PemError::Invalid(_))));
    let broken_second = format!("{cert}-----BEGIN CERTIFICATE-----\n{secret}\n-----END CERTIFICATE-----\n");
    let e = parse_certs(broken_second.as_bytes()).expect_err("a broken certificate is not skipped");
    assert!(!e.to_string().contains("SECRET"), "{e}");
}

#[test]
fn garbage_never_panics() {
    let pki = Pki::new();
    let good = pem(&pki.server_cert);
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"-----BEGIN CERTIFICATE-----".to_vec(),
        b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".to_vec(),
        b"-----BEGIN RSA PRIVATE KEY-----\n====\n-----END RSA PRIVATE KEY-----\n".to_vec(),
        b"-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n".to_vec(),
        vec![0xff; 4096],
        vec![b'\n'; 4096],
    ];
    inputs.extend((0..good.len()).step_by(37).map(|n| good[..n].to_vec()));
    inputs.extend((0..good.len()).step_by(53).map(|n| {
        let mut g = good.clone();
        g[n] ^= 0x55;
        g
    }));
    for input in &inputs {
        let _ = parse_certs(input);
        let _ = parse_private_key(input);
    }
}

#[test]
fn files_are_named_in_errors() {
    let pki = Pki::new();
    let missing = pki.dir().join("missing.pem");
    let e = read_certs(&missing).expect_err("missing file");
    assert!(matches!(e, TlsError::Read { .. }), "{e:?}");
    assert!(e.to_string().starts_with(&format!("reading {}: ", missing.display())), "{e}");

    let e = read_certs(&pki.server_key).expect_err("a key is no certificate");
    assert_eq!(e.to_string(), format!("{}: no PEM certificate found", pki.server_key.display()));
    let e = read_private_key(&pki.ca_cert).expect_err("a certificate is no key");
    assert_eq!(e.to_string(), format!("{}: no PEM private key found", pki.ca_cert.display()));
}

#[test]
fn client_settings_load() {
    let pki = Pki::new();
    let full = ClientTlsSettings {
        ca_file: Some(pki.ca_cert.clone()),
        cert_file: Some(pki.client_cert.clone()),
        key_file: Some(pki.client_key.clone()),
        server_name: Some("localhost".into()),
        skip_verify: false,
    };
    let tls = full.load().expect("full settings");
    assert!(tls.config().client_auth_cert_resolver.has_certs());
    assert!(format!("{tls:?}").contains("localhost"));

    // The system's store when no CA file is given; skip-verify needs none.
    ClientTlsSettings::default().load().expect("system roots");
    ClientTlsSettings { skip_verify: true, ..Default::default() }.load().expect("skip verify");
    // A CA file is not read at all with skip-verify, as before.
    let skip_with_bad_ca =
        ClientTlsSettings { skip_verify: true, ca_file: Some(pki.dir().join("nope")), ..full.clone() };
    skip_with_bad_ca.load().expect("skip verify ignores the CA file");
}

#[test]
fn client_settings_errors() {
    let pki = Pki::new();
    let half = ClientTlsSettings { cert_file: Some(pki.client_cert.clone()), ..Default::default() };
    assert!(matches!(half.load(), Err(TlsError::HalfClientCert)));
    let half = ClientTlsSettings { key_file: Some(pki.client_key.clone()), skip_verify: true, ..Default::default() };
    assert!(matches!(half.load(), Err(TlsError::HalfClientCert)));

    let ca_is_a_key = ClientTlsSettings { ca_file: Some(pki.client_key.clone()), ..Default::default() };
    let e = ca_is_a_key.load().expect_err("key as CA");
    assert!(matches!(&e, TlsError::Pem { path, source: PemError::NoCertificate } if *path == pki.client_key), "{e:?}");

    // A key that does not belong to the certificate.
    let mismatched = ClientTlsSettings {
        ca_file: Some(pki.ca_cert.clone()),
        cert_file: Some(pki.client_cert.clone()),
        key_file: Some(pki.server_key.clone()),
        ..Default::default()
    };
    let e = mismatched.load().expect_err("mismatched key");
    assert!(matches!(e, TlsError::Rustls(_)), "{e:?}");
    let missing_key = ClientTlsSettings { key_file: Some(pki.dir().join("gone.pem")), ..mismatched };
    assert!(matches!(missing_key.load(), Err(TlsError::Read { .. })));
}

#[test]
fn server_names() {
    let plain = ClientTls::new(
        ClientTlsSettings { skip_verify: true, ..Default::default() }.load().expect("config").config().clone(),
        None,
    );
    assert_eq!(plain.server_name_for("redis.example").expect("dns"), ServerName::try_from("redis.example").expect("n"));
    assert!(matches!(plain.server_name_for("127.0.0.1").expect("v4"), ServerName::IpAddress(_)));
    assert!(matches!(plain.server_name_for("::1").expect("v6"), ServerName::IpAddress(_)));
    let e = plain.server_name_for("bad name!").expect_err("not a name");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().starts_with("invalid TLS server name \"bad name!\""), "{e}");

    let named = ClientTls::new(plain.config().clone(), Some("zk.internal".into()));
    assert_eq!(named.server_name_for("10.0.0.1").expect("override"), ServerName::try_from("zk.internal").expect("n"));
}
