//! `tcpstat` (opt-in): TCP sockets by state as `node_tcp_connection_states{state}`, with the summed queues as the
//! states `tx_queued_bytes` and `rx_queued_bytes`.
//!
//! Like node_exporter, the sockets come from the kernel's sock_diag netlink interface (`SOCK_DIAG_BY_FAMILY` dumps
//! of IPv4 and, when `net/tcp6` exists, IPv6). That is also much cheaper for the kernel than formatting
//! `/proc/net/tcp`: on a host with 6000 sockets the text tables cost ~20 ms of system CPU per scrape, the dump
//! ~1 ms. With a `--path.procfs` other than `/proc` (fixture trees) or where netlink is refused (a seccomp filter),
//! the text tables under `--path.procfs` are read instead.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Tcpstat {
        v4: args.proc_path("net/tcp"),
        v6: args.proc_path("net/tcp6"),
        netlink: args.procfs == Path::new("/proc"),
        sockstat: Some(args.proc_path("net/sockstat")),
    }))
}

struct Tcpstat {
    v4: PathBuf,
    v6: PathBuf,
    /// Whether to ask the kernel over netlink (the live `/proc`) rather than read the text tables.
    netlink: bool,
    /// `/proc/net/sockstat`, for the TIME_WAIT count; `None` to dump TIME_WAIT sockets one by one.
    sockstat: Option<PathBuf>,
}

/// `TCP_TIME_WAIT` (include/net/tcp_states.h).
const TIME_WAIT: usize = 6;

/// The `tw` count of the `TCP:` line of `/proc/net/sockstat`, if the file reads and has it.
fn sockstat_time_wait(path: &Path) -> Option<u64> {
    parse_sockstat_tw(&oxporter_core::kept::read_to_string(path).ok()?)
}

/// The `tw` value of the `TCP:` line of a `/proc/net/sockstat` text.
pub fn parse_sockstat_tw(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("TCP:"))?;
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "tw" {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// Kernel TCP states 1..=11 by name (include/net/tcp_states.h).
const STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// Sockets per state and summed queues.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// Sockets per state 1..=11 (index 0 unused); states outside that range count as "unknown".
    pub states: [u64; 12],
    /// Sockets in an unknown state.
    pub unknown: u64,
    /// Sum of transmit queues.
    pub tx_queued: u64,
    /// Sum of receive queues.
    pub rx_queued: u64,
    /// Sockets seen.
    pub sockets: u64,
}

/// Adds the sockets of one `/proc/net/tcp`-format table (header line, then one socket per line) to `c`. Read
/// line by line: on a busy host the table is megabytes long.
pub fn parse(reader: impl BufRead, c: &mut Counts) -> Result<(), CollectError> {
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| CollectError::io("tcp table", e))?;
        if i == 0 || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().take(5).collect();
        let bad =
            || CollectError::Parse(format!("tcp: malformed line {:?}", line.chars().take(60).collect::<String>()));
        if f.len() < 5 {
            return Err(bad());
        }
        let st = u8::from_str_radix(f[3], 16).map_err(|_| bad())?;
        let (tx, rx) = f[4].split_once(':').ok_or_else(bad)?;
        let tx = u64::from_str_radix(tx, 16).map_err(|_| bad())?;
        let rx = u64::from_str_radix(rx, 16).map_err(|_| bad())?;
        match c.states.get_mut(st as usize) {
            Some(n) if st >= 1 => *n += 1,
            _ => c.unknown += 1,
        }
        c.tx_queued += tx;
        c.rx_queued += rx;
        c.sockets += 1;
    }
    Ok(())
}

/// Writes the counts as node_exporter does: only states seen, plus the queue sums once any socket exists.
pub fn emit(c: &Counts, out: &mut Snapshot) {
    let fam = out.gauge("node_tcp_connection_states", "Number of connection states.");
    for (i, name) in STATES.iter().enumerate() {
        let n = c.states[i + 1];
        if n > 0 {
            fam.sample(&[("state", name)], n as f64);
        }
    }
    if c.unknown > 0 {
        fam.sample(&[("state", "unknown")], c.unknown as f64);
    }
    if c.sockets > 0 {
        fam.sample(&[("state", "tx_queued_bytes")], c.tx_queued as f64);
        fam.sample(&[("state", "rx_queued_bytes")], c.rx_queued as f64);
    }
}

