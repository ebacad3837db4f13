//! The Redis wire protocol: RESP2 replies, the RESP3 types a proxy or a `HELLO 3` connection may send, and command
//! encoding. Pure functions over bytes, so they are tested (and fuzzed) apart from any I/O.
//!
//! Reading works in two steps: [`Scanner`] finds where one complete reply ends without allocating (resuming where
//! it stopped when more bytes arrive, so a large reply costs linear time), then [`parse`] turns that frame into a
//! [`Value`].

/// Deepest nesting of aggregates accepted; Redis itself never nests more than a few levels.
pub const MAX_DEPTH: usize = 64;
/// Largest single bulk string accepted (Redis's own `proto-max-bulk-len` default).
pub const MAX_BULK: usize = 512 * 1024 * 1024;

/// One reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Null bulk string, null array or RESP3 null.
    Nil,
    /// An integer.
    Int(i64),
    /// A simple string, bulk string, verbatim string or big number (raw bytes).
    Str(Vec<u8>),
    /// An error reply (`-ERR ...` or a RESP3 blob error).
    Error(String),
    /// A RESP3 double.
    Double(f64),
    /// A RESP3 boolean.
    Bool(bool),
    /// An array, set or push message.
    Array(Vec<Value>),
    /// A RESP3 map.
    Map(Vec<(Value, Value)>),
}

impl Value {
    /// The value as text, for string-like replies (lossy for invalid UTF-8).
    pub fn as_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Str(b) => Some(String::from_utf8_lossy(b)),
            _ => None,
        }
    }

    /// The value as an integer: integer replies, or strings holding one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a float: numbers, or strings holding one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            Value::Str(b) => parse_go_float(std::str::from_utf8(b).ok()?),
            _ => None,
        }
    }

    /// The elements of an array reply; a map is flattened to key, value, key, value (as RESP2 sends maps).
    pub fn into_items(self) -> Option<Vec<Value>> {
        match self {
            Value::Array(v) => Some(v),
            Value::Map(pairs) => Some(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
            _ => None,
        }
    }

    /// The elements of an array reply, borrowed.
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }
}

/// Parses a float the way Go's `strconv.ParseFloat` accepts it for the values Redis sends (`1.5`, `-3`, `inf`,
/// `nan`, `1e3`); anything else is `None`.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.bytes().any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'_'))) {
        return None;
    }
    match t.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" => return Some(if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if t.contains('_') {
        return None;
    }
    t.parse().ok()
}

/// Why a reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A type byte that is not part of RESP2 or RESP3.
    #[error("unknown reply type byte 0x{0:02x}")]
    UnknownType(u8),
    /// A length or integer that is not a number, or out of range.
    #[error("invalid length or number in reply header")]
    BadNumber,
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("reply nested too deeply")]
    TooDeep,
    /// A bulk string larger than [`MAX_BULK`].
    #[error("bulk string too large")]
    TooLarge,
    /// A bulk string not followed by CRLF.
    #[error("bulk string without CRLF terminator")]
    MissingCrlf,
    /// Streamed (`?`-length) aggregates are not supported.
    #[error("streamed replies are not supported")]
    Streamed,
}

/// Finds the end of one complete reply in a growing buffer, resuming where the last call stopped.
#[derive(Debug, Default, Clone)]
pub struct Scanner {
    pos: usize,
    /// Elements still expected by each open aggregate, innermost last.
    open: Vec<u64>,
}

