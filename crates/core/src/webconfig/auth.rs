//! Basic auth against bcrypt hashes, a cache of successful checks, and the `rate_limit` token bucket.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Hashes of random, forgotten passwords at costs 4..=16. An unknown user is checked against the one whose cost
/// matches the configured users', so the time a failed login takes does not tell whether the user exists.
const DUMMY_HASHES: [&str; 13] = [
    "$2b$04$YPJTTL.qdugSHcWTY8ylcuzlHbz0lRQCj9nxChTpWzz6uYR8zA.9S",
    "$2b$05$8NzjEZ6ryfLIDCxDFS01iOZodcjngt5/eLdUW90G2yQJgdqdW1H0i",
    "$2b$06$peDXtzzFVhbgXvVdD0aYnes56QQXckcCW9s1ZlXaSPJ2bSSTplYM.",
    "$2b$07$BmMDY3xO1dPCHTEMy8A2zeuKpOJIZl7PXkib.ApK0PA9kHEVRr7Eu",
    "$2b$08$fpeAzc5RmiDmdQAWZIYQBOk/OuuamH4STMZgK5WgABHrw.fVX0rge",
    "$2b$09$1ZuqW4Q339Vxrj0CrrhCuuZPqO3AouvECWV2TkwfTGzY/N1I82WLS",
    "$2b$10$Z3jNumvlXLxFD1tODzj3iuH7bIa2oy1/npfo48m/wQYb8y2NFt54q",
    "$2b$11$WcfSW5ORjb.fukOLXwkBn.NAU7AEMRq7JVVPLbGJ3aAEHarSQNYS2",
    "$2b$12$LKwMeQWkI5hDGSepwndM8O27opSg4qVXiGZXMD1qExNhP92LtiWNq",
    "$2b$13$9nq/is3R6oF5jtfxVuYnweawdnHwE08.yBRUNrr/UNDfnPgKthm3G",
    "$2b$14$MblqD6CFFG7VCgSNYPJ2I.hqoB8N2hYSacscP8O9QZQLT5BP1fXcC",
    "$2b$15$.PPPBZDBbn2mygEgGmbsEu/o8oQ2zopr34RhJqb5KJPhNIcTx.NRG",
    "$2b$16$3IxFWMQh1ObGLWjJ8QAUGungmI5JVLpDHwgJeAcYjOKqwPBHqdai.",
];

/// The configured users and the dummy hash for unknown ones.
#[derive(Debug, Default)]
pub(crate) struct Users {
    hashes: HashMap<String, String>,
    dummy: &'static str,
}

impl Users {
    /// Validates every hash; the error names the user, never the hash.
    pub(crate) fn new(users: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut hashes = HashMap::new();
        let mut max_cost = 0;
        for (user, hash) in users {
            let parts: bcrypt::HashParts = hash
                .parse()
                .map_err(|_| format!("basic_auth_users: the password hash of user {user:?} is not a bcrypt hash"))?;
            max_cost = max_cost.max(parts.get_cost());
            hashes.insert(user, hash);
        }
        let idx = (max_cost.clamp(4, 16) - 4) as usize;
        Ok(Users { hashes, dummy: DUMMY_HASHES.get(idx).copied().unwrap_or(DUMMY_HASHES[6]) })
    }

    /// Whether basic auth is on.
    pub(crate) fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The hash to check `user` against, and whether the user exists.
    pub(crate) fn lookup(&self, user: &[u8]) -> (&str, bool) {
        match std::str::from_utf8(user).ok().and_then(|u| self.hashes.get(u)) {
            Some(h) => (h, true),
            None => (self.dummy, false),
        }
    }
}

/// `user` and `password` from an `Authorization: Basic …` header value, as Go's `Request.BasicAuth` reads it.
pub(crate) fn parse_basic(header: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const PREFIX: &[u8] = b"Basic ";
    let head = header.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let decoded = base64_decode(header.get(PREFIX.len()..)?)?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let (user, rest) = decoded.split_at(colon);
    Some((user.to_vec(), rest.get(1..)?.to_vec()))
}

/// Standard base64 with padding, as Go's `base64.StdEncoding` decodes it.
fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let chunks = input.len() / 4;
    for (i, chunk) in input.chunks_exact(4).enumerate() {
        let last = i + 1 == chunks;
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for (j, c) in chunk.iter().enumerate() {
            let v = if j >= 4 - pad { 0 } else { val(*c)? };
            n = (n << 6) | v;
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(bytes.get(1..4 - pad)?);
    }
    Some(out)
}

/// Successful checks, keyed by a SHA-256 of user, hash and password (so a changed hash misses, and no password is
/// kept), bounded in size.
#[derive(Debug, Default)]
pub(crate) struct AuthCache {
    ok: Mutex<HashSet<[u8; 32]>>,
}

/// Entries kept; a handful of Prometheus servers need a handful.
const CACHE_CAPACITY: usize = 1024;

