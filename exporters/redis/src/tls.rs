//! TLS to Redis (`rediss://`): CA, client certificate and key, server name, and skip-verify, on rustls with the
//! ring provider (the workspace's one TLS backend).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// The TLS flags.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// PEM file with the CA certificates to trust; the system's store when unset.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for servers that require client authentication.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against, instead of the host in the address.
    pub server_name: Option<String>,
    /// Accept any server certificate (still encrypted, but not authenticated).
    pub skip_verify: bool,
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// A file held no usable PEM item.
    #[error("{0}: {1}")]
    Pem(PathBuf, String),
    /// Only one of certificate and key was given.
    #[error("TLS client key file and cert file should both be present")]
    Pair,
    /// rustls rejected the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = std::fs::read(path).map_err(|e| TlsError::Read(path.to_owned(), e))?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut data.as_slice()).collect();
    let certs = certs.map_err(|e| TlsError::Pem(path.to_owned(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Pem(path.to_owned(), "no certificate found".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = std::fs::read(path).map_err(|e| TlsError::Read(path.to_owned(), e))?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|e| TlsError::Pem(path.to_owned(), e.to_string()))?
        .ok_or_else(|| TlsError::Pem(path.to_owned(), "no private key found".into()))
}

impl TlsSettings {
    /// Builds the client configuration, reading every file now so that mistakes stop the exporter at start-up.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
        let builder = if self.skip_verify {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
        } else {
            let mut roots = RootCertStore::empty();
            match &self.ca_file {
                Some(path) => {
                    for c in read_certs(path)? {
                        roots.add(c).map_err(|e| TlsError::Pem(path.clone(), e.to_string()))?;
                    }
                }
                None => {
                    let found = rustls_native_certs::load_native_certs();
                    for c in found.certs {
                        // A broken system certificate must not stop us; the others still work.
                        let _ = roots.add(c);
                    }
                }
            }
            builder.with_root_certificates(roots)
        };
        let config = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => builder.with_client_auth_cert(read_certs(cert)?, read_key(key)?)?,
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(TlsError::Pair),
        };
        Ok(Arc::new(config))
    }
}

/// `--skip-tls-verification`: accepts any certificate but still checks that the handshake is signed by it.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