fn open(path: &PathBuf) -> Result<Option<std::io::BufReader<std::fs::File>>, CollectError> {
    match std::fs::File::open(path) {
        Ok(f) => Ok(Some(std::io::BufReader::new(f))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CollectError::io(path.display(), e)),
    }
}

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR` and `NLMSG_DONE` (linux/netlink.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST: u16 = 0x1 | 0x300;
/// Every TCP state 0..=11, as node_exporter asks.
const ALL_STATES: u32 = 0xfff;
const IPPROTO_TCP: u8 = 6;
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_msg`: family, state, timer, retrans, a 48-byte socket id, expires, rqueue, wqueue, uid, inode.
const DIAG_MSG_LEN: usize = 72;

/// The request: `struct nlmsghdr` followed by `struct inet_diag_req_v2` (family, protocol, extensions, pad,
/// states, and an all-zero socket id), native-endian as netlink is.
fn diag_request(family: u8, states: u32, seq: u32) -> [u8; NLMSG_HDRLEN + 56] {
    const LEN: usize = NLMSG_HDRLEN + 56;
    let mut m = [0u8; LEN];
    m[0..4].copy_from_slice(&(LEN as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m[6..8].copy_from_slice(&DUMP_REQUEST.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m[16] = family;
    m[17] = IPPROTO_TCP;
    m[20..24].copy_from_slice(&states.to_ne_bytes());
    m
}

/// What one received datagram of a dump said.
#[derive(Debug, PartialEq, Eq)]
pub enum DiagStatus {
    /// More datagrams follow.
    More,
    /// `NLMSG_DONE`: the dump is complete.
    Done,
}

fn ne_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn ne_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Adds the sockets of one received datagram of a sock_diag dump (netlink messages of `struct inet_diag_msg`) to
/// `c`. Anything malformed is an error, never a panic.
pub fn parse_diag(mut buf: &[u8], c: &mut Counts) -> Result<DiagStatus, CollectError> {
    let bad = |what: &str| CollectError::Parse(format!("sock_diag: {what}"));
    while !buf.is_empty() {
        let len = ne_u32(buf, 0).ok_or_else(|| bad("truncated header"))? as usize;
        let kind = ne_u16(buf, 4).ok_or_else(|| bad("truncated header"))?;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(bad("bad message length"));
        }
        let body = &buf[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_DONE => return Ok(DiagStatus::Done),
            NLMSG_ERROR => {
                let errno = ne_u32(body, 0).map(|e| -(e as i32)).unwrap_or(0);
                return Err(CollectError::io("sock_diag dump", std::io::Error::from_raw_os_error(errno)));
            }
            SOCK_DIAG_BY_FAMILY => {
                if body.len() < DIAG_MSG_LEN {
                    return Err(bad("short inet_diag_msg"));
                }
                let state = body[1];
                match c.states.get_mut(state as usize) {
                    Some(n) if state >= 1 => *n += 1,
                    _ => c.unknown += 1,
                }
                c.rx_queued += u64::from(ne_u32(body, 56).unwrap_or(0));
                c.tx_queued += u64::from(ne_u32(body, 60).unwrap_or(0));
                c.sockets += 1;
            }
            _ => {}
        }
        // Messages are padded to 4 bytes.
        let next = len.next_multiple_of(4).min(buf.len());
        buf = &buf[next..];
    }
    Ok(DiagStatus::More)
}

/// Dumps the TCP sockets of `family` (`AF_INET` or `AF_INET6`) over sock_diag into `c`, each receive bounded by
/// `budget`.
fn dump(family: u8, states: u32, budget: Duration, c: &mut Counts) -> Result<(), CollectError> {
    use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, netlink, sockopt};
    let io = |e: rustix::io::Errno| CollectError::io("sock_diag", e.into());
    let fd = rustix::net::socket(AddressFamily::NETLINK, SocketType::DGRAM, Some(netlink::SOCK_DIAG)).map_err(io)?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(budget.max(Duration::from_millis(1)))).map_err(io)?;
    rustix::net::send(&fd, &diag_request(family, states, 1), SendFlags::empty()).map_err(io)?;
    // The kernel fills a datagram up to about 32 KiB; a larger buffer is never needed.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, _) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty()).map_err(io)?;
        if n == 0 || parse_diag(&buf[..n], c)? == DiagStatus::Done {
            return Ok(());
        }
    }
}

