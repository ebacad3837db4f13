//! The real server against clients that are slow on purpose: a request whose headers never finish is cut off
//! after the header timeout (10 s), while a kept-alive connection idle for longer than that keeps working.

// Test helpers may panic on broken fixtures.
#![allow(clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use oxporter_core::server::serve_listeners;
use oxporter_core::webconfig::WebConfigHandle;

/// Starts the server on a thread of its own (it runs until the test process ends) and returns its port.
fn start() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let cfg = common::server_config(port, None);
    let web = WebConfigHandle::load(None).expect("no web config");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(serve_listeners(cfg, web, vec![listener], std::future::pending::<()>())).expect("serve");
    });
    oxporter_testkit::ports::wait_for_port(port, Duration::from_secs(10), "oxporter test server");
    port
}

/// Sends a scrape on `conn` and reads the whole response; returns its status line and body.
fn scrape(conn: &mut TcpStream) -> (String, String) {
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").expect("send request");
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).expect("read response");
        assert!(n > 0, "connection closed before the response was complete");
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let head = text[..end].to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().expect("content-length"))
            .expect("a content-length (the body is small)");
        if data.len() >= end + 4 + len {
            let status = head.lines().next().unwrap_or_default().to_owned();
            return (status, text[end + 4..end + 4 + len].to_owned());
        }
    }
}

#[test]
fn unfinished_headers_are_cut_off_but_idle_connections_kept() {
    let port = start();
    let mut kept = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (status, body) = scrape(&mut kept);
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("test_up 1"), "{body}");

    // A client that starts a request and never finishes its headers.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nX-Slow: ").expect("send part of a request");
    let start = Instant::now();
    let mut buf = [0u8; 256];
    let read = slow.read(&mut buf);
    let took = start.elapsed();
    assert!(matches!(read, Ok(0)) || read.is_err(), "expected the connection closed, got {read:?}");
    assert!(took >= Duration::from_secs(9) && took < Duration::from_secs(20), "closed after {took:?}");

    // The first connection sat idle all that time (longer than the header timeout) and still serves.
    let (status, body) = scrape(&mut kept);
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("test_up 1"), "{body}");
}
