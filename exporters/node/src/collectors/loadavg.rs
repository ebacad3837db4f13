//! `loadavg`: `/proc/loadavg` as `node_load1`, `node_load5`, `node_load15`.

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Loadavg { path: args.proc_path("loadavg") }))
}

struct Loadavg {
    path: std::path::PathBuf,
}

impl BlockingCollector for Loadavg {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let [l1, l5, l15] = parse(&read_file(&self.path)?)?;
        out.gauge("node_load1", "1m load average.").sample(&[], l1);
        out.gauge("node_load5", "5m load average.").sample(&[], l5);
        out.gauge("node_load15", "15m load average.").sample(&[], l15);
        Ok(())
    }
}

/// Parses the first three fields of `/proc/loadavg`.
pub fn parse(content: &str) -> Result<[f64; 3], CollectError> {
    let mut fields = content.split_whitespace();
    let mut next = |which: &str| {
        fields
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| CollectError::Parse(format!("/proc/loadavg: missing or invalid {which} value")))
    };
    Ok([next("1m")?, next("5m")?, next("15m")?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse("0.21 0.37 0.39 1/719 19737\n").ok(), Some([0.21, 0.37, 0.39]));
        assert!(parse("").is_err());
        assert!(parse("0.1 x").is_err());
    }

    #[test]
    fn garbage_never_panics() {
        use crate::collectors::testutil::{never_panics, truncations};
        never_panics(b"0123456789. /\nx-", |s| {
            let _ = parse(s);
        });
        truncations("0.21 0.37 0.39 1/719 19737\n", |s| {
            let _ = parse(s);
        });
    }
}
