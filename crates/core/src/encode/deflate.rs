//! A small, fast deflate compressor (RFC 1951) for response bodies.
//!
//! Why our own: a general-purpose compressor keeps a sliding window, hash chains over it and an output staging
//! buffer, about 300 KiB of state (miniz_oxide's is that size at every level), which was a fifth of an exporter's
//! heap. A response body is whole in memory, so here the window is the body itself, and the only state is a hash
//! table of recent positions (8 KiB) and a 1 KiB output buffer.
//!
//! The method is that of the fast deflate levels: greedy LZ77 matching through a hash of the next four bytes (one
//! candidate per hash, no chains), the first positions of each match entered into the table too. What is unusual
//! is the Huffman code: instead of counting each block's symbols and building a code for them (a second pass over
//! the symbols, and a buffer for them), every body is one block with a fixed code made for exposition text
//! ([`EXPOSITION_LIT_LEN`]), sent as a dynamic-Huffman block's description, and each symbol is written as soon as
//! it is found. On exposition bodies that code is within about 1 % of each body's own Huffman code; other input
//! still round-trips, only less compressed. Bodies under [`SMALL_INPUT`] bytes use deflate's built-in fixed code,
//! which costs no description. docs/benchmarks.md has the measurements.

/// Deflate's longest match.
const MAX_MATCH: usize = 258;
/// Deflate's window: how far back a match may start.
const WINDOW: usize = 32 * 1024;
/// Bits of the hash of four bytes; the table holds the last position seen per hash value.
const HASH_BITS: u32 = 12;
/// Extra bits of each length code (257..=285; [`length_code`] computes them) and distance code.
#[cfg(test)]
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// [`DIST_EXTRA`] for five-bit indexes.
const DIST_EXTRA_32: [u8; 32] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 0, 0];

/// Literal/length alphabet: 256 literals, end of block, 29 length codes (and two never used, which the fixed code
/// counts).
const LITLEN_CODES: usize = 286;
const LITLEN_ALL: usize = 288;
const END_OF_BLOCK: usize = 256;
const DIST_CODES: usize = 30;
/// The code length alphabet (RFC 1951 3.2.7).
const CL_CODES: usize = 19;
const CL_ORDER: [usize; CL_CODES] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Bodies shorter than this are written with deflate's fixed code, whose description costs nothing; the exposition
/// code's takes about 90 bytes, which it wins back from about 2 KB of exposition text on.
const SMALL_INPUT: usize = 2048;

/// Code lengths of the exposition code's literals and lengths (0..=285, 16 a row), then of its distances: Huffman
/// codes (at most 15 bits) of the symbol counts of what [`lz77`] finds in the exporters' `.prom` test fixtures,
/// each file weighted alike, every symbol counted at least 100 per million so that any input can be written (a
/// byte in at most 13 bits). Printed by the ignored test `tests::print_exposition_code` (`cargo test -p
/// oxporter-core --lib -- --ignored print_exposition_code --nocapture`).
#[rustfmt::skip]
const EXPOSITION_LIT_LEN: [u8; LITLEN_CODES] = [
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 8, 13, 13, 13, 13, 13,
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
    5, 13, 7, 10, 12, 13, 13, 11, 10, 11, 13, 10, 8, 9, 7, 9,
    7, 7, 7, 7, 7, 8, 8, 7, 8, 7, 10, 13, 12, 8, 12, 13,
    13, 10, 11, 10, 10, 9, 11, 12, 11, 11, 13, 11, 9, 10, 10, 11,
    9, 13, 10, 9, 9, 11, 12, 11, 13, 11, 12, 13, 12, 13, 13, 6,
    13, 6, 7, 6, 6, 5, 7, 7, 8, 6, 11, 8, 6, 6, 6, 5,
    6, 11, 6, 5, 5, 6, 8, 8, 8, 8, 10, 8, 12, 9, 13, 13,
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
    13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
    11, 13, 4, 5, 5, 5, 6, 6, 6, 5, 5, 5, 5, 5, 5, 5,
    6, 6, 7, 8, 9, 9, 10, 12, 13, 13, 13, 13, 13, 13,
];
#[rustfmt::skip]
const EXPOSITION_DIST_LEN: [u8; DIST_CODES] = [
    10, 12, 11, 12, 10, 10, 8, 8, 5, 4, 3, 4, 4, 4, 3, 4,
    4, 5, 4, 5, 5, 5, 5, 6, 5, 6, 6, 6, 6, 8,
];

/// The length code (minus 257) of each match length minus 3, so counting a match's code is one lookup.
#[cfg(test)]
const LEN_CODE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut l = 0;
    while l < 256 {
        t[l] = (length_code(l + 3).0 - 257) as u8;
        l += 1;
    }
    t
};

/// The distance code of each distance minus 1 below 256, then of each (distance minus 1) / 128 (distance codes
/// from 16 up span whole multiples of 128), so finding a match's code is one lookup.
const DIST_CODE: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut i = 0;
    while i < 256 {
        t[i] = distance_code(i + 1).0 as u8;
        t[256 + i] = distance_code((i << 7) + 1).0 as u8;
        i += 1;
    }
    t
};

