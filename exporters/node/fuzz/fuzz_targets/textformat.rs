//! The textfile collector's Prometheus text-format parser over arbitrary input: it may reject, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        oxporter_node::fuzzing::textformat(s);
    }
});
