//! `meminfo`: `/proc/meminfo` as `node_memory_<field>_bytes` gauges.
//!
//! node_exporter up to 1.8 exported every line of the file; since 1.9 (procfs-based parser) it exports a fixed
//! list of fields, [`FIELDS`], and 1.10.x added `Zswap`/`Zswapped` back. We follow 1.9+ with that list: a field
//! the kernel has but the list lacks (e.g. `KReclaimable`, `Hugetlb`, `SecPageTables`) is not exported, and a
//! listed field the kernel lacks is absent rather than zero. See `docs/compatibility.md`.

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::{parse_go_uint, read_file};
use crate::args::Args;

/// `(key in /proc/meminfo, metric name, HELP)`: the fields node_exporter 1.9+ exports, in its order. Values with a
/// `kB` unit are converted to bytes; the `HugePages_*` counts have no unit and no `_bytes` suffix. The HELP is
/// node_exporter's "Memory information field <name without node_memory_>.", spelled out so a scrape does not
/// format it (checked by a test).
pub const FIELDS: &[(&str, &str, &str)] = &[
    ("Active", "node_memory_Active_bytes", "Memory information field Active_bytes."),
    ("Active(anon)", "node_memory_Active_anon_bytes", "Memory information field Active_anon_bytes."),
    ("Active(file)", "node_memory_Active_file_bytes", "Memory information field Active_file_bytes."),
    ("AnonHugePages", "node_memory_AnonHugePages_bytes", "Memory information field AnonHugePages_bytes."),
    ("AnonPages", "node_memory_AnonPages_bytes", "Memory information field AnonPages_bytes."),
    ("Bounce", "node_memory_Bounce_bytes", "Memory information field Bounce_bytes."),
    ("Buffers", "node_memory_Buffers_bytes", "Memory information field Buffers_bytes."),
    ("Cached", "node_memory_Cached_bytes", "Memory information field Cached_bytes."),
    ("CmaFree", "node_memory_CmaFree_bytes", "Memory information field CmaFree_bytes."),
    ("CmaTotal", "node_memory_CmaTotal_bytes", "Memory information field CmaTotal_bytes."),
    ("CommitLimit", "node_memory_CommitLimit_bytes", "Memory information field CommitLimit_bytes."),
    ("Committed_AS", "node_memory_Committed_AS_bytes", "Memory information field Committed_AS_bytes."),
    ("DirectMap1G", "node_memory_DirectMap1G_bytes", "Memory information field DirectMap1G_bytes."),
    ("DirectMap2M", "node_memory_DirectMap2M_bytes", "Memory information field DirectMap2M_bytes."),
    ("DirectMap4k", "node_memory_DirectMap4k_bytes", "Memory information field DirectMap4k_bytes."),
    ("Dirty", "node_memory_Dirty_bytes", "Memory information field Dirty_bytes."),
    ("HardwareCorrupted", "node_memory_HardwareCorrupted_bytes", "Memory information field HardwareCorrupted_bytes."),
    ("Hugepagesize", "node_memory_Hugepagesize_bytes", "Memory information field Hugepagesize_bytes."),
    ("Inactive", "node_memory_Inactive_bytes", "Memory information field Inactive_bytes."),
    ("Inactive(anon)", "node_memory_Inactive_anon_bytes", "Memory information field Inactive_anon_bytes."),
    ("Inactive(file)", "node_memory_Inactive_file_bytes", "Memory information field Inactive_file_bytes."),
    ("KernelStack", "node_memory_KernelStack_bytes", "Memory information field KernelStack_bytes."),
    ("Mapped", "node_memory_Mapped_bytes", "Memory information field Mapped_bytes."),
    ("MemAvailable", "node_memory_MemAvailable_bytes", "Memory information field MemAvailable_bytes."),
    ("MemFree", "node_memory_MemFree_bytes", "Memory information field MemFree_bytes."),
    ("MemTotal", "node_memory_MemTotal_bytes", "Memory information field MemTotal_bytes."),
    ("Mlocked", "node_memory_Mlocked_bytes", "Memory information field Mlocked_bytes."),
    ("NFS_Unstable", "node_memory_NFS_Unstable_bytes", "Memory information field NFS_Unstable_bytes."),
    ("PageTables", "node_memory_PageTables_bytes", "Memory information field PageTables_bytes."),
    ("Percpu", "node_memory_Percpu_bytes", "Memory information field Percpu_bytes."),
    ("SReclaimable", "node_memory_SReclaimable_bytes", "Memory information field SReclaimable_bytes."),
    ("SUnreclaim", "node_memory_SUnreclaim_bytes", "Memory information field SUnreclaim_bytes."),
    ("Shmem", "node_memory_Shmem_bytes", "Memory information field Shmem_bytes."),
    ("ShmemHugePages", "node_memory_ShmemHugePages_bytes", "Memory information field ShmemHugePages_bytes."),
    ("ShmemPmdMapped", "node_memory_ShmemPmdMapped_bytes", "Memory information field ShmemPmdMapped_bytes."),
    ("Slab", "node_memory_Slab_bytes", "Memory information field Slab_bytes."),
    ("SwapCached", "node_memory_SwapCached_bytes", "Memory information field SwapCached_bytes."),
    ("SwapFree", "node_memory_SwapFree_bytes", "Memory information field SwapFree_bytes."),
    ("SwapTotal", "node_memory_SwapTotal_bytes", "Memory information field SwapTotal_bytes."),
    ("Unevictable", "node_memory_Unevictable_bytes", "Memory information field Unevictable_bytes."),
    ("VmallocChunk", "node_memory_VmallocChunk_bytes", "Memory information field VmallocChunk_bytes."),
    ("VmallocTotal", "node_memory_VmallocTotal_bytes", "Memory information field VmallocTotal_bytes."),
    ("VmallocUsed", "node_memory_VmallocUsed_bytes", "Memory information field VmallocUsed_bytes."),
    ("Writeback", "node_memory_Writeback_bytes", "Memory information field Writeback_bytes."),
    ("WritebackTmp", "node_memory_WritebackTmp_bytes", "Memory information field WritebackTmp_bytes."),
    ("Zswap", "node_memory_Zswap_bytes", "Memory information field Zswap_bytes."),
    ("Zswapped", "node_memory_Zswapped_bytes", "Memory information field Zswapped_bytes."),
    ("HugePages_Free", "node_memory_HugePages_Free", "Memory information field HugePages_Free."),
    ("HugePages_Rsvd", "node_memory_HugePages_Rsvd", "Memory information field HugePages_Rsvd."),
    ("HugePages_Surp", "node_memory_HugePages_Surp", "Memory information field HugePages_Surp."),
    ("HugePages_Total", "node_memory_HugePages_Total", "Memory information field HugePages_Total."),
];

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Meminfo { path: args.proc_path("meminfo") }))
}

