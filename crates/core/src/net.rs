//! Network I/O bounded by the scrape deadline, for exporters that talk to their targets over TCP, TLS or a Unix
//! socket.
//!
//! [`Connection::open`] connects (and does the TLS handshake) before a deadline; its reads and writes take the
//! deadline too, and reads are capped in size, so a slow, silent or flooding peer costs at most the scrape's time
//! and a bounded amount of memory. Every [`NetError`] names the address it was given to show: callers pass a form
//! without credentials (a redacted URL, `host:port`), and nothing else of the target reaches a message.

use std::path::Path;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::tls::ClientTls;

/// How much a read asks for at once.
const READ_CHUNK: usize = 64 * 1024;

/// Why talking to a target failed. `addr` is the address as the caller showed it (never with credentials).
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The TCP or Unix socket connection could not be made.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS handshake failed, or the TLS server name is unusable.
    #[error("TLS handshake with {addr}: {source}")]
    Tls {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The deadline passed while connecting, reading or writing.
    #[error("{addr} did not answer before the scrape deadline")]
    Timeout {
        /// The address.
        addr: String,
    },
    /// Reading or writing failed.
    #[error("talking to {addr}: {source}")]
    Io {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The peer closed the connection while a reply was still expected.
    #[error("connection closed by {addr}")]
    Closed {
        /// The address.
        addr: String,
    },
    /// The reply grew beyond the caller's cap.
    #[error("reply from {addr} exceeds {limit} bytes")]
    TooLarge {
        /// The address.
        addr: String,
        /// The cap, in bytes.
        limit: usize,
    },
}

impl NetError {
    /// The address the error is about.
    pub fn addr(&self) -> &str {
        match self {
            NetError::Connect { addr, .. }
            | NetError::Tls { addr, .. }
            | NetError::Timeout { addr }
            | NetError::Io { addr, .. }
            | NetError::Closed { addr }
            | NetError::TooLarge { addr, .. } => addr,
        }
    }
}

/// Where to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// TCP to a host (DNS name, IPv4 or IPv6 address without brackets) and port. With TLS, the host is also the
    /// name the server certificate is checked against, unless the TLS settings override it.
    Tcp {
        /// The host.
        host: &'a str,
        /// The port.
        port: u16,
    },
    /// A Unix domain socket (never with TLS).
    Unix(&'a Path),
}

impl<'a> Endpoint<'a> {
    /// A TCP endpoint from `host:port` or `[v6]:port`; `None` without a port, with an invalid one, or with an empty
    /// host.
    pub fn parse_host_port(addr: &'a str) -> Option<Endpoint<'a>> {
        let (host, port) = match addr.strip_prefix('[') {
            Some(rest) => {
                let (host, after) = rest.split_once(']')?;
                (host, after.strip_prefix(':')?)
            }
            None => {
                let (host, port) = addr.rsplit_once(':')?;
                // A bare IPv6 address has colons but no port.
                if host.contains(':') {
                    return None;
                }
                (host, port)
            }
        };
        let port = port.parse().ok()?;
        (!host.is_empty()).then_some(Endpoint::Tcp { host, port })
    }
}

/// A byte stream to a target: TCP, TLS over TCP, or a Unix socket.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Runs `fut` until `deadline`; [`NetError::Timeout`] naming `addr` if the deadline comes first.
pub async fn within<T>(addr: &str, deadline: Instant, fut: impl Future<Output = T>) -> Result<T, NetError> {
    tokio::time::timeout_at(deadline.into(), fut).await.map_err(|_| NetError::Timeout { addr: addr.to_owned() })
}

/// An open connection that knows the address to name in its errors. Every operation takes the deadline it must
/// finish by.
pub struct Connection {
    stream: Box<dyn Stream>,
    addr: String,
    same_host: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `endpoint` before `deadline`, with TLS when `tls` is given (TCP only), naming `addr` in errors.
    /// TCP connections have Nagle's algorithm off: requests are written whole and wait for their reply.
    pub async fn open(
        endpoint: Endpoint<'_>,
        tls: Option<&ClientTls>,
        addr: impl Into<String>,
        deadline: Instant,
    ) -> Result<Connection, NetError> {
        let addr = addr.into();
        let mut same_host = true;
        let stream: Box<dyn Stream> = match endpoint {
            Endpoint::Tcp { host, port } => {
                let tcp = within(&addr, deadline, tokio::net::TcpStream::connect((host, port)))
                    .await?
                    .map_err(|source| NetError::Connect { addr: addr.clone(), source })?;
                // Best effort: only a latency matter.
                let _ = tcp.set_nodelay(true);
                same_host = match (tcp.peer_addr(), tcp.local_addr()) {
                    (Ok(peer), Ok(local)) => peer.ip().is_loopback() || peer.ip() == local.ip(),
                    _ => false,
                };
                match tls {
                    None => Box::new(tcp),
                    Some(tls) => {
                        let name =
                            tls.server_name_for(host).map_err(|source| NetError::Tls { addr: addr.clone(), source })?;
                        let connector = tokio_rustls::TlsConnector::from(tls.config().clone());
                        let stream = within(&addr, deadline, connector.connect(name, tcp))
                            .await?
                            .map_err(|source| NetError::Tls { addr: addr.clone(), source })?;
                        Box::new(stream)
                    }
                }
            }
            Endpoint::Unix(path) => {
                if tls.is_some() {
                    let source = std::io::Error::new(std::io::ErrorKind::Unsupported, "TLS over a Unix socket");
                    return Err(NetError::Tls { addr, source });
                }
                connect_unix(path, &addr, deadline).await?
            }
        };
        Ok(Connection { stream, addr, same_host })
    }

    /// The address named in errors.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the peer runs on this host: a Unix socket, or a TCP peer at a loopback address or at the address
    /// the connection left from (the host's own). Round trips to it cross no network, and it shares the CPUs.
    pub fn same_host(&self) -> bool {
        self.same_host
    }

    fn io(&self, source: std::io::Error) -> NetError {
        NetError::Io { addr: self.addr.clone(), source }
    }

    /// Writes all of `data` and flushes it (TLS buffers records) before `deadline`.
    pub async fn write_all(&mut self, data: &[u8], deadline: Instant) -> Result<(), NetError> {
        let stream = &mut self.stream;
        let written = within(&self.addr, deadline, async move {
            stream.write_all(data).await?;
            stream.flush().await
        })
        .await?;
        written.map_err(|e| self.io(e))
    }

    /// Appends what the peer sends next to `buf` (into its spare capacity, nothing zeroed first) before
    /// `deadline`, and returns how many bytes came. [`NetError::TooLarge`] when `buf` already holds more than
    /// `limit` bytes, [`NetError::Closed`] when the peer has closed the connection.
    pub async fn read_more(&mut self, buf: &mut Vec<u8>, limit: usize, deadline: Instant) -> Result<usize, NetError> {
        if buf.len() > limit {
            return Err(NetError::TooLarge { addr: self.addr.clone(), limit });
        }
        buf.reserve(READ_CHUNK);
        let n = within(&self.addr, deadline, self.stream.read_buf(buf)).await?.map_err(|e| self.io(e))?;
        if n == 0 {
            return Err(NetError::Closed { addr: self.addr.clone() });
        }
        Ok(n)
    }

    /// Reads until the peer closes the connection, at most `limit` bytes, before `deadline`.
    pub async fn read_to_end(&mut self, limit: usize, deadline: Instant) -> Result<Vec<u8>, NetError> {
        let mut buf = Vec::new();
        // One byte more than allowed tells a reply of exactly `limit` bytes from a longer one.
        let mut capped = (&mut self.stream).take(limit as u64 + 1);
        match within(&self.addr, deadline, capped.read_to_end(&mut buf)).await? {
            Ok(_) => {}
            // A TLS peer that closes without close_notify has still sent its whole reply.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
            Err(e) => return Err(self.io(e)),
        }
        if buf.len() > limit {
            return Err(NetError::TooLarge { addr: self.addr.clone(), limit });
        }
        Ok(buf)
    }
}

#[cfg(unix)]
async fn connect_unix(path: &Path, addr: &str, deadline: Instant) -> Result<Box<dyn Stream>, NetError> {
    let stream = within(addr, deadline, tokio::net::UnixStream::connect(path))
        .await?
        .map_err(|source| NetError::Connect { addr: addr.to_owned(), source })?;
    Ok(Box::new(stream))
}

#[cfg(not(unix))]
async fn connect_unix(_: &Path, addr: &str, _: Instant) -> Result<Box<dyn Stream>, NetError> {
    let source = std::io::Error::new(std::io::ErrorKind::Unsupported, "Unix sockets");
    Err(NetError::Connect { addr: addr.to_owned(), source })
}

#[cfg(test)]
mod tests;
