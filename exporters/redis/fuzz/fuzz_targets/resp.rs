//! Fuzzes the RESP reply scanner and parser (`cargo +nightly fuzz run resp`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxporter_redis::resp::{Scanner, parse};

fuzz_target!(|data: &[u8]| {
    let framed = Scanner::new().frame_len(data);
    let parsed = parse(data);
    // The scanner and the parser agree on where a complete reply ends.
    if let (Ok(Some(len)), Ok(Some((_, used)))) = (framed, parsed) {
        assert_eq!(len, used);
    }
});
