//! `btrfs`: Btrfs filesystems from `/sys/fs/btrfs/<uuid>` (`node_btrfs_*`): allocation per block group type and
//! layout, global reserve, commit statistics and device sizes; and, as node_exporter does, per-device sizes, unused
//! bytes and error counters asked from each mounted filesystem with ioctls (see [`crate::btrfs_ioctl`]).
//!
//! Filesystems whose ioctls answer get `node_btrfs_device_size_bytes`, `node_btrfs_device_unused_bytes` and
//! `node_btrfs_device_errors_total` with a `btrfs_dev_uuid` label; the others (not mounted here, no permission)
//! get the sysfs device sizes without it, as in node_exporter.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::filesystem::{Mount, parse_mountinfo, strip_rootfs};
use super::read_file;
use crate::args::Args;
use crate::btrfs_ioctl::{self, DEV_STAT_VALUES, FsInfo, Handle, Kernel};
use crate::sysfs::{read_attr, sorted_entries};

/// Sysfs reports device sizes in 512-byte sectors.
const SECTOR_SIZE: u64 = 512;

/// One layout (`single`, `dup`, `raid1`, …) of a block group type.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Layout {
    /// `total_bytes`.
    pub total: u64,
    /// `used_bytes`.
    pub used: u64,
    /// Raw-to-logical ratio of the layout.
    pub ratio: f64,
}

/// One block group type (`data`, `metadata`, `system`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allocation {
    /// `bytes_reserved`.
    pub reserved: u64,
    /// Layouts by name.
    pub layouts: BTreeMap<String, Layout>,
}

/// The statistics of one filesystem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// UUID (`metadata_uuid`, else the directory name).
    pub uuid: String,
    /// `label`.
    pub label: String,
    /// `allocation/global_rsv_size`.
    pub global_rsv_size: u64,
    /// `data`, `metadata` and `system`, in that order.
    pub allocations: Vec<(&'static str, Allocation)>,
    /// Device sizes in bytes by device name.
    pub devices: BTreeMap<String, u64>,
    /// `commit_stats` (kernel 6.0+): commits, last, max and total commit time in ms.
    pub commits: [u64; 4],
}

/// Reads an attribute as node_exporter's procfs library does: a missing file reads as empty; any other error
/// (permission, I/O) fails the filesystem.
fn read_str(dir: &Path, rel: &str) -> Result<String, CollectError> {
    let p = dir.join(rel);
    match read_attr(&p) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(CollectError::io(p.display(), e)),
    }
}

/// A numeric attribute: missing or unparsable reads as 0, as in the procfs library (attributes come and go
/// between kernels: `total_bytes_pinned` is gone since 5.x).
fn read_u64(dir: &Path, rel: &str) -> Result<u64, CollectError> {
    Ok(read_str(dir, rel)?.parse().unwrap_or(0))
}

/// A directory that must exist (`devices`, `features`, the allocation types), as the library's listing requires.
fn list(dir: &Path) -> Result<Vec<(String, PathBuf)>, CollectError> {
    sorted_entries(dir).map_err(|e| CollectError::io(dir.display(), e))
}

/// The raw-to-logical ratio of a layout for `devices` devices (0 for unknown layouts).
pub fn ratio(layout: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match layout {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        "raid1c3" => 3.0,
        "raid1c4" => 4.0,
        _ => 0.0,
    }
}

/// Parses `commit_stats`: `<name> <value>` lines.
pub fn parse_commit_stats(content: &str) -> Result<[u64; 4], CollectError> {
    let mut out = [0u64; 4];
    for line in content.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [name, value] = parts.as_slice() else {
            return Err(CollectError::Parse(format!("invalid commit_stats line {line:?}")));
        };
        let v: u64 = value.parse().map_err(|_| CollectError::Parse(format!("invalid commit_stats line {line:?}")))?;
        let slot = match *name {
            "commits" => 0,
            "last_commit_ms" => 1,
            "max_commit_ms" => 2,
            "total_commit_ms" => 3,
            _ => continue,
        };
        out[slot] = v;
    }
    Ok(out)
}

