//! `dmi`: firmware, board, chassis and product identity from `/sys/class/dmi/id` as `node_dmi_info`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::read_attr;

/// `(file, label)`: the attributes node_exporter reads, in label order.
const FIELDS: &[(&str, &str)] = &[
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

/// Reads the DMI directory into `(label, value)` pairs, sorted by label. Files only root may read (serials, UUID)
/// are left out; a missing directory is "no data".
pub fn read_dmi(dir: &Path) -> Result<Vec<(String, String)>, CollectError> {
    if let Err(e) = std::fs::read_dir(dir) {
        return Err(match e.kind() {
            std::io::ErrorKind::NotFound => CollectError::NoData("platform has no DMI information".into()),
            _ => CollectError::io(dir.display(), e),
        });
    }
    let mut labels = Vec::new();
    for (file, label) in FIELDS {
        let path = dir.join(file);
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        match read_attr(&path) {
            Ok(v) => labels.push(((*label).to_owned(), v)),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(CollectError::io(path.display(), e)),
        }
    }
    labels.sort();
    Ok(labels)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Dmi { dir: args.sys_path("class/dmi/id"), labels: OnceLock::new() }))
}

struct Dmi {
    dir: PathBuf,
    /// Read once: DMI data does not change until the next boot.
    labels: OnceLock<Vec<(String, String)>>,
}

impl BlockingCollector for Dmi {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let labels = match self.labels.get() {
            Some(l) => l,
            None => {
                let read = read_dmi(&self.dir)?;
                self.labels.get_or_init(|| read)
            }
        };
        if labels.is_empty() {
            return Err(CollectError::NoData("no DMI attributes".into()));
        }
        out.gauge(
            "node_dmi_info",
            "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, \
             board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, \
             chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, \
             product_sku, product_uuid, product_version, system_vendor if provided by DMI.",
        )
        .sample_owned(labels.clone(), 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, render};

    #[test]
    fn fixture_tree() {
        let c = Dmi { dir: fixture("hardware/sys/class/dmi/id"), labels: OnceLock::new() };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        assert!(
            text.contains(
                "node_dmi_info{bios_date=\"04/12/2021\",bios_release=\"2.2\",bios_vendor=\"Dell Inc.\",\
                 bios_version=\"2.2.4\",board_name=\"07PXPY\",board_serial=\".7N62AI2.GRTCL6944100GP.\",\
                 board_vendor=\"Dell Inc.\",board_version=\"A01\",chassis_asset_tag=\"\",\
                 chassis_serial=\"7N62AI2\",chassis_vendor=\"Dell Inc.\",chassis_version=\"\",\
                 product_family=\"PowerEdge\",product_name=\"PowerEdge R6515\",product_serial=\"7N62AI2\",\
                 product_sku=\"SKU=NotProvided;ModelName=PowerEdge R6515\",\
                 product_uuid=\"83340ca8-cb49-4474-8c29-d2088ca84dd9\",product_version=\"\",\
                 system_vendor=\"Dell Inc.\"} 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn missing_is_no_data() {
        let c = Dmi { dir: fixture("nope"), labels: OnceLock::new() };
        let res = c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err_and(|e| e.is_no_data()));
    }
}
