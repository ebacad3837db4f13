//! `arp`: ARP (IPv4 neighbour) entries per device from `/proc/net/arp` as `node_arp_entries{device}`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;
use crate::filter::NameFilter;

/// Flags of the arp collector.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ArpArgs {
    /// Regexp of arp devices to include (mutually exclusive to device-exclude).
    #[arg(
        id = "collector.arp.device-include",
        long = "collector.arp.device-include",
        value_name = "REGEXP",
        help_heading = "Collector: arp"
    )]
    pub device_include: Option<String>,
    /// Regexp of arp devices to exclude (mutually exclusive to device-include).
    #[arg(
        id = "collector.arp.device-exclude",
        long = "collector.arp.device-exclude",
        value_name = "REGEXP",
        help_heading = "Collector: arp"
    )]
    pub device_exclude: Option<String>,
    /// Accepted for compatibility; entries are always read from /proc/net/arp (see docs/compatibility.md).
    #[arg(
        id = "collector.arp.netlink",
        long = "collector.arp.netlink",
        help_heading = "Collector: arp",
        overrides_with = "no-collector.arp.netlink"
    )]
    pub netlink: bool,
    /// Accepted for compatibility (see --collector.arp.netlink).
    #[arg(
        id = "no-collector.arp.netlink",
        long = "no-collector.arp.netlink",
        hide = true,
        overrides_with = "collector.arp.netlink"
    )]
    pub no_netlink: bool,
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let a = &args.arp;
    Ok(blocking(Arp {
        path: args.proc_path("net/arp"),
        filter: NameFilter::new(a.device_exclude.as_deref().unwrap_or(""), a.device_include.as_deref().unwrap_or(""))?,
    }))
}

struct Arp {
    path: PathBuf,
    filter: NameFilter,
}

impl BlockingCollector for Arp {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let counts = parse(&read_file(&self.path)?)?;
        for (device, count) in counts {
            if !self.filter.ignored(&device) {
                out.gauge("node_arp_entries", "ARP entries by device").sample(&[("device", &device)], count as f64);
            }
        }
        Ok(())
    }
}

/// Counts the entries of `/proc/net/arp` per device. The header (9 fields) and blank lines are skipped; an entry
/// must have 6 fields, a valid IP address and a valid hardware address.
pub fn parse(content: &str) -> Result<BTreeMap<String, u64>, CollectError> {
    let mut counts = BTreeMap::new();
    for line in content.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => {}
            [_, _, _, _, _, _, _, _, _] => {}
            [ip, _hw_type, _flags, mac, _mask, device] => {
                if ip.parse::<std::net::IpAddr>().is_err() || !is_hardware_address(mac) {
                    return Err(CollectError::Parse(format!("/proc/net/arp: invalid entry {line:?}")));
                }
                *counts.entry((*device).to_owned()).or_insert(0) += 1;
            }
            _ => {
                return Err(CollectError::Parse(format!(
                    "/proc/net/arp: {} columns found, but expected 6",
                    fields.len()
                )));
            }
        }
    }
    Ok(counts)
}

/// Whether `s` is a MAC-48, EUI-64 or 20-octet InfiniBand address in one of the forms Go's `net.ParseMAC` takes
/// (`aa:bb:…`, `aa-bb-…`, `aabb.ccdd.…`).
pub fn is_hardware_address(s: &str) -> bool {
    let hex = |g: &str, n: usize| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit());
    let octets_ok = |n: usize| matches!(n, 6 | 8 | 20);
    if s.contains(':') || s.contains('-') {
        let sep = if s.contains(':') { ':' } else { '-' };
        let groups: Vec<&str> = s.split(sep).collect();
        octets_ok(groups.len()) && groups.iter().all(|g| hex(g, 2))
    } else {
        let groups: Vec<&str> = s.split('.').collect();
        octets_ok(groups.len() * 2) && groups.iter().all(|g| hex(g, 4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::garbage;

    const ARP: &str = "IP address       HW type     Flags       HW address            Mask     Device
192.168.224.1    0x1         0x2         00:50:56:c0:00:08     *        ens33
192.168.224.2    0x1         0x2         00:50:56:e4:fb:6d     *        ens33
10.0.0.7         0x1         0x0         00:00:00:00:00:00     *        eth0
";

    #[test]
    fn parses() {
        let counts = parse(ARP).expect("valid");
        assert_eq!(counts.get("ens33"), Some(&2));
        assert_eq!(counts.get("eth0"), Some(&1));
        assert_eq!(
            parse("IP address       HW type     Flags       HW address            Mask     Device\n").ok(),
            Some(BTreeMap::new())
        );
        assert!(parse("1.2.3.4 0x1 0x2 zz:zz:zz:zz:zz:zz * eth0\n").is_err());
        assert!(parse("nonsense 0x1 0x2 00:50:56:c0:00:08 * eth0\n").is_err());
        assert!(parse("1.2.3.4 0x1 0x2\n").is_err());
        assert!(is_hardware_address("0000.5e00.5301"));
        assert!(!is_hardware_address("00:00:5e"));
    }

    #[test]
    fn filter_and_collect() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("arp"), ARP).expect("write");
        let c = Arp { path: dir.path().join("arp"), filter: NameFilter::new("^eth", "").expect("valid") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = crate::sysfs::testing::render(out);
        assert!(text.contains("node_arp_entries{device=\"ens33\"} 2"), "{text}");
        assert!(!text.contains("eth0"), "{text}");
    }

    #[test]
    fn garbage_never_panics() {
        garbage(b"0123456789abcdef:.x *\n", ARP, |s| {
            let _ = parse(s);
        });
    }
}