impl Scanner {
    /// A scanner at the start of a buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the length of the first complete reply in `buf` once all of it is there, `None` while more bytes
    /// are needed. `buf` must only grow between calls (and start afresh with a new scanner after a frame).
    pub fn frame_len(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        loop {
            let Some(line_end) = find_crlf(buf, self.pos) else { return Ok(None) };
            let Some(&kind) = buf.get(self.pos) else { return Ok(None) };
            let header = buf.get(self.pos + 1..line_end).unwrap_or_default();
            let mut next = line_end + 2;
            let mut children: u64 = 0;
            match kind {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
                b'$' | b'!' | b'=' => {
                    if let Some(len) = bulk_len(header)? {
                        let end =
                            next.checked_add(len).and_then(|e| e.checked_add(2)).ok_or(ProtocolError::TooLarge)?;
                        if buf.len() < end {
                            return Ok(None);
                        }
                        next = end;
                    }
                }
                b'*' | b'~' | b'>' => children = agg_len(header)?,
                b'%' => children = agg_len(header)?.checked_mul(2).ok_or(ProtocolError::BadNumber)?,
                // An attribute map precedes the value it describes; count that value as one more element.
                b'|' => {
                    children = agg_len(header)?
                        .checked_mul(2)
                        .and_then(|n| n.checked_add(1))
                        .ok_or(ProtocolError::BadNumber)?
                }
                other => return Err(ProtocolError::UnknownType(other)),
            }
            self.pos = next;
            if children > 0 {
                if self.open.len() >= MAX_DEPTH {
                    return Err(ProtocolError::TooDeep);
                }
                self.open.push(children);
                continue;
            }
            // One element finished: close every aggregate it completes.
            loop {
                match self.open.last_mut() {
                    None => return Ok(Some(self.pos)),
                    Some(n) => {
                        *n -= 1;
                        if *n > 0 {
                            break;
                        }
                        self.open.pop();
                    }
                }
            }
        }
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    rest.windows(2).position(|w| w == b"\r\n").map(|i| from + i)
}

fn parse_int(header: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(header).ok().and_then(|s| s.parse().ok()).ok_or(ProtocolError::BadNumber)
}

/// A bulk header's length, `None` for the null bulk string.
fn bulk_len(header: &[u8]) -> Result<Option<usize>, ProtocolError> {
    if header == b"?" {
        return Err(ProtocolError::Streamed);
    }
    match parse_int(header)? {
        -1 => Ok(None),
        n if n < 0 => Err(ProtocolError::BadNumber),
        n if n as u64 > MAX_BULK as u64 => Err(ProtocolError::TooLarge),
        n => Ok(Some(n as usize)),
    }
}

/// An aggregate header's element count; a null array counts as no elements.
fn agg_len(header: &[u8]) -> Result<u64, ProtocolError> {
    if header == b"?" {
        return Err(ProtocolError::Streamed);
    }
    match parse_int(header)? {
        -1 => Ok(0),
        n if n < 0 => Err(ProtocolError::BadNumber),
        n => Ok(n as u64),
    }
}

/// Parses one complete reply from the start of `buf`, returning it and the number of bytes it used, or `None`
/// if `buf` holds only part of it.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(v) => Ok(Some((v, pos))),
        None => Ok(None),
    }
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Value>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::TooDeep);
    }
    let start = *pos;
    let Some(line_end) = find_crlf(buf, start) else { return Ok(None) };
    let Some(&kind) = buf.get(start) else { return Ok(None) };
    let header = buf.get(start + 1..line_end).unwrap_or_default();
    *pos = line_end + 2;
    let value = match kind {
        b'+' | b'(' => Value::Str(header.to_vec()),
        b'-' => Value::Error(String::from_utf8_lossy(header).into_owned()),
        b':' => Value::Int(parse_int(header)?),
        b'_' => Value::Nil,
        b',' => {
            Value::Double(std::str::from_utf8(header).ok().and_then(parse_go_float).ok_or(ProtocolError::BadNumber)?)
        }
        b'#' => Value::Bool(header == b"t"),
        b'$' | b'!' | b'=' => match bulk_len(header)? {
            None => Value::Nil,
            Some(len) => {
                let end = pos.checked_add(len).ok_or(ProtocolError::TooLarge)?;
                let Some(body) = buf.get(*pos..end) else { return Ok(None) };
                match buf.get(end..end + 2) {
                    None => return Ok(None),
                    Some(b"\r\n") => {}
                    Some(_) => return Err(ProtocolError::MissingCrlf),
                }
                *pos = end + 2;
                match kind {
                    b'!' => Value::Error(String::from_utf8_lossy(body).into_owned()),
                    // Verbatim strings start with a three-letter format and a colon ("txt:").
                    b'=' if body.get(3) == Some(&b':') => Value::Str(body.get(4..).unwrap_or_default().to_vec()),
                    _ => Value::Str(body.to_vec()),
                }
            }
        },
        b'*' | b'~' | b'>' => {
            if header == b"-1" {
                Value::Nil
            } else {
                let n = agg_len(header)?;
                // Never trust a length for allocation: each element needs at least 3 bytes.
                let mut items = Vec::with_capacity((n as usize).min(buf.len() / 3 + 1));
                for _ in 0..n {
                    match parse_at(buf, pos, depth + 1)? {
                        Some(v) => items.push(v),
                        None => return Ok(None),
                    }
                }
                Value::Array(items)
            }
        }
        b'%' => {
            let n = agg_len(header)?;
            let mut pairs = Vec::with_capacity((n as usize).min(buf.len() / 6 + 1));
            for _ in 0..n {
                let Some(k) = parse_at(buf, pos, depth + 1)? else { return Ok(None) };
                let Some(v) = parse_at(buf, pos, depth + 1)? else { return Ok(None) };
                pairs.push((k, v));
            }
            Value::Map(pairs)
        }
        b'|' => {
            let n = agg_len(header)?;
            for _ in 0..n.saturating_mul(2) {
                if parse_at(buf, pos, depth + 1)?.is_none() {
                    return Ok(None);
                }
            }
            return parse_at(buf, pos, depth + 1);
        }
        other => return Err(ProtocolError::UnknownType(other)),
    };
    Ok(Some(value))
}

