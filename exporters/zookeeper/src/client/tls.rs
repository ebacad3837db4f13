//! TLS to ZooKeeper's secure client port (and an HTTPS AdminServer), with rustls and the ring provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;

/// Where the TLS material comes from (the `--zk.tls.*` flags).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM file of the CAs that signed the servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (ZooKeeper's secure port asks for one by default).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Name to check the servers' certificates against instead of the host part of each address.
    pub server_name: Option<String>,
    /// Accept any server certificate (testing only).
    pub insecure_skip_verify: bool,
}

/// Why the TLS settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file held no usable PEM item.
    #[error("{0}: no {1} found")]
    Missing(PathBuf, &'static str),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// Neither a CA file nor insecure mode.
    #[error("--zk.tls.ca-file is required to verify the servers (or --zk.tls.insecure-skip-verify)")]
    NoRoots,
    /// Only one of certificate and key.
    #[error("--zk.tls.cert-file and --zk.tls.key-file go together")]
    HalfClientCert,
}

/// A loaded TLS client configuration.
pub struct TlsSettings {
    connector: TlsConnector,
    server_name: Option<String>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings").field("server_name", &self.server_name).finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsSettings {
    /// Loads certificates and keys.
    pub fn load(opts: &TlsOptions) -> Result<Self, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
        let builder = if opts.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider().signature_verification_algorithms)))
        } else {
            let ca = opts.ca_file.as_deref().ok_or(TlsError::NoRoots)?;
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots.add(cert)?;
            }
            builder.with_root_certificates(roots)
        };
        let config = match (&opts.cert_file, &opts.key_file) {
            (Some(cert), Some(key)) => builder.with_client_auth_cert(read_certs(cert)?, read_key(key)?)?,
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(TlsError::HalfClientCert),
        };
        Ok(TlsSettings { connector: TlsConnector::from(Arc::new(config)), server_name: opts.server_name.clone() })
    }

    /// The connector.
    pub fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    /// The name to verify for `addr` (`host:port`): the override, else the host.
    pub fn server_name(&self, addr: &str) -> Result<ServerName<'static>, String> {
        let host = match &self.server_name {
            Some(n) => n.as_str(),
            None => split_host(addr),
        };
        ServerName::try_from(host.to_owned()).map_err(|e| format!("invalid TLS server name {host:?}: {e}"))
    }
}

/// The host part of `host:port` or `[v6]:port`.
pub fn split_host(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = read(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut data.as_slice()).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::Missing(path.to_owned(), "certificate"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = read(path)?;
    match rustls_pemfile::private_key(&mut data.as_slice()) {
        Ok(Some(k)) => Ok(k),
        _ => Err(TlsError::Missing(path.to_owned(), "private key")),
    }
}

/// `--zk.tls.insecure-skip-verify`: any certificate is accepted, signatures are still checked.
#[derive(Debug)]
struct AcceptAny(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(split_host("zk1:2181"), "zk1");
        assert_eq!(split_host("[::1]:2181"), "::1");
        assert_eq!(split_host("127.0.0.1:2181"), "127.0.0.1");
        assert_eq!(split_host("bare"), "bare");
    }

    #[test]
    fn needs_roots_or_insecure() {
        assert!(matches!(TlsSettings::load(&TlsOptions::default()), Err(TlsError::NoRoots)));
        let insecure = TlsOptions { insecure_skip_verify: true, ..Default::default() };
        let s = TlsSettings::load(&insecure).expect("insecure settings load");
        assert!(s.server_name("127.0.0.1:1").is_ok());
        let half = TlsOptions { insecure_skip_verify: true, cert_file: Some("x".into()), ..Default::default() };
        assert!(matches!(TlsSettings::load(&half), Err(TlsError::HalfClientCert)));
    }
}
