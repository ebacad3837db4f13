//! `stat`: kernel counters from `/proc/stat` (boot time, forks, interrupts, context switches, runnable and blocked
//! processes, and with `--collector.stat.softirq` softirqs per vector).
//!
//! [`parse`] also serves the `cpu` collector, which reads the per-CPU lines of the same file; [`read_shared`] reads
//! and parses the file once per scrape for both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// The `stat` collector's own flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StatArgs {
    /// Export softirq calls per vector (node_softirqs_total).
    #[arg(
        id = "collector.stat.softirq",
        long = "collector.stat.softirq",
        overrides_with = "no-collector.stat.softirq",
        help_heading = "Collector stat"
    )]
    pub softirq: bool,
    #[arg(
        id = "no-collector.stat.softirq",
        long = "no-collector.stat.softirq",
        overrides_with = "collector.stat.softirq",
        hide = true
    )]
    no_softirq: bool,
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Stat { path: args.proc_path("stat"), softirq: args.stat.softirq && !args.stat.no_softirq }))
}

struct Stat {
    path: std::path::PathBuf,
    softirq: bool,
}

impl BlockingCollector for Stat {
    fn collect(&self, ctx: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let st = read_shared(&self.path, ctx)?;
        out.counter("node_intr_total", "Total number of interrupts serviced.").sample(&[], st.intr as f64);
        out.counter("node_context_switches_total", "Total number of context switches.").sample(&[], st.ctxt as f64);
        out.counter("node_forks_total", "Total number of forks.").sample(&[], st.processes as f64);
        out.gauge("node_boot_time_seconds", "Node boot time, in unixtime.").sample(&[], st.btime as f64);
        out.gauge("node_procs_running", "Number of processes in runnable state.").sample(&[], st.procs_running as f64);
        out.gauge("node_procs_blocked", "Number of processes blocked waiting for I/O to complete.")
            .sample(&[], st.procs_blocked as f64);
        if self.softirq {
            let fam = out.counter("node_softirqs_total", "Number of softirq calls.");
            for (name, value) in SOFTIRQ_VECTORS.iter().zip(st.softirq) {
                fam.sample(&[("vector", name)], value as f64);
            }
        }
        Ok(())
    }
}

/// The softirq vectors of the `softirq` line, in the kernel's order.
pub const SOFTIRQ_VECTORS: [&str; 10] =
    ["hi", "timer", "net_tx", "net_rx", "block", "block_iopoll", "tasklet", "sched", "hrtimer", "rcu"];

/// Time of one CPU (or of all CPUs) by mode, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// Normal processes in user mode.
    pub user: f64,
    /// Niced processes in user mode.
    pub nice: f64,
    /// Kernel mode.
    pub system: f64,
    /// Idle.
    pub idle: f64,
    /// Waiting for I/O.
    pub iowait: f64,
    /// Servicing interrupts.
    pub irq: f64,
    /// Servicing softirqs.
    pub softirq: f64,
    /// Stolen by the hypervisor.
    pub steal: f64,
    /// Running a guest (also counted in `user`).
    pub guest: f64,
    /// Running a niced guest (also counted in `nice`).
    pub guest_nice: f64,
}

/// What `/proc/stat` says. Lines that are absent leave zero, as in the Go procfs library node_exporter uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcStat {
    /// Per-CPU times by CPU number.
    pub cpus: BTreeMap<i64, CpuTimes>,
    /// The `cpu` line (all CPUs).
    pub cpu_total: Option<CpuTimes>,
    /// `btime`: boot time, seconds since the epoch.
    pub btime: u64,
    /// First value of `intr`.
    pub intr: u64,
    /// `ctxt`.
    pub ctxt: u64,
    /// `processes`: forks since boot.
    pub processes: u64,
    /// `procs_running`.
    pub procs_running: u64,
    /// `procs_blocked`.
    pub procs_blocked: u64,
    /// The ten vectors of the `softirq` line, in [`SOFTIRQ_VECTORS`] order.
    pub softirq: [u64; 10],
}

