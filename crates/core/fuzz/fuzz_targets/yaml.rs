//! The web config's YAML-subset parser alone, with arbitrary text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = oxporter_core::webconfig::fuzzing::parse_yaml(text);
    }
});
