//! A small, fast deflate compressor (RFC 1951) for response bodies.
//!
//! Why our own: a general-purpose compressor keeps a sliding window, hash chains over it and an output staging
//! buffer, about 300 KiB of state (miniz_oxide's is that size at every level), which was a fifth of an exporter's
//! heap. A response body is whole in memory, so here the window is the body itself, and the only state is a hash
//! table of recent positions (16 KiB), one block's symbols (at most 32 KiB) and a 1 KiB output buffer.
//!
//! The method is that of the fast deflate levels: greedy LZ77 matching through a hash of the next four bytes (one
//! candidate per hash, no chains), the first positions of each match entered into the table too, and a
//! dynamic-Huffman block per [`BLOCK_SYMBOLS`] symbols (a fixed-Huffman one when that is smaller, as for tiny
//! bodies). On oxporter-node's 54 KB body it writes about 9.6 KB (miniz_oxide's fastest level wrote 10.7 KB) in
//! about 12 instructions a byte; docs/benchmarks.md has the measurements.

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
/// A symbol is a literal byte, or a match: `MATCH`, the distance code (bits 23..28), the length minus 3 (bits
/// 15..23) and the value of the distance's extra bits (bits 0..13). The codes' counts are kept as symbols are added.
const MATCH: u32 = 1 << 31;
/// Extra bits of each length code (257..=285) and distance code.
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// [`DIST_EXTRA`] for five-bit indexes.
const DIST_EXTRA_32: [u8; 32] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 0, 0];
/// Positions inside a match entered into the hash table: those the eight bytes read at the match's start cover
/// (entering all of a long match costs time and finds little more on exposition text).
const INSERT_MAX: usize = 4;

/// Literal/length alphabet: 256 literals, end of block, 29 length codes.
const LITLEN_CODES: usize = 286;
const END_OF_BLOCK: usize = 256;
const DIST_CODES: usize = 30;
/// The code length alphabet (RFC 1951 3.2.7).
const CL_CODES: usize = 19;
const CL_ORDER: [usize; CL_CODES] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// The length code (minus 257) of each match length minus 3, so counting a match's code is one lookup.
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

/// Appends the raw deflate stream of `input` to `out`.
pub fn compress(input: &[u8], out: &mut Vec<u8>) {
    let mut w = BitWriter::new(out);
    // The low 16 bits of the last position of each hash. They reach back over the whole window, and hold twice as
    // many positions in the same memory as full ones; an entry older than 64 KiB aliases a newer position, which
    // the comparison of the bytes below rejects like any other hash collision.
    let mut table = vec![0u16; 1 << HASH_BITS];
    let mut block = Block::new(input.len());
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
            block.push_match(len, d);
            // The next positions too, as far as the word covers them (not past the match: the position after
            // it is looked up next, and entering it now would replace its candidate by itself).
            table[hash(word >> 8)] = (pos + 1) as u16;
            table[hash(word >> 16)] = (pos + 2) as u16;
            table[hash(word >> 24)] = (pos + 3) as u16;
            pos += len;
        } else {
            block.push_literal(word as u8);
            pos += 1;
        }
        if block.symbols.len() == BLOCK_SYMBOLS {
            write_block(&mut w, &block, false);
            block.clear();
        }
    }
    for &b in input.get(pos..).unwrap_or_default() {
        block.push_literal(b);
    }
    write_block(&mut w, &block, true);
    w.finish();
}

/// The eight bytes at `pos`, little-endian, if there are eight.
#[inline(always)]
fn read_u64(input: &[u8], pos: usize) -> Option<u64> {
    Some(u64::from_le_bytes(input.get(pos..pos.checked_add(8)?)?.try_into().ok()?))
}

