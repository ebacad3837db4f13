//! A small async Redis client: TCP, TLS or Unix socket, AUTH (user and password), SELECT, and pipelining. Every
//! read and write is bounded by a deadline; a connection that failed once is not used again.

use std::time::Instant;

use oxporter_core::net::{Connection, Endpoint, NetError};
use oxporter_core::tls::{ClientTls, ClientTlsSettings};

use crate::resp::{self, ProtocolError, Scanner, Value};
use crate::target::{Addr, Target};

/// Replies larger than this (all replies of one pipeline together) end the connection: no Redis command the
/// exporter sends returns that much, so it is a broken or hostile peer.
pub const MAX_BUFFER: usize = 256 * 1024 * 1024;

/// Why talking to Redis failed. Messages never contain credentials: they name the redacted address.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, the TLS handshake, reading or writing failed or timed out, the server closed the connection,
    /// or a reply grew larger than [`MAX_BUFFER`].
    #[error(transparent)]
    Net(#[from] NetError),
    /// AUTH was refused.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// SELECT of the address's database was refused.
    #[error("selecting database: {0}")]
    Select(String),
    /// The server sent something that is not RESP.
    #[error("protocol: {0}")]
    Protocol(#[from] ProtocolError),
}

impl ClientError {
    /// A short, bounded name for the kind of failure: the value of the `err` label of
    /// `redis_exporter_last_scrape_error`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Net(NetError::Connect { .. }) => "connect",
            ClientError::Net(NetError::Tls { .. }) => "tls",
            ClientError::Auth(_) => "auth",
            ClientError::Select(_) => "select",
            ClientError::Net(NetError::Timeout { .. }) => "timeout",
            ClientError::Net(NetError::Io { .. } | NetError::Closed { .. }) => "io",
            ClientError::Protocol(_) | ClientError::Net(NetError::TooLarge { .. }) => "protocol",
        }
    }

    /// Whether the scrape deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Net(NetError::Timeout { .. }))
    }
}

/// One command: its arguments as bytes (key names need not be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd(pub Vec<Vec<u8>>);

impl Cmd {
    /// A command from text arguments.
    pub fn new<S: AsRef<[u8]>>(args: &[S]) -> Cmd {
        Cmd(args.iter().map(|a| a.as_ref().to_vec()).collect())
    }

    /// Adds an argument.
    pub fn arg(mut self, a: impl AsRef<[u8]>) -> Cmd {
        self.0.push(a.as_ref().to_vec());
        self
    }
}

/// The TLS configuration for `rediss://` targets, loaded when one is first scraped: loading the system's CA store
/// costs time and memory that an exporter which never speaks TLS should not pay. Flags that ask for TLS load it at
/// start-up instead ([`LazyTls::loaded`]), so their mistakes still stop the exporter there.
#[derive(Debug, Default)]
pub struct LazyTls {
    settings: ClientTlsSettings,
    loaded: std::sync::OnceLock<Result<ClientTls, String>>,
}

impl LazyTls {
    /// Loaded on first use from `settings`.
    pub fn new(settings: ClientTlsSettings) -> Self {
        LazyTls { settings, loaded: std::sync::OnceLock::new() }
    }

    /// Already loaded.
    pub fn loaded(settings: ClientTlsSettings, tls: ClientTls) -> Self {
        LazyTls { settings, loaded: std::sync::OnceLock::from(Ok(tls)) }
    }

    /// The configuration, or why it cannot be loaded (the same answer every time).
    pub fn get(&self) -> Result<&ClientTls, &str> {
        self.loaded.get_or_init(|| self.settings.load().map_err(|e| e.to_string())).as_ref().map_err(String::as_str)
    }
}

/// How to connect, besides the address.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// TLS for `rediss://` targets, with the name to verify server certificates against.
    pub tls: std::sync::Arc<LazyTls>,
    /// ACL user (overrides the address's).
    pub user: Option<String>,
    /// Password (overrides the address's). Never logged.
    pub password: Option<String>,
    /// `CLIENT SETNAME` value, sent in the same round trip as AUTH.
    pub client_name: Option<String>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

/// What a set-up command was, to name its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    Auth,
    Select,
    Name,
}

/// An open connection.
pub struct Conn {
    io: Connection,
    /// Bytes read; replies before `pos` are parsed already.
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    /// AUTH, SELECT and SETNAME, sent in front of the first pipeline (one round trip less per scrape); their
    /// failures are reported as [`ClientError::Auth`] and [`ClientError::Select`] by that first call.
    setup: Vec<(Setup, Cmd)>,
    /// Set once a call failed: replies may be pending or half read, so the connection must not be used again.
    /// `Some(true)` when it failed by timing out.
    broken: Option<bool>,
}

