//! `nvme`: NVMe controllers from `/sys/class/nvme` as `node_nvme_info`.

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::{class_entries, read_attr};

/// One controller's identity and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nvme {
    /// `firmware_rev`.
    pub firmware_revision: String,
    /// `model`.
    pub model: String,
    /// `serial`.
    pub serial: String,
    /// `state` (`live`, `resetting`, …).
    pub state: String,
}

/// Reads one `/sys/class/nvme/nvmeN` directory; all four attributes are required.
pub fn read_nvme(dir: &Path) -> Result<Nvme, CollectError> {
    let get = |f: &str| read_attr(&dir.join(f)).map_err(|e| CollectError::io(dir.join(f).display(), e));
    Ok(Nvme {
        serial: get("serial")?,
        model: get("model")?,
        state: get("state")?,
        firmware_revision: get("firmware_rev")?,
    })
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(NvmeCollector { dir: args.sys_path("class/nvme") }))
}

struct NvmeCollector {
    dir: PathBuf,
}

impl BlockingCollector for NvmeCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let entries = class_entries(&self.dir, "nvme statistics not found")?;
        let mut devices = Vec::new();
        for (name, path) in entries {
            devices.push((
                name,
                read_nvme(&path).map_err(|e| CollectError::Other(format!("error obtaining NVMe class info: {e}")))?,
            ));
        }
        for (name, d) in devices {
            out.gauge("node_nvme_info", "Non-numeric data from /sys/class/nvme/<device>, value is always 1.").sample(
                &[
                    ("device", name.as_str()),
                    ("firmware_revision", &d.firmware_revision),
                    ("model", &d.model),
                    ("serial", &d.serial),
                    ("state", &d.state),
                ],
                1.0,
            );
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
        let c = NvmeCollector { dir: fixture("hardware/sys/class/nvme") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        assert!(
            text.contains("node_nvme_info{device=\"nvme0\",firmware_revision=\"1B2QEXP7\",model=\"Samsung SSD 970 PRO 512GB\",serial=\"S680HF8N190894I\",state=\"live\"} 1"),
            "{text}"
        );
        let missing = NvmeCollector { dir: fixture("nope") };
        let res =
            missing.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err_and(|e| e.is_no_data()));
    }
}
