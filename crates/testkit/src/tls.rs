//! A throw-away PKI for TLS tests: a CA, a server certificate for `localhost`/`127.0.0.1`/`::1`, and a client
//! certificate, written as PEM files into a temporary directory. Also bcrypt hashes for `basic_auth_users`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM files of a fresh CA and certificates it signed. Removed on drop.
#[derive(Debug)]
pub struct Pki {
    dir: tempfile::TempDir,
    /// The CA certificate (for `--cacert`, `tls_config.ca_file`, `client_ca_file`).
    pub ca_cert: PathBuf,
    /// Server certificate for `localhost`, `127.0.0.1` and `::1`.
    pub server_cert: PathBuf,
    /// The server certificate's private key.
    pub server_key: PathBuf,
    /// Client certificate (CN `oxporter-test-client`).
    pub client_cert: PathBuf,
    /// The client certificate's private key.
    pub client_key: PathBuf,
}

impl Pki {
    /// Generates a CA, a server and a client certificate (ECDSA P-256). Panics if generation fails.
    pub fn new() -> Pki {
        match Pki::try_new() {
            Ok(p) => p,
            Err(e) => panic!("generating test certificates: {e}"),
        }
    }

    fn try_new() -> Result<Pki, rcgen::Error> {
        let dir = crate::tempdir("pki");
        let d = dir.path();

        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(DnType::CommonName, "oxporter test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])?;
        server_params.distinguished_name.push(DnType::CommonName, "localhost");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &issuer)?;

        let client_key = KeyPair::generate()?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params.distinguished_name.push(DnType::CommonName, "oxporter-test-client");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &issuer)?;

        let write = |name: &str, pem: String| {
            let p = d.join(name);
            crate::write_file(&p, pem);
            p
        };
        Ok(Pki {
            ca_cert: write("ca.pem", ca_cert.pem()),
            server_cert: write("server.pem", server_cert.pem()),
            server_key: write("server-key.pem", server_key.serialize_pem()),
            client_cert: write("client.pem", client_cert.pem()),
            client_key: write("client-key.pem", client_key.serialize_pem()),
            dir,
        })
    }

    /// The directory holding the files (to add a web config beside them).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// A bcrypt hash of `password` at cost 4 (the minimum: fast in tests; exporters accept any cost).
pub fn bcrypt_hash(password: &str) -> String {
    match bcrypt::hash(password, 4) {
        Ok(h) => h,
        Err(e) => panic!("bcrypt: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_exist_and_verify() {
        let pki = Pki::new();
        for p in [&pki.ca_cert, &pki.server_cert, &pki.server_key, &pki.client_cert, &pki.client_key] {
            let text = std::fs::read_to_string(p).expect("pem");
            assert!(text.starts_with("-----BEGIN "), "{}", p.display());
        }
        let h = bcrypt_hash("pw");
        assert!(h.starts_with("$2b$04$"), "{h}");
        assert!(bcrypt::verify("pw", &h).expect("verify"));
    }
}
