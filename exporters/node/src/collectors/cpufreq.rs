//! `cpufreq`: CPU frequency scaling from `/sys/devices/system/cpu/cpuN/cpufreq` (`node_cpu_frequency_*`,
//! `node_cpu_scaling_frequency_*`, `node_cpu_scaling_governor`).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::read_attr;

/// `(file, metric, help)` of the frequency files, all in kHz.
const FREQUENCIES: &[(&str, &str, &str)] = &[
    ("cpuinfo_cur_freq", "node_cpu_frequency_hertz", "Current CPU thread frequency in hertz."),
    ("cpuinfo_avg_freq", "node_cpu_frequency_avg_hertz", "Average CPU thread frequency in hertz."),
    ("cpuinfo_min_freq", "node_cpu_frequency_min_hertz", "Minimum CPU thread frequency in hertz."),
    ("cpuinfo_max_freq", "node_cpu_frequency_max_hertz", "Maximum CPU thread frequency in hertz."),
    ("scaling_cur_freq", "node_cpu_scaling_frequency_hertz", "Current scaled CPU thread frequency in hertz."),
    ("scaling_min_freq", "node_cpu_scaling_frequency_min_hertz", "Minimum scaled CPU thread frequency in hertz."),
    ("scaling_max_freq", "node_cpu_scaling_frequency_max_hertz", "Maximum scaled CPU thread frequency in hertz."),
];

/// The cpufreq state of one CPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuFreq {
    /// Frequencies in kHz, in [`FREQUENCIES`] order; `None` where the file is missing or not readable.
    pub khz: [Option<u64>; 7],
    /// `scaling_governor`.
    pub governor: String,
    /// `scaling_available_governors`.
    pub available_governors: String,
}

fn optional(path: &Path) -> Result<Option<String>, CollectError> {
    match read_attr(path) {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) => Ok(None),
        Err(e) => Err(CollectError::io(path.display(), e)),
    }
}

/// Reads one `cpuN/cpufreq` directory. Missing or unreadable files are left out; an invalid number is an error.
pub fn read_cpufreq(dir: &Path) -> Result<CpuFreq, CollectError> {
    let mut f = CpuFreq::default();
    for (slot, (file, ..)) in f.khz.iter_mut().zip(FREQUENCIES) {
        let path = dir.join(file);
        if let Some(v) = optional(&path)? {
            *slot =
                Some(v.parse().map_err(|_| CollectError::Parse(format!("{}: invalid value {v:?}", path.display())))?);
        }
    }
    f.governor = optional(&dir.join("scaling_governor"))?.unwrap_or_default();
    f.available_governors = optional(&dir.join("scaling_available_governors"))?.unwrap_or_default();
    Ok(f)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Cpufreq { dir: args.sys_path("devices/system/cpu") }))
}

struct Cpufreq {
    dir: PathBuf,
}

/// Writes the metrics of one CPU.
pub fn emit(out: &mut Snapshot, cpu: &str, f: &CpuFreq) {
    for (v, (_, name, help)) in f.khz.iter().zip(FREQUENCIES) {
        if let Some(v) = v {
            // sysfs reports kHz.
            out.gauge(*name, *help).sample(&[("cpu", cpu)], *v as f64 * 1000.0);
        }
    }
    if !f.governor.is_empty() {
        for g in f.available_governors.split(' ') {
            let state = if g == f.governor { 1.0 } else { 0.0 };
            out.gauge("node_cpu_scaling_governor", "Current enabled CPU frequency governor.")
                .sample(&[("cpu", cpu), ("governor", g)], state);
        }
    }
}

impl BlockingCollector for Cpufreq {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        // Go's glob "cpu[0-9]*", sorted by name.
        let cpus = super::numbered_entries(&self.dir, "cpu");
        if cpus.is_empty() {
            return Err(CollectError::NoData("could not find any cpufreq files".into()));
        }
        for (name, path) in &cpus {
            let cpu = name.strip_prefix("cpu").unwrap_or(name);
            let dir = path.join("cpufreq");
            if std::fs::metadata(&dir).is_err() {
                continue;
            }
            emit(out, cpu, &read_cpufreq(&dir)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, render};

    fn run(tree: &str) -> (Result<(), CollectError>, String) {
        let c = Cpufreq { dir: fixture(tree).join("sys/devices/system/cpu") };
        let mut out = Snapshot::new();
        let res = c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out);
        (res, render(out))
    }

    #[test]
    fn fixture_tree() {
        let (res, text) = run("hardware");
        assert!(res.is_ok(), "{res:?}");
        for line in [
            "node_cpu_frequency_hertz{cpu=\"0\"} 1.699981e+09",
            "node_cpu_frequency_max_hertz{cpu=\"0\"} 3.7e+09",
            "node_cpu_frequency_min_hertz{cpu=\"0\"} 8e+08",
            "node_cpu_scaling_frequency_hertz{cpu=\"1\"} 1.2e+09",
            "node_cpu_scaling_frequency_max_hertz{cpu=\"0\"} 3.7e+09",
            "node_cpu_scaling_frequency_min_hertz{cpu=\"0\"} 8e+08",
            "node_cpu_scaling_governor{cpu=\"0\",governor=\"performance\"} 0",
            "node_cpu_scaling_governor{cpu=\"0\",governor=\"powersave\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // cpu1 has no cpuinfo_cur_freq; cpu2 has no cpufreq directory.
        assert!(!text.contains("node_cpu_frequency_hertz{cpu=\"1\"}"), "{text}");
        assert!(!text.contains("cpu=\"2\""), "{text}");
    }

    #[test]
    fn garbage_value_is_an_error() {
        let (res, _) = run("broken");
        assert!(res.is_err());
    }
}
