//! Redis addresses as redis_exporter accepts them: `redis://[user[:password]@]host[:port][/db]`, `rediss://…`
//! for TLS, `unix:///path/to/socket`, or a bare `host:port`.

use std::fmt;

use oxporter_core::server::percent_decode;

/// Where and how to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// How to reach the server.
    pub addr: Addr,
    /// Whether to speak TLS (`rediss://`).
    pub tls: bool,
    /// ACL user name from the URI, if any.
    pub user: Option<String>,
    /// Password from the URI, if any. Never printed.
    pub password: Option<String>,
    /// Database to `SELECT` after connecting (the URI path), if not 0.
    pub db: Option<u32>,
}

/// A TCP host and port, or a Unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// Host name or IP literal (without brackets) and port.
    Tcp {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket.
    Unix(String),
}

/// Why an address could not be used. Messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Empty address.
    #[error("empty address")]
    Empty,
    /// A scheme other than redis, rediss, valkey, valkeys or unix.
    #[error("unsupported scheme {0:?} (use redis://, rediss:// or unix://)")]
    Scheme(String),
    /// No host.
    #[error("missing host")]
    NoHost,
    /// The port is not a number from 1 to 65535.
    #[error("invalid port {0:?}")]
    Port(String),
    /// The path is not a database number.
    #[error("invalid database {0:?} in path")]
    Db(String),
}

impl Target {
    /// Parses an address. A missing scheme means `redis://`, a missing port 6379.
    pub fn parse(raw: &str) -> Result<Target, TargetError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(TargetError::Empty);
        }
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("redis".to_owned(), raw),
        };
        let tls = match scheme.as_str() {
            "redis" | "valkey" => false,
            "rediss" | "valkeys" => true,
            "unix" => {
                let path = rest.split(['?', '#']).next().unwrap_or_default();
                if path.is_empty() {
                    return Err(TargetError::NoHost);
                }
                return Ok(Target {
                    addr: Addr::Unix(path.to_owned()),
                    tls: false,
                    user: None,
                    password: None,
                    db: None,
                });
            }
            _ => return Err(TargetError::Scheme(scheme.chars().take(20).collect())),
        };
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                let u = percent_decode(u);
                (if u.is_empty() { None } else { Some(u) }, p.map(percent_decode).filter(|p| !p.is_empty()))
            }
        };
        let (host, port) = split_host_port(hostport)?;
        let db = match path.trim_matches('/') {
            "" => None,
            p => match p.parse::<u32>() {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => return Err(TargetError::Db(p.chars().take(20).collect())),
            },
        };
        Ok(Target { addr: Addr::Tcp { host, port }, tls, user, password, db })
    }

    /// The address without credentials, for logs and error messages: `redis://host:port`.
    pub fn redacted(&self) -> String {
        match &self.addr {
            Addr::Unix(p) => format!("unix://{p}"),
            Addr::Tcp { host, port } => {
                let scheme = if self.tls { "rediss" } else { "redis" };
                let user = self.user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
                let db = self.db.map(|d| format!("/{d}")).unwrap_or_default();
                format!("{scheme}://{user}{host}:{port}{db}")
            }
        }
    }

    /// The keys under which a `--redis.password-file` entry may list this target, most specific first:
    /// the address as given (credentials removed), with and without the user, with the default port spelled out.
    pub fn password_keys(&self, as_given: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let given = strip_password(as_given.trim());
        keys.push(given.clone());
        if !given.contains("://") {
            keys.push(format!("redis://{given}"));
        }
        if let Addr::Tcp { host, port } = &self.addr {
            let scheme = if self.tls { "rediss" } else { "redis" };
            let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
            if let Some(u) = &self.user {
                keys.push(format!("{scheme}://{u}@{host}:{port}"));
            }
            keys.push(format!("{scheme}://{host}:{port}"));
            if *port == 6379 {
                keys.push(format!("{scheme}://{host}"));
            }
        } else {
            keys.push(self.redacted());
        }
        keys.dedup();
        keys
    }
}

