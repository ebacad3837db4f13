//! `bcache`: Linux bcache cache sets from `/sys/fs/bcache/<uuid>` with their backing and cache devices
//! (`node_bcache_*`).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, MetricType, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::{read_attr, sorted_entries};

/// Flags of the bcache collector.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BcacheArgs {
    /// Expose expensive priority stats.
    #[arg(
        id = "collector.bcache.priorityStats",
        long = "collector.bcache.priorityStats",
        help_heading = "Collector: bcache"
    )]
    pub priority_stats: bool,
}

/// Parses bcache's human-readable sizes (`2.3k`, `17M`, `512`) as the Go library does: the integer part times the
/// binary multiplier, plus each tenth written after the point as 100/1024 of the multiplier (the kernel prints
/// the remainder in tenths of 1024). An unknown multiplier letter gives 0.
pub fn dehumanize(s: &str) -> Result<u64, CollectError> {
    let bad = || CollectError::Parse(format!("bcache: invalid size {s:?}"));
    let last = *s.as_bytes().last().ok_or_else(bad)?;
    let (num, mul) = if last > b'9' {
        let shift = match last {
            b'k' => Some(10),
            b'M' => Some(20),
            b'G' => Some(30),
            b'T' => Some(40),
            b'P' => Some(50),
            b'E' => Some(60),
            _ => None,
        };
        (s.get(..s.len() - 1).ok_or_else(bad)?, shift.map_or(0u128, |sh| 1u128 << sh))
    } else {
        (s, 1)
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, "0"));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return Err(bad());
    }
    let int: u128 = int.parse().map_err(|_| bad())?;
    let frac: u128 = frac.parse().map_err(|_| bad())?;
    let v = int.checked_mul(mul).and_then(|i| frac.checked_mul(100 * mul).map(|f| i + f / 1024)).ok_or_else(bad)?;
    u64::try_from(v).map_err(|_| bad())
}

/// [`dehumanize`] with an optional leading `-`.
pub fn dehumanize_signed(s: &str) -> Result<i64, CollectError> {
    match s.strip_prefix('-') {
        Some(rest) => Ok(-(dehumanize(rest)? as i64)),
        None => Ok(dehumanize(s)? as i64),
    }
}

/// `writeback_rate_debug`: rate, target, proportional, integral, change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WritebackRate {
    /// `rate:` bytes per second.
    pub rate: u64,
    /// `target:` bytes.
    pub target: u64,
    /// `proportional:` term.
    pub proportional: i64,
    /// `integral:` term.
    pub integral: i64,
    /// `change:` per second.
    pub change: i64,
}

/// Parses `writeback_rate_debug`.
pub fn parse_writeback_rate_debug(content: &str) -> Result<WritebackRate, CollectError> {
    let mut w = WritebackRate::default();
    for line in content.lines() {
        let last = line.split_whitespace().last().unwrap_or_default();
        let per_sec = last.strip_suffix("/sec").unwrap_or(last);
        if line.starts_with("rate:") {
            w.rate = dehumanize(per_sec)?;
        } else if line.starts_with("dirty:") {
            dehumanize(last)?;
        } else if line.starts_with("target:") {
            w.target = dehumanize(last)?;
        } else if line.starts_with("proportional:") {
            w.proportional = dehumanize_signed(last)?;
        } else if line.starts_with("integral:") {
            w.integral = dehumanize_signed(last)?;
        } else if line.starts_with("change:") {
            w.change = dehumanize_signed(per_sec)?;
        } else if line.starts_with("next io:") {
            let ms = last.strip_suffix("ms").unwrap_or(last);
            ms.parse::<i64>().map_err(|_| CollectError::Parse(format!("bcache: invalid next io {last:?}")))?;
        }
    }
    Ok(w)
}

