//! `btrfs`: Btrfs filesystems from `/sys/fs/btrfs/<uuid>` (`node_btrfs_*`): allocation per block group type and
//! layout, global reserve, commit statistics and device sizes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::{read_attr, sorted_entries};

/// Sysfs reports device sizes in 512-byte sectors.
const SECTOR_SIZE: u64 = 512;

/// One layout (`single`, `dup`, `raid1`, …) of a block group type.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Layout {
    /// `total_bytes`.
    pub total: u64,
    /// `used_bytes`.
    pub used: u64,
    /// Raw-to-logical ratio of the layout.
    pub ratio: f64,
}

/// One block group type (`data`, `metadata`, `system`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allocation {
    /// `bytes_reserved`.
    pub reserved: u64,
    /// Layouts by name.
    pub layouts: BTreeMap<String, Layout>,
}

/// The statistics of one filesystem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// UUID (`metadata_uuid`, else the directory name).
    pub uuid: String,
    /// `label`.
    pub label: String,
    /// `allocation/global_rsv_size`.
    pub global_rsv_size: u64,
    /// `data`, `metadata` and `system`, in that order.
    pub allocations: Vec<(&'static str, Allocation)>,
    /// Device sizes in bytes by device name.
    pub devices: BTreeMap<String, u64>,
    /// `commit_stats` (kernel 6.0+): commits, last, max and total commit time in ms.
    pub commits: [u64; 4],
}

fn read_str(dir: &Path, rel: &str) -> Result<String, CollectError> {
    let p = dir.join(rel);
    read_attr(&p).map_err(|e| CollectError::io(p.display(), e))
}

fn read_u64(dir: &Path, rel: &str) -> Result<u64, CollectError> {
    let v = read_str(dir, rel)?;
    v.parse().map_err(|_| CollectError::Parse(format!("{}: invalid value {v:?}", dir.join(rel).display())))
}

/// The raw-to-logical ratio of a layout for `devices` devices (0 for unknown layouts).
pub fn ratio(layout: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match layout {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        "raid1c3" => 3.0,
        "raid1c4" => 4.0,
        _ => 0.0,
    }
}

/// Parses `commit_stats`: `<name> <value>` lines.
pub fn parse_commit_stats(content: &str) -> Result<[u64; 4], CollectError> {
    let mut out = [0u64; 4];
    for line in content.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [name, value] = parts.as_slice() else {
            return Err(CollectError::Parse(format!("invalid commit_stats line {line:?}")));
        };
        let v: u64 = value.parse().map_err(|_| CollectError::Parse(format!("invalid commit_stats line {line:?}")))?;
        let slot = match *name {
            "commits" => 0,
            "last_commit_ms" => 1,
            "max_commit_ms" => 2,
            "total_commit_ms" => 3,
            _ => continue,
        };
        out[slot] = v;
    }
    Ok(out)
}

/// Reads one `/sys/fs/btrfs/<uuid>` directory. The attributes the Go library reads must all be present and
/// numeric; `metadata_uuid` and `commit_stats` (newer kernels) may be missing.
pub fn read_stats(dir: &Path) -> Result<Stats, CollectError> {
    let devices_dir = dir.join("devices");
    let mut devices = BTreeMap::new();
    for (name, _) in sorted_entries(&devices_dir).map_err(|e| CollectError::io(devices_dir.display(), e))? {
        let size = read_u64(&devices_dir, &format!("{name}/size"))?;
        devices.insert(name, size.saturating_mul(SECTOR_SIZE));
    }
    let label = read_str(dir, "label")?;
    let uuid = read_attr(&dir.join("metadata_uuid")).unwrap_or_default();
    for f in ["clone_alignment", "nodesize", "quota_override", "sectorsize", "allocation/global_rsv_reserved"] {
        read_u64(dir, f)?;
    }
    let global_rsv_size = read_u64(dir, "allocation/global_rsv_size")?;
    let mut allocations = Vec::new();
    for kind in ["data", "metadata", "system"] {
        let a = dir.join("allocation").join(kind);
        for f in [
            "bytes_may_use",
            "bytes_pinned",
            "bytes_readonly",
            "bytes_used",
            "disk_used",
            "disk_total",
            "flags",
            "total_bytes",
            "total_bytes_pinned",
        ] {
            read_u64(&a, f)?;
        }
        let mut alloc = Allocation { reserved: read_u64(&a, "bytes_reserved")?, layouts: BTreeMap::new() };
        for (name, path) in sorted_entries(&a).map_err(|e| CollectError::io(a.display(), e))? {
            if !std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            let layout = Layout {
                total: read_u64(&path, "total_bytes")?,
                used: read_u64(&path, "used_bytes")?,
                ratio: ratio(&name, devices.len()),
            };
            alloc.layouts.insert(name, layout);
        }
        allocations.push((kind, alloc));
    }
    let commits = match crate::sysfs::read_once(&dir.join("commit_stats"), 64 * 1024) {
        Ok(c) => parse_commit_stats(&c)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => [0; 4],
        Err(e) => return Err(CollectError::io(dir.join("commit_stats").display(), e)),
    };
    Ok(Stats { uuid, label, global_rsv_size, allocations, devices, commits })
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Btrfs { dir: args.sys_path("fs/btrfs") }))
}

