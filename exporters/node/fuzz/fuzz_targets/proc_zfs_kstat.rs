//! ZFS kstat parsers (zfs collector): named kstats, pool io and dataset objsets. Any input returns Ok or Err,
//! never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = oxporter_node::collectors::zfs::parse_kstat(&s, "arcstats");
    let _ = oxporter_node::collectors::zfs::parse_pool_io(&s);
    let _ = oxporter_node::collectors::zfs::parse_objset(&s);
    let _ = oxporter_node::collectors::systemd::parse_version(&s);
    let _ = oxporter_node::collectors::rapl::sanitize_metric_name(&s);
    let _ = oxporter_node::collectors::selinux::config_mode(&s);
    let _ = oxporter_node::collectors::kernel_hung::parse(&s);
});
