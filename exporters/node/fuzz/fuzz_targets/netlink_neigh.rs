//! rtnetlink neighbour dump parser (arp collector with --collector.arp.netlink): any datagram is parsed or
//! rejected, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oxporter_node::fuzzing::arp_netlink(data);
});