struct Btrfs {
    dir: PathBuf,
}

/// Writes one filesystem's metrics.
pub fn emit(out: &mut Snapshot, s: &Stats) {
    let uuid = s.uuid.as_str();
    out.gauge("node_btrfs_info", "Filesystem information").sample(&[("label", &s.label), ("uuid", uuid)], 1.0);
    out.gauge("node_btrfs_global_rsv_size_bytes", "Size of global reserve.")
        .sample(&[("uuid", uuid)], s.global_rsv_size as f64);
    out.counter("node_btrfs_commits_total", "The total number of commits that have occurred.")
        .sample(&[("uuid", uuid)], s.commits[0] as f64);
    out.gauge("node_btrfs_last_commit_seconds", "Duration of the most recent commit, in seconds.")
        .sample(&[("uuid", uuid)], s.commits[1] as f64 / 1000.0);
    out.gauge("node_btrfs_max_commit_seconds", "Duration of the slowest commit, in seconds.")
        .sample(&[("uuid", uuid)], s.commits[2] as f64 / 1000.0);
    out.counter("node_btrfs_commit_seconds_total", "Sum of the duration of all commits, in seconds.")
        .sample(&[("uuid", uuid)], s.commits[3] as f64 / 1000.0);
    for (kind, a) in &s.allocations {
        out.gauge("node_btrfs_reserved_bytes", "Amount of space reserved for a data type")
            .sample(&[("block_group_type", kind), ("uuid", uuid)], a.reserved as f64);
        for (mode, l) in &a.layouts {
            let labels = [("block_group_type", *kind), ("mode", mode.as_str()), ("uuid", uuid)];
            out.gauge("node_btrfs_used_bytes", "Amount of used space by a layout/data type")
                .sample(&labels, l.used as f64);
            out.gauge("node_btrfs_size_bytes", "Amount of space allocated for a layout/data type")
                .sample(&labels, l.total as f64);
            out.gauge("node_btrfs_allocation_ratio", "Data allocation ratio for a layout/data type")
                .sample(&labels, l.ratio);
        }
    }
    for (device, size) in &s.devices {
        out.gauge("node_btrfs_device_size_bytes", "Size of a device that is part of the filesystem.")
            .sample(&[("device", device), ("uuid", uuid)], *size as f64);
    }
}

impl BlockingCollector for Btrfs {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        // Filesystems are the `<uuid>` directories (with a '-'); `features` and `bdi` are not.
        let dirs: Vec<(String, PathBuf)> =
            sorted_entries(&self.dir).unwrap_or_default().into_iter().filter(|(n, _)| n.contains('-')).collect();
        let mut all = Vec::new();
        for (name, dir) in dirs {
            let mut s = read_stats(&dir)
                .map_err(|e| CollectError::Other(format!("failed to retrieve Btrfs stats from procfs: {e}")))?;
            if s.uuid.is_empty() {
                s.uuid = name;
            }
            all.push(s);
        }
        for s in &all {
            emit(out, s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, garbage, render};

    #[test]
    fn fixture_tree() {
        let c = Btrfs { dir: fixture("hardware/sys/fs/btrfs") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        let u = "0abb23a9-579b-43e6-ad30-227ef47fcb9d";
        for line in [
            format!("node_btrfs_info{{label=\"fixture\",uuid=\"{u}\"}} 1"),
            format!("node_btrfs_global_rsv_size_bytes{{uuid=\"{u}\"}} 1.6777216e+07"),
            format!("node_btrfs_reserved_bytes{{block_group_type=\"data\",uuid=\"{u}\"}} 0"),
            format!("node_btrfs_used_bytes{{block_group_type=\"data\",mode=\"raid5\",uuid=\"{u}\"}} 8.08189952e+08"),
            format!(
                "node_btrfs_allocation_ratio{{block_group_type=\"data\",mode=\"raid5\",uuid=\"{u}\"}} 1.3333333333333333"
            ),
            format!("node_btrfs_allocation_ratio{{block_group_type=\"metadata\",mode=\"raid1\",uuid=\"{u}\"}} 2"),
            format!("node_btrfs_device_size_bytes{{device=\"loop25\",uuid=\"{u}\"}} 1.073741824e+10"),
            format!("node_btrfs_commits_total{{uuid=\"{u}\"}} 258051"),
            format!("node_btrfs_max_commit_seconds{{uuid=\"{u}\"}} 51.462"),
        ] {
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn commit_stats_and_ratios() {
        assert_eq!(parse_commit_stats("commits 3\nlast_commit_ms 4\nother 9\n").ok(), Some([3, 4, 0, 0]));
        assert!(parse_commit_stats("commits\n").is_err());
        assert!(parse_commit_stats("commits x\n").is_err());
        assert_eq!(ratio("raid6", 4), 2.0);
        assert_eq!(ratio("weird", 4), 0.0);
        garbage(b"commits last_commit_ms 0123456789\n", "commits 3\nmax_commit_ms 5\n", |s| {
            let _ = parse_commit_stats(s);
        });
    }
}
