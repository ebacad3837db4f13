//! `tapestats`: SCSI tape drive statistics from `/sys/class/scsi_tape/stN/stats` (`node_tape_*{device}`).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use crate::args::Args;
use crate::sysfs::{class_entries, read_attr};

/// Flags of the tapestats collector.
#[derive(Debug, Clone, clap::Args)]
pub struct TapestatsArgs {
    /// Regexp of devices to ignore for tapestats.
    #[arg(
        id = "collector.tapestats.ignored-devices",
        long = "collector.tapestats.ignored-devices",
        value_name = "REGEXP",
        default_value = "^$",
        help_heading = "Collector: tapestats"
    )]
    pub ignored_devices: String,
}

/// The counter files of `stats/`, in the order [`read_tape`] returns them.
const FILES: [&str; 10] = [
    "in_flight",
    "io_ns",
    "other_cnt",
    "read_byte_cnt",
    "read_cnt",
    "read_ns",
    "resid_cnt",
    "write_byte_cnt",
    "write_cnt",
    "write_ns",
];

/// Reads the ten counters of one tape (all required).
pub fn read_tape(dir: &Path) -> Result<[u64; 10], CollectError> {
    let mut out = [0u64; 10];
    for (slot, f) in out.iter_mut().zip(FILES) {
        let path = dir.join("stats").join(f);
        let v = read_attr(&path).map_err(|e| CollectError::io(path.display(), e))?;
        *slot = v.parse().map_err(|_| CollectError::Parse(format!("{}: invalid value {v:?}", path.display())))?;
    }
    Ok(out)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Tapestats {
        dir: args.sys_path("class/scsi_tape"),
        ignored: Regex::new(&args.tapestats.ignored_devices)?,
    }))
}

struct Tapestats {
    dir: PathBuf,
    ignored: Regex,
}

/// Whether a class entry is a tape (`st0`), not one of its mode devices (`nst0`, `st0a`).
fn is_tape(name: &str) -> bool {
    name.strip_prefix("st").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl BlockingCollector for Tapestats {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let entries = class_entries(&self.dir, "scsi_tape stats not found")?;
        let mut tapes = Vec::new();
        for (name, path) in entries.into_iter().filter(|(n, _)| is_tape(n)) {
            match read_tape(&path) {
                Ok(c) => tapes.push((name, c)),
                // A tape that went away between listing and reading.
                Err(CollectError::Io { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => {}
                Err(e) => return Err(e),
            }
        }
        for (name, c) in tapes {
            if self.ignored.is_match(&name) {
                continue;
            }
            let l = [("device", name.as_str())];
            out.gauge("node_tape_io_now", "The number of I/Os currently outstanding to this device.")
                .sample(&l, c[0] as f64);
            let counters: [(&'static str, &'static str, f64); 9] = [
                (
                    "node_tape_io_time_seconds_total",
                    "The amount of time spent waiting for all I/O to complete (including read and write). This \
                     includes tape movement commands such as seeking between file or set marks and implicit tape \
                     movement such as when rewind on close tape devices are used.",
                    c[1] as f64 * 1e-9,
                ),
                (
                    "node_tape_io_others_total",
                    "The number of I/Os issued to the tape drive other than read or write commands. The time taken \
                     to complete these commands uses the following calculation \
                     io_time_seconds_total-read_time_seconds_total-write_time_seconds_total",
                    c[2] as f64,
                ),
                ("node_tape_read_bytes_total", "The number of bytes read from the tape drive.", c[3] as f64),
                (
                    "node_tape_reads_completed_total",
                    "The number of read requests issued to the tape drive.",
                    c[4] as f64,
                ),
                (
                    "node_tape_read_time_seconds_total",
                    "The amount of time spent waiting for read requests to complete.",
                    c[5] as f64 * 1e-9,
                ),
                (
                    "node_tape_residual_total",
                    "The number of times during a read or write we found the residual amount to be non-zero. This \
                     should mean that a program is issuing a read larger thean the block size on tape. For write \
                     not all data made it to tape.",
                    c[6] as f64,
                ),
                ("node_tape_written_bytes_total", "The number of bytes written to the tape drive.", c[7] as f64),
                (
                    "node_tape_writes_completed_total",
                    "The number of write requests issued to the tape drive.",
                    c[8] as f64,
                ),
                (
                    "node_tape_write_time_seconds_total",
                    "The amount of time spent waiting for write requests to complete.",
                    c[9] as f64 * 1e-9,
                ),
            ];
            for (name, help, v) in counters {
                out.counter(name, help).sample(&l, v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, render};

    #[test]
    fn fixture_tree() {
        let c = Tapestats { dir: fixture("hardware/sys/class/scsi_tape"), ignored: Regex::new("^$").expect("valid") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        for line in [
            "node_tape_io_now{device=\"st0\"} 1",
            "node_tape_io_time_seconds_total{device=\"st0\"} 9247.01108772",
            "node_tape_read_bytes_total{device=\"st0\"} 979",
            "node_tape_written_bytes_total{device=\"st0\"} 1.496246784e+09",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("nst0"), "{text}");
        assert!(is_tape("st12") && !is_tape("st0a") && !is_tape("nst0") && !is_tape("st"));
    }
}
