//! `softnet`: per-CPU packet processing statistics from `/proc/net/softnet_stat` (`node_softnet_*`).

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// One CPU's line of `softnet_stat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoftnetStat {
    /// Packets processed.
    pub processed: u32,
    /// Packets dropped because the backlog was full.
    pub dropped: u32,
    /// Times the poll loop ran out of budget.
    pub time_squeezed: u32,
    /// Collisions taking the device lock while transmitting.
    pub cpu_collision: u32,
    /// Times the CPU was woken by RPS (kernel 2.6.39+).
    pub received_rps: u32,
    /// Times the flow limit was hit (4.18+).
    pub flow_limit_count: u32,
    /// Backlog length (5.14+).
    pub backlog_len: u32,
    /// CPU index: the line's own column on 5.14+, else the line number.
    pub index: u32,
}

/// Parses `/proc/net/softnet_stat`: hexadecimal columns, at least 9 per line.
pub fn parse(content: &str) -> Result<Vec<SoftnetStat>, CollectError> {
    let mut stats = Vec::new();
    for (line_no, line) in content.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 9 {
            return Err(CollectError::Parse(format!(
                "/proc/net/softnet_stat: detected {} columns, but expected at least 9",
                cols.len()
            )));
        }
        let hex = |i: usize| -> Result<u32, CollectError> {
            cols.get(i).map_or(Ok(0), |s| {
                u32::from_str_radix(s, 16)
                    .map_err(|_| CollectError::Parse(format!("/proc/net/softnet_stat: invalid value {s:?}")))
            })
        };
        // Validate the columns the kernel fills as Go's parser does, even those not reported.
        for i in 0..9 {
            hex(i)?;
        }
        let (backlog_len, index) = if cols.len() >= 13 { (hex(11)?, hex(12)?) } else { (0, line_no as u32) };
        stats.push(SoftnetStat {
            processed: hex(0)?,
            dropped: hex(1)?,
            time_squeezed: hex(2)?,
            cpu_collision: hex(8)?,
            received_rps: if cols.len() >= 10 { hex(9)? } else { 0 },
            flow_limit_count: if cols.len() >= 11 { hex(10)? } else { 0 },
            backlog_len,
            index,
        });
    }
    Ok(stats)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Softnet { path: args.proc_path("net/softnet_stat") }))
}

struct Softnet {
    path: PathBuf,
}

impl BlockingCollector for Softnet {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let stats = parse(&read_file(&self.path)?)
            .map_err(|e| CollectError::Parse(format!("could not get softnet statistics: {e}")))?;
        for s in stats {
            let cpu = s.index.to_string();
            let labels = [("cpu", cpu.as_str())];
            let counters: [(&'static str, &'static str, u32); 6] = [
                ("node_softnet_processed_total", "Number of processed packets", s.processed),
                ("node_softnet_dropped_total", "Number of dropped packets", s.dropped),
                (
                    "node_softnet_times_squeezed_total",
                    "Number of times processing packets ran out of quota",
                    s.time_squeezed,
                ),
                (
                    "node_softnet_cpu_collision_total",
                    "Number of collision occur while obtaining device lock while transmitting",
                    s.cpu_collision,
                ),
                ("node_softnet_received_rps_total", "Number of times cpu woken up received_rps", s.received_rps),
                (
                    "node_softnet_flow_limit_count_total",
                    "Number of times flow limit has been reached",
                    s.flow_limit_count,
                ),
            ];
            for (name, help, v) in counters {
                out.counter(name, help).sample(&labels, f64::from(v));
            }
            out.gauge("node_softnet_backlog_len", "Softnet backlog status").sample(&labels, f64::from(s.backlog_len));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::garbage;

    const SOFTNET: &str = "00015c73 00020e76 F0000769 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
01663fb2 00000000 000109a4 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
000053d0 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000000 0000000a 00000003 00000000 00000000
";

    #[test]
    fn parses_old_and_new_kernels() {
        let s = parse(SOFTNET).expect("valid");
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].processed, 0x15c73);
        assert_eq!(s[0].time_squeezed, 0xF0000769);
        assert_eq!(s[1].index, 1);
        assert_eq!(s[2].index, 3);
        assert_eq!(s[2].backlog_len, 10);
        assert_eq!(s[2].cpu_collision, 2);
        let nine = parse("1 2 3 4 5 6 7 8 9\n").expect("valid");
        assert_eq!(nine[0].received_rps, 0);
        assert!(parse("1 2 3\n").is_err());
        assert!(parse("1 2 3 4 5 6 7 8 zz\n").is_err());
        assert!(parse("1 2 3 4 5 6 7 8 100000000\n").is_err());
    }

    #[test]
    fn garbage_never_panics() {
        garbage(b"0123456789abcdefx \n", SOFTNET, |s| {
            let _ = parse(s);
        });
    }
}
