//! Real sockets on loopback: plain TCP and Unix servers, and a rustls server with the test kit's certificates.

use std::sync::Arc;
use std::time::Duration;

use oxporter_testkit::tls::Pki;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;

use super::*;
use crate::tls::{ClientTlsSettings, provider, read_certs, read_private_key, root_store};

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

fn tcp(port: u16) -> Endpoint<'static> {
    Endpoint::Tcp { host: "127.0.0.1", port }
}

/// A listener on a free loopback port.
async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let port = l.local_addr().expect("local addr").port();
    (l, port)
}

/// Answers every connection by reading one request (up to 64 KiB) and writing `reply(request)`, then closing.
async fn serve<S, F>(stream: S, reply: F)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Fn(&[u8]) -> Vec<u8>,
{
    let mut stream = stream;
    let mut buf = vec![0; 64 * 1024];
    let Ok(n) = stream.read(&mut buf).await else { return };
    let _ = stream.write_all(&reply(&buf[..n])).await;
    let _ = stream.shutdown().await;
}

/// A plain TCP server that answers each request with `reply(request)`.
async fn plain_server(reply: fn(&[u8]) -> Vec<u8>) -> u16 {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve(s, reply));
        }
    });
    port
}

/// A TCP server that accepts and then says nothing, holding every connection open.
async fn silent_server() -> u16 {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    port
}

fn echo(req: &[u8]) -> Vec<u8> {
    [b"echo:".as_slice(), req].concat()
}

/// A rustls server with the test kit's server certificate that echoes one request per connection; with
/// `client_auth`, it demands a client certificate signed by the test kit's CA.
async fn tls_server(pki: &Pki, client_auth: bool) -> u16 {
    let provider = Arc::new(provider());
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().expect("versions");
    let builder = if client_auth {
        let roots = Arc::new(root_store(read_certs(&pki.ca_cert).expect("ca")).expect("roots"));
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider).build().expect("verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(read_certs(&pki.server_cert).expect("cert"), read_private_key(&pki.server_key).expect("key"))
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (l, port) = listener().await;
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    serve(tls, echo).await;
                }
            });
        }
    });
    port
}

/// Opens, sends `ping`, and reads the whole reply.
async fn exchange(endpoint: Endpoint<'_>, tls: Option<&ClientTls>, addr: &str) -> Result<Vec<u8>, NetError> {
    let deadline = soon(5000);
    let mut c = Connection::open(endpoint, tls, addr, deadline).await?;
    c.write_all(b"ping", deadline).await?;
    c.read_to_end(1024, deadline).await
}

fn client(pki: &Pki, f: impl FnOnce(&mut ClientTlsSettings)) -> ClientTls {
    let mut s = ClientTlsSettings { ca_file: Some(pki.ca_cert.clone()), ..Default::default() };
    f(&mut s);
    s.load().expect("client settings")
}

#[test]
fn endpoints() {
    let ep = |s| Endpoint::parse_host_port(s);
    assert_eq!(ep("zk1:2181"), Some(Endpoint::Tcp { host: "zk1", port: 2181 }));
    assert_eq!(ep("127.0.0.1:6379"), Some(Endpoint::Tcp { host: "127.0.0.1", port: 6379 }));
    assert_eq!(ep("[::1]:2181"), Some(Endpoint::Tcp { host: "::1", port: 2181 }));
    for bad in ["zk1", "::1", "[::1]", "[::1]2181", ":2181", "[]:1", "h:", "h:65536", "h:-1", "h:x", "[::1:1", ""] {
        assert_eq!(ep(bad), None, "{bad}");
    }
}

#[tokio::test]
async fn plain_request_and_reply() {
    let port = plain_server(echo).await;
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(exchange(tcp(port), None, &addr).await.expect("echo"), b"echo:ping");
    let parsed = Endpoint::parse_host_port(&addr).expect("host:port");
    assert_eq!(exchange(parsed, None, &addr).await.expect("echo"), b"echo:ping");
}

#[tokio::test]
async fn loopback_peers_are_on_this_host() {
    let port = plain_server(echo).await;
    let conn = Connection::open(tcp(port), None, "here", soon(2000)).await.expect("connects");
    assert!(conn.same_host());
}

