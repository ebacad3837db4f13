//! `fibrechannel`: Fibre Channel host bus adapters from `/sys/class/fc_host/<host>` (`node_fibrechannel_*`).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::{class_entries, parse_go_int, read_attr};

/// `(info label, attribute file)` of `node_fibrechannel_info`, in label order.
const INFO: &[(&str, &str)] = &[
    ("dev_loss_tmo", "dev_loss_tmo"),
    ("fabric_name", "fabric_name"),
    ("port_id", "port_id"),
    ("port_name", "port_name"),
    ("port_state", "port_state"),
    ("port_type", "port_type"),
    ("speed", "speed"),
    ("supported_classes", "supported_classes"),
    ("supported_speeds", "supported_speeds"),
    ("symbolic_name", "symbolic_name"),
];

/// `(statistics file, metric suffix, HELP)` of the counters.
const COUNTERS: &[(&str, &str, &str)] = &[
    ("dumped_frames", "dumped_frames_total", "Number of dumped frames"),
    ("error_frames", "error_frames_total", "Number of errors in frames"),
    ("invalid_crc_count", "invalid_crc_total", "Invalid Cyclic Redundancy Check count"),
    ("rx_frames", "rx_frames_total", "Number of frames received"),
    ("rx_words", "rx_words_total", "Number of words received by host port"),
    ("tx_frames", "tx_frames_total", "Number of frames transmitted by host port"),
    ("tx_words", "tx_words_total", "Number of words transmitted by host port"),
    ("seconds_since_last_reset", "seconds_since_last_reset_total", "Number of seconds since last host port reset"),
    ("invalid_tx_word_count", "invalid_tx_words_total", "Number of invalid words transmitted by host port"),
    ("link_failure_count", "link_failure_total", "Number of times the host port link has failed"),
    ("loss_of_sync_count", "loss_of_sync_total", "Number of failures on either bit or transmission word boundaries"),
    ("loss_of_signal_count", "loss_of_signal_total", "Number of times signal has been lost"),
    ("nos_count", "nos_total", "Number Not_Operational Primitive Sequence received by host port"),
    ("fcp_packet_aborts", "fcp_packet_aborts_total", "Number of aborted packets"),
];

/// One host: info label values in [`INFO`] order and counters in [`COUNTERS`] order (`None`: missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FcHost {
    /// Info label values.
    pub info: Vec<String>,
    /// Counter values.
    pub counters: Vec<Option<u64>>,
}

fn optional(path: &Path) -> Result<Option<String>, CollectError> {
    match read_attr(path) {
        Ok(v) => Ok(Some(v)),
        // Missing attributes, and write-only or unsupported ones in statistics/.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL | libc::EACCES)) =>
        {
            Ok(None)
        }
        Err(e) => Err(CollectError::io(path.display(), e)),
    }
}

/// Reads one `fc_host` directory. Counters are hexadecimal (`0x1f`); an invalid one is an error.
pub fn read_host(dir: &Path) -> Result<FcHost, CollectError> {
    let mut h = FcHost::default();
    for (_, file) in INFO {
        let v = optional(&dir.join(file))?.unwrap_or_default();
        // Names and IDs are shown without their "0x", as the Go library strips it.
        let v = match *file {
            "fabric_name" | "port_id" | "port_name" => v.strip_prefix("0x").map(str::to_owned).unwrap_or(v),
            _ => v,
        };
        h.info.push(v);
    }
    for (file, ..) in COUNTERS {
        let path = dir.join("statistics").join(file);
        let v = match optional(&path)? {
            Some(v) => Some(
                parse_go_int(&v)
                    .map(|n| n as u64)
                    .or_else(|| v.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()))
                    .ok_or_else(|| CollectError::Parse(format!("{}: invalid value {v:?}", path.display())))?,
            ),
            None => None,
        };
        h.counters.push(v);
    }
    Ok(h)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(FibreChannel { dir: args.sys_path("class/fc_host") }))
}

struct FibreChannel {
    dir: PathBuf,
}

impl BlockingCollector for FibreChannel {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let entries = class_entries(&self.dir, "fibrechannel statistics not found")?;
        let mut hosts = Vec::new();
        for (name, path) in entries {
            hosts.push((name, read_host(&path)?));
        }
        for (name, h) in &hosts {
            let mut labels: Vec<(&'static str, &str)> = vec![("fc_host", name.as_str())];
            labels.extend(INFO.iter().zip(&h.info).map(|((l, _), v)| (*l, v.as_str())));
            labels.sort();
            out.gauge("node_fibrechannel_info", "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.")
                .sample(&labels, 1.0);
            for ((_, suffix, help), v) in COUNTERS.iter().zip(&h.counters) {
                // u64::MAX marks a counter the HBA firmware does not implement.
                if let Some(v) = v.filter(|v| *v != u64::MAX) {
                    out.counter(format!("node_fibrechannel_{suffix}"), *help)
                        .sample(&[("fc_host", name.as_str())], v as f64);
                }
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
        let c = FibreChannel { dir: fixture("hardware/sys/class/fc_host") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        for line in [
            "node_fibrechannel_info{dev_loss_tmo=\"30\",fabric_name=\"0\",fc_host=\"host0\",port_id=\"000002\",port_name=\"1000e0071bce95f2\",port_state=\"Online\",port_type=\"Point-To-Point (direct nport connection)\",speed=\"16 Gbit\",supported_classes=\"Class 3\",supported_speeds=\"4 Gbit, 8 Gbit, 16 Gbit\",symbolic_name=\"Emulex SN1100E2P FV12.4.270.3 DV12.4.0.0. HN:gotest. OS:Linux\"} 1",
            "node_fibrechannel_dumped_frames_total{fc_host=\"host0\"} 0",
            "node_fibrechannel_rx_frames_total{fc_host=\"host0\"} 3",
            "node_fibrechannel_seconds_since_last_reset_total{fc_host=\"host0\"} 7",
            "node_fibrechannel_tx_words_total{fc_host=\"host0\"} 64",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // 0xffffffffffffffff: not implemented by the firmware.
        assert!(!text.contains("node_fibrechannel_fcp_packet_aborts_total"), "{text}");
    }
}