/// Parses `priority_stats`: the `Unused:` and `Metadata:` percentages.
pub fn parse_priority_stats(content: &str) -> Result<(u64, u64), CollectError> {
    let (mut unused, mut metadata) = (0, 0);
    for line in content.lines() {
        let pct = || -> Result<u64, CollectError> {
            let last = line.split_whitespace().last().unwrap_or_default();
            let v: f64 = last
                .strip_suffix('%')
                .unwrap_or(last)
                .parse()
                .map_err(|_| CollectError::Parse(format!("bcache: invalid percentage in {line:?}")))?;
            Ok(v as u64)
        };
        if line.starts_with("Unused:") {
            unused = pct()?;
        } else if line.starts_with("Metadata:") {
            metadata = pct()?;
        }
    }
    Ok((unused, metadata))
}

fn read_str(path: &Path) -> Result<String, CollectError> {
    read_attr(path).map_err(|e| CollectError::io(path.display(), e))
}

fn read_u64(path: &Path) -> Result<u64, CollectError> {
    let v = read_str(path)?;
    v.parse().map_err(|_| CollectError::Parse(format!("{}: invalid value {v:?}", path.display())))
}

fn read_i64(path: &Path) -> Result<i64, CollectError> {
    let v = read_str(path)?;
    v.parse().map_err(|_| CollectError::Parse(format!("{}: invalid value {v:?}", path.display())))
}

fn read_size(path: &Path) -> Result<u64, CollectError> {
    dehumanize(&read_str(path)?).map_err(|e| CollectError::Parse(format!("{}: {e}", path.display())))
}

/// Entries of `dir` named `<prefix><digits…>`.
fn numbered(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    sorted_entries(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|(n, _)| n.strip_prefix(prefix).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit())))
        .collect()
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Bcache { dir: args.sys_path("fs/bcache"), priority: args.bcache.priority_stats }))
}

struct Bcache {
    dir: PathBuf,
    priority: bool,
}

