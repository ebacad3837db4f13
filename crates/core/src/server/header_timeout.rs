//! A bound on how long a client may take to send a request's headers, which leaves idle kept-alive connections
//! alone.
//!
//! A client that opens connections and sends each request's headers a byte at a time (slowloris) would otherwise
//! hold a task and a descriptor per connection for as long as it likes; the Go exporters set no such bound either.
//! hyper's own `header_read_timeout` starts as soon as a connection waits for its next request, so it would also
//! close the connection Prometheus keeps open between scrapes. This one starts at the first byte of a request and
//! ends at the blank line after its headers, as Go's `ReadHeaderTimeout` does on a kept-alive connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long a request's headers may take from their first byte to the blank line that ends them. A scrape's request
/// is a few hundred bytes sent at once.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The blank line that ends a request's headers.
const END: &[u8; 4] = b"\r\n\r\n";

/// Where a connection is in its current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests: no bound (Prometheus keeps its connection open between scrapes).
    Idle,
    /// Reading headers; how many bytes of [`END`] the bytes read so far end with.
    Headers(u8),
    /// Headers complete: the body, if any, and the handler. A response being written makes it [`State::Idle`].
    Request,
}

/// A stream whose reads fail with [`io::ErrorKind::TimedOut`] once a request's headers have taken longer than the
/// limit, which makes hyper close the connection.
pub(crate) struct HeaderTimeout<S> {
    inner: S,
    limit: Duration,
    state: State,
    /// Set while a request's headers are being read.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> HeaderTimeout<S> {
    pub(crate) fn new(inner: S, limit: Duration) -> Self {
        HeaderTimeout { inner, limit, state: State::Idle, deadline: None }
    }

    /// Follows the request through bytes just read. The bound is set when a read leaves the headers unfinished (a
    /// request that arrives whole in one read, as a scrape's does, never sets a timer).
    fn saw(state: &mut State, deadline: &mut Option<Pin<Box<tokio::time::Sleep>>>, limit: Duration, bytes: &[u8]) {
        for &b in bytes {
            let matched = match *state {
                State::Request => return,
                State::Idle => 0,
                State::Headers(m) => m,
            };
            let matched = if b == END[matched as usize] {
                matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if matched as usize == END.len() {
                *state = State::Request;
                *deadline = None;
                return;
            }
            *state = State::Headers(matched);
        }
        if matches!(state, State::Headers(_)) && deadline.is_none() {
            // The request's first bytes came in this read: its headers have `limit` from now.
            *deadline = Some(Box::pin(tokio::time::sleep(limit)));
        }
    }

    /// A response is being written: the request is over.
    fn responded(&mut self) {
        self.state = State::Idle;
        self.deadline = None;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeaderTimeout<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Polled whenever the connection waits for the rest of the headers, so the timer wakes it when it runs out.
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.deadline = None;
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request headers took too long")));
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = buf.filled().get(before..).unwrap_or_default();
            Self::saw(&mut this.state, &mut this.deadline, this.limit, new);
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeaderTimeout<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.responded();
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.responded();
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: Duration = Duration::from_millis(200);

    /// A client end and the server's end behind the bound.
    fn pair() -> (tokio::io::DuplexStream, HeaderTimeout<tokio::io::DuplexStream>) {
        let (client, server) = tokio::io::duplex(4096);
        (client, HeaderTimeout::new(server, LIMIT))
    }

    #[tokio::test]
    async fn headers_sent_too_slowly_end_the_connection() {
        let (mut client, mut server) = pair();
        client.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        let mut buf = [0u8; 1024];
        assert!(server.read(&mut buf).await.expect("first bytes") > 0);
        let start = std::time::Instant::now();
        // A byte now and then does not extend the bound.
        let trickle = tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if client.write_all(b"X").await.is_err() {
                    break;
                }
            }
            client
        });
        let err = loop {
            match server.read(&mut buf).await {
                Ok(0) => panic!("closed instead of timed out"),
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = start.elapsed();
        assert!(took >= LIMIT - Duration::from_millis(20) && took < Duration::from_secs(2), "{took:?}");
        drop(trickle.await);
    }

    #[tokio::test]
    async fn an_idle_connection_between_requests_is_left_alone() {
        let (mut client, mut server) = pair();
        let mut buf = [0u8; 1024];
        for _ in 0..2 {
            client.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
            assert!(server.read(&mut buf).await.expect("request") > 0);
            // Handling the request takes longer than the bound, then the answer goes out.
            tokio::time::sleep(LIMIT * 2).await;
            server.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.expect("respond");
            // Idle for longer than the bound: no error, nothing to read.
            let idle = tokio::time::timeout(LIMIT * 2, server.read(&mut buf)).await;
            assert!(idle.is_err(), "the idle connection was ended: {idle:?}");
        }
    }

    #[tokio::test]
    async fn the_end_of_the_headers_is_found_across_reads() {
        let (mut client, mut server) = pair();
        let mut buf = [0u8; 1024];
        for part in [&b"GET / HTTP/1.1\r\nHost: x\r"[..], b"\n\r", b"\n"] {
            client.write_all(part).await.expect("write");
            assert!(server.read(&mut buf).await.expect("read") > 0);
        }
        assert_eq!(server.state, State::Request);
        assert!(server.deadline.is_none());
        // A request read whole sets no timer at all.
        let (mut client, mut server) = pair();
        client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        assert!(server.read(&mut buf).await.expect("read") > 0);
        assert_eq!((server.state, server.deadline.is_none()), (State::Request, true));
        // "\r\r\n\r\n" ends headers too.
        let (mut client, mut server) = pair();
        client.write_all(b"GET / HTTP/1.1\r\nA: b\r\r\n\r\n").await.expect("write");
        assert!(server.read(&mut buf).await.expect("read") > 0);
        assert_eq!(server.state, State::Request);
    }
}
