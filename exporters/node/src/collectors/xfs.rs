//! `xfs`: per-filesystem XFS statistics from `/sys/fs/xfs/<device>/stats/stats` (`node_xfs_*_total{device}`).

use std::collections::HashMap;
use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// Lines node_exporter reads and how many values each must have (`vnodes` may have 7 or 8).
const LINES: &[(&str, &[usize])] = &[
    ("extent_alloc", &[4]),
    ("abt", &[4]),
    ("blk_map", &[7]),
    ("bmbt", &[4]),
    ("dir", &[4]),
    ("trans", &[3]),
    ("ig", &[7]),
    ("log", &[5]),
    ("rw", &[2]),
    ("attr", &[4]),
    ("icluster", &[3]),
    ("vnodes", &[7, 8]),
    ("buf", &[9]),
];

/// `(metric suffix, HELP, line, column)`.
const METRICS: &[(&str, &str, &str, usize)] = &[
    ("extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem.", "extent_alloc", 0),
    ("extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem.", "extent_alloc", 1),
    ("extent_allocation_extents_freed_total", "Number of extents freed for a filesystem.", "extent_alloc", 2),
    ("extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem.", "extent_alloc", 3),
    ("allocation_btree_lookups_total", "Number of allocation B-tree lookups for a filesystem.", "abt", 0),
    ("allocation_btree_compares_total", "Number of allocation B-tree compares for a filesystem.", "abt", 1),
    (
        "allocation_btree_records_inserted_total",
        "Number of allocation B-tree records inserted for a filesystem.",
        "abt",
        2,
    ),
    (
        "allocation_btree_records_deleted_total",
        "Number of allocation B-tree records deleted for a filesystem.",
        "abt",
        3,
    ),
    ("block_mapping_reads_total", "Number of block map for read operations for a filesystem.", "blk_map", 0),
    ("block_mapping_writes_total", "Number of block map for write operations for a filesystem.", "blk_map", 1),
    ("block_mapping_unmaps_total", "Number of block unmaps (deletes) for a filesystem.", "blk_map", 2),
    ("block_mapping_extent_list_insertions_total", "Number of extent list insertions for a filesystem.", "blk_map", 3),
    ("block_mapping_extent_list_deletions_total", "Number of extent list deletions for a filesystem.", "blk_map", 4),
    ("block_mapping_extent_list_lookups_total", "Number of extent list lookups for a filesystem.", "blk_map", 5),
    ("block_mapping_extent_list_compares_total", "Number of extent list compares for a filesystem.", "blk_map", 6),
    ("block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem.", "bmbt", 0),
    ("block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem.", "bmbt", 1),
    (
        "block_map_btree_records_inserted_total",
        "Number of block map B-tree records inserted for a filesystem.",
        "bmbt",
        2,
    ),
    (
        "block_map_btree_records_deleted_total",
        "Number of block map B-tree records deleted for a filesystem.",
        "bmbt",
        3,
    ),
    (
        "directory_operation_lookup_total",
        "Number of file name directory lookups which miss the operating systems directory name lookup cache.",
        "dir",
        0,
    ),
    (
        "directory_operation_create_total",
        "Number of times a new directory entry was created for a filesystem.",
        "dir",
        1,
    ),
    (
        "directory_operation_remove_total",
        "Number of times an existing directory entry was created for a filesystem.",
        "dir",
        2,
    ),
    (
        "directory_operation_getdents_total",
        "Number of times the directory getdents operation was performed for a filesystem.",
        "dir",
        3,
    ),
    ("inode_operation_attempts_total", "Number of times the OS looked for an XFS inode in the inode cache.", "ig", 0),
    (
        "inode_operation_found_total",
        "Number of times the OS looked for and found an XFS inode in the inode cache.",
        "ig",
        1,
    ),
    (
        "inode_operation_recycled_total",
        "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled.",
        "ig",
        2,
    ),
    (
        "inode_operation_missed_total",
        "Number of times the OS looked for an XFS inode in the cache, but did not find it.",
        "ig",
        3,
    ),
    (
        "inode_operation_duplicates_total",
        "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been \
         added by another process.",
        "ig",
        4,
    ),
    (
        "inode_operation_reclaims_total",
        "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose.",
        "ig",
        5,
    ),
    (
        "inode_operation_attribute_changes_total",
        "Number of times the OS explicitly changed the attributes of an XFS inode.",
        "ig",
        6,
    ),
    // The kernel writes the write count first.
    ("read_calls_total", "Number of read(2) system calls made to files in a filesystem.", "rw", 1),
    ("write_calls_total", "Number of write(2) system calls made to files in a filesystem.", "rw", 0),
    ("vnode_active_total", "Number of vnodes not on free lists for a filesystem.", "vnodes", 0),
    ("vnode_allocate_total", "Number of times vn_alloc called for a filesystem.", "vnodes", 1),
    ("vnode_get_total", "Number of times vn_get called for a filesystem.", "vnodes", 2),
    ("vnode_hold_total", "Number of times vn_hold called for a filesystem.", "vnodes", 3),
    ("vnode_release_total", "Number of times vn_rele called for a filesystem.", "vnodes", 4),
    ("vnode_reclaim_total", "Number of times vn_reclaim called for a filesystem.", "vnodes", 5),
    ("vnode_remove_total", "Number of times vn_remove called for a filesystem.", "vnodes", 6),
];