/// One metric to write: suffix, HELP, type, value, extra label.
type Row = (&'static str, &'static str, MetricType, f64, Option<(&'static str, String)>);

impl Bcache {
    /// Reads one cache set into metric rows; any missing or invalid file fails the set, as in the Go library.
    fn read_set(&self, dir: &Path) -> Result<Vec<Row>, CollectError> {
        use MetricType::{Counter, Gauge};
        let internal = dir.join("internal");
        let mut rows: Vec<Row> = vec![
            (
                "average_key_size_sectors",
                "Average data per key in the btree (sectors).",
                Gauge,
                read_size(&dir.join("average_key_size"))? as f64,
                None,
            ),
            (
                "btree_cache_size_bytes",
                "Amount of memory currently used by the btree cache.",
                Gauge,
                read_size(&dir.join("btree_cache_size"))? as f64,
                None,
            ),
            (
                "cache_available_percent",
                "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).",
                Gauge,
                read_u64(&dir.join("cache_available_percent"))? as f64,
                None,
            ),
            ("congested", "Congestion.", Gauge, read_i64(&dir.join("congested"))? as f64, None),
            (
                "root_usage_percent",
                "Percentage of the root btree node in use (tree depth increases if too high).",
                Gauge,
                read_u64(&dir.join("root_usage_percent"))? as f64,
                None,
            ),
            ("tree_depth", "Depth of the btree.", Gauge, read_u64(&dir.join("tree_depth"))? as f64, None),
            (
                "active_journal_entries",
                "Number of journal entries that are newer than the index.",
                Gauge,
                read_u64(&internal.join("active_journal_entries"))? as f64,
                None,
            ),
            ("btree_nodes", "Total nodes in the btree.", Gauge, read_u64(&internal.join("btree_nodes"))? as f64, None),
            (
                "btree_read_average_duration_seconds",
                "Average btree read duration.",
                Gauge,
                read_u64(&internal.join("btree_read_average_duration_us"))? as f64 * 1e-9,
                None,
            ),
            (
                "cache_read_races_total",
                "Counts instances where while data was being read from the cache, the bucket was reused and \
                 invalidated - i.e. where the pointer was stale after the read completed.",
                Counter,
                read_u64(&internal.join("cache_read_races"))? as f64,
                None,
            ),
        ];
        for (name, bdev) in numbered(dir, "bdev") {
            let l = || Some(("backing_device", name.clone()));
            let wb = parse_writeback_rate_debug(&read_str(&bdev.join("writeback_rate_debug"))?)?;
            rows.extend([
                (
                    "dirty_data_bytes",
                    "Amount of dirty data for this backing device in the cache.",
                    Gauge,
                    read_size(&bdev.join("dirty_data"))? as f64,
                    l(),
                ),
                (
                    "dirty_target_bytes",
                    "Current dirty data target threshold for this backing device in bytes.",
                    Gauge,
                    wb.target as f64,
                    l(),
                ),
                (
                    "writeback_rate",
                    "Current writeback rate for this backing device in bytes.",
                    Gauge,
                    wb.rate as f64,
                    l(),
                ),
                (
                    "writeback_rate_proportional_term",
                    "Current result of proportional controller, part of writeback rate",
                    Gauge,
                    wb.proportional as f64,
                    l(),
                ),
                (
                    "writeback_rate_integral_term",
                    "Current result of integral controller, part of writeback rate",
                    Gauge,
                    wb.integral as f64,
                    l(),
                ),
                (
                    "writeback_change",
                    "Last writeback rate change step for this backing device.",
                    Gauge,
                    wb.change as f64,
                    l(),
                ),
            ]);
            let st = bdev.join("stats_total");
            rows.extend([
                (
                    "bypassed_bytes_total",
                    "Amount of IO (both reads and writes) that has bypassed the cache.",
                    Counter,
                    read_size(&st.join("bypassed"))? as f64,
                    l(),
                ),
                (
                    "cache_hits_total",
                    "Hits counted per individual IO as bcache sees them.",
                    Counter,
                    read_u64(&st.join("cache_hits"))? as f64,
                    l(),
                ),
                (
                    "cache_misses_total",
                    "Misses counted per individual IO as bcache sees them.",
                    Counter,
                    read_u64(&st.join("cache_misses"))? as f64,
                    l(),
                ),
                (
                    "cache_bypass_hits_total",
                    "Hits for IO intended to skip the cache.",
                    Counter,
                    read_u64(&st.join("cache_bypass_hits"))? as f64,
                    l(),
                ),
                (
                    "cache_bypass_misses_total",
                    "Misses for IO intended to skip the cache.",
                    Counter,
                    read_u64(&st.join("cache_bypass_misses"))? as f64,
                    l(),
                ),
                (
                    "cache_miss_collisions_total",
                    "Instances where data insertion from cache miss raced with write (data already present).",
                    Counter,
                    read_u64(&st.join("cache_miss_collisions"))? as f64,
                    l(),
                ),
                (
                    "cache_readaheads_total",
                    "Count of times readahead occurred.",
                    Counter,
                    read_u64(&st.join("cache_readaheads"))? as f64,
                    l(),
                ),
            ]);
        }
        for (name, cache) in numbered(dir, "cache") {
            let l = || Some(("cache_device", name.clone()));
            rows.extend([
                (
                    "io_errors",
                    "Number of errors that have occurred, decayed by io_error_halflife.",
                    Gauge,
                    read_u64(&cache.join("io_errors"))? as f64,
                    l(),
                ),
                (
                    "metadata_written_bytes_total",
                    "Sum of all non data writes (btree writes and all other metadata).",
                    Counter,
                    read_size(&cache.join("metadata_written"))? as f64,
                    l(),
                ),
                (
                    "written_bytes_total",
                    "Sum of all data that has been written to the cache.",
                    Counter,
                    read_size(&cache.join("written"))? as f64,
                    l(),
                ),
            ]);
            if self.priority {
                let (unused, metadata) = parse_priority_stats(&read_str(&cache.join("priority_stats"))?)?;
                rows.extend([
                    (
                        "priority_stats_unused_percent",
                        "The percentage of the cache that doesn't contain any data.",
                        Gauge,
                        unused as f64,
                        l(),
                    ),
                    ("priority_stats_metadata_percent", "Bcache's metadata overhead.", Gauge, metadata as f64, l()),
                ]);
            }
        }
        Ok(rows)
    }
}

impl BlockingCollector for Bcache {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        // Cache sets are the `<uuid>` directories (they contain a '-'); `register` and friends are files.
        let sets: Vec<(String, PathBuf)> =
            sorted_entries(&self.dir).unwrap_or_default().into_iter().filter(|(n, _)| n.contains('-')).collect();
        let mut read = Vec::new();
        for (uuid, dir) in sets {
            let rows = self
                .read_set(&dir)
                .map_err(|e| CollectError::Other(format!("failed to retrieve bcache stats: {e}")))?;
            read.push((uuid, rows));
        }
        for (uuid, rows) in read {
            for (suffix, help, kind, value, extra) in rows {
                let mut labels = vec![("uuid".to_owned(), uuid.clone())];
                if let Some((k, v)) = extra {
                    labels.push((k.to_owned(), v));
                }
                labels.sort();
                out.family(format!("node_bcache_{suffix}"), help, kind).sample_owned(labels, value);
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
    fn sizes() {
        assert_eq!(dehumanize("512").ok(), Some(512));
        assert_eq!(dehumanize("2.3k").ok(), Some(2348));
        assert_eq!(dehumanize("1.1M").ok(), Some(1_150_976));
        assert_eq!(dehumanize("20.4G").ok(), Some(21_894_266_880));
        assert_eq!(dehumanize("3x").ok(), Some(0));
        assert!(dehumanize("").is_err());
        assert!(dehumanize("k").is_err());
        assert_eq!(dehumanize_signed("-5.0k").ok(), Some(-5120));
        assert!(dehumanize("1e3").is_err());
        garbage(b"0123456789.-kMGx", "1.5M", |s| {
            let _ = dehumanize_signed(s);
        });
    }

    #[test]
    fn writeback_and_priority() {
        let w = parse_writeback_rate_debug(
            "rate:\t\t1.1M/sec\ndirty:\t\t20.4G\ntarget:\t\t20.4G\nproportional:\t427.5k\nintegral:\t-790.0k\nchange:\t\t321.5k/sec\nnext io:\t17ms\n",
        )
        .expect("valid");
        assert_eq!(w.rate, 1_150_976);
        assert_eq!(w.integral, -808_960);
        assert_eq!(w.change, 329_204);
        assert!(parse_writeback_rate_debug("next io: soon\n").is_err());
        assert_eq!(parse_priority_stats("Unused:\t\t99%\nMetadata:\t0%\n").ok(), Some((99, 0)));
        assert!(parse_priority_stats("Unused: lots%\n").is_err());
        garbage(
            b"ratedirtytargetproportionalintegralchangenext io:Unused:Metadata: 0123456789.-kM%/sec\n",
            "rate: 1.1M/sec\nUnused: 9%\n",
            |s| {
                let _ = parse_writeback_rate_debug(s);
                let _ = parse_priority_stats(s);
            },
        );
    }

    #[test]
    fn fixture_tree() {
        let run = |priority| {
            let c = Bcache { dir: fixture("hardware/sys/fs/bcache"), priority };
            let mut out = Snapshot::new();
            c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
            render(out)
        };
        let text = run(false);
        let uuid = "deaddd54-c735-46d5-868e-f331c5fd7c74";
        for line in [
            format!("node_bcache_average_key_size_sectors{{uuid=\"{uuid}\"}} 0"),
            format!("node_bcache_btree_cache_size_bytes{{uuid=\"{uuid}\"}} 0"),
            format!("node_bcache_dirty_data_bytes{{backing_device=\"bdev0\",uuid=\"{uuid}\"}} 0"),
            format!("node_bcache_bypassed_bytes_total{{backing_device=\"bdev0\",uuid=\"{uuid}\"}} 0"),
            format!("node_bcache_cache_hits_total{{backing_device=\"bdev0\",uuid=\"{uuid}\"}} 546"),
            format!("node_bcache_writeback_rate{{backing_device=\"bdev0\",uuid=\"{uuid}\"}} 1.150976e+06"),
            format!("node_bcache_written_bytes_total{{cache_device=\"cache0\",uuid=\"{uuid}\"}} 0"),
            format!("node_bcache_io_errors{{cache_device=\"cache0\",uuid=\"{uuid}\"}} 0"),
        ] {
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("priority_stats"), "{text}");
        assert!(run(true).contains(&format!(
            "node_bcache_priority_stats_unused_percent{{cache_device=\"cache0\",uuid=\"{uuid}\"}} 99"
        )));
    }
}
