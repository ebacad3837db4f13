//! `netdev`: per-interface counters as `node_network_<direction>_<stat>_total{device}`, from `/proc/net/dev` plus
//! `rx_nohandler` from sysfs (node_exporter reads the same counters over rtnetlink and maps them back to the
//! `/proc/net/dev` names). Optional: `node_network_address_info` and the `ifalias` label.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;
use crate::filter::NameFilter;

/// Flags of the netdev collector.
#[derive(Debug, Clone, clap::Args)]
pub struct NetdevArgs {
    /// Regexp of net devices to include (mutually exclusive to device-exclude).
    #[arg(
        id = "collector.netdev.device-include",
        long = "collector.netdev.device-include",
        value_name = "REGEXP",
        help_heading = "Collector: netdev"
    )]
    pub device_include: Option<String>,
    /// Regexp of net devices to exclude (mutually exclusive to device-include).
    #[arg(
        id = "collector.netdev.device-exclude",
        long = "collector.netdev.device-exclude",
        value_name = "REGEXP",
        help_heading = "Collector: netdev"
    )]
    pub device_exclude: Option<String>,
    /// DEPRECATED: Use collector.netdev.device-include
    #[arg(
        id = "collector.netdev.device-whitelist",
        long = "collector.netdev.device-whitelist",
        value_name = "REGEXP",
        hide = true
    )]
    pub device_whitelist: Option<String>,
    /// DEPRECATED: Use collector.netdev.device-exclude
    #[arg(
        id = "collector.netdev.device-blacklist",
        long = "collector.netdev.device-blacklist",
        value_name = "REGEXP",
        hide = true
    )]
    pub device_blacklist: Option<String>,
    /// Collect address-info for every device
    #[arg(
        id = "collector.netdev.address-info",
        long = "collector.netdev.address-info",
        help_heading = "Collector: netdev"
    )]
    pub address_info: bool,
    /// Use (incompatible) metric names that provide more detailed stats on Linux
    #[arg(
        id = "collector.netdev.enable-detailed-metrics",
        long = "collector.netdev.enable-detailed-metrics",
        help_heading = "Collector: netdev"
    )]
    pub detailed_metrics: bool,
    /// Accepted for compatibility; the counters come from /proc/net/dev and sysfs, which hold the same values.
    #[arg(
        id = "collector.netdev.netlink",
        long = "collector.netdev.netlink",
        help_heading = "Collector: netdev",
        overrides_with = "no-collector.netdev.netlink"
    )]
    pub netlink: bool,
    /// Accepted for compatibility (see --collector.netdev.netlink).
    #[arg(
        id = "no-collector.netdev.netlink",
        long = "no-collector.netdev.netlink",
        hide = true,
        overrides_with = "collector.netdev.netlink"
    )]
    pub no_netlink: bool,
    /// Add ifAlias label
    #[arg(
        id = "collector.netdev.label-ifalias",
        long = "collector.netdev.label-ifalias",
        help_heading = "Collector: netdev"
    )]
    pub label_ifalias: bool,
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let a = &args.netdev;
    let pick = |new: &Option<String>,
                old: &Option<String>,
                new_name: &str,
                old_name: &str|
     -> Result<String, BuildError> {
        match (new.as_deref().filter(|s| !s.is_empty()), old.as_deref().filter(|s| !s.is_empty())) {
            (Some(_), Some(_)) => {
                Err(format!("--collector.netdev.{old_name} and --collector.netdev.{new_name} are mutually exclusive")
                    .into())
            }
            (None, Some(o)) => {
                tracing::warn!(
                    "--collector.netdev.{old_name} is DEPRECATED and will be removed in 2.0.0, use --collector.netdev.{new_name}"
                );
                Ok(o.to_owned())
            }
            (n, None) => Ok(n.unwrap_or("").to_owned()),
        }
    };
    let include = pick(&a.device_include, &a.device_whitelist, "device-include", "device-whitelist")?;
    let exclude = pick(&a.device_exclude, &a.device_blacklist, "device-exclude", "device-blacklist")?;
    if !include.is_empty() && !exclude.is_empty() {
        return Err("device-exclude & device-include are mutually exclusive".into());
    }
    Ok(blocking(Netdev {
        dev: args.proc_path("net/dev"),
        class: args.sys_path("class/net"),
        filter: NameFilter::new(&exclude, &include)?,
        address_info: a.address_info,
        detailed: a.detailed_metrics,
        label_ifalias: a.label_ifalias,
    }))
}

