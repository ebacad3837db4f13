//! exporter-toolkit compatible `--web.config.file`: TLS, basic auth, response headers and a request rate limit.
//!
//! The file is exporter-toolkit's YAML, unchanged; `docs/web-config.md` lists what we accept and where we differ.
//! [`WebConfigHandle::load`] reads it at start-up and fails on anything invalid, naming the key and the file.
//! [`WebConfigHandle::reload_if_changed`] notices when the file, or a certificate, key or CA file it names,
//! changes (size, modification time, inode) and swaps in the new configuration atomically; an invalid new file
//! keeps the previous configuration and logs one error line. Whether TLS is on is decided at start-up, as
//! exporter-toolkit does.
//!
//! Secrets (bcrypt hashes, inline keys, passwords) never appear in an error or a log line.

mod auth;
mod file;
mod san;
mod tls;
mod yaml;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderName, HeaderValue};

use auth::{AuthCache, RateLimiter, Users};

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
        /// What is wrong, naming the key (never a secret value).
        message: String,
    },
}

/// The result of checking a request against the web config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// No basic auth configured, or the credentials match.
    Allowed,
    /// Credentials missing or wrong: answer 401 with `WWW-Authenticate: Basic`.
    Denied,
    /// The `rate_limit` bucket is empty: answer 429.
    RateLimited,
}

/// What the server needs to know about a file: enough to notice a change without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: (u64, u64, i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            // A replaced file (rename, a Kubernetes secret's symlink swap) has a new inode or ctime even when size
            // and mtime are kept (`cp -p`).
            #[cfg(unix)]
            inode: (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn of_path(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|m| Stamp::of(&m))
    }
}

/// The files one load read, each with the stamp it had when read (`None`: it could not be opened).
#[derive(Debug, Default)]
pub(crate) struct Touched {
    files: Vec<(PathBuf, Option<Stamp>)>,
}

impl Touched {
    /// Reads `path` (at most [`file::MAX_FILE_BYTES`]) and records its stamp.
    pub(crate) fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        let opened = std::fs::File::open(path).and_then(|f| f.metadata().map(|m| (f, m)));
        let (f, meta) = match opened {
            Ok(x) => x,
            Err(e) => {
                self.files.push((path.to_path_buf(), None));
                return Err(e);
            }
        };
        self.files.push((path.to_path_buf(), Some(Stamp::of(&meta))));
        if meta.len() > file::MAX_FILE_BYTES {
            return Err(std::io::Error::other(format!("file is larger than {} bytes", file::MAX_FILE_BYTES)));
        }
        let mut buf = Vec::new();
        f.take(file::MAX_FILE_BYTES).read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn changed(&self) -> bool {
        self.files.iter().any(|(p, s)| Stamp::of_path(p) != *s)
    }
}

/// One parsed and validated configuration.
#[derive(Debug)]
struct Loaded {
    tls: Option<Arc<rustls::ServerConfig>>,
    users: Users,
    headers: Arc<[(HeaderName, HeaderValue)]>,
    limiter: Option<Arc<RateLimiter>>,
}

impl Loaded {
    fn empty() -> Self {
        Loaded { tls: None, users: Users::default(), headers: Arc::from(Vec::new()), limiter: None }
    }
}

/// The security headers exporter-toolkit lets a file set, with the values allowed where the header is an enum.
const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

fn headers(map: &std::collections::BTreeMap<String, String>) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut out = Vec::new();
    for (name, value) in map {
        // Names are matched exactly (case included), as exporter-toolkit does.
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "http_server_config.headers: HTTP header {name:?} can not be configured (allowed: {})",
                names.join(", ")
            ));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(format!("http_server_config.headers.{name}: expected one of {allowed:?}, got {value:?}"));
        }
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("http_server_config.headers: {e}"))?;
        let v = HeaderValue::from_str(value)
            .map_err(|_| format!("http_server_config.headers.{name}: the value is not a valid HTTP header value"))?;
        out.push((n, v));
    }
    Ok(out)
}

/// Reads and validates the file at `path` and everything it names. `previous` lets an unchanged `rate_limit`
/// keep its bucket across reloads.
fn load_files(path: &Path, previous: Option<&Arc<RateLimiter>>) -> (Result<Loaded, WebConfigError>, Touched) {
    let mut touched = Touched::default();
    let res = load_into(path, previous, &mut touched);
    (res, touched)
}

