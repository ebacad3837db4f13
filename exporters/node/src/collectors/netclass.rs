//! `netclass`: network interface properties from `/sys/class/net/<iface>` (`node_network_up`,
//! `node_network_info`, speed, carrier, MTU, …).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use crate::args::Args;
use crate::sysfs::{parse_go_int, read_attr, typed_entries};

/// Flags of the netclass collector.
#[derive(Debug, Clone, clap::Args)]
pub struct NetclassArgs {
    /// Regexp of net devices to ignore for netclass collector.
    #[arg(
        id = "collector.netclass.ignored-devices",
        long = "collector.netclass.ignored-devices",
        value_name = "REGEXP",
        default_value = "^$",
        help_heading = "Collector: netclass"
    )]
    pub ignored_devices: String,
    /// Ignore devices where the speed is invalid. This will be the default behavior in 2.x.
    #[arg(
        id = "collector.netclass.ignore-invalid-speed",
        long = "collector.netclass.ignore-invalid-speed",
        help_heading = "Collector: netclass"
    )]
    pub ignore_invalid_speed: bool,
    /// Accepted for compatibility; attributes are always read from sysfs (see docs/compatibility.md).
    #[arg(
        id = "collector.netclass.netlink",
        long = "collector.netclass.netlink",
        help_heading = "Collector: netclass",
        overrides_with = "no-collector.netclass.netlink"
    )]
    pub netlink: bool,
    /// Accepted for compatibility (see --collector.netclass.netlink).
    #[arg(
        id = "no-collector.netclass.netlink",
        long = "no-collector.netclass.netlink",
        hide = true,
        overrides_with = "collector.netclass.netlink"
    )]
    pub no_netlink: bool,
}

/// Numeric attribute files with the metric name, HELP and type (counter or not) node_exporter gives them, in its
/// order. Name and HELP are `node_network_<suffix>` and `Network device property: <suffix>`, spelled out so a scrape
/// does not format them (checked by a test).
const NUMERIC: &[(&str, &str, &str, bool)] = &[
    ("addr_assign_type", "node_network_address_assign_type", "Network device property: address_assign_type", false),
    ("carrier", "node_network_carrier", "Network device property: carrier", false),
    ("carrier_changes", "node_network_carrier_changes_total", "Network device property: carrier_changes_total", true),
    (
        "carrier_up_count",
        "node_network_carrier_up_changes_total",
        "Network device property: carrier_up_changes_total",
        true,
    ),
    (
        "carrier_down_count",
        "node_network_carrier_down_changes_total",
        "Network device property: carrier_down_changes_total",
        true,
    ),
    ("dev_id", "node_network_device_id", "Network device property: device_id", false),
    ("dormant", "node_network_dormant", "Network device property: dormant", false),
    ("flags", "node_network_flags", "Network device property: flags", false),
    ("ifindex", "node_network_iface_id", "Network device property: iface_id", false),
    ("iflink", "node_network_iface_link", "Network device property: iface_link", false),
    ("link_mode", "node_network_iface_link_mode", "Network device property: iface_link_mode", false),
    ("mtu", "node_network_mtu_bytes", "Network device property: mtu_bytes", false),
    ("name_assign_type", "node_network_name_assign_type", "Network device property: name_assign_type", false),
    ("netdev_group", "node_network_net_dev_group", "Network device property: net_dev_group", false),
    ("tx_queue_len", "node_network_transmit_queue_length", "Network device property: transmit_queue_length", false),
    ("type", "node_network_protocol_type", "Network device property: protocol_type", false),
];

/// Text attribute files node_exporter reads.
const TEXT: &[&str] = &["address", "broadcast", "duplex", "ifalias", "operstate"];

/// The attributes of one interface that node_exporter uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Iface {
    /// Numeric attributes by file name (`mtu`, `speed`, …); unreadable or invalid ones are absent.
    pub numbers: BTreeMap<&'static str, i64>,
    /// Text attributes by file name; absent ones are empty.
    pub text: BTreeMap<&'static str, String>,
}

/// Reads one `/sys/class/net/<iface>` directory. Attributes the device cannot answer (`EINVAL` for the speed of a
/// down link, `EOPNOTSUPP`, permissions) are left out; other read errors fail the interface.
pub fn read_iface(dir: &Path) -> Result<Iface, CollectError> {
    let mut iface = Iface::default();
    // One path for all the attributes (a join per attribute was a tenth of this collector's allocations).
    let mut path = dir.to_path_buf();
    // The interface's directory through a kept descriptor, like its attribute files.
    for entry in oxporter_core::kept::list_dir(dir).map_err(|e| CollectError::io(dir.display(), e))? {
        if entry.kind != oxporter_core::kept::EntryKind::File {
            continue;
        }
        let name = entry.name.to_string_lossy();
        let numeric = NUMERIC.iter().map(|(f, ..)| *f).chain(["speed"]).find(|f| *f == name);
        let text = TEXT.iter().copied().find(|f| *f == name);
        if numeric.is_none() && text.is_none() {
            continue;
        }
        path.push(&entry.name);
        let read = read_attr(&path);
        let value = match read {
            Ok(v) => v,
            Err(e) if ignorable(&e) => {
                path.pop();
                continue;
            }
            Err(e) => return Err(CollectError::io(path.display(), e)),
        };
        path.pop();
        if let Some(file) = numeric {
            // An invalid number is left out, as the Go parser does.
            if let Some(v) = parse_go_int(&value) {
                iface.numbers.insert(file, v);
            }
        } else if let Some(file) = text {
            iface.text.insert(file, value);
        }
    }
    Ok(iface)
}

