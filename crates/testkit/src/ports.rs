//! Free loopback ports that stay free long enough for a server to take them.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port nobody listens on, never handed out twice by this process.
///
/// The kernel picks it (bind to port 0), so other processes on the machine are avoided; remembering what we handed
/// out avoids races between tests of this process that start servers at the same time.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(l) = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) else {
            continue;
        };
        let Ok(addr) = l.local_addr() else { continue };
        let port = addr.port();
        let mut guard = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no free loopback port after 100 tries")
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`, or panics after `timeout` with `what` in the
/// message.
pub fn wait_for_port(port: u16, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within {timeout:?}")
}
