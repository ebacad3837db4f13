//! Helpers for the tests of parsers of external text (here and in the exporters): deterministic pseudo-random
//! inputs, so garbage tests cover the same ground on every run and CI covers what the fuzz targets explore.

/// A xorshift64 generator seeded with `seed` (0 is made 1): the same seed always gives the same numbers.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed.max(1);
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// `count` pseudo-random bytes from [`xorshift`] seeded with `seed`.
pub fn noise(seed: u64, count: usize) -> Vec<u8> {
    let mut next = xorshift(seed);
    (0..count).map(|_| next() as u8).collect()
}

/// `count` strings, each of up to `max_len` tokens drawn from `tokens` by a xorshift generator seeded with `seed`.
/// The same arguments always give the same strings.
pub fn token_soup(seed: u64, count: usize, max_len: usize, tokens: &[&str]) -> Vec<String> {
    if tokens.is_empty() {
        return vec![String::new(); count];
    }
    let mut next = xorshift(seed | 1);
    (0..count)
        .map(|_| {
            let len = (next() as usize) % (max_len + 1);
            (0..len).map(|_| tokens[(next() as usize) % tokens.len()]).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn deterministic_and_bounded() {
        let a = super::token_soup(3, 50, 7, &["x", "yz"]);
        assert_eq!(a, super::token_soup(3, 50, 7, &["x", "yz"]));
        assert_eq!(a.len(), 50);
        assert!(a.iter().all(|s| s.len() <= 14));
        assert_ne!(a, super::token_soup(4, 50, 7, &["x", "yz"]));
    }
}
