//! The node exporter's collectors, one per file, declared in [`COLLECTORS`].

use std::path::{Path, PathBuf};

use oxporter_core::CollectError;
use oxporter_core::collector::CollectorSpec;

use crate::args::Args;

pub mod arp;
pub mod bcache;
pub mod bonding;
pub mod btrfs;
pub mod conntrack;
pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod dmi;
pub mod edac;
pub mod entropy;
pub mod fibrechannel;
pub mod filefd;
pub mod filesystem;
pub mod hwmon;
pub mod infiniband;
pub mod interrupts;
pub mod ipvs;
pub mod kernel_hung;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod nfs;
pub mod nfsd;
pub mod nvme;
pub mod os;
pub mod powersupplyclass;
pub mod pressure;
pub mod processes;
pub mod rapl;
pub mod schedstat;
pub mod selinux;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod systemd;
pub mod tapestats;
pub mod tcpstat;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;
pub mod watchdog;
pub mod xfs;
pub mod zfs;

/// Every collector oxporter-node has: the one place a collector is registered.
pub const COLLECTORS: &[CollectorSpec<Args>] = &[
    CollectorSpec {
        name: "arp",
        default_enabled: true,
        description: "Exposes ARP statistics from rtnetlink (or /proc/net/arp).",
        build: arp::build,
    },
    CollectorSpec {
        name: "bcache",
        default_enabled: true,
        description: "Exposes bcache statistics from /sys/fs/bcache/.",
        build: bcache::build,
    },
    CollectorSpec {
        name: "bonding",
        default_enabled: true,
        description: "Exposes the number of configured and active slaves of Linux bonding interfaces.",
        build: bonding::build,
    },
    CollectorSpec {
        name: "btrfs",
        default_enabled: true,
        description: "Exposes btrfs statistics.",
        build: btrfs::build,
    },
    CollectorSpec {
        name: "conntrack",
        default_enabled: true,
        description: "Exposes conntrack stats.",
        build: conntrack::build,
    },
    CollectorSpec {
        name: "cpu",
        default_enabled: true,
        description: "Exposes CPU statistics from /proc/stat, /proc/cpuinfo and /sys/devices/system/cpu.",
        build: cpu::build,
    },
    CollectorSpec {
        name: "cpufreq",
        default_enabled: true,
        description: "Exposes CPU frequency statistics.",
        build: cpufreq::build,
    },
    CollectorSpec {
        name: "diskstats",
        default_enabled: true,
        description: "Exposes disk I/O statistics.",
        build: diskstats::build,
    },
    CollectorSpec {
        name: "dmi",
        default_enabled: true,
        description: "Expose Desktop Management Interface (DMI) info from /sys/class/dmi/id/.",
        build: dmi::build,
    },
    CollectorSpec {
        name: "edac",
        default_enabled: true,
        description: "Exposes error detection and correction statistics.",
        build: edac::build,
    },
    CollectorSpec {
        name: "entropy",
        default_enabled: true,
        description: "Exposes available entropy.",
        build: entropy::build,
    },
    CollectorSpec {
        name: "fibrechannel",
        default_enabled: true,
        description: "Exposes fibre channel information and statistics from /sys/class/fc_host/.",
        build: fibrechannel::build,
    },
    CollectorSpec {
        name: "filefd",
        default_enabled: true,
        description: "Exposes file descriptor statistics from /proc/sys/fs/file-nr.",
        build: filefd::build,
    },
    CollectorSpec {
        name: "filesystem",
        default_enabled: true,
        description: "Exposes filesystem statistics, such as disk space used.",
        build: filesystem::build,
    },
    CollectorSpec {
        name: "hwmon",
        default_enabled: true,
        description: "Exposes hardware monitoring and sensor data from /sys/class/hwmon/.",
        build: hwmon::build,
    },
    CollectorSpec {
        name: "infiniband",
        default_enabled: true,
        description: "Exposes network statistics specific to InfiniBand and Intel OmniPath configurations.",
        build: infiniband::build,
    },
    CollectorSpec {
        name: "interrupts",
        default_enabled: false,
        description: "Exposes detailed interrupts statistics.",
        build: interrupts::build,
    },
    CollectorSpec {
        name: "ipvs",
        default_enabled: true,
        description: "Exposes IPVS status from /proc/net/ip_vs and stats from /proc/net/ip_vs_stats.",
        build: ipvs::build,
    },
    CollectorSpec {
        name: "kernel_hung",
        default_enabled: true,
        description: "Exposes number of tasks that have been detected as hung from /proc/sys/kernel/hung_task_detect_count.",
        build: kernel_hung::build,
    },
    CollectorSpec {
        name: "loadavg",
        default_enabled: true,
        description: "Exposes load average.",
        build: loadavg::build,
    },
    CollectorSpec {
        name: "mdadm",
        default_enabled: true,
        description: "Exposes statistics about devices in /proc/mdstat (does nothing if no /proc/mdstat present).",
        build: mdadm::build,
    },
    CollectorSpec {
        name: "meminfo",
        default_enabled: true,
        description: "Exposes memory statistics from /proc/meminfo.",
        build: meminfo::build,
    },
    CollectorSpec {
        name: "netclass",
        default_enabled: true,
        description: "Exposes network interface info from /sys/class/net/.",
        build: netclass::build,
    },
    CollectorSpec {
        name: "netdev",
        default_enabled: true,
        description: "Exposes network interface statistics such as bytes transferred.",
        build: netdev::build,
    },
    CollectorSpec {
        name: "netstat",
        default_enabled: true,
        description: "Exposes network statistics from /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6.",
        build: netstat::build,
    },
    CollectorSpec {
        name: "nfs",
        default_enabled: true,
        description: "Exposes NFS client statistics from /proc/net/rpc/nfs.",
        build: nfs::build,
    },
    CollectorSpec {
        name: "nfsd",
        default_enabled: true,
        description: "Exposes NFS kernel server statistics from /proc/net/rpc/nfsd.",
        build: nfsd::build,
    },
    CollectorSpec {
        name: "nvme",
        default_enabled: true,
        description: "Exposes NVMe info from /sys/class/nvme/.",
        build: nvme::build,
    },
    CollectorSpec { name: "os", default_enabled: true, description: "Expose OS release info.", build: os::build },
    CollectorSpec {
        name: "powersupplyclass",
        default_enabled: true,
        description: "Exposes Power Supply statistics from /sys/class/power_supply.",
        build: powersupplyclass::build,
    },
    CollectorSpec {
        name: "pressure",
        default_enabled: true,
        description: "Exposes pressure stall statistics from /proc/pressure/.",
        build: pressure::build,
    },
    CollectorSpec {
        name: "processes",
        default_enabled: false,
        description: "Exposes aggregate process statistics from /proc.",
        build: processes::build,
    },
    CollectorSpec {
        name: "rapl",
        default_enabled: true,
        description: "Exposes various statistics from /sys/class/powercap.",
        build: rapl::build,
    },
    CollectorSpec {
        name: "schedstat",
        default_enabled: true,
        description: "Exposes task scheduler statistics from /proc/schedstat.",
        build: schedstat::build,
    },
    CollectorSpec {
        name: "selinux",
        default_enabled: true,
        description: "Exposes SELinux statistics.",
        build: selinux::build,
    },
    CollectorSpec {
        name: "sockstat",
        default_enabled: true,
        description: "Exposes various statistics from /proc/net/sockstat and /proc/net/sockstat6.",
        build: sockstat::build,
    },
    CollectorSpec {
        name: "softnet",
        default_enabled: true,
        description: "Exposes statistics from /proc/net/softnet_stat.",
        build: softnet::build,
    },
    CollectorSpec {
        name: "stat",
        default_enabled: true,
        description: "Exposes various statistics from /proc/stat: boot time, forks, interrupts, context switches.",
        build: stat::build,
    },
    CollectorSpec {
        name: "systemd",
        default_enabled: false,
        description: "Exposes service and system status from systemd.",
        build: systemd::build,
    },
    CollectorSpec {
        name: "tapestats",
        default_enabled: true,
        description: "Exposes statistics from /sys/class/scsi_tape.",
        build: tapestats::build,
    },
    CollectorSpec {
        name: "tcpstat",
        default_enabled: false,
        description: "Exposes TCP connection status information from /proc/net/tcp and /proc/net/tcp6.",
        build: tcpstat::build,
    },
    CollectorSpec {
        name: "textfile",
        default_enabled: true,
        description: "Exposes statistics read from local disk (--collector.textfile.directory).",
        build: textfile::build,
    },
    CollectorSpec {
        name: "thermal_zone",
        default_enabled: true,
        description: "Exposes thermal zone & cooling device statistics from /sys/class/thermal.",
        build: thermal_zone::build,
    },
    CollectorSpec {
        name: "time",
        default_enabled: true,
        description: "Exposes the current system time, time zone offset and clocksources.",
        build: time::build,
    },
    CollectorSpec {
        name: "timex",
        default_enabled: true,
        description: "Exposes selected adjtimex(2) system call stats.",
        build: timex::build,
    },
    CollectorSpec {
        name: "udp_queues",
        default_enabled: true,
        description: "Exposes UDP total lengths of the rx_queue and tx_queue from /proc/net/udp and /proc/net/udp6.",
        build: udp_queues::build,
    },
    CollectorSpec {
        name: "uname",
        default_enabled: true,
        description: "Exposes system information as provided by the uname system call.",
        build: uname::build,
    },
    CollectorSpec {
        name: "vmstat",
        default_enabled: true,
        description: "Exposes statistics from /proc/vmstat.",
        build: vmstat::build,
    },
    CollectorSpec {
        name: "watchdog",
        default_enabled: true,
        description: "Exposes statistics from /sys/class/watchdog/.",
        build: watchdog::build,
    },
    CollectorSpec {
        name: "xfs",
        default_enabled: true,
        description: "Exposes XFS runtime statistics.",
        build: xfs::build,
    },
    CollectorSpec {
        name: "zfs",
        default_enabled: true,
        description: "Exposes ZFS performance statistics.",
        build: zfs::build,
    },
];

