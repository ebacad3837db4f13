//! os-release parser and the os collector's metric writer: any input returns Ok or Err, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(env) = oxporter_node::collectors::os::parse_os_release(&s) {
        let _ = oxporter_node::collectors::os::emit(&mut oxporter_core::Snapshot::new(), &env);
    }
    let _ = oxporter_node::collectors::os::major_minor(&s);
    let _ = oxporter_node::collectors::os::parse_date(&s);
});
