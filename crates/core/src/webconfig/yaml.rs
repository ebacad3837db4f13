//! A small parser for the YAML subset web config files are written in, and a serde `Deserializer` over its tree.
//!
//! Supported: block mappings and sequences (any consistent indentation), flow `[..]` and `{..}` (also over several
//! lines), plain, single- and double-quoted scalars, `|` and `>` block scalars with `-`/`+` chomping and an
//! indentation digit, `#` comments, one document with optional `---` and `...`. Refused with an error that names
//! the line: anchors, aliases, tags, directives, complex keys, several documents, tabs as indentation, multi-line
//! plain scalars. Errors never quote the input, so they cannot leak a secret.
//!
//! Scalars keep their text; the `Deserializer` types a plain scalar only when asked for a number or a boolean (or
//! for "anything"), so a number-looking user name or a hash is still a string, as with Go's yaml.v2.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

/// Deepest nesting of collections accepted (real files use 3).
const MAX_DEPTH: usize = 64;

/// A parsed YAML node. Mapping keys are strings, in file order, without duplicates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// An empty value, `~` or `null`.
    Null,
    /// A scalar; `plain` when it was written without quotes or block indicator (so it may be a number or bool).
    Scalar { text: String, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping.
    Map(Vec<(String, Node)>),
}

/// A syntax error: 1-based line and a message that does not quote the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: u64,
    pub msg: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

/// Parses one YAML document. An empty document is [`Node::Null`].
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized;
    let src = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n");
        normalized.as_str()
    } else {
        text
    };
    let mut p = Parser { src: src.as_bytes(), pos: 0, depth: 0 };
    p.document()
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
}

type R<T> = Result<T, SyntaxError>;

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

const NULLS: [&str; 5] = ["", "~", "null", "Null", "NULL"];

fn plain(text: String) -> Node {
    if NULLS.contains(&text.as_str()) { Node::Null } else { Node::Scalar { text, plain: true } }
}

