//! `uname`: `node_uname_info{sysname,release,version,machine,nodename,domainname} 1` from the uname(2) system
//! call, the labels every node dashboard's host selector uses.

use oxporter_core::collector::{BuildError, CollectFuture};
use oxporter_core::{Collector, ScrapeContext, Snapshot};

use crate::args::Args;

/// Builds the collector.
pub fn build(_: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(Box::new(Uname))
}

/// uname(2) is a cheap system call that never blocks, so this collector runs inline rather than on the blocking
/// pool.
struct Uname;

impl Collector for Uname {
    fn collect<'a>(&'a self, _: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a> {
        Box::pin(async move {
            write(&UtsInfo::from_syscall(), out);
            Ok(())
        })
    }
}

/// The fields of `struct utsname`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UtsInfo {
    /// Operating system name, e.g. `Linux`.
    pub sysname: String,
    /// Network node host name.
    pub nodename: String,
    /// Kernel release, e.g. `6.1.0-18-amd64`.
    pub release: String,
    /// Kernel version (build string).
    pub version: String,
    /// Hardware, e.g. `x86_64`.
    pub machine: String,
    /// NIS domain name (`(none)` when unset).
    pub domainname: String,
}

impl UtsInfo {
    /// Asks the kernel.
    pub fn from_syscall() -> Self {
        let u = rustix::system::uname();
        let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
        UtsInfo {
            sysname: s(u.sysname()),
            nodename: s(u.nodename()),
            release: s(u.release()),
            version: s(u.version()),
            machine: s(u.machine()),
            domainname: s(u.domainname()),
        }
    }
}

/// Writes `node_uname_info` for `u`.
pub fn write(u: &UtsInfo, out: &mut Snapshot) {
    out.gauge("node_uname_info", "Labeled system information as provided by the uname system call.").sample(
        // Label names in sorted order, as client_golang writes them.
        &[
            ("domainname", &u.domainname),
            ("machine", &u.machine),
            ("nodename", &u.nodename),
            ("release", &u.release),
            ("sysname", &u.sysname),
            ("version", &u.version),
        ],
        1.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxporter_core::encode::{Format, encode};

    #[test]
    fn writes_all_six_labels() {
        let u = UtsInfo {
            sysname: "Linux".into(),
            nodename: "host\"1".into(),
            release: "6.1.0".into(),
            version: "#1 SMP PREEMPT_DYNAMIC".into(),
            machine: "x86_64".into(),
            domainname: "(none)".into(),
        };
        let mut snap = Snapshot::new();
        write(&u, &mut snap);
        let text = encode(Format::Text004, &snap.into_sorted());
        assert!(text.contains(
            "node_uname_info{domainname=\"(none)\",machine=\"x86_64\",nodename=\"host\\\"1\",release=\"6.1.0\",\
             sysname=\"Linux\",version=\"#1 SMP PREEMPT_DYNAMIC\"} 1\n"
        ));
    }

    #[test]
    fn syscall_gives_linux() {
        let u = UtsInfo::from_syscall();
        assert_eq!(u.sysname, "Linux");
        assert!(!u.release.is_empty() && !u.machine.is_empty());
    }
}