/// `path` (a `/proc/stat`) read and parsed once per scrape for the `cpu` and `stat` collectors, which both need it:
/// the kernel writes the file afresh for every read, summing counters over every CPU and every interrupt, which on a
/// large machine is a good part of what a scrape costs it. A scrape is told apart by its deadline (`ctx.deadline`,
/// an instant to the nanosecond; scrapes that join one in flight share its result anyway); another scrape, or
/// another path, reads the file again. A failed read or parse is not kept: each collector reports it.
pub fn read_shared(path: &Path, ctx: &ScrapeContext) -> Result<Arc<ProcStat>, CollectError> {
    type Last = Option<(PathBuf, Instant, Arc<ProcStat>)>;
    static LAST: Mutex<Last> = Mutex::new(None);
    let lock = || LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((p, deadline, st)) = &*lock()
        && *deadline == ctx.deadline
        && p == path
    {
        return Ok(st.clone());
    }
    let st = Arc::new(parse(&read_file(path)?)?);
    *lock() = Some((path.to_path_buf(), ctx.deadline, st.clone()));
    Ok(st)
}

/// The kernel's USER_HZ: `/proc/stat` counts CPU time in 1/100 s on every architecture Linux exports it on.
const USER_HZ: f64 = 100.0;

/// Parses `/proc/stat`. A recognised line with a malformed value is an error (as node_exporter fails the scrape);
/// unknown lines are ignored.
pub fn parse(content: &str) -> Result<ProcStat, CollectError> {
    let mut st = ProcStat::default();
    for line in content.lines() {
        let mut parts = super::fields(line);
        let (Some(key), Some(first)) = (parts.next(), parts.next()) else {
            continue;
        };
        let uint = |v: &str| {
            v.parse::<u64>().map_err(|_| CollectError::Parse(format!("/proc/stat: invalid {key} value {v:?}")))
        };
        match key {
            "btime" => st.btime = uint(first)?,
            "intr" => {
                st.intr = uint(first)?;
                // The per-IRQ counts follow (hundreds to thousands of them); node_exporter's parser rejects the
                // file if one is malformed. Numbers of up to 19 digits always fit a u64, so a line of only those
                // and spaces is checked in one pass over its bytes; anything else is split and parsed.
                if !short_numbers_only(parts.rest()) {
                    for v in parts {
                        uint(v)?;
                    }
                }
            }
            "ctxt" => st.ctxt = uint(first)?,
            "processes" => st.processes = uint(first)?,
            "procs_running" => st.procs_running = uint(first)?,
            "procs_blocked" => st.procs_blocked = uint(first)?,
            "softirq" => {
                uint(first)?;
                for slot in &mut st.softirq {
                    *slot = uint(parts.next().ok_or_else(|| {
                        CollectError::Parse("/proc/stat: softirq line has fewer than 10 vectors".into())
                    })?)?;
                }
            }
            _ if key.starts_with("cpu") => {
                let times = parse_cpu_times(key, std::iter::once(first).chain(parts))?;
                if key == "cpu" {
                    st.cpu_total = Some(times);
                } else {
                    let id = key[3..]
                        .parse::<i64>()
                        .map_err(|_| CollectError::Parse(format!("/proc/stat: invalid CPU line {key:?}")))?;
                    st.cpus.insert(id, times);
                }
            }
            _ => {}
        }
    }
    Ok(st)
}

/// Whether `s` is ASCII digits, spaces and tabs only, with no run of more than 19 digits.
fn short_numbers_only(s: &str) -> bool {
    let mut run = 0;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' if run < 19 => run += 1,
            b' ' | b'\t' => run = 0,
            _ => return false,
        }
    }
    true
}