/// Deflate's fixed code (RFC 1951 3.2.6).
static FIXED: Code = Code::new(&fixed_lit_lengths(), &[5; DIST_CODES]);
/// The code made for exposition text.
static EXPOSITION: Code = Code::new(&all_lit_lengths(&EXPOSITION_LIT_LEN), &EXPOSITION_DIST_LEN);

/// Appends the raw deflate stream of `input` to `out`.
pub fn compress(input: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    compress_coded(input, out);
    // Input the codes make longer (random bytes; text mostly of bytes the exposition code gives long codes, such as
    // non-ASCII label values) is sent as it is instead: never more than 5 bytes per 64 KiB over its size.
    if out.len() - start > stored_len(input.len()) {
        out.truncate(start);
        store(input, out);
    }
}

/// The size of `n` bytes as stored blocks: 5 bytes of header per block of at most 65,535 bytes, at least one block.
fn stored_len(n: usize) -> usize {
    n + 5 * n.div_ceil(STORED_MAX).max(1)
}

/// The most one stored block holds.
const STORED_MAX: usize = 65_535;

/// Appends `input` as stored (uncompressed) blocks (RFC 1951 3.2.4), starting at a byte boundary.
fn store(input: &[u8], out: &mut Vec<u8>) {
    let mut chunks = input.chunks(STORED_MAX).peekable();
    loop {
        let chunk = chunks.next().unwrap_or_default();
        let last = chunks.peek().is_none();
        // BFINAL, then BTYPE 00; the rest of the byte is padding.
        out.push(u8::from(last));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
        if last {
            return;
        }
    }
}

/// [`compress`] with a Huffman code: the fixed one for small inputs, the exposition code otherwise.
fn compress_coded(input: &[u8], out: &mut Vec<u8>) {
    let mut w = BitWriter::new(out);
    w.put(1, 1); // the one block is the last
    let code = if input.len() < SMALL_INPUT {
        w.put(1, 2); // fixed Huffman codes
        &FIXED
    } else {
        w.put(2, 2); // dynamic Huffman codes: the description of the exposition code
        let (bytes, bits) = exposition_description();
        let mut left = *bits;
        for chunk in bytes.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            // The last chunk is only partly description; the rest is zero.
            let n = left.min(32);
            w.put(u64::from(u32::from_le_bytes(word)), n);
            w.flush();
            left -= n;
        }
        &EXPOSITION
    };
    w.flush();
    // The accumulator in a local of the loop, so it stays in registers.
    let mut emit = Emitter { code, bits: w.bits, w: &mut w };
    lz77(input, &mut emit);
    let bits = emit.bits;
    w.bits = bits;
    w.put(u64::from(code.lit_bits[END_OF_BLOCK]), u32::from(code.lit_len[END_OF_BLOCK]));
    w.finish();
}

/// What LZ77 matching finds, in order.
trait Sink {
    /// The byte `b`, unmatched.
    fn literal(&mut self, b: u8);
    /// A copy of `len` (4..=258) bytes from `dist` (1..=WINDOW) bytes back.
    fn copy(&mut self, len: usize, dist: usize);
}

/// Greedy LZ77 matching of `input` into `sink`.
#[inline(always)]
fn lz77(input: &[u8], sink: &mut impl Sink) {
    // The low 16 bits of the last position of each hash. They reach back over the whole window, and hold twice as
    // many positions in the same memory as full ones; an entry older than 64 KiB aliases a newer position, which
    // the comparison of the bytes below rejects like any other hash collision.
    let mut table = vec![0u16; 1 << HASH_BITS];
    let mut pos = 0;
    // Eight bytes are read at each position (the hash takes four, a match's first positions are hashed from the
    // rest); the last seven bytes of the input are written as literals below.
    while let Some(word) = read_u64(input, pos) {
        let h = hash(word);
        let d = usize::from((pos as u16).wrapping_sub(table[h]));
        table[h] = pos as u16;
        // A distance of 1..=WINDOW whose four bytes equal these. It never reaches before the input: entries hold
        // earlier positions (or 0), so `d` is at most `pos`, and a wrapped index would only fail to read.
        if d.wrapping_sub(1) < WINDOW
            && let Some(earlier) = read_u64(input, pos.wrapping_sub(d))
            && (earlier ^ word) as u32 == 0
        {
            // Most matches are decided by these eight bytes; longer ones are compared on.
            let diff = earlier ^ word;
            let len = if diff != 0 {
                (diff.trailing_zeros() / 8) as usize
            } else {
                8 + match_length(input, pos.wrapping_sub(d) + 8, pos + 8, MAX_MATCH - 8)
            };
            sink.copy(len, d);
            // The next positions too, as far as the word covers them (not past the match: the position after
            // it is looked up next, and entering it now would replace its candidate by itself).
            table[hash(word >> 8)] = (pos + 1) as u16;
            table[hash(word >> 16)] = (pos + 2) as u16;
            table[hash(word >> 24)] = (pos + 3) as u16;
            pos += len;
        } else {
            sink.literal(word as u8);
            pos += 1;
        }
    }
    for &b in input.get(pos..).unwrap_or_default() {
        sink.literal(b);
    }
}