#[tokio::test]
async fn refused_connection_names_the_address_only() {
    let (l, port) = listener().await;
    drop(l);
    // The caller shows a redacted form; that, and only that, is in the message.
    let shown = format!("redis://user@127.0.0.1:{port}");
    let e = Connection::open(tcp(port), None, shown.clone(), soon(5000)).await.expect_err("nothing listens");
    assert!(matches!(e, NetError::Connect { .. }), "{e:?}");
    assert_eq!(e.addr(), shown);
    assert!(e.to_string().starts_with(&format!("connecting to {shown}: ")), "{e}");
}

#[tokio::test]
async fn caps() {
    let port = plain_server(|_| vec![b'x'; 1000]).await;
    let addr = format!("127.0.0.1:{port}");
    let deadline = soon(5000);
    let mut c = Connection::open(tcp(port), None, &addr, deadline).await.expect("connect");
    c.write_all(b"big?", deadline).await.expect("write");
    let e = c.read_to_end(999, deadline).await.expect_err("one byte too many");
    assert!(matches!(e, NetError::TooLarge { limit: 999, .. }), "{e:?}");
    assert_eq!(e.to_string(), format!("reply from {addr} exceeds 999 bytes"));

    let mut c = Connection::open(tcp(port), None, &addr, deadline).await.expect("connect");
    c.write_all(b"big?", deadline).await.expect("write");
    assert_eq!(c.read_to_end(1000, deadline).await.expect("exactly the cap").len(), 1000);

    // read_more: reads until closed, refuses to grow beyond the cap.
    let mut c = Connection::open(tcp(port), None, &addr, deadline).await.expect("connect");
    c.write_all(b"big?", deadline).await.expect("write");
    let mut buf = Vec::new();
    let e = loop {
        match c.read_more(&mut buf, 500, deadline).await {
            Ok(n) => assert!(n > 0),
            Err(e) => break e,
        }
    };
    assert!(matches!(e, NetError::TooLarge { limit: 500, .. }), "{e:?}");
    assert!(buf.len() > 500 && buf.len() <= 1000, "{}", buf.len());

    let mut c = Connection::open(tcp(port), None, &addr, deadline).await.expect("connect");
    c.write_all(b"big?", deadline).await.expect("write");
    let mut buf = Vec::new();
    let e = loop {
        if let Err(e) = c.read_more(&mut buf, 1 << 20, deadline).await {
            break e;
        }
    };
    assert!(matches!(e, NetError::Closed { .. }), "{e:?}");
    assert_eq!(e.to_string(), format!("connection closed by {addr}"));
    assert_eq!(buf.len(), 1000);
}

