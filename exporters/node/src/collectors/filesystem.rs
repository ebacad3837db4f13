//! `filesystem`: size, free space and inodes of mounted filesystems as `node_filesystem_*{device, mountpoint,
//! fstype, device_error}`, plus `node_filesystem_mount_info`.
//!
//! # Stuck mounts
//!
//! `statfs` on a hung NFS, CIFS or FUSE mount blocks in the kernel, possibly forever, and cannot be cancelled.
//! node_exporter calls it inline, so one dead server hangs every later scrape. Here each `statfs` runs on its own
//! thread (taken from a small pool of reusable threads, so a healthy scrape spawns none), and the scrape waits for the answers only until `--collector.filesystem.mount-timeout` or shortly before
//! the scrape deadline, whichever comes first. A mount that has not answered by then is reported with
//! `node_filesystem_device_error{…, device_error="mountpoint timeout"} 1` (node_exporter's label for a mount it
//! considers stuck). Its thread stays blocked in the kernel and *is* the background re-check: while it is
//! outstanding the mount is not asked again (so no thread piles up per scrape, at most one per mount point), and
//! the scrape after it returns asks afresh.
//!
//! Local disk and memory filesystems ([`is_local`]) are the exception: their `statfs` is answered from counters in
//! memory, so it is called on the collector's thread (a thread hand-off per mount cost more than the calls).
//!
//! The `statfs` function is injectable ([`Filesystem::with_statfs`]) so tests can make a mount block forever.
//!
//! # The mount table between scrapes
//!
//! Reading `mountinfo` is one of the costliest files of a scrape (the kernel resolves every mount's path), and the
//! table rarely changes. procfs marks an open `mountinfo` with `POLLPRI` whenever a filesystem is mounted or
//! unmounted in its namespace (proc(5)), so the collector keeps the file open and reuses the filtered table of the
//! last read until a zero-timeout `poll` says it changed. Test trees are plain files, which never raise `POLLPRI`:
//! there the table is read every scrape, as before.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;
use crate::filter::{NameFilter, exclude_include};

/// node_exporter's default mount point exclusion (Linux).
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter's default filesystem type exclusion (Linux).
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";

/// Flags of the filesystem collector.
#[derive(Debug, Clone, clap::Args)]
pub struct FilesystemArgs {
    /// Regexp of mount points to exclude for filesystem collector. (mutually exclusive to mount-points-include)
    /// [default: ^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)]
    #[arg(
        id = "collector.filesystem.mount-points-exclude",
        long = "collector.filesystem.mount-points-exclude",
        value_name = "REGEXP",
        help_heading = "Collector: filesystem"
    )]
    pub mount_points_exclude: Option<String>,
    /// Regexp of mount points to include for filesystem collector. (mutually exclusive to mount-points-exclude)
    #[arg(
        id = "collector.filesystem.mount-points-include",
        long = "collector.filesystem.mount-points-include",
        value_name = "REGEXP",
        help_heading = "Collector: filesystem"
    )]
    pub mount_points_include: Option<String>,
    /// Regexp of mount points to ignore for filesystem collector.
    #[arg(
        id = "collector.filesystem.ignored-mount-points",
        long = "collector.filesystem.ignored-mount-points",
        value_name = "REGEXP",
        hide = true
    )]
    pub ignored_mount_points: Option<String>,
    /// Regexp of filesystem types to exclude for filesystem collector. (mutually exclusive to fs-types-include)
    /// [default: ^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$]
    #[arg(
        id = "collector.filesystem.fs-types-exclude",
        long = "collector.filesystem.fs-types-exclude",
        value_name = "REGEXP",
        help_heading = "Collector: filesystem"
    )]
    pub fs_types_exclude: Option<String>,
    /// Regexp of filesystem types to include for filesystem collector. (mutually exclusive to fs-types-exclude)
    #[arg(
        id = "collector.filesystem.fs-types-include",
        long = "collector.filesystem.fs-types-include",
        value_name = "REGEXP",
        help_heading = "Collector: filesystem"
    )]
    pub fs_types_include: Option<String>,
    /// Regexp of filesystem types to ignore for filesystem collector.
    #[arg(
        id = "collector.filesystem.ignored-fs-types",
        long = "collector.filesystem.ignored-fs-types",
        value_name = "REGEXP",
        hide = true
    )]
    pub ignored_fs_types: Option<String>,
    /// How long to wait for a mount to respond before marking it as stale (never longer than the scrape allows).
    #[arg(id = "collector.filesystem.mount-timeout", long = "collector.filesystem.mount-timeout", value_name = "DURATION", default_value = "5s", value_parser = oxporter_core::cli::parse_duration, hide = true)]
    pub mount_timeout: Duration,
    /// Accepted for compatibility: statfs calls that may hang run on threads of their own, so there is no worker
    /// pool to size.
    #[arg(
        id = "collector.filesystem.stat-workers",
        long = "collector.filesystem.stat-workers",
        value_name = "N",
        default_value_t = 4,
        hide = true
    )]
    pub stat_workers: usize,
}

