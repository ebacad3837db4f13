//! Talking to ZooKeeper: four-letter words over the client port (plain or TLS) and GET requests to the
//! AdminServer. Every step is bounded by the scrape deadline and every reply by a size cap.

pub mod http;

use std::time::Instant;

use oxporter_core::net::{Connection, Endpoint, NetError};
use oxporter_core::tls::ClientTls;

/// Largest reply read from a server. mntr of a busy server with many namespaces is tens of KiB.
pub const MAX_REPLY: usize = 4 * 1024 * 1024;

/// Why a request to a server failed. Messages name the address, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, the TLS handshake, reading or writing failed, timed out, or the reply exceeded [`MAX_REPLY`].
    #[error(transparent)]
    Net(#[from] NetError),
    /// An HTTP reply could not be understood, or the URL is unusable.
    #[error("{0}")]
    Http(String),
}

/// Opens connections, with TLS when configured.
#[derive(Debug, Clone, Default)]
pub struct Connector {
    tls: Option<ClientTls>,
    client_port_tls: bool,
}

impl Connector {
    /// Plain TCP everywhere.
    pub fn plain() -> Self {
        Connector::default()
    }

    /// TLS settings for HTTPS AdminServers, and for the client ports too when `client_port_tls`.
    pub fn new(tls: Option<ClientTls>, client_port_tls: bool) -> Self {
        Connector { client_port_tls: client_port_tls && tls.is_some(), tls }
    }

    /// Connects to the client port `addr` (`host:port`), plain or with TLS as configured, before `deadline`.
    pub async fn connect(&self, addr: &str, deadline: Instant) -> Result<Connection, ClientError> {
        let tls = if self.client_port_tls { self.tls.as_ref() } else { None };
        self.connect_as(addr, tls, deadline).await
    }

    /// Connects to `addr` (`host:port` or `[v6]:port`) with TLS if `tls` is given (the AdminServer may use HTTPS
    /// while the client port does not).
    pub async fn connect_as(
        &self,
        addr: &str,
        tls: Option<&ClientTls>,
        deadline: Instant,
    ) -> Result<Connection, ClientError> {
        let endpoint = Endpoint::parse_host_port(addr).ok_or_else(|| NetError::Connect {
            addr: addr.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "expected host:port"),
        })?;
        Ok(Connection::open(endpoint, tls, addr, deadline).await?)
    }

    /// The TLS settings, if any.
    pub fn tls_settings(&self) -> Option<&ClientTls> {
        self.tls.as_ref()
    }

    /// Sends a four-letter word and returns the whole reply (the server closes the connection after it).
    pub async fn four_letter_word(&self, addr: &str, word: &str, deadline: Instant) -> Result<String, ClientError> {
        let mut conn = self.connect(addr, deadline).await?;
        conn.write_all(word.as_bytes(), deadline).await?;
        let bytes = conn.read_to_end(MAX_REPLY, deadline).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
