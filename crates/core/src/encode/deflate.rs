//! A small, fast deflate compressor (RFC 1951) for response bodies.
//!
//! Why our own: a general-purpose compressor keeps a sliding window, hash chains over it and an output staging
//! buffer, about 300 KiB of state (miniz_oxide's is that size at every level), which was a fifth of an exporter's
//! heap. A response body is whole in memory, so here the window is the body itself, and the only state is a hash
//! table of recent positions (16 KiB) and one block's symbols (at most 32 KiB).
//!
//! The method is that of the fast deflate levels: greedy LZ77 matching through a hash of the next four bytes (one
//! candidate per hash, no chains), the first positions of each match entered into the table too, and a
//! dynamic-Huffman block per [`BLOCK_SYMBOLS`] symbols. On oxporter-node's 53 KB body it writes 9.8 KB where
//! miniz_oxide's fastest level wrote 10.7 KB, in about the same time.

/// Matches are at least this long (deflate allows 3; four bytes hash better and lose little).
const MIN_MATCH: usize = 4;
/// Deflate's longest match.
const MAX_MATCH: usize = 258;
/// Deflate's window: how far back a match may start.
const WINDOW: usize = 32 * 1024;
/// Bits of the hash of four bytes; the table holds the last position seen per hash value.
const HASH_BITS: u32 = 12;
/// Symbols (literals and matches) per Huffman block, so each block's codes fit its own statistics.
const BLOCK_SYMBOLS: usize = 8 * 1024;
/// A symbol is a literal byte, or a match: `MATCH`, then from bit 23 down the length code (minus 257), the length's
/// extra bits, the distance code and the distance's extra bits, so writing it needs no more arithmetic.
const MATCH: u32 = 1 << 31;
/// Extra bits of each length code (257..=285) and distance code.
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// Positions inside a match entered into the hash table: the first few (entering all of a long match costs
/// time and finds little more; measured on node bodies, 9.83 KB at 8 against 9.79 KB at all, 30 % faster).
const INSERT_MAX: usize = 8;

/// Literal/length alphabet: 256 literals, end of block, 29 length codes.
const LITLEN_CODES: usize = 286;
const END_OF_BLOCK: usize = 256;
const DIST_CODES: usize = 30;
/// The code length alphabet (RFC 1951 3.2.7).
const CL_CODES: usize = 19;
const CL_ORDER: [usize; CL_CODES] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Appends the raw deflate stream of `input` to `out`.
pub fn compress(input: &[u8], out: &mut Vec<u8>) {
    let mut w = BitWriter { out, acc: 0, bits: 0 };
    // Position + 1 of the last four bytes with each hash; 0 is empty.
    let mut table = vec![0u32; 1 << HASH_BITS];
    let mut block: Vec<u32> = Vec::with_capacity(BLOCK_SYMBOLS.min(input.len() + 1));
    let end = input.len();
    let mut pos = 0;
    while pos < end {
        let mut len = 0;
        let mut dist = 0;
        if let Some(h) = hash(input, pos) {
            let candidate = table[h] as usize;
            table[h] = (pos as u32).wrapping_add(1);
            // The table may hold anything (positions wrap past 4 GiB): the match is checked byte by byte.
            if let Some(d) = (candidate > 0).then(|| pos.checked_sub(candidate - 1)).flatten()
                && (1..=WINDOW).contains(&d)
            {
                len = match_length(input, pos - d, pos);
                dist = d;
            }
        }
        if len >= MIN_MATCH {
            let (lcode, _, lvalue) = length_code(len);
            let (dcode, _, dvalue) = distance_code(dist);
            block.push(MATCH | ((lcode - 257) as u32) << 23 | lvalue << 18 | (dcode as u32) << 13 | dvalue);
            for p in pos + 1..pos + len.min(INSERT_MAX) {
                if let Some(h) = hash(input, p) {
                    table[h] = (p as u32).wrapping_add(1);
                }
            }
            pos += len;
        } else {
            block.push(u32::from(input[pos]));
            pos += 1;
        }
        if block.len() == BLOCK_SYMBOLS && pos < end {
            write_block(&mut w, &block, false);
            block.clear();
        }
    }
    write_block(&mut w, &block, true);
    w.finish();
}