/// The values of a `cpuN` line, ticks to seconds. Older kernels have fewer columns; missing ones are zero.
fn parse_cpu_times<'a>(key: &str, values: impl Iterator<Item = &'a str>) -> Result<CpuTimes, CollectError> {
    let mut v = [0f64; 10];
    for (slot, raw) in v.iter_mut().zip(values) {
        *slot =
            raw.parse::<f64>().map_err(|_| CollectError::Parse(format!("/proc/stat: invalid {key} value {raw:?}")))?
                / USER_HZ;
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice] = v;
    Ok(CpuTimes { user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "cpu  13445 0 5091 117864 472 0 49 9 0 0
cpu0 6412 0 2102 59884 41 0 10 2 0 0
cpu1 7032 1 2989 57979 430 0 39 6 3 4
intr 252009 0 0 15 0
ctxt 434366
btime 1795368872
processes 12136
procs_running 2
procs_blocked 1
softirq 150851 0 19652 4 5479 45075 0 158 35297 0 45186
";

    #[test]
    fn one_read_per_scrape_is_shared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stat");
        std::fs::write(&path, SAMPLE).expect("write");
        let scrape = ScrapeContext::with_timeout(std::time::Duration::from_secs(10));
        let first = read_shared(&path, &scrape).expect("read");
        // The file changes within the scrape: both collectors still see the one reading.
        std::fs::write(&path, SAMPLE.replace("ctxt 434366", "ctxt 434367")).expect("write");
        let again = read_shared(&path, &scrape).expect("read");
        assert!(Arc::ptr_eq(&first, &again));
        // The next scrape reads it afresh.
        std::thread::sleep(std::time::Duration::from_millis(1));
        let next = read_shared(&path, &ScrapeContext::with_timeout(std::time::Duration::from_secs(10))).expect("read");
        assert_eq!((first.ctxt, next.ctxt), (434366, 434367));
        // A failed read is not kept.
        std::fs::write(&path, "ctxt x\n").expect("write");
        let bad = ScrapeContext::with_timeout(std::time::Duration::from_secs(10));
        assert!(read_shared(&path, &bad).is_err());
        std::fs::write(&path, SAMPLE).expect("write");
        assert!(read_shared(&path, &bad).is_ok());
    }

    #[test]
    fn parses_sample() {
        let st = parse(SAMPLE).expect("valid");
        assert_eq!(st.intr, 252009);
        assert_eq!(st.ctxt, 434366);
        assert_eq!(st.btime, 1795368872);
        assert_eq!(st.processes, 12136);
        assert_eq!(st.procs_running, 2);
        assert_eq!(st.procs_blocked, 1);
        assert_eq!(st.softirq, [0, 19652, 4, 5479, 45075, 0, 158, 35297, 0, 45186]);
        assert_eq!(st.cpus.len(), 2);
        let c1 = st.cpus[&1];
        assert_eq!((c1.user, c1.nice, c1.system, c1.idle), (70.32, 0.01, 29.89, 579.79));
        assert_eq!((c1.guest, c1.guest_nice), (0.03, 0.04));
        assert_eq!(st.cpu_total.map(|t| t.idle), Some(1178.64));
    }

    #[test]
    fn short_cpu_lines_fill_zero() {
        // Kernels before 2.6.33 (and OpenVZ guests) lack the guest columns.
        let st = parse("cpu0 1 2 3 4\n").expect("valid");
        assert_eq!(st.cpus[&0].idle, 0.04);
        assert_eq!(st.cpus[&0].steal, 0.0);
    }

    #[test]
    fn missing_lines_leave_zero() {
        assert_eq!(parse("").expect("valid"), ProcStat::default());
        assert_eq!(parse("\n\nbogus 1\nlonely\n").expect("valid"), ProcStat::default());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "btime x\n",
            "intr 1 2 x\n",
            "ctxt -1\n",
            "processes 1.5\n",
            "softirq 1 2 3\n",
            "softirq 1 2 3 4 5 6 7 8 9 10 x\n",
            "cpuX 1 2 3\n",
            "cpu0 1 two 3\n",
            "cpu 1 2 x\n",
            "procs_running 99999999999999999999999\n",
            "intr 1 18446744073709551616\n",
            "intr 1 2 -3\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        // The largest per-IRQ count there is, and a leading plus sign (as u64 parsing accepts), are fine.
        assert!(parse("intr 1 18446744073709551615 +4 0009999999999999999999\n").is_ok());
        assert!(parse("intr 1 9999999999999999999 0\t7 \n").is_ok());
        assert!(short_numbers_only(" 1 9999999999999999999\t0 ") && short_numbers_only(""));
        assert!(
            !short_numbers_only(" 10000000000000000000") && !short_numbers_only(" 1 x") && !short_numbers_only("+1")
        );
    }

    #[test]
    fn arbitrary_and_truncated_input_never_panics() {
        use crate::collectors::testutil::{never_panics, truncations};
        never_panics(b"cpu0123456789 \n-.xbtimeintrsoftirq", |s| {
            let _ = parse(s);
        });
        truncations(SAMPLE, |s| {
            let _ = parse(s);
        });
    }
}
