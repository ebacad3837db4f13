//! `entropy`: the kernel's random pool, `node_entropy_available_bits` and `node_entropy_pool_size_bits`.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Entropy {
        avail: args.proc_path("sys/kernel/random/entropy_avail"),
        pool: args.proc_path("sys/kernel/random/poolsize"),
    }))
}

struct Entropy {
    avail: PathBuf,
    pool: PathBuf,
}

impl BlockingCollector for Entropy {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let avail = parse_number(&read_file(&self.avail)?)
            .map_err(|e| CollectError::Parse(format!("couldn't get entropy_avail: {e}")))?;
        out.gauge("node_entropy_available_bits", "Bits of available entropy.").sample(&[], avail);
        let pool = parse_number(&read_file(&self.pool)?)
            .map_err(|e| CollectError::Parse(format!("couldn't get entropy poolsize: {e}")))?;
        out.gauge("node_entropy_pool_size_bits", "Bits of entropy pool.").sample(&[], pool);
        Ok(())
    }
}

/// Parses a file holding one unsigned integer (surrounding whitespace allowed).
pub fn parse_number(content: &str) -> Result<f64, String> {
    let t = content.trim();
    t.parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| format!("invalid number {:?}", t.chars().take(40).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_number(include_str!("../../testdata/proc/sys/kernel/random/poolsize")), Ok(256.0));
        assert_eq!(parse_number(" 42\n"), Ok(42.0));
        for bad in ["", "-1", "abc", "1 2", "1.5"] {
            assert!(parse_number(bad).is_err(), "{bad:?}");
        }
    }
}
