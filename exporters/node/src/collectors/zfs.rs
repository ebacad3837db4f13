//! `zfs`: ZFS on Linux kstats from `/proc/spl/kstat/zfs` (`node_zfs_<subsystem>_<name>`, per-pool
//! `node_zfs_zpool_*`, per-dataset `node_zfs_zpool_dataset_*` and `node_zfs_zpool_state`).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// `(metric subsystem, kstat file)`.
const SUBSYSTEMS: &[(&str, &str)] = &[
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbufstats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

/// Pool states, each reported as 0 or 1.
const POOL_STATES: &[&str] = &["online", "degraded", "faulted", "offline", "removed", "unavail", "suspended"];

/// kstat data types node_exporter reads: `KSTAT_DATA_INT64` and `KSTAT_DATA_UINT64`.
const INT64: &str = "3";
const UINT64: &str = "4";

/// The metric name part of a kstat key: what follows its last `.`, with `-` as `_`.
fn metric_name(key: &str) -> String {
    key.rsplit('.').next().unwrap_or(key).replace('-', "_")
}

/// Parses a named kstat file (`name type data` header, then one value per line): `(name, value)` for every
/// 64-bit integer row. A file without the header is an error, as is a 64-bit row whose value is not an unsigned
/// number.
pub fn parse_kstat(content: &str, file: &str) -> Result<Vec<(String, u64)>, CollectError> {
    let mut started = false;
    let mut out = Vec::new();
    for line in content.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if !started {
            started = parts == ["name", "type", "data"];
            continue;
        }
        if parts.len() < 3 {
            continue;
        }
        if parts[1] == UINT64 || parts[1] == INT64 {
            let v = parts[2].parse::<u64>().map_err(|_| {
                CollectError::Parse(format!(
                    "could not parse expected integer value for kstat.zfs.misc.{file}.{}",
                    parts[0]
                ))
            })?;
            out.push((parts[0].to_owned(), v));
        }
    }
    if !started {
        return Err(CollectError::Parse(format!("did not parse a single {file:?} metric")));
    }
    Ok(out)
}

/// Parses a pool's `io` kstat: a header row starting with `nread` (12+ columns), then rows of as many values.
pub fn parse_pool_io(content: &str) -> Result<Vec<(String, u64)>, CollectError> {
    let mut header: Option<Vec<&str>> = None;
    let mut out = Vec::new();
    for line in content.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let Some(fields) = &header else {
            if parts.len() >= 12 && parts[0] == "nread" {
                header = Some(parts);
            }
            continue;
        };
        for (i, field) in fields.iter().enumerate() {
            let raw = parts
                .get(i)
                .ok_or_else(|| CollectError::Parse(format!("zpool io: missing value for kstat.zfs.misc.io.{field}")))?;
            let v = raw.parse::<u64>().map_err(|_| {
                CollectError::Parse(format!("could not parse expected integer value for kstat.zfs.misc.io.{field}"))
            })?;
            out.push(((*field).to_owned(), v));
        }
    }
    Ok(out)
}

/// Parses a dataset's `objset-*` kstat: its `dataset_name` and `(name, value)` of every unsigned 64-bit row.
pub fn parse_objset(content: &str) -> Result<(String, Vec<(String, u64)>), CollectError> {
    let mut started = false;
    let mut dataset = String::new();
    let mut out = Vec::new();
    for line in content.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if !started {
            started = parts == ["name", "type", "data"];
            continue;
        }
        if parts.len() < 3 {
            continue;
        }
        if parts[0] == "dataset_name" {
            dataset = parts[2].to_owned();
            continue;
        }
        if parts[1] == UINT64 {
            let v = parts[2].parse::<u64>().map_err(|_| {
                CollectError::Parse(format!(
                    "could not parse expected integer value for kstat.zfs.misc.objset.{}",
                    parts[0]
                ))
            })?;
            out.push((parts[0].to_owned(), v));
        }
    }
    if !started {
        return Err(CollectError::Parse(format!("did not parse a single objset metric of dataset {dataset:?}")));
    }
    Ok((dataset, out))
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Zfs { dir: args.proc_path("spl/kstat/zfs") }))
}

struct Zfs {
    dir: PathBuf,
}

