//! A tiny blocking HTTP/1.1 client for tests, and a `curl` wrapper for HTTPS.
//!
//! The plain-HTTP client speaks just enough HTTP/1.1 to talk to our exporters and to Prometheus: one `GET` per
//! connection (`Connection: close`), custom request headers, `Content-Length`, chunked and read-to-close bodies, and
//! gzip decoding. Every socket operation has a timeout, so a hung server fails the test instead of hanging it.
//!
//! TLS goes through the real `curl` binary ([`curl`]), which also proves interoperability with a client we did not
//! write.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bodies larger than this are refused (a runaway server must not exhaust the test's memory).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// The default timeout for connecting and for each read or write.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request failed.
#[derive(Debug)]
pub enum HttpError {
    /// The URL is not `http://host:port/path?query` (HTTPS goes through [`curl`]).
    Url(String),
    /// Connecting, writing or reading failed (including timeouts).
    Io(std::io::Error),
    /// The server's answer is not valid HTTP/1.x.
    Protocol(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Url(m) => write!(f, "bad URL: {m}"),
            HttpError::Io(e) => write!(f, "I/O: {e}"),
            HttpError::Protocol(m) => write!(f, "bad HTTP response: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<std::io::Error> for HttpError {
    fn from(e: std::io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header fields in the order received; names as sent (compare case-insensitively, or use [`Response::header`]).
    pub headers: Vec<(String, String)>,
    /// The body after transfer decoding (chunked) and content decoding (gzip).
    pub body: Vec<u8>,
    /// The body as it came over the wire after transfer decoding only (still gzipped when `Content-Encoding: gzip`).
    pub raw_body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every header named `name` (case-insensitive).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.body) {
            Ok(v) => v,
            Err(e) => panic!("response (HTTP {}) is not JSON: {e}\n{}", self.status, self.text()),
        }
    }
}

/// `GET url` with extra request headers and the [`DEFAULT_TIMEOUT`].
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
    get_with_timeout(url, headers, DEFAULT_TIMEOUT)
}

