//! `/proc/mdstat` parser (mdadm collector): any input returns Ok or Err, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = oxporter_node::collectors::mdadm::parse(&s);
});