impl AuthCache {
    /// The cache key of a credential triple.
    pub(crate) fn key(user: &[u8], hash: &str, password: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        // Length prefixes keep (user, password) pairs from colliding by shifting bytes between them.
        for part in [user, hash.as_bytes(), password] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    pub(crate) fn contains(&self, key: &[u8; 32]) -> bool {
        self.ok.lock().unwrap_or_else(|p| p.into_inner()).contains(key)
    }

    pub(crate) fn insert(&self, key: [u8; 32]) {
        let mut set = self.ok.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= CACHE_CAPACITY
            && let Some(evict) = set.iter().next().copied()
        {
            set.remove(&evict);
        }
        set.insert(key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ok.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// `rate_limit`: Go's `rate.NewLimiter(rate.Every(interval), burst)`, a bucket of `burst` tokens refilled at one
/// per `interval`, full at start.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    pub(crate) interval: Duration,
    pub(crate) burst: u32,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub(crate) fn new(interval: Duration, burst: u32) -> Self {
        RateLimiter { interval, burst, state: Mutex::new((f64::from(burst), Instant::now())) }
    }

    /// Takes a token if one is there.
    pub(crate) fn allow(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.saturating_duration_since(st.1).as_secs_f64() / self.interval.as_secs_f64().max(1e-9);
        st.0 = (st.0 + refill).min(f64::from(self.burst));
        st.1 = now;
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parsing() {
        // "alice:s3cr:et"
        assert_eq!(parse_basic(b"Basic YWxpY2U6czNjcjpldA=="), Some((b"alice".to_vec(), b"s3cr:et".to_vec())));
        assert_eq!(parse_basic(b"basic YWxpY2U6czNjcjpldA=="), Some((b"alice".to_vec(), b"s3cr:et".to_vec())));
        // ":": empty user and password.
        assert_eq!(parse_basic(b"Basic Og=="), Some((Vec::new(), Vec::new())));
        assert_eq!(parse_basic(b"Basic YWxpY2U="), None, "no colon");
        assert_eq!(parse_basic(b"Bearer YWxpY2U6eA=="), None);
        assert_eq!(parse_basic(b"Basic"), None);
        assert_eq!(parse_basic(b"Basic !!!!"), None);
        assert_eq!(parse_basic(b"Basic YWxpY2U6eA"), None, "missing padding");
        assert_eq!(parse_basic(b"Basic YQ==YWxp"), None, "padding in the middle");
        assert_eq!(parse_basic(b""), None);
        assert_eq!(parse_basic(&[0xff; 40]), None);
    }

    #[test]
    fn base64_round_trips() {
        for (plain, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg==")] {
            assert_eq!(base64_decode(enc.as_bytes()).as_deref(), Some(plain.as_bytes()), "{enc}");
        }
        assert_eq!(base64_decode(b"===="), None);
        assert_eq!(base64_decode(b"Z==="), None);
    }

    #[test]
    fn garbage_headers_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 32) as u8
                })
                .collect();
            let _ = parse_basic(&bytes);
            let mut prefixed = b"Basic ".to_vec();
            prefixed.extend(bytes.iter().map(|b| b"ABCab01+/="[(*b % 10) as usize]));
            let _ = parse_basic(&prefixed);
        }
    }

    #[test]
    fn dummy_hashes_match_their_cost() {
        for (i, h) in DUMMY_HASHES.iter().enumerate() {
            let parts: bcrypt::HashParts = h.parse().expect("valid");
            assert_eq!(parts.get_cost(), i as u32 + 4);
        }
        let u =
            Users::new([("a".to_owned(), "$2y$12$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG".to_owned())])
                .expect("users");
        assert!(u.lookup(b"nobody").0.starts_with("$2b$12$"));
        assert!(!u.lookup(b"nobody").1);
        assert!(u.lookup(b"a").1);
        assert!(!u.lookup(&[0xff]).1);
    }

    #[test]
    fn invalid_hash_error_names_user_not_hash() {
        let e = Users::new([("carol".to_owned(), "plaintext-password".to_owned())]).expect_err("invalid");
        assert!(e.contains("carol") && e.contains("basic_auth_users"), "{e}");
        assert!(!e.contains("plaintext-password"), "{e}");
    }

    #[test]
    fn cache_is_bounded_and_keyed_by_hash() {
        let c = AuthCache::default();
        let k = AuthCache::key(b"u", "$2y$04$a", b"p");
        assert_ne!(k, AuthCache::key(b"u", "$2y$04$b", b"p"));
        assert_ne!(AuthCache::key(b"ab", "h", b"c"), AuthCache::key(b"a", "h", b"bc"));
        c.insert(k);
        assert!(c.contains(&k));
        for i in 0..(CACHE_CAPACITY as u32 * 2) {
            c.insert(AuthCache::key(&i.to_be_bytes(), "h", b"p"));
        }
        assert_eq!(c.len(), CACHE_CAPACITY);
    }

    #[test]
    fn token_bucket() {
        let r = RateLimiter::new(Duration::from_secs(3600), 2);
        assert!(r.allow());
        assert!(r.allow());
        assert!(!r.allow());
        let r = RateLimiter::new(Duration::from_millis(10), 1);
        assert!(r.allow());
        std::thread::sleep(Duration::from_millis(30));
        assert!(r.allow());
        let none = RateLimiter::new(Duration::from_secs(1), 0);
        assert!(!none.allow(), "burst 0 admits nothing, as in Go");
    }
}
