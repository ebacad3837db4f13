//! The text format 0.0.4 parser (textfile collector's lenient mode, tests' strict mode) over arbitrary input: it
//! may reject, never panic.
#![no_main]

use oxporter_core::textparse::{Mode, parse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(text, Mode::Lenient);
        let _ = parse(text, Mode::Strict);
    }
});