struct Netdev {
    dev: PathBuf,
    class: PathBuf,
    filter: NameFilter,
    address_info: bool,
    detailed: bool,
    label_ifalias: bool,
}

/// `(stat, metric name, HELP)` of the `/proc/net/dev` columns every kernel has, so a scrape does not format
/// them; other stats (`--collector.netdev.enable-detailed-metrics`, new columns) are formatted as before.
const KNOWN_STATS: &[(&str, &str, &str)] = &[
    ("receive_bytes", "node_network_receive_bytes_total", "Network device statistic receive_bytes."),
    ("receive_packets", "node_network_receive_packets_total", "Network device statistic receive_packets."),
    ("receive_errs", "node_network_receive_errs_total", "Network device statistic receive_errs."),
    ("receive_drop", "node_network_receive_drop_total", "Network device statistic receive_drop."),
    ("receive_fifo", "node_network_receive_fifo_total", "Network device statistic receive_fifo."),
    ("receive_frame", "node_network_receive_frame_total", "Network device statistic receive_frame."),
    ("receive_compressed", "node_network_receive_compressed_total", "Network device statistic receive_compressed."),
    ("receive_multicast", "node_network_receive_multicast_total", "Network device statistic receive_multicast."),
    ("transmit_bytes", "node_network_transmit_bytes_total", "Network device statistic transmit_bytes."),
    ("transmit_packets", "node_network_transmit_packets_total", "Network device statistic transmit_packets."),
    ("transmit_errs", "node_network_transmit_errs_total", "Network device statistic transmit_errs."),
    ("transmit_drop", "node_network_transmit_drop_total", "Network device statistic transmit_drop."),
    ("transmit_fifo", "node_network_transmit_fifo_total", "Network device statistic transmit_fifo."),
    ("transmit_colls", "node_network_transmit_colls_total", "Network device statistic transmit_colls."),
    ("transmit_carrier", "node_network_transmit_carrier_total", "Network device statistic transmit_carrier."),
    ("transmit_compressed", "node_network_transmit_compressed_total", "Network device statistic transmit_compressed."),
    ("receive_nohandler", "node_network_receive_nohandler_total", "Network device statistic receive_nohandler."),
];

/// One interface's counters: `(stat, value)` with node_exporter's names (`receive_bytes`, `transmit_colls`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Interface name.
    pub name: String,
    /// Counters in column order.
    pub stats: Vec<(String, u64)>,
}

/// Parses `/proc/net/dev`. The column names come from the second header line
/// (` face |bytes packets …|bytes packets …`), prefixed with `receive_` and `transmit_`.
pub fn parse(content: &str) -> Result<Vec<Device>, CollectError> {
    let mut lines = content.lines();
    let _ = lines.next();
    let header = lines.next().ok_or_else(|| CollectError::Parse("net/dev: missing header".into()))?;
    let mut groups = header.split('|').skip(1);
    let (Some(rx), Some(tx)) = (groups.next(), groups.next()) else {
        return Err(CollectError::Parse("net/dev: malformed header".into()));
    };
    let columns: Vec<String> = rx
        .split_whitespace()
        .map(|c| format!("receive_{c}"))
        .chain(super::fields(tx).map(|c| format!("transmit_{c}")))
        .collect();
    let mut out = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, values)) = line.split_once(':') else {
            return Err(CollectError::Parse(format!(
                "net/dev: malformed line {:?}",
                line.chars().take(40).collect::<String>()
            )));
        };
        let values: Vec<&str> = super::fields(values).collect();
        if values.len() != columns.len() {
            return Err(CollectError::Parse(format!(
                "net/dev: {} has {} values, expected {}",
                name.trim(),
                values.len(),
                columns.len()
            )));
        }
        let mut stats = Vec::with_capacity(values.len());
        for (col, v) in columns.iter().zip(values) {
            let n = v.parse::<u64>().map_err(|_| CollectError::Parse(format!("net/dev: invalid value {v:?}")))?;
            stats.push((col.clone(), n));
        }
        out.push(Device { name: name.trim().to_owned(), stats });
    }
    Ok(out)
}