/// What `statfs` reports, already multiplied out as node_exporter does (`blocks * bsize` etc.).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FsStat {
    /// Total size in bytes.
    pub size: f64,
    /// Free bytes.
    pub free: f64,
    /// Bytes available to unprivileged users.
    pub avail: f64,
    /// Total inodes.
    pub files: f64,
    /// Free inodes.
    pub files_free: f64,
}

/// The `statfs` function the collector calls (replaced in tests).
pub type StatFn = Arc<dyn Fn(&Path) -> std::io::Result<FsStat> + Send + Sync>;

/// The real `statfs(2)`.
pub fn real_statfs(path: &Path) -> std::io::Result<FsStat> {
    let s = rustix::fs::statfs(path)?;
    let bsize = s.f_bsize as f64;
    Ok(FsStat {
        size: s.f_blocks as f64 * bsize,
        free: s.f_bfree as f64 * bsize,
        avail: s.f_bavail as f64 * bsize,
        files: s.f_files as f64,
        files_free: s.f_ffree as f64,
    })
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let a = &args.filesystem;
    let mount_points = exclude_include(
        "collector.filesystem.mount-points",
        a.mount_points_exclude.as_deref(),
        DEFAULT_MOUNT_POINTS_EXCLUDE,
        a.mount_points_include.as_deref(),
        a.ignored_mount_points.as_deref().map(|v| ("collector.filesystem.ignored-mount-points", v)),
    )?;
    let fs_types = exclude_include(
        "collector.filesystem.fs-types",
        a.fs_types_exclude.as_deref(),
        DEFAULT_FS_TYPES_EXCLUDE,
        a.fs_types_include.as_deref(),
        a.ignored_fs_types.as_deref().map(|v| ("collector.filesystem.ignored-fs-types", v)),
    )?;
    Ok(blocking(Filesystem::new(&args.procfs, &args.rootfs, mount_points, fs_types, a.mount_timeout)))
}

/// One mount from `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mount {
    /// Mount source (`/dev/vda`, `tmpfs`, `server:/export`).
    pub device: String,
    /// Mount point as seen from `--path.rootfs`.
    pub mount_point: String,
    /// Filesystem type.
    pub fs_type: String,
    /// Whether the mount or the superblock is read-only.
    pub read_only: bool,
    /// Device major number.
    pub major: String,
    /// Device minor number.
    pub minor: String,
}

/// Parses `/proc/<pid>/mountinfo`:
/// `id parent major:minor root mountpoint options [optional…] - fstype source superoptions`.
/// Mount points have `\040` and `\011` translated to space and tab (fstab(5)), as node_exporter does.
pub fn parse_mountinfo(content: &str) -> Result<Vec<Mount>, CollectError> {
    let mut out = Vec::new();
    for line in content.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || {
            CollectError::Parse(format!("mountinfo: malformed line {:?}", line.chars().take(80).collect::<String>()))
        };
        let (left, right) = line.split_once(" - ").ok_or_else(bad)?;
        let mut l = super::fields(left);
        let mut r = super::fields(right);
        let (Some(_), Some(_), Some(numbers), Some(_), Some(mount_point), Some(mount_opts)) =
            (l.next(), l.next(), l.next(), l.next(), l.next(), l.next())
        else {
            return Err(bad());
        };
        let (Some(fs_type), Some(device)) = (r.next(), r.next()) else {
            return Err(bad());
        };
        let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
        let (major, minor) = (major.parse::<u32>().map_err(|_| bad())?, minor.parse::<u32>().map_err(|_| bad())?);
        let opts = |s: &str| s.split(',').any(|o| o == "ro");
        // Escapes are rare: most mount points are copied as they are.
        let mount_point = if mount_point.contains('\\') {
            mount_point.replace("\\040", " ").replace("\\011", "\t")
        } else {
            mount_point.to_owned()
        };
        out.push(Mount {
            device: device.to_owned(),
            mount_point,
            fs_type: fs_type.to_owned(),
            read_only: opts(mount_opts) || r.next().is_some_and(opts),
            major: major.to_string(),
            minor: minor.to_string(),
        });
    }
    Ok(out)
}

