//! Talking to ZooKeeper: four-letter words over the client port (plain or TLS) and GET requests to the
//! AdminServer. Every step is bounded by the scrape deadline and every reply by a size cap.

pub mod http;
pub mod tls;

use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest reply read from a server. mntr of a busy server with many namespaces is tens of KiB.
pub const MAX_REPLY: usize = 4 * 1024 * 1024;

/// Why a request to a server failed. Messages name the address, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be made.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("talking to {addr}: {source}")]
    Io {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {addr}: {source}")]
    Tls {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The deadline passed.
    #[error("{addr} did not answer before the scrape deadline")]
    Timeout {
        /// Address.
        addr: String,
    },
    /// The reply exceeded [`MAX_REPLY`].
    #[error("reply from {addr} exceeds {MAX_REPLY} bytes")]
    TooLarge {
        /// Address.
        addr: String,
    },
    /// An HTTP reply could not be understood, or the URL is unusable.
    #[error("{0}")]
    Http(String),
}

/// A byte stream to a server, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Opens connections, with TLS when configured.
#[derive(Clone, Default)]
pub struct Connector {
    tls: Option<Arc<tls::TlsSettings>>,
    client_port_tls: bool,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("tls", &self.tls.is_some())
            .field("client_port_tls", &self.client_port_tls)
            .finish()
    }
}

impl Connector {
    /// Plain TCP everywhere.
    pub fn plain() -> Self {
        Connector::default()
    }

    /// TLS settings for HTTPS AdminServers, and for the client ports too when `client_port_tls`.
    pub fn new(tls: Option<Arc<tls::TlsSettings>>, client_port_tls: bool) -> Self {
        Connector { client_port_tls: client_port_tls && tls.is_some(), tls }
    }

    /// Connects to the client port `addr` (`host:port`), plain or with TLS as configured, before `deadline`.
    pub async fn connect(&self, addr: &str, deadline: Instant) -> Result<Box<dyn Stream>, ClientError> {
        let tls = if self.client_port_tls { self.tls.as_deref() } else { None };
        self.connect_as(addr, tls, deadline).await
    }

    /// Connects with TLS if `tls` is given (the AdminServer may use HTTPS while the client port does not).
    pub async fn connect_as(
        &self,
        addr: &str,
        tls: Option<&tls::TlsSettings>,
        deadline: Instant,
    ) -> Result<Box<dyn Stream>, ClientError> {
        let timeout = || ClientError::Timeout { addr: addr.to_owned() };
        let tcp = tokio::time::timeout_at(deadline.into(), TcpStream::connect(addr))
            .await
            .map_err(|_| timeout())?
            .map_err(|source| ClientError::Connect { addr: addr.to_owned(), source })?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = tls else { return Ok(Box::new(tcp)) };
        let name = tls.server_name(addr).map_err(|e| ClientError::Tls {
            addr: addr.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        })?;
        let stream = tokio::time::timeout_at(deadline.into(), tls.connector().connect(name, tcp))
            .await
            .map_err(|_| timeout())?
            .map_err(|source| ClientError::Tls { addr: addr.to_owned(), source })?;
        Ok(Box::new(stream))
    }

    /// The TLS settings, if any.
    pub fn tls_settings(&self) -> Option<&tls::TlsSettings> {
        self.tls.as_deref()
    }

    /// Sends a four-letter word and returns the whole reply (the server closes the connection after it).
    pub async fn four_letter_word(&self, addr: &str, word: &str, deadline: Instant) -> Result<String, ClientError> {
        let mut stream = self.connect(addr, deadline).await?;
        let io = |source| ClientError::Io { addr: addr.to_owned(), source };
        tokio::time::timeout_at(deadline.into(), stream.write_all(word.as_bytes()))
            .await
            .map_err(|_| ClientError::Timeout { addr: addr.to_owned() })?
            .map_err(io)?;
        let bytes = read_to_end_capped(&mut stream, addr, deadline).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Reads until EOF, at most [`MAX_REPLY`] bytes, before `deadline`.
pub async fn read_to_end_capped(
    stream: &mut (impl AsyncRead + Unpin + ?Sized),
    addr: &str,
    deadline: Instant,
) -> Result<Vec<u8>, ClientError> {
    let mut buf = Vec::new();
    let mut limited = stream.take(MAX_REPLY as u64 + 1);
    let read = tokio::time::timeout_at(deadline.into(), limited.read_to_end(&mut buf))
        .await
        .map_err(|_| ClientError::Timeout { addr: addr.to_owned() })?;
    match read {
        Ok(_) => {}
        // A TLS peer that closes without close_notify still sent a whole reply.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(source) => return Err(ClientError::Io { addr: addr.to_owned(), source }),
    }
    if buf.len() > MAX_REPLY {
        return Err(ClientError::TooLarge { addr: addr.to_owned() });
    }
    Ok(buf)
}
