//! `diskstats`: `/proc/diskstats` as `node_disk_*{device}`, plus `node_disk_info` and, where udev has recorded
//! them (`--path.udev.data`), the filesystem, device-mapper and ATA metrics node_exporter derives from udev.

use std::collections::HashMap;
use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::model::MetricType;
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;
use crate::filter::{NameFilter, exclude_include};

/// node_exporter's default device exclusion.
pub const DEFAULT_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// Flags of the diskstats collector.
#[derive(Debug, Clone, clap::Args)]
pub struct DiskstatsArgs {
    /// Regexp of diskstats devices to exclude (mutually exclusive to device-include).
    /// [default: ^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$]
    #[arg(
        id = "collector.diskstats.device-exclude",
        long = "collector.diskstats.device-exclude",
        value_name = "REGEXP",
        help_heading = "Collector: diskstats"
    )]
    pub device_exclude: Option<String>,
    /// Regexp of diskstats devices to include (mutually exclusive to device-exclude).
    #[arg(
        id = "collector.diskstats.device-include",
        long = "collector.diskstats.device-include",
        value_name = "REGEXP",
        help_heading = "Collector: diskstats"
    )]
    pub device_include: Option<String>,
    /// DEPRECATED: Use --collector.diskstats.device-exclude
    #[arg(
        id = "collector.diskstats.ignored-devices",
        long = "collector.diskstats.ignored-devices",
        value_name = "REGEXP",
        hide = true
    )]
    pub ignored_devices: Option<String>,
    /// udev data path.
    #[arg(
        id = "path.udev.data",
        long = "path.udev.data",
        value_name = "PATH",
        default_value = "/run/udev/data",
        help_heading = "Paths"
    )]
    pub udev_data: PathBuf,
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let a = &args.diskstats;
    let filter = exclude_include(
        "collector.diskstats.device",
        a.device_exclude.as_deref(),
        DEFAULT_EXCLUDE,
        a.device_include.as_deref(),
        a.ignored_devices.as_deref().map(|v| ("collector.diskstats.ignored-devices", v)),
    )?;
    let udev = if a.udev_data.is_dir() {
        Some(a.udev_data.clone())
    } else {
        // Normal in containers and minimal VMs, so a warning at start, not an error.
        tracing::warn!(path = %a.udev_data.display(), "udev data directory not found; node_disk_info lacks udev properties");
        None
    };
    Ok(blocking(Diskstats { path: args.proc_path("diskstats"), block: args.sys_path("block"), udev, filter }))
}

struct Diskstats {
    path: PathBuf,
    block: PathBuf,
    udev: Option<PathBuf>,
    filter: NameFilter,
}

/// One line of `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Device name.
    pub name: String,
    /// The counters after the name (11 before Linux 4.18, 15 up to 5.4, 17 since), at most 17 kept.
    pub stats: Vec<u64>,
}

/// Parses `/proc/diskstats`. Lines with fewer than 11 counters are an error.
pub fn parse(content: &str) -> Result<Vec<Disk>, CollectError> {
    let mut out = Vec::new();
    for line in content.lines() {
        let fields: Vec<&str> = super::fields(line).collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 14 {
            return Err(CollectError::Parse(format!("diskstats: line with {} fields", fields.len())));
        }
        let num =
            |v: &str| v.parse::<u64>().map_err(|_| CollectError::Parse(format!("diskstats: invalid value {v:?}")));
        let dev = |v: &str| {
            v.parse::<u32>().map_err(|_| CollectError::Parse(format!("diskstats: invalid device number {v:?}")))
        };
        let stats = fields[3..fields.len().min(3 + 17)].iter().map(|v| num(v)).collect::<Result<Vec<_>, _>>()?;
        out.push(Disk { major: dev(fields[0])?, minor: dev(fields[1])?, name: fields[2].to_owned(), stats });
    }
    Ok(out)
}

