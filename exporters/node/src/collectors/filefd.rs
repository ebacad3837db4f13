//! `filefd`: `/proc/sys/fs/file-nr` as `node_filefd_allocated` and `node_filefd_maximum`.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(FileFd { path: args.proc_path("sys/fs/file-nr") }))
}

struct FileFd {
    path: PathBuf,
}

impl BlockingCollector for FileFd {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let (allocated, maximum) = parse(&read_file(&self.path)?)?;
        out.gauge("node_filefd_allocated", "File descriptor statistics: allocated.").sample(&[], allocated);
        out.gauge("node_filefd_maximum", "File descriptor statistics: maximum.").sample(&[], maximum);
        Ok(())
    }
}

/// Parses `file-nr`: allocated, unused (always 0 since Linux 2.6), maximum. Returns (allocated, maximum).
pub fn parse(content: &str) -> Result<(f64, f64), CollectError> {
    let line = content.lines().next().unwrap_or("");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [allocated, _, maximum, ..] = fields[..] else {
        return Err(CollectError::Parse(format!("file-nr: expected 3 fields, got {:?}", line)));
    };
    let num = |v: &str| v.parse::<f64>().map_err(|_| CollectError::Parse(format!("file-nr: invalid value {v:?}")));
    Ok((num(allocated)?, num(maximum)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_sample() {
        let (a, m) = parse(include_str!("../../testdata/proc/sys/fs/file-nr")).expect("parses");
        assert!(a > 0.0 && m >= a);
        assert_eq!(parse("1024\t0\t2466177\n").ok(), Some((1024.0, 2466177.0)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "1 2", "a 0 3", "1 0 x", "\n1 0 2"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
