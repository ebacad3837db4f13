//! `arp`: IPv4 neighbour (ARP) entries per device, `node_arp_entries{device}`, and with netlink (the default, as
//! in node_exporter 1.9+) also per neighbour state, `node_arp_states{device,state}`.
//!
//! With `--collector.arp.netlink` (default) the table comes from an `RTM_GETNEIGH` dump over rtnetlink (see
//! [`crate::netlink`]), bounded by the scrape deadline; entries in state `NOARP` are skipped, as `/proc/net/arp`
//! skips them. With `--no-collector.arp.netlink` the entries are counted from `/proc/net/arp` and there are no
//! states.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;
use crate::filter::NameFilter;
use crate::netlink::{self, Message, RTM_NEWNEIGH};

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
    /// Use netlink to gather stats instead of /proc/net/arp (default: enabled; --no-collector.arp.netlink disables).
    #[arg(
        id = "collector.arp.netlink",
        long = "collector.arp.netlink",
        help_heading = "Collector: arp",
        overrides_with = "no-collector.arp.netlink"
    )]
    pub netlink: bool,
    /// Read /proc/net/arp instead of netlink (no node_arp_states then).
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
    let source = if a.no_netlink { Source::Proc(args.proc_path("net/arp")) } else { Source::Netlink };
    Ok(blocking(Arp {
        source,
        filter: NameFilter::new(a.device_exclude.as_deref().unwrap_or(""), a.device_include.as_deref().unwrap_or(""))?,
        socket: Mutex::new(None),
    }))
}

/// Where the neighbour table is read from.
enum Source {
    /// An rtnetlink dump (this process's network namespace; `--path.procfs` does not apply, as in node_exporter).
    Netlink,
    /// `/proc/net/arp` below `--path.procfs`.
    Proc(PathBuf),
}

struct Arp {
    source: Source,
    filter: NameFilter,
    /// The rtnetlink socket of the last successful dump, kept for the next scrape (no socket, bind and close per
    /// scrape). A dump that fails drops it, so no half-read reply is left for the next one.
    socket: Mutex<Option<netlink::Socket>>,
}

impl BlockingCollector for Arp {
    fn collect(&self, ctx: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let table = match &self.source {
            Source::Proc(path) => {
                let entries = parse(&read_file(path)?)?;
                Table { entries, states: BTreeMap::new() }
            }
            Source::Netlink => {
                let mut kept = self.socket.lock().unwrap_or_else(|p| p.into_inner());
                let mut socket = match kept.take() {
                    Some(s) => s,
                    None => netlink::Socket::open().map_err(netlink_error)?,
                };
                let table = read_netlink(&mut socket, ctx.deadline)?;
                *kept = Some(socket);
                table
            }
        };
        emit(&table, &self.filter, out);
        Ok(())
    }
}

/// Entries per device and, from netlink, entries per device and state name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Entries per device.
    pub entries: BTreeMap<String, u64>,
    /// Entries per device and state name (empty from `/proc/net/arp`).
    pub states: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

/// Writes the families for the devices `filter` lets through.
pub fn emit(table: &Table, filter: &NameFilter, out: &mut Snapshot) {
    for (device, count) in &table.entries {
        if filter.ignored(device) {
            continue;
        }
        out.gauge("node_arp_entries", "ARP entries by device").sample(&[("device", device)], *count as f64);
        for (state, n) in table.states.get(device).into_iter().flatten() {
            out.gauge("node_arp_states", "ARP states by device")
                .sample(&[("device", device), ("state", state)], *n as f64);
        }
    }
}

/// `AF_INET`.
const AF_INET: u8 = 2;
/// `NUD_NOARP`: entries without address resolution (loopback, point-to-point), absent from `/proc/net/arp`.
const NUD_NOARP: u16 = 0x40;
/// Size of `struct ndmsg`.
const NDMSG_LEN: usize = 12;

/// One neighbour table entry: the fields of `struct ndmsg` the collector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    /// `ndm_family` (`AF_INET`, `AF_INET6`, …).
    pub family: u8,
    /// `ndm_ifindex`.
    pub ifindex: u32,
    /// `ndm_state` (`NUD_*` bits).
    pub state: u16,
}

/// node_exporter's name for a neighbour state; states it does not name (`NUD_NONE`, combinations) get an empty
/// name, as its lookup table yields (see docs/compatibility.md).
pub fn state_name(state: u16) -> &'static str {
    match state {
        0x01 => "incomplete",
        0x02 => "reachable",
        0x04 => "stale",
        0x08 => "delay",
        0x10 => "probe",
        0x20 => "failed",
        0x80 => "permanent",
        _ => "",
    }
}