/// Appends `args` as one RESP command (an array of bulk strings).
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(buf: &[u8]) -> Value {
        let mut sc = Scanner::new();
        assert_eq!(sc.frame_len(buf), Ok(Some(buf.len())), "scanner on {:?}", String::from_utf8_lossy(buf));
        let (v, used) = parse(buf).expect("valid").expect("complete");
        assert_eq!(used, buf.len());
        v
    }

    #[test]
    fn resp2_types() {
        assert_eq!(full(b"+OK\r\n"), Value::Str(b"OK".to_vec()));
        assert_eq!(full(b"-ERR nope\r\n"), Value::Error("ERR nope".into()));
        assert_eq!(full(b":-42\r\n"), Value::Int(-42));
        assert_eq!(full(b"$5\r\nhe\r\no\r\n"), Value::Str(b"he\r\no".to_vec()));
        assert_eq!(full(b"$-1\r\n"), Value::Nil);
        assert_eq!(full(b"*-1\r\n"), Value::Nil);
        assert_eq!(full(b"*0\r\n"), Value::Array(vec![]));
        assert_eq!(
            full(b"*2\r\n*1\r\n:1\r\n$1\r\nx\r\n"),
            Value::Array(vec![Value::Array(vec![Value::Int(1)]), Value::Str(b"x".to_vec())])
        );
    }

    #[test]
    fn resp3_types() {
        assert_eq!(full(b"_\r\n"), Value::Nil);
        assert_eq!(full(b",1.5\r\n"), Value::Double(1.5));
        assert_eq!(full(b",inf\r\n"), Value::Double(f64::INFINITY));
        assert_eq!(full(b"#t\r\n"), Value::Bool(true));
        assert_eq!(full(b"=7\r\ntxt:abc\r\n"), Value::Str(b"abc".to_vec()));
        assert_eq!(full(b"!3\r\nERR\r\n"), Value::Error("ERR".into()));
        assert_eq!(full(b"(123\r\n"), Value::Str(b"123".to_vec()));
        assert_eq!(full(b"%1\r\n+k\r\n:1\r\n"), Value::Map(vec![(Value::Str(b"k".to_vec()), Value::Int(1))]));
        assert_eq!(full(b"~1\r\n:1\r\n"), Value::Array(vec![Value::Int(1)]));
        assert_eq!(full(b"|1\r\n+a\r\n+b\r\n:7\r\n"), Value::Int(7));
    }

    #[test]
    fn incomplete_input_resumes() {
        let reply = b"*3\r\n$3\r\nfoo\r\n:12\r\n*2\r\n+a\r\n$1\r\nb\r\n";
        let mut sc = Scanner::new();
        for cut in 0..reply.len() {
            assert_eq!(sc.frame_len(&reply[..cut]), Ok(None), "cut at {cut}");
            assert_eq!(parse(&reply[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(sc.frame_len(reply), Ok(Some(reply.len())));
    }

    #[test]
    fn pipelined_frames() {
        let buf = b"+OK\r\n:1\r\n";
        let mut sc = Scanner::new();
        assert_eq!(sc.frame_len(buf), Ok(Some(5)));
        let (v, used) = parse(buf).expect("valid").expect("complete");
        assert_eq!((v, used), (Value::Str(b"OK".to_vec()), 5));
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        for bad in [&b"?x\r\n"[..], b"$abc\r\n", b"$-5\r\n", b"*-7\r\n", b"$99999999999999999999\r\n", b"*?\r\n"] {
            assert!(Scanner::new().frame_len(bad).is_err(), "{bad:?}");
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse(b"$1\r\nxyz"), Err(ProtocolError::MissingCrlf));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert_eq!(Scanner::new().frame_len(deep.as_bytes()), Err(ProtocolError::TooDeep));
        assert_eq!(parse(deep.as_bytes()), Err(ProtocolError::TooDeep));
        // A huge claimed array length allocates nothing up front.
        assert_eq!(parse(b"*4000000000\r\n:1\r\n"), Ok(None));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678_u64;
        for _ in 0..5000 {
            let len = (seed % 40) as usize;
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let pick = b"*$:+-%|~_,#!=(\r\n0123-?x";
                buf.push(pick[(seed >> 33) as usize % pick.len()]);
            }
            let _ = parse(&buf);
            let _ = Scanner::new().frame_len(&buf);
        }
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode_command(&mut out, &["SET", "k", ""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn go_floats() {
        assert_eq!(parse_go_float("1.5"), Some(1.5));
        assert_eq!(parse_go_float("-3"), Some(-3.0));
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_go_float("nan").is_some_and(f64::is_nan));
        assert_eq!(parse_go_float("12ab"), None);
        assert_eq!(parse_go_float(""), None);
        assert_eq!(parse_go_float("1 2"), None);
    }
}