impl Tcpstat {
    /// Counts over netlink; `None` if the kernel refuses sock_diag (then the text tables are read).
    fn netlink(&self, ctx: &ScrapeContext) -> Result<Option<Counts>, CollectError> {
        let mut c = Counts::default();
        const AF_INET: u8 = 2;
        const AF_INET6: u8 = 10;
        // TIME_WAIT sockets are often most of a busy host's sockets (tens of thousands), have empty queues, and the
        // kernel keeps a count of them in /proc/net/sockstat (`tw`, IPv4 and IPv6 of this network namespace).
        // Taking that count and leaving them out of the dump, which the kernel then skips at the cost of a state
        // check, makes the dump cost scale with the live connections only.
        let states = match self.sockstat.as_deref().and_then(sockstat_time_wait) {
            Some(tw) => {
                c.states[TIME_WAIT] = tw;
                c.sockets += tw;
                ALL_STATES & !(1 << TIME_WAIT)
            }
            None => ALL_STATES,
        };
        match dump(AF_INET, states, ctx.remaining(), &mut c) {
            Ok(()) => {}
            // No socket of that protocol (old kernel, sandbox): fall back to the files.
            Err(CollectError::Io { source, .. }) if refused(&source) => return Ok(None),
            Err(e) => return Err(e),
        }
        // Without IPv6 there is no tcp6 table, and node_exporter asks for IPv6 sockets only when it exists.
        if self.v6.exists() {
            dump(AF_INET6, states, ctx.remaining(), &mut c)?;
        }
        Ok(Some(c))
    }
}

/// Errors that mean "sock_diag is not available here" rather than "the dump failed".
/// EPERM, ENOENT (no inet_diag module), EACCES, EPROTONOSUPPORT, EAFNOSUPPORT.
fn refused(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(1 | 2 | 13 | 93 | 97))
}