/// Removes a password from `scheme://user:password@host…`, keeping the user.
pub fn strip_password(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return strip_password(&format!("redis://{raw}")).trim_start_matches("redis://").to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let sep = if user.is_empty() { "" } else { "@" };
            format!("{scheme}://{user}{sep}{}{}", &authority[at + 1..], &rest[end..])
        }
        None => raw.to_owned(),
    }
}

fn split_host_port(hp: &str) -> Result<(String, u16), TargetError> {
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        let Some(close) = rest.find(']') else { return Err(TargetError::NoHost) };
        let host = &rest[..close];
        let after = &rest[close + 1..];
        (host, after.strip_prefix(':'))
    } else if hp.matches(':').count() > 1 {
        // A bare IPv6 literal without brackets: no port.
        (hp, None)
    } else {
        match hp.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    };
    if host.is_empty() {
        return Err(TargetError::NoHost);
    }
    let port = match port {
        None | Some("") => 6379,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(TargetError::Port(p.chars().take(10).collect())),
        },
    };
    Ok((host.to_owned(), port))
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Deliberately shows no password, so a stray `{:?}` cannot leak it.
        f.debug_struct("Target")
            .field("addr", &self.redacted())
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Addr {
        Addr::Tcp { host: host.into(), port }
    }

    #[test]
    fn parses_forms_redis_exporter_accepts() {
        let t = Target::parse("redis://localhost:6379").expect("valid");
        assert_eq!((t.addr, t.tls, t.db), (tcp("localhost", 6379), false, None));
        let t = Target::parse("127.0.0.1:7000").expect("valid");
        assert_eq!(t.addr, tcp("127.0.0.1", 7000));
        let t = Target::parse("rediss://bob:s%40cret@host/3").expect("valid");
        assert_eq!(
            (t.tls, t.user.as_deref(), t.password.as_deref(), t.db),
            (true, Some("bob"), Some("s@cret"), Some(3))
        );
        assert_eq!(t.addr, tcp("host", 6379));
        let t = Target::parse("redis://:pw@[::1]:6380").expect("valid");
        assert_eq!((t.addr, t.user, t.password.as_deref()), (tcp("::1", 6380), None, Some("pw")));
        let t = Target::parse("unix:///run/redis.sock").expect("valid");
        assert_eq!(t.addr, Addr::Unix("/run/redis.sock".into()));
        assert_eq!(Target::parse("valkey://h:1").map(|t| t.addr), Ok(tcp("h", 1)));
    }

    #[test]
    fn rejects_bad_addresses_without_echoing_secrets() {
        assert_eq!(Target::parse(""), Err(TargetError::Empty));
        assert!(matches!(Target::parse("http://x"), Err(TargetError::Scheme(_))));
        assert!(matches!(Target::parse("redis://u:hunter2@h:99999"), Err(TargetError::Port(_))));
        assert!(matches!(Target::parse("redis://u:hunter2@:1"), Err(TargetError::NoHost)));
        assert!(matches!(Target::parse("redis://h/abc"), Err(TargetError::Db(_))));
        let e = Target::parse("redis://u:hunter2@h:x").expect_err("bad port").to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn redaction() {
        let t = Target::parse("redis://bob:hunter2@h:1/2").expect("valid");
        assert_eq!(t.redacted(), "redis://bob@h:1/2");
        assert!(!format!("{t:?}").contains("hunter2"));
        assert_eq!(strip_password("redis://bob:hunter2@h:1/2"), "redis://bob@h:1/2");
        assert_eq!(strip_password("redis://:hunter2@h:1"), "redis://h:1");
        assert_eq!(strip_password("redis://h:1"), "redis://h:1");
    }

    #[test]
    fn password_file_keys() {
        let t = Target::parse("redis://h:6379").expect("valid");
        assert_eq!(t.password_keys("redis://h:6379"), vec!["redis://h:6379", "redis://h"]);
        let t = Target::parse("h:7000").expect("valid");
        assert_eq!(t.password_keys("h:7000"), vec!["h:7000", "redis://h:7000"]);
        let t = Target::parse("redis://bob@h:7000").expect("valid");
        assert_eq!(t.password_keys("redis://bob@h:7000"), vec!["redis://bob@h:7000", "redis://h:7000"]);
    }
}
