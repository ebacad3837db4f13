//! Every /proc and /sys parser of oxporter-node over arbitrary input: none may panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        oxporter_node::fuzzing::proc_parsers(s);
    }
});