impl BlockingCollector for Tcpstat {
    fn collect(&self, ctx: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        if self.netlink
            && let Some(c) = self.netlink(ctx)?
        {
            emit(&c, out);
            return Ok(());
        }
        let mut c = Counts::default();
        let v4 =
            open(&self.v4)?.ok_or_else(|| CollectError::NoData(format!("{} does not exist", self.v4.display())))?;
        parse(v4, &mut c)?;
        // Without IPv6 there is no tcp6 table.
        if let Some(v6) = open(&self.v6)? {
            parse(v6, &mut c)?;
        }
        emit(&c, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_samples() {
        let mut c = Counts::default();
        parse(include_str!("../../testdata/proc/net/tcp").as_bytes(), &mut c).expect("v4");
        parse(include_str!("../../testdata/proc/net/tcp6").as_bytes(), &mut c).expect("v6");
        assert!(c.states[10] > 0, "listening sockets");
        let mut out = Snapshot::new();
        emit(&c, &mut out);
        let fam = out.get("node_tcp_connection_states").expect("family");
        assert!(fam.samples.iter().any(|s| s.labels[0].1 == "listen"));
        assert!(fam.samples.iter().any(|s| s.labels[0].1 == "rx_queued_bytes"));
    }

    #[test]
    fn queues_and_garbage() {
        let table =
            "  sl  local rem st tx:rx\n   0: 0:0 0:0 01 0000000A:00000002 00\n   1: 0:0 0:0 0C 00000001:00000000\n";
        let mut c = Counts::default();
        parse(table.as_bytes(), &mut c).expect("parses");
        assert_eq!((c.states[1], c.unknown, c.tx_queued, c.rx_queued), (1, 1, 11, 2));
        for bad in ["h\n0: a b ZZ 0:0\n", "h\n0: a b 01 00\n", "h\n0: a b\n", "h\n0: a b 01 x:1\n"] {
            assert!(parse(bad.as_bytes(), &mut Counts::default()).is_err(), "{bad:?}");
        }
        let mut out = Snapshot::new();
        emit(&Counts::default(), &mut out);
        assert!(out.get("node_tcp_connection_states").is_none_or(|f| f.samples.is_empty()));
    }

    fn diag_msg(state: u8, rq: u32, wq: u32) -> Vec<u8> {
        let mut m = vec![0u8; NLMSG_HDRLEN + DIAG_MSG_LEN];
        m[0..4].copy_from_slice(&((NLMSG_HDRLEN + DIAG_MSG_LEN) as u32).to_ne_bytes());
        m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        m[NLMSG_HDRLEN + 1] = state;
        m[NLMSG_HDRLEN + 56..NLMSG_HDRLEN + 60].copy_from_slice(&rq.to_ne_bytes());
        m[NLMSG_HDRLEN + 60..NLMSG_HDRLEN + 64].copy_from_slice(&wq.to_ne_bytes());
        m
    }

    fn control(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; NLMSG_HDRLEN];
        m[0..4].copy_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        m[4..6].copy_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(payload);
        m
    }

    #[test]
    fn diag_messages() {
        let mut dgram = diag_msg(1, 3, 4);
        dgram.extend(diag_msg(10, 0, 4096));
        dgram.extend(diag_msg(13, 0, 0));
        let mut c = Counts::default();
        assert_eq!(parse_diag(&dgram, &mut c).expect("parses"), DiagStatus::More);
        assert_eq!((c.states[1], c.states[10], c.unknown, c.rx_queued, c.tx_queued), (1, 1, 1, 3, 4100));
        assert_eq!(parse_diag(&control(NLMSG_DONE, &[0; 4]), &mut c).expect("done"), DiagStatus::Done);
        let err = parse_diag(&control(NLMSG_ERROR, &(-13i32).to_ne_bytes()), &mut c).expect_err("error reply");
        assert!(err.to_string().contains("ermission denied"), "{err}");
        for bad in [&dgram[..10], &dgram[..NLMSG_HDRLEN + 8], &[255u8; 40][..], &control(20, &[0; 8])[..]] {
            assert!(parse_diag(bad, &mut Counts::default()).is_err(), "{bad:?}");
        }
        assert_eq!(diag_request(2, ALL_STATES, 1).len(), 72);
        let sockstat = "sockets: used 21\nTCP: inuse 3 orphan 0 tw 9758 alloc 3 mem 6\nUDP: inuse 0 mem 0\n";
        assert_eq!(parse_sockstat_tw(sockstat), Some(9758));
        for bad in ["", "TCP: inuse 3\n", "TCP: tw\n", "TCP: tw x\n", "UDP: tw 3\n"] {
            assert_eq!(parse_sockstat_tw(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn netlink_sees_a_listener_like_the_text_table() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = listener.local_addr().expect("addr").port();
        let ctx = ScrapeContext::with_timeout(Duration::from_secs(5));
        let mut by_dump = Counts::default();
        for sockstat in [None, Some("/proc/net/sockstat".into())] {
            let t = Tcpstat { v4: "/proc/net/tcp".into(), v6: "/proc/net/tcp6".into(), netlink: true, sockstat };
            let Some(c) = t.netlink(&ctx).expect("dump") else {
                panic!("sock_diag refused on this machine");
            };
            assert!(c.states[10] >= 1, "our listener on port {port} is counted: {c:?}");
            if t.sockstat.is_none() {
                by_dump = c;
            } else {
                // The kernel's count and a dump of the TIME_WAIT sockets agree, but the machine's connections come
                // and go between the two reads; other tests keep hundreds of sockets in TIME_WAIT.
                let (a, b) = (by_dump.states[TIME_WAIT] as f64, c.states[TIME_WAIT] as f64);
                assert!((a - b).abs() <= 50.0 + 0.2 * a.max(b), "TIME_WAIT: dump {a}, sockstat {b}");
            }
        }
        let mut files = Counts::default();
        parse(std::io::BufReader::new(std::fs::File::open("/proc/net/tcp").expect("tcp")), &mut files).expect("v4");
        assert!(files.states[10] >= 1);
        drop(listener);
    }
}