/// Parses an XFS `stats` file into its lines' values. Every line's values must be unsigned 32-bit numbers
/// (`xpc`: 64-bit, exactly 3); the lines node_exporter reads must have their expected length. A line with only a
/// label is skipped; a missing line reads as zeros.
pub fn parse(content: &str) -> Result<HashMap<String, Vec<u64>>, CollectError> {
    let mut out = HashMap::new();
    for line in content.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [label, values @ ..] = fields.as_slice() else { continue };
        if values.is_empty() {
            continue;
        }
        let bad = || CollectError::Parse(format!("xfs stats: invalid line {line:?}"));
        let parsed: Vec<u64> = if *label == "xpc" {
            let v = values.iter().map(|v| v.parse::<u64>().map_err(|_| bad())).collect::<Result<Vec<_>, _>>()?;
            if v.len() != 3 {
                return Err(bad());
            }
            v
        } else {
            values.iter().map(|v| v.parse::<u32>().map(u64::from).map_err(|_| bad())).collect::<Result<Vec<_>, _>>()?
        };
        if let Some((_, lens)) = LINES.iter().find(|(l, _)| l == label)
            && !lens.contains(&parsed.len())
        {
            return Err(bad());
        }
        out.insert((*label).to_owned(), parsed);
    }
    Ok(out)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Xfs { dir: args.sys_path("fs/xfs") }))
}

struct Xfs {
    dir: PathBuf,
}

/// Writes one filesystem's metrics.
pub fn emit(out: &mut Snapshot, device: &str, stats: &HashMap<String, Vec<u64>>) {
    for (suffix, help, line, col) in METRICS {
        let v = stats.get(*line).and_then(|v| v.get(*col)).copied().unwrap_or(0);
        out.counter(format!("node_xfs_{suffix}"), *help).sample(&[("device", device)], v as f64);
    }
}

impl BlockingCollector for Xfs {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let mut devices = Vec::new();
        for (name, path) in crate::sysfs::sorted_entries(&self.dir).unwrap_or_default() {
            let file = path.join("stats/stats");
            if std::fs::metadata(&file).is_ok() {
                devices.push((name, file));
            }
        }
        // node_exporter reads every device before reporting any.
        let mut parsed = Vec::new();
        for (name, file) in devices {
            let stats = parse(&read_file(&file)?)
                .map_err(|e| CollectError::Parse(format!("failed to retrieve XFS stats: {e}")))?;
            parsed.push((name, stats));
        }
        for (name, stats) in &parsed {
            emit(out, name, stats);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, garbage, render};

    fn stats() -> String {
        std::fs::read_to_string(fixture("hardware/sys/fs/xfs/sda1/stats/stats")).expect("fixture")
    }

    #[test]
    fn parses_and_emits() {
        let s = parse(&stats()).expect("valid");
        assert_eq!(s["extent_alloc"], [92447, 97589, 92448, 93751]);
        let mut out = Snapshot::new();
        emit(&mut out, "sda1", &s);
        let text = render(out);
        for line in [
            "node_xfs_extent_allocation_extents_allocated_total{device=\"sda1\"} 92447",
            "node_xfs_block_mapping_reads_total{device=\"sda1\"} 1.767055e+06",
            "node_xfs_inode_operation_missed_total{device=\"sda1\"} 126238",
            "node_xfs_vnode_remove_total{device=\"sda1\"} 92444",
            "node_xfs_read_calls_total{device=\"sda1\"} 94045",
            "# TYPE node_xfs_read_calls_total counter",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["extent_alloc 1 2 3", "rw 1 x", "vnodes 1 2 3", "abt 1 2 3 4294967296", "xpc 1 2"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("debug\nqm 0 0 0 0 0 0 0 0\n").is_ok());
        garbage(b"rwabtxpc 0123456789\n", &stats(), |s| {
            let _ = parse(s);
        });
    }
}