fn ignorable(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied)
        || matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENODATA))
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let a = &args.netclass;
    Ok(blocking(Netclass {
        dir: args.sys_path("class/net"),
        ignored: Regex::new(&a.ignored_devices)?,
        ignore_invalid_speed: a.ignore_invalid_speed,
    }))
}

struct Netclass {
    dir: PathBuf,
    ignored: Regex,
    ignore_invalid_speed: bool,
}

impl Netclass {
    fn emit(&self, out: &mut Snapshot, device: &str, iface: &Iface) {
        let text = |k: &str| iface.text.get(k).map(String::as_str).unwrap_or("");
        let labels = [("device", device)];
        let up = if text("operstate") == "up" { 1.0 } else { 0.0 };
        out.gauge("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.").sample(&labels, up);
        let adminstate = match iface.numbers.get("flags") {
            None => "unknown",
            Some(f) if f & 1 == 1 => "up",
            Some(_) => "down",
        };
        out.gauge("node_network_info", "Non-numeric data from /sys/class/net/<iface>, value is always 1.").sample(
            &[
                ("address", text("address")),
                ("adminstate", adminstate),
                ("broadcast", text("broadcast")),
                ("device", device),
                ("duplex", text("duplex")),
                ("ifalias", text("ifalias")),
                ("operstate", text("operstate")),
            ],
            1.0,
        );
        for &(file, name, help, counter) in NUMERIC {
            if let Some(&v) = iface.numbers.get(file) {
                let fam = if counter { out.counter(name, help) } else { out.gauge(name, help) };
                fam.sample(&labels, v as f64);
            }
        }
        if let Some(&speed) = iface.numbers.get("speed") {
            // Some devices report -1 when the speed is unknown.
            if speed >= 0 || !self.ignore_invalid_speed {
                let bytes = speed.saturating_mul(1000 * 1000) / 8;
                out.gauge("node_network_speed_bytes", "Network device property: speed_bytes")
                    .sample(&labels, bytes as f64);
            }
        }
    }
}

impl BlockingCollector for Netclass {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let entries = match typed_entries(&self.dir) {
            Ok(e) => e,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) => {
                return Err(CollectError::NoData(format!("cannot read {}: {e}", self.dir.display())));
            }
            Err(e) => return Err(CollectError::io(self.dir.display(), e)),
        };
        let mut last_err = None;
        for (name, path, file_type) in entries {
            // Regular files such as `bonding_masters` are not devices (the type comes with the listing).
            if file_type == oxporter_core::kept::EntryKind::File || self.ignored.is_match(&name) {
                continue;
            }
            match read_iface(&path) {
                Ok(iface) => self.emit(out, &name, &iface),
                Err(e) => last_err = Some(e),
            }
        }
        last_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, render};

    fn run(ignored: &str, ignore_invalid_speed: bool) -> String {
        let c = Netclass {
            dir: fixture("hardware/sys/class/net"),
            ignored: Regex::new(ignored).expect("valid"),
            ignore_invalid_speed,
        };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        render(out)
    }

    #[test]
    fn fixture_tree() {
        let text = run("^$", false);
        for line in [
            "node_network_up{device=\"eth0\"} 1",
            "node_network_up{device=\"bond0\"} 0",
            "node_network_info{address=\"01:01:01:01:01:01\",adminstate=\"up\",broadcast=\"ff:ff:ff:ff:ff:ff\",device=\"eth0\",duplex=\"full\",ifalias=\"\",operstate=\"up\"} 1",
            "node_network_info{address=\"\",adminstate=\"unknown\",broadcast=\"\",device=\"bond0\",duplex=\"\",ifalias=\"\",operstate=\"down\"} 1",
            "node_network_speed_bytes{device=\"eth0\"} 1.25e+08",
            "node_network_speed_bytes{device=\"bond0\"} -125000",
            "node_network_mtu_bytes{device=\"eth0\"} 1500",
            "node_network_carrier_changes_total{device=\"eth0\"} 2",
            "node_network_iface_id{device=\"eth0\"} 2",
            "node_network_protocol_type{device=\"eth0\"} 1",
            "# TYPE node_network_carrier_changes_total counter",
            "# HELP node_network_mtu_bytes Network device property: mtu_bytes",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // bonding_masters is a file, not a device.
        assert!(!text.contains("bonding_masters"), "{text}");
    }

    #[test]
    fn names_and_help_follow_the_suffix() {
        for (_, name, help, _) in NUMERIC {
            let suffix = name.strip_prefix("node_network_").expect("prefix");
            assert_eq!(*help, format!("Network device property: {suffix}"));
        }
    }

    #[test]
    fn garbage_values_are_left_out() {
        let iface = read_iface(&fixture("broken/sys/class/net/eth9")).expect("readable");
        assert_eq!(iface.numbers.get("mtu"), Some(&1500));
        assert_eq!(iface.numbers.get("dormant"), None);
    }

    #[test]
    fn flags() {
        let text = run("^bond", true);
        assert!(!text.contains("bond0"), "{text}");
        let text = run("^$", true);
        assert!(!text.contains("node_network_speed_bytes{device=\"bond0\"}"), "{text}");
    }
}
