//! Small sysfs attribute parsers (bcache sizes and debug files, InfiniBand state and rate, Btrfs commit_stats):
//! any input returns Ok or Err, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = oxporter_node::collectors::bcache::dehumanize_signed(&s);
    let _ = oxporter_node::collectors::bcache::parse_writeback_rate_debug(&s);
    let _ = oxporter_node::collectors::bcache::parse_priority_stats(&s);
    let _ = oxporter_node::collectors::infiniband::parse_state(&s);
    let _ = oxporter_node::collectors::infiniband::parse_rate(&s);
    let _ = oxporter_node::collectors::btrfs::parse_commit_stats(&s);
});
