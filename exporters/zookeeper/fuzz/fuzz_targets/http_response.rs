//! Raw HTTP/1.x responses as the AdminServer client reads them: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxporter_zookeeper::client::http::parse_response;

fuzz_target!(|data: &[u8]| {
    let _ = parse_response(data);
});
