//! `nvme`: NVMe controllers from `/sys/class/nvme` as `node_nvme_info`, and their namespaces as
//! `node_nvme_namespace_*` (node_exporter 1.10+).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::{class_entries, read_attr, sorted_entries};

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
    /// `cntlid`, the controller ID.
    pub cntlid: String,
    /// Namespaces (`nvme<C>c<I>n<N>` directories), in directory order.
    pub namespaces: Vec<Namespace>,
}

/// One namespace of a controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The namespace ID: `N` of the directory name.
    pub id: String,
    /// `ana_state`, `unknown` where the file does not exist.
    pub ana_state: String,
    /// `size`, in logical blocks (0 if not a number, as in node_exporter).
    pub size_blocks: u64,
    /// `nuse`, in logical blocks (0 if not a number).
    pub used_blocks: u64,
    /// `queue/logical_block_size` in bytes (0 if not a number).
    pub logical_block_size: u64,
}

/// The namespace ID of a namespace directory's name: the digits after `n` in the first `nvme<d>c<d>n<d>` it
/// contains (node_exporter's unanchored pattern), `None` for other entries.
pub fn namespace_id(name: &str) -> Option<&str> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let mut from = 0;
    while let Some(i) = name[from..].find("nvme").map(|i| i + from) {
        from = i + 1;
        let rest = &name[i + 4..];
        let a = digits(rest);
        if a == 0 || !rest[a..].starts_with('c') {
            continue;
        }
        let rest = &rest[a + 1..];
        let b = digits(rest);
        if b == 0 || !rest[b..].starts_with('n') {
            continue;
        }
        let rest = &rest[b + 1..];
        let n = digits(rest);
        if n > 0 {
            return Some(&rest[..n]);
        }
    }
    None
}

/// Reads one `/sys/class/nvme/nvmeN` directory: its five attributes and those of its namespaces are required
/// (but a namespace's `ana_state`), as in node_exporter.
pub fn read_nvme(dir: &Path) -> Result<Nvme, CollectError> {
    let get = |d: &Path, f: &str| read_attr(&d.join(f)).map_err(|e| CollectError::io(d.join(f).display(), e));
    let mut nvme = Nvme {
        firmware_revision: get(dir, "firmware_rev")?,
        model: get(dir, "model")?,
        serial: get(dir, "serial")?,
        state: get(dir, "state")?,
        cntlid: get(dir, "cntlid")?,
        namespaces: Vec::new(),
    };
    for (name, path) in sorted_entries(dir).map_err(|e| CollectError::io(dir.display(), e))? {
        let Some(id) = namespace_id(&name) else { continue };
        // Go's ParseUint failures leave the value at 0.
        let number = |f: &str| get(&path, f).map(|v| v.parse::<u64>().unwrap_or(0));
        nvme.namespaces.push(Namespace {
            id: id.to_owned(),
            used_blocks: number("nuse")?,
            size_blocks: number("size")?,
            logical_block_size: number("queue/logical_block_size")?,
            ana_state: read_attr(&path.join("ana_state")).unwrap_or_else(|_| "unknown".to_owned()),
        });
    }
    Ok(nvme)
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
                    // Sorted by name, as client_golang writes them.
                    ("cntlid", &d.cntlid),
                    ("device", name.as_str()),
                    ("firmware_revision", &d.firmware_revision),
                    ("model", &d.model),
                    ("serial", &d.serial),
                    ("state", &d.state),
                ],
                1.0,
            );
            for ns in &d.namespaces {
                let labels = [("device", name.as_str()), ("nsid", ns.id.as_str())];
                // Go multiplies unsigned 64-bit integers, wrapping on overflow.
                let size = ns.size_blocks.wrapping_mul(ns.logical_block_size) as f64;
                out.gauge("node_nvme_namespace_info", "Information about NVMe namespaces. Value is always 1").sample(
                    &[("ana_state", ns.ana_state.as_str()), ("device", name.as_str()), ("nsid", ns.id.as_str())],
                    1.0,
                );
                out.gauge(
                    "node_nvme_namespace_capacity_bytes",
                    "Capacity of the NVMe namespace in bytes. Computed as namespace_size * namespace_logical_block_size",
                )
                .sample(&labels, size);
                out.gauge(
                    "node_nvme_namespace_size_bytes",
                    "Size of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/size",
                )
                .sample(&labels, size);
                out.gauge(
                    "node_nvme_namespace_used_bytes",
                    "Used space of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/nuse",
                )
                .sample(&labels, ns.used_blocks.wrapping_mul(ns.logical_block_size) as f64);
                out.gauge(
                    "node_nvme_namespace_logical_block_size_bytes",
                    "Logical block size of the NVMe namespace in bytes. Usually 4Kb. Available in /sys/class/nvme/<device>/<namespace>/queue/logical_block_size",
                )
                .sample(&labels, ns.logical_block_size as f64);
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
        let c = NvmeCollector { dir: fixture("hardware/sys/class/nvme") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        assert!(
            text.contains("node_nvme_info{cntlid=\"1997\",device=\"nvme0\",firmware_revision=\"1B2QEXP7\",model=\"Samsung SSD 970 PRO 512GB\",serial=\"S680HF8N190894I\",state=\"live\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("node_nvme_namespace_info{ana_state=\"optimized\",device=\"nvme0\",nsid=\"1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("node_nvme_namespace_info{ana_state=\"unknown\",device=\"nvme0\",nsid=\"2\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("node_nvme_namespace_size_bytes{device=\"nvme0\",nsid=\"1\"} 5.12110190592e+11"),
            "{text}"
        );
        assert!(text.contains("node_nvme_namespace_used_bytes{device=\"nvme0\",nsid=\"1\"} 1.118464e+07"), "{text}");
        assert!(
            text.contains("node_nvme_namespace_logical_block_size_bytes{device=\"nvme0\",nsid=\"2\"} 4096"),
            "{text}"
        );
        let missing = NvmeCollector { dir: fixture("nope") };
        let res =
            missing.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err_and(|e| e.is_no_data()));
    }

    #[test]
    fn namespace_ids_as_node_exporter_finds_them() {
        for (name, id) in
            [("nvme0c0n1", Some("1")), ("nvme12c3n45", Some("45")), ("xnvme1c2n3y", Some("3")), ("nvme0n1", None)]
        {
            assert_eq!(namespace_id(name), id, "{name}");
        }
        for name in ["cntlid", "nvmec0n1", "nvme0c0n", "nvme0cxn1", "", "nvme", "nvme1c"] {
            assert_eq!(namespace_id(name), None, "{name}");
        }
        assert_eq!(namespace_id("nvmenvme1c1n7"), Some("7"));
    }
}
