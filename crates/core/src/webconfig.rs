//! exporter-toolkit compatible `--web.config.file`: TLS, basic auth, response headers.
//!
//! STUB: the interface the server uses. The implementation (YAML parsing with unknown-key errors, rustls server
//! config with client auth and TLS versions, bcrypt basic auth with a cache, reload on change) lands next.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};

/// A web config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file could not be read.
    #[error("reading web config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("web config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The result of checking a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// No basic auth configured, or the credentials match.
    Allowed,
    /// Credentials missing or wrong: answer 401 with `WWW-Authenticate`.
    Denied,
}

/// The live web configuration, re-read when the file changes.
#[derive(Debug)]
pub struct WebConfigHandle {
    path: Option<PathBuf>,
}

impl WebConfigHandle {
    /// Loads `path` (or nothing, when `None`), failing on any invalid or unknown key.
    pub fn load(path: Option<&Path>) -> Result<Arc<Self>, WebConfigError> {
        Ok(Arc::new(WebConfigHandle { path: path.map(Path::to_path_buf) }))
    }

    /// The config file's path, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The rustls server config when the file enables TLS.
    pub fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        None
    }

    /// Checks the `Authorization` header of a request.
    pub fn authorize(&self, _authorization: Option<&HeaderValue>) -> AuthDecision {
        AuthDecision::Allowed
    }

    /// Extra response headers from `http_server_config.headers`.
    pub fn response_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        Vec::new()
    }

    /// Re-reads the file if it (or a certificate it names) changed; returns the new TLS config when that changed.
    pub fn reload_if_changed(&self) -> Option<Arc<rustls::ServerConfig>> {
        None
    }
}
