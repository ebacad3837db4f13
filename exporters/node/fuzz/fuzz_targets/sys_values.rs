//! Small sysfs value parsers: CPU lists (`/sys/devices/system/cpu/isolated`) and Go-style unsigned integers.
//! Any input returns a value or an error, never panics, and a CPU list never grows without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(cpus) = oxporter_node::collectors::parse_cpu_list(&s) {
        assert!(cpus.len() <= 1 << 16);
    }
    let _ = oxporter_node::collectors::parse_go_uint(&s);
});