struct Meminfo {
    path: std::path::PathBuf,
}

impl BlockingCollector for Meminfo {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let values = parse(&read_file(&self.path)?)?;
        for ((_, name, help), value) in FIELDS.iter().zip(values) {
            if let Some(v) = value {
                out.gauge(*name, *help).sample(&[], v);
            }
        }
        Ok(())
    }
}

/// Parses `/proc/meminfo` into the values of [`FIELDS`] (same order), in bytes for `kB` lines. Every line must be
/// `Key: value [kB]`, as the procfs library node_exporter uses requires; a malformed line is an error. Unlisted
/// keys are validated and ignored; a key listed twice keeps its last value.
pub fn parse(content: &str) -> Result<Vec<Option<f64>>, CollectError> {
    let mut values = vec![None; FIELDS.len()];
    for line in content.lines() {
        let mut fields = super::fields(line);
        let bad = || CollectError::Parse(format!("/proc/meminfo: malformed line {line:?}"));
        let (key, raw, unit) = match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (None, ..) => continue,
            (Some(key), Some(raw), None, _) => (key, raw, None),
            (Some(key), Some(raw), Some(unit), None) => (key, raw, Some(unit)),
            _ => return Err(bad()),
        };
        let n = parse_go_uint(raw).ok_or_else(bad)?;
        let value = match unit {
            None => n as f64,
            Some("kB") => n as f64 * 1024.0,
            Some(u) => return Err(CollectError::Parse(format!("/proc/meminfo: unsupported unit {u:?} in {line:?}"))),
        };
        // Keys are matched with their colon, as procfs does ("MemTotal 5" is not MemTotal).
        let key = key.strip_suffix(':');
        if let Some(i) = FIELDS.iter().position(|(k, ..)| Some(*k) == key) {
            values[i] = Some(value);
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "MemTotal:       24684092 kB
MemFree:        24137992 kB
MemAvailable:   24305504 kB
Active(anon):       1568 kB
KReclaimable:      89568 kB
HugePages_Total:       0
HugePages_Free:        7
Hugepagesize:       2048 kB
";

    fn value(values: &[Option<f64>], key: &str) -> Option<f64> {
        FIELDS.iter().position(|(k, ..)| *k == key).and_then(|i| values[i])
    }

    #[test]
    fn parses_listed_fields_in_bytes() {
        let v = parse(SAMPLE).expect("valid");
        assert_eq!(value(&v, "MemTotal"), Some(24684092.0 * 1024.0));
        assert_eq!(value(&v, "Active(anon)"), Some(1568.0 * 1024.0));
        assert_eq!(value(&v, "HugePages_Free"), Some(7.0));
        assert_eq!(value(&v, "Hugepagesize"), Some(2048.0 * 1024.0));
        // Listed but absent: no value (not zero).
        assert_eq!(value(&v, "Zswap"), None);
        assert_eq!(v.iter().flatten().count(), 7, "KReclaimable is not in node_exporter's list");
    }

    #[test]
    fn names_follow_node_exporter() {
        for (key, name, help) in FIELDS {
            let stem = key.replace("(anon)", "_anon").replace("(file)", "_file");
            let expected = if key.starts_with("HugePages_") {
                format!("node_memory_{stem}")
            } else {
                format!("node_memory_{stem}_bytes")
            };
            assert_eq!(*name, expected);
            let field = name.trim_start_matches("node_memory_");
            assert_eq!(*help, format!("Memory information field {field}."));
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "MemTotal:\n",
            "MemTotal: x kB\n",
            "MemTotal: -1 kB\n",
            "MemTotal: 1 MB\n",
            "MemTotal: 1 kB extra\n",
            "MemTotal: 1.5 kB\n",
            "MemTotal: 999999999999999999999 kB\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(parse("").expect("empty").iter().flatten().count(), 0);
    }

    #[test]
    fn arbitrary_and_truncated_input_never_panics() {
        use crate::collectors::testutil::{never_panics, truncations};
        never_panics(b"MemTotal:0123456789 kB\n()_x", |s| {
            let _ = parse(s);
        });
        truncations(SAMPLE, |s| {
            let _ = parse(s);
        });
    }
}