/// The four bytes at `pos`, little-endian, if there are four.
#[inline(always)]
fn read_u32(input: &[u8], pos: usize) -> Option<u32> {
    Some(u32::from_le_bytes(input.get(pos..pos.checked_add(4)?)?.try_into().ok()?))
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

/// One block's symbols and the counts of their codes.
struct Block {
    symbols: Vec<u32>,
    lit_freq: [u32; LITLEN_CODES],
    /// Indexed by five bits (codes 30 and 31 are never used), so counting needs no bounds check.
    dist_freq: [u32; 32],
}

impl Block {
    fn new(input_len: usize) -> Block {
        let symbols = Vec::with_capacity(BLOCK_SYMBOLS.min(input_len + 1));
        Block { symbols, lit_freq: [0; LITLEN_CODES], dist_freq: [0; 32] }
    }

    #[inline(always)]
    fn push_literal(&mut self, b: u8) {
        self.symbols.push(u32::from(b));
        self.lit_freq[usize::from(b)] += 1;
    }

    /// A match of `len` (4..=258) bytes `dist` (1..=WINDOW) back.
    #[inline(always)]
    fn push_match(&mut self, len: usize, dist: usize) {
        let l = (len - 3) & 0xff;
        let x = (dist - 1) & (WINDOW - 1);
        let dcode = usize::from(DIST_CODE[if x < 256 { x } else { 256 + (x >> 7) }] & 31);
        // The extra bits are the low bits of the distance minus 1 (each code's first distance minus 1 has them 0).
        let dvalue = x & ((1 << DIST_EXTRA_32[dcode]) - 1);
        self.symbols.push(MATCH | (dcode as u32) << 23 | (l as u32) << 15 | dvalue as u32);
        self.lit_freq[257 + usize::from(LEN_CODE[l])] += 1;
        self.dist_freq[dcode] += 1;
    }

    fn clear(&mut self) {
        self.symbols.clear();
        self.lit_freq = [0; LITLEN_CODES];
        self.dist_freq = [0; 32];
    }
}

/// Writes one block of `symbols` and the end-of-block code: with dynamic Huffman codes, or the fixed ones when
/// those come out smaller (tiny blocks, where the dynamic codes' own description would dominate).
fn write_block(w: &mut BitWriter<'_>, block: &Block, last: bool) {
    let mut lit_freq = block.lit_freq;
    let mut dist_freq = [0; DIST_CODES];
    dist_freq.copy_from_slice(&block.dist_freq[..DIST_CODES]);
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
    let mut runs = [(0u8, 0u8); LITLEN_CODES + DIST_CODES];
    let n_runs = run_lengths(&lengths[..hlit + hdist], &mut runs);
    let runs = &runs[..n_runs];
    let mut cl_freq = [0u32; CL_CODES];
    for &(sym, _) in runs {
        cl_freq[usize::from(sym)] += 1;
    }
    at_least_two(&mut cl_freq);
    let mut cl_len = [0u8; CL_CODES];
    code_lengths(&cl_freq, 7, &mut cl_len);
    let hclen = 4.max(CL_ORDER.iter().rposition(|&s| cl_len[s] > 0).map_or(0, |i| i + 1));

    // Sizes in bits of the two choices (the extra bits of lengths and distances are the same in both).
    let cost =
        |freq: &[u32], len: &[u8]| -> u64 { freq.iter().zip(len).map(|(&f, &l)| u64::from(f) * u64::from(l)).sum() };
    let fixed_lit = fixed_lit_lengths();
    let fixed_bits =
        cost(&lit_freq, &fixed_lit[..LITLEN_CODES]) + 5 * block.dist_freq.iter().map(|&f| u64::from(f)).sum::<u64>();
    let header_bits = 14
        + 3 * hclen as u64
        + runs
            .iter()
            .map(|&(s, _)| u64::from(cl_len[usize::from(s)]) + [0, 2, 3, 7][usize::from(s.saturating_sub(15))])
            .sum::<u64>();
    let dynamic_bits = header_bits + cost(&lit_freq, &lit_len) + cost(&dist_freq, &dist_len);

    w.put(u64::from(last), 1);
    if fixed_bits <= dynamic_bits {
        w.put(1, 2); // fixed Huffman codes
        w.flush();
        write_symbols(w, &block.symbols, &fixed_lit, &[5; DIST_CODES]);
        return;
    }
    w.put(2, 2); // dynamic Huffman codes
    w.put((hlit - 257) as u64, 5);
    w.put((hdist - 1) as u64, 5);
    w.put((hclen - 4) as u64, 4);
    w.flush();
    for &s in &CL_ORDER[..hclen] {
        w.put(u64::from(cl_len[s]), 3);
        w.flush();
    }
    let cl_codes = codes(&cl_len);
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
    let mut lit_len_all = [0; LITLEN_CODES + 2];
    lit_len_all[..LITLEN_CODES].copy_from_slice(&lit_len);
    write_symbols(w, &block.symbols, &lit_len_all, &dist_len);
}

/// The fixed literal/length code lengths (RFC 1951 3.2.6), of all 288 symbols: the two that are never used still
/// take their place among the codes.
fn fixed_lit_lengths() -> [u8; LITLEN_CODES + 2] {
    let mut len = [8u8; LITLEN_CODES + 2];
    len[144..256].fill(9);
    len[256..280].fill(7);
    len
}

/// Writes `symbols` and the end of block with the codes of these lengths.
fn write_symbols(
    w: &mut BitWriter<'_>,
    symbols: &[u32],
    lit_len: &[u8; LITLEN_CODES + 2],
    dist_len: &[u8; DIST_CODES],
) {
    let lit_codes = codes(lit_len);
    let dist_codes = codes(dist_len);
    // Each length's code and extra bits as one value, so a match is written with two lookups.
    let mut len_bits = [0u32; 256];
    let mut len_nbits = [0u8; 256];
    for l in 0..256 {
        let (code, extra, value) = length_code(l + 3);
        len_bits[l] = lit_codes[code] | value << lit_len[code];
        len_nbits[l] = lit_len[code] + extra as u8;
    }
    // Each distance code and the number of its bits with the extra ones; indexed by five bits, so the lookups need
    // no bounds checks.
    let mut dist_bits = [0u32; 32];
    let mut dist_nbits = [0u8; 32];
    let mut dist_total = [0u8; 32];
    for d in 0..DIST_CODES {
        dist_bits[d] = dist_codes[d];
        dist_nbits[d] = dist_len[d];
        dist_total[d] = dist_len[d] + DIST_EXTRA[d];
    }
    // The accumulator in a local, so it stays in registers.
    let mut bits = w.bits;
    for &s in symbols {
        if s & MATCH == 0 {
            let b = (s & 0xff) as usize;
            bits.put(u64::from(lit_codes[b]), u32::from(lit_len[b]));
        } else {
            let l = ((s >> 15) & 0xff) as usize;
            let d = ((s >> 23) & 31) as usize;
            let dist = u64::from(dist_bits[d]) | u64::from(s & 0x7fff) << dist_nbits[d];
            bits.put(u64::from(len_bits[l]) | dist << len_nbits[l], u32::from(len_nbits[l]) + u32::from(dist_total[d]));
        }
        bits.flush(&mut w.stage, w.out);
    }
    w.bits = bits;
    w.put(u64::from(lit_codes[END_OF_BLOCK]), u32::from(lit_len[END_OF_BLOCK]));
    w.flush();
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

/// Canonical Huffman codes for `lengths` (RFC 1951 3.2.2), bit-reversed for writing least significant bit first.
fn codes<const N: usize>(lengths: &[u8; N]) -> [u32; N] {
    let mut count = [0u32; 16];
    for &l in lengths {
        count[usize::from(l & 15)] += 1;
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
            let l = usize::from(l & 15);
            out[s] = next[l].reverse_bits() >> (32 - l);
            next[l] += 1;
        }
    }
    out
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
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut compared = 0;
        for round in 0..300 {
            let mut freq = [0u32; LITLEN_CODES];
            let used = 2 + (next() % 285) as usize;
            for f in freq.iter_mut().take(used) {
                *f = if next() % 4 == 0 { 0 } else { 1 + (next() % 500) as u32 };
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
