//! TLS material and client configuration, on rustls with the ring provider (the workspace's one TLS backend).
//!
//! - [`parse_certs`], [`parse_private_key`], [`read_certs`], [`read_private_key`], [`root_store`]: PEM loading,
//!   shared by the web config's server side and the exporters' TLS clients.
//! - [`ClientTlsSettings`]: the usual client flags (CA, client certificate and key, server name, skip-verify);
//!   [`ClientTlsSettings::load`] reads every file at once, so that a mistake stops the exporter at start-up, and
//!   gives a [`ClientTls`] that [`crate::net::Connection::open`] connects with.
//!
//! Errors name files, never their contents: the PEM parser does not quote what it reads, so a private key cannot
//! end up in a log line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// The crypto provider every TLS configuration of the workspace is built on: ring, with its default cipher suites
/// and key exchange groups. Returned by value so that a server configuration can narrow it down first.
pub fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Why PEM text gave no usable item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// A PEM section is damaged (bad base64, no end line). The message never quotes the section.
    #[error("invalid PEM: {0}")]
    Invalid(String),
    /// No `CERTIFICATE` section at all.
    #[error("no PEM certificate found")]
    NoCertificate,
    /// No private key section (PKCS#1, PKCS#8 or SEC1) at all.
    #[error("no PEM private key found")]
    NoPrivateKey,
}

/// The certificates of PEM text, in order (a chain: the end entity first). Other sections are ignored; a damaged
/// certificate section is an error rather than skipped, so a half-broken file is noticed.
pub fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = rustls_pemfile::certs(&mut &*pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::Invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate);
    }
    Ok(certs)
}

/// The first private key of PEM text (PKCS#1, PKCS#8 or SEC1).
pub fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
    rustls_pemfile::private_key(&mut &*pem).map_err(|e| PemError::Invalid(e.to_string()))?.ok_or(PemError::NoPrivateKey)
}

/// A trust store holding `certs`; a certificate rustls cannot use as a trust anchor is an error.
pub fn root_store(certs: Vec<CertificateDer<'static>>) -> Result<RootCertStore, rustls::Error> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert)?;
    }
    Ok(roots)
}

/// Why a TLS configuration could not be built. Messages name files, never their contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file held no usable PEM item.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: PemError,
    },
    /// A CA file holds a certificate that cannot be a trust anchor.
    #[error("{path}: unusable CA certificate: {source}")]
    Ca {
        /// The CA file.
        path: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// Only one of client certificate and key was given.
    #[error("TLS client key file and cert file should both be present")]
    HalfClientCert,
    /// rustls refused the configuration (for example a key that does not match the certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

/// The certificates of a PEM file (see [`parse_certs`]).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    parse_certs(&read(path)?).map_err(|source| TlsError::Pem { path: path.to_owned(), source })
}

/// The private key of a PEM file (see [`parse_private_key`]).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    parse_private_key(&read(path)?).map_err(|source| TlsError::Pem { path: path.to_owned(), source })
}

/// How to talk TLS to a target: the usual client flags of an exporter, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTlsSettings {
    /// PEM file with the CA certificates to trust; the system's store when unset.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for servers that ask for client authentication.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against, instead of the host being connected to.
    pub server_name: Option<String>,
    /// Accept any server certificate: still encrypted, no longer authenticated. Signatures of the handshake are
    /// still checked against the certificate the server shows.
    pub skip_verify: bool,
}

impl ClientTlsSettings {
    /// Builds the client configuration, reading every file now. Without `ca_file` (and without `skip_verify`) the
    /// system's CA store is trusted; a system certificate rustls cannot use is skipped, not fatal.
    pub fn load(&self) -> Result<ClientTls, TlsError> {
        let provider = Arc::new(provider());
        let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let builder = if self.skip_verify {
            let verifier = AcceptAnyServerCert(provider.signature_verification_algorithms);
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier))
        } else {
            let roots = match &self.ca_file {
                Some(path) => {
                    root_store(read_certs(path)?).map_err(|source| TlsError::Ca { path: path.clone(), source })?
                }
                None => {
                    let mut roots = RootCertStore::empty();
                    // A broken system certificate must not stop us; the others still work.
                    let (added, ignored) =
                        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                    tracing::debug!(added, ignored, "trusting the system's CA certificates");
                    roots
                }
            };
            builder.with_root_certificates(roots)
        };
        let config = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => builder.with_client_auth_cert(read_certs(cert)?, read_private_key(key)?)?,
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(TlsError::HalfClientCert),
        };
        Ok(ClientTls { config: Arc::new(config), server_name: self.server_name.clone() })
    }
}

/// A loaded TLS client configuration and the server name override: what connecting needs. Cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

impl ClientTls {
    /// A ready configuration (for callers that build their own), with an optional server name override.
    pub fn new(config: Arc<ClientConfig>, server_name: Option<String>) -> Self {
        ClientTls { config, server_name }
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The name to verify the certificate of `host` against: the override if set, else `host` (a DNS name or an
    /// IP address, without brackets). An unusable name is an `InvalidInput` error that quotes it.
    pub fn server_name_for(&self, host: &str) -> std::io::Result<ServerName<'static>> {
        let name = self.server_name.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_owned()).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("invalid TLS server name {name:?}: {e}"))
        })
    }
}

/// Skip-verify: any certificate is accepted, but the handshake must still be signed by the key of the certificate
/// shown, so the connection is at least with whoever holds that key.
#[derive(Debug)]
struct AcceptAnyServerCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyServerCert {
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
mod tests;
