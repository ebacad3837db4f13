//! Metrics about the exporter process itself: the standard `process_*` families and `<ns>_exporter_build_info`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::process::Resource;

use crate::cli::ExporterInfo;
use crate::model::Snapshot;

/// Linux reports CPU times in USER_HZ ticks, fixed at 100 for userspace on every architecture Rust targets.
const USER_HZ: f64 = 100.0;

/// Adds `process_*` metrics read from `/proc/self`. Missing files (non-Linux) just leave them out. The files are
/// read through kept descriptors ([`crate::kept`]): no open and close per scrape.
pub fn add_process_metrics(out: &mut Snapshot) {
    if let Ok(stat) = crate::kept::read_to_string(Path::new("/proc/self/stat")) {
        // Fields after the parenthesised command name, which may itself hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        if let (Some(utime), Some(stime)) = (field(14), field(15)) {
            out.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
                .sample(&[], (utime + stime) / USER_HZ);
        }
        if let Some(vsize) = field(23) {
            out.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").sample(&[], vsize);
        }
        // Resident pages times the page size, as client_golang computes it (no read of /proc/self/status).
        if let Some(pages) = field(24) {
            out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
                .sample(&[], pages * rustix::param::page_size() as f64);
        }
        if let (Some(start_ticks), Some(btime)) = (field(22), boot_time()) {
            out.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
                .sample(&[], btime + start_ticks / USER_HZ);
        }
    }
    if let Some(n) = open_fds() {
        out.gauge("process_open_fds", "Number of open file descriptors.").sample(&[], n);
    }
    // The soft limits client_golang reads from `/proc/self/limits`, asked of the kernel directly: the same values
    // (that file prints them), without having the kernel format sixteen rows of text on every scrape.
    out.gauge("process_max_fds", "Maximum number of open file descriptors.").sample(&[], soft_limit(Resource::Nofile));
    out.gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.")
        .sample(&[], soft_limit(Resource::As));
}

/// A soft resource limit; "unlimited" is reported as 2^64-1, as client_golang does.
fn soft_limit(resource: Resource) -> f64 {
    rustix::process::getrlimit(resource).current.unwrap_or(u64::MAX) as f64
}

/// The number of open descriptors as client_golang counts them: the entries of `/proc/self/fd`, listed through a
/// descriptor of its own (which is among them). Linux 6.2 and later report the number of open descriptors as the
/// size of that directory: one `statx` instead of a listing, which makes the kernel build an entry per descriptor
/// (and the kept descriptors of [`crate::kept`] are many); one is added for the listing's own descriptor. Older
/// kernels report 0 there and are listed.
fn open_fds() -> Option<f64> {
    if let Ok(meta) = std::fs::metadata("/proc/self/fd")
        && meta.len() > 0
    {
        return Some((meta.len() + 1) as f64);
    }
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64)
}

/// The boot time from `/proc/stat`, read once: it never changes, and `/proc/stat` is costly for the kernel to
/// produce on hosts with many CPUs and interrupts.
fn boot_time() -> Option<f64> {
    static BOOT_TIME: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *BOOT_TIME.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
    })
}

/// Adds `<ns>_exporter_build_info` with the label set of the Go exporters' build info (`goversion` carries the
/// rustc version; see docs/compatibility.md).
pub fn add_build_info(out: &mut Snapshot, info: &ExporterInfo) {
    let ns = info.namespace;
    out.gauge(
        format!("{ns}_exporter_build_info"),
        format!(
            "A metric with a constant '1' value labeled by version, revision, branch, goversion from which {} was \
             built, and the goos and goarch for the build.",
            info.anchor
        ),
    )
    .sample(
        &[
            ("branch", env!("OXPORTER_GIT_BRANCH")),
            ("goarch", std::env::consts::ARCH),
            ("goos", std::env::consts::OS),
            ("goversion", env!("OXPORTER_RUSTC_VERSION")),
            ("revision", env!("OXPORTER_GIT_REVISION")),
            ("tags", "rust"),
            ("version", info.version),
        ],
        1.0,
    );
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let mut s = Snapshot::new();
        add_process_metrics(&mut s);
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
            "process_virtual_memory_max_bytes",
        ] {
            assert!(s.get(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn open_fds_counts_as_a_listing_does() {
        // Other threads of the test binary may open files meanwhile: retry until two counts agree.
        for _ in 0..50 {
            let listed = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count() as f64;
            if open_fds() == Some(listed) {
                return;
            }
        }
        panic!("open_fds() {:?} never matched the listing", open_fds());
    }

    /// The soft limit of a `/proc/self/limits` row, as client_golang reads it.
    fn listed_soft_limit(limits: &str, name: &str) -> Option<f64> {
        let row = limits.lines().find(|l| l.starts_with(name))?;
        let soft = row[name.len()..].split_whitespace().next()?;
        if soft == "unlimited" { Some(u64::MAX as f64) } else { soft.parse().ok() }
    }

    #[test]
    fn limits_are_the_ones_proc_self_limits_lists() {
        let value = |s: &Snapshot, name: &str| {
            s.get(name).and_then(|f| f.samples.first()).and_then(|smp| match smp.value {
                crate::model::Value::Scalar(v) => Some(v),
                _ => None,
            })
        };
        let mut s = Snapshot::new();
        add_process_metrics(&mut s);
        let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
        assert_eq!(value(&s, "process_max_fds"), listed_soft_limit(&limits, "Max open files"));
        assert_eq!(value(&s, "process_virtual_memory_max_bytes"), listed_soft_limit(&limits, "Max address space"));
        // And "unlimited" reads as client_golang reports it.
        let listed = "Max address space         unlimited            unlimited            bytes     \n";
        assert_eq!(listed_soft_limit(listed, "Max address space"), Some(u64::MAX as f64));
    }
}