/// The neighbour in an `RTM_NEWNEIGH` message (`None` for other message types); a payload shorter than
/// `struct ndmsg` is an error. Attributes after the header are not needed and not read.
pub fn parse_neighbour(m: &Message<'_>) -> Result<Option<Neighbour>, CollectError> {
    if m.kind != RTM_NEWNEIGH {
        return Ok(None);
    }
    let short = || CollectError::Parse(format!("rtnetlink: neighbour message of {} bytes", m.payload.len()));
    if m.payload.len() < NDMSG_LEN {
        return Err(short());
    }
    let family = *m.payload.first().ok_or_else(short)?;
    let ifindex = netlink::u32_at(m.payload, 4).ok_or_else(short)?;
    let state = netlink::u16_at(m.payload, 8).ok_or_else(short)?;
    Ok(Some(Neighbour { family, ifindex, state }))
}

/// Parses one received datagram of an `RTM_GETNEIGH` dump of request `seq`: the neighbours in it and whether the
/// dump ended. (The collector's path from bytes to entries; the fuzz target's entry point.)
pub fn parse_datagram(buf: &[u8], seq: u32) -> Result<(Vec<Neighbour>, bool), CollectError> {
    let d = netlink::split(buf, seq).map_err(|e| CollectError::Parse(e.to_string()))?;
    let mut out = Vec::with_capacity(d.messages.len());
    for m in &d.messages {
        out.extend(parse_neighbour(m)?);
    }
    Ok((out, d.done))
}

/// Counts the IPv4 entries not in state `NOARP` per interface index and state name.
pub fn count(neighbours: &[Neighbour]) -> BTreeMap<u32, BTreeMap<&'static str, u64>> {
    let mut by_index: BTreeMap<u32, BTreeMap<&'static str, u64>> = BTreeMap::new();
    for n in neighbours.iter().filter(|n| n.family == AF_INET && n.state & NUD_NOARP == 0) {
        *by_index.entry(n.ifindex).or_default().entry(state_name(n.state)).or_insert(0) += 1;
    }
    by_index
}

/// Names the interfaces of `by_index` with `name` (a vanished interface is left out, as node_exporter does).
pub fn name_devices(
    by_index: BTreeMap<u32, BTreeMap<&'static str, u64>>,
    mut name: impl FnMut(u32) -> Option<String>,
) -> Table {
    let mut table = Table::default();
    for (index, states) in by_index {
        let Some(device) = name(index) else { continue };
        // Two indexes cannot share a name at one moment, but a rename between lookups could: add, not replace.
        *table.entries.entry(device.clone()).or_insert(0) += states.values().sum::<u64>();
        let merged = table.states.entry(device).or_default();
        for (state, n) in states {
            *merged.entry(state).or_insert(0) += n;
        }
    }
    table
}

/// Reads the IPv4 neighbour table over rtnetlink before `deadline`.
fn read_netlink(socket: &mut netlink::Socket, deadline: Instant) -> Result<Table, CollectError> {
    let mut neighbours = Vec::new();
    // struct ndmsg { family = AF_INET, pad, pad, ifindex = 0, state = 0, flags = 0, type = 0 }: the kernel dumps
    // only the IPv4 (ARP) table.
    let mut request = [0u8; NDMSG_LEN];
    request[0] = AF_INET;
    socket
        .dump(netlink::RTM_GETNEIGH, &request, deadline, |m| match parse_neighbour(m) {
            Ok(n) => {
                neighbours.extend(n);
                Ok(())
            }
            Err(e) => Err(netlink::Error::Malformed(e.to_string())),
        })
        .map_err(netlink_error)?;
    let by_index = count(&neighbours);
    let mut names = BTreeMap::new();
    for &index in by_index.keys() {
        match socket.interface_name(index) {
            Ok(name) => {
                names.insert(index, name);
            }
            // Gone since the dump: left out.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) => {}
            Err(e) => return Err(CollectError::io(format!("interface name of index {index}"), e)),
        }
    }
    Ok(name_devices(by_index, |index| names.remove(&index)))
}