impl Parser<'_> {
    fn err<T>(&self, msg: &'static str) -> R<T> {
        self.err_at(self.pos, msg)
    }

    fn err_at<T>(&self, pos: usize, msg: &'static str) -> R<T> {
        let upto = self.src.get(..pos).unwrap_or(self.src);
        let line = 1 + upto.iter().filter(|&&b| b == b'\n').count() as u64;
        Err(SyntaxError { line, msg })
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n'))
    }

    /// Whether the byte at `off` ends a token: whitespace, end of line or of input.
    fn sep_at(&self, off: usize) -> bool {
        matches!(self.peek_at(off), None | Some(b' ' | b'\t' | b'\n'))
    }

    fn text(&self, from: usize, to: usize) -> R<String> {
        match self.src.get(from..to).map(std::str::from_utf8) {
            Some(Ok(s)) => Ok(s.to_owned()),
            _ => self.err_at(from, "invalid UTF-8"),
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { self.err("nested too deeply") } else { Ok(()) }
    }

    /// Skips blank and comment-only lines from the start of a line; leaves the cursor on the first non-space byte
    /// of the next content line and returns its indentation, or `None` at the end of input.
    fn next_content_line(&mut self) -> R<Option<usize>> {
        loop {
            let start = self.pos;
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            let indent = self.pos - start;
            while self.peek().is_some_and(is_blank) {
                self.pos += 1;
            }
            match self.peek() {
                None => return Ok(None),
                Some(b'\n') => self.pos += 1,
                Some(b'#') => self.skip_to_eol(),
                Some(_) if self.pos != start + indent => return self.err("tabs are not allowed for indentation"),
                Some(_) => return Ok(Some(indent)),
            }
        }
    }

    fn skip_to_eol(&mut self) {
        while !self.at_eol() {
            self.pos += 1;
        }
    }

    /// After a value: only blanks and a comment may follow on the line. Moves to the start of the next line.
    fn end_of_line(&mut self) -> R<()> {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
        let after_blank = self.pos == 0 || self.src.get(self.pos - 1).is_some_and(|&b| is_blank(b) || b == b'\n');
        if self.peek() == Some(b'#') && after_blank {
            self.skip_to_eol();
        }
        match self.peek() {
            None => Ok(()),
            Some(b'\n') => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => self.err("unexpected text after a value"),
        }
    }

    /// `---` or `...` at the start of a line (the cursor is at column 0).
    fn marker(&self, m: &[u8]) -> bool {
        self.src.get(self.pos..self.pos + 3) == Some(m) && self.sep_at(3)
    }

    fn document(&mut self) -> R<Node> {
        let mut indent = self.next_content_line()?;
        if indent == Some(0) && self.peek() == Some(b'%') {
            return self.err("directives are not supported");
        }
        if indent == Some(0) && self.marker(b"---") {
            self.pos += 3;
            self.end_of_line()?;
            indent = self.next_content_line()?;
        }
        let node = match indent {
            None => Node::Null,
            Some(0) if self.marker(b"...") || self.marker(b"---") => Node::Null,
            Some(n) => self.block(n, -1)?,
        };
        let mut rest = self.next_content_line()?;
        if rest == Some(0) && self.marker(b"...") {
            self.pos += 3;
            self.end_of_line()?;
            rest = self.next_content_line()?;
        }
        match rest {
            None => Ok(node),
            Some(0) if self.marker(b"---") => self.err("several documents are not supported"),
            Some(_) => self.err("unexpected content (check the indentation)"),
        }
    }

    /// A node whose first byte is under the cursor at column `indent`, inside a block at `parent` indentation.
    fn block(&mut self, indent: usize, parent: isize) -> R<Node> {
        if self.peek() == Some(b'-') && self.sep_at(1) {
            self.seq(indent)
        } else if self.key_ahead()? {
            self.map(indent)
        } else {
            let node = self.inline(parent)?;
            self.end_of_line()?;
            Ok(node)
        }
    }

    /// Whether the current line, from the cursor, is `key: ...`.
    fn key_ahead(&mut self) -> R<bool> {
        let save = self.pos;
        let found = match self.peek() {
            Some(b'"' | b'\'') => {
                let r = self.quoted();
                while self.peek().is_some_and(is_blank) {
                    self.pos += 1;
                }
                r.is_ok() && self.peek() == Some(b':') && self.sep_at(1)
            }
            Some(b'[' | b'{' | b'#') => false,
            Some(b'?') if self.sep_at(1) => return self.err("complex keys (? ) are not supported"),
            _ => self.plain_key_end().is_some(),
        };
        self.pos = save;
        Ok(found)
    }

    /// End of a plain key on this line: the position of the `:` followed by a blank or the end of line.
    fn plain_key_end(&self) -> Option<usize> {
        let mut i = self.pos;
        while let Some(&b) = self.src.get(i) {
            match b {
                b'\n' => return None,
                b'#' if i > self.pos && self.src.get(i - 1).copied().is_some_and(is_blank) => return None,
                b':' if matches!(self.src.get(i + 1), None | Some(b' ' | b'\t' | b'\n')) => return Some(i),
                _ => i += 1,
            }
        }
        None
    }

    fn key(&mut self) -> R<String> {
        let key = match self.peek() {
            Some(b'"' | b'\'') => match self.quoted()? {
                Node::Scalar { text, .. } => text,
                _ => String::new(),
            },
            _ => {
                let start = self.pos;
                self.check_plain_start()?;
                let Some(end) = self.plain_key_end() else { return self.err("expected `key: value`") };
                self.pos = end;
                let key = self.text(start, end)?.trim_end().to_owned();
                if NULLS.contains(&key.as_str()) {
                    return self.err_at(start, "mapping keys must be strings (quote a ~ or null key)");
                }
                key
            }
        };
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
        if self.peek() != Some(b':') {
            return self.err("expected `:` after a key");
        }
        self.pos += 1;
        Ok(key)
    }

    fn check_plain_start(&self) -> R<()> {
        match self.peek() {
            Some(b'&') => self.err("anchors (&) are not supported"),
            Some(b'*') => self.err("aliases (*) are not supported"),
            Some(b'!') => self.err("tags (!) are not supported"),
            Some(b'?') if self.sep_at(1) => self.err("complex keys (? ) are not supported"),
            Some(b'%' | b'@' | b'`' | b',' | b']' | b'}' | b'|' | b'>' | b'[' | b'{' | b'#') => {
                self.err("a plain value cannot start with one of , [ ] { } | > # % @ ` (quote it)")
            }
            Some(b':') if self.sep_at(1) => self.err("empty key"),
            _ => Ok(()),
        }
    }

    fn map(&mut self, indent: usize) -> R<Node> {
        self.enter()?;
        let mut entries: Vec<(String, Node)> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let key_pos = self.pos;
            if self.peek() == Some(b'-') && self.sep_at(1) {
                return self.err("expected `key: value`, found a list item");
            }
            let key = self.key()?;
            if !seen.insert(key.clone()) {
                return self.err_at(key_pos, "duplicate key");
            }
            while self.peek().is_some_and(is_blank) {
                self.pos += 1;
            }
            let value = if self.at_eol() || self.peek() == Some(b'#') {
                self.end_of_line()?;
                self.nested_value(indent, true)?
            } else {
                let v = self.inline(indent as isize)?;
                self.end_of_line()?;
                v
            };
            entries.push((key, value));
            match self.next_content_line()? {
                Some(n) if n == indent && !(n == 0 && (self.marker(b"---") || self.marker(b"..."))) => {}
                Some(n) if n > indent => return self.err("unexpected indentation"),
                Some(n) => {
                    // Back to the start of the line, for the enclosing block.
                    self.pos -= n;
                    break;
                }
                None => break,
            }
        }
        self.depth -= 1;
        Ok(Node::Map(entries))
    }

    /// The value of a key or item with nothing after it on its line: a more indented block below it (or, for a
    /// key, a list at the key's own indentation), else null. Leaves the cursor at the next content line.
    fn nested_value(&mut self, indent: usize, is_key: bool) -> R<Node> {
        let line_start = self.pos;
        match self.next_content_line()? {
            Some(n) if n > indent => self.block(n, indent as isize),
            Some(n) if is_key && n == indent && self.peek() == Some(b'-') && self.sep_at(1) => self.seq(n),
            _ => {
                self.pos = line_start;
                Ok(Node::Null)
            }
        }
    }

    fn seq(&mut self, indent: usize) -> R<Node> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            // The cursor is on the `-`.
            self.pos += 1;
            let mut col = indent + 1;
            while self.peek() == Some(b' ') {
                self.pos += 1;
                col += 1;
            }
            if self.peek() == Some(b'\t') {
                return self.err("tabs are not allowed for indentation");
            }
            let item = if self.at_eol() || self.peek() == Some(b'#') {
                self.end_of_line()?;
                self.nested_value(indent, false)?
            } else {
                // `- key: value` and `- - item` start a block at the item's column.
                self.block(col, indent as isize)?
            };
            items.push(item);
            match self.next_content_line()? {
                Some(n) if n == indent && self.peek() == Some(b'-') && self.sep_at(1) => {}
                Some(n) if n > indent => return self.err("unexpected indentation"),
                Some(n) => {
                    self.pos -= n;
                    break;
                }
                None => break,
            }
        }
        self.depth -= 1;
        Ok(Node::Seq(items))
    }

    /// A value that starts on the current line: flow collection, quoted, block or plain scalar.
    fn inline(&mut self, parent: isize) -> R<Node> {
        match self.peek() {
            Some(b'[' | b'{') => self.flow(),
            Some(b'"' | b'\'') => self.quoted(),
            Some(b'|' | b'>') => self.block_scalar(parent),
            Some(b'-') if self.sep_at(1) => self.err("a list item cannot start here (check the indentation)"),
            _ => {
                self.check_plain_start()?;
                let start = self.pos;
                let mut end = start;
                while let Some(b) = self.peek() {
                    match b {
                        b'\n' => break,
                        b'#' if self.pos > start && self.src.get(self.pos - 1).copied().is_some_and(is_blank) => break,
                        b':' if self.sep_at(1) => return self.err("unexpected `: ` in a value (quote the value)"),
                        _ => {}
                    }
                    self.pos += 1;
                    if !is_blank(b) {
                        end = self.pos;
                    }
                }
                let text = self.text(start, end)?;
                self.pos = end;
                // A plain scalar continued on the next, more indented line is not supported: the next line then
                // fails as unexpected indentation, which is what a reader would look at.
                Ok(plain(text))
            }
        }
    }

    /// `'...'` or `"..."`, possibly over several lines (folded as YAML does).
    fn quoted(&mut self) -> R<Node> {
        let open = self.pos;
        let Some(q) = self.peek() else { return self.err("expected a value") };
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        // Length of `out` without the blanks written since the last non-blank, for folding line breaks.
        let mut keep = 0;
        loop {
            let Some(b) = self.peek() else { return self.err_at(open, "unterminated quoted string") };
            self.pos += 1;
            match b {
                b'\'' if q == b'\'' => {
                    if self.peek() == Some(b'\'') {
                        self.pos += 1;
                        out.push(b'\'');
                        keep = out.len();
                    } else {
                        break;
                    }
                }
                b'"' if q == b'"' => break,
                b'\\' if q == b'"' => {
                    if self.peek() == Some(b'\n') {
                        self.pos += 1;
                        self.skip_blanks_multiline_in_quotes();
                        keep = out.len();
                        continue;
                    }
                    self.escape(&mut out)?;
                    keep = out.len();
                }
                b'\n' => {
                    out.truncate(keep);
                    let mut empty = 0;
                    loop {
                        while self.peek().is_some_and(is_blank) {
                            self.pos += 1;
                        }
                        if self.peek() == Some(b'\n') {
                            self.pos += 1;
                            empty += 1;
                        } else {
                            break;
                        }
                    }
                    if empty == 0 {
                        out.push(b' ');
                    } else {
                        out.extend(std::iter::repeat_n(b'\n', empty));
                    }
                    keep = out.len();
                }
                _ => {
                    out.push(b);
                    if !is_blank(b) {
                        keep = out.len();
                    }
                }
            }
        }
        match String::from_utf8(out) {
            Ok(text) => Ok(Node::Scalar { text, plain: false }),
            Err(_) => self.err_at(open, "invalid UTF-8"),
        }
    }

    fn skip_blanks_multiline_in_quotes(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
    }

    /// One escape of a double-quoted scalar; the cursor is after the backslash.
    fn escape(&mut self, out: &mut Vec<u8>) -> R<()> {
        let Some(e) = self.peek() else { return self.err("unterminated quoted string") };
        self.pos += 1;
        let simple: Option<&[u8]> = match e {
            b'0' => Some(b"\0"),
            b'a' => Some(b"\x07"),
            b'b' => Some(b"\x08"),
            b't' | b'\t' => Some(b"\t"),
            b'n' => Some(b"\n"),
            b'v' => Some(b"\x0b"),
            b'f' => Some(b"\x0c"),
            b'r' => Some(b"\r"),
            b'e' => Some(b"\x1b"),
            b' ' => Some(b" "),
            b'"' => Some(b"\""),
            b'/' => Some(b"/"),
            b'\\' => Some(b"\\"),
            b'N' => Some("\u{85}".as_bytes()),
            b'_' => Some("\u{a0}".as_bytes()),
            b'L' => Some("\u{2028}".as_bytes()),
            b'P' => Some("\u{2029}".as_bytes()),
            _ => None,
        };
        if let Some(s) = simple {
            out.extend_from_slice(s);
            return Ok(());
        }
        let digits = match e {
            b'x' => 2,
            b'u' => 4,
            b'U' => 8,
            _ => return self.err("unknown escape in a double-quoted string"),
        };
        let hex = self.src.get(self.pos..self.pos + digits).and_then(|h| std::str::from_utf8(h).ok());
        let code =
            hex.filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit())).and_then(|h| u32::from_str_radix(h, 16).ok());
        let Some(c) = code.and_then(char::from_u32) else { return self.err("invalid \\x, \\u or \\U escape") };
        self.pos += digits;
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    /// `|` or `>` with its header on the current line; the content is the following lines indented more than
    /// `parent`. Leaves the cursor at the start of the first line after the content.
    fn block_scalar(&mut self, parent: isize) -> R<Node> {
        let folded = self.peek() == Some(b'>');
        self.pos += 1;
        let (mut chomp, mut explicit) = (b' ', None);
        for _ in 0..2 {
            match self.peek() {
                Some(c @ (b'-' | b'+')) if chomp == b' ' => chomp = c,
                Some(d @ b'1'..=b'9') if explicit.is_none() => explicit = Some(usize::from(d - b'0')),
                _ => break,
            }
            self.pos += 1;
        }
        if !self.sep_at(0) {
            return self.err("invalid block scalar header");
        }
        self.end_of_line()?;
        // Content lines are indented more than the block holding the scalar (by the digit, when given).
        // (At least 1: a block scalar at the top of the document is indented too.)
        let base = usize::try_from(parent + 1).unwrap_or(0).max(1);
        let mut indent = explicit.map(|d| usize::try_from(parent).unwrap_or(0) + d);
        let mut lines: Vec<&[u8]> = Vec::new();
        // The longest all-space line before the first content line: it must not be longer than the indentation.
        let mut leading_spaces = 0;
        loop {
            let start = self.pos;
            if start >= self.src.len() {
                break;
            }
            let line_end = self.src[start..].iter().position(|&b| b == b'\n').map_or(self.src.len(), |i| start + i);
            let line = &self.src[start..line_end];
            let spaces = line.iter().take_while(|&&b| b == b' ').count();
            let blank = line.iter().all(|&b| b == b' ');
            let want = match indent {
                Some(i) => i,
                None if blank => {
                    leading_spaces = leading_spaces.max(line.len());
                    lines.push(b"");
                    self.pos = (line_end + 1).min(self.src.len());
                    continue;
                }
                None => {
                    if spaces < base {
                        break;
                    }
                    if leading_spaces > spaces {
                        return self.err("a blank line before a block scalar's text has more spaces than its text");
                    }
                    indent = Some(spaces);
                    spaces
                }
            };
            if blank {
                lines.push(line.get(want..).unwrap_or(b""));
            } else if spaces >= want {
                lines.push(&line[want..]);
            } else {
                break;
            }
            self.pos = (line_end + 1).min(self.src.len());
            if line_end >= self.src.len() {
                break;
            }
        }
        let content_end = lines.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
        let trailing = lines.len() - content_end;
        let body = &lines[..content_end];
        let mut out: Vec<u8> = Vec::new();
        if folded {
            let (mut started, mut last_more, mut empties) = (false, false, 0);
            for l in body {
                if l.is_empty() {
                    empties += 1;
                    continue;
                }
                let more = l.first().copied().is_some_and(is_blank);
                let breaks = if !started {
                    empties
                } else if empties == 0 && !more && !last_more {
                    out.push(b' ');
                    0
                } else if !more && !last_more {
                    empties
                } else {
                    empties + 1
                };
                out.extend(std::iter::repeat_n(b'\n', breaks));
                out.extend_from_slice(l);
                (started, last_more, empties) = (true, more, 0);
            }
        } else {
            for (i, l) in body.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                out.extend_from_slice(l);
            }
        }
        match chomp {
            b'-' => {}
            b'+' => out.extend(std::iter::repeat_n(b'\n', usize::from(content_end > 0) + trailing)),
            _ if content_end > 0 => out.push(b'\n'),
            _ => {}
        }
        // The caller's end_of_line must find the start of a line: step back onto the last line break.
        if self.pos > 0 && self.src.get(self.pos - 1) == Some(&b'\n') {
            self.pos -= 1;
        }
        match String::from_utf8(out) {
            Ok(text) => Ok(Node::Scalar { text, plain: false }),
            Err(_) => self.err("invalid UTF-8"),
        }
    }

    /// Skips blanks, line breaks and comments inside a flow collection.
    fn flow_space(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n') => self.pos += 1,
                Some(b'#') => self.skip_to_eol(),
                _ => return,
            }
        }
    }

    fn flow(&mut self) -> R<Node> {
        self.enter()?;
        let open = self.pos;
        let is_map = self.peek() == Some(b'{');
        let close = if is_map { b'}' } else { b']' };
        self.pos += 1;
        let mut items = Vec::new();
        let mut entries: Vec<(String, Node)> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        loop {
            self.flow_space();
            match self.peek() {
                None => return self.err_at(open, "unclosed [ or {"),
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            if is_map {
                let key_pos = self.pos;
                let key = match self.flow_item(true)? {
                    Node::Scalar { text, .. } => text,
                    _ => return self.err_at(key_pos, "mapping keys must be strings"),
                };
                if !seen.insert(key.clone()) {
                    return self.err_at(key_pos, "duplicate key");
                }
                self.flow_space();
                let value = if self.peek() == Some(b':') {
                    self.pos += 1;
                    self.flow_space();
                    if matches!(self.peek(), Some(b',' | b'}')) { Node::Null } else { self.flow_item(false)? }
                } else {
                    Node::Null
                };
                entries.push((key, value));
            } else {
                items.push(self.flow_item(false)?);
            }
            self.flow_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                None => return self.err_at(open, "unclosed [ or {"),
                Some(b':') => return self.err("key: value pairs inside [ ] are not supported"),
                Some(_) => return self.err("expected , or the end of the collection"),
            }
        }
        self.depth -= 1;
        Ok(if is_map { Node::Map(entries) } else { Node::Seq(items) })
    }

    /// One entry of a flow collection (a key when `key`: a plain key ends before `:`).
    fn flow_item(&mut self, key: bool) -> R<Node> {
        match self.peek() {
            Some(b'[' | b'{') if !key => return self.flow(),
            Some(b'[' | b'{') => return self.err("mapping keys must be strings"),
            Some(b'"' | b'\'') => return self.quoted(),
            Some(b'|' | b'>') => return self.err("block scalars are not allowed inside [ ] or { }"),
            Some(b'-') if self.sep_at(1) => return self.err("list items (- ) are not allowed inside [ ] or { }"),
            _ => self.check_plain_start()?,
        }
        let start = self.pos;
        let mut end = start;
        while let Some(b) = self.peek() {
            match b {
                b',' | b'[' | b']' | b'{' | b'}' | b'\n' => break,
                b':' if matches!(
                    self.peek_at(1),
                    None | Some(b' ' | b'\t' | b'\n' | b',' | b'[' | b']' | b'{' | b'}')
                ) =>
                {
                    break;
                }
                b'#' if self.pos > start && self.src.get(self.pos - 1).copied().is_some_and(is_blank) => break,
                _ => {}
            }
            self.pos += 1;
            if !is_blank(b) {
                end = self.pos;
            }
        }
        let text = self.text(start, end)?;
        self.pos = end;
        Ok(plain(text))
    }
}