/// `path` with the rootfs prefix removed (whole path components only), `/` for the rootfs itself.
pub fn strip_rootfs(rootfs: &Path, path: &str) -> String {
    if rootfs == Path::new("/") {
        return path.to_owned();
    }
    match Path::new(path).strip_prefix(rootfs) {
        Ok(rest) if rest.as_os_str().is_empty() => "/".to_owned(),
        Ok(rest) => format!("/{}", rest.display()),
        Err(_) => path.to_owned(),
    }
}

/// The collector; see the module documentation for how stuck mounts are handled.
pub struct Filesystem {
    mountinfo: [PathBuf; 2],
    rootfs: PathBuf,
    mount_points: NameFilter,
    fs_types: NameFilter,
    mount_timeout: Duration,
    statfs: StatFn,
    /// Paths whose `statfs` call has not returned yet.
    in_flight: Arc<Mutex<HashSet<PathBuf>>>,
    pool: Arc<Pool>,
    /// The filtered mount table of an earlier scrape, while the kernel says it has not changed.
    known: Mutex<Option<KnownMounts>>,
    /// How often `mountinfo` was read and parsed (for the tests of [`KnownMounts`]).
    reads: std::sync::atomic::AtomicUsize,
}

/// A filtered mount table and the open procfs `mountinfo` it was read from, which `poll` marks with `POLLPRI`
/// after any mount or unmount in its namespace.
struct KnownMounts {
    watch: File,
    mounts: Arc<Vec<Mount>>,
}

/// Whether the mount table behind `watch` changed since it was opened or last polled (procfs clears the mark as it
/// reports it). Any error counts as a change, so the table is read again.
fn mount_table_changed(watch: &File) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(watch, PollFlags::PRI)];
    !matches!(poll(&mut fds, Some(&Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(0))
}

/// Whether `file` is on procfs (only there does `POLLPRI` mean a changed mount table).
fn is_procfs(file: &File) -> bool {
    rustix::fs::fstatfs(file).is_ok_and(|st| st.f_type == rustix::fs::PROC_SUPER_MAGIC)
}

impl Filesystem {
    /// A collector reading `<procfs>/1/mountinfo` (or `<procfs>/self/mountinfo` where PID 1's is hidden).
    pub fn new(
        procfs: &Path,
        rootfs: &Path,
        mount_points: NameFilter,
        fs_types: NameFilter,
        mount_timeout: Duration,
    ) -> Self {
        Filesystem {
            mountinfo: [procfs.join("1/mountinfo"), procfs.join("self/mountinfo")],
            rootfs: rootfs.to_owned(),
            mount_points,
            fs_types,
            mount_timeout,
            statfs: Arc::new(real_statfs),
            in_flight: Arc::new(Mutex::new(HashSet::new())),
            pool: Arc::new(Pool::default()),
            known: Mutex::new(None),
            reads: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Replaces the `statfs` function (the test seam).
    pub fn with_statfs(mut self, f: StatFn) -> Self {
        self.statfs = f;
        self
    }

    /// The number of `statfs` calls that have not returned (at most one per mount point).
    pub fn stuck_count(&self) -> usize {
        self.in_flight.lock().map(|s| s.len()).unwrap_or_else(|p| p.into_inner().len())
    }

    /// The mount table, read and parsed, with the index in `self.mountinfo` of the file it came from.
    fn mounts(&self) -> Result<(Vec<Mount>, usize), CollectError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (content, from) = match read_file(&self.mountinfo[0]) {
            Err(e) if e.is_no_data() => {
                tracing::debug!(error = %e, "Reading root mounts failed, falling back to self mounts");
                (read_file(&self.mountinfo[1])?, 1)
            }
            r => (r?, 0),
        };
        Ok((parse_mountinfo(&content)?, from))
    }

    /// The mounts to report (rootfs prefix removed, filters applied, each device, mount point and type once): the
    /// table of an earlier scrape while `mountinfo` says it has not changed, else read afresh.
    fn current_mounts(&self) -> Result<Arc<Vec<Mount>>, CollectError> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = known.as_ref()
            && !mount_table_changed(&k.watch)
        {
            return Ok(Arc::clone(&k.mounts));
        }
        *known = None;
        // Opened before the read: a mount or unmount after the read still marks the file for the next scrape.
        let mut watches = self.mountinfo.each_ref().map(|p| File::open(p).ok().filter(is_procfs));
        let (all, from) = self.mounts()?;
        let mut seen = HashSet::new();
        let mut mounts = Vec::new();
        for mut m in all {
            m.mount_point = strip_rootfs(&self.rootfs, &m.mount_point);
            if self.mount_points.ignored(&m.mount_point) || self.fs_types.ignored(&m.fs_type) {
                continue;
            }
            // The same mount listed twice with the same labels is exported once (both have the same path, so
            // the same statfs outcome).
            if seen.insert((m.device.clone(), m.mount_point.clone(), m.fs_type.clone())) {
                mounts.push(m);
            }
        }
        let mounts = Arc::new(mounts);
        if let Some(watch) = watches[from].take() {
            *known = Some(KnownMounts { watch, mounts: Arc::clone(&mounts) });
        }
        Ok(mounts)
    }

    /// `statfs(path)` on this thread, for a local filesystem (see [`is_local`]). It is still recorded as outstanding
    /// while it runs: should it hang after all, this collector misses that one scrape, and later scrapes report
    /// the mount as stuck without asking it again.
    fn stat_here(&self, path: &Path) -> Outcome {
        if !self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_owned()) {
            return Outcome::Timeout;
        }
        let res = (self.statfs)(path);
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(path);
        match res {
            Ok(s) => Outcome::Stat(s),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "Error on statfs() system call");
                Outcome::Error(go_error_text(&e))
            }
        }
    }

    /// Starts `statfs(path)` on its own thread unless one is still outstanding for `path`. Returns false when the
    /// path is stuck.
    fn start(&self, path: &Path, tx: &mpsc::Sender<Reply>) -> bool {
        {
            let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if !set.insert(path.to_owned()) {
                return false;
            }
        }
        if let Err(e) = self.pool.submit((path.to_owned(), tx.clone()), &self.statfs, &self.in_flight) {
            self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(path);
            let _ = tx.send((path.to_owned(), Err(e)));
        }
        true
    }
}

