//! A minimal HTTP/1.0 GET for the AdminServer's JSON commands: one request per connection, reply read to EOF
//! under the size cap. HTTP/1.0 keeps the reply simple (no keep-alive, normally no chunking), and the parser
//! still copes with chunked bodies.

use std::time::Instant;

use super::{ClientError, Connector, MAX_REPLY};

/// An `http://` or `https://` URL split into what a GET needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Whether to use TLS.
    pub https: bool,
    /// `host:port` to connect to (port defaulted from the scheme).
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses `http[s]://host[:port][/path]`. User info (`user:pass@`) is refused: it would end up in logs.
    pub fn parse(url: &str) -> Result<Url, String> {
        let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!("URL must start with http:// or https://: {url:?}"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err("credentials in the URL are not supported".into());
        }
        if authority.is_empty() || authority.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("URL has no usable host: {url:?}"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("URL path has spaces or control characters: {url:?}"));
        }
        let has_port = match authority.rfind(']') {
            Some(close) => authority[close..].contains(':'),
            None => authority.contains(':'),
        };
        let authority =
            if has_port { authority.to_owned() } else { format!("{authority}:{}", if https { 443 } else { 80 }) };
        Ok(Url { https, authority, path: path.to_owned() })
    }

    /// The URL again, for messages.
    pub fn display(&self) -> String {
        format!("{}://{}{}", if self.https { "https" } else { "http" }, self.authority, self.path)
    }
}

/// A reply: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body, decoded as UTF-8 (lossily).
    pub body: String,
}

/// GETs `url` before `deadline`. HTTPS uses the connector's TLS settings, or a verifying default is not available,
/// so an `https://` URL without `--zk.tls.*` settings is an error.
pub async fn get(connector: &Connector, url: &Url, deadline: Instant) -> Result<Response, ClientError> {
    let tls = if url.https {
        Some(
            connector
                .tls_settings()
                .ok_or_else(|| ClientError::Http(format!("{}: https needs the --zk.tls.* flags", url.display())))?,
        )
    } else {
        None
    };
    let mut conn = connector.connect_as(&url.authority, tls, deadline).await?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: oxporter-zookeeper\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    );
    conn.write_all(request.as_bytes(), deadline).await?;
    let raw = conn.read_to_end(MAX_REPLY, deadline).await?;
    parse_response(&raw).map_err(|e| ClientError::Http(format!("{}: {e}", url.display())))
}

/// Parses a whole HTTP/1.x response.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let head_end = find(raw, b"\r\n\r\n").ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let body = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err("not an HTTP/1.x response".into());
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or("no status code")?;
    let mut chunked = false;
    let mut length: Option<usize> = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok();
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else {
        match length {
            Some(n) => body.get(..n).ok_or("body shorter than Content-Length")?.to_vec(),
            None => body.to_vec(),
        }
    };
    Ok(Response { status, body: String::from_utf8_lossy(&body).into_owned() })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or("truncated chunk header")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| "invalid chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        data = size.checked_add(2).and_then(|end| data.get(end..)).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://zk1:8080/commands").expect("valid");
        assert_eq!((u.https, u.authority.as_str(), u.path.as_str()), (false, "zk1:8080", "/commands"));
        let u = Url::parse("https://[::1]/x").expect("valid");
        assert_eq!((u.https, u.authority.as_str()), (true, "[::1]:443"));
        assert_eq!(Url::parse("http://h").expect("valid").authority, "h:80");
        assert!(Url::parse("ftp://h").is_err());
        assert!(Url::parse("http://user:pw@h:1/").is_err());
        assert!(Url::parse("http:///x").is_err());
        assert!(Url::parse("http://h/a b").is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk").expect("valid");
        assert_eq!((r.status, r.body.as_str()), (200, "{}"));
        let r = parse_response(b"HTTP/1.1 503 x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n1;x\r\n \r\n0\r\n\r\n")
            .expect("valid");
        assert_eq!((r.status, r.body.as_str()), (503, "{} "));
        let r = parse_response(b"HTTP/1.0 200 OK\r\n\r\nbody").expect("valid");
        assert_eq!(r.body, "body");
        assert!(parse_response(b"").is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{}").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for input in crate::parse::garbage::inputs() {
            let _ = parse_response(input.as_bytes());
            let _ = Url::parse(&input);
        }
    }
}
