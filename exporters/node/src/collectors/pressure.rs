//! `pressure`: pressure stall information from `/proc/pressure/{cpu,io,memory,irq}` as
//! `node_pressure_*_seconds_total`. A kernel without PSI is "no data", not a failure.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Pressure { dir: args.proc_path("pressure") }))
}

struct Pressure {
    dir: PathBuf,
}

/// The `total=` values (microseconds) of a PSI file's `some` and `full` lines.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Psi {
    /// Time at least some tasks were stalled.
    pub some: Option<u64>,
    /// Time all non-idle tasks were stalled.
    pub full: Option<u64>,
}

/// Parses a PSI file (`some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and a `full` line).
pub fn parse(content: &str) -> Result<Psi, CollectError> {
    let mut psi = Psi::default();
    for line in content.lines() {
        let mut parts = line.split_whitespace();
        let Some(kind) = parts.next() else { continue };
        let total = parts
            .find_map(|p| p.strip_prefix("total="))
            .ok_or_else(|| CollectError::Parse(format!("pressure: no total in {kind:?} line")))?
            .parse::<u64>()
            .map_err(|_| CollectError::Parse(format!("pressure: invalid total in {kind:?} line")))?;
        match kind {
            "some" => psi.some = Some(total),
            "full" => psi.full = Some(total),
            _ => {
                return Err(CollectError::Parse(format!(
                    "pressure: unknown line kind {:?}",
                    kind.chars().take(20).collect::<String>()
                )));
            }
        }
    }
    Ok(psi)
}

const US: f64 = 1_000_000.0;

/// Writes one resource's metrics as node_exporter does: cpu exports only `some`, irq only `full`.
pub fn emit(resource: &str, psi: &Psi, out: &mut Snapshot) -> Result<(), CollectError> {
    let missing =
        |which: &str| CollectError::NoData(format!("pressure information for {resource} returned no '{which}' data"));
    let some = || psi.some.ok_or_else(|| missing("some"));
    let full = || psi.full.ok_or_else(|| missing("full"));
    match resource {
        "cpu" => {
            let s = some()?;
            out.counter(
                "node_pressure_cpu_waiting_seconds_total",
                "Total time in seconds that processes have waited for CPU time",
            )
            .sample(&[], s as f64 / US);
        }
        "io" => {
            let (s, f) = (some()?, full()?);
            out.counter(
                "node_pressure_io_waiting_seconds_total",
                "Total time in seconds that processes have waited due to IO congestion",
            )
            .sample(&[], s as f64 / US);
            out.counter(
                "node_pressure_io_stalled_seconds_total",
                "Total time in seconds no process could make progress due to IO congestion",
            )
            .sample(&[], f as f64 / US);
        }
        "memory" => {
            let (s, f) = (some()?, full()?);
            out.counter(
                "node_pressure_memory_waiting_seconds_total",
                "Total time in seconds that processes have waited for memory",
            )
            .sample(&[], s as f64 / US);
            out.counter(
                "node_pressure_memory_stalled_seconds_total",
                "Total time in seconds no process could make progress due to memory congestion",
            )
            .sample(&[], f as f64 / US);
        }
        "irq" => {
            let f = full()?;
            out.counter(
                "node_pressure_irq_stalled_seconds_total",
                "Total time in seconds no process could make progress due to IRQ congestion",
            )
            .sample(&[], f as f64 / US);
        }
        _ => {}
    }
    Ok(())
}

const RESOURCES: [&str; 4] = ["cpu", "io", "memory", "irq"];

impl BlockingCollector for Pressure {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let mut found = 0;
        for resource in RESOURCES {
            let content = match read_file(&self.dir.join(resource)) {
                Ok(c) => c,
                // Kernel older than 4.20 (6.1 for irq) or without CONFIG_PSI.
                Err(e) if e.is_no_data() => continue,
                // PSI compiled in but disabled at boot (psi=0): reading fails with EOPNOTSUPP.
                Err(CollectError::Io { source, .. }) if source.raw_os_error() == Some(95) => {
                    return Err(CollectError::NoData(
                        "pressure information is disabled, add psi=1 kernel command line to enable it".into(),
                    ));
                }
                Err(e) => return Err(e),
            };
            emit(resource, &parse(&content)?, out)?;
            found += 1;
        }
        if found == 0 {
            return Err(CollectError::NoData(
                "pressure information is unavailable, you need a Linux kernel >= 4.20 and/or CONFIG_PSI enabled for your kernel".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_samples() {
        let mut out = Snapshot::new();
        for (r, s) in [
            ("cpu", include_str!("../../testdata/proc/pressure/cpu")),
            ("io", include_str!("../../testdata/proc/pressure/io")),
            ("memory", include_str!("../../testdata/proc/pressure/memory")),
        ] {
            emit(r, &parse(s).expect("parses"), &mut out).expect("complete");
        }
        assert_eq!(out.families().len(), 5);
        assert!(out.get("node_pressure_cpu_stalled_seconds_total").is_none(), "cpu full is not exported");
        let mut irq = Snapshot::new();
        emit("irq", &parse("full avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n").expect("parses"), &mut irq)
            .expect("ok");
        assert_eq!(
            irq.get("node_pressure_irq_stalled_seconds_total").map(|f| f.samples[0].value.clone()),
            Some(oxporter_core::model::Value::Scalar(2.5))
        );
    }

    #[test]
    fn garbage_and_missing_lines() {
        for bad in ["some avg10=1", "some total=x", "weird total=1", "some total=-1"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let only_some = parse("some avg10=0.00 total=5\n").expect("parses");
        assert!(emit("io", &only_some, &mut Snapshot::new()).is_err_and(|e| e.is_no_data()));
    }

    #[test]
    fn missing_directory_is_no_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Pressure { dir: dir.path().join("pressure") };
        let ctx = ScrapeContext::with_timeout(std::time::Duration::from_secs(1));
        assert!(c.collect(&ctx, &mut Snapshot::new()).is_err_and(|e| e.is_no_data()));
    }
}
