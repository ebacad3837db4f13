//! `ipvs`: IP Virtual Server totals from `/proc/net/ip_vs_stats` and per-backend state from `/proc/net/ip_vs`
//! (`node_ipvs_*`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// Every backend label, in node_exporter's order.
const ALL_LABELS: &[&str] = &["local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"];

/// Flags of the ipvs collector.
#[derive(Debug, Clone, clap::Args)]
pub struct IpvsArgs {
    /// Comma separated list for IPVS backend stats labels.
    #[arg(
        id = "collector.ipvs.backend-labels",
        long = "collector.ipvs.backend-labels",
        value_name = "LABELS",
        default_value = "local_address,local_port,remote_address,remote_port,proto,local_mark",
        help_heading = "Collector: ipvs"
    )]
    pub backend_labels: String,
}

/// The totals of `ip_vs_stats`: connections, incoming and outgoing packets, incoming and outgoing bytes.
pub fn parse_stats(content: &str) -> Result<[u64; 5], CollectError> {
    let lines: Vec<&str> = content.splitn(4, '\n').collect();
    if lines.len() != 4 {
        return Err(CollectError::Parse("ip_vs_stats corrupt: too short".into()));
    }
    let fields: Vec<&str> = lines[2].split_whitespace().collect();
    if fields.len() != 5 {
        return Err(CollectError::Parse("ip_vs_stats corrupt: unexpected number of fields".into()));
    }
    let mut out = [0u64; 5];
    for (slot, f) in out.iter_mut().zip(&fields) {
        *slot =
            u64::from_str_radix(f, 16).map_err(|_| CollectError::Parse(format!("ip_vs_stats: invalid value {f:?}")))?;
    }
    Ok(out)
}

/// One backend row of `/proc/net/ip_vs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The virtual service's address (`None` for firewall-mark services).
    pub local_address: Option<IpAddr>,
    /// The virtual service's port.
    pub local_port: u16,
    /// The firewall mark of an `FWM` service, else empty.
    pub local_mark: String,
    /// The real server's address.
    pub remote_address: IpAddr,
    /// The real server's port.
    pub remote_port: u16,
    /// `TCP`, `UDP` or `FWM`.
    pub proto: String,
    /// Weight.
    pub weight: u64,
    /// Active connections.
    pub active: u64,
    /// Inactive connections.
    pub inactive: u64,
}