/// Whether `statfs` on a filesystem of this type is answered from memory by the local kernel: disk filesystems
/// keep their free-space counters in memory and memory filesystems have nothing else. Those are asked on the
/// collector's own thread; network, FUSE and every other type (whose `statfs` may wait for a server or a user-space
/// daemon) on a thread of their own, so a hung one cannot hold the scrape. Handing a call to another thread and
/// back costs more than the call itself (a tenth of a node scrape's CPU went to such thread switches).
pub fn is_local(fs_type: &str) -> bool {
    matches!(
        fs_type,
        "ext2"
            | "ext3"
            | "ext4"
            | "xfs"
            | "btrfs"
            | "vfat"
            | "exfat"
            | "f2fs"
            | "tmpfs"
            | "ramfs"
            | "devtmpfs"
            | "hugetlbfs"
            | "squashfs"
            | "iso9660"
    )
}

/// A `statfs` answer: the path asked and the result.
type Reply = (PathBuf, std::io::Result<FsStat>);
/// A `statfs` request: the path and where to answer.
type Job = (PathBuf, mpsc::Sender<Reply>);

/// Threads that run `statfs` calls, one call at a time each. A thread whose call hangs stays with it; the others
/// go back to the idle list, so a scrape reuses threads instead of spawning one per mount (the pool grows to the
/// number of mounts asked at once, plus the stuck ones).
#[derive(Default)]
struct Pool {
    idle: Mutex<Vec<mpsc::Sender<Job>>>,
}

/// Idle threads kept at most; more exit after their call.
const MAX_IDLE: usize = 64;

impl Pool {
    fn submit(
        self: &Arc<Self>,
        mut job: Job,
        statfs: &StatFn,
        in_flight: &Arc<Mutex<HashSet<PathBuf>>>,
    ) -> std::io::Result<()> {
        loop {
            let worker = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(worker) = worker else { break };
            match worker.send(job) {
                Ok(()) => return Ok(()),
                // That thread has gone; try the next.
                Err(mpsc::SendError(j)) => job = j,
            }
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let _ = tx.send(job);
        let (pool, statfs, in_flight) = (self.clone(), statfs.clone(), in_flight.clone());
        std::thread::Builder::new().name("statfs".into()).stack_size(128 * 1024).spawn(move || {
            while let Ok((path, reply)) = rx.recv() {
                let res = statfs(&path);
                in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&path);
                // The scrape may have stopped waiting; then nobody listens, which is fine.
                let _ = reply.send((path, res));
                let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() >= MAX_IDLE {
                    break;
                }
                idle.push(tx.clone());
            }
        })?;
        Ok(())
    }
}

