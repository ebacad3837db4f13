//! Entry points shared by the fuzz targets (`fuzz/`) and the unit tests that run the same functions over
//! pseudo-random garbage, so CI covers them without a nightly toolchain.

use oxporter_core::Snapshot;

use crate::collectors::{conntrack, diskstats, filefd, filesystem, interrupts, netdev, netstat, pressure, processes};
use crate::collectors::{sockstat, tcpstat, vmstat};

/// Feeds `input` to every `/proc` and `/sys` parser of this crate, and the emitters to whatever parses. Must never
/// panic.
pub fn proc_parsers(input: &str) {
    static ANY: std::sync::OnceLock<Option<crate::filter::Remembered>> = std::sync::OnceLock::new();
    let any = ANY.get_or_init(|| regex::Regex::new(".*").ok().map(Into::into));
    let _ = filefd::parse(input);
    let _ = crate::collectors::entropy::parse_number(input);
    if let Some(re) = any {
        if let Ok(v) = vmstat::parse(input, re) {
            let _ = v.len();
        }
        let mut stats = netstat::parse_pairs(input).unwrap_or_default();
        stats.extend(netstat::parse_snmp6(input));
        let _ = netstat::emit(&stats, re, &mut Snapshot::new());
    }
    if let Ok(s) = sockstat::parse(input) {
        sockstat::emit(&s, 4096.0, &crate::names::Interned::default(), &mut Snapshot::new());
    }
    if let Ok(p) = pressure::parse(input) {
        for r in ["cpu", "io", "memory", "irq"] {
            let _ = pressure::emit(r, &p, &mut Snapshot::new());
        }
    }
    let _ = conntrack::parse_stat(input);
    let _ = netdev::parse(input);
    if let Ok(disks) = diskstats::parse(input) {
        let extra = diskstats::Extra { udev: diskstats::parse_udev(input), ..Default::default() };
        for d in &disks {
            diskstats::emit(d, &extra, &mut Snapshot::new());
        }
    }
    if let Ok(mounts) = filesystem::parse_mountinfo(input) {
        for m in &mounts {
            let _ = filesystem::strip_rootfs(std::path::Path::new("/rootfs"), &m.mount_point);
            filesystem::emit(m, &filesystem::Outcome::Timeout, &mut Snapshot::new());
        }
    }
    let _ = interrupts::parse(input);
    let _ = processes::parse_stat(input);
    let mut counts = tcpstat::Counts::default();
    let _ = tcpstat::parse(input.as_bytes(), &mut counts);
    let _ = tcpstat::parse_diag(input.as_bytes(), &mut counts);
    let _ = tcpstat::parse_sockstat_tw(input);
    tcpstat::emit(&counts, &mut Snapshot::new());
}

/// Feeds `input` to the arp collector's rtnetlink path (datagram splitting, neighbour messages, counting) as one
/// received datagram; the first four bytes, when present, are also tried as the request's sequence number. Must
/// never panic.
pub fn arp_netlink(input: &[u8]) {
    use crate::collectors::arp;
    let seqs = [crate::netlink::u32_at(input, 8).unwrap_or(0), 1];
    for seq in seqs {
        if let Ok((neighbours, _done)) = arp::parse_datagram(input, seq) {
            let table = arp::name_devices(arp::count(&neighbours), |i| Some(format!("if{i}")));
            arp::emit(&table, &crate::filter::NameFilter::none(), &mut Snapshot::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_ALPHABET: &[&str] = &[
        " ",
        "\t",
        "\n",
        ":",
        "-",
        " - ",
        "0",
        "1",
        "42",
        "ff",
        "x",
        "(",
        ")",
        "=",
        "total=",
        "some ",
        "full ",
        "avg10=1.0",
        "Tcp:",
        "Ip6",
        "sockets:",
        "used",
        "inuse",
        "mem",
        "CPU0",
        "CPU1",
        "|",
        "bytes",
        "E:",
        "ID_FS_TYPE=",
        "8:1",
        "/",
        "ro",
        "rw,",
        "ext4",
        "\\040",
        "18446744073709551616",
        "-1",
        "é",
        "\u{0}",
    ];

    #[test]
    fn proc_parsers_survive_garbage() {
        for input in oxporter_core::testing::token_soup(7, 3000, 120, PROC_ALPHABET) {
            proc_parsers(&input);
        }
        for sample in [
            include_str!("../testdata/proc/diskstats"),
            include_str!("../testdata/proc/net/dev"),
            include_str!("../testdata/proc/1/mountinfo"),
            include_str!("../testdata/proc/interrupts"),
            include_str!("../testdata/proc/net/netstat"),
        ] {
            // Every truncation of a real file.
            for cut in (0..sample.len()).step_by(7).filter(|c| sample.is_char_boundary(*c)) {
                proc_parsers(&sample[..cut]);
            }
        }
    }
}
