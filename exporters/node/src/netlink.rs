//! A minimal rtnetlink client for dumps (`ip neigh`-style table reads) without unsafe code.
//!
//! [`Socket::dump`] sends one dump request over an `AF_NETLINK`/`NETLINK_ROUTE` socket and reads the kernel's
//! reply, a series of datagrams that each carry whole netlink messages, until `NLMSG_DONE`, an error or the
//! deadline. Splitting a datagram into messages is the pure function [`split`], which never trusts a length it reads
//! (unit-tested with hand-made and garbage bytes, and fuzzed through the arp collector's parser).
//!
//! All integers are in host byte order, as netlink defines them.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::sockopt::Timeout;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// Size of `struct nlmsghdr`.
pub const HEADER_LEN: usize = 16;
/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: the payload starts with a negative errno (0 for an acknowledgement).
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a multipart (dump) reply.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`: data was lost.
pub const NLMSG_OVERRUN: u16 = 4;
/// `RTM_NEWNEIGH`: one neighbour table entry.
pub const RTM_NEWNEIGH: u16 = 28;
/// `RTM_GETNEIGH`: request the neighbour table.
pub const RTM_GETNEIGH: u16 = 30;
/// `NLM_F_REQUEST`.
const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
const NLM_F_DUMP: u16 = 0x300;

/// The receive buffer: larger than any datagram the kernel builds for a dump (it sizes them to at most 32 KiB), so
/// a datagram is never cut; one that would be is reported as an error rather than parsed half.
const RECV_BUFFER: usize = 64 * 1024;

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed (socket, send, receive).
    #[error("rtnetlink {op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel answered the request with an error (`NLMSG_ERROR` with a negative errno).
    #[error("rtnetlink: kernel error: {0}")]
    Kernel(std::io::Error),
    /// The reply is not well-formed netlink.
    #[error("rtnetlink: malformed reply: {0}")]
    Malformed(String),
    /// The deadline passed before `NLMSG_DONE`.
    #[error("rtnetlink: no complete reply before the deadline")]
    Timeout,
}

/// One netlink message of a reply (header fields and the payload after the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// The bytes after the header, `nlmsg_len - 16` of them.
    pub payload: &'a [u8],
}

/// What [`split`] found in one datagram.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// The data messages (neither `NLMSG_DONE`, `NLMSG_ERROR` nor `NLMSG_NOOP`) of the request `seq`.
    pub messages: Vec<Message<'a>>,
    /// Whether `NLMSG_DONE` ended the reply.
    pub done: bool,
}

/// Reads a `u16` at `at`, `None` past the end.
pub fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

/// Reads a `u32` at `at`, `None` past the end.
pub fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Splits one received datagram into messages, keeping those of request `seq` (others are not ours: ignored).
/// `NLMSG_ERROR` with a nonzero errno and `NLMSG_OVERRUN` are errors; a length that is too small or runs past the
/// end is a malformed reply.
pub fn split(buf: &[u8], seq: u32) -> Result<Datagram<'_>, Error> {
    let mut out = Datagram::default();
    let mut at = 0usize;
    while at < buf.len() {
        let header = |field: Option<u32>| field.ok_or_else(|| Error::Malformed(format!("truncated header at {at}")));
        let len = header(u32_at(buf, at))? as usize;
        let kind = header(u16_at(buf, at + 4).map(u32::from))? as u16;
        let flags = header(u16_at(buf, at + 6).map(u32::from))? as u16;
        let msg_seq = header(u32_at(buf, at + 8))?;
        if len < HEADER_LEN {
            return Err(Error::Malformed(format!("message length {len} at {at}")));
        }
        let end = at
            .checked_add(len)
            .filter(|&e| e <= buf.len())
            .ok_or_else(|| Error::Malformed(format!("message length {len} at {at} runs past {}", buf.len())))?;
        let payload = &buf[at + HEADER_LEN..end];
        // Messages are 4-byte aligned (NLMSG_ALIGN); the padding after the last one may be absent.
        at = end.checked_add(3).map_or(buf.len(), |e| (e & !3).min(buf.len()));
        if msg_seq != seq {
            continue;
        }
        match kind {
            NLMSG_NOOP => {}
            NLMSG_DONE => {
                out.done = true;
                break;
            }
            NLMSG_ERROR => {
                let errno = u32_at(payload, 0)
                    .map(|e| e as i32)
                    .ok_or_else(|| Error::Malformed("NLMSG_ERROR without an error code".into()))?;
                if errno != 0 {
                    return Err(Error::Kernel(std::io::Error::from_raw_os_error(errno.saturating_neg())));
                }
            }
            NLMSG_OVERRUN => return Err(Error::Malformed("NLMSG_OVERRUN: the kernel dropped data".into())),
            _ => out.messages.push(Message { kind, flags, seq: msg_seq, payload }),
        }
    }
    Ok(out)
}

/// The bytes of a dump request: the netlink header then `body` (the family header of the request type, e.g.
/// `struct ndmsg`).
pub fn dump_request(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = (HEADER_LEN + body.len()) as u32;
    let mut req = Vec::with_capacity(HEADER_LEN + body.len());
    req.extend_from_slice(&len.to_ne_bytes());
    req.extend_from_slice(&kind.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills in ours
    req.extend_from_slice(body);
    req
}

/// An `AF_NETLINK`/`NETLINK_ROUTE` socket of this process's network namespace.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    /// The receive buffer, allocated once: a socket kept between scrapes does not zero 64 KiB each time.
    buf: Vec<u8>,
}

impl Socket {
    /// Opens the socket (close-on-exec).
    pub fn open() -> Result<Socket, Error> {
        let io = |op| move |e: rustix::io::Errno| Error::Io { op, source: e.into() };
        // `None`: protocol 0, NETLINK_ROUTE.
        let fd = rustix::net::socket_with(AddressFamily::NETLINK, SocketType::RAW, SocketFlags::CLOEXEC, None)
            .map_err(io("socket"))?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, 0)).map_err(io("bind"))?;
        // Any start works; a per-process one makes a stray reply of another socket easy to tell apart.
        Ok(Socket { fd, seq: std::process::id(), buf: vec![0u8; RECV_BUFFER] })
    }

    /// Sends a dump request of `kind` with `body` and calls `each` for every data message of the reply, until
    /// `NLMSG_DONE`. Fails with [`Error::Timeout`] if the reply is not complete by `deadline`; what `each` saw
    /// until then stays seen.
    pub fn dump(
        &mut self,
        kind: u16,
        body: &[u8],
        deadline: Instant,
        mut each: impl FnMut(&Message<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let io = |op| move |e: rustix::io::Errno| Error::Io { op, source: e.into() };
        self.seq = self.seq.wrapping_add(1);
        let req = dump_request(kind, self.seq, body);
        rustix::net::sendto(&self.fd, &req, SendFlags::empty(), &SocketAddrNetlink::new(0, 0)).map_err(io("send"))?;
        let buf = &mut self.buf;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::Timeout);
            }
            // The receive timeout bounds each wait by what is left of the scrape.
            rustix::net::sockopt::set_socket_timeout(
                &self.fd,
                Timeout::Recv,
                Some(remaining.max(Duration::from_millis(1))),
            )
            .map_err(io("setsockopt"))?;
            let n = match rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::TRUNC) {
                Ok((_, n)) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return Err(Error::Timeout),
                Err(e) => return Err(io("recv")(e)),
            };
            let data = buf
                .get(..n)
                .ok_or_else(|| Error::Malformed(format!("a datagram of {n} bytes exceeds {RECV_BUFFER}")))?;
            let datagram = split(data, self.seq)?;
            for m in &datagram.messages {
                each(m)?;
            }
            if datagram.done {
                return Ok(());
            }
        }
    }

    /// The name of the network interface with index `index` (`SIOCGIFNAME`), in this socket's namespace.
    pub fn interface_name(&self, index: u32) -> std::io::Result<String> {
        Ok(rustix::net::netdevice::index_to_name(&self.fd, index)?)
    }
}

#[cfg(test)]
pub mod testing {
    //! Hand-made netlink bytes for parser tests.

    /// One netlink message: header with the given fields, then `payload`, padded to 4 bytes.
    pub fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&4242u32.to_ne_bytes());
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    /// `NLMSG_DONE` of request `seq`.
    pub fn done(seq: u32) -> Vec<u8> {
        message(super::NLMSG_DONE, 2, seq, &0i32.to_ne_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{done, message};
    use super::*;

    #[test]
    fn splits_messages_and_stops_at_done() {
        let mut buf = message(RTM_NEWNEIGH, 2, 7, b"abcd");
        buf.extend(message(RTM_NEWNEIGH, 2, 7, b"xyz")); // padded to 20 bytes
        buf.extend(message(RTM_NEWNEIGH, 2, 99, b"not ours"));
        buf.extend(message(NLMSG_NOOP, 0, 7, b""));
        buf.extend(done(7));
        buf.extend(message(RTM_NEWNEIGH, 2, 7, b"after done"));
        let d = split(&buf, 7).expect("valid");
        assert!(d.done);
        let payloads: Vec<&[u8]> = d.messages.iter().map(|m| m.payload).collect();
        assert_eq!(payloads, [&b"abcd"[..], &b"xyz"[..]]);
        assert_eq!(d.messages[0].kind, RTM_NEWNEIGH);

        // A datagram without DONE: more to come.
        let one = message(RTM_NEWNEIGH, 2, 7, b"abcd");
        let d = split(&one, 7).expect("valid");
        assert!(!d.done);
        assert_eq!(d.messages.len(), 1);
        // The last message without its alignment padding.
        let mut last = message(RTM_NEWNEIGH, 2, 7, b"xyz");
        last.pop();
        assert_eq!(split(&last, 7).expect("valid").messages[0].payload, b"xyz");
        assert_eq!(split(&[], 7).expect("empty"), Datagram::default());
    }

    #[test]
    fn errors() {
        // A kernel error: -EPERM.
        let err = message(NLMSG_ERROR, 0, 7, &(-1i32).to_ne_bytes());
        assert!(matches!(split(&err, 7), Err(Error::Kernel(e)) if e.raw_os_error() == Some(1)));
        // An acknowledgement (errno 0) is not an error.
        assert!(split(&message(NLMSG_ERROR, 0, 7, &0i32.to_ne_bytes()), 7).is_ok());
        assert!(matches!(split(&message(NLMSG_ERROR, 0, 7, b""), 7), Err(Error::Malformed(_))));
        assert!(matches!(split(&message(NLMSG_OVERRUN, 0, 7, b""), 7), Err(Error::Malformed(_))));
        // Truncated header, length below the header size, length past the end.
        assert!(matches!(split(&[1, 2, 3], 7), Err(Error::Malformed(_))));
        let mut short = message(RTM_NEWNEIGH, 0, 7, b"");
        short[..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(matches!(split(&short, 7), Err(Error::Malformed(_))));
        let mut long = message(RTM_NEWNEIGH, 0, 7, b"abcd");
        long[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(split(&long, 7), Err(Error::Malformed(_))));
    }

    #[test]
    fn request_bytes() {
        let req = dump_request(RTM_GETNEIGH, 5, &[2, 0, 0, 0]);
        assert_eq!(req.len(), 20);
        assert_eq!(u32_at(&req, 0), Some(20));
        assert_eq!(u16_at(&req, 4), Some(RTM_GETNEIGH));
        assert_eq!(u16_at(&req, 6), Some(0x301));
        assert_eq!(u32_at(&req, 8), Some(5));
        assert_eq!(&req[16..], &[2, 0, 0, 0]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..2000usize {
            let mut buf = Vec::with_capacity(len % 97);
            for _ in 0..len % 97 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                buf.push((s & 0xff) as u8);
            }
            // Plausible lengths now and then, so parsing gets past the first header.
            if buf.len() >= 16 && len % 3 == 0 {
                let l = (buf.len() as u32).min(16 + (s as u32 % 64));
                buf[..4].copy_from_slice(&l.to_ne_bytes());
                buf[8..12].copy_from_slice(&7u32.to_ne_bytes());
            }
            let _ = split(&buf, 7);
        }
    }
}