// Kernel files are small; a larger one is not what the collector expects (and must not exhaust memory).
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Reads a whole file, mapping errors to [`CollectError`] with the path. A missing file is "no data" (the host
/// lacks what the collector reads), anything else an I/O error.
pub fn read_file(path: &Path) -> Result<String, CollectError> {
    read_optional(path)?.ok_or_else(|| CollectError::NoData(format!("{} does not exist", path.display())))
}

/// Reads a whole file, `None` if it does not exist (for files only some kernels or machines have). A file over
/// 16 MiB is an error rather than parsed cut short (a number cut in half would be a wrong value). A read that
/// blocks (a hung device attribute; a FIFO in a test tree) is ended by the scrape deadline, not here.
pub fn read_optional(path: &Path) -> Result<Option<String>, CollectError> {
    // Pseudo-files through kept descriptors (no open and close per scrape), into a reused buffer.
    let read = oxporter_core::kept::with_whole(path, MAX_FILE + 1, |bytes| {
        if bytes.len() as u64 > MAX_FILE {
            return Err(CollectError::Other(format!("{}: larger than {} MiB", path.display(), MAX_FILE >> 20)));
        }
        // Kernel text is ASCII; a stray invalid byte must not make the whole file unreadable.
        Ok(crate::sysfs::lossy(bytes).into_owned())
    });
    match read {
        Ok(text) => text.map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CollectError::io(path.display(), e)),
    }
}