/// The outcome of one mount's `statfs` in a scrape.
#[derive(Debug)]
pub enum Outcome {
    /// Answered.
    Stat(FsStat),
    /// Failed with this message (Go's lower-case errno text).
    Error(String),
    /// Did not answer in time, or is still stuck from an earlier scrape.
    Timeout,
}

/// Writes one mount's metrics as node_exporter 1.9+ does.
pub fn emit(m: &Mount, outcome: &Outcome, out: &mut Snapshot) {
    let err_label = match outcome {
        Outcome::Stat(_) => "",
        Outcome::Error(e) => e.as_str(),
        Outcome::Timeout => "mountpoint timeout",
    };
    // Label names in the sorted order client_golang writes them.
    let labels = [
        ("device", m.device.as_str()),
        ("device_error", err_label),
        ("fstype", m.fs_type.as_str()),
        ("mountpoint", m.mount_point.as_str()),
    ];
    let failed = !matches!(outcome, Outcome::Stat(_));
    out.gauge(
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
    )
    .sample(&labels, if failed { 1.0 } else { 0.0 });
    out.gauge("node_filesystem_readonly", "Filesystem read-only status.")
        .sample(&labels, if m.read_only { 1.0 } else { 0.0 });
    let Outcome::Stat(s) = outcome else { return };
    out.gauge("node_filesystem_size_bytes", "Filesystem size in bytes.").sample(&labels, s.size);
    out.gauge("node_filesystem_free_bytes", "Filesystem free space in bytes.").sample(&labels, s.free);
    out.gauge("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.")
        .sample(&labels, s.avail);
    out.gauge("node_filesystem_files", "Filesystem total file nodes.").sample(&labels, s.files);
    out.gauge("node_filesystem_files_free", "Filesystem total free file nodes.").sample(&labels, s.files_free);
    out.gauge("node_filesystem_mount_info", "Filesystem mount information.").sample(
        &[
            ("device", m.device.as_str()),
            ("major", m.major.as_str()),
            ("minor", m.minor.as_str()),
            ("mountpoint", m.mount_point.as_str()),
        ],
        1.0,
    );
}

/// Go's text for an errno (`permission denied`), which node_exporter puts in the `device_error` label.
fn go_error_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s);
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