fn load_into(
    path: &Path,
    previous: Option<&Arc<RateLimiter>>,
    touched: &mut Touched,
) -> Result<Loaded, WebConfigError> {
    let invalid = |message: String| WebConfigError::Invalid { path: path.to_path_buf(), message };
    let bytes = touched.read(path).map_err(|source| WebConfigError::Read { path: path.to_path_buf(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| invalid("the file is not UTF-8 text".to_owned()))?;
    let cfg = file::parse(&text).map_err(invalid)?;

    // Relative paths in the file are relative to the file's directory, as in exporter-toolkit.
    let dir = path.parent().unwrap_or(Path::new(""));
    let tls = match &cfg.tls_server_config {
        Some(t) => tls::build(t, dir, touched).map_err(invalid)?,
        None => None,
    };
    let users =
        Users::new(cfg.basic_auth_users.unwrap_or_default().0.into_iter().map(|(u, h)| (u, h.0))).map_err(invalid)?;
    let headers = match cfg.http_server_config.as_ref().and_then(|h| h.headers.as_ref()) {
        Some(h) => headers(h).map_err(invalid)?,
        None => Vec::new(),
    };
    let limiter = match &cfg.rate_limit {
        Some(rl) => {
            let interval = rl.interval.map(|d| d.0).unwrap_or_default();
            let burst = rl.burst.unwrap_or(0);
            let burst = u32::try_from(burst)
                .map_err(|_| invalid(format!("rate_limit.burst: {burst} is out of range (0 to {})", u32::MAX)))?;
            if interval.is_zero() {
                None // exporter-toolkit: an interval of 0 disables the limiter
            } else {
                match previous {
                    Some(p) if p.interval == interval && p.burst == burst => Some(p.clone()),
                    _ => Some(Arc::new(RateLimiter::new(interval, burst))),
                }
            }
        }
        None => None,
    };
    Ok(Loaded { tls, users, headers: Arc::from(headers), limiter })
}

/// Reload bookkeeping: what to watch, and the last error logged (to log a repeated one at most once a minute).
#[derive(Debug, Default)]
struct ReloadState {
    touched: Touched,
    last_error: Option<(String, Instant)>,
}

/// How often the same reload error is logged at most.
const REPEAT_ERROR_LOG: Duration = Duration::from_secs(60);

/// The live web configuration, re-read when the file changes.
#[derive(Debug)]
pub struct WebConfigHandle {
    path: Option<PathBuf>,
    tls_at_start: bool,
    current: RwLock<Arc<Loaded>>,
    reload: Mutex<ReloadState>,
    cache: AuthCache,
    /// One bcrypt check at a time, as exporter-toolkit does: a flood of wrong passwords costs one core at most.
    bcrypt: tokio::sync::Semaphore,
}

impl WebConfigHandle {
    /// Loads `path` (or nothing, when `None`), failing on any invalid or unknown key, unreadable file, or unusable
    /// certificate.
    pub fn load(path: Option<&Path>) -> Result<Arc<Self>, WebConfigError> {
        let (loaded, touched) = match path {
            Some(p) => {
                let (res, touched) = load_files(p, None);
                (res?, touched)
            }
            None => (Loaded::empty(), Touched::default()),
        };
        if let Some(p) = path {
            tracing::info!(
                file = %p.display(),
                tls = loaded.tls.is_some(),
                basic_auth = !loaded.users.is_empty(),
                rate_limit = loaded.limiter.is_some(),
                "loaded web config"
            );
        }
        Ok(Arc::new(WebConfigHandle {
            path: path.map(Path::to_path_buf),
            tls_at_start: loaded.tls.is_some(),
            current: RwLock::new(Arc::new(loaded)),
            reload: Mutex::new(ReloadState { touched, last_error: None }),
            cache: AuthCache::default(),
            bcrypt: tokio::sync::Semaphore::new(1),
        }))
    }

    /// The config file's path, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn current(&self) -> Arc<Loaded> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The rustls server config when TLS was enabled at start-up; a new `Arc` after each successful reload.
    pub fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        if self.tls_at_start { self.current().tls.clone() } else { None }
    }

    /// Checks a request: the rate limit first, then basic auth on its `Authorization` header.
    ///
    /// A bcrypt check runs on the blocking pool, one at a time; successful checks are cached. An unknown user is
    /// checked against a dummy hash of the same cost, so timing does not reveal which users exist.
    pub async fn authorize(&self, authorization: Option<&HeaderValue>) -> AuthDecision {
        let cfg = self.current();
        if let Some(l) = &cfg.limiter
            && !l.allow()
        {
            return AuthDecision::RateLimited;
        }
        if cfg.users.is_empty() {
            return AuthDecision::Allowed;
        }
        let Some((user, password)) = authorization.and_then(|h| auth::parse_basic(h.as_bytes())) else {
            return AuthDecision::Denied;
        };
        // Known and unknown users take the same steps; only known users' successes are ever cached.
        let (hash, known) = cfg.users.lookup(&user);
        let key = AuthCache::key(&user, hash, &password);
        if self.cache.contains(&key) && known {
            return AuthDecision::Allowed;
        }
        let Ok(_permit) = self.bcrypt.acquire().await else { return AuthDecision::Denied };
        // Concurrent first requests with the same credentials: the one before us may have filled the cache.
        if self.cache.contains(&key) && known {
            return AuthDecision::Allowed;
        }
        let hash = hash.to_owned();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if ok && known {
            self.cache.insert(key);
            AuthDecision::Allowed
        } else {
            AuthDecision::Denied
        }
    }

    /// Extra response headers from `http_server_config.headers`.
    pub fn response_headers(&self) -> Arc<[(HeaderName, HeaderValue)]> {
        self.current().headers.clone()
    }

    /// Re-reads the file if it, or a certificate, key or CA file it names, changed since the last look. Returns
    /// whether a new configuration took effect. Cheap when nothing changed (one `stat` per watched file).
    ///
    /// An invalid new file keeps the previous configuration and logs one error line. A file that turns TLS on or
    /// off is refused in that respect: TLS on/off is decided at start-up.
    pub fn reload_if_changed(&self) -> bool {
        let Some(path) = &self.path else { return false };
        // Another request is reloading right now: it will swap in the result.
        let Ok(mut st) = self.reload.try_lock() else { return false };
        if !st.touched.changed() {
            return false;
        }
        let previous = self.current();
        let (res, touched) = load_files(path, previous.limiter.as_ref());
        st.touched = touched;
        let res = res.and_then(|mut new| {
            match (self.tls_at_start, new.tls.is_some()) {
                (true, false) => {
                    return Err(WebConfigError::Invalid {
                        path: path.clone(),
                        message: "TLS was enabled at start-up and the new file disables it; restart to serve plain \
                                  HTTP"
                            .to_owned(),
                    });
                }
                (false, true) => {
                    tracing::warn!(file = %path.display(), "web config now enables TLS: restart to serve TLS");
                    new.tls = None;
                }
                _ => {}
            }
            Ok(new)
        });
        match res {
            Ok(new) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
                st.last_error = None;
                tracing::info!(file = %path.display(), "reloaded web config");
                true
            }
            Err(e) => {
                let msg = e.to_string();
                let repeated = matches!(&st.last_error, Some((m, at)) if *m == msg && at.elapsed() < REPEAT_ERROR_LOG);
                if repeated {
                    tracing::debug!(error = %msg, "web config still invalid; keeping the previous configuration");
                } else {
                    tracing::error!(error = %msg, "web config not reloaded; keeping the previous configuration");
                    st.last_error = Some((msg, Instant::now()));
                }
                false
            }
        }
    }
}

/// Entry points for the fuzz targets in `crates/core/fuzz`; not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses web config text as a file's contents are parsed; `true` when valid.
    pub fn parse_config(text: &str) -> bool {
        super::file::parse(text).is_ok()
    }

    /// Parses text with the web config's YAML-subset parser alone; `true` when it is valid YAML of that subset.
    pub fn parse_yaml(text: &str) -> bool {
        super::yaml::parse(text).is_ok()
    }

    /// Parses text with the YAML-subset parser and deserializes the document into `T`, as the config file is (for
    /// differential tests against another YAML parser).
    pub fn parse_yaml_as<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
        let node = super::yaml::parse(text).map_err(|e| e.to_string())?;
        T::deserialize(node).map_err(|e| e.to_string())
    }

    /// The Subject Alternative Names of a DER certificate, as `client_allowed_sans` reads them.
    pub fn cert_sans(der: &[u8]) -> Option<Vec<String>> {
        super::san::subject_alt_names(der)
    }

    /// User and password from an `Authorization` header value.
    pub fn basic_auth(header: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        super::auth::parse_basic(header)
    }
}

#[cfg(test)]
mod tests;
