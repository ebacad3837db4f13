//! The SAN reader with arbitrary bytes as a client certificate.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oxporter_core::webconfig::fuzzing::cert_sans(data);
});
