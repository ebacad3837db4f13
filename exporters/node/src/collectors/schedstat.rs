//! `schedstat`: per-CPU scheduler statistics from `/proc/schedstat` (`node_schedstat_*_total{cpu}`).

use std::path::PathBuf;
use std::sync::LazyLock;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use super::read_file;
use crate::args::Args;

/// One CPU's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedstatCpu {
    /// The CPU number as written (`0`, `1`, …).
    pub cpu: String,
    /// Time spent running tasks, in nanoseconds.
    pub running_ns: u64,
    /// Time tasks spent waiting to run, in nanoseconds.
    pub waiting_ns: u64,
    /// Number of timeslices run.
    pub timeslices: u64,
}

static CPU_LINE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"cpu(\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)").ok());

/// Parses `/proc/schedstat`: every line holding `cpuN` and nine numbers (the Go library's unanchored pattern);
/// the 7th to 9th numbers are running time, waiting time and timeslices. Other lines (`version`, `domain…`) are
/// skipped, as are lines whose numbers overflow.
pub fn parse(content: &str) -> Vec<SchedstatCpu> {
    let Some(re) = CPU_LINE.as_ref() else { return Vec::new() };
    content
        .lines()
        .filter_map(|line| {
            let c = re.captures(line)?;
            let n = |i: usize| c.get(i)?.as_str().parse::<u64>().ok();
            Some(SchedstatCpu {
                cpu: c.get(1)?.as_str().to_owned(),
                running_ns: n(8)?,
                waiting_ns: n(9)?,
                timeslices: n(10)?,
            })
        })
        .collect()
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Schedstat { path: args.proc_path("schedstat") }))
}

struct Schedstat {
    path: PathBuf,
}

impl BlockingCollector for Schedstat {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        for c in parse(&read_file(&self.path)?) {
            let labels = [("cpu", c.cpu.as_str())];
            out.counter("node_schedstat_running_seconds_total", "Number of seconds CPU spent running a process.")
                .sample(&labels, c.running_ns as f64 / 1e9);
            out.counter(
                "node_schedstat_waiting_seconds_total",
                "Number of seconds spent by processing waiting for this CPU.",
            )
            .sample(&labels, c.waiting_ns as f64 / 1e9);
            out.counter("node_schedstat_timeslices_total", "Number of timeslices executed by CPU.")
                .sample(&labels, c.timeslices as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::garbage;

    pub(crate) const SCHEDSTAT: &str = "version 15
timestamp 15819019232
cpu0 498494191 0 1699855823 1189373 1046214 0 2392223473 6329873131 25402099
domain0 00000000,00000003 212499247 210112015 1861015 1860405436 536440 369895 32599 210079416 25368550 24241256 384652 927363878 807233 6366 1647 5711 2327546 1236437 16424 172020 3025133 2936003 0 0 0 0 0 0 0 0 0 0
cpu1 518377256 0 4155211005 2778589 1046231 0 1726640541 6007545136 26052466
";

    #[test]
    fn parses() {
        let cpus = parse(SCHEDSTAT);
        assert_eq!(cpus.len(), 2);
        assert_eq!(
            cpus[0],
            SchedstatCpu { cpu: "0".into(), running_ns: 2392223473, waiting_ns: 6329873131, timeslices: 25402099 }
        );
        assert!(parse("cpu0 1 2 3\n").is_empty());
        assert!(parse("cpu0 1 2 3 4 5 6 7 99999999999999999999999 9\n").is_empty());
    }

    #[test]
    fn collects() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("schedstat"), SCHEDSTAT).expect("write");
        let mut out = Snapshot::new();
        let c = Schedstat { path: dir.path().join("schedstat") };
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = crate::sysfs::testing::render(out);
        assert!(text.contains("node_schedstat_running_seconds_total{cpu=\"0\"} 2.392223473"), "{text}");
        assert!(text.contains("node_schedstat_timeslices_total{cpu=\"1\"} 2.6052466e+07"), "{text}");
        let missing = Schedstat { path: dir.path().join("nope") };
        let res =
            missing.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err_and(|e| e.is_no_data()));
    }

    #[test]
    fn garbage_never_panics() {
        garbage(b"cpu0123456789 \n", SCHEDSTAT, |s| {
            let _ = parse(s);
        });
    }
}