/// Reads one `/sys/fs/btrfs/<uuid>` directory. Missing attributes read as 0 (and `label`, `metadata_uuid` as
/// empty); the `devices` and `features` directories and the allocation type directories must exist;
/// `commit_stats` (kernel 6.0+) may be missing but must parse when present.
pub fn read_stats(dir: &Path) -> Result<Stats, CollectError> {
    let devices_dir = dir.join("devices");
    let mut devices = BTreeMap::new();
    for (name, _) in list(&devices_dir)? {
        let size = read_u64(&devices_dir, &format!("{name}/size"))?;
        devices.insert(name, size.saturating_mul(SECTOR_SIZE));
    }
    let label = read_str(dir, "label")?;
    let uuid = read_str(dir, "metadata_uuid")?;
    list(&dir.join("features"))?;
    for f in ["clone_alignment", "nodesize", "quota_override", "sectorsize", "allocation/global_rsv_reserved"] {
        read_u64(dir, f)?;
    }
    let global_rsv_size = read_u64(dir, "allocation/global_rsv_size")?;
    let mut allocations = Vec::new();
    for kind in ["data", "metadata", "system"] {
        let a = dir.join("allocation").join(kind);
        for f in [
            "bytes_may_use",
            "bytes_pinned",
            "bytes_readonly",
            "bytes_used",
            "disk_used",
            "disk_total",
            "flags",
            "total_bytes",
            "total_bytes_pinned",
        ] {
            read_u64(&a, f)?;
        }
        let mut alloc = Allocation { reserved: read_u64(&a, "bytes_reserved")?, layouts: BTreeMap::new() };
        for (name, path) in list(&a)? {
            if !std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            let layout = Layout {
                total: read_u64(&path, "total_bytes")?,
                used: read_u64(&path, "used_bytes")?,
                ratio: ratio(&name, devices.len()),
            };
            alloc.layouts.insert(name, layout);
        }
        allocations.push((kind, alloc));
    }
    let commits = match crate::sysfs::read_once(&dir.join("commit_stats"), 64 * 1024) {
        Ok(c) => parse_commit_stats(&c)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => [0; 4],
        Err(e) => return Err(CollectError::io(dir.join("commit_stats").display(), e)),
    };
    Ok(Stats { uuid, label, global_rsv_size, allocations, devices, commits })
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Btrfs::new(args, Arc::new(btrfs_ioctl::RealKernel))))
}

struct Btrfs {
    dir: PathBuf,
    /// `<procfs>/1/mountinfo`, then `<procfs>/self/mountinfo` (where PID 1's is hidden).
    mountinfo: [PathBuf; 2],
    rootfs: PathBuf,
    kernel: Arc<dyn Kernel>,
}

impl Btrfs {
    fn new(args: &Args, kernel: Arc<dyn Kernel>) -> Btrfs {
        Btrfs {
            dir: args.sys_path("fs/btrfs"),
            mountinfo: [args.proc_path("1/mountinfo"), args.proc_path("self/mountinfo")],
            rootfs: args.rootfs.clone(),
            kernel,
        }
    }

    fn mounts(&self) -> Result<Vec<Mount>, CollectError> {
        let content = match read_file(&self.mountinfo[0]) {
            Err(e) if e.is_no_data() => read_file(&self.mountinfo[1])?,
            r => r?,
        };
        parse_mountinfo(&content)
    }
}

/// The error counters of `BTRFS_IOC_GET_DEV_STATS`, in the kernel's order, by node_exporter's `type` label.
pub const ERROR_TYPES: [&str; DEV_STAT_VALUES] = ["write", "read", "flush", "corruption", "generation"];

/// One device of a filesystem as the ioctls report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoctlDevice {
    /// The last component of the device path (`loop0` for `/dev/loop0`).
    pub device: String,
    /// The device UUID, formatted as node_exporter's library does.
    pub uuid: String,
    /// Bytes allocated on the device.
    pub bytes_used: u64,
    /// The device's size.
    pub total_bytes: u64,
    /// Error counters in [`ERROR_TYPES`] order.
    pub errors: [u64; DEV_STAT_VALUES],
}