/// Go's `net.IP` scope classes, as node_exporter labels addresses.
pub fn scope(ip: std::net::IpAddr) -> &'static str {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_loopback()
                || v4.is_link_local()
                || (v4.octets()[0] == 224 && v4.octets()[1] == 0 && v4.octets()[2] == 0)
            {
                "link-local"
            } else if !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()) {
                "global"
            } else {
                ""
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return scope(IpAddr::V4(v4));
            }
            let link_local_unicast = s[0] & 0xffc0 == 0xfe80;
            let multicast = s[0] & 0xff00 == 0xff00;
            if v6.is_loopback() || link_local_unicast || (multicast && s[0] & 0x000f == 0x2) {
                "link-local"
            } else if multicast && s[0] & 0x000f == 0x1 {
                "interface-local"
            } else if !(v6.is_unspecified() || multicast) {
                "global"
            } else {
                ""
            }
        }
    }
}

impl Netdev {
    fn sys_stat(&self, dev: &str, file: &str) -> Option<u64> {
        if dev.contains('/') || dev.starts_with('.') {
            return None;
        }
        let path = self.class.join(dev).join("statistics").join(file);
        oxporter_core::kept::with_whole(&path, 4096, |b| std::str::from_utf8(b).ok()?.trim().parse().ok()).ok()?
    }

    fn detailed_stats(&self, dev: &str) -> Vec<(String, u64)> {
        const FILES: [&str; 24] = [
            "rx_packets",
            "tx_packets",
            "rx_bytes",
            "tx_bytes",
            "rx_errors",
            "tx_errors",
            "rx_dropped",
            "tx_dropped",
            "multicast",
            "collisions",
            "rx_length_errors",
            "rx_over_errors",
            "rx_crc_errors",
            "rx_frame_errors",
            "rx_fifo_errors",
            "rx_missed_errors",
            "tx_aborted_errors",
            "tx_carrier_errors",
            "tx_fifo_errors",
            "tx_heartbeat_errors",
            "tx_window_errors",
            "rx_compressed",
            "tx_compressed",
            "rx_nohandler",
        ];
        FILES
            .iter()
            .filter_map(|f| {
                let v = self.sys_stat(dev, f)?;
                let name = match f.split_once('_') {
                    Some(("rx", rest)) => format!("receive_{rest}"),
                    Some(("tx", rest)) => format!("transmit_{rest}"),
                    _ => (*f).to_owned(),
                };
                Some((name, v))
            })
            .collect()
    }

    fn ifalias(&self, dev: &str) -> String {
        if dev.contains('/') || dev.starts_with('.') {
            return String::new();
        }
        oxporter_core::kept::read_to_string(&self.class.join(dev).join("ifalias"))
            .map(|s| s.trim_end_matches('\n').to_owned())
            .unwrap_or_default()
    }
}

