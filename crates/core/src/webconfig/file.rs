//! The YAML schema of exporter-toolkit's web config file, parsed strictly.
//!
//! Values that may be secret (bcrypt hashes, an inline private key) have their own types whose errors never echo
//! the value, and any error text is scrubbed of hash-like tokens before it leaves this module.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The whole file. Every section is optional; an empty file means plain HTTP without authentication.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub tls_server_config: Option<TlsFile>,
    #[serde(default)]
    pub http_server_config: Option<HttpFile>,
    #[serde(default)]
    pub basic_auth_users: Option<Users>,
    #[serde(default)]
    pub rate_limit: Option<RateLimitFile>,
}

/// `tls_server_config`. Empty strings count as absent, as in Go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsFile {
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub key: Option<Secret>,
    #[serde(default)]
    pub client_ca: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub client_auth_type: Option<String>,
    #[serde(default)]
    pub client_ca_file: Option<String>,
    #[serde(default)]
    pub cipher_suites: Option<Vec<String>>,
    #[serde(default)]
    pub curve_preferences: Option<Vec<String>>,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    pub client_allowed_sans: Option<Vec<String>>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpFile {
    /// Accepted for compatibility and otherwise ignored: the server speaks HTTP/1.1 (it offers no ALPN `h2`).
    #[serde(default)]
    #[allow(dead_code)]
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

/// `rate_limit` (newer exporter-toolkit): a token bucket shared by all requests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitFile {
    #[serde(default)]
    pub interval: Option<GoDuration>,
    #[serde(default)]
    pub burst: Option<i64>,
}

/// A string that must never appear in an error message.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret(v))
    }
    // The defaults of these would quote the value in the error.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(E::custom("expected a string (value not shown)"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(E::custom("expected a string (value not shown)"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(E::custom("expected a string (value not shown)"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(E::custom("expected a string (value not shown)"))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Secret, E> {
        Err(E::custom("expected a string (value not shown)"))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_string(SecretVisitor)
    }
}

/// `basic_auth_users`: user name → bcrypt hash. Errors never quote a hash.
#[derive(Debug, Default)]
pub(crate) struct Users(pub BTreeMap<String, Secret>);

struct UsersVisitor;

const USERS_SHAPE: &str = "basic_auth_users must map user names to bcrypt hashes (value not shown)";