/// `GET url` that panics with a useful message when the request fails at the transport level (any status is
/// returned).
pub fn must_get(url: &str, headers: &[(&str, &str)]) -> Response {
    match get(url, headers) {
        Ok(r) => r,
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// `GET url` with extra request headers; `timeout` bounds connecting and every single read and write, and the
/// whole exchange is bounded by four times `timeout`.
pub fn get_with_timeout(url: &str, headers: &[(&str, &str)], timeout: Duration) -> Result<Response, HttpError> {
    let target = Target::parse(url)?;
    let mut stream = connect(&target.host, target.port, timeout)?;
    let mut req = format!("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", target.path, target.host_header);
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("user-agent") {
        req.push_str("User-Agent: oxporter-testkit\r\n");
    }
    for (k, v) in headers {
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err(HttpError::Url(format!("header {k:?} has a line break or colon")));
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.flush()?;
    read_response(stream, Instant::now() + timeout * 4)
}

/// Connects to `host:port` with `timeout` for the connection and for every read and write.
pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, HttpError> {
    let addrs: Vec<_> = (host, port).to_socket_addrs()?.collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => HttpError::Io(e),
        None => HttpError::Url(format!("{host}:{port} resolves to no address")),
    })
}

/// Reads one HTTP/1.x response from `stream` (used by [`get`]; public for tests that write raw requests).
pub fn read_response(stream: TcpStream, deadline: Instant) -> Result<Response, HttpError> {
    let mut r = BufReader::new(Deadlined { inner: stream, deadline });
    let status_line = read_line(&mut r)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Protocol(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Protocol(format!("status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut r)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').ok_or_else(|| HttpError::Protocol(format!("header line {line:?}")))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
        if headers.len() > 1000 {
            return Err(HttpError::Protocol("more than 1000 header fields".into()));
        }
    }
    let find = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
    let chunked = find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let raw_body = if chunked {
        read_chunked(&mut r)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(|_| HttpError::Protocol(format!("Content-Length {len:?}")))?;
        if len > MAX_BODY {
            return Err(HttpError::Protocol(format!("Content-Length {len} is over {MAX_BODY}")));
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        body
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else {
        let mut body = Vec::new();
        r.by_ref().take(MAX_BODY as u64 + 1).read_to_end(&mut body)?;
        if body.len() > MAX_BODY {
            return Err(HttpError::Protocol(format!("body over {MAX_BODY} bytes")));
        }
        body
    };
    let gzip = find("content-encoding").is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let body = if gzip { gunzip(&raw_body)? } else { raw_body.clone() };
    Ok(Response { status, headers, body, raw_body })
}

/// Decompresses a gzip stream (at most [`MAX_BODY`] bytes out).
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| HttpError::Protocol(format!("gzip body: {e}")))?;
    if out.len() > MAX_BODY {
        return Err(HttpError::Protocol(format!("gzip body expands past {MAX_BODY} bytes")));
    }
    Ok(out)
}

/// Percent-encodes a query component (everything but RFC 3986 unreserved characters).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of an `Authorization` header for HTTP basic auth.
pub fn basic_auth_header(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn read_line(r: &mut impl BufRead) -> Result<String, HttpError> {
    let mut buf = Vec::new();
    r.by_ref().take(64 * 1024).read_until(b'\n', &mut buf)?;
    if buf.last() != Some(&b'\n') {
        return Err(HttpError::Protocol(if buf.is_empty() {
            "connection closed before a complete response".into()
        } else {
            format!("line without end or over 64 KiB: {:?}", String::from_utf8_lossy(&buf))
        }));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|e| HttpError::Protocol(format!("non-UTF-8 line: {e}")))
}

fn read_chunked(r: &mut impl BufRead) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| HttpError::Protocol(format!("chunk size line {line:?}")))?;
        if size == 0 {
            // Trailer fields, up to the empty line.
            while !read_line(r)?.is_empty() {}
            return Ok(body);
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(HttpError::Protocol(format!("chunked body over {MAX_BODY} bytes")));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        if !read_line(r)?.is_empty() {
            return Err(HttpError::Protocol("chunk not followed by CRLF".into()));
        }
    }
}

/// A stream whose reads fail once an overall deadline has passed (the per-read timeout alone would let a server
/// that trickles one byte at a time hold a test forever).
struct Deadlined {
    inner: TcpStream,
    deadline: Instant,
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "response not complete before the deadline"));
        }
        self.inner.read(buf)
    }
}

struct Target {
    host: String,
    port: u16,
    host_header: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, HttpError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            HttpError::Url(format!("{url:?}: only http:// is supported here (use testkit::http::curl for https)"))
        })?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or_else(|| HttpError::Url(format!("{url:?}: unclosed [")))?;
            (h.to_owned(), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| HttpError::Url(format!("{url:?}: bad port {p:?}")))?,
            None => 80,
        };
        if host.is_empty() {
            return Err(HttpError::Url(format!("{url:?}: no host")));
        }
        Ok(Target { host, port, host_header: authority.to_owned(), path })
    }
}

/// What [`curl`] returns.
#[derive(Debug, Clone)]
pub struct CurlResponse {
    /// HTTP status, or 0 when no HTTP response was received (see `exit_code` and `stderr`).
    pub status: u16,
    /// The response body (decoded when `--compressed` is among the options).
    pub body: Vec<u8>,
    /// curl's exit code (0 on any completed HTTP exchange; e.g. 35 or 60 for TLS failures, 7 for refused).
    pub exit_code: i32,
    /// curl's error output.
    pub stderr: String,
}

