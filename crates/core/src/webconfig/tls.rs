//! `tls_server_config` → a rustls server config (ring provider only).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme, SupportedCipherSuite,
    SupportedProtocolVersion,
};

use super::Touched;
use super::file::TlsFile;

/// Go's `tls.ClientAuthType`, by the names exporter-toolkit accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    No,
    Request,
    RequireAny,
    VerifyIfGiven,
    RequireAndVerify,
}

impl ClientAuth {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::No,
            "RequestClientCert" => ClientAuth::Request,
            // "RequireClientCert" is the old spelling exporter-toolkit still accepts.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAny,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
            _ => return None,
        })
    }
    fn verifies(self) -> bool {
        matches!(self, ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify)
    }
    fn mandatory(self) -> bool {
        matches!(self, ClientAuth::RequireAny | ClientAuth::RequireAndVerify)
    }
}

/// TLS versions in Go's order; rustls implements only the last two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Version {
    fn name(self) -> &'static str {
        match self {
            Version::Tls10 => "TLS10",
            Version::Tls11 => "TLS11",
            Version::Tls12 => "TLS12",
            Version::Tls13 => "TLS13",
        }
    }
}

fn parse_version(key: &str, v: Option<&str>, default: Version) -> Result<Version, String> {
    match v.map(str::trim) {
        None | Some("") => Ok(default),
        Some("TLS10") => Ok(Version::Tls10),
        Some("TLS11") => Ok(Version::Tls11),
        Some("TLS12") => Ok(Version::Tls12),
        Some("TLS13") => Ok(Version::Tls13),
        Some(other) => {
            Err(format!("tls_server_config.{key}: unknown TLS version {other:?} (TLS10, TLS11, TLS12 or TLS13)"))
        }
    }
}

/// What a cipher suite name from Go's `tls.CipherSuites()` means here.
enum Suite {
    /// A TLS 1.2 suite rustls implements.
    Tls12(SupportedCipherSuite),
    /// A TLS 1.3 suite: Go ignores `cipher_suites` for TLS 1.3, and so do we (all three stay enabled).
    Tls13,
    /// Known to Go, not implemented by rustls (CBC modes and RSA key exchange): dropped with a warning.
    Unsupported,
}

fn cipher_suite(name: &str) -> Option<Suite> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => Suite::Tls12(cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => Suite::Tls12(cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            Suite::Tls12(cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => Suite::Tls12(cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => Suite::Tls12(cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => Suite::Tls12(cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => Suite::Tls13,
        "TLS_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_RSA_WITH_AES_256_CBC_SHA"
        | "TLS_RSA_WITH_AES_128_GCM_SHA256"
        | "TLS_RSA_WITH_AES_256_GCM_SHA384"
        | "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" => Suite::Unsupported,
        _ => return None,
    })
}

/// exporter-toolkit's curve names; `None` for CurveP521, which Go knows and ring does not.
fn curve(name: &str) -> Option<Option<&'static dyn SupportedKxGroup>> {
    use rustls::crypto::ring::kx_group as kx;
    Some(match name {
        "CurveP256" => Some(kx::SECP256R1),
        "CurveP384" => Some(kx::SECP384R1),
        "X25519" => Some(kx::X25519),
        "CurveP521" => None,
        _ => return None,
    })
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Whether the section turns TLS on: exporter-toolkit's rule, any certificate, key, CA or client auth setting.
pub(crate) fn enabled(t: &TlsFile) -> bool {
    nonempty(&t.cert).is_some()
        || t.key.as_ref().is_some_and(|k| !k.0.is_empty())
        || nonempty(&t.cert_file).is_some()
        || nonempty(&t.key_file).is_some()
        || nonempty(&t.client_ca_file).is_some()
        || nonempty(&t.client_ca).is_some()
        || nonempty(&t.client_auth_type).is_some()
}

/// Where a PEM input comes from: a file (resolved against the config's directory) or inline text.
enum Source<'a> {
    File(&'static str, PathBuf),
    Inline(&'static str, &'a str),
}

impl Source<'_> {
    fn describe(&self) -> String {
        match self {
            Source::File(key, p) => format!("tls_server_config.{key} {}", p.display()),
            Source::Inline(key, _) => format!("tls_server_config.{key}"),
        }
    }
    fn read(&self, touched: &mut Touched) -> Result<Vec<u8>, String> {
        match self {
            Source::File(_, p) => touched.read(p).map_err(|e| format!("{}: {e}", self.describe())),
            Source::Inline(_, s) => Ok(s.as_bytes().to_vec()),
        }
    }
}

fn source<'a>(
    dir: &Path,
    file_key: &'static str,
    file: &Option<String>,
    inline_key: &'static str,
    inline: Option<&'a str>,
) -> Option<Source<'a>> {
    // As in exporter-toolkit, the file wins when both are given.
    if let Some(f) = nonempty(file) {
        return Some(Source::File(file_key, dir.join(f)));
    }
    inline.filter(|s| !s.is_empty()).map(|s| Source::Inline(inline_key, s))
}