impl<'de> Visitor<'de> for UsersVisitor {
    type Value = Users;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of user names to bcrypt hashes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Users, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(user) = map.next_key::<String>()? {
            let hash: Secret = map.next_value()?;
            if out.insert(user.clone(), hash).is_some() {
                return Err(de::Error::custom(format!("basic_auth_users: user {user:?} appears twice")));
            }
        }
        Ok(Users(out))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Users, E> {
        Ok(Users::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<Users, E> {
        Ok(Users::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Users, E> {
        Err(E::custom(USERS_SHAPE))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Users, E> {
        Err(E::custom(USERS_SHAPE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Users, E> {
        Err(E::custom(USERS_SHAPE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Users, E> {
        Err(E::custom(USERS_SHAPE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Users, E> {
        Err(E::custom(USERS_SHAPE))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Users, E> {
        Err(E::custom(USERS_SHAPE))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Users, A::Error> {
        Err(de::Error::custom(USERS_SHAPE))
    }
}

impl<'de> Deserialize<'de> for Users {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(UsersVisitor)
    }
}

/// A Go `time.Duration` in YAML: a duration string (`1s`, `500ms`) or an integer number of nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GoDuration(pub Duration);

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = GoDuration;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 1s or 500ms")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
        // Go's time.ParseDuration needs a unit; a bare "0" is its one exception.
        if v.trim() == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if v.trim().parse::<f64>().is_ok() {
            return Err(E::custom(format!("duration {v:?} needs a unit (ns, us, ms, s, m, h)")));
        }
        crate::cli::parse_duration(v).map(GoDuration).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
        Ok(GoDuration(Duration::from_nanos(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
        u64::try_from(v).map(|n| GoDuration(Duration::from_nanos(n))).map_err(|_| E::custom("duration is negative"))
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

/// Largest config (or certificate) file we read; real ones are a few KiB.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 20;

/// Parses the file's text. The error is a one-line message that names the offending key where the parser knows
/// it, and never contains a password hash or key material.
pub(crate) fn parse(text: &str) -> Result<FileConfig, String> {
    let message = match super::yaml::parse(text) {
        Ok(node) => match Option::<FileConfig>::deserialize(node) {
            Ok(cfg) => return Ok(cfg.unwrap_or_default()),
            // Names the key path itself (`rate_limit.interval: ...`).
            Err(e) => e.to_string(),
        },
        Err(e) => match key_path_at(text, e.line) {
            Some(path) => format!("{path}: {e}"),
            None => e.to_string(),
        },
    };
    let one_line = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    Err(redact(&one_line, text))
}

/// The dotted path of block-style keys leading to 1-based `line` of `text`, e.g. `rate_limit.interval`.
///
/// A reading of the indentation, not a YAML parser: good for the block style these files are written in, and only
/// used to make messages clearer.
fn key_path_at(text: &str, line: u64) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let idx = usize::try_from(line.checked_sub(1)?).ok()?;
    let key_of = |l: &str| -> Option<(usize, String)> {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        let body = trimmed.trim_start_matches("- ");
        // A key after list markers is indented by the markers too.
        let indent = l.len() - body.len();
        let colon = body.find(": ").or_else(|| body.strip_suffix(':').map(str::len))?;
        let key = body.get(..colon)?.trim().trim_matches(|c| c == '"' || c == '\'');
        if key.is_empty() || key.contains(['{', '[', '#']) {
            return None;
        }
        Some((indent, key.to_owned()))
    };
    let target = lines.get(idx)?;
    let mut indent = target.len() - target.trim_start().len();
    let mut path: Vec<String> = Vec::new();
    if let Some((_, k)) = key_of(target) {
        path.push(k);
    }
    for l in lines.get(..idx)?.iter().rev() {
        if indent == 0 {
            break;
        }
        if let Some((i, k)) = key_of(l)
            && i < indent
        {
            path.push(k);
            indent = i;
        }
    }
    if path.is_empty() {
        return None;
    }
    path.reverse();
    Some(path.join("."))
}

/// Replaces every token of `source` that could be a secret (a bcrypt hash, a line of a PEM block) in `message`.
///
/// The typed parsing above already avoids quoting secrets; this is the second line of defence for parser
/// messages we do not control.
pub(crate) fn redact(message: &str, source: &str) -> String {
    let mut out = message.to_owned();
    let mut in_pem = false;
    for line in source.lines() {
        let t = line.trim();
        if t.contains("-----BEGIN") {
            in_pem = true;
        }
        let mut tokens: Vec<&str> = Vec::new();
        if in_pem && t.len() >= 16 {
            tokens.push(t);
        }
        tokens.extend(
            t.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ':' | ',' | '{' | '}' | '[' | ']'))
                .filter(|tok| tok.starts_with("$2") && tok.len() >= 20),
        );
        for tok in tokens {
            if out.contains(tok) {
                out = out.replace(tok, "<redacted>");
            }
        }
        if t.contains("-----END") {
            in_pem = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_comment_only_files_are_defaults() {
        for text in ["", "\n", "# nothing\n", "---\n"] {
            let cfg = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert!(cfg.tls_server_config.is_none() && cfg.basic_auth_users.is_none(), "{text:?}");
        }
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  client_allowed_sans: [a.example, 127.0.0.1]
  min_version: TLS12
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
basic_auth_users:
  alice: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG
rate_limit:
  interval: 1s
  burst: 5
"#;
        let cfg = parse(text).expect("parses");
        let tls = cfg.tls_server_config.expect("tls");
        assert_eq!(tls.cert_file.as_deref(), Some("server.crt"));
        assert_eq!(tls.client_allowed_sans.as_deref(), Some(&["a.example".to_owned(), "127.0.0.1".to_owned()][..]));
        assert_eq!(tls.prefer_server_cipher_suites, Some(false));
        assert_eq!(cfg.http_server_config.and_then(|h| h.http2), Some(false));
        let users = cfg.basic_auth_users.expect("users");
        assert_eq!(users.0.len(), 1);
        assert!(users.0["alice"].0.starts_with("$2y$10$"));
        let rl = cfg.rate_limit.expect("rate limit");
        assert_eq!(rl.interval, Some(GoDuration(Duration::from_secs(1))));
        assert_eq!(rl.burst, Some(5));
    }

    #[test]
    fn unknown_keys_are_named() {
        for (text, key) in [
            ("tls_server_confg:\n  cert_file: a\n", "tls_server_confg"),
            ("tls_server_config:\n  cert_fil: a\n", "cert_fil"),
            ("http_server_config:\n  http3: true\n", "http3"),
            ("rate_limit:\n  every: 1s\n", "every"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(key), "{text:?}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        let hash = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";
        let cases = [
            format!("basic_auth_users: {hash}\n"),
            format!("basic_auth_users: [{hash}]\n"),
            format!("basic_auth_users:\n  alice: {hash}\n  alice: {hash}\n"),
            format!("basic_auth_users:\n  alice: {hash}\n bob: [\n"),
            format!("basic_auth_users:\n  alice: \"{hash}\n"),
            format!("basic_auth_users:\n  alice: {{ h: {hash} }}\n"),
            "tls_server_config:\n  key: [12345678901234567890]\n".to_owned(),
            "tls_server_config:\n  key: |\n    -----BEGIN PRIVATE KEY-----\n    MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n    -----END PRIVATE KEY-----\n  bad: 1\n".to_owned(),
            format!("{hash}: 1\n"),
        ];
        for text in &cases {
            let e = parse(text).expect_err(text);
            assert!(!e.contains("X0h1gDsPszWURQaxFh"), "{text:?} leaked: {e}");
            assert!(!e.contains("12345678901234567890"), "{text:?} leaked: {e}");
            assert!(!e.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "{text:?} leaked: {e}");
        }
    }

    #[test]
    fn errors_name_the_key_path() {
        let e = parse("rate_limit:\n  burst: 1\n  interval: soon\n").expect_err("bad");
        assert!(e.starts_with("rate_limit.interval: "), "{e}");
        let e = parse("# c\ntls_server_config:\n\n  cert_file: a\n  min_version: [1]\n").expect_err("bad");
        assert!(e.starts_with("tls_server_config.min_version: "), "{e}");
        let e = parse("tls_server_config:\n  cert_fil: a\n").expect_err("bad");
        assert!(e.starts_with("tls_server_config.cert_fil: "), "{e}");
        assert_eq!(key_path_at("a:\n  - b: 1\n    c: 2\n", 3).as_deref(), Some("a.c"));
        assert_eq!(key_path_at("a: 1\n", 9), None);
        assert_eq!(key_path_at("", 0), None);
    }

    #[test]
    fn durations() {
        let d =
            |s: &str| parse(&format!("rate_limit:\n  interval: {s}\n")).map(|c| c.rate_limit.and_then(|r| r.interval));
        assert_eq!(d("500ms"), Ok(Some(GoDuration(Duration::from_millis(500)))));
        assert_eq!(d("1m30s"), Ok(Some(GoDuration(Duration::from_secs(90)))));
        assert_eq!(d("1000000000"), Ok(Some(GoDuration(Duration::from_secs(1)))));
        assert_eq!(d("0"), Ok(Some(GoDuration(Duration::ZERO))));
        assert!(d("\"5\"").is_err());
        assert!(d("-1").is_err());
        assert!(d("soon").is_err());
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap stand-in for fuzzing: mutations of a valid file, truncated at every byte.
        let text = "tls_server_config:\n  cert_file: a\n  key_file: b\nbasic_auth_users:\n  u: $2y$04$abc\n\
                    http_server_config: {headers: {X-Frame-Options: deny}}\nrate_limit: {interval: 1s, burst: 2}\n";
        for end in 0..text.len() {
            if text.is_char_boundary(end) {
                let _ = parse(&text[..end]);
            }
        }
        for junk in ["\u{0}", "{{{{", "[&a, *a]", "&a [*a, *a, *a]", "!!binary aGVsbG8=", "? : -", "\t\t:\n"] {
            let _ = parse(junk);
        }
    }
}