/// A deserialization error: the message, and the key path from the root (`a.b[2].c`) where it happened.
#[derive(Debug)]
pub(crate) struct DeError {
    /// Path segments, innermost first (they are added as the error travels up).
    rev_path: Vec<String>,
    msg: String,
}

impl DeError {
    fn under(mut self, segment: String) -> Self {
        self.rev_path.push(segment);
        self
    }

    /// The dotted path, empty at the root.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for seg in self.rev_path.iter().rev() {
            if !out.is_empty() && !seg.starts_with('[') {
                out.push('.');
            }
            out.push_str(seg);
        }
        out
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() { f.write_str(&self.msg) } else { write!(f, "{path}: {}", self.msg) }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { rev_path: Vec::new(), msg: msg.to_string() }
    }
}

/// YAML 1.1 booleans, as Go's yaml.v2 reads them.
fn bool_of(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "y" | "Y" | "on" | "On" | "ON" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "n" | "N" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// An integer: decimal with an optional sign, `0x` hexadecimal or `0o` octal, `_` between digits allowed.
fn int_of(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = body.strip_prefix("0o") {
        (8, o)
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let v = i128::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    Some(if neg { -v } else { v })
}

fn float_of(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let ok = s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'));
    if ok { s.replace('_', "").parse().ok() } else { None }
}

fn visit_int<'de, V: Visitor<'de>>(v: V, n: i128) -> Result<V::Value, DeError> {
    if let Ok(i) = i64::try_from(n) {
        v.visit_i64(i)
    } else if let Ok(u) = u64::try_from(n) {
        v.visit_u64(u)
    } else {
        Err(de::Error::custom("integer out of range"))
    }
}

impl Node {
    fn plain_text(&self) -> Option<&str> {
        match self {
            Node::Scalar { text, plain: true } => Some(text),
            _ => None,
        }
    }
}

macro_rules! ints {
    ($($m:ident)*) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
            match self.plain_text().and_then(int_of) {
                Some(n) => visit_int(v, n),
                None => self.deserialize_any(v),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self {
            Node::Null => v.visit_unit(),
            Node::Scalar { text, plain: true } => {
                if let Some(b) = bool_of(&text) {
                    v.visit_bool(b)
                } else if let Some(n) = int_of(&text) {
                    visit_int(v, n)
                } else if let Some(f) = float_of(&text) {
                    v.visit_f64(f)
                } else {
                    v.visit_string(text)
                }
            }
            Node::Scalar { text, plain: false } => v.visit_string(text),
            Node::Seq(items) => {
                let len = items.len();
                let mut access = SeqAccess { items: items.into_iter().enumerate() };
                let out = v.visit_seq(&mut access)?;
                if access.items.next().is_some() {
                    return Err(de::Error::invalid_length(len, &"fewer elements"));
                }
                Ok(out)
            }
            Node::Map(entries) => v.visit_map(MapAccess { entries: entries.into_iter(), key: None }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.plain_text().and_then(bool_of) {
            Some(b) => v.visit_bool(b),
            None => self.deserialize_any(v),
        }
    }

    ints!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
          deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128);

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(v)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.plain_text().and_then(float_of) {
            Some(f) => v.visit_f64(f),
            None => self.deserialize_any(v),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self {
            Node::Scalar { text, .. } => v.visit_string(text),
            other => other.deserialize_any(v),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_string(v)
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_string(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_string(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self {
            Node::Null => v.visit_none(),
            other => v.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct enum
    }
}

impl<'de> IntoDeserializer<'de, DeError> for Node {
    type Deserializer = Node;
    fn into_deserializer(self) -> Node {
        self
    }
}

struct SeqAccess {
    items: std::iter::Enumerate<std::vec::IntoIter<Node>>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some((i, node)) => seed.deserialize(node).map(Some).map_err(|e| e.under(format!("[{i}]"))),
            None => Ok(None),
        }
    }
}

struct MapAccess {
    entries: std::vec::IntoIter<(String, Node)>,
    /// The key whose value is next, with the value.
    key: Option<(String, Node)>,
}

impl<'de> de::MapAccess<'de> for MapAccess {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        let k = seed.deserialize(Node::Scalar { text: key.clone(), plain: false }).map_err(|e| e.under(key.clone()))?;
        self.key = Some((key, value));
        Ok(Some(k))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, DeError> {
        match self.key.take() {
            Some((key, value)) => seed.deserialize(value).map_err(|e| e.under(key)),
            None => Err(de::Error::custom("value without a key")),
        }
    }
}

#[cfg(test)]
mod tests;
