//! The `Authorization: Basic` parser with arbitrary header bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oxporter_core::webconfig::fuzzing::basic_auth(data);
});
