//! `/proc/meminfo` parser: any input returns Ok or Err, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = oxporter_node::collectors::meminfo::parse(&String::from_utf8_lossy(data));
});
