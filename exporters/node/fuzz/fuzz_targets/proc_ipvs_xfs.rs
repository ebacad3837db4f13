//! `/proc/net/ip_vs`, `ip_vs_stats` (ipvs) and XFS `stats` (xfs) parsers: any input returns Ok or Err, never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = oxporter_node::collectors::ipvs::parse_stats(&s);
    let _ = oxporter_node::collectors::ipvs::parse_backends(&s);
    let _ = oxporter_node::collectors::ipvs::parse_labels(&s);
    let _ = oxporter_node::collectors::xfs::parse(&s);
});
