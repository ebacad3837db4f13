//! `edac`: memory controller error counters from `/sys/devices/system/edac/mc` (`node_edac_*`).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::{read_attr, sorted_entries};

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Edac { dir: args.sys_path("devices/system/edac/mc") }))
}

struct Edac {
    dir: PathBuf,
}

/// Reads a decimal counter file.
fn read_count(dir: &Path, file: &str) -> Result<u64, CollectError> {
    let path = dir.join(file);
    let v = read_attr(&path).map_err(|e| CollectError::io(path.display(), e))?;
    v.parse().map_err(|_| CollectError::Parse(format!("{}: invalid count {v:?}", path.display())))
}

/// `(number, path)` of the entries named `<prefix><digits…>` in `dir` (Go's `<prefix>[0-9]*` glob).
fn numbered(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    sorted_entries(dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, path)| {
            let rest = name.strip_prefix(prefix)?;
            // The number is the leading digits, as node_exporter's regexp takes them.
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            (digits > 0).then(|| (rest[..digits].to_owned(), path))
        })
        .collect()
}

const CE: &str = "node_edac_correctable_errors_total";
const UE: &str = "node_edac_uncorrectable_errors_total";
const CSROW_CE: &str = "node_edac_csrow_correctable_errors_total";
const CSROW_UE: &str = "node_edac_csrow_uncorrectable_errors_total";
const CE_HELP: &str = "Total correctable memory errors.";
const UE_HELP: &str = "Total uncorrectable memory errors.";
const CSROW_CE_HELP: &str = "Total correctable memory errors for this csrow.";
const CSROW_UE_HELP: &str = "Total uncorrectable memory errors for this csrow.";

impl BlockingCollector for Edac {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        for (mc, dir) in numbered(&self.dir, "mc") {
            let c = [("controller", mc.as_str())];
            let unknown = [("controller", mc.as_str()), ("csrow", "unknown")];
            out.counter(CE, CE_HELP).sample(&c, read_count(&dir, "ce_count")? as f64);
            out.counter(CSROW_CE, CSROW_CE_HELP).sample(&unknown, read_count(&dir, "ce_noinfo_count")? as f64);
            out.counter(UE, UE_HELP).sample(&c, read_count(&dir, "ue_count")? as f64);
            out.counter(CSROW_UE, CSROW_UE_HELP).sample(&unknown, read_count(&dir, "ue_noinfo_count")? as f64);
            for (row, row_dir) in numbered(&dir, "csrow") {
                let labels = [("controller", mc.as_str()), ("csrow", row.as_str())];
                out.counter(CSROW_CE, CSROW_CE_HELP).sample(&labels, read_count(&row_dir, "ce_count")? as f64);
                out.counter(CSROW_UE, CSROW_UE_HELP).sample(&labels, read_count(&row_dir, "ue_count")? as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, render};

    #[test]
    fn fixture_tree() {
        let c = Edac { dir: fixture("hardware/sys/devices/system/edac/mc") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        for line in [
            "node_edac_correctable_errors_total{controller=\"0\"} 1",
            "node_edac_uncorrectable_errors_total{controller=\"0\"} 5",
            "node_edac_csrow_correctable_errors_total{controller=\"0\",csrow=\"unknown\"} 2",
            "node_edac_csrow_uncorrectable_errors_total{controller=\"0\",csrow=\"unknown\"} 6",
            "node_edac_csrow_correctable_errors_total{controller=\"0\",csrow=\"0\"} 3",
            "node_edac_csrow_uncorrectable_errors_total{controller=\"0\",csrow=\"0\"} 4",
            "# TYPE node_edac_correctable_errors_total counter",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn garbage_count_is_an_error() {
        let c = Edac { dir: fixture("broken/sys/devices/system/edac/mc") };
        let res = c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err());
    }
}