/// Parses a udev database file (`/run/udev/data/b<major>:<minor>`), keeping the `E:KEY=VALUE` properties.
pub fn parse_udev(content: &str) -> HashMap<String, String> {
    content
        .lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

const SECONDS_PER_TICK: f64 = 1.0 / 1000.0;
const SECTOR: f64 = 512.0;

/// The counters in `/proc/diskstats` order: metric name, HELP, type, scale.
const STATS: [(&str, &str, MetricType, f64); 17] = [
    ("node_disk_reads_completed_total", "The total number of reads completed successfully.", MetricType::Counter, 1.0),
    ("node_disk_reads_merged_total", "The total number of reads merged.", MetricType::Counter, 1.0),
    ("node_disk_read_bytes_total", "The total number of bytes read successfully.", MetricType::Counter, SECTOR),
    (
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        MetricType::Counter,
        1.0,
    ),
    ("node_disk_writes_merged_total", "The number of writes merged.", MetricType::Counter, 1.0),
    ("node_disk_written_bytes_total", "The total number of bytes written successfully.", MetricType::Counter, SECTOR),
    (
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    ("node_disk_io_now", "The number of I/Os currently in progress.", MetricType::Gauge, 1.0),
    ("node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", MetricType::Counter, SECONDS_PER_TICK),
    (
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        MetricType::Counter,
        1.0,
    ),
    ("node_disk_discards_merged_total", "The total number of discards merged.", MetricType::Counter, 1.0),
    (
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
];

const ATA: [(&str, &str, &str); 3] = [
    ("ID_ATA_WRITE_CACHE", "node_disk_ata_write_cache", "ATA disk has a write cache."),
    ("ID_ATA_WRITE_CACHE_ENABLED", "node_disk_ata_write_cache_enabled", "ATA disk has its write cache enabled."),
    ("ID_ATA_ROTATION_RATE_RPM", "node_disk_ata_rotation_rate_rpm", "ATA disk rotation rate in RPMs (0 for SSDs)."),
];

/// Everything read besides `/proc/diskstats` for one device.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// udev properties.
    pub udev: HashMap<String, String>,
    /// `queue/rotational`, 0 when unknown.
    pub rotational: u64,
    /// Names under `slaves/`, sorted.
    pub backing: Vec<String>,
}

/// Writes one device's metrics.
pub fn emit(disk: &Disk, extra: &Extra, out: &mut Snapshot) {
    let dev = disk.name.as_str();
    let info = &extra.udev;
    let get = |k: &str| info.get(k).map(String::as_str).unwrap_or("");
    // The serial printed on the label, else the short serial, else the full one (virtio devices).
    let serial = [get("SCSI_IDENT_SERIAL"), get("ID_SERIAL_SHORT"), get("ID_SERIAL")]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("");
    out.gauge("node_disk_info", "Info of /sys/block/<block_device>.").sample(
        &[
            ("device", dev),
            ("major", &disk.major.to_string()),
            ("minor", &disk.minor.to_string()),
            ("model", get("ID_MODEL")),
            ("path", get("ID_PATH")),
            ("revision", get("ID_REVISION")),
            ("rotational", &format!("{:b}", extra.rotational)),
            ("serial", serial),
            ("wwn", get("ID_WWN")),
        ],
        1.0,
    );
    for ((name, help, ty, scale), v) in STATS.iter().zip(&disk.stats) {
        out.family(*name, *help, *ty).sample(&[("device", dev)], *v as f64 * scale);
    }
    if !get("ID_FS_TYPE").is_empty() {
        out.gauge("node_disk_filesystem_info", "Info about disk filesystem.").sample(
            &[
                ("device", dev),
                ("type", get("ID_FS_TYPE")),
                ("usage", get("ID_FS_USAGE")),
                ("uuid", get("ID_FS_UUID")),
                ("version", get("ID_FS_VERSION")),
            ],
            1.0,
        );
    }
    if !get("DM_NAME").is_empty() {
        out.gauge("node_disk_device_mapper_info", "Info about disk device mapper.").sample(
            &[
                ("device", dev),
                ("lv_layer", get("DM_LV_LAYER")),
                ("lv_name", get("DM_LV_NAME")),
                ("name", get("DM_NAME")),
                ("uuid", get("DM_UUID")),
                ("vg_name", get("DM_VG_NAME")),
            ],
            1.0,
        );
        let fam = out.gauge(
            "node_disk_device_mapper_backing_device_info",
            "Info about the underlying block devices of a device mapper device.",
        );
        for b in &extra.backing {
            fam.sample(&[("backing_device", b), ("device", dev)], 1.0);
        }
    }
    if !get("ID_ATA").is_empty() {
        for (key, name, help) in ATA {
            match info.get(key).map(|v| v.parse::<f64>()) {
                Some(Ok(v)) => {
                    out.gauge(name, help).sample(&[("device", dev)], v);
                }
                Some(Err(_)) => tracing::debug!(device = dev, attribute = key, "Failed to parse ATA value"),
                None => {}
            }
        }
    }
}

impl Diskstats {
    fn extra(&self, disk: &Disk) -> Extra {
        let mut extra = Extra::default();
        if let Some(dir) = &self.udev
            && let Ok(s) = std::fs::read_to_string(dir.join(format!("b{}:{}", disk.major, disk.minor)))
        {
            extra.udev = parse_udev(&s);
        }
        // Device names never contain '/', but the file is external input.
        if disk.name.contains('/') || disk.name.starts_with('.') {
            return extra;
        }
        let dev = self.block.join(&disk.name);
        extra.rotational = oxporter_core::kept::with_whole(&dev.join("queue/rotational"), 4096, |b| {
            std::str::from_utf8(b).ok()?.trim().parse().ok()
        })
        .ok()
        .flatten()
        .unwrap_or(0);
        if extra.udev.contains_key("DM_NAME")
            && let Ok(rd) = std::fs::read_dir(dev.join("slaves"))
        {
            extra.backing = rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            extra.backing.sort();
        }
        extra
    }
}

impl BlockingCollector for Diskstats {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        for disk in parse(&read_file(&self.path)?)? {
            if self.filter.ignored(&disk.name) {
                continue;
            }
            emit(&disk, &self.extra(&disk), out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxporter_core::model::Value;

    fn value(out: &Snapshot, name: &str, dev: &str) -> Option<f64> {
        let f = out.get(name)?;
        f.samples.iter().find(|s| s.labels.iter().any(|(k, v)| k == "device" && v == dev)).and_then(|s| match s.value {
            Value::Scalar(v) => Some(v),
            _ => None,
        })
    }

    #[test]
    fn real_sample_with_default_filter() {
        let filter = NameFilter::new(DEFAULT_EXCLUDE, "").expect("valid");
        let mut out = Snapshot::new();
        for d in parse(include_str!("../../testdata/proc/diskstats")).expect("parses") {
            if !filter.ignored(&d.name) {
                emit(&d, &Extra::default(), &mut out);
            }
        }
        assert!(value(&out, "node_disk_reads_completed_total", "vda").is_some());
        assert!(value(&out, "node_disk_flush_requests_time_seconds_total", "vda").is_some());
        // 1.9+ excludes zram devices too (1.5 did not).
        assert!(value(&out, "node_disk_reads_completed_total", "zram0").is_none());
        assert!(value(&out, "node_disk_reads_completed_total", "loop0").is_none());
    }

    #[test]
    fn scaling_and_field_counts() {
        let d = parse(" 8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n").expect("11 counters");
        let mut out = Snapshot::new();
        emit(&d[0], &Extra::default(), &mut out);
        assert_eq!(value(&out, "node_disk_read_bytes_total", "sda"), Some(3.0 * 512.0));
        assert_eq!(value(&out, "node_disk_read_time_seconds_total", "sda"), Some(0.004));
        assert_eq!(value(&out, "node_disk_io_time_weighted_seconds_total", "sda"), Some(0.011));
        assert!(out.get("node_disk_discards_completed_total").is_none());
        let d = parse(" 8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n").expect("more counters");
        assert_eq!(d[0].stats.len(), 17);
    }

    #[test]
    fn udev_extras() {
        let udev = parse_udev(
            "S:disk/by-id/x\nE:ID_FS_TYPE=ext4\nE:ID_FS_UUID=abc\nE:DM_NAME=vg-lv\nE:ID_ATA=1\nE:ID_ATA_WRITE_CACHE=1\nE:ID_ATA_ROTATION_RATE_RPM=x\nE:ID_SERIAL=virt_1\nE:BAD\n",
        );
        let extra = Extra { udev, rotational: 1, backing: vec!["sda".into(), "sdb".into()] };
        let d = parse("253 0 dm-0 1 2 3 4 5 6 7 8 9 10 11\n").expect("parses");
        let mut out = Snapshot::new();
        emit(&d[0], &extra, &mut out);
        let info = &out.get("node_disk_info").expect("info").samples[0];
        assert!(info.labels.iter().any(|(k, v)| k == "serial" && v == "virt_1"));
        assert!(info.labels.iter().any(|(k, v)| k == "rotational" && v == "1"));
        assert!(out.get("node_disk_filesystem_info").is_some());
        assert_eq!(out.get("node_disk_device_mapper_backing_device_info").expect("backing").samples.len(), 2);
        assert!(out.get("node_disk_ata_write_cache").is_some());
        assert!(out.get("node_disk_ata_rotation_rate_rpm").is_none(), "unparsable value skipped");
    }

    #[test]
    fn garbage() {
        for bad in [
            "8 0 sda 1 2 3",
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 x",
            "x 0 sda 1 2 3 4 5 6 7 8 9 10 11",
            "-1 0 sda 1 2 3 4 5 6 7 8 9 10 11",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("\n\n").expect("blank ok").is_empty());
    }
}