/// `(pool name, path)` of `<dir>/*/<file name matching pred>`, sorted as Go's glob sorts.
fn pool_files(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (pool, pool_dir) in crate::sysfs::sorted_entries(dir).unwrap_or_default() {
        for (name, path) in crate::sysfs::sorted_entries(&pool_dir).unwrap_or_default() {
            if pred(&name) {
                out.push((pool.clone(), path));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

impl BlockingCollector for Zfs {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        if std::fs::metadata(&self.dir).is_err() {
            return Err(CollectError::NoData("ZFS / ZFS statistics are not available".into()));
        }
        for (subsystem, file) in SUBSYSTEMS {
            // kstat files come and go with ZFS versions and features: a missing one is fine.
            let Ok(content) = read_file(&self.dir.join(file)) else { continue };
            for (name, v) in parse_kstat(&content, file)? {
                out.untyped(
                    format!("node_{subsystem}_{}", metric_name(&name)),
                    format!("kstat.zfs.misc.{file}.{name}"),
                )
                .sample(&[], v as f64);
            }
        }
        for (pool, path) in pool_files(&self.dir, |n| n == "io") {
            for (field, v) in parse_pool_io(&read_file(&path)?)? {
                out.untyped(format!("node_zfs_zpool_{}", metric_name(&field)), format!("kstat.zfs.misc.io.{field}"))
                    .sample(&[("zpool", &pool)], v as f64);
            }
        }
        for (pool, path) in pool_files(&self.dir, |n| n.starts_with("objset-")) {
            let (dataset, values) = parse_objset(&read_file(&path)?)?;
            for (name, v) in values {
                out.untyped(
                    format!("node_zfs_zpool_dataset_{}", metric_name(&name)),
                    format!("kstat.zfs.misc.objset.{name}"),
                )
                .sample(&[("dataset", &dataset), ("zpool", &pool)], v as f64);
            }
        }
        for (pool, path) in pool_files(&self.dir, |n| n == "state") {
            let content = read_file(&path)?;
            let actual = content.lines().next().unwrap_or_default().to_lowercase();
            for state in POOL_STATES {
                let v = if actual == *state { 1.0 } else { 0.0 };
                out.gauge("node_zfs_zpool_state", "kstat.zfs.misc.state")
                    .sample(&[("state", state), ("zpool", &pool)], v);
            }
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
        let c = Zfs { dir: fixture("hardware/proc/spl/kstat/zfs") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        for line in [
            "# HELP node_zfs_arc_hits kstat.zfs.misc.arcstats.hits",
            "# TYPE node_zfs_arc_hits untyped",
            "node_zfs_arc_hits 8.772612e+06",
            "node_zfs_arc_c_max 8.338591744e+09",
            "node_zfs_zil_zil_commit_count 10",
            "node_zfs_zfetch_hits 7.067992e+06",
            "node_zfs_zpool_nread{zpool=\"pool1\"} 1.88416e+06",
            "node_zfs_zpool_dataset_writes{dataset=\"pool1/dataset1\",zpool=\"pool1\"} 4",
            "node_zfs_zpool_state{state=\"online\",zpool=\"pool1\"} 1",
            "node_zfs_zpool_state{state=\"suspended\",zpool=\"pool1\"} 0",
            "node_zfs_zpool_state{state=\"degraded\",zpool=\"poolz1\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // A string row (type 7) is not a metric.
        assert!(!text.contains("node_zfs_arc_pool_name"), "{text}");
    }

    #[test]
    fn missing_is_no_data() {
        let c = Zfs { dir: fixture("nope") };
        let res = c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err_and(|e| e.is_no_data()));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_kstat("6 1 0x01\nhits 4 1\n", "arcstats").is_err());
        assert!(parse_kstat("name type data\nhits 4 -1\n", "arcstats").is_err());
        assert!(
            parse_pool_io("nread nwritten reads writes wtime wlentime wupdate rtime rlentime rupdate wcnt rcnt\n1 2\n")
                .is_err()
        );
        assert!(parse_objset("dataset_name 7 x\n").is_err());
        let kstat = std::fs::read_to_string(fixture("hardware/proc/spl/kstat/zfs/arcstats")).expect("fixture");
        garbage(b"name type data 0123456789\n", &kstat, |s| {
            let _ = parse_kstat(s, "arcstats");
            let _ = parse_pool_io(s);
            let _ = parse_objset(s);
        });
    }
}
