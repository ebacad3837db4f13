//! The AdminServer's JSON replies (monitor with any HTTP status, configuration): nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxporter_zookeeper::parse::{parse_admin_monitor_response, parse_admin_server_id};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let status = data.first().map_or(200, |b| if b % 2 == 0 { 200 } else { 500 });
    let _ = parse_admin_monitor_response(status, &text);
    let _ = parse_admin_server_id(&text);
});