/// The entries of `dir` named `<prefix><digit>…` (Go's `filepath.Glob("<dir>/<prefix>[0-9]*")`), sorted by name as
/// Go's glob sorts them. A missing or unreadable directory has no entries, as with Go's glob.
pub fn numbered_entries(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let Ok(listing) = oxporter_core::kept::list_dir(dir) else {
        return Vec::new();
    };
    // Names are matched before anything is allocated: `/sys/devices/system/cpu` has more other entries than CPUs.
    let mut entries: Vec<(String, PathBuf)> = listing
        .iter()
        .filter(|e| {
            let name = e.name.to_string_lossy();
            name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(|e| (e.name.to_string_lossy().into_owned(), crate::sysfs::listed(dir, e)))
        .collect();
    entries.sort();
    entries
}

/// The whitespace-separated fields of `s`: exactly what [`str::split_whitespace`] yields (Unicode whitespace
/// included), found a byte at a time for ASCII. Kernel text is ASCII, and `split_whitespace`, which decodes every
/// character, was the largest parsing cost in scrape profiles.
pub fn fields(s: &str) -> Fields<'_> {
    Fields { rest: s }
}

/// The iterator of [`fields`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Fields<'a> {
    /// What has not been split yet (from the separator after the last field yielded).
    pub fn rest(&self) -> &'a str {
        self.rest
    }
}