/// The eight bytes at `pos`, little-endian, if there are eight.
#[inline(always)]
fn read_u64(input: &[u8], pos: usize) -> Option<u64> {
    Some(u64::from_le_bytes(input.get(pos..pos.checked_add(8)?)?.try_into().ok()?))
}

/// The hash of the low four bytes of `word`.
#[inline(always)]
fn hash(word: u64) -> usize {
    ((word as u32).wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// How many bytes at `earlier` equal those at `pos`, at most `max` (the two may overlap). Eight bytes are compared
/// at a time: the lowest set bit of their XOR tells which byte differs first.
#[inline(always)]
fn match_length(input: &[u8], earlier: usize, pos: usize, max: usize) -> usize {
    let limit = max.min(input.len().saturating_sub(pos));
    let (Some(a), Some(b)) = (input.get(earlier..earlier + limit), input.get(pos..pos + limit)) else {
        return 0;
    };
    let mut n = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let diff =
            u64::from_le_bytes(x.try_into().unwrap_or_default()) ^ u64::from_le_bytes(y.try_into().unwrap_or_default());
        if diff != 0 {
            return n + (diff.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + a[n..].iter().zip(&b[n..]).take_while(|(x, y)| x == y).count()
}

/// Length code (257..=285), its extra bits and their value for a match length of 3..=258.
const fn length_code(len: usize) -> (usize, u32, u32) {
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
const fn distance_code(dist: usize) -> (usize, u32, u32) {
    let d = (dist - 1) as u32;
    if d < 4 {
        return (d as usize, 0, 0);
    }
    let top = 31 - d.leading_zeros(); // 2..=14
    let extra = top - 1;
    (2 * top as usize + ((d >> extra) & 1) as usize, extra, d & ((1 << extra) - 1))
}

/// The distance code (five-bit index) and the value of its extra bits for a distance of 1..=WINDOW, by lookup.
#[inline(always)]
fn distance_code_fast(dist: usize) -> (usize, u32) {
    let x = dist.wrapping_sub(1) & (WINDOW - 1);
    let code = usize::from(DIST_CODE[if x < 256 { x } else { 256 + (x >> 7) }] & 31);
    // The extra bits are the low bits of the distance minus 1 (each code's first distance minus 1 has them 0).
    (code, (x & ((1 << DIST_EXTRA_32[code]) - 1)) as u32)
}

/// A Huffman code in the form its symbols are written in: codes bit-reversed (deflate writes them from their
/// first bit, least significant first), a length's code joined with its extra bits.
struct Code {
    /// The codes of the literals and the end of block, and their lengths.
    lit_bits: [u32; END_OF_BLOCK + 1],
    lit_len: [u8; END_OF_BLOCK + 1],
    /// For each match length minus 3: its length code followed by the extra bits, and their number.
    len_bits: [u32; 256],
    len_len: [u8; 256],
    /// For each distance code (five-bit indexes, so no bounds checks): the code, its length, and its length
    /// with the extra bits.
    dist_bits: [u32; 32],
    dist_len: [u8; 32],
    dist_total: [u8; 32],
}

impl Code {
    /// The code of these literal/length and distance code lengths.
    const fn new(lit_len: &[u8; LITLEN_ALL], dist_len: &[u8; DIST_CODES]) -> Code {
        let lit = canonical(lit_len);
        let dist = canonical(dist_len);
        let mut c = Code {
            lit_bits: [0; END_OF_BLOCK + 1],
            lit_len: [0; END_OF_BLOCK + 1],
            len_bits: [0; 256],
            len_len: [0; 256],
            dist_bits: [0; 32],
            dist_len: [0; 32],
            dist_total: [0; 32],
        };
        let mut s = 0;
        while s <= END_OF_BLOCK {
            c.lit_bits[s] = lit[s];
            c.lit_len[s] = lit_len[s];
            s += 1;
        }
        let mut l = 0;
        while l < 256 {
            let (code, extra, value) = length_code(l + 3);
            c.len_bits[l] = lit[code] | value << lit_len[code];
            c.len_len[l] = lit_len[code] + extra as u8;
            l += 1;
        }
        let mut d = 0;
        while d < DIST_CODES {
            c.dist_bits[d] = dist[d];
            c.dist_len[d] = dist_len[d];
            c.dist_total[d] = dist_len[d] + DIST_EXTRA[d];
            d += 1;
        }
        c
    }
}

/// Canonical Huffman codes for `lengths` (RFC 1951 3.2.2), bit-reversed for writing least significant bit first.
const fn canonical<const N: usize>(lengths: &[u8; N]) -> [u32; N] {
    let mut count = [0u32; 16];
    let mut s = 0;
    while s < N {
        count[(lengths[s] & 15) as usize] += 1;
        s += 1;
    }
    count[0] = 0;
    let mut next = [0u32; 16];
    let mut code = 0;
    let mut bits = 1;
    while bits < 16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
        bits += 1;
    }
    let mut out = [0u32; N];
    let mut s = 0;
    while s < N {
        let l = (lengths[s] & 15) as usize;
        if l > 0 {
            out[s] = next[l].reverse_bits() >> (32 - l);
            next[l] += 1;
        }
        s += 1;
    }
    out
}

/// The fixed literal/length code lengths (RFC 1951 3.2.6), of all 288 symbols: the two that are never used still
/// take their place among the codes.
const fn fixed_lit_lengths() -> [u8; LITLEN_ALL] {
    let mut len = [8u8; LITLEN_ALL];
    let mut s = 144;
    while s < 280 {
        len[s] = if s < 256 { 9 } else { 7 };
        s += 1;
    }
    len
}

/// `lengths` with the two symbols never used, which have no code.
const fn all_lit_lengths(lengths: &[u8; LITLEN_CODES]) -> [u8; LITLEN_ALL] {
    let mut all = [0u8; LITLEN_ALL];
    let mut s = 0;
    while s < LITLEN_CODES {
        all[s] = lengths[s];
        s += 1;
    }
    all
}

/// Writes what [`lz77`] finds with a code.
struct Emitter<'w, 'a> {
    code: &'static Code,
    bits: Bits,
    w: &'w mut BitWriter<'a>,
}

impl Sink for Emitter<'_, '_> {
    #[inline(always)]
    fn literal(&mut self, b: u8) {
        let b = usize::from(b);
        self.bits.put(u64::from(self.code.lit_bits[b]), u32::from(self.code.lit_len[b]));
        self.bits.flush(&mut self.w.stage, self.w.out);
    }

    #[inline(always)]
    fn copy(&mut self, len: usize, dist: usize) {
        let c = self.code;
        let l = (len - 3) & 0xff;
        let (d, value) = distance_code_fast(dist);
        let dist = u64::from(c.dist_bits[d]) | u64::from(value) << c.dist_len[d];
        // At most 15 + 5 + 15 + 13 bits.
        self.bits
            .put(u64::from(c.len_bits[l]) | dist << c.len_len[l], u32::from(c.len_len[l]) + u32::from(c.dist_total[d]));
        self.bits.flush(&mut self.w.stage, self.w.out);
    }
}

/// The description of the exposition code ([`write_code_lengths`]) as bytes, and its length in bits: the same for
/// every body, so made once (it takes as long as compressing a few KB).
fn exposition_description() -> &'static (Vec<u8>, u32) {
    static DESCRIPTION: std::sync::OnceLock<(Vec<u8>, u32)> = std::sync::OnceLock::new();
    DESCRIPTION.get_or_init(|| {
        let mut bytes = Vec::new();
        let mut w = BitWriter::new(&mut bytes);
        write_code_lengths(&mut w, &EXPOSITION_LIT_LEN, &EXPOSITION_DIST_LEN);
        w.flush();
        let bits = ((w.out.len() + w.bits.staged) * 8) as u32 + w.bits.n;
        w.finish();
        (bytes, bits)
    })
}

/// Writes the description of a dynamic-Huffman block's code (RFC 1951 3.2.7): the code lengths of both
/// alphabets, run-length encoded and themselves Huffman coded.
fn write_code_lengths(w: &mut BitWriter<'_>, lit_len: &[u8; LITLEN_CODES], dist_len: &[u8; DIST_CODES]) {
    let hlit = 257.max(lit_len.iter().rposition(|&l| l > 0).map_or(0, |i| i + 1));
    let hdist = 1.max(dist_len.iter().rposition(|&l| l > 0).map_or(0, |i| i + 1));
    let mut lengths = [0u8; LITLEN_CODES + DIST_CODES];
    lengths[..hlit].copy_from_slice(&lit_len[..hlit]);
    lengths[hlit..hlit + hdist].copy_from_slice(&dist_len[..hdist]);
    let mut runs = [(0u8, 0u8); LITLEN_CODES + DIST_CODES];
    let n_runs = run_lengths(&lengths[..hlit + hdist], &mut runs);
    let runs = &runs[..n_runs];
    let mut cl_freq = [0u32; CL_CODES];
    for &(sym, _) in runs {
        cl_freq[usize::from(sym)] += 1;
    }
    // Decoders want complete codes, so the alphabet gets at least two symbols.
    at_least_two(&mut cl_freq);
    let mut cl_len = [0u8; CL_CODES];
    code_lengths(&cl_freq, 7, &mut cl_len);
    let hclen = 4.max(CL_ORDER.iter().rposition(|&s| cl_len[s] > 0).map_or(0, |i| i + 1));
    w.put((hlit - 257) as u64, 5);
    w.put((hdist - 1) as u64, 5);
    w.put((hclen - 4) as u64, 4);
    w.flush();
    for &s in &CL_ORDER[..hclen] {
        w.put(u64::from(cl_len[s]), 3);
        w.flush();
    }
    let cl_codes = canonical(&cl_len);
    for &(sym, extra) in runs {
        let sym = usize::from(sym);
        w.put(u64::from(cl_codes[sym]), u32::from(cl_len[sym]));
        match sym {
            16 => w.put(u64::from(extra), 2),
            17 => w.put(u64::from(extra), 3),
            18 => w.put(u64::from(extra), 7),
            _ => {}
        }
        w.flush();
    }
}

/// Gives unused symbols a count until at least two are used.
fn at_least_two(freq: &mut [u32]) {
    let used = freq.iter().filter(|&&f| f > 0).count();
    for f in freq.iter_mut().filter(|f| **f == 0).take(2usize.saturating_sub(used)) {
        *f = 1;
    }
}

/// The code lengths sequence as (symbol, extra bits value) pairs of the code length alphabet, into `out`; returns
/// how many.
fn run_lengths(lengths: &[u8], out: &mut [(u8, u8)]) -> usize {
    let mut n = 0;
    let mut push = |pair| {
        if let Some(slot) = out.get_mut(n) {
            *slot = pair;
            n += 1;
        }
    };
    let mut i = 0;
    while i < lengths.len() {
        let l = lengths[i];
        let run = lengths[i..].iter().take_while(|&&x| x == l).count();
        if l == 0 && run >= 3 {
            let n = run.min(138);
            if n <= 10 {
                push((17, (n - 3) as u8));
            } else {
                push((18, (n - 11) as u8));
            }
            i += n;
        } else if l != 0 && run >= 4 {
            // The length once, then repeats of it, 3 to 6 at a time.
            push((l, 0));
            let n = (run - 1).min(6);
            push((16, (n - 3) as u8));
            i += 1 + n;
        } else {
            push((l, 0));
            i += 1;
        }
    }
    n
}

/// Huffman code lengths for `freq`, none longer than `limit`, forming a complete code (as decoders require) over
/// the symbols with a non-zero count (at least two).
fn code_lengths<const N: usize>(freq: &[u32; N], limit: u8, lengths: &mut [u8; N]) {
    // The used symbols by count (ties by symbol), packed as count << 9 | symbol so they sort as integers. Counts
    // are below 2^23: a block has at most BLOCK_SYMBOLS symbols.
    let mut sorted = [0u32; N];
    let mut n = 0;
    for (s, &f) in freq.iter().enumerate() {
        if f > 0 {
            sorted[n] = f.min(1 << 22) << 9 | s as u32;
            n += 1;
        }
    }
    let sorted = &mut sorted[..n];
    sorted.sort_unstable();
    *lengths = [0; N];
    if n < 2 {
        if let Some(&leaf) = sorted.first() {
            lengths[(leaf & 511) as usize] = 1;
        }
        return;
    }
    // Huffman's code lengths computed in place over the sorted counts (Moffat and Katajainen's method, no heap and
    // no tree): afterwards a[i] is the length of the i-th rarest symbol's code, lengths falling as i grows.
    let mut a = [0u32; N];
    let a = &mut a[..n];
    for (x, &leaf) in a.iter_mut().zip(sorted.iter()) {
        *x = leaf >> 9;
    }
    huffman_in_place(a);
    // Lengths over the limit are cut to it and the code is made complete again on the counts per length.
    let limit = usize::from(limit);
    let mut count = [0u32; 16];
    for &l in a.iter() {
        count[(l as usize).min(limit)] += 1;
    }
    limit_lengths(&mut count, limit);
    // The longest codes go to the rarest symbols.
    let mut rarest = sorted.iter();
    for l in (1..=limit).rev() {
        for &leaf in rarest.by_ref().take(count[l] as usize) {
            lengths[(leaf & 511) as usize] = l as u8;
        }
    }
}

/// Replaces the nondecreasing weights `a` (at least two) by the lengths of their Huffman codes. The first pass
/// merges as Huffman's algorithm does, using the front of `a` for the merged nodes' parents; the second turns parents
/// into depths; the third hands out the leaves' depths from the tree's shape.
fn huffman_in_place(a: &mut [u32]) {
    let n = a.len();
    a[0] += a[1];
    let (mut root, mut leaf) = (0, 2);
    for next in 1..n - 1 {
        // Each merged node takes the two lightest of the next unmerged leaf and the next parentless merged node.
        for first in [true, false] {
            let take_merged = leaf >= n || (root < next && a[root] < a[leaf]);
            let w = if take_merged {
                let w = a[root];
                a[root] = next as u32;
                root += 1;
                w
            } else {
                leaf += 1;
                a[leaf - 1]
            };
            if first { a[next] = w } else { a[next] += w }
        }
    }
    a[n - 2] = 0;
    for next in (0..n.saturating_sub(2)).rev() {
        a[next] = a[a[next] as usize] + 1;
    }
    let (mut avail, mut used, mut depth) = (1usize, 0usize, 0u32);
    let mut root = n as isize - 2;
    let mut next = n;
    while avail > 0 {
        while root >= 0 && a[root as usize] == depth {
            used += 1;
            root -= 1;
        }
        while avail > used && next > 0 {
            next -= 1;
            a[next] = depth;
            avail -= 1;
        }
        avail = 2 * used;
        depth += 1;
        used = 0;
    }
}

/// Makes the counts of codes per length (`count[l]` codes of length `l`, none above `limit`) a complete code again
/// after longer codes were cut to `limit`.
fn limit_lengths(count: &mut [u32; 16], limit: usize) {
    // Kraft sum in units of 2^-limit; a complete code has exactly 2^limit.
    let full = 1u64 << limit;
    let mut kraft: u64 = (1..=limit).map(|l| u64::from(count[l]) << (limit - l)).sum();
    // Over-full: lengthen one of the longest codes below the limit at a time.
    while kraft > full {
        let Some(l) = (1..limit).rev().find(|&l| count[l] > 0) else {
            break;
        };
        count[l] -= 1;
        count[l + 1] += 1;
        kraft -= 1u64 << (limit - l - 1);
    }
    // Lengthening may overshoot: shorten one of the longest codes while that keeps the code from being over-full.
    // The longest code's share always fits what is missing, so this ends complete.
    while kraft < full {
        let Some(l) = (2..=limit).rev().find(|&l| count[l] > 0) else {
            break;
        };
        let gain = 1u64 << (limit - l);
        if kraft + gain > full {
            break;
        }
        count[l] -= 1;
        count[l - 1] += 1;
        kraft += gain;
    }
}

/// Size of the output staging buffer of [`BitWriter`].
const STAGE: usize = 1024;

/// Writes bits least significant first, as deflate packs them. Values are gathered in a 64-bit accumulator and
/// whole bytes go out eight at a time into a small buffer (one store, no length checks per byte), which is
/// appended to the output when nearly full.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    stage: [u8; STAGE],
    bits: Bits,
}

/// The accumulator and the staging buffer's fill. Apart from the buffer, so that a hot loop can keep a copy of it
/// in registers (see [`write_symbols`]).
#[derive(Clone, Copy)]
struct Bits {
    acc: u64,
    n: u32,
    staged: usize,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> BitWriter<'a> {
        BitWriter { out, stage: [0; STAGE], bits: Bits { acc: 0, n: 0, staged: 0 } }
    }

    /// [`Bits::put`].
    fn put(&mut self, value: u64, n: u32) {
        self.bits.put(value, n);
    }

    /// [`Bits::flush`].
    fn flush(&mut self) {
        self.bits.flush(&mut self.stage, self.out);
    }

    /// Writes what is left, padded to a whole byte.
    fn finish(&mut self) {
        self.flush();
        drain(&self.stage, self.bits.staged, self.out);
        if self.bits.n > 0 {
            self.out.push(self.bits.acc as u8);
        }
        self.bits = Bits { acc: 0, n: 0, staged: 0 };
    }
}

impl Bits {
    /// Adds the low `n` bits of `value` (nothing above them set). Between two [`flush`](Self::flush)es at most 56
    /// bits may be added: a match's codes and extra bits are at most 48.
    #[inline(always)]
    fn put(&mut self, value: u64, n: u32) {
        self.acc |= value << self.n;
        self.n += n;
    }

    /// Moves the whole bytes of the accumulator to `stage`, leaving fewer than 8 bits, and the staged bytes to `out`
    /// when `stage` is nearly full.
    #[inline(always)]
    fn flush(&mut self, stage: &mut [u8; STAGE], out: &mut Vec<u8>) {
        if self.staged > STAGE - 8 {
            drain(stage, self.staged, out);
            self.staged = 0;
        }
        if let Some(slot) = stage.get_mut(self.staged..self.staged + 8) {
            slot.copy_from_slice(&self.acc.to_le_bytes());
        }
        let bytes = self.n / 8;
        self.staged += bytes as usize;
        // Fewer than 64 bits are ever held, so the shift stays in range.
        self.acc >>= (bytes * 8) & 63;
        self.n %= 8;
    }
}

/// Appends the first `staged` bytes of `stage` to `out`.
#[inline(never)]
fn drain(stage: &[u8; STAGE], staged: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&stage[..staged.min(STAGE)]);
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
        assert!(z.len() <= stored_len(input.len()), "{} bytes for {}", z.len(), input.len());
        z.len()
    }

    #[test]
    fn input_the_codes_make_longer_is_stored() {
        let noise = crate::testing::noise(2_463_534_242, 200_000);
        // Empty and one-byte inputs: the fixed code is shorter than a stored block's header (`round_trip` checks
        // that nothing is ever longer than stored).
        round_trip(&[]);
        round_trip(&noise[..1]);
        for len in [100, 2047, 2048, 65_535, 65_536, 131_070, 200_000] {
            assert_eq!(round_trip(&noise[..len]), stored_len(len), "{len} bytes of noise");
        }
        // Mostly non-ASCII text (label values in another script): stored rather than grown.
        let text = "节点_指标{主机=\"服务器一号\"} 1\n".repeat(200);
        assert!(round_trip(text.as_bytes()) <= stored_len(text.len()));
        // Exposition text is still coded.
        let body = "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12345.67\n".repeat(100);
        assert!(round_trip(body.as_bytes()) < body.len() / 10);
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

    /// Checks that `len` is a complete code over the used symbols of `freq`, none longer than `limit`, and returns
    /// its cost in bits.
    fn check_code<const N: usize>(freq: &[u32; N], limit: u8) -> u64 {
        let mut len = [0u8; N];
        code_lengths(freq, limit, &mut len);
        let kraft: f64 = len.iter().filter(|&&l| l > 0).map(|&l| 0.5f64.powi(i32::from(l))).sum();
        assert_eq!(kraft, 1.0, "{freq:?} -> {len:?}");
        assert!(len.iter().all(|&l| l <= limit), "{len:?}");
        assert!(freq.iter().zip(&len).all(|(&f, &l)| (f > 0) == (l > 0)), "{freq:?} -> {len:?}");
        freq.iter().zip(&len).map(|(&f, &l)| u64::from(f) * u64::from(l)).sum()
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
        check_code(&fib, 15);
        let mut fib19 = [0u32; 19];
        fib19.copy_from_slice(&fib[..19]);
        check_code(&fib19, 7);
        check_code(&[1, 1], 15);
        check_code(&[5, 0, 0, 9, 1], 7);
        check_code(&[0, 0, 3, 0, 1000, 1, 1, 1, 1, 1], 3);
        // All of an alphabet used, and one symbol of an alphabet of one (a code of one 1-bit length).
        check_code(&[7u32; LITLEN_CODES], 15);
        let mut one = [0u8; 3];
        code_lengths(&[0, 4, 0], 15, &mut one);
        assert_eq!(one, [0, 1, 0]);
    }

    #[test]
    fn code_lengths_are_optimal_below_the_limit() {
        // The cost of a Huffman code is the sum of the weights of the merged nodes, whichever way ties go: compare
        // with that, from a plain heap, for counts whose trees stay within the limit.
        let mut next = crate::testing::xorshift(0x2545_f491_4f6c_dd1d);
        let mut compared = 0;
        for round in 0..300 {
            let mut freq = [0u32; LITLEN_CODES];
            let used = 2 + (next() % 285) as usize;
            for f in freq.iter_mut().take(used) {
                *f = if next().is_multiple_of(4) { 0 } else { 1 + (next() % 500) as u32 };
            }
            freq[0] = freq[0].max(1);
            freq[1] = freq[1].max(1);
            let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<u64>> =
                freq.iter().filter(|&&f| f > 0).map(|&f| std::cmp::Reverse(u64::from(f))).collect();
            let mut optimal = 0;
            while let (Some(std::cmp::Reverse(a)), Some(std::cmp::Reverse(b))) = (heap.pop(), heap.pop()) {
                optimal += a + b;
                heap.push(std::cmp::Reverse(a + b));
            }
            let mut len = [0u8; LITLEN_CODES];
            code_lengths(&freq, 15, &mut len);
            if len.iter().all(|&l| l < 15) {
                assert_eq!(check_code(&freq, 15), optimal, "round {round}");
                compared += 1;
            }
        }
        assert!(compared > 250, "{compared}");
    }

    /// Symbol counts of what [`lz77`] finds.
    struct Counts {
        lit: [u64; LITLEN_CODES],
        dist: [u64; DIST_CODES],
    }

    impl Sink for Counts {
        fn literal(&mut self, b: u8) {
            self.lit[usize::from(b)] += 1;
        }

        fn copy(&mut self, len: usize, dist: usize) {
            self.lit[257 + usize::from(LEN_CODE[len - 3])] += 1;
            self.dist[distance_code(dist).0] += 1;
        }
    }

    /// The exposition fixtures of the exporters' tests (larger than 4 KB, so whole bodies).
    fn exposition_fixtures() -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let exporters = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../exporters");
        let mut files = Vec::new();
        for exporter in std::fs::read_dir(&exporters).expect("exporters/") {
            let Ok(dir) = std::fs::read_dir(exporter.expect("entry").path().join("tests/fixtures")) else {
                continue;
            };
            for file in dir {
                let path = file.expect("entry").path();
                if path.extension().is_some_and(|e| e == "prom") {
                    let body = std::fs::read(&path).expect("fixture");
                    if body.len() > 4096 {
                        files.push((path, body));
                    }
                }
            }
        }
        files.sort();
        files
    }

    #[test]
    #[ignore = "prints the exposition code's lengths, to paste after changing the matcher or the fixtures"]
    fn print_exposition_code() {
        // Each file's counts scaled to 100 000 symbols, so that each weighs alike.
        let mut lit = [0u32; LITLEN_CODES];
        let mut dist = [0u32; DIST_CODES];
        for (path, body) in exposition_fixtures() {
            let mut counts = Counts { lit: [0; LITLEN_CODES], dist: [0; DIST_CODES] };
            lz77(&body, &mut counts);
            counts.lit[END_OF_BLOCK] = 1;
            let total: u64 = counts.lit.iter().sum();
            println!("{}: {} symbols", path.display(), total);
            for (sum, &c) in lit.iter_mut().zip(&counts.lit) {
                *sum += (c * 100_000).div_ceil(total) as u32;
            }
            let total: u64 = counts.dist.iter().sum::<u64>().max(1);
            for (sum, &c) in dist.iter_mut().zip(&counts.dist) {
                *sum += (c * 100_000).div_ceil(total) as u32;
            }
        }
        // Every symbol at least 100 per million of the total: rare bytes get codes of 13 bits, not 15.
        let floor = |freq: &mut [u32]| {
            let min = freq.iter().sum::<u32>() / 10_000 + 1;
            freq.iter_mut().for_each(|f| *f = (*f).max(min));
        };
        floor(&mut lit);
        floor(&mut dist);
        let mut lit_len = [0u8; LITLEN_CODES];
        let mut dist_len = [0u8; DIST_CODES];
        code_lengths(&lit, 15, &mut lit_len);
        code_lengths(&dist, 15, &mut dist_len);
        // As the constants are written: 16 a row.
        let rows = |lengths: &[u8]| -> String {
            lengths
                .chunks(16)
                .map(|row| format!("    {},\n", row.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")))
                .collect()
        };
        println!("const EXPOSITION_LIT_LEN: [u8; LITLEN_CODES] = [\n{}];", rows(&lit_len));
        println!("const EXPOSITION_DIST_LEN: [u8; DIST_CODES] = [\n{}];", rows(&dist_len));
    }

    #[test]
    fn the_exposition_code_is_complete() {
        // Every literal, length and distance has a code, and the codes are complete, as decoders require.
        for lengths in [&EXPOSITION_LIT_LEN[..], &EXPOSITION_DIST_LEN[..]] {
            assert!(lengths.iter().all(|&l| (1..=15).contains(&l)), "{lengths:?}");
            let kraft: f64 = lengths.iter().map(|&l| 0.5f64.powi(i32::from(l))).sum();
            assert_eq!(kraft, 1.0);
        }
    }

    /// Bits of a dynamic block's description of a code.
    fn description_bits(lit_len: &[u8; LITLEN_CODES], dist_len: &[u8; DIST_CODES]) -> u64 {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        write_code_lengths(&mut w, lit_len, dist_len);
        w.finish();
        out.len() as u64 * 8
    }

    #[test]
    fn exposition_fixtures_compress_well() {
        // Within a few percent of each body's own Huffman code (which a dynamic block of its own would get),
        // descriptions included: the exposition code fits them.
        let fixtures = exposition_fixtures();
        assert!(fixtures.len() >= 5, "{} fixtures", fixtures.len());
        for (path, body) in fixtures {
            let mut z = Vec::new();
            compress(&body, &mut z);
            assert_eq!(inflate(&z), body, "{}", path.display());
            let mut counts = Counts { lit: [0; LITLEN_CODES], dist: [0; DIST_CODES] };
            lz77(&body, &mut counts);
            counts.lit[END_OF_BLOCK] = 1;
            let cost =
                |freq: &[u64], len: &[u8]| -> u64 { freq.iter().zip(len).map(|(&f, &l)| f * u64::from(l)).sum() };
            let (mut lit, mut dist) = ([0u32; LITLEN_CODES], [0u32; DIST_CODES]);
            lit.iter_mut().zip(&counts.lit).for_each(|(a, &b)| *a = b as u32);
            dist.iter_mut().zip(&counts.dist).for_each(|(a, &b)| *a = b as u32);
            at_least_two(&mut dist);
            let (mut lit_len, mut dist_len) = ([0u8; LITLEN_CODES], [0u8; DIST_CODES]);
            code_lengths(&lit, 15, &mut lit_len);
            code_lengths(&dist, 15, &mut dist_len);
            let own =
                description_bits(&lit_len, &dist_len) + cost(&counts.lit, &lit_len) + cost(&counts.dist, &dist_len);
            let ours = description_bits(&EXPOSITION_LIT_LEN, &EXPOSITION_DIST_LEN)
                + cost(&counts.lit, &EXPOSITION_LIT_LEN)
                + cost(&counts.dist, &EXPOSITION_DIST_LEN);
            // Small bodies pay more for the exposition code's longer description (it has no unused symbols).
            let percent = if body.len() > 16 * 1024 { 106 } else { 112 };
            assert!(ours * 100 < own * percent, "{}: {ours} bits against {own}", path.display());
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
        assert!(z < text.len() * 3 / 10, "{} of {}", z, text.len());
        // Pseudo-random bytes: nothing to find, every literal.
        let noise = crate::testing::noise(0x2545_f491_4f6c_dd1d, 70_000);
        round_trip(&noise);
        // Runs longer than the longest match, and repeats at exactly the window's distance.
        let mut edge = noise[..WINDOW].to_vec();
        edge.extend_from_slice(&noise[..WINDOW]);
        edge.extend(std::iter::repeat_n(b'x', 1000));
        round_trip(&edge);
    }

    #[test]
    fn edges_round_trip() {
        let noise = crate::testing::noise(0x2545_f491_4f6c_dd1d, 64 * 1024);
        let text: Vec<u8> =
            (0..400u32).flat_map(|i| format!("up{{job=\"j{}\"}} {}\n", i % 7, i).into_bytes()).collect();
        // Either side of the switch from the fixed code to the exposition code.
        for len in [SMALL_INPUT - 1, SMALL_INPUT, SMALL_INPUT + 1] {
            round_trip(&text[..len]);
            round_trip(&noise[..len]);
        }
        // Matches running to the very end of the input, at every length up to past the longest match.
        for tail in 0..300 {
            let mut input = noise[..1000].to_vec();
            input.extend_from_slice(&noise[..tail]);
            round_trip(&input);
        }
        // Repeats farther back than the window (never matched) and nearer (matched), over a megabyte: the table's
        // 16-bit positions wrap many times, and stale entries must be rejected.
        let far: Vec<u8> = noise[..40 * 1024].repeat(30);
        let near: Vec<u8> = noise[..20 * 1024].repeat(60);
        let far_z = round_trip(&far);
        let near_z = round_trip(&near);
        assert!(near_z < far_z / 2, "{near_z} against {far_z}");
    }

    #[test]
    fn random_inputs_of_small_alphabets_round_trip() {
        // Small alphabets give many short and overlapping matches; sizes cross block and window boundaries.
        let mut next = crate::testing::xorshift(0x9e37_79b9_7f4a_7c15);
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