impl CurlResponse {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Options for [`curl`].
#[derive(Debug, Clone, Default)]
pub struct CurlOptions {
    /// CA bundle that must have signed the server's certificate (`--cacert`).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key for mutual TLS (`--cert`, `--key`).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Basic auth user and password. Passed on curl's stdin config, never on its command line.
    pub basic_auth: Option<(String, String)>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Any further curl arguments (e.g. `--tlsv1.3`, `--compressed`).
    pub extra_args: Vec<String>,
    /// Overall time limit (`--max-time`); [`DEFAULT_TIMEOUT`] when `None`.
    pub timeout: Option<Duration>,
}

/// Runs the real `curl` binary for `url` (any scheme curl supports; meant for HTTPS). Panics if curl is missing
/// or cannot be run; transport failures are returned in `exit_code`/`stderr` so tests can assert on them.
pub fn curl(url: &str, opts: &CurlOptions) -> CurlResponse {
    let bin = crate::process::require_binary("curl", "curl");
    let timeout = opts.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let dir = crate::tempdir("curl");
    let body_path = dir.path().join("body");
    let mut cmd = Command::new(bin);
    cmd.arg("--silent")
        .arg("--show-error")
        .arg("--globoff")
        .arg("--max-time")
        .arg(format!("{:.3}", timeout.as_secs_f64()))
        .arg("--output")
        .arg(&body_path)
        .arg("--write-out")
        .arg("%{http_code}")
        // Read further options (the password) from stdin so they never show in `ps`.
        .arg("--config")
        .arg("-");
    if let Some(ca) = &opts.ca_file {
        cmd.arg("--cacert").arg(ca);
    }
    if let Some((cert, key)) = &opts.client_cert {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    for (k, v) in &opts.headers {
        cmd.arg("--header").arg(format!("{k}: {v}"));
    }
    cmd.args(&opts.extra_args).arg("--").arg(url);
    let mut config = String::new();
    if let Some((user, pass)) = &opts.basic_auth {
        config.push_str(&format!("user = \"{}:{}\"\n", curl_quote(user), curl_quote(pass)));
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("running curl for {url}: {e}"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A failed write shows up as curl's own error below.
        let _ = stdin.write_all(config.as_bytes());
    }
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => panic!("waiting for curl for {url}: {e}"),
    };
    let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
    CurlResponse {
        status,
        body: std::fs::read(&body_path).unwrap_or_default(),
        exit_code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn curl_quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves `reply` once on a fresh port and returns the URL and the request the client sent.
    fn serve_once(reply: &'static [u8]) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut req = Vec::new();
            let mut buf = [0; 1024];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(reply).expect("write");
            String::from_utf8_lossy(&req).into_owned()
        });
        (format!("http://127.0.0.1:{port}/a/b?x=1"), h)
    }

    #[test]
    fn content_length_and_headers() {
        let (url, h) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
        let r = get(&url, &[("Accept", "text/plain")]).expect("get");
        assert_eq!((r.status, r.text().as_str(), r.header("content-type")), (200, "hello", Some("text/plain")));
        let req = h.join().expect("server");
        assert!(req.starts_with("GET /a/b?x=1 HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("\r\nAccept: text/plain\r\n"), "{req}");
    }

    #[test]
    fn chunked() {
        let (url, _h) = serve_once(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        );
        let r = get(&url, &[]).expect("get");
        assert_eq!((r.status, r.text().as_str()), (404, "abcde"));
    }

    #[test]
    fn gzip_body() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"metric 1\n").expect("gzip");
        let z = enc.finish().expect("gzip");
        let mut reply =
            format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", z.len()).into_bytes();
        reply.extend_from_slice(&z);
        let (url, _h) = serve_once(Box::leak(reply.into_boxed_slice()));
        let r = get(&url, &[("Accept-Encoding", "gzip")]).expect("get");
        assert_eq!(r.text(), "metric 1\n");
        assert_eq!(r.raw_body, z);
    }

    #[test]
    fn read_to_close_and_errors() {
        let (url, _h) = serve_once(b"HTTP/1.0 200 OK\r\n\r\nuntil close");
        assert_eq!(get(&url, &[]).expect("get").text(), "until close");
        let (url, _h) = serve_once(b"garbage\r\n\r\n");
        assert!(matches!(get(&url, &[]), Err(HttpError::Protocol(_))));
        let (url, _h) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
        assert!(get(&url, &[]).is_err());
        assert!(matches!(get("https://127.0.0.1:1/", &[]), Err(HttpError::Url(_))));
    }

    #[test]
    fn url_forms() {
        let t = Target::parse("http://[::1]:9100").expect("parse");
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("::1", 9100, "/"));
        let t = Target::parse("http://localhost?a=b").expect("parse");
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("localhost", 80, "/?a=b"));
        assert_eq!(url_encode("up{job=\"a b\"}"), "up%7Bjob%3D%22a%20b%22%7D");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(basic_auth_header("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }
}
