//! hwmon file name splitting and name cleaning: any input returns a value, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = oxporter_node::collectors::hwmon::explode_sensor_filename(&s);
    let _ = oxporter_node::collectors::hwmon::clean_metric_name(&s);
    let _ = oxporter_node::sysfs::parse_go_int(&s);
    let _ = oxporter_node::collectors::arp::is_hardware_address(&s);
});