/// The hash of the four bytes at `pos`, if there are four.
fn hash(input: &[u8], pos: usize) -> Option<usize> {
    let b = input.get(pos..pos + 4)?;
    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    Some((v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize)
}

/// How many bytes at `earlier` equal those at `pos`, at most [`MAX_MATCH`] (the two may overlap).
fn match_length(input: &[u8], earlier: usize, pos: usize) -> usize {
    let limit = MAX_MATCH.min(input.len() - pos);
    let (a, b) = (&input[earlier..earlier + limit], &input[pos..pos + limit]);
    let mut n = 0;
    while n + 8 <= limit {
        let x = u64::from_le_bytes(a[n..n + 8].try_into().unwrap_or_default())
            ^ u64::from_le_bytes(b[n..n + 8].try_into().unwrap_or_default());
        if x != 0 {
            return n + (x.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < limit && a[n] == b[n] {
        n += 1;
    }
    n
}

/// Length code (257..=285), its extra bits and their value for a match length of 3..=258.
#[inline]
fn length_code(len: usize) -> (usize, u32, u32) {
    if len == MAX_MATCH {
        return (285, 0, 0);
    }
    let l = (len - 3) as u32;
    if l < 8 {
        return (257 + l as usize, 0, 0);
    }
    let top = 31 - l.leading_zeros(); // 3..=7
    let extra = top - 2;
    (257 + 4 * (top as usize - 1) + ((l >> extra) & 3) as usize, extra, l & ((1 << extra) - 1))
}

/// Distance code (0..=29), its extra bits and their value for a distance of 1..=32768.
#[inline]
fn distance_code(dist: usize) -> (usize, u32, u32) {
    let d = (dist - 1) as u32;
    if d < 4 {
        return (d as usize, 0, 0);
    }
    let top = 31 - d.leading_zeros(); // 2..=14
    let extra = top - 1;
    (2 * top as usize + ((d >> extra) & 1) as usize, extra, d & ((1 << extra) - 1))
}

/// Writes one dynamic-Huffman block of `symbols` and the end-of-block code.
fn write_block(w: &mut BitWriter<'_>, symbols: &[u32], last: bool) {
    let mut lit_freq = [0u32; LITLEN_CODES];
    let mut dist_freq = [0u32; DIST_CODES];
    for &s in symbols {
        if s & MATCH != 0 {
            lit_freq[257 + ((s >> 23) & 31) as usize] += 1;
            dist_freq[((s >> 13) & 31) as usize] += 1;
        } else {
            lit_freq[s as usize] += 1;
        }
    }
    lit_freq[END_OF_BLOCK] = 1;
    // Decoders want complete codes, so every alphabet gets at least two symbols.
    at_least_two(&mut lit_freq);
    at_least_two(&mut dist_freq);
    let mut lit_len = [0u8; LITLEN_CODES];
    let mut dist_len = [0u8; DIST_CODES];
    code_lengths(&lit_freq, 15, &mut lit_len);
    code_lengths(&dist_freq, 15, &mut dist_len);
    let hlit = 257.max(lit_len.iter().rposition(|&l| l > 0).map_or(0, |i| i + 1));
    let hdist = 1.max(dist_len.iter().rposition(|&l| l > 0).map_or(0, |i| i + 1));

    // The code lengths of both alphabets, run-length encoded with symbols 16, 17 and 18.
    let mut lengths = [0u8; LITLEN_CODES + DIST_CODES];
    lengths[..hlit].copy_from_slice(&lit_len[..hlit]);
    lengths[hlit..hlit + hdist].copy_from_slice(&dist_len[..hdist]);
    let runs = run_lengths(&lengths[..hlit + hdist]);
    let mut cl_freq = [0u32; CL_CODES];
    for &(sym, _) in &runs {
        cl_freq[sym as usize] += 1;
    }
    at_least_two(&mut cl_freq);
    let mut cl_len = [0u8; CL_CODES];
    code_lengths(&cl_freq, 7, &mut cl_len);
    let hclen = 4.max(CL_ORDER.iter().rposition(|&s| cl_len[s] > 0).map_or(0, |i| i + 1));

    w.bits(u32::from(last), 1);
    w.bits(2, 2); // dynamic Huffman codes
    w.bits((hlit - 257) as u32, 5);
    w.bits((hdist - 1) as u32, 5);
    w.bits((hclen - 4) as u32, 4);
    for &s in &CL_ORDER[..hclen] {
        w.bits(u32::from(cl_len[s]), 3);
    }
    let cl_codes = codes(&cl_len);
    for &(sym, extra) in &runs {
        let sym = sym as usize;
        w.bits(cl_codes[sym], u32::from(cl_len[sym]));
        match sym {
            16 => w.bits(u32::from(extra), 2),
            17 => w.bits(u32::from(extra), 3),
            18 => w.bits(u32::from(extra), 7),
            _ => {}
        }
    }
    let lit_codes = codes(&lit_len);
    let dist_codes = codes(&dist_len);
    for &s in symbols {
        if s & MATCH != 0 {
            let l = ((s >> 23) & 31) as usize;
            w.bits(lit_codes[257 + l], u32::from(lit_len[257 + l]));
            w.bits((s >> 18) & 31, u32::from(LEN_EXTRA[l]));
            let d = ((s >> 13) & 31) as usize;
            w.bits(dist_codes[d], u32::from(dist_len[d]));
            w.bits(s & 0x1fff, u32::from(DIST_EXTRA[d]));
        } else {
            w.bits(lit_codes[s as usize], u32::from(lit_len[s as usize]));
        }
    }
    w.bits(lit_codes[END_OF_BLOCK], u32::from(lit_len[END_OF_BLOCK]));
}

/// Gives unused symbols a count until at least two are used.
fn at_least_two(freq: &mut [u32]) {
    let used = freq.iter().filter(|&&f| f > 0).count();
    for f in freq.iter_mut().filter(|f| **f == 0).take(2usize.saturating_sub(used)) {
        *f = 1;
    }
}

/// The code lengths sequence as (symbol, extra bits value) pairs of the code length alphabet.
fn run_lengths(lengths: &[u8]) -> Vec<(u8, u8)> {
    let mut out = Vec::with_capacity(lengths.len());
    let mut i = 0;
    while i < lengths.len() {
        let l = lengths[i];
        let run = lengths[i..].iter().take_while(|&&x| x == l).count();
        if l == 0 && run >= 3 {
            let n = run.min(138);
            if n <= 10 {
                out.push((17, (n - 3) as u8));
            } else {
                out.push((18, (n - 11) as u8));
            }
            i += n;
        } else if l != 0 && run >= 4 {
            // The length once, then repeats of it, 3 to 6 at a time.
            out.push((l, 0));
            let n = (run - 1).min(6);
            out.push((16, (n - 3) as u8));
            i += 1 + n;
        } else {
            out.push((l, 0));
            i += 1;
        }
    }
    out
}

/// Huffman code lengths for `freq`, none longer than `limit`, forming a complete code (as decoders require) over
/// the symbols with a non-zero count (at least two).
fn code_lengths(freq: &[u32], limit: u8, lengths: &mut [u8]) {
    // Huffman's algorithm over the used symbols: nodes 0..n are leaves, n.. the merged ones.
    let leaves: Vec<usize> = (0..freq.len()).filter(|&s| freq[s] > 0).collect();
    let n = leaves.len();
    let mut parent = vec![0usize; 2 * n];
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>> =
        leaves.iter().enumerate().map(|(i, &s)| std::cmp::Reverse((u64::from(freq[s]), i))).collect();
    let mut next = n;
    while let (Some(std::cmp::Reverse((fa, a))), Some(std::cmp::Reverse((fb, b)))) = (heap.pop(), heap.pop()) {
        parent[a] = next;
        parent[b] = next;
        heap.push(std::cmp::Reverse((fa + fb, next)));
        next += 1;
    }
    // Depths, from the root (the last node made) down: a parent is always made after its children.
    let root = next - 1;
    let mut depth = vec![0u32; next];
    for node in (0..root).rev() {
        depth[node] = depth[parent[node]] + 1;
    }
    let limit = u32::from(limit);
    let mut len: Vec<u32> = (0..n).map(|i| depth[i].clamp(1, limit)).collect();
    // Kraft sum in units of 2^-limit; a complete code has exactly 2^limit.
    let full = 1u64 << limit;
    let mut kraft: u64 = len.iter().map(|&l| 1u64 << (limit - l)).sum();
    // Clamping made the code over-full: lengthen the rarest of the longest codes below the limit.
    while kraft > full {
        let Some(i) = (0..n).filter(|&i| len[i] < limit).max_by_key(|&i| (len[i], std::cmp::Reverse(freq[leaves[i]])))
        else {
            break;
        };
        len[i] += 1;
        kraft -= 1u64 << (limit - len[i]);
    }
    // Lengthening may overshoot: shorten the longest codes while that keeps the code from being over-full. The
    // longest code's share always fits what is missing, so this ends complete.
    while kraft < full {
        let Some(i) = (0..n).filter(|&i| len[i] > 1).max_by_key(|&i| (len[i], freq[leaves[i]])) else {
            break;
        };
        let gain = 1u64 << (limit - len[i]);
        if kraft + gain > full {
            break;
        }
        len[i] -= 1;
        kraft += gain;
    }
    lengths.fill(0);
    for (i, &s) in leaves.iter().enumerate() {
        lengths[s] = len[i] as u8;
    }
}

/// Canonical Huffman codes for `lengths` (RFC 1951 3.2.2), bit-reversed for writing least significant bit first.
fn codes<const N: usize>(lengths: &[u8; N]) -> [u32; N] {
    let mut count = [0u32; 16];
    for &l in lengths {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    let mut next = [0u32; 16];
    let mut code = 0;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    let mut out = [0u32; N];
    for (s, &l) in lengths.iter().enumerate() {
        if l > 0 {
            let c = next[usize::from(l)];
            next[usize::from(l)] += 1;
            out[s] = c.reverse_bits() >> (32 - u32::from(l));
        }
    }
    out
}

/// Writes bits least significant first, as deflate packs them.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitWriter<'_> {
    /// Appends the low `n` (at most 32) bits of `value`.
    #[inline]
    fn bits(&mut self, value: u32, n: u32) {
        self.acc |= u64::from(value) << self.bits;
        self.bits += n;
        if self.bits >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.bits -= 32;
        }
    }

    /// Writes what is left, padded to a whole byte.
    fn finish(&mut self) {
        let bytes = self.bits.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
        self.acc = 0;
        self.bits = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn inflate(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(data).read_to_end(&mut out).expect("a valid deflate stream");
        out
    }

    fn round_trip(input: &[u8]) -> usize {
        let mut z = Vec::new();
        compress(input, &mut z);
        assert_eq!(inflate(&z), input, "input of {} bytes", input.len());
        z.len()
    }

    #[test]
    fn codes_of_lengths_and_distances() {
        assert_eq!(length_code(3), (257, 0, 0));
        assert_eq!(length_code(10), (264, 0, 0));
        assert_eq!(length_code(11), (265, 1, 0));
        assert_eq!(length_code(12), (265, 1, 1));
        assert_eq!(length_code(13), (266, 1, 0));
        assert_eq!(length_code(19), (269, 2, 0));
        assert_eq!(length_code(227), (284, 5, 0));
        assert_eq!(length_code(257), (284, 5, 30));
        assert_eq!(length_code(258), (285, 0, 0));
        assert_eq!(distance_code(1), (0, 0, 0));
        assert_eq!(distance_code(4), (3, 0, 0));
        assert_eq!(distance_code(5), (4, 1, 0));
        assert_eq!(distance_code(6), (4, 1, 1));
        assert_eq!(distance_code(7), (5, 1, 0));
        assert_eq!(distance_code(9), (6, 2, 0));
        assert_eq!(distance_code(24577), (29, 13, 0));
        assert_eq!(distance_code(32768), (29, 13, 8191));
        for len in 3..=258 {
            let (code, extra, value) = length_code(len);
            assert_eq!(u32::from(LEN_EXTRA[code - 257]), extra, "{len}");
            assert!(value < 1 << extra, "{len}");
        }
        for dist in 1..=WINDOW {
            let (code, extra, value) = distance_code(dist);
            assert_eq!(u32::from(DIST_EXTRA[code]), extra, "{dist}");
            assert!(extra == 0 && value == 0 || value < 1 << extra, "{dist}");
        }
    }

    #[test]
    fn code_lengths_are_complete_and_limited() {
        // Fibonacci counts make the deepest unlimited tree.
        let mut fib = [0u32; 30];
        fib[0] = 1;
        fib[1] = 1;
        for i in 2..30 {
            fib[i] = fib[i - 1] + fib[i - 2];
        }
        for (freq, limit) in [(&fib[..], 15u8), (&fib[..19], 7), (&[1, 1][..], 15), (&[5, 0, 0, 9, 1][..], 7)] {
            let mut len = vec![0u8; freq.len()];
            code_lengths(freq, limit, &mut len);
            let kraft: f64 = len.iter().filter(|&&l| l > 0).map(|&l| 0.5f64.powi(i32::from(l))).sum();
            assert_eq!(kraft, 1.0, "{freq:?} -> {len:?}");
            assert!(len.iter().all(|&l| l <= limit), "{len:?}");
            assert!(freq.iter().zip(&len).all(|(&f, &l)| (f > 0) == (l > 0)), "{len:?}");
        }
    }

    #[test]
    fn round_trips() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"ab");
        round_trip(b"aaaa");
        round_trip(&[0u8; 100_000]);
        round_trip(&(0..=255u8).collect::<Vec<_>>());
        // Exposition-like text, large enough for several blocks and matches at the window's edge.
        let text: Vec<u8> = (0..40_000u32)
            .flat_map(|i| format!("node_metric_{}{{device=\"sd{}\"}} {}\n", i % 37, i % 5, i * 7919).into_bytes())
            .collect();
        let z = round_trip(&text);
        assert!(z < text.len() / 4, "{} of {}", z, text.len());
        // Pseudo-random bytes: nothing to find, every literal.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..70_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        round_trip(&noise);
        // Runs longer than the longest match, and repeats at exactly the window's distance.
        let mut edge = noise[..WINDOW].to_vec();
        edge.extend_from_slice(&noise[..WINDOW]);
        edge.extend(std::iter::repeat_n(b'x', 1000));
        round_trip(&edge);
    }

    #[test]
    fn random_inputs_of_small_alphabets_round_trip() {
        // Small alphabets give many short and overlapping matches; sizes cross block and window boundaries.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..60 {
            let alphabet = 1 + (next() % 6) as u8;
            let len = (next() % 120_000) as usize;
            let input: Vec<u8> = (0..len).map(|_| b'a' + (next() % u64::from(alphabet)) as u8).collect();
            let mut z = Vec::new();
            compress(&input, &mut z);
            assert_eq!(inflate(&z), input, "round {round}: {len} bytes over {alphabet} letters");
        }
    }

    #[test]
    fn every_prefix_of_mixed_input_round_trips() {
        let text = b"a_b{c=\"d\"} 1\na_b{c=\"e\"} 2\n\x00\xff\xfe a_b{c=\"d\"} 1\n";
        for end in 0..=text.len() {
            round_trip(&text[..end]);
        }
    }
}