impl Fields<'_> {
    /// The length in bytes of the whitespace character at the start of `s`, 0 when `s` does not start with one.
    fn space_len(s: &str) -> usize {
        match s.as_bytes().first() {
            None => 0,
            Some(b' ' | b'\t'..=b'\r') => 1,
            Some(b) if b.is_ascii() => 0,
            Some(_) => s.chars().next().filter(|c| c.is_whitespace()).map_or(0, char::len_utf8),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let n = Self::space_len(self.rest);
            if n == 0 {
                break;
            }
            self.rest = self.rest.get(n..).unwrap_or("");
        }
        if self.rest.is_empty() {
            return None;
        }
        let bytes = self.rest.as_bytes();
        let mut end = 0;
        while end < bytes.len() {
            let b = bytes[end];
            if b.is_ascii() {
                if b == b' ' || (b'\t'..=b'\r').contains(&b) {
                    break;
                }
                end += 1;
            } else {
                // Always a character boundary: only ASCII bytes and whole characters are stepped over.
                let c = self.rest.get(end..).and_then(|r| r.chars().next()).unwrap_or(' ');
                if c.is_whitespace() {
                    break;
                }
                end += c.len_utf8();
            }
        }
        let (field, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(field)
    }
}

impl std::iter::FusedIterator for Fields<'_> {}

/// Parses an unsigned integer as Go's `strconv.ParseUint(s, 0, 64)` does: decimal, `0x` hex, `0o`/leading-zero
/// octal or `0b` binary, with Go's `_` digit separators.
pub fn parse_go_uint(s: &str) -> Option<u64> {
    // Plain decimal, what the kernel writes: no prefix, no separators, nothing to copy.
    if !s.is_empty() && (s.len() == 1 || !s.starts_with('0')) && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let (digits, radix) = if let Some(r) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (r.strip_prefix('_').unwrap_or(r), 16)
    } else if let Some(r) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (r.strip_prefix('_').unwrap_or(r), 8)
    } else if let Some(r) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (r.strip_prefix('_').unwrap_or(r), 2)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    // Separators only between digits.
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    if !cleaned.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(&cleaned, radix).ok()
}

/// Parses a Linux CPU list (`0-3,8,10-11`, as in `/sys/devices/system/cpu/isolated`) into CPU numbers.
pub fn parse_cpu_list(content: &str) -> Result<Vec<u32>, CollectError> {
    // No machine has more CPUs than this; a larger range is garbage and must not allocate without bound.
    const MAX_CPUS: u64 = 1 << 16;
    let bad = |part: &str| CollectError::Parse(format!("invalid CPU list entry {part:?}"));
    let num = |s: &str, part: &str| s.parse::<u32>().map_err(|_| bad(part));
    let mut out = Vec::new();
    for part in content.trim_end_matches('\n').split(',') {
        if part.is_empty() {
            continue;
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a, part)?, num(b, part)?);
                if b < a || u64::from(b - a) >= MAX_CPUS || out.len() as u64 + u64::from(b - a) >= MAX_CPUS {
                    return Err(bad(part));
                }
                out.extend(a..=b);
            }
            None => {
                if out.len() as u64 >= MAX_CPUS {
                    return Err(bad(part));
                }
                out.push(num(part, part)?);
            }
        }
    }
    Ok(out)
}