impl Conn {
    /// Connects before `deadline`. Authentication, the database and the connection name go out with the first
    /// [`Conn::pipeline`] (or [`Conn::query`]), whose result reports their failures.
    pub async fn connect(target: &Target, opts: &ConnectOptions, deadline: Instant) -> Result<Conn, ClientError> {
        let addr = target.redacted();
        let (endpoint, tls) = match &target.addr {
            Addr::Tcp { host, port } => {
                let tls = match target.tls {
                    false => None,
                    true => match opts.tls.get() {
                        Ok(tls) => Some(tls),
                        Err(why) => {
                            let source = std::io::Error::other(format!("no TLS configuration: {why}"));
                            return Err(NetError::Tls { addr, source }.into());
                        }
                    },
                };
                (Endpoint::Tcp { host, port: *port }, tls)
            }
            Addr::Unix(path) => (Endpoint::Unix(std::path::Path::new(path)), None),
        };
        let io = Connection::open(endpoint, tls, addr, deadline).await?;
        let user = opts.user.as_ref().or(target.user.as_ref());
        let password = opts.password.as_ref().or(target.password.as_ref());
        let mut setup = Vec::new();
        if let Some(pw) = password {
            setup.push((
                Setup::Auth,
                match user {
                    Some(u) => Cmd::new(&["AUTH", u.as_str(), pw.as_str()]),
                    None => Cmd::new(&["AUTH", pw.as_str()]),
                },
            ));
        }
        if let Some(db) = target.db {
            setup.push((Setup::Select, Cmd::new(&["SELECT".to_owned(), db.to_string()])));
        }
        if let Some(name) = &opts.client_name {
            setup.push((Setup::Name, Cmd::new(&["CLIENT", "SETNAME", name.as_str()])));
        }
        Ok(Conn { io, buf: Vec::with_capacity(16 * 1024), pos: 0, out: Vec::new(), setup, broken: None })
    }

    /// Sends `cmds` in one write and reads one reply per command. Error replies are returned as
    /// [`Value::Error`]; only transport and protocol failures are `Err`.
    pub async fn pipeline(&mut self, cmds: &[Cmd], deadline: Instant) -> Result<Vec<Value>, ClientError> {
        let addr = || self.io.addr().to_owned();
        match self.broken {
            Some(true) => return Err(NetError::Timeout { addr: addr() }.into()),
            Some(false) => return Err(NetError::Closed { addr: addr() }.into()),
            None => {}
        }
        let res = self.pipeline_inner(cmds, deadline).await;
        if let Err(e) = &res {
            self.broken = Some(e.is_timeout());
        }
        res
    }

    async fn pipeline_inner(&mut self, cmds: &[Cmd], deadline: Instant) -> Result<Vec<Value>, ClientError> {
        let setup = std::mem::take(&mut self.setup);
        self.out.clear();
        for c in setup.iter().map(|(_, c)| c).chain(cmds) {
            resp::encode_command(&mut self.out, &c.0);
        }
        self.io.write_all(&self.out, deadline).await?;
        for (kind, _) in &setup {
            match (kind, self.read_reply(deadline).await?) {
                (Setup::Auth, Value::Error(e)) => return Err(ClientError::Auth(e)),
                (Setup::Select, Value::Error(e)) => return Err(ClientError::Select(e)),
                (Setup::Name, Value::Error(e)) => tracing::debug!(error = %e, "CLIENT SETNAME failed"),
                _ => {}
            }
        }
        let mut replies = Vec::with_capacity(cmds.len());
        for _ in cmds {
            replies.push(self.read_reply(deadline).await?);
        }
        // Every reply of the pipeline is parsed: drop them from the buffer at once.
        self.buf.drain(..self.pos);
        self.pos = 0;
        Ok(replies)
    }

    /// Whether the server runs on this host (see [`Connection::same_host`]).
    pub fn same_host(&self) -> bool {
        self.io.same_host()
    }

    /// Whether no call has failed yet, so the connection can take more commands.
    pub fn usable(&self) -> bool {
        self.broken.is_none()
    }

    /// Sends one command and reads its reply.
    pub async fn query(&mut self, cmd: Cmd, deadline: Instant) -> Result<Value, ClientError> {
        let mut r = self.pipeline(std::slice::from_ref(&cmd), deadline).await?;
        r.pop().ok_or_else(|| NetError::Closed { addr: self.io.addr().to_owned() }.into())
    }

    async fn read_reply(&mut self, deadline: Instant) -> Result<Value, ClientError> {
        let mut scanner = Scanner::new();
        loop {
            let unread = self.buf.get(self.pos..).unwrap_or_default();
            if let Some(len) = scanner.frame_len(unread)? {
                let frame = unread.get(..len).unwrap_or_default();
                let (value, used) = resp::parse(frame)?.ok_or(ProtocolError::BadNumber)?;
                self.pos += used.max(len);
                return Ok(value);
            }
            self.io.read_more(&mut self.buf, MAX_BUFFER, deadline).await?;
        }
    }
}

#[cfg(test)]
mod lazy_tls_tests {
    use super::*;

    #[test]
    fn loaded_once_on_first_use() {
        let bad = LazyTls::new(ClientTlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..ClientTlsSettings::default()
        });
        let first = bad.get().expect_err("no such file").to_owned();
        assert!(first.contains("/nonexistent/ca.pem"), "{first}");
        assert_eq!(bad.get().expect_err("the same answer"), first);
        // The system's store (or an empty one, on a machine without CA certificates) loads.
        let system = LazyTls::new(ClientTlsSettings::default());
        assert!(std::ptr::eq(system.get().expect("loads"), system.get().expect("loads")));
    }
}
