//! A small async Redis client: TCP, TLS or Unix socket, AUTH (user and password), SELECT, and pipelining. Every
//! read and write is bounded by a deadline; a connection that failed once is not used again.

use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::resp::{self, ProtocolError, Scanner, Value};
use crate::target::{Addr, Target};

/// Replies larger than this (all replies of one pipeline together) end the connection: no Redis command the
/// exporter sends returns that much, so it is a broken or hostile peer.
pub const MAX_BUFFER: usize = 256 * 1024 * 1024;

/// Why talking to Redis failed. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP or Unix connect failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The redacted address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS handshake failed, or the server name is unusable.
    #[error("TLS with {addr}: {message}")]
    Tls {
        /// The redacted address.
        addr: String,
        /// Why.
        message: String,
    },
    /// AUTH was refused.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// SELECT of the address's database was refused.
    #[error("selecting database: {0}")]
    Select(String),
    /// The deadline passed.
    #[error("timed out")]
    Timeout,
    /// Reading or writing failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent something that is not RESP.
    #[error("protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// A reply larger than [`MAX_BUFFER`].
    #[error("reply too large")]
    TooLarge,
}

impl ClientError {
    /// A short, bounded name for the kind of failure: the value of the `err` label of
    /// `redis_exporter_last_scrape_error`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Connect { .. } => "connect",
            ClientError::Tls { .. } => "tls",
            ClientError::Auth(_) => "auth",
            ClientError::Select(_) => "select",
            ClientError::Timeout => "timeout",
            ClientError::Io(_) | ClientError::Closed => "io",
            ClientError::Protocol(_) | ClientError::TooLarge => "protocol",
        }
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

/// How to connect, besides the address.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// TLS configuration for `rediss://` targets.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Name to verify the server certificate against (default: the host).
    pub tls_server_name: Option<String>,
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
            .field("tls", &self.tls.is_some())
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open connection.
pub struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// Set once a call failed: replies may be pending or half read, so the connection must not be used again.
    /// `Some(true)` when it failed by timing out.
    broken: Option<bool>,
}

async fn within<T>(deadline: Instant, fut: impl Future<Output = T>) -> Result<T, ClientError> {
    tokio::time::timeout_at(deadline.into(), fut).await.map_err(|_| ClientError::Timeout)
}

impl Conn {
    /// Connects, authenticates, selects the database and names the connection, all before `deadline`.
    pub async fn connect(target: &Target, opts: &ConnectOptions, deadline: Instant) -> Result<Conn, ClientError> {
        let addr = target.redacted();
        let io: Box<dyn Io> = match &target.addr {
            Addr::Tcp { host, port } => {
                let tcp = within(deadline, tokio::net::TcpStream::connect((host.as_str(), *port)))
                    .await?
                    .map_err(|source| ClientError::Connect { addr: addr.clone(), source })?;
                let _ = tcp.set_nodelay(true);
                if target.tls {
                    let config = opts.tls.clone().ok_or_else(|| ClientError::Tls {
                        addr: addr.clone(),
                        message: "no TLS configuration".into(),
                    })?;
                    let name = opts.tls_server_name.clone().unwrap_or_else(|| host.clone());
                    let server_name = rustls_pki_types::ServerName::try_from(name)
                        .map_err(|e| ClientError::Tls { addr: addr.clone(), message: e.to_string() })?;
                    let tls = within(deadline, tokio_rustls::TlsConnector::from(config).connect(server_name, tcp))
                        .await?
                        .map_err(|e| ClientError::Tls { addr: addr.clone(), message: e.to_string() })?;
                    Box::new(tls)
                } else {
                    Box::new(tcp)
                }
            }
            #[cfg(unix)]
            Addr::Unix(path) => Box::new(
                within(deadline, tokio::net::UnixStream::connect(path))
                    .await?
                    .map_err(|source| ClientError::Connect { addr: addr.clone(), source })?,
            ),
            #[cfg(not(unix))]
            Addr::Unix(_) => {
                return Err(ClientError::Connect {
                    addr,
                    source: std::io::Error::new(std::io::ErrorKind::Unsupported, "unix sockets"),
                });
            }
        };
        let mut conn = Conn { io, buf: Vec::with_capacity(16 * 1024), out: Vec::new(), broken: None };

        // AUTH, SELECT and SETNAME go out in one round trip.
        let user = opts.user.clone().or_else(|| target.user.clone());
        let password = opts.password.clone().or_else(|| target.password.clone());
        let mut setup = Vec::new();
        if let Some(pw) = &password {
            setup.push(match &user {
                Some(u) => Cmd::new(&["AUTH", u.as_str(), pw.as_str()]),
                None => Cmd::new(&["AUTH", pw.as_str()]),
            });
        }
        if let Some(db) = target.db {
            setup.push(Cmd::new(&["SELECT".to_owned(), db.to_string()]));
        }
        if let Some(name) = &opts.client_name {
            setup.push(Cmd::new(&["CLIENT", "SETNAME", name.as_str()]));
        }
        if setup.is_empty() {
            return Ok(conn);
        }
        let replies = conn.pipeline(&setup, deadline).await?;
        let mut replies = replies.into_iter();
        if password.is_some()
            && let Some(Value::Error(e)) = replies.next()
        {
            return Err(ClientError::Auth(e));
        }
        if target.db.is_some()
            && let Some(Value::Error(e)) = replies.next()
        {
            return Err(ClientError::Select(e));
        }
        if let Some(Value::Error(e)) = replies.next() {
            tracing::debug!(error = %e, "CLIENT SETNAME failed");
        }
        Ok(conn)
    }