/// Asks one filesystem for its devices: `DEV_INFO` for each id from 0 to `max_id` (unused ids answer `ENODEV` and
/// are skipped), `GET_DEV_STATS` for each device found, stopping once `num_devices` are found or at `deadline`.
pub fn query_devices(h: &dyn Handle, info: &FsInfo, deadline: Instant) -> std::io::Result<Vec<IoctlDevice>> {
    let mut devices = Vec::new();
    for devid in 0..=info.max_id {
        if Instant::now() >= deadline {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "scrape deadline"));
        }
        let dev = match h.dev_info(devid) {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) => continue,
            Err(e) => return Err(e),
        };
        let errors = h.dev_stats(devid)?;
        devices.push(IoctlDevice {
            device: dev.path.rsplit('/').next().unwrap_or_default().to_owned(),
            uuid: btrfs_ioctl::uuid_string(&dev.uuid),
            bytes_used: dev.bytes_used,
            total_bytes: dev.total_bytes,
            errors,
        });
        if devices.len() as u64 == info.num_devices {
            break;
        }
    }
    Ok(devices)
}

/// The devices of every Btrfs filesystem mounted in `mounts` that answers the ioctls, by filesystem id (32 hex
/// digits, the sysfs UUID without dashes). Each filesystem is asked once: a mount of a device already done, or of a
/// filesystem already found through another device, is skipped; a mount point that fails is logged at debug level
/// and the next mount of the same filesystem is tried (node_exporter's rules).
pub fn ioctl_stats(
    kernel: &dyn Kernel,
    mounts: &[Mount],
    rootfs: &Path,
    deadline: Instant,
) -> HashMap<String, Vec<IoctlDevice>> {
    let mut devices_done: HashSet<&str> = HashSet::new();
    let mut found: HashMap<String, Vec<IoctlDevice>> = HashMap::new();
    for m in mounts.iter().filter(|m| m.fs_type == "btrfs") {
        if devices_done.contains(m.device.as_str()) || Instant::now() >= deadline {
            continue;
        }
        // The mount point as seen from --path.rootfs.
        let stripped = strip_rootfs(rootfs, &m.mount_point);
        let path = rootfs.join(stripped.trim_start_matches('/'));
        let result = kernel.open(&path).and_then(|h| {
            let info = h.fs_info()?;
            let fsid = btrfs_ioctl::fsid_hex(&info.fsid);
            if found.contains_key(&fsid) {
                return Ok(None);
            }
            Ok(Some((fsid, query_devices(h.as_ref(), &info, deadline)?)))
        });
        match result {
            Ok(Some((fsid, devices))) => {
                devices_done.insert(&m.device);
                found.insert(fsid, devices);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(mount_point = %path.display(), error = %e, "Error querying btrfs mountpoint"),
        }
    }
    found
}

/// Writes one filesystem's metrics; `ioctl` holds its devices when the ioctls answered.
pub fn emit(out: &mut Snapshot, s: &Stats, ioctl: Option<&[IoctlDevice]>) {
    let uuid = s.uuid.as_str();
    out.gauge("node_btrfs_info", "Filesystem information").sample(&[("label", &s.label), ("uuid", uuid)], 1.0);
    out.gauge("node_btrfs_global_rsv_size_bytes", "Size of global reserve.")
        .sample(&[("uuid", uuid)], s.global_rsv_size as f64);
    out.counter("node_btrfs_commits_total", "The total number of commits that have occurred.")
        .sample(&[("uuid", uuid)], s.commits[0] as f64);
    out.gauge("node_btrfs_last_commit_seconds", "Duration of the most recent commit, in seconds.")
        .sample(&[("uuid", uuid)], s.commits[1] as f64 / 1000.0);
    out.gauge("node_btrfs_max_commit_seconds", "Duration of the slowest commit, in seconds.")
        .sample(&[("uuid", uuid)], s.commits[2] as f64 / 1000.0);
    out.counter("node_btrfs_commit_seconds_total", "Sum of the duration of all commits, in seconds.")
        .sample(&[("uuid", uuid)], s.commits[3] as f64 / 1000.0);
    for (kind, a) in &s.allocations {
        out.gauge("node_btrfs_reserved_bytes", "Amount of space reserved for a data type")
            .sample(&[("block_group_type", kind), ("uuid", uuid)], a.reserved as f64);
        for (mode, l) in &a.layouts {
            let labels = [("block_group_type", *kind), ("mode", mode.as_str()), ("uuid", uuid)];
            out.gauge("node_btrfs_used_bytes", "Amount of used space by a layout/data type")
                .sample(&labels, l.used as f64);
            out.gauge("node_btrfs_size_bytes", "Amount of space allocated for a layout/data type")
                .sample(&labels, l.total as f64);
            out.gauge("node_btrfs_allocation_ratio", "Data allocation ratio for a layout/data type")
                .sample(&labels, l.ratio);
        }
    }
    let size_help = "Size of a device that is part of the filesystem.";
    let Some(devices) = ioctl else {
        for (device, size) in &s.devices {
            out.gauge("node_btrfs_device_size_bytes", size_help)
                .sample(&[("device", device), ("uuid", uuid)], *size as f64);
        }
        return;
    };
    for d in devices {
        let labels = [("btrfs_dev_uuid", d.uuid.as_str()), ("device", d.device.as_str()), ("uuid", uuid)];
        out.gauge("node_btrfs_device_size_bytes", size_help).sample(&labels, d.total_bytes as f64);
        // Wrapping, as node_exporter's unsigned subtraction.
        out.gauge("node_btrfs_device_unused_bytes", "Unused bytes unused on a device that is part of the filesystem.")
            .sample(&labels, d.total_bytes.wrapping_sub(d.bytes_used) as f64);
        for (kind, n) in ERROR_TYPES.iter().zip(d.errors) {
            out.counter("node_btrfs_device_errors_total", "Errors reported for the device").sample(
                &[("btrfs_dev_uuid", d.uuid.as_str()), ("device", d.device.as_str()), ("type", kind), ("uuid", uuid)],
                n as f64,
            );
        }
    }
}

impl BlockingCollector for Btrfs {
    fn collect(&self, ctx: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        // Filesystems are the `<uuid>` directories (with a '-'); `features` and `bdi` are not.
        let dirs: Vec<(String, PathBuf)> =
            sorted_entries(&self.dir).unwrap_or_default().into_iter().filter(|(n, _)| n.contains('-')).collect();
        let mut all = Vec::new();
        for (name, dir) in dirs {
            let mut s = read_stats(&dir)
                .map_err(|e| CollectError::Other(format!("failed to retrieve Btrfs stats from procfs: {e}")))?;
            if s.uuid.is_empty() {
                s.uuid = name;
            }
            all.push(s);
        }
        if all.is_empty() {
            return Ok(());
        }
        let ioctl = match self.mounts() {
            Ok(mounts) => ioctl_stats(self.kernel.as_ref(), &mounts, &self.rootfs, ctx.deadline),
            Err(e) => {
                tracing::debug!(error = %e, "Error querying btrfs device stats with ioctl");
                HashMap::new()
            }
        };
        for s in &all {
            // Matched by filesystem UUID without dashes.
            emit(out, s, ioctl.get(&s.uuid.replace('-', "")).map(Vec::as_slice));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sysfs::testing::{fixture, garbage, render};

    #[test]
    fn fixture_tree() {
        let c = Btrfs {
            dir: fixture("hardware/sys/fs/btrfs"),
            mountinfo: [fixture("hardware/proc/1/mountinfo"), fixture("hardware/proc/self/mountinfo")],
            rootfs: fixture("hardware"),
            kernel: Arc::new(btrfs_ioctl::RealKernel),
        };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        let u = "0abb23a9-579b-43e6-ad30-227ef47fcb9d";
        for line in [
            format!("node_btrfs_info{{label=\"fixture\",uuid=\"{u}\"}} 1"),
            format!("node_btrfs_global_rsv_size_bytes{{uuid=\"{u}\"}} 1.6777216e+07"),
            format!("node_btrfs_reserved_bytes{{block_group_type=\"data\",uuid=\"{u}\"}} 0"),
            format!("node_btrfs_used_bytes{{block_group_type=\"data\",mode=\"raid5\",uuid=\"{u}\"}} 8.08189952e+08"),
            format!(
                "node_btrfs_allocation_ratio{{block_group_type=\"data\",mode=\"raid5\",uuid=\"{u}\"}} 1.3333333333333333"
            ),
            format!("node_btrfs_allocation_ratio{{block_group_type=\"metadata\",mode=\"raid1\",uuid=\"{u}\"}} 2"),
            format!("node_btrfs_device_size_bytes{{device=\"loop25\",uuid=\"{u}\"}} 1.073741824e+10"),
            format!("node_btrfs_commits_total{{uuid=\"{u}\"}} 258051"),
            format!("node_btrfs_max_commit_seconds{{uuid=\"{u}\"}} 51.462"),
        ] {
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
    }

    /// A stand-in for the kernel: filesystems by mount point; unknown paths fail to open (`EACCES`), unknown device
    /// ids answer `ENODEV`, a device without counters answers `EPERM` to `GET_DEV_STATS`.
    #[derive(Default)]
    struct FakeKernel {
        filesystems: HashMap<PathBuf, FakeFs>,
        opened: std::sync::Mutex<Vec<PathBuf>>,
    }

    #[derive(Clone)]
    struct FakeFs {
        info: FsInfo,
        devices: BTreeMap<u64, (btrfs_ioctl::DevInfo, Option<[u64; DEV_STAT_VALUES]>)>,
    }

    impl Kernel for FakeKernel {
        fn open(&self, path: &Path) -> std::io::Result<Box<dyn Handle>> {
            self.opened.lock().expect("lock").push(path.to_owned());
            match self.filesystems.get(path) {
                Some(fs) => Ok(Box::new(fs.clone())),
                None => Err(std::io::Error::from_raw_os_error(13)),
            }
        }
    }

    impl Handle for FakeFs {
        fn fs_info(&self) -> std::io::Result<FsInfo> {
            Ok(self.info)
        }
        fn dev_info(&self, devid: u64) -> std::io::Result<btrfs_ioctl::DevInfo> {
            self.devices.get(&devid).map(|d| d.0.clone()).ok_or_else(|| std::io::Error::from_raw_os_error(19))
        }
        fn dev_stats(&self, devid: u64) -> std::io::Result<[u64; DEV_STAT_VALUES]> {
            self.devices.get(&devid).and_then(|d| d.1).ok_or_else(|| std::io::Error::from_raw_os_error(1))
        }
    }

    fn dev(path: &str, uuid: u8, used: u64, total: u64) -> btrfs_ioctl::DevInfo {
        btrfs_ioctl::DevInfo { uuid: [uuid; 16], bytes_used: used, total_bytes: total, path: path.to_owned() }
    }

    fn mount(device: &str, mount_point: &str, fs_type: &str) -> Mount {
        Mount {
            device: device.into(),
            mount_point: mount_point.into(),
            fs_type: fs_type.into(),
            read_only: false,
            major: "0".into(),
            minor: "0".into(),
        }
    }

    /// The fixture tree's filesystem (`0abb23a9-579b-43e6-ad30-227ef47fcb9d`) with devices 1 and 3 (id 2 unused).
    fn fixture_fs() -> FakeFs {
        let fsid = [0x0a, 0xbb, 0x23, 0xa9, 0x57, 0x9b, 0x43, 0xe6, 0xad, 0x30, 0x22, 0x7e, 0xf4, 0x7f, 0xcb, 0x9d];
        FakeFs {
            info: FsInfo { max_id: 3, num_devices: 2, fsid },
            devices: BTreeMap::from([
                (1, (dev("/dev/loop25", 0x11, 1 << 30, 10 << 30), Some([1, 2, 3, 4, 5]))),
                (3, (dev("/rootfs/dev/md1", 0x33, 0, 1 << 30), Some([0; 5]))),
            ]),
        }
    }

    #[test]
    fn ioctl_rules_with_a_stand_in_kernel() {
        let other = FakeFs {
            info: FsInfo { max_id: 1, num_devices: 1, fsid: [0x22; 16] },
            devices: BTreeMap::from([(1, (dev("/dev/sdc", 0x44, 5, 10), None))]),
        };
        let kernel = FakeKernel {
            filesystems: HashMap::from([
                (PathBuf::from("/rootfs/mnt/a"), fixture_fs()),
                (PathBuf::from("/rootfs/mnt/a-again"), fixture_fs()),
                (PathBuf::from("/rootfs/mnt/c"), other),
            ]),
            ..Default::default()
        };
        let mounts = [
            mount("/dev/vda1", "/rootfs", "ext4"),
            // Mount points inside the rootfs are stripped and joined again; the first fails to open.
            mount("/dev/loop25", "/rootfs/mnt/denied", "btrfs"),
            mount("/dev/loop25", "/mnt/a", "btrfs"),
            // Same device again: not opened.
            mount("/dev/loop25", "/mnt/a-bind", "btrfs"),
            // Another device of the same filesystem: opened, recognised by its id, not asked again.
            mount("/dev/md1", "/mnt/a-again", "btrfs"),
            // GET_DEV_STATS refused: the filesystem falls back to sysfs.
            mount("/dev/sdc", "/mnt/c", "btrfs"),
        ];
        let found = ioctl_stats(&kernel, &mounts, Path::new("/rootfs"), Instant::now() + Duration::from_secs(5));
        let opened: Vec<String> = kernel.opened.lock().expect("lock").iter().map(|p| p.display().to_string()).collect();
        assert_eq!(opened, ["/rootfs/mnt/denied", "/rootfs/mnt/a", "/rootfs/mnt/a-again", "/rootfs/mnt/c"]);
        assert_eq!(found.keys().collect::<Vec<_>>(), ["0abb23a9579b43e6ad30227ef47fcb9d"]);
        let devices = &found["0abb23a9579b43e6ad30227ef47fcb9d"];
        assert_eq!(
            devices.iter().map(|d| (d.device.as_str(), d.uuid.as_str())).collect::<Vec<_>>(),
            [("loop25", "11111111-1111-1111-1111-111111111111"), ("md1", "33333333-3333-3333-3333-333333333333")]
        );
        assert_eq!(devices[0].errors, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn device_ids_stop_at_the_count_or_the_deadline() {
        let mut fs = fixture_fs();
        fs.info.max_id = u64::MAX;
        fs.info.num_devices = 1;
        let d = query_devices(&fs, &fs.info, Instant::now() + Duration::from_secs(5)).expect("query");
        assert_eq!(d.len(), 1);
        // More devices announced than exist: the loop over ids ends at the deadline.
        fs.info.num_devices = 3;
        let started = Instant::now();
        let e = query_devices(&fs, &fs.info, Instant::now() + Duration::from_millis(50)).expect_err("deadline");
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
        // Any error other than ENODEV fails the filesystem.
        fs.devices.insert(0, (dev("/dev/x", 1, 0, 0), None));
        assert!(query_devices(&fs, &fs.info, Instant::now() + Duration::from_secs(5)).is_err());
    }

    #[test]
    fn collector_with_ioctls() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("1")).expect("mkdir");
        std::fs::write(
            dir.path().join("1/mountinfo"),
            "30 1 0:40 / /mnt/a rw,relatime shared:1 - btrfs /dev/loop25 rw,space_cache=v2\n",
        )
        .expect("write");
        let kernel =
            FakeKernel { filesystems: HashMap::from([(PathBuf::from("/mnt/a"), fixture_fs())]), ..Default::default() };
        let c = Btrfs {
            dir: fixture("hardware/sys/fs/btrfs"),
            mountinfo: [dir.path().join("1/mountinfo"), dir.path().join("self/mountinfo")],
            rootfs: PathBuf::from("/"),
            kernel: Arc::new(kernel),
        };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        let u = "0abb23a9-579b-43e6-ad30-227ef47fcb9d";
        let d1 = format!("btrfs_dev_uuid=\"11111111-1111-1111-1111-111111111111\",device=\"loop25\",uuid=\"{u}\"");
        let d3 = format!("btrfs_dev_uuid=\"33333333-3333-3333-3333-333333333333\",device=\"md1\",uuid=\"{u}\"");
        for line in [
            "# HELP node_btrfs_device_size_bytes Size of a device that is part of the filesystem.".to_owned(),
            format!("node_btrfs_device_size_bytes{{{d1}}} 1.073741824e+10"),
            format!("node_btrfs_device_size_bytes{{{d3}}} 1.073741824e+09"),
            "# HELP node_btrfs_device_unused_bytes Unused bytes unused on a device that is part of the filesystem."
                .to_owned(),
            "# TYPE node_btrfs_device_unused_bytes gauge".to_owned(),
            format!("node_btrfs_device_unused_bytes{{{d1}}} 9.663676416e+09"),
            "# HELP node_btrfs_device_errors_total Errors reported for the device".to_owned(),
            "# TYPE node_btrfs_device_errors_total counter".to_owned(),
            format!(
                "node_btrfs_device_errors_total{{btrfs_dev_uuid=\"11111111-1111-1111-1111-111111111111\",\
                 device=\"loop25\",type=\"generation\",uuid=\"{u}\"}} 5"
            ),
            format!("node_btrfs_info{{label=\"fixture\",uuid=\"{u}\"}} 1"),
        ] {
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
        // With the ioctls answering, the sysfs device sizes are not reported.
        assert!(!text.contains(&format!("node_btrfs_device_size_bytes{{device=\"loop25\",uuid=\"{u}\"}}")), "{text}");
        assert_eq!(text.matches("node_btrfs_device_errors_total{").count(), 10, "{text}");
    }

    /// The real ioctls on a real Btrfs filesystem, compared with node_exporter 1.5: a 200 MB image made with
    /// `mkfs.btrfs` and loop-mounted inside private mount and PID namespaces (`unshare -mpf --mount-proc`, so the
    /// mount is invisible to the host, `/proc/1/mountinfo` is the namespace's own, and the loop device is released
    /// when the namespace ends). Needs root (for the loop mount) and btrfs-progs; this test runs
    /// [`in_private_mount_namespace`] there.
    #[test]
    fn btrfs_ioctls_on_a_real_filesystem() {
        oxporter_testkit::process::require_binary("mkfs.btrfs", "btrfs-progs");
        oxporter_testkit::process::require_binary("prometheus-node-exporter", "prometheus-node-exporter");
        crate::collectors::testutil::in_namespaces(
            &["-mpf", "--mount-proc", "--propagation", "private"],
            "collectors::btrfs::tests::in_private_mount_namespace",
            "OXPORTER_BTRFS_NAMESPACE",
            "root, for unshare -m and a loop mount",
        );
    }

    /// Run by [`btrfs_ioctls_on_a_real_filesystem`] inside new mount and PID namespaces.
    #[test]
    #[ignore = "runs inside the namespaces btrfs_ioctls_on_a_real_filesystem makes"]
    fn in_private_mount_namespace() {
        use oxporter_testkit::textformat::{Family, must_parse};
        assert_eq!(std::env::var("OXPORTER_BTRFS_NAMESPACE").as_deref(), Ok("1"), "run by the outer test");
        let dir = tempfile::tempdir().expect("tempdir");
        let (img, mnt) = (dir.path().join("fs.img"), dir.path().join("mnt"));
        std::fs::File::create(&img).and_then(|f| f.set_len(200 << 20)).expect("image file");
        std::fs::create_dir(&mnt).expect("mount point");
        let run = |cmd: &str, args: &[&std::ffi::OsStr]| {
            let out = std::process::Command::new(cmd).args(args).output().expect(cmd);
            assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run("mkfs.btrfs", &["-q".as_ref(), "-L".as_ref(), "oxporter-ns".as_ref(), img.as_os_str()]);
        run("mount", &["-o".as_ref(), "loop".as_ref(), img.as_os_str(), mnt.as_os_str()]);

        let parsed = crate::parse_args_from(["oxporter-node", "--collector.disable-defaults", "--collector.btrfs"])
            .expect("flags");
        let c = Btrfs::new(&parsed.args, Arc::new(btrfs_ioctl::RealKernel));
        let mut snap = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(Duration::from_secs(10)), &mut snap).expect("collect");
        let ours = must_parse(&render(snap), "oxporter-node");

        let bin = oxporter_testkit::process::require_binary("prometheus-node-exporter", "prometheus-node-exporter");
        let port = oxporter_testkit::ports::free_port();
        let mut cmd = std::process::Command::new(bin);
        cmd.args([format!("--web.listen-address=127.0.0.1:{port}").as_str(), "--collector.disable-defaults"])
            .arg("--collector.btrfs")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let _anchor = oxporter_testkit::process::ChildGuard::spawn("prometheus-node-exporter", &mut cmd);
        oxporter_testkit::ports::wait_for_port(port, Duration::from_secs(20), "prometheus-node-exporter");
        let text = oxporter_testkit::http::must_get(&format!("http://127.0.0.1:{port}/metrics"), &[]).text();
        let theirs = must_parse(&text, "node_exporter");

        // Our filesystem's series only (the host may have other Btrfs filesystems).
        let uuid = ours
            .iter()
            .find(|f| f.name == "node_btrfs_info")
            .and_then(|f| f.samples.iter().find(|s| s.label("label") == Some("oxporter-ns")))
            .and_then(|s| s.label("uuid"))
            .expect("our filesystem in node_btrfs_info")
            .to_owned();
        // node_btrfs_*commit* came after 1.5 (allowed in tests/compat.rs too).
        let select = |fams: &[Family]| -> BTreeMap<String, BTreeMap<Vec<(String, String)>, f64>> {
            fams.iter()
                .filter(|f| f.name.starts_with("node_btrfs_") && !f.name.contains("commit"))
                .map(|f| {
                    let series = f
                        .samples
                        .iter()
                        .filter(|s| s.label("uuid") == Some(uuid.as_str()))
                        .map(|s| (s.label_key(), s.value))
                        .collect();
                    (f.name.clone(), series)
                })
                .collect()
        };
        let (o, a) = (select(&ours), select(&theirs));
        assert_eq!(o, a, "node_exporter 1.5:\n{text}");
        for name in ["node_btrfs_device_unused_bytes", "node_btrfs_device_errors_total"] {
            assert!(o.get(name).is_some_and(|s| !s.is_empty()), "{name} missing");
        }
        for name in o.keys() {
            let help = |fams: &[Family]| fams.iter().find(|f| &f.name == name).map(|f| (f.help.clone(), f.metric_type));
            assert_eq!(help(&ours), help(&theirs), "HELP and type of {name}");
        }
        println!("the ioctl metrics agree with node_exporter 1.5: {o:?}");
    }

    /// Copies the fixture filesystem directory (sysfs attribute files) into `to`.
    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read_dir").flatten() {
            let dst = to.join(e.file_name());
            if e.path().is_dir() {
                copy_tree(&e.path(), &dst);
            } else {
                std::fs::copy(e.path(), dst).expect("copy");
            }
        }
    }

    /// The procfs library's leniency: attributes newer kernels dropped (`total_bytes_pinned`) or an unparsable
    /// value read as 0; a missing `features` or `devices` directory, or a garbage `commit_stats`, fails.
    #[test]
    fn missing_and_garbage_attributes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let fs = tmp.path().join("0abb23a9-579b-43e6-ad30-227ef47fcb9d");
        copy_tree(&fixture("hardware/sys/fs/btrfs/0abb23a9-579b-43e6-ad30-227ef47fcb9d"), &fs);
        for kind in ["data", "metadata", "system"] {
            let _ = std::fs::remove_file(fs.join(format!("allocation/{kind}/total_bytes_pinned")));
        }
        std::fs::write(fs.join("allocation/global_rsv_size"), "lots\n").expect("write");
        let _ = std::fs::remove_file(fs.join("metadata_uuid"));
        let s = read_stats(&fs).expect("lenient");
        assert_eq!(s.global_rsv_size, 0);
        assert_eq!(s.uuid, "");
        assert_eq!(s.label, "fixture");

        std::fs::write(fs.join("commit_stats"), "commits many\n").expect("write");
        assert!(read_stats(&fs).is_err());
        std::fs::remove_file(fs.join("commit_stats")).expect("rm");
        std::fs::remove_dir_all(fs.join("features")).expect("rm");
        assert!(read_stats(&fs).is_err());
    }

    #[test]
    fn commit_stats_and_ratios() {
        assert_eq!(parse_commit_stats("commits 3\nlast_commit_ms 4\nother 9\n").ok(), Some([3, 4, 0, 0]));
        assert!(parse_commit_stats("commits\n").is_err());
        assert!(parse_commit_stats("commits x\n").is_err());
        assert_eq!(ratio("raid6", 4), 2.0);
        assert_eq!(ratio("weird", 4), 0.0);
        garbage(b"commits last_commit_ms 0123456789\n", "commits 3\nmax_commit_ms 5\n", |s| {
            let _ = parse_commit_stats(s);
        });
    }
}
