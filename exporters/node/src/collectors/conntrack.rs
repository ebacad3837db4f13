//! `conntrack`: netfilter connection tracking, `node_nf_conntrack_entries`, `_entries_limit` and the per-CPU
//! statistics of `/proc/net/stat/nf_conntrack` summed as `node_nf_conntrack_stat_*`. Without the module loaded
//! the files are missing: "no data".

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::entropy::parse_number;
use super::read_file;
use crate::args::Args;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Conntrack {
        count: args.proc_path("sys/net/netfilter/nf_conntrack_count"),
        max: args.proc_path("sys/net/netfilter/nf_conntrack_max"),
        stat: args.proc_path("net/stat/nf_conntrack"),
    }))
}

struct Conntrack {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
}

/// The statistics node_exporter exports, with their HELP.
pub const STATS: [(&str, &str); 8] = [
    ("found", "Number of searched entries which were successful."),
    ("invalid", "Number of packets seen which can not be tracked."),
    ("ignore", "Number of packets seen which are already connected to a conntrack entry."),
    ("insert", "Number of entries inserted into the list."),
    ("insert_failed", "Number of entries for which list insertion was attempted but failed."),
    ("drop", "Number of packets dropped due to conntrack failure."),
    ("early_drop", "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached."),
    ("search_restart", "Number of conntrack table lookups which had to be restarted due to hashtable resizes."),
];

/// Parses `/proc/net/stat/nf_conntrack`: a header of column names, then one row of hexadecimal counters per CPU.
/// Returns the sums of the columns in [`STATS`] (a column the kernel lacks counts as 0).
pub fn parse_stat(content: &str) -> Result<[f64; 8], CollectError> {
    let mut lines = content.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| CollectError::Parse("nf_conntrack: empty file".into()))?
        .split_whitespace()
        .collect();
    let columns: Vec<Option<usize>> = STATS.iter().map(|(name, _)| header.iter().position(|h| h == name)).collect();
    let mut sums = [0f64; 8];
    for row in lines {
        let values: Vec<&str> = row.split_whitespace().collect();
        if values.len() != header.len() {
            return Err(CollectError::Parse(format!(
                "nf_conntrack: row has {} fields, header {}",
                values.len(),
                header.len()
            )));
        }
        for (sum, col) in sums.iter_mut().zip(&columns) {
            if let Some(i) = col {
                let v = values.get(*i).copied().unwrap_or("");
                *sum += u64::from_str_radix(v, 16)
                    .map_err(|_| CollectError::Parse(format!("nf_conntrack: invalid hex value {v:?}")))?
                    as f64;
            }
        }
    }
    Ok(sums)
}

fn no_module(e: CollectError) -> CollectError {
    if e.is_no_data() { CollectError::NoData("conntrack probably not loaded".into()) } else { e }
}

impl BlockingCollector for Conntrack {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let count = parse_number(&read_file(&self.count).map_err(no_module)?).map_err(CollectError::Parse)?;
        out.gauge("node_nf_conntrack_entries", "Number of currently allocated flow entries for connection tracking.")
            .sample(&[], count);
        let max = parse_number(&read_file(&self.max).map_err(no_module)?).map_err(CollectError::Parse)?;
        out.gauge("node_nf_conntrack_entries_limit", "Maximum size of connection tracking table.").sample(&[], max);
        let sums = parse_stat(&read_file(&self.stat).map_err(no_module)?)?;
        for ((name, help), v) in STATS.iter().zip(sums) {
            out.gauge(format!("node_nf_conntrack_stat_{name}"), *help).sample(&[], v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_sample_and_sums() {
        assert_eq!(parse_stat(include_str!("../../testdata/proc/net/stat/nf_conntrack")).expect("parses"), [0.0; 8]);
        let s =
            "entries found invalid drop\n00000001 0000000a 00000001 00000002\n00000001 00000005 00000000 00000001\n";
        let sums = parse_stat(s).expect("parses");
        assert_eq!(sums[0], 15.0); // found
        assert_eq!(sums[1], 1.0); // invalid
        assert_eq!(sums[5], 3.0); // drop
        assert_eq!(sums[2], 0.0); // ignore: column absent
    }

    #[test]
    fn garbage() {
        for bad in ["", "found\nzz\n", "found invalid\n1\n"] {
            assert!(parse_stat(bad).is_err(), "{bad:?}");
        }
    }
}
