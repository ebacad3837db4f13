//! `netclass`: network interface properties from `/sys/class/net/<iface>` (`node_network_up`,
//! `node_network_info`, speed, carrier, MTU, …).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use crate::args::Args;
use crate::sysfs::{parse_go_int, read_attr, read_attr_with, typed_entries};

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

/// Where some attributes are in [`NUMERIC`] and [`TEXT`] (checked by a test).
const FLAGS: usize = 7;
const ADDRESS: usize = 0;
const BROADCAST: usize = 1;
const DUPLEX: usize = 2;
const IFALIAS: usize = 3;
const OPERSTATE: usize = 4;

/// The attributes of one interface that node_exporter uses. Arrays in the tables' order rather than maps: an
/// interface has a few dozen files, and this collector runs on every scrape for every interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Iface {
    /// Numeric attributes in [`NUMERIC`] order; unreadable or invalid ones are `None`.
    pub numbers: [Option<i64>; NUMERIC.len()],
    /// `speed` in Mbit/s, if readable.
    pub speed: Option<i64>,
    /// Text attributes in [`TEXT`] order; absent ones are empty.
    pub text: [String; TEXT.len()],
}

impl Iface {
    /// The numeric attribute read from `file` (`mtu`, `speed`, …).
    pub fn number(&self, file: &str) -> Option<i64> {
        if file == "speed" {
            return self.speed;
        }
        NUMERIC.iter().position(|(f, ..)| *f == file).and_then(|i| self.numbers[i])
    }
}

/// Which of [`Iface`]'s slots an attribute file fills.
enum Slot {
    Number(usize),
    Speed,
    Text(usize),
}

fn slot(name: &str) -> Option<Slot> {
    if let Some(i) = NUMERIC.iter().position(|(f, ..)| *f == name) {
        return Some(Slot::Number(i));
    }
    if name == "speed" {
        return Some(Slot::Speed);
    }
    TEXT.iter().position(|f| *f == name).map(Slot::Text)
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
        let Some(slot) = slot(&entry.name.to_string_lossy()) else {
            continue;
        };
        path.push(&entry.name);
        // Numbers are parsed straight from the read buffer; an invalid one is left out, as the Go parser does.
        let read = match slot {
            Slot::Number(i) => read_attr_with(&path, parse_go_int).map(|v| iface.numbers[i] = v),
            Slot::Speed => read_attr_with(&path, parse_go_int).map(|v| iface.speed = v),
            Slot::Text(i) => read_attr(&path).map(|v| iface.text[i] = v),
        };
        match read {
            Ok(()) => {}
            Err(e) if ignorable(&e) => {}
            Err(e) => return Err(CollectError::io(path.display(), e)),
        }
        path.pop();
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
        let text = |i: usize| iface.text[i].as_str();
        let labels = [("device", device)];
        let up = if text(OPERSTATE) == "up" { 1.0 } else { 0.0 };
        out.gauge("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.").sample(&labels, up);
        let adminstate = match iface.numbers[FLAGS] {
            None => "unknown",
            Some(f) if f & 1 == 1 => "up",
            Some(_) => "down",
        };
        out.gauge("node_network_info", "Non-numeric data from /sys/class/net/<iface>, value is always 1.").sample(
            &[
                ("address", text(ADDRESS)),
                ("adminstate", adminstate),
                ("broadcast", text(BROADCAST)),
                ("device", device),
                ("duplex", text(DUPLEX)),
                ("ifalias", text(IFALIAS)),
                ("operstate", text(OPERSTATE)),
            ],
            1.0,
        );
        for (&(_, name, help, counter), v) in NUMERIC.iter().zip(iface.numbers) {
            if let Some(v) = v {
                let fam = if counter { out.counter(name, help) } else { out.gauge(name, help) };
                fam.sample(&labels, v as f64);
            }
        }
        if let Some(speed) = iface.speed {
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
        assert_eq!(iface.number("mtu"), Some(1500));
        assert_eq!(iface.number("dormant"), None);
    }

    #[test]
    fn slot_constants_name_their_attributes() {
        assert_eq!(NUMERIC[FLAGS].0, "flags");
        let text = [(ADDRESS, "address"), (BROADCAST, "broadcast"), (DUPLEX, "duplex"), (IFALIAS, "ifalias")];
        for (i, name) in text.into_iter().chain([(OPERSTATE, "operstate")]) {
            assert_eq!(TEXT[i], name);
        }
    }

    #[test]
    fn flags() {
        let text = run("^bond", true);
        assert!(!text.contains("bond0"), "{text}");
        let text = run("^$", true);
        assert!(!text.contains("node_network_speed_bytes{device=\"bond0\"}"), "{text}");
    }
}
