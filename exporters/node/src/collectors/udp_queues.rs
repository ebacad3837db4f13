//! `udp_queues`: bytes queued in UDP sockets from `/proc/net/udp` and `/proc/net/udp6`
//! (`node_udp_queues{ip,queue}`).

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;
use crate::sysfs::parse_go_int;

/// Totals over the sockets of one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSummary {
    /// Sum of the transmit queues, bytes.
    pub tx: u64,
    /// Sum of the receive queues, bytes.
    pub rx: u64,
    /// Number of sockets.
    pub sockets: u64,
}

fn bad(line: &str, what: &str) -> CollectError {
    CollectError::Parse(format!("invalid UDP socket line ({what}): {line:?}"))
}

fn go_uint(s: &str) -> Option<u64> {
    if s.starts_with(['+', '-']) {
        return None;
    }
    parse_go_int(s).and_then(|v| u64::try_from(v).ok())
}

/// Whether `s` is a hex-encoded IPv4 (8 digits) or IPv6 (32 digits) address.
fn is_hex_ip(s: &str) -> bool {
    matches!(s.len(), 8 | 32) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses `/proc/net/udp` or `/proc/net/udp6`: the header line is skipped, every other line is checked as Go's
/// procfs checks it (slot, addresses, state, queues, uid, inode, drops) and its queues are summed.
pub fn parse(content: &str) -> Result<QueueSummary, CollectError> {
    let mut sum = QueueSummary::default();
    for line in content.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 13 {
            return Err(bad(line, "fewer than 13 columns"));
        }
        let sl = f[0].split_once(':').filter(|(_, rest)| rest.is_empty()).map(|(n, _)| n);
        sl.and_then(go_uint).ok_or_else(|| bad(line, "sl"))?;
        for addr in [f[1], f[2]] {
            let (ip, port) = addr.split_once(':').ok_or_else(|| bad(line, "address"))?;
            if !is_hex_ip(ip) || port.contains(':') || u64::from_str_radix(port, 16).is_err() {
                return Err(bad(line, "address"));
            }
        }
        u64::from_str_radix(f[3], 16).map_err(|_| bad(line, "st"))?;
        let (tx, rx) = f[4].split_once(':').ok_or_else(|| bad(line, "queues"))?;
        let tx = u64::from_str_radix(tx, 16).map_err(|_| bad(line, "tx_queue"))?;
        let rx = u64::from_str_radix(rx, 16).map_err(|_| bad(line, "rx_queue"))?;
        go_uint(f[7]).ok_or_else(|| bad(line, "uid"))?;
        go_uint(f[9]).ok_or_else(|| bad(line, "inode"))?;
        go_uint(f[12]).ok_or_else(|| bad(line, "drops"))?;
        sum.tx = sum.tx.saturating_add(tx);
        sum.rx = sum.rx.saturating_add(rx);
        sum.sockets += 1;
    }
    Ok(sum)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(UdpQueues { v4: args.proc_path("net/udp"), v6: args.proc_path("net/udp6") }))
}

struct UdpQueues {
    v4: PathBuf,
    v6: PathBuf,
}

impl BlockingCollector for UdpQueues {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let mut missing = 0;
        for (path, ip) in [(&self.v4, "v4"), (&self.v6, "v6")] {
            let content = match read_file(path) {
                Ok(c) => c,
                Err(e) if e.is_no_data() => {
                    missing += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let s = parse(&content).map_err(|e| CollectError::Parse(format!("couldn't get udp queued bytes: {e}")))?;
            let help = "Number of allocated memory in the kernel for UDP datagrams in bytes.";
            out.gauge("node_udp_queues", help).sample(&[("ip", ip), ("queue", "tx")], s.tx as f64);
            out.gauge("node_udp_queues", help).sample(&[("ip", ip), ("queue", "rx")], s.rx as f64);
        }
        if missing == 2 {
            return Err(CollectError::NoData("no /proc/net/udp or /proc/net/udp6".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::garbage;

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 1125: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 17921 2 0000000000000000 0
 1200: 0100007F:0035 00000000:0000 07 00000100:00000001 00:00000000 00000000   101        0 19210 2 0000000000000000 3
";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  139: 00000000000000000000000000000000:0223 00000000000000000000000000000000:0000 07 00000000:00000a00 00:00000000 00000000     0        0 21395 2 0000000000000000 0
";

    #[test]
    fn parses() {
        assert_eq!(parse(UDP).ok(), Some(QueueSummary { tx: 0x100, rx: 1, sockets: 2 }));
        assert_eq!(parse(UDP6).ok(), Some(QueueSummary { tx: 0, rx: 0xa00, sockets: 1 }));
        assert_eq!(parse("header\n").ok(), Some(QueueSummary::default()));
        assert!(parse("h\n 1: 0100007F:0035 00000000:0000 07 zz:00 00:00000000 00000000 0 0 1 2 0 0\n").is_err());
        assert!(parse("h\n 1: 01007F:0035 00000000:0000 07 00:00 00:00000000 00000000 0 0 1 2 0 0\n").is_err());
        assert!(parse("h\n 1: 0100007F:0035 00000000:0000 07 00:00\n").is_err());
    }

    #[test]
    fn collects_and_reports_missing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("udp"), UDP).expect("write");
        let c = UdpQueues { v4: dir.path().join("udp"), v6: dir.path().join("udp6") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = crate::sysfs::testing::render(out);
        assert!(text.contains("node_udp_queues{ip=\"v4\",queue=\"tx\"} 256"), "{text}");
        assert!(!text.contains("v6"), "{text}");
        let none = UdpQueues { v4: dir.path().join("x"), v6: dir.path().join("y") };
        let res = none.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err_and(|e| e.is_no_data()));
    }

    #[test]
    fn garbage_never_panics() {
        garbage(b"0123456789abcdefABCDEF: \n", UDP, |s| {
            let _ = parse(s);
        });
    }
}