#[tokio::test]
async fn silent_peers_cost_only_the_deadline() {
    let port = silent_server().await;
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    let mut c = Connection::open(tcp(port), None, &addr, soon(5000)).await.expect("connect");
    let e = c.read_to_end(100, soon(200)).await.expect_err("no reply");
    assert!(matches!(e, NetError::Timeout { .. }), "{e:?}");
    assert_eq!(e.to_string(), format!("{addr} did not answer before the scrape deadline"));
    let e = c.read_more(&mut Vec::new(), 100, soon(200)).await.expect_err("no reply");
    assert!(matches!(e, NetError::Timeout { .. }), "{e:?}");

    // A TLS handshake with a peer that never answers it.
    let pki = Pki::new();
    let e = Connection::open(tcp(port), Some(&client(&pki, |_| {})), &addr, soon(200)).await.expect_err("no hello");
    assert!(matches!(e, NetError::Timeout { .. }), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}

#[tokio::test]
async fn writes_are_bounded_too() {
    let port = silent_server().await;
    let addr = format!("127.0.0.1:{port}");
    let mut c = Connection::open(tcp(port), None, &addr, soon(5000)).await.expect("connect");
    // Far more than the socket buffers hold, to a peer that never reads.
    let big = vec![0u8; 64 << 20];
    let start = Instant::now();
    let e = c.write_all(&big, soon(300)).await.expect_err("peer never reads");
    assert!(matches!(e, NetError::Timeout { .. }), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}

#[tokio::test]
async fn tls_handshakes_with_a_real_server() {
    let pki = Pki::new();
    let port = tls_server(&pki, false).await;
    let addr = format!("127.0.0.1:{port}");
    let ok = |r: Result<Vec<u8>, NetError>| assert_eq!(r.expect("TLS echo"), b"echo:ping");

    // Verified against our CA, by IP (in the certificate's SANs), or by the name given instead.
    ok(exchange(tcp(port), Some(&client(&pki, |_| {})), &addr).await);
    ok(exchange(tcp(port), Some(&client(&pki, |s| s.server_name = Some("localhost".into()))), &addr).await);
    ok(exchange(Endpoint::Tcp { host: "localhost", port }, Some(&client(&pki, |_| {})), &addr).await);

    // A name the certificate does not have, or a CA that did not sign it: refused at the handshake.
    let wrong_name = client(&pki, |s| s.server_name = Some("redis.example".into()));
    let e = exchange(tcp(port), Some(&wrong_name), &addr).await.expect_err("wrong name");
    assert!(matches!(e, NetError::Tls { .. }), "{e:?}");
    assert!(e.to_string().starts_with(&format!("TLS handshake with {addr}: ")), "{e}");
    let other = Pki::new();
    let e = exchange(tcp(port), Some(&client(&other, |_| {})), &addr).await.expect_err("unknown CA");
    assert!(matches!(e, NetError::Tls { .. }), "{e:?}");
    // ... unless verification is skipped.
    ok(exchange(tcp(port), Some(&client(&other, |s| s.skip_verify = true)), &addr).await);
    ok(exchange(
        tcp(port),
        Some(&client(&other, |s| (s.skip_verify, s.server_name) = (true, Some("x".into())))),
        &addr,
    )
    .await);

    // An unusable server name fails before any byte is sent.
    let e = exchange(tcp(port), Some(&client(&pki, |s| s.server_name = Some("bad name!".into()))), &addr)
        .await
        .expect_err("bad name");
    assert!(matches!(&e, NetError::Tls { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput), "{e:?}");

    // Plain TCP to a TLS port: the server's alert is no reply.
    let plain = exchange(tcp(port), None, &addr).await;
    assert!(!matches!(plain, Ok(ref r) if r == b"echo:ping"), "{plain:?}");
}

#[tokio::test]
async fn tls_client_certificates() {
    let pki = Pki::new();
    let port = tls_server(&pki, true).await;
    let addr = format!("127.0.0.1:{port}");
    let with_cert = client(&pki, |s| {
        s.cert_file = Some(pki.client_cert.clone());
        s.key_file = Some(pki.client_key.clone());
    });
    assert_eq!(exchange(tcp(port), Some(&with_cert), &addr).await.expect("client cert accepted"), b"echo:ping");
    // Without one the server refuses: at the handshake (TLS 1.2) or at the first read (TLS 1.3).
    let e = exchange(tcp(port), Some(&client(&pki, |_| {})), &addr).await.expect_err("no client cert");
    assert!(matches!(e, NetError::Tls { .. } | NetError::Io { .. }), "{e:?}");
    // A client certificate from another CA is refused too.
    let other = Pki::new();
    let foreign = client(&pki, |s| {
        s.cert_file = Some(other.client_cert.clone());
        s.key_file = Some(other.client_key.clone());
    });
    assert!(exchange(tcp(port), Some(&foreign), &addr).await.is_err());
}

#[cfg(unix)]
#[tokio::test]
async fn unix_sockets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.sock");
    let l = tokio::net::UnixListener::bind(&path).expect("bind unix socket");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve(s, echo));
        }
    });
    let shown = format!("unix://{}", path.display());
    assert_eq!(exchange(Endpoint::Unix(&path), None, &shown).await.expect("unix echo"), b"echo:ping");
    assert!(Connection::open(Endpoint::Unix(&path), None, &shown, soon(2000)).await.expect("connects").same_host());

    let pki = Pki::new();
    let e = exchange(Endpoint::Unix(&path), Some(&client(&pki, |_| {})), &shown).await.expect_err("no TLS on unix");
    assert!(matches!(e, NetError::Tls { .. }), "{e:?}");
    let gone = dir.path().join("gone.sock");
    let e = exchange(Endpoint::Unix(&gone), None, "unix:///gone.sock").await.expect_err("no socket");
    assert!(matches!(e, NetError::Connect { .. }), "{e:?}");
    assert!(e.to_string().starts_with("connecting to unix:///gone.sock: "), "{e}");
}