fn certs(src: &Source<'_>, touched: &mut Touched) -> Result<Vec<CertificateDer<'static>>, String> {
    crate::tls::parse_certs(&src.read(touched)?).map_err(|e| format!("{}: {e}", src.describe()))
}

/// Builds the server config, or `None` when the section does not enable TLS. Files read are recorded in `touched`
/// so the caller can watch them. Warnings (dropped cipher suites or curves) are logged here.
pub(crate) fn build(t: &TlsFile, dir: &Path, touched: &mut Touched) -> Result<Option<Arc<ServerConfig>>, String> {
    if !enabled(t) {
        return Ok(None);
    }
    let cert_src = source(dir, "cert_file", &t.cert_file, "cert", t.cert.as_deref())
        .ok_or("tls_server_config: missing cert_file (or an inline cert)")?;
    let key_src = source(dir, "key_file", &t.key_file, "key", t.key.as_ref().map(|k| k.0.as_str()))
        .ok_or("tls_server_config: missing key_file (or an inline key)")?;
    let chain = certs(&cert_src, touched)?;
    // The PEM parser's errors do not quote key material.
    let key =
        crate::tls::parse_private_key(&key_src.read(touched)?).map_err(|e| format!("{}: {e}", key_src.describe()))?;

    // Versions.
    let min = parse_version("min_version", t.min_version.as_deref(), Version::Tls12)?;
    let max = parse_version("max_version", t.max_version.as_deref(), Version::Tls13)?;
    if max < Version::Tls12 {
        return Err(format!(
            "tls_server_config.max_version: {} is not supported (oxporter speaks TLS 1.2 and 1.3 only)",
            max.name()
        ));
    }
    if min > max {
        return Err(format!("tls_server_config: min_version {} is above max_version {}", min.name(), max.name()));
    }
    // TLS 1.0 and 1.1 as a minimum mean "1.2" here: rustls does not implement them.
    let mut tls12 = min <= Version::Tls12;
    let tls13 = max >= Version::Tls13;

    // Cipher suites (TLS 1.2 only, as in Go) and curves.
    let mut provider = crate::tls::provider();
    if let Some(names) = t.cipher_suites.as_ref().filter(|n| !n.is_empty()) {
        let mut chosen = Vec::new();
        let mut dropped = Vec::new();
        for name in names {
            match cipher_suite(name) {
                Some(Suite::Tls12(s)) => {
                    if !chosen.iter().any(|c: &SupportedCipherSuite| c.suite() == s.suite()) {
                        chosen.push(s);
                    }
                }
                Some(Suite::Tls13) => {}
                Some(Suite::Unsupported) => dropped.push(name.as_str()),
                None => return Err(format!("tls_server_config.cipher_suites: unknown cipher suite {name:?}")),
            }
        }
        if !dropped.is_empty() {
            tracing::warn!(
                cipher_suites = %dropped.join(","),
                "web config: cipher suites not implemented by rustls (CBC or RSA key exchange) are not offered"
            );
        }
        if chosen.is_empty() && tls12 {
            if !tls13 {
                return Err(
                    "tls_server_config.cipher_suites: none of the listed TLS 1.2 suites is supported, and max_version \
                     excludes TLS 1.3"
                        .to_owned(),
                );
            }
            tracing::warn!("web config: no supported TLS 1.2 cipher suite listed; serving TLS 1.3 only");
            tls12 = false;
        }
        let tls13_suites = provider.cipher_suites.iter().copied().filter(|s| s.version() == &rustls::version::TLS13);
        chosen.extend(tls13_suites);
        provider.cipher_suites = chosen;
    }
    if let Some(names) = t.curve_preferences.as_ref().filter(|n| !n.is_empty()) {
        let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
        for name in names {
            match curve(name) {
                Some(Some(g)) => {
                    if !groups.iter().any(|x| x.name() == g.name()) {
                        groups.push(g);
                    }
                }
                Some(None) => tracing::warn!(curve = %name, "web config: curve not implemented by rustls, skipped"),
                None => return Err(format!("tls_server_config.curve_preferences: unknown curve {name:?}")),
            }
        }
        if groups.is_empty() {
            return Err("tls_server_config.curve_preferences: none of the listed curves is supported (CurveP256, \
                        CurveP384, X25519)"
                .to_owned());
        }
        provider.kx_groups = groups;
    }
    let provider = Arc::new(provider);
    let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
    if tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if tls12 {
        versions.push(&rustls::version::TLS12);
    }

    // Client certificates.
    let auth_name = nonempty(&t.client_auth_type).unwrap_or("");
    let auth = ClientAuth::parse(auth_name).ok_or_else(|| {
        format!(
            "tls_server_config.client_auth_type: invalid value {auth_name:?} (NoClientCert, RequestClientCert, \
             RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
        )
    })?;
    let ca_src = source(dir, "client_ca_file", &t.client_ca_file, "client_ca", t.client_ca.as_deref());
    let roots = match &ca_src {
        None => None,
        Some(src) => {
            let store = crate::tls::root_store(certs(src, touched)?)
                .map_err(|e| format!("{}: unusable CA certificate: {e}", src.describe()))?;
            Some(Arc::new(store))
        }
    };
    if roots.is_some() && auth == ClientAuth::No {
        return Err("tls_server_config: client_ca_file is set but client_auth_type is NoClientCert (exporter-toolkit \
                    rejects this too)"
            .to_owned());
    }
    if auth.verifies() && roots.is_none() {
        return Err(format!(
            "tls_server_config: client_auth_type {auth_name} needs client_ca_file (oxporter does not verify client \
             certificates against the system's CA store)"
        ));
    }
    let sans = t.client_allowed_sans.clone();
    if sans.is_some() && !auth.mandatory() {
        return Err("tls_server_config: client_allowed_sans requires client_auth_type RequireAnyClientCert or \
                    RequireAndVerifyClientCert"
            .to_owned());
    }

    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let builder = if auth == ClientAuth::No {
        builder.with_no_client_auth()
    } else {
        let chain_verifier = match (&roots, auth.verifies()) {
            (Some(r), true) => Some(
                WebPkiClientVerifier::builder_with_provider(r.clone(), provider.clone())
                    .build()
                    .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?,
            ),
            _ => None,
        };
        builder.with_client_cert_verifier(Arc::new(ClientVerifier {
            mandatory: auth.mandatory(),
            hints: roots.as_ref().map(|r| r.subjects()).unwrap_or_default(),
            chain: chain_verifier,
            allowed_sans: sans,
            algorithms: provider.signature_verification_algorithms,
        }))
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!("{} and {} do not form a usable certificate and key: {e}", cert_src.describe(), key_src.describe())
    })?;
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    Ok(Some(Arc::new(config)))
}

/// Go's client-auth policies on rustls: optional chain verification against the CA file, then the SAN allow-list.
#[derive(Debug)]
struct ClientVerifier {
    mandatory: bool,
    hints: Vec<DistinguishedName>,
    chain: Option<Arc<dyn ClientCertVerifier>>,
    allowed_sans: Option<Vec<String>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Some(chain) = &self.chain {
            chain.verify_client_cert(end_entity, intermediates, now)?;
        }
        if let Some(allowed) = &self.allowed_sans {
            let found = super::san::subject_alt_names(end_entity)
                .ok_or(rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
            if !found.iter().any(|s| allowed.contains(s)) {
                tracing::debug!(sans = ?found, "client certificate has no SAN from client_allowed_sans");
                return Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