fn netlink_error(e: netlink::Error) -> CollectError {
    match e {
        netlink::Error::Timeout => CollectError::Other(e.to_string()),
        netlink::Error::Io { op, source } => CollectError::io(format!("rtnetlink {op}"), source),
        other => CollectError::Other(other.to_string()),
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
    use crate::netlink::testing::{done, message};
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
    fn proc_source_filter_and_collect() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("arp"), ARP).expect("write");
        let c = Arp {
            source: Source::Proc(dir.path().join("arp")),
            filter: NameFilter::new("^eth", "").expect("valid"),
            socket: Mutex::new(None),
        };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = crate::sysfs::testing::render(out);
        assert!(text.contains("node_arp_entries{device=\"ens33\"} 2"), "{text}");
        assert!(!text.contains("eth0"), "{text}");
        assert!(!text.contains("node_arp_states"), "{text}");
    }

    /// An `RTM_NEWNEIGH` message as the kernel sends it: `struct ndmsg`, then `NDA_DST` (4 bytes of address).
    fn neigh(seq: u32, family: u8, ifindex: u32, state: u16, dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![family, 0, 0, 0];
        p.extend_from_slice(&ifindex.to_ne_bytes());
        p.extend_from_slice(&state.to_ne_bytes());
        p.extend_from_slice(&[0, 1]); // ndm_flags, ndm_type = RTN_UNICAST
        p.extend_from_slice(&8u16.to_ne_bytes()); // rta_len
        p.extend_from_slice(&1u16.to_ne_bytes()); // NDA_DST
        p.extend_from_slice(&dst);
        message(RTM_NEWNEIGH, 2, seq, &p)
    }

    /// A dump of two datagrams: eth0 (2) with two reachable, one stale, one IPv6 entry; lo (1) with a NOARP entry;
    /// br0 (3) with a permanent and a NUD_NONE entry; index 9, an interface gone before its name was asked.
    fn dump() -> (Vec<u8>, Vec<u8>) {
        let mut first = neigh(5, AF_INET, 2, 0x02, [10, 0, 0, 1]);
        first.extend(neigh(5, AF_INET, 2, 0x02, [10, 0, 0, 2]));
        first.extend(neigh(5, AF_INET, 2, 0x04, [10, 0, 0, 3]));
        first.extend(neigh(5, 10, 2, 0x02, [0; 4]));
        first.extend(neigh(5, AF_INET, 1, NUD_NOARP, [0; 4]));
        let mut second = neigh(5, AF_INET, 3, 0x80, [192, 168, 1, 1]);
        second.extend(neigh(5, AF_INET, 3, 0x00, [192, 168, 1, 2]));
        second.extend(neigh(5, AF_INET, 9, 0x20, [192, 168, 9, 9]));
        second.extend(done(5));
        (first, second)
    }

    #[test]
    fn netlink_dump_counts_entries_and_states() {
        let (first, second) = dump();
        let (mut neighbours, done1) = parse_datagram(&first, 5).expect("valid");
        assert!(!done1);
        assert_eq!(neighbours.len(), 5);
        assert_eq!(neighbours[0], Neighbour { family: AF_INET, ifindex: 2, state: 0x02 });
        let (more, done2) = parse_datagram(&second, 5).expect("valid");
        assert!(done2);
        neighbours.extend(more);
        let names = |i: u32| match i {
            1 => Some("lo".to_owned()),
            2 => Some("eth0".to_owned()),
            3 => Some("br0".to_owned()),
            _ => None,
        };
        let table = name_devices(count(&neighbours), names);
        assert_eq!(table.entries, BTreeMap::from([("br0".to_owned(), 2), ("eth0".to_owned(), 3)]));
        assert_eq!(table.states["eth0"], BTreeMap::from([("reachable", 2), ("stale", 1)]));
        assert_eq!(table.states["br0"], BTreeMap::from([("", 1), ("permanent", 1)]));

        let mut out = Snapshot::new();
        emit(&table, &NameFilter::new("^br", "").expect("valid"), &mut out);
        let text = crate::sysfs::testing::render(out);
        let want = "# HELP node_arp_entries ARP entries by device
# TYPE node_arp_entries gauge
node_arp_entries{device=\"eth0\"} 3
# HELP node_arp_states ARP states by device
# TYPE node_arp_states gauge
node_arp_states{device=\"eth0\",state=\"reachable\"} 2
node_arp_states{device=\"eth0\",state=\"stale\"} 1
";
        assert_eq!(text, want);
    }

    #[test]
    fn netlink_bad_messages() {
        // A neighbour message shorter than struct ndmsg.
        let short = message(RTM_NEWNEIGH, 2, 5, &[2, 0, 0, 0, 1, 0]);
        assert!(parse_datagram(&short, 5).is_err());
        // Other message types are not neighbours.
        assert_eq!(parse_datagram(&message(16, 2, 5, &[0; 16]), 5).expect("valid"), (vec![], false));
        // A kernel error.
        assert!(parse_datagram(&message(netlink::NLMSG_ERROR, 0, 5, &(-13i32).to_ne_bytes()), 5).is_err());
        for s in 0..=0xffu16 {
            let name = state_name(s);
            assert!(name.is_empty() || s.count_ones() == 1, "{s:#x} {name}");
        }
    }

    #[test]
    fn netlink_garbage_never_panics() {
        let (first, second) = dump();
        let valid: Vec<u8> = first.into_iter().chain(second).collect();
        let mut s = 0x2545_f491_4f6c_dd1du64;
        for i in 0..3000usize {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let mut buf = valid.clone();
            // Cut, and flip a few bytes.
            buf.truncate((s as usize) % (valid.len() + 1));
            for k in 0..(i % 5) {
                if buf.is_empty() {
                    break;
                }
                let at = ((s >> (8 * k)) as usize) % buf.len();
                buf[at] ^= (s >> 32) as u8 | 1;
            }
            let _ = parse_datagram(&buf, 5);
        }
        crate::fuzzing::arp_netlink(&valid);
    }

    #[test]
    fn garbage_never_panics() {
        garbage(b"0123456789abcdef:.x *\n", ARP, |s| {
            let _ = parse(s);
        });
    }

    /// `ip -4 neigh show nud all` as node_arp_states would count it: per device and state, without NOARP entries
    /// (`NONE`, which `ip` prints as no state word, becomes the empty state).
    fn ip_neigh(ip: &std::path::Path) -> BTreeMap<String, BTreeMap<String, u64>> {
        const STATES: &[&str] = &["incomplete", "reachable", "stale", "delay", "probe", "failed", "noarp", "permanent"];
        let out = std::process::Command::new(ip).args(["-4", "neigh", "show", "nud", "all"]).output().expect("ip");
        assert!(out.status.success(), "ip neigh: {}", String::from_utf8_lossy(&out.stderr));
        let mut from_ip: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(dev) = words.iter().position(|w| *w == "dev").and_then(|i| words.get(i + 1)) else {
                continue;
            };
            let last = words.last().copied().unwrap_or_default().to_ascii_lowercase();
            let state = if STATES.contains(&last.as_str()) { last } else { String::new() };
            if state != "noarp" {
                *from_ip.entry((*dev).to_owned()).or_default().entry(state).or_insert(0) += 1;
            }
        }
        from_ip
    }

    /// The table's states with owned names, to compare with [`ip_neigh`].
    fn owned_states(table: &Table) -> BTreeMap<String, BTreeMap<String, u64>> {
        table.states.iter().map(|(d, s)| (d.clone(), s.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect())).collect()
    }

    /// The entries `/proc/net/arp` would show: the kernel leaves out `NONE` entries there too, which netlink
    /// reports (and node_exporter's netlink path counts, with an empty state).
    fn without_none(table: &Table) -> BTreeMap<String, u64> {
        table
            .states
            .iter()
            .map(|(d, s)| (d.clone(), s.iter().filter(|(k, _)| !k.is_empty()).map(|(_, v)| v).sum::<u64>()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// This machine's real neighbour table: the netlink states equal those of `ip -4 neigh show nud all`, and the
    /// entries `/proc/net/arp`'s counts (tried a few times: an entry may change state between the reads).
    #[test]
    fn netlink_matches_proc_and_ip_neigh() {
        let ip = oxporter_testkit::process::require_binary("ip", "iproute2");
        let mut last = String::new();
        for _ in 0..5 {
            let deadline = || Instant::now() + std::time::Duration::from_secs(5);
            let mut socket = netlink::Socket::open().expect("rtnetlink socket");
            let table = read_netlink(&mut socket, deadline()).expect("rtnetlink dump");
            let from_proc = parse(&std::fs::read_to_string("/proc/net/arp").expect("/proc/net/arp")).expect("parse");
            let from_ip = ip_neigh(&ip);
            let sums: BTreeMap<String, u64> = table.states.iter().map(|(d, s)| (d.clone(), s.values().sum())).collect();
            if owned_states(&table) == from_ip && without_none(&table) == from_proc && sums == table.entries {
                println!("neighbour table: {table:?}");
                return;
            }
            last = format!("netlink {table:?}\n/proc/net/arp {from_proc:?}\nip neigh {from_ip:?}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("the neighbour table read over netlink differs:\n{last}");
    }

    /// A neighbour table with every state that stays put, made in a private network namespace (`unshare -rn`: a
    /// user namespace, so no privileges needed and the host's table untouched): this test runs
    /// [`in_private_namespace`] there.
    #[test]
    fn netlink_in_private_namespace() {
        oxporter_testkit::process::require_binary("ip", "iproute2");
        oxporter_testkit::process::require_binary("prometheus-node-exporter", "prometheus-node-exporter");
        crate::collectors::testutil::in_namespaces(
            &["-rn"],
            "collectors::arp::tests::in_private_namespace",
            "OXPORTER_ARP_NAMESPACE",
            "unshare -rn must be allowed",
        );
    }

    /// Run by [`netlink_in_private_namespace`] inside a new network namespace.
    #[test]
    #[ignore = "runs inside the network namespace netlink_in_private_namespace makes"]
    fn in_private_namespace() {
        assert_eq!(std::env::var("OXPORTER_ARP_NAMESPACE").as_deref(), Ok("1"), "run by netlink_in_private_namespace");
        let ip = oxporter_testkit::process::require_binary("ip", "iproute2");
        let run = |args: &str| {
            let out = std::process::Command::new(&ip).args(args.split(' ')).output().expect("ip");
            assert!(out.status.success(), "ip {args}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run("link set lo up");
        run("link add v0 type veth peer name v1");
        run("link set v0 up");
        run("link set v1 up");
        run("addr add 198.51.100.1/24 dev v0");
        for (addr, dev, state) in [
            ("198.51.100.2", "v0", "permanent"),
            ("198.51.100.3", "v0", "stale"),
            ("198.51.100.4", "v0", "stale"),
            ("198.51.100.5", "v0", "noarp"),
            ("198.51.100.6", "v0", "failed"),
            ("198.51.100.7", "v1", "permanent"),
            ("198.51.100.8", "v1", "none"),
        ] {
            run(&format!("neigh add {addr} lladdr 02:00:00:00:00:01 dev {dev} nud {state}"));
        }
        let deadline = || Instant::now() + std::time::Duration::from_secs(5);
        let mut socket = netlink::Socket::open().expect("rtnetlink socket");
        let table = read_netlink(&mut socket, deadline()).expect("rtnetlink dump");
        let want = Table {
            entries: BTreeMap::from([("v0".to_owned(), 4), ("v1".to_owned(), 2)]),
            states: BTreeMap::from([
                ("v0".to_owned(), BTreeMap::from([("failed", 1), ("permanent", 1), ("stale", 2)])),
                ("v1".to_owned(), BTreeMap::from([("", 1), ("permanent", 1)])),
            ]),
        };
        assert_eq!(table, want);
        assert_eq!(owned_states(&table), ip_neigh(&ip));
        let from_proc = parse(&std::fs::read_to_string("/proc/net/arp").expect("/proc/net/arp")).expect("parse");
        assert_eq!(from_proc, without_none(&table));

        // node_exporter 1.5 (which reads /proc/net/arp) in the same namespace.
        let bin = oxporter_testkit::process::require_binary("prometheus-node-exporter", "prometheus-node-exporter");
        let port = oxporter_testkit::ports::free_port();
        let mut cmd = std::process::Command::new(bin);
        cmd.args([format!("--web.listen-address=127.0.0.1:{port}").as_str(), "--collector.disable-defaults"])
            .arg("--collector.arp")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let _anchor = oxporter_testkit::process::ChildGuard::spawn("prometheus-node-exporter", &mut cmd);
        oxporter_testkit::ports::wait_for_port(port, std::time::Duration::from_secs(20), "prometheus-node-exporter");
        let text = oxporter_testkit::http::must_get(&format!("http://127.0.0.1:{port}/metrics"), &[]).text();
        let theirs: BTreeMap<String, u64> = oxporter_testkit::textformat::must_parse(&text, "node_exporter")
            .iter()
            .filter(|f| f.name == "node_arp_entries")
            .flat_map(|f| f.samples.iter())
            .map(|s| (s.label("device").unwrap_or_default().to_owned(), s.value as u64))
            .collect();
        assert_eq!(theirs, from_proc, "node_exporter 1.5: {text}");
        println!("netlink {table:?}; node_exporter 1.5 (/proc/net/arp) {theirs:?}");

        // The socket, kept between scrapes as the collector keeps it, dumps the changed table afresh.
        run("neigh add 198.51.100.9 lladdr 02:00:00:00:00:01 dev v1 nud permanent");
        let again = read_netlink(&mut socket, deadline()).expect("second dump on the same socket");
        assert_eq!(again.entries.get("v1"), Some(&3), "{again:?}");
        assert_eq!(again.entries.get("v0"), Some(&4), "{again:?}");
    }
}