impl BlockingCollector for Filesystem {
    fn collect(&self, ctx: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let mounts = self.current_mounts()?;
        // Leave a little of the scrape's time for encoding; never wait past the mount timeout.
        let remaining = ctx.remaining();
        let until = Instant::now()
            + remaining.saturating_sub((remaining / 10).min(Duration::from_millis(100))).min(self.mount_timeout);

        let (tx, rx) = mpsc::channel();
        let mut results: HashMap<PathBuf, Outcome> = HashMap::new();
        let mut pending = 0usize;
        for m in mounts.iter() {
            let path = self.rootfs.join(m.mount_point.trim_start_matches('/'));
            if results.contains_key(&path) {
                continue;
            }
            if is_local(&m.fs_type) {
                let outcome = self.stat_here(&path);
                results.insert(path, outcome);
            } else if self.start(&path, &tx) {
                pending += 1;
                results.insert(path, Outcome::Timeout);
            } else {
                tracing::debug!(mountpoint = %m.mount_point, "Mount point is in an unresponsive state");
                results.insert(path, Outcome::Timeout);
            }
        }
        drop(tx);
        while pending > 0 {
            let Some(wait) = until.checked_duration_since(Instant::now()) else { break };
            match rx.recv_timeout(wait) {
                Ok((path, res)) => {
                    pending -= 1;
                    let outcome = match res {
                        Ok(s) => Outcome::Stat(s),
                        Err(e) => {
                            tracing::debug!(path = %path.display(), error = %e, "Error on statfs() system call");
                            Outcome::Error(go_error_text(&e))
                        }
                    };
                    results.insert(path, outcome);
                }
                Err(_) => break,
            }
        }
        for m in mounts.iter() {
            let path = self.rootfs.join(m.mount_point.trim_start_matches('/'));
            let outcome = results.get(&path).unwrap_or(&Outcome::Timeout);
            if matches!(outcome, Outcome::Timeout) {
                tracing::debug!(mountpoint = %m.mount_point, "Mount point timed out, it is being labeled as stuck and will not be monitored");
            }
            emit(m, outcome, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxporter_core::model::Value;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn parses_real_mountinfo() {
        let mounts = parse_mountinfo(include_str!("../../testdata/proc/1/mountinfo")).expect("parses");
        let root = mounts.iter().find(|m| m.mount_point == "/").expect("root mount");
        assert_eq!(root.device, "/dev/vda");
        assert_eq!(root.fs_type, "ext4");
        assert_eq!((root.major.as_str(), root.minor.as_str()), ("254", "0"));
        assert!(!root.read_only);
        assert!(mounts.iter().any(|m| m.read_only), "the ro tmpfs sample");
    }

    #[test]
    fn mountinfo_edge_cases() {
        let m =
            parse_mountinfo("36 35 98:0 / /mnt/my\\040disk rw,noatime master:1 - ext3 /dev/root ro,errors=continue\n")
                .expect("ok");
        assert_eq!(m[0].mount_point, "/mnt/my disk");
        assert!(m[0].read_only, "super options ro");
        for bad in [
            "garbage",
            "1 2 3:4 / /x rw - ext4",
            "1 2 x / /x rw - ext4 dev rw",
            "1 2 3:4 / - ext4 dev rw",
            "1 2 3:y / /x rw - ext4 dev rw",
        ] {
            assert!(parse_mountinfo(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rootfs_prefix() {
        assert_eq!(strip_rootfs(Path::new("/"), "/home"), "/home");
        assert_eq!(strip_rootfs(Path::new("/rootfs"), "/rootfs/home"), "/home");
        assert_eq!(strip_rootfs(Path::new("/rootfs"), "/rootfs"), "/");
        assert_eq!(strip_rootfs(Path::new("/rootfs"), "/rootfsx"), "/rootfsx");
        assert_eq!(strip_rootfs(Path::new("/rootfs"), "/proc"), "/proc");
    }

    #[test]
    fn default_filters() {
        let mp = NameFilter::new(DEFAULT_MOUNT_POINTS_EXCLUDE, "").expect("valid");
        let ft = NameFilter::new(DEFAULT_FS_TYPES_EXCLUDE, "").expect("valid");
        assert!(mp.ignored("/proc") && mp.ignored("/sys/fs/cgroup") && mp.ignored("/var/lib/docker/overlay2/x"));
        assert!(!mp.ignored("/") && !mp.ignored("/var/lib/docker") && !mp.ignored("/devices"));
        assert!(ft.ignored("cgroup2") && ft.ignored("erofs") && !ft.ignored("ext4") && !ft.ignored("tmpfs"));
    }

    /// A fake procfs with three mounts: `/` answers, `/stuck` blocks until released, `/denied` fails.
    fn fake(dir: &Path) -> PathBuf {
        let proc = dir.join("proc");
        std::fs::create_dir_all(proc.join("self")).expect("mkdir");
        std::fs::write(
            proc.join("self/mountinfo"),
            "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
             2 1 0:50 / /stuck rw - nfs4 server:/export rw\n\
             3 1 0:51 / /denied ro - fuse.sshfs me@host: rw\n\
             4 1 0:5 / /proc rw - proc proc rw\n",
        )
        .expect("write");
        proc
    }

    #[derive(Default)]
    struct Blocker {
        calls: AtomicUsize,
        release: Mutex<bool>,
        cv: std::sync::Condvar,
    }

    fn collector(proc: &Path, blocker: Arc<Blocker>) -> Filesystem {
        let f = Filesystem::new(
            proc,
            Path::new("/"),
            NameFilter::new(DEFAULT_MOUNT_POINTS_EXCLUDE, "").expect("valid"),
            NameFilter::new(DEFAULT_FS_TYPES_EXCLUDE, "").expect("valid"),
            Duration::from_secs(5),
        );
        f.with_statfs(Arc::new(move |p: &Path| match p.to_str() {
            Some("/stuck") => {
                blocker.calls.fetch_add(1, Ordering::SeqCst);
                let mut released = blocker.release.lock().expect("lock");
                while !*released {
                    released = blocker.cv.wait(released).expect("wait");
                }
                Ok(FsStat { size: 2.0, ..FsStat::default() })
            }
            Some("/denied") => Err(std::io::Error::from_raw_os_error(13)),
            _ => Ok(FsStat { size: 100.0, free: 50.0, avail: 40.0, files: 10.0, files_free: 5.0 }),
        }))
    }

    fn sample(out: &Snapshot, name: &str, mp: &str) -> Option<(f64, String)> {
        let f = out.get(name)?;
        let s = f.samples.iter().find(|s| s.labels.iter().any(|(k, v)| k == "mountpoint" && v == mp))?;
        let err = s.labels.iter().find(|(k, _)| k == "device_error").map(|(_, v)| v.to_string()).unwrap_or_default();
        match s.value {
            Value::Scalar(v) => Some((v, err)),
            _ => None,
        }
    }

    #[test]
    fn stuck_mount_never_hangs_a_scrape_nor_piles_up_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let proc = fake(dir.path());
        let blocker =
            Arc::new(Blocker { calls: AtomicUsize::new(0), release: Mutex::new(false), cv: std::sync::Condvar::new() });
        let c = collector(&proc, blocker.clone());

        for round in 0..3 {
            let start = Instant::now();
            // The first round waits for the stuck mount until 100 ms before the deadline: a second, so that the
            // assertion keeps that margin even on a loaded machine.
            let ctx = ScrapeContext::with_timeout(Duration::from_secs(1));
            let mut out = Snapshot::new();
            c.collect(&ctx, &mut out).expect("collects");
            let took = start.elapsed();
            assert!(took < Duration::from_secs(1), "round {round} took {took:?}");
            if round > 0 {
                // Known stuck: no waiting at all.
                assert!(took < Duration::from_millis(100), "round {round} waited {took:?} for a known-stuck mount");
            }
            assert_eq!(
                sample(&out, "node_filesystem_device_error", "/stuck"),
                Some((1.0, "mountpoint timeout".into()))
            );
            assert_eq!(sample(&out, "node_filesystem_size_bytes", "/stuck"), None);
            assert_eq!(sample(&out, "node_filesystem_device_error", "/"), Some((0.0, String::new())));
            assert_eq!(sample(&out, "node_filesystem_size_bytes", "/"), Some((100.0, String::new())));
            assert_eq!(
                sample(&out, "node_filesystem_device_error", "/denied"),
                Some((1.0, "permission denied".into()))
            );
            assert_eq!(sample(&out, "node_filesystem_readonly", "/denied"), Some((1.0, "permission denied".into())));
            assert!(sample(&out, "node_filesystem_device_error", "/proc").is_none(), "excluded by default");
            assert_eq!(blocker.calls.load(Ordering::SeqCst), 1, "the stuck mount is asked once, not once per scrape");
            assert_eq!(c.stuck_count(), 1);
        }

        // The mount answers again: its thread ends, and the next scrape asks it afresh.
        *blocker.release.lock().expect("lock") = true;
        blocker.cv.notify_all();
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.stuck_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(c.stuck_count(), 0);
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(Duration::from_secs(2)), &mut out).expect("collects");
        assert_eq!(sample(&out, "node_filesystem_device_error", "/stuck"), Some((0.0, String::new())));
        assert_eq!(sample(&out, "node_filesystem_size_bytes", "/stuck"), Some((2.0, String::new())));
        assert_eq!(blocker.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn local_filesystems_are_asked_on_the_collectors_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let proc = fake(dir.path());
        let threads = Arc::new(Mutex::new(HashMap::new()));
        let seen = threads.clone();
        let c = Filesystem::new(
            &proc,
            Path::new("/"),
            NameFilter::new(DEFAULT_MOUNT_POINTS_EXCLUDE, "").expect("valid"),
            NameFilter::new(DEFAULT_FS_TYPES_EXCLUDE, "").expect("valid"),
            Duration::from_secs(5),
        )
        .with_statfs(Arc::new(move |p: &Path| {
            seen.lock().expect("lock").insert(p.to_owned(), std::thread::current().id());
            Ok(FsStat::default())
        }));
        c.collect(&ScrapeContext::with_timeout(Duration::from_secs(5)), &mut Snapshot::new()).expect("collects");
        let threads = threads.lock().expect("lock");
        let here = std::thread::current().id();
        assert_eq!(threads.get(Path::new("/")), Some(&here), "ext4: on this thread");
        assert!(threads.get(Path::new("/stuck")).is_some_and(|t| *t != here), "nfs4: on a thread of its own");
        assert!(threads.get(Path::new("/denied")).is_some_and(|t| *t != here), "fuse: on a thread of its own");
        assert!(
            is_local("xfs") && is_local("tmpfs") && !is_local("nfs") && !is_local("fuse.sshfs") && !is_local("zfs")
        );
    }

    #[test]
    fn real_statfs_of_root() {
        let s = real_statfs(Path::new("/")).expect("statfs /");
        assert!(s.size > 0.0 && s.avail <= s.free && s.free <= s.size);
        assert!(real_statfs(Path::new("/definitely/not/here")).is_err());
        assert_eq!(go_error_text(&std::io::Error::from_raw_os_error(2)), "no such file or directory");
    }

    fn real_collector() -> Filesystem {
        Filesystem::new(
            Path::new("/proc"),
            Path::new("/"),
            NameFilter::new(DEFAULT_MOUNT_POINTS_EXCLUDE, "").expect("valid"),
            NameFilter::new(DEFAULT_FS_TYPES_EXCLUDE, "").expect("valid"),
            Duration::from_secs(5),
        )
    }

    fn scrape(c: &Filesystem) -> Snapshot {
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(Duration::from_secs(10)), &mut out).expect("collects");
        out
    }

    #[test]
    fn a_test_tree_is_read_every_scrape() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Released from the start: the tree's stuck mount answers at once here.
        let c = collector(&fake(dir.path()), Arc::new(Blocker { release: Mutex::new(true), ..Blocker::default() }));
        scrape(&c);
        scrape(&c);
        assert_eq!(c.reads.load(Ordering::SeqCst), 2, "plain files never raise POLLPRI, so nothing is kept");
    }

    /// The real mount table is read once and then reused; that a mount or unmount is seen at the next scrape is
    /// [`mount_changes_are_seen_at_the_next_scrape`]'s part.
    #[test]
    fn the_real_mount_table_is_kept_between_scrapes() {
        let c = real_collector();
        let first = scrape(&c);
        let second = scrape(&c);
        assert_eq!(c.reads.load(Ordering::SeqCst), 1, "read once, then kept");
        let mount_points =
            |s: &Snapshot| s.get("node_filesystem_size_bytes").map(|f| f.samples.len()).unwrap_or_default();
        assert!(mount_points(&first) > 0 && mount_points(&first) == mount_points(&second));
    }

    /// Mounts and unmounts a tmpfs inside private mount and PID namespaces (`unshare -mpf --mount-proc`, so
    /// `/proc/1/mountinfo` is the namespace's own and the host's table is untouched); needs root. Runs
    /// [`mount_changes_in_a_private_namespace`] there.
    #[test]
    fn mount_changes_are_seen_at_the_next_scrape() {
        crate::collectors::testutil::in_namespaces(
            &["-mpf", "--mount-proc", "--propagation", "private"],
            "collectors::filesystem::tests::mount_changes_in_a_private_namespace",
            "OXPORTER_MOUNT_NAMESPACE",
            "root, for unshare -m",
        );
    }

    /// Run by [`mount_changes_are_seen_at_the_next_scrape`] inside new mount and PID namespaces.
    #[test]
    #[ignore = "runs inside the namespaces mount_changes_are_seen_at_the_next_scrape makes"]
    fn mount_changes_in_a_private_namespace() {
        assert_eq!(std::env::var("OXPORTER_MOUNT_NAMESPACE").as_deref(), Ok("1"), "run by the outer test");
        let dir = tempfile::tempdir().expect("tempdir");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("mount point");
        let mp = mnt.to_str().expect("UTF-8 temp path").to_owned();
        let run = |args: &[&str]| {
            let out = std::process::Command::new(args[0]).args(&args[1..]).output().expect(args[0]);
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let c = real_collector();
        assert!(sample(&scrape(&c), "node_filesystem_size_bytes", &mp).is_none());
        assert!(sample(&scrape(&c), "node_filesystem_size_bytes", &mp).is_none());
        assert_eq!(c.reads.load(Ordering::SeqCst), 1, "unchanged: read once");

        run(&["mount", "-t", "tmpfs", "-o", "size=1m", "oxporter-test", &mp]);
        let (size, _) = sample(&scrape(&c), "node_filesystem_size_bytes", &mp).expect("the new mount is reported");
        assert_eq!(size, 1048576.0);
        assert_eq!(c.reads.load(Ordering::SeqCst), 2, "the mount made the next scrape read the table");
        scrape(&c);
        assert_eq!(c.reads.load(Ordering::SeqCst), 2);

        run(&["umount", &mp]);
        assert!(sample(&scrape(&c), "node_filesystem_size_bytes", &mp).is_none(), "the unmount is seen");
        assert_eq!(c.reads.load(Ordering::SeqCst), 3);
    }
}