    /// Sends `cmds` in one write and reads one reply per command. Error replies are returned as
    /// [`Value::Error`]; only transport and protocol failures are `Err`.
    pub async fn pipeline(&mut self, cmds: &[Cmd], deadline: Instant) -> Result<Vec<Value>, ClientError> {
        match self.broken {
            Some(true) => return Err(ClientError::Timeout),
            Some(false) => return Err(ClientError::Closed),
            None => {}
        }
        let res = self.pipeline_inner(cmds, deadline).await;
        if let Err(e) = &res {
            self.broken = Some(matches!(e, ClientError::Timeout));
        }
        res
    }

    async fn pipeline_inner(&mut self, cmds: &[Cmd], deadline: Instant) -> Result<Vec<Value>, ClientError> {
        self.out.clear();
        for c in cmds {
            resp::encode_command(&mut self.out, &c.0);
        }
        within(deadline, self.io.write_all(&self.out)).await??;
        within(deadline, self.io.flush()).await??;
        let mut replies = Vec::with_capacity(cmds.len());
        for _ in cmds {
            replies.push(self.read_reply(deadline).await?);
        }
        Ok(replies)
    }

    /// Sends one command and reads its reply.
    pub async fn query(&mut self, cmd: Cmd, deadline: Instant) -> Result<Value, ClientError> {
        let mut r = self.pipeline(std::slice::from_ref(&cmd), deadline).await?;
        r.pop().ok_or(ClientError::Closed)
    }

    async fn read_reply(&mut self, deadline: Instant) -> Result<Value, ClientError> {
        let mut scanner = Scanner::new();
        loop {
            if let Some(len) = scanner.frame_len(&self.buf)? {
                let (value, used) = resp::parse(&self.buf[..len])?.ok_or(ProtocolError::BadNumber)?;
                self.buf.drain(..used.max(len));
                return Ok(value);
            }
            if self.buf.len() > MAX_BUFFER {
                return Err(ClientError::TooLarge);
            }
            let start = self.buf.len();
            self.buf.resize(start + 64 * 1024, 0);
            let n = match within(deadline, self.io.read(&mut self.buf[start..])).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    self.buf.truncate(start);
                    return Err(e.into());
                }
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(e);
                }
            };
            self.buf.truncate(start + n);
            if n == 0 {
                return Err(ClientError::Closed);
            }
        }
    }
}
