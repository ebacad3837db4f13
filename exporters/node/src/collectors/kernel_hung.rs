//! `kernel_hung`: tasks the kernel's hung-task detector has reported since boot, from
//! `/proc/sys/kernel/hung_task_detect_count` (`node_kernel_hung_tasks_total`).

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// Parses the counter: one unsigned decimal number.
pub fn parse(content: &str) -> Result<u64, CollectError> {
    let v = content.trim();
    v.parse().map_err(|_| CollectError::Parse(format!("hung_task_detect_count: invalid value {v:?}")))
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(KernelHung { path: args.proc_path("sys/kernel/hung_task_detect_count") }))
}

struct KernelHung {
    path: PathBuf,
}

impl BlockingCollector for KernelHung {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let n = parse(&read_file(&self.path)?)?;
        out.counter(
            "node_kernel_hung_tasks_total",
            "Total number of tasks that have been detected as hung since the system booted.",
        )
        .sample(&[], n as f64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse("3\n").ok(), Some(3));
        for bad in ["", "-1", "x", "1 2"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