/// Helpers for the parsers' unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    /// Calls `f` with a few thousand pseudo-random strings over `alphabet` (deterministic, so failures
    /// reproduce), for parsers that must return errors on garbage, never panic. The fuzz targets under `fuzz/`
    /// explore further; this keeps CI covering the same functions without nightly.
    pub fn never_panics(alphabet: &[u8], f: impl Fn(&str)) {
        let mut next = oxporter_core::testing::xorshift(0x2545_f491_4f6c_dd1d);
        for round in 0..3000 {
            let len = (next() % (16 + round as u64 / 4)) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            f(&String::from_utf8_lossy(&bytes));
        }
    }

    /// Runs the ignored test `inner` (its path in this crate, e.g. `collectors::arp::tests::in_private_namespace`)
    /// of this test binary under `unshare` with `unshare_args` (new namespaces to make interfaces or mounts in
    /// without touching the host), with the environment variable `env` set to `1` so it knows how it was started.
    /// Fails loudly if it failed or did not run; `needs` says what the namespaces need, for that message.
    pub fn in_namespaces(unshare_args: &[&str], inner: &str, env: &str, needs: &str) {
        let unshare = oxporter_testkit::process::require_binary("unshare", "util-linux");
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new(unshare)
            .args(unshare_args)
            .arg("--")
            .arg(exe)
            .args(["--exact", inner, "--ignored", "--nocapture"])
            .env(env, "1")
            .output()
            .expect("unshare");
        let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        println!("{log}");
        assert!(out.status.success(), "{inner} failed in its namespaces (unshare {unshare_args:?}: {needs})");
        assert!(log.contains("1 passed"), "the inner test {inner} did not run");
    }

    /// Calls `f` with every prefix of `text` (a truncated read of a valid file).
    pub fn truncations(text: &str, f: impl Fn(&str)) {
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            f(&text[..end]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_split_whitespace() {
        let check = |s: &str| {
            assert_eq!(fields(s).collect::<Vec<_>>(), s.split_whitespace().collect::<Vec<_>>(), "{s:?}");
        };
        for s in [
            "",
            " ",
            "a",
            "  a  b\tc\n",
            "Ip: 1 2\r\n",
            "a\x0bb\x0cc",
            "é x\u{a0}y\u{85}z\u{3000}w\u{2028}",
            "\u{a0}\u{a0}",
            "ü€ ok",
        ] {
            check(s);
        }
        testutil::never_panics(b" \t\n\x0b\x0caZ0:\xc2\xa0\xe3\x80\x80\xff", check);
    }

    #[test]
    fn go_uint() {
        assert_eq!(parse_go_uint("42"), Some(42));
        assert_eq!(parse_go_uint("0"), Some(0));
        assert_eq!(parse_go_uint("0x1f"), Some(31));
        assert_eq!(parse_go_uint("017"), Some(15));
        assert_eq!(parse_go_uint("0b101"), Some(5));
        assert_eq!(parse_go_uint("0x_1_f"), Some(31));
        assert_eq!(parse_go_uint("1_000"), Some(1000));
        for bad in ["", "-1", "+1", "_1", "1_", "1__0", "0x", "abc", "08", "99999999999999999999", " 1"] {
            assert_eq!(parse_go_uint(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("\n").ok(), Some(vec![]));
        assert_eq!(parse_cpu_list("").ok(), Some(vec![]));
        assert_eq!(parse_cpu_list("1-3,5,7-7\n").ok(), Some(vec![1, 2, 3, 5, 7]));
        for bad in ["a", "1-", "-1", "3-1", "1-2-3", "0-4000000000", "1,,x", " 1"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?}");
        }
        // Many small ranges cannot add up past the bound either.
        let many = ["0-60000"; 3].join(",");
        assert!(parse_cpu_list(&many).is_err());
    }

    #[test]
    fn value_parsers_never_panic() {
        testutil::never_panics(b"0123456789-,xob_\n", |s| {
            if let Ok(cpus) = parse_cpu_list(s) {
                assert!(cpus.len() <= 1 << 16);
            }
            let _ = parse_go_uint(s);
        });
    }

    #[test]
    fn reads_files_up_to_16_mib() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("ok"), b"1 \xff 2\n").expect("write");
        assert_eq!(read_optional(&p("ok")).expect("reads").as_deref(), Some("1 \u{fffd} 2\n"));
        assert!(read_optional(&p("missing")).expect("missing is fine").is_none());
        assert!(read_file(&p("missing")).is_err_and(|e| e.is_no_data()));
        assert!(read_optional(dir.path()).is_err(), "a directory is an error");
        let big = p("big");
        let f = std::fs::File::create(&big).expect("create");
        f.set_len(MAX_FILE + 1).expect("sparse file");
        let err = read_optional(&big).expect_err("too big").to_string();
        assert!(err.contains("larger than 16 MiB"), "{err}");
        f.set_len(MAX_FILE).expect("sparse file");
        assert_eq!(read_optional(&big).expect("at the limit").map(|s| s.len()), Some(MAX_FILE as usize));
    }

    #[test]
    fn numbered_entries_sort_like_go_glob() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["cpu10", "cpu2", "cpu1", "cpufreq", "cpuidle", "cpu0x"] {
            std::fs::create_dir(dir.path().join(name)).expect("mkdir");
        }
        let names: Vec<String> = numbered_entries(dir.path(), "cpu").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["cpu0x", "cpu1", "cpu10", "cpu2"]);
        assert!(numbered_entries(&dir.path().join("missing"), "cpu").is_empty());
    }
}