impl BlockingCollector for Netdev {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let devices = parse(&read_file(&self.dev)?)?;
        for dev in devices {
            if self.filter.ignored(&dev.name) {
                continue;
            }
            let stats = if self.detailed {
                self.detailed_stats(&dev.name)
            } else {
                let mut s = dev.stats;
                if let Some(v) = self.sys_stat(&dev.name, "rx_nohandler") {
                    s.push(("receive_nohandler".to_owned(), v));
                }
                s
            };
            // Static label names and borrowed values: no allocation per sample (label values are stored inline).
            let ifalias = if self.label_ifalias { Some(self.ifalias(&dev.name)) } else { None };
            let with_alias;
            let labels: &[(&'static str, &str)] = match &ifalias {
                Some(alias) => {
                    with_alias = [("device", dev.name.as_str()), ("ifalias", alias.as_str())];
                    &with_alias
                }
                None => &[("device", dev.name.as_str())],
            };
            for (stat, v) in stats {
                let fam = match KNOWN_STATS.iter().find(|(s, ..)| *s == stat) {
                    Some(&(_, name, help)) => out.counter(name, help),
                    None => {
                        out.counter(format!("node_network_{stat}_total"), format!("Network device statistic {stat}."))
                    }
                };
                fam.sample(labels, v as f64);
            }
        }
        if self.address_info {
            let addrs =
                if_addrs::get_if_addrs().map_err(|e| CollectError::io("could not get network interfaces", e))?;
            let fam = out.gauge("node_network_address_info", "node network address by device");
            for a in addrs {
                let ip = a.ip();
                let prefix = match &a.addr {
                    if_addrs::IfAddr::V4(v) => v.prefixlen,
                    if_addrs::IfAddr::V6(v) => v.prefixlen,
                };
                fam.sample(
                    &[
                        ("address", &ip.to_string()),
                        ("device", &a.name),
                        ("netmask", &prefix.to_string()),
                        ("scope", scope(ip)),
                    ],
                    1.0,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_stats_are_named_as_formatted() {
        for (stat, name, help) in KNOWN_STATS {
            assert_eq!(*name, format!("node_network_{stat}_total"));
            assert_eq!(*help, format!("Network device statistic {stat}."));
        }
    }

    #[test]
    fn real_sample() {
        let devs = parse(include_str!("../../testdata/proc/net/dev")).expect("parses");
        let lo = devs.iter().find(|d| d.name == "lo").expect("lo");
        let names: Vec<&str> = lo.stats.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "receive_bytes",
                "receive_packets",
                "receive_errs",
                "receive_drop",
                "receive_fifo",
                "receive_frame",
                "receive_compressed",
                "receive_multicast",
                "transmit_bytes",
                "transmit_packets",
                "transmit_errs",
                "transmit_drop",
                "transmit_fifo",
                "transmit_colls",
                "transmit_carrier",
                "transmit_compressed"
            ]
        );
    }

    #[test]
    fn garbage() {
        let header = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n";
        assert_eq!(parse(&format!("{header}  eth0: 1 2 3 4\n")).expect("ok")[0].stats.len(), 4);
        for bad in [
            "",
            "x\n",
            "a\nb|c\n",
            &format!("{header}eth0 1 2 3 4\n"),
            &format!("{header}eth0: 1 2 3\n"),
            &format!("{header}eth0: 1 2 3 x\n"),
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn address_info_from_the_real_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("net")).expect("mkdir");
        std::fs::write(dir.path().join("net/dev"), include_str!("../../testdata/proc/net/dev")).expect("write");
        let c = Netdev {
            dev: dir.path().join("net/dev"),
            class: dir.path().join("class/net"),
            filter: NameFilter::new("^ifb", "").expect("valid"),
            address_info: true,
            detailed: false,
            label_ifalias: true,
        };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(1)), &mut out).expect("collects");
        let info = out.get("node_network_address_info").expect("address info");
        let lo = info
            .samples
            .iter()
            .find(|s| s.labels.iter().any(|(k, v)| k == "address" && v == "127.0.0.1"))
            .expect("loopback address");
        let label = |n: &str| lo.labels.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!((label("device"), label("netmask"), label("scope")), (Some("lo"), Some("8"), Some("link-local")));
        let bytes = out.get("node_network_receive_bytes_total").expect("bytes");
        assert!(bytes.samples.iter().all(|s| !s.labels.iter().any(|(_, v)| v.starts_with("ifb"))), "filtered");
        assert!(bytes.samples.iter().all(|s| s.labels.iter().any(|(k, _)| k == "ifalias")));
    }

    #[test]
    fn scopes_match_go() {
        let s = |a: &str| scope(a.parse().expect("ip"));
        assert_eq!(s("127.0.0.1"), "link-local");
        assert_eq!(s("169.254.1.1"), "link-local");
        assert_eq!(s("10.0.0.1"), "global");
        assert_eq!(s("8.8.8.8"), "global");
        assert_eq!(s("::1"), "link-local");
        assert_eq!(s("fe80::1"), "link-local");
        assert_eq!(s("2001:db8::1"), "global");
        assert_eq!(s("ff01::1"), "interface-local");
        assert_eq!(s("ff02::1"), "link-local");
        assert_eq!(s("ff05::1"), "");
        assert_eq!(s("0.0.0.0"), "");
    }
}