/// Parses `HEXIP:PORT` (IPv4, 13 characters) or `[IPv6]:PORT` (46 characters).
pub fn parse_ip_port(s: &str) -> Result<(IpAddr, u16), CollectError> {
    let bad = || CollectError::Parse(format!("ip_vs: unexpected IP:Port {s:?}"));
    let ip = match s.len() {
        13 => {
            let hex = s.get(0..8).ok_or_else(bad)?;
            let n = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            IpAddr::V4(Ipv4Addr::from(n))
        }
        46 => IpAddr::V6(s.get(1..40).and_then(|a| a.parse::<Ipv6Addr>().ok()).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    let port = s.get(s.len() - 4..).ok_or_else(bad)?;
    if !port.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((ip, u16::from_str_radix(port, 16).map_err(|_| bad())?))
}

/// An address as Go's `net.IP.String` writes it: IPv4-mapped IPv6 addresses in dotted form.
fn go_ip_string(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Parses `/proc/net/ip_vs`: service lines (`TCP`/`UDP` address, or `FWM` mark) followed by `->` backend lines.
pub fn parse_backends(content: &str) -> Result<Vec<Backend>, CollectError> {
    let mut out = Vec::new();
    let (mut proto, mut mark, mut local, mut local_port) = (String::new(), String::new(), None, 0u16);
    for line in content.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [] => {}
            ["IP", ..] | ["Prot", ..] | [_, "RemoteAddress:Port", ..] => {}
            [p @ ("TCP" | "UDP"), addr, ..] => {
                proto = (*p).to_owned();
                mark.clear();
                let (ip, port) = parse_ip_port(addr)?;
                local = Some(ip);
                local_port = port;
            }
            ["FWM", m, ..] => {
                proto = "FWM".to_owned();
                mark = (*m).to_owned();
                local = None;
                local_port = 0;
            }
            ["->", addr, _forward, weight, active, inactive, ..] => {
                let (remote_address, remote_port) = parse_ip_port(addr)?;
                let num =
                    |s: &str| s.parse::<u64>().map_err(|_| CollectError::Parse(format!("ip_vs: invalid number {s:?}")));
                out.push(Backend {
                    local_address: local,
                    local_port,
                    local_mark: mark.clone(),
                    remote_address,
                    remote_port,
                    proto: proto.clone(),
                    weight: num(weight)?,
                    active: num(active)?,
                    inactive: num(inactive)?,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Checks the `--collector.ipvs.backend-labels` list and returns it in node_exporter's order.
pub fn parse_labels(list: &str) -> Result<Vec<&'static str>, String> {
    let wanted: Vec<&str> = list.split(',').filter(|l| !l.is_empty()).collect();
    let mut unknown: Vec<&str> = wanted.iter().copied().filter(|l| !ALL_LABELS.contains(l)).collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        unknown.dedup();
        return Err(format!("unknown IPVS backend labels: {:?}", unknown.join(", ")));
    }
    Ok(ALL_LABELS.iter().copied().filter(|l| wanted.contains(l)).collect())
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Ipvs {
        stats: args.proc_path("net/ip_vs_stats"),
        backends: args.proc_path("net/ip_vs"),
        labels: parse_labels(&args.ipvs.backend_labels)?,
    }))
}

struct Ipvs {
    stats: PathBuf,
    backends: PathBuf,
    labels: Vec<&'static str>,
}

impl BlockingCollector for Ipvs {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let totals = parse_stats(&read_file(&self.stats)?)?;
        let names = [
            ("node_ipvs_connections_total", "The total number of connections made."),
            ("node_ipvs_incoming_packets_total", "The total number of incoming packets."),
            ("node_ipvs_outgoing_packets_total", "The total number of outgoing packets."),
            ("node_ipvs_incoming_bytes_total", "The total amount of incoming data."),
            ("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data."),
        ];
        for ((name, help), v) in names.iter().zip(totals) {
            out.counter(*name, *help).sample(&[], v as f64);
        }
        let backends = parse_backends(&read_file(&self.backends)?)
            .map_err(|e| CollectError::Parse(format!("could not get backend status: {e}")))?;
        // Backends with the same label values (when some labels are left out) are summed.
        let mut sums: BTreeMap<Vec<(&'static str, String)>, [u64; 3]> = BTreeMap::new();
        for b in &backends {
            let labels = self
                .labels
                .iter()
                .map(|l| {
                    let v = match *l {
                        "local_address" => b.local_address.as_ref().map(go_ip_string).unwrap_or_default(),
                        "local_port" => b.local_port.to_string(),
                        "remote_address" => go_ip_string(&b.remote_address),
                        "remote_port" => b.remote_port.to_string(),
                        "proto" => b.proto.clone(),
                        _ => b.local_mark.clone(),
                    };
                    (*l, v)
                })
                .collect();
            let s = sums.entry(labels).or_default();
            s[0] = s[0].saturating_add(b.active);
            s[1] = s[1].saturating_add(b.inactive);
            s[2] = s[2].saturating_add(b.weight);
        }
        for (labels, [active, inactive, weight]) in sums {
            let mut l: Vec<(&'static str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            l.sort();
            out.gauge(
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
            )
            .sample(&l, active as f64);
            out.gauge(
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
            )
            .sample(&l, inactive as f64);
            out.gauge("node_ipvs_backend_weight", "The current backend weight by local and remote address.")
                .sample(&l, weight as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, garbage, render};

    fn read(name: &str) -> String {
        std::fs::read_to_string(fixture("hardware/proc/net").join(name)).expect("fixture")
    }

    #[test]
    fn parses() {
        assert_eq!(parse_stats(&read("ip_vs_stats")).ok(), Some([23765872, 3811989221, 0, 89991519156915, 0]));
        let b = parse_backends(&read("ip_vs")).expect("valid");
        assert_eq!(b.len(), 6);
        assert_eq!(b[0].local_address, Some(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 22))));
        assert_eq!((b[0].local_port, b[0].remote_port, b[0].active, b[0].inactive), (3306, 3306, 248, 2));
        assert_eq!((b[5].proto.as_str(), b[5].local_mark.as_str(), b[5].local_address), ("FWM", "10001000", None));
        assert_eq!(parse_labels("proto,local_port").ok(), Some(vec!["local_port", "proto"]));
        assert!(parse_labels("proto,nope").is_err());
    }

    #[test]
    fn collects_with_label_subset() {
        let c = Ipvs {
            stats: fixture("hardware/proc/net/ip_vs_stats"),
            backends: fixture("hardware/proc/net/ip_vs"),
            labels: parse_labels("local_port").expect("valid"),
        };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        assert!(text.contains("node_ipvs_backend_connections_active{local_port=\"3306\"} 744"), "{text}");
        assert!(text.contains("node_ipvs_connections_total 2.3765872e+07"), "{text}");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_stats("a\nb\n").is_err());
        assert!(parse_backends("TCP  C0A8001:0CEA wlc\n").is_err());
        assert!(parse_backends("TCP\n->\nx\n").is_ok());
        let ipvs = read("ip_vs");
        garbage(b"TCPUDPFWM-> 0123456789ABCDEF:[]\n", &ipvs, |s| {
            let _ = parse_backends(s);
            let _ = parse_stats(s);
            let _ = parse_ip_port(s);
        });
    }
}
