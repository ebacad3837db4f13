//! Reads of procfs and sysfs files through file descriptors kept open between scrapes.
//!
//! An exporter that reads the same kernel files every scrape spends most of its CPU in the kernel, and much of
//! that in `openat`: walking `/sys/class/net/eth0/...` resolves symlinks and checks permissions on every component,
//! and `close` tears down what the open built. Pseudo-files do not need a new open to show new data: procfs
//! `seq_file`s start over at offset 0, sysfs (kernfs) calls the attribute's `show()` again, `/proc/sys` handlers
//! run again. So a `pread(fd, buf, 0)` on a descriptor opened earlier returns fresh content without path walk,
//! open or close.
//!
//! The rules that keep this correct:
//! - Only files `fstatfs` reports on procfs or sysfs are kept. Regular files (textfile collector input, test
//!   fixture trees, `/etc/os-release`) are opened for every read: a rename replaces them, and a kept descriptor
//!   would go on reading the old file.
//! - A failed read of a kept descriptor (`ENODEV` when the device is gone, `ESRCH` when the process died) drops it
//!   and tries once more with a fresh open: the path may now name a new object (a re-created interface). An error
//!   that a fresh open gave too (`EINVAL` for the speed of a down link) is the file's answer, and the descriptor
//!   stays.
//! - A whole-file read of a sysfs file or a `/proc/sys` file ends at the first read that returns less than it asked
//!   for (and, for sysfs, less than a page: a binary attribute hands out a page per read); other procfs files are
//!   `seq_file`s whose reads return at most a buffer's worth of records however much was asked, so their end is
//!   confirmed by a read that returns 0.
//! - At most [`KeptFiles::capacity`] descriptors are kept (512, and at most a quarter of the soft
//!   `RLIMIT_NOFILE`); beyond that files are opened per read. Descriptors unused for [`IDLE`] are closed when new
//!   ones are added, so those of vanished devices do not pile up.
//! - Directories of procfs and sysfs are kept the same way ([`KeptFiles::list_dir`]: `lseek` to the start and
//!   `getdents64` again). A removed sysfs directory lists as empty instead of failing, so an empty listing of a
//!   kept stream is checked with a fresh open.
//! - [`KeptFiles::forget_changed`] drops the descriptors below a directory entry whose identity changed (an
//!   interface renamed away and another one given its name), which a read alone cannot notice.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Kept descriptors unused for this long are closed when a new one is added.
pub const IDLE: Duration = Duration::from_secs(600);

/// The most descriptors [`KeptFiles::global`] keeps (fewer when `RLIMIT_NOFILE` is low).
pub const MAX_KEPT: usize = 512;

/// The most directory-entry identities remembered ([`KeptFiles::forget_changed`]); beyond that they are
/// forgotten all at once.
const MAX_IDENTITIES: usize = 4096;

/// How directories are opened for listing.
const DIR_FLAGS: rustix::fs::OFlags =
    rustix::fs::OFlags::RDONLY.union(rustix::fs::OFlags::DIRECTORY).union(rustix::fs::OFlags::CLOEXEC);

/// `SYSFS_MAGIC` of `<linux/magic.h>`.
const SYSFS_MAGIC: u64 = 0x6265_6572;

/// Initial size of a whole-file read buffer: most kernel files fit.
const INITIAL: usize = 8 * 1024;

/// One kept directory: listed again from its start through the same descriptor.
struct KeptDir {
    dir: OwnedFd,
    last_used: Instant,
}

/// One kept descriptor.
struct Entry {
    file: Arc<File>,
    last_used: Instant,
    /// The errno a read through a fresh open of this path gave, if it failed: the same error from the kept
    /// descriptor is the file's answer (not a sign of a vanished object) and needs no new open.
    fresh_errno: Option<i32>,
    /// How a read of it ends.
    ends: Ends,
}

/// The maps below are looked up for every file and directory a scrape reads (some 200 paths for node's default
/// collectors): foldhash rather than SipHash, which was 1.3 % of a scrape. The keys are paths the collectors build
/// from their configuration and the kernel's directory listings.
type PathMap<V> = HashMap<OsString, V, foldhash::fast::RandomState>;

struct Inner {
    files: PathMap<Entry>,
    /// Kept directory streams; taken out of the map while being listed (a stream has one position).
    dirs: PathMap<KeptDir>,
    /// The last identity (`d_ino`) seen for a directory entry, see [`KeptFiles::forget_changed`].
    identities: PathMap<u64>,
    last_sweep: Instant,
}

/// A bounded set of kept procfs/sysfs descriptors, keyed by path. Thread-safe; reads run outside the lock, so a
/// read that hangs (a broken driver) holds up only readers of the same file.
pub struct KeptFiles {
    inner: Mutex<Inner>,
    capacity: usize,
    idle: Duration,
}

impl std::fmt::Debug for KeptFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptFiles").field("kept", &self.len()).field("capacity", &self.capacity).finish()
    }
}

/// What a read asks for.
#[derive(Clone, Copy)]
enum Mode {
    /// One read of up to this many bytes.
    Once(usize),
    /// Reads until end of file or this many bytes.
    Whole(u64),
}

impl KeptFiles {
    /// An empty set that keeps at most `capacity` descriptors and closes those unused for `idle` (checked when a
    /// descriptor is added).
    pub fn new(capacity: usize, idle: Duration) -> Self {
        KeptFiles {
            inner: Mutex::new(Inner {
                files: PathMap::default(),
                dirs: PathMap::default(),
                identities: PathMap::default(),
                last_sweep: Instant::now(),
            }),
            capacity,
            idle,
        }
    }

    /// The process-wide set: at most [`MAX_KEPT`] descriptors and never more than a quarter of the soft
    /// `RLIMIT_NOFILE`, closed after [`IDLE`].
    pub fn global() -> &'static KeptFiles {
        static GLOBAL: OnceLock<KeptFiles> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
            let quarter = soft.map_or(usize::MAX, |s| usize::try_from(s / 4).unwrap_or(usize::MAX));
            KeptFiles::new(MAX_KEPT.min(quarter), IDLE)
        })
    }

    /// The most descriptors this set keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many descriptors (files and directories) are kept now.
    pub fn len(&self) -> usize {
        let inner = self.lock();
        inner.files.len() + inner.dirs.len()
    }

    /// Whether no descriptor is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a descriptor for `path` (a file or a directory) is kept.
    pub fn is_kept(&self, path: &Path) -> bool {
        let inner = self.lock();
        inner.files.contains_key(path.as_os_str()) || inner.dirs.contains_key(path.as_os_str())
    }

    /// The entries of the directory `path` (without `.` and `..`), in the order the kernel lists them. A procfs or
    /// sysfs directory's descriptor is kept and listed again from the start next time (`lseek` and `getdents64`, no
    /// open). A removed sysfs directory lists as empty rather than failing, and a dead process's `/proc` directory
    /// too, so an empty listing from a kept descriptor is checked with a fresh open.
    pub fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let key = path.as_os_str();
        let kept = self.lock().dirs.remove(key);
        if let Some(kept) = kept
            && let Ok(entries) = list(&kept.dir, true)
            && !entries.is_empty()
        {
            self.keep_dir(key, kept.dir);
            return Ok(entries);
        }
        let fd = rustix::fs::open(path, DIR_FLAGS, rustix::fs::Mode::empty())?;
        let pseudo = Ends::of(&fd, path).is_some();
        let entries = list(&fd, pseudo)?;
        // An empty directory is not kept: its kept stream would have to be checked with a fresh open every time.
        if pseudo && !entries.is_empty() {
            self.keep_dir(key, fd);
        }
        Ok(entries)
    }

    /// Replaces `buf`'s content with the result of one read of up to `max` bytes from the start of `path`. A
    /// single read, because some sysfs attributes (broken drivers) never finish a read-to-end loop.
    pub fn read_once(&self, path: &Path, buf: &mut Vec<u8>, max: usize) -> io::Result<()> {
        let n = self.read(path, buf, Mode::Once(max))?;
        buf.truncate(n);
        Ok(())
    }

    /// Replaces `buf`'s content with the whole of `path`, read until end of file, or its first `limit` bytes
    /// when it is longer (pass one more than the largest size you accept to tell "too large" from "exactly").
    pub fn read_to_end(&self, path: &Path, buf: &mut Vec<u8>, limit: u64) -> io::Result<()> {
        let n = self.read(path, buf, Mode::Whole(limit))?;
        buf.truncate(n);
        Ok(())
    }

    /// Declares that the directory entry `path` (e.g. `/sys/class/net/eth0`) now has the identity `id` (its
    /// inode number from the listing, `DirEntryExt::ino`, which costs no system call). When that differs from
    /// the last identity declared for `path`, the descriptors kept below `path` are closed: the name now belongs
    /// to another object (a renamed interface's name given to a new one), and a kept descriptor of the old
    /// object would read on without an error. The first identity declared for `path` also closes what was kept
    /// below it before (of unknown identity). Returns whether anything was closed.
    pub fn forget_changed(&self, path: &Path, id: u64) -> bool {
        let key = path.as_os_str();
        let mut inner = self.lock();
        match inner.identities.get_mut(key) {
            Some(known) if *known == id => return false,
            Some(known) => *known = id,
            None => {
                // Bounded like the descriptors: identities of entries long gone are dropped wholesale.
                if inner.identities.len() >= MAX_IDENTITIES {
                    inner.identities.clear();
                }
                inner.identities.insert(key.to_owned(), id);
            }
        }
        let before = inner.files.len() + inner.dirs.len();
        inner.files.retain(|p, _| !below(p, key));
        inner.dirs.retain(|p, _| !below(p, key));
        before != inner.files.len() + inner.dirs.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing in the map can be left half-changed by a panic; go on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads `path` into `scratch` ([`fill`]) and returns the number of bytes read.
    fn read(&self, path: &Path, scratch: &mut Vec<u8>, mode: Mode) -> io::Result<usize> {
        let key = path.as_os_str();
        let kept = {
            let mut inner = self.lock();
            inner.files.get_mut(key).map(|e| {
                e.last_used = Instant::now();
                (Arc::clone(&e.file), e.fresh_errno, e.ends)
            })
        };
        if let Some((file, fresh_errno, ends)) = kept {
            match pread_into(&file, scratch, mode, ends) {
                Ok(n) => return Ok(n),
                Err(e) => {
                    let errno = e.raw_os_error();
                    let gone = matches!(errno, Some(libc::ENODEV | libc::ESRCH));
                    if !gone && errno.is_some() && errno == fresh_errno {
                        return Err(e);
                    }
                    let mut inner = self.lock();
                    if inner.files.get(key).is_some_and(|k| Arc::ptr_eq(&k.file, &file)) {
                        inner.files.remove(key);
                    }
                }
            }
        }
        self.read_fresh(path, scratch, mode)
    }

    /// Opens `path`, reads it, and keeps the descriptor if it is a pseudo-file and there is room.
    fn read_fresh(&self, path: &Path, scratch: &mut Vec<u8>, mode: Mode) -> io::Result<usize> {
        let file = File::open(path)?;
        let Some(ends) = Ends::of(&file, path) else {
            return read_into(file, scratch, mode);
        };
        let result = pread_into(&file, scratch, mode, ends);
        let fresh_errno = match &result {
            Ok(_) => None,
            // Not seekable after all (`nonseekable_open`): read it the plain way, and never keep it.
            Err(e) if e.raw_os_error() == Some(libc::ESPIPE) => return read_into(file, scratch, mode),
            // The object vanished between open and read: nothing worth keeping.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENODEV | libc::ESRCH)) => return result,
            Err(e) => e.raw_os_error(),
        };
        self.keep(path.as_os_str(), file, fresh_errno, ends);
        result
    }

    fn keep(&self, key: &OsStr, file: File, fresh_errno: Option<i32>, ends: Ends) {
        let now = Instant::now();
        let mut inner = self.lock();
        if !self.room(&mut inner, now) && !inner.files.contains_key(key) {
            return;
        }
        inner.files.insert(key.to_owned(), Entry { file: Arc::new(file), last_used: now, fresh_errno, ends });
    }

    fn keep_dir(&self, key: &OsStr, dir: OwnedFd) {
        let now = Instant::now();
        let mut inner = self.lock();
        // Another reader may have kept a stream of its own meanwhile: one is enough.
        if inner.dirs.contains_key(key) || !self.room(&mut inner, now) {
            return;
        }
        inner.dirs.insert(key.to_owned(), KeptDir { dir, last_used: now });
    }

    /// Whether there is room for one more descriptor, after closing idle ones (at most a few times per idle
    /// period, not on every insertion).
    fn room(&self, inner: &mut Inner, now: Instant) -> bool {
        if now.duration_since(inner.last_sweep) >= self.idle / 8 {
            inner.last_sweep = now;
            let idle = self.idle;
            inner.files.retain(|_, e| now.duration_since(e.last_used) < idle);
            inner.dirs.retain(|_, d| now.duration_since(d.last_used) < idle);
        }
        inner.files.len() + inner.dirs.len() < self.capacity
    }
}

/// The type of a directory entry, as the listing gives it (`d_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (device, FIFO, socket).
    Other,
    /// Neither the listing (`DT_UNKNOWN`) nor `lstat` could say.
    Unknown,
}

/// One entry of [`KeptFiles::list_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name.
    pub name: OsString,
    /// Its inode number (`d_ino`), e.g. for [`KeptFiles::forget_changed`].
    pub ino: u64,
    /// Its type.
    pub kind: EntryKind,
}

/// The listing buffer's size.
const LIST_BUF: usize = 8192;

/// The largest record `getdents64` writes: a `linux_dirent64` (19 bytes before the name) with a 255-byte name and
/// its NUL, padded to 8 bytes.
const MAX_DIRENT: usize = 280;

/// Lists the directory open as `dir` from its start (`lseek` to 0, then `getdents64` into a buffer on the stack,
/// names borrowed from it until copied into the entries), leaving out `.` and `..`.
///
/// `pseudo`: `dir` is on procfs or sysfs, whose directory iterators fill a `getdents64` buffer until the next
/// record does not fit or the directory ends. A call that left room for the largest record therefore reached the
/// end, and the call that would only return 0 to confirm it is saved (a dozen per node scrape). Other file
/// systems (network and FUSE ones) may return less than fits, so there the listing ends only at a 0.
fn list(dir: &OwnedFd, pseudo: bool) -> io::Result<Vec<DirEntry>> {
    use rustix::fs::FileType;
    rustix::fs::seek(dir, rustix::fs::SeekFrom::Start(0))?;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); LIST_BUF];
    let mut raw = rustix::fs::RawDir::new(dir, &mut buf);
    let mut out = Vec::new();
    // Bytes of the current `getdents64` call's records seen so far.
    let mut filled = 0;
    loop {
        if pseudo && raw.is_buffer_empty() {
            // `RawDir` aligns the buffer's start, which may cost it up to 7 bytes.
            if filled > 0 && filled + MAX_DIRENT <= LIST_BUF - 8 {
                break;
            }
            filled = 0;
        }
        let Some(entry) = raw.next() else { break };
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        // The record's length as the kernel computes it (`d_reclen`, which `RawDir` does not hand out).
        filled += (19 + name.len() + 1).next_multiple_of(8);
        if name == b"." || name == b".." {
            continue;
        }
        let mut file_type = entry.file_type();
        if file_type == FileType::Unknown {
            // Some file systems leave `d_type` out; ask as `std::fs::DirEntry::file_type` does.
            if let Ok(st) = rustix::fs::statat(dir, entry.file_name(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                file_type = FileType::from_raw_mode(st.st_mode);
            }
        }
        let kind = match file_type {
            FileType::RegularFile => EntryKind::File,
            FileType::Directory => EntryKind::Dir,
            FileType::Symlink => EntryKind::Symlink,
            FileType::Unknown => EntryKind::Unknown,
            _ => EntryKind::Other,
        };
        out.push(DirEntry { name: OsStr::from_bytes(name).to_owned(), ino: entry.ino(), kind });
    }
    Ok(out)
}

/// Whether `path` is `dir` or below it.
fn below(path: &OsStr, dir: &OsStr) -> bool {
    let (p, d) = (path.as_bytes(), dir.as_bytes());
    p.starts_with(d) && (p.len() == d.len() || p.get(d.len()) == Some(&b'/') || d.ends_with(b"/"))
}

/// How a read of a pseudo-file ends: whether a read that returns fewer bytes than asked has returned all there is,
/// or a further read must confirm the end of the file (one more `pread` that returns 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// A sysfs file: an attribute is one `show()` of at most a page, handed out whole to a read that asks for
    /// more, and a binary attribute gives at most a page per read; so a read short of what was asked and of a
    /// page is the end.
    Sysfs {
        /// The page size.
        page: usize,
    },
    /// A `/proc/sys` file: its handler formats the whole value into the reader's buffer in one read (and returns
    /// nothing at a later offset), so a short read is the end. Reads ask for at most a page: the kernel allocates
    /// (and zeroes) a buffer as large as the read asks for, and no value is that long.
    Sysctl {
        /// The page size.
        page: usize,
    },
    /// A procfs file known to be one `seq_file` record (`single_open`: `/proc/meminfo`, `/proc/net/snmp`, …): its
    /// buffer grows until the whole record fits and a read hands out as much of it as was asked, so a short read
    /// is the end.
    Single,
    /// A procfs file known to be a `seq_file` of lines of at most [`Ends::MAX_LINE`] bytes (`/proc/net/dev`,
    /// `/proc/diskstats`, …). A read stops when the next record does not fit the `seq_file` buffer (a page or
    /// more), so a read short of what was asked that left room for another line in a page is the end.
    Lines {
        /// The page size.
        page: usize,
    },
    /// Any other procfs file: most are `seq_file`s whose reads return at most their buffer's worth of records (a
    /// page at first) however much was asked, and a record can be long (a `mountinfo` line with overlay options),
    /// so a short read says nothing, and only a read that returns 0 ends the file.
    AtZero,
}

/// procfs files (by their last path components) that are one `seq_file` record: [`Ends::Single`]. Only files this
/// project reads every scrape are listed; any other file keeps the confirming read.
const SINGLE_RECORD: &[&str] = &[
    "meminfo",
    "stat",
    "loadavg",
    "net/netstat",
    "net/snmp",
    "net/snmp6",
    "net/sockstat",
    "net/sockstat6",
    "pressure/cpu",
    "pressure/io",
    "pressure/memory",
    "pressure/irq",
    "limits",
];

/// procfs files (by their last path components) that are `seq_file`s of short lines: [`Ends::Lines`].
const SHORT_LINES: &[&str] =
    &["vmstat", "diskstats", "net/dev", "net/udp", "net/udp6", "net/softnet_stat", "net/stat/nf_conntrack"];

impl Ends {
    /// How reads of `file` (opened as `path`) end, or `None` if it is not on procfs or sysfs (whose files
    /// regenerate their content on every read from offset 0).
    fn of(file: impl std::os::fd::AsFd, path: &Path) -> Option<Ends> {
        let st = rustix::fs::fstatfs(file).ok()?;
        #[allow(clippy::unnecessary_cast)] // the field's type differs between architectures
        let magic = st.f_type as u64;
        let page = rustix::param::page_size();
        if magic == SYSFS_MAGIC {
            return Some(Ends::Sysfs { page });
        }
        if st.f_type != rustix::fs::PROC_SUPER_MAGIC {
            return None;
        }
        // `/proc/sys` is the only directory named `sys` in procfs.
        if path.components().any(|c| c.as_os_str() == "sys") {
            return Some(Ends::Sysctl { page });
        }
        // `/proc/stat` and `/proc/<pid>/stat` are both one record; `/proc/net/stat/…` are not, and are matched
        // by their whole tail first.
        let is = |tail: &str| path.ends_with(tail);
        Some(if SHORT_LINES.iter().any(|t| is(t)) {
            Ends::Lines { page }
        } else if SINGLE_RECORD.iter().any(|t| is(t)) {
            Ends::Single
        } else {
            Ends::AtZero
        })
    }

    /// The longest line of a [`Ends::Lines`] file, with room to spare (`/proc/diskstats`: a 32-byte name and 20
    /// numbers of up to 20 digits is under 500).
    const MAX_LINE: usize = 1024;

    /// The most one read should ask for.
    fn max_read(self) -> usize {
        match self {
            Ends::Sysctl { page } => page,
            Ends::Sysfs { .. } | Ends::Single | Ends::Lines { .. } | Ends::AtZero => usize::MAX,
        }
    }

    /// Whether a read that returned `got` of the `asked` bytes has reached the end of the file.
    fn done(self, got: usize, asked: usize) -> bool {
        match self {
            _ if got == 0 => true,
            Ends::Sysfs { page } => got < asked && got < page,
            Ends::Sysctl { .. } | Ends::Single => got < asked,
            Ends::Lines { page } => got < asked && got + Self::MAX_LINE <= page,
            Ends::AtZero => false,
        }
    }
}

/// Reads into `scratch` from its start and returns how many bytes were read. `scratch` is used up to its length,
/// grown (zero-filled) when that is too short, and never shrunk: safe code cannot read into uninitialised memory,
/// so a scratch buffer that keeps its length is zero-filled once, not before every read.
fn fill(
    scratch: &mut Vec<u8>,
    mode: Mode,
    ends: Ends,
    mut read_at: impl FnMut(&mut [u8], u64) -> io::Result<usize>,
) -> io::Result<usize> {
    match mode {
        Mode::Once(max) => {
            if scratch.len() < max {
                scratch.resize(max, 0);
            }
            read_at(scratch.get_mut(..max).unwrap_or_default(), 0)
        }
        Mode::Whole(limit) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            let mut len = 0;
            loop {
                if len >= limit {
                    return Ok(len);
                }
                if len == scratch.len() {
                    let grow = scratch.len().max(INITIAL).min(limit - len);
                    scratch.resize(len + grow, 0);
                }
                let end = scratch.len().min(limit).min(len.saturating_add(ends.max_read()));
                let asked = end.saturating_sub(len);
                let n = read_at(scratch.get_mut(len..end).unwrap_or_default(), len as u64)?;
                len += n;
                if ends.done(n, asked) {
                    return Ok(len);
                }
            }
        }
    }
}

/// [`fill`] through `pread` (the kept descriptors: every read says its offset, so none depends on the file
/// position another reader left).
fn pread_into(file: &File, scratch: &mut Vec<u8>, mode: Mode, ends: Ends) -> io::Result<usize> {
    fill(scratch, mode, ends, |buf, offset| {
        loop {
            match rustix::io::pread(file, &mut *buf, offset) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    })
}

/// [`fill`] through `read(2)`, for ordinary files and files that cannot `pread` (FIFOs, `nonseekable_open`).
fn read_into(mut file: File, scratch: &mut Vec<u8>, mode: Mode) -> io::Result<usize> {
    fill(scratch, mode, Ends::AtZero, |buf, _| {
        loop {
            match file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    })
}

thread_local! {
    /// A per-thread scratch buffer for [`with_once`] and [`with_whole`], kept between calls at its full length
    /// (zero-filled once).
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with the scratch buffer of this thread (taken out while `f` runs, so nested calls get an empty one of
/// their own rather than a panic).
fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    let mut scratch = SCRATCH.take();
    let out = f(&mut scratch);
    // A huge file once read should not pin its buffer for the life of the thread.
    if scratch.len() > 256 * 1024 {
        scratch = Vec::new();
    }
    SCRATCH.set(scratch);
    out
}

/// One read of up to `max` bytes of `path` through [`KeptFiles::global`], handed to `f` from a reused buffer.
pub fn with_once<T>(path: &Path, max: usize, f: impl FnOnce(&[u8]) -> T) -> io::Result<T> {
    with_scratch(|scratch| {
        let n = KeptFiles::global().read(path, scratch, Mode::Once(max))?;
        Ok(f(scratch.get(..n).unwrap_or_default()))
    })
}

/// All of `path` (at most `limit` bytes) through [`KeptFiles::global`], handed to `f` from a reused buffer.
pub fn with_whole<T>(path: &Path, limit: u64, f: impl FnOnce(&[u8]) -> T) -> io::Result<T> {
    with_scratch(|scratch| {
        let n = KeptFiles::global().read(path, scratch, Mode::Whole(limit))?;
        Ok(f(scratch.get(..n).unwrap_or_default()))
    })
}

/// The entries of the directory `path` through [`KeptFiles::global`] ([`KeptFiles::list_dir`]).
pub fn list_dir(path: &Path) -> io::Result<Vec<DirEntry>> {
    KeptFiles::global().list_dir(path)
}

/// All of `path` as text through [`KeptFiles::global`] (invalid UTF-8 replaced), like `std::fs::read_to_string`
/// for the small files of procfs and sysfs.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    // `from_utf8` first: the usual valid text is checked much faster than `from_utf8_lossy` walks it.
    with_whole(path, u64::MAX, |b| match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn text(buf: &[u8]) -> String {
        String::from_utf8_lossy(buf).into_owned()
    }

    /// utime + stime of this process in ticks, from `/proc/self/stat` read through `kept`.
    fn cpu_ticks(kept: &KeptFiles, buf: &mut Vec<u8>) -> u64 {
        kept.read_to_end(Path::new("/proc/self/stat"), buf, 1 << 20).expect("read /proc/self/stat");
        let stat = text(buf);
        let rest = stat.rsplit_once(')').expect("comm").1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    }

    #[test]
    fn procfs_content_is_fresh_through_a_kept_descriptor() {
        let kept = KeptFiles::new(16, IDLE);
        let mut buf = Vec::new();
        let before = cpu_ticks(&kept, &mut buf);
        assert!(kept.is_kept(Path::new("/proc/self/stat")), "a procfs file is kept");
        // Burn CPU until the tick counter moves (10 ms ticks).
        let start = Instant::now();
        let mut x = 0u64;
        while cpu_ticks(&kept, &mut buf) == before {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
            }
            assert!(start.elapsed() < Duration::from_secs(20), "utime never moved ({x})");
        }
        assert_eq!(kept.len(), 1, "the same descriptor served every read");

        // /proc/uptime: one read, and it changes over time.
        let uptime = Path::new("/proc/uptime");
        kept.read_once(uptime, &mut buf, 4096).expect("uptime");
        let first = text(&buf);
        std::thread::sleep(Duration::from_millis(30));
        kept.read_once(uptime, &mut buf, 4096).expect("uptime");
        assert!(kept.is_kept(uptime));
        assert_ne!(first, text(&buf), "uptime advanced");
    }

    #[test]
    fn sysfs_files_are_kept_and_read_once_is_bounded() {
        let kept = KeptFiles::new(16, IDLE);
        let mut buf = Vec::new();
        let path = Path::new("/sys/kernel/mm/transparent_hugepage/enabled");
        let path = if path.exists() { path } else { Path::new("/sys/class/net/lo/mtu") };
        kept.read_once(path, &mut buf, 4096).expect("sysfs attribute");
        let whole = text(&buf);
        assert!(kept.is_kept(path), "{} is kept", path.display());
        kept.read_once(path, &mut buf, 2).expect("again");
        assert_eq!(text(&buf), whole[..2]);
        kept.read_to_end(path, &mut buf, u64::MAX).expect("whole");
        assert_eq!(text(&buf), whole);
        kept.read_to_end(path, &mut buf, 3).expect("limited");
        assert_eq!(text(&buf), whole[..3]);
    }

    #[test]
    fn large_procfs_files_are_read_whole() {
        let kept = KeptFiles::new(16, IDLE);
        let mut buf = Vec::new();
        for path in ["/proc/self/maps", "/proc/self/smaps", "/proc/self/mountinfo"] {
            kept.read_to_end(Path::new(path), &mut buf, u64::MAX).expect(path);
            let ours = text(&buf);
            assert!(ours.ends_with('\n'), "{path}");
            // Again through the kept descriptor: the same number of lines (maps of a running test can change a
            // little, so compare shapes, not bytes).
            kept.read_to_end(Path::new(path), &mut buf, u64::MAX).expect(path);
            let lines = |s: &str| s.lines().count();
            assert!(lines(&text(&buf)).abs_diff(lines(&ours)) < 50, "{path}");
            if path.ends_with("smaps") {
                assert!(ours.len() > INITIAL, "smaps is larger than one buffer");
            }
        }
    }

    /// Reads `content` through [`fill`] as a kernel file would hand it out, at most `per_read` bytes a read, and
    /// returns what was read and how many reads it took.
    fn simulated(content: &[u8], per_read: usize, ends: Ends) -> (Vec<u8>, usize) {
        let mut reads = 0;
        let mut scratch = Vec::new();
        let n = fill(&mut scratch, Mode::Whole(u64::MAX), ends, |buf, offset| {
            reads += 1;
            let rest = content.get(offset as usize..).unwrap_or_default();
            let n = rest.len().min(buf.len()).min(per_read);
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        })
        .expect("fill");
        scratch.truncate(n);
        (scratch, reads)
    }

    #[test]
    fn a_short_read_ends_sysfs_and_sysctl_files_but_not_seq_files() {
        let page = 4096;
        let small = vec![b'x'; 100];
        // A sysfs attribute or a /proc/sys file: one read, no second one to confirm the end.
        assert_eq!(simulated(&small, usize::MAX, Ends::Sysfs { page }), (small.clone(), 1));
        assert_eq!(simulated(&small, usize::MAX, Ends::Sysctl { page }), (small.clone(), 1));
        // A procfs seq_file: the end is confirmed by a read that returns 0.
        assert_eq!(simulated(&small, usize::MAX, Ends::AtZero), (small.clone(), 2));
        // A seq_file with more records than one page: reads return a page's worth or less, well short of the
        // 8 KiB asked; all of it is read.
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let (got, reads) = simulated(&big, page - 37, Ends::AtZero);
        assert!(got == big && reads > 5, "{} bytes in {reads} reads", got.len());
        // A binary sysfs attribute gives at most a page a read: a full page is not the end.
        let (got, reads) = simulated(&big, page, Ends::Sysfs { page });
        assert!(got == big && reads >= 5, "{} bytes in {reads} reads", got.len());
        // A long /proc/sys value is read a page at a time, all of it.
        let (got, reads) = simulated(&big, usize::MAX, Ends::Sysctl { page });
        assert!(got == big && reads >= 5, "{} bytes in {reads} reads", got.len());
        // Content of exactly a page, or of the buffer's size: confirmed by one more read.
        let one_page = vec![b'z'; page];
        assert_eq!(simulated(&one_page, usize::MAX, Ends::Sysfs { page }), (one_page.clone(), 2));
        assert_eq!(simulated(&one_page, usize::MAX, Ends::Sysctl { page }), (one_page, 2));
        let exact = vec![b'y'; INITIAL];
        assert_eq!(simulated(&exact, usize::MAX, Ends::Sysfs { page: usize::MAX }), (exact, 2));
        // One record: a short read is all of it (no read that returns 0 after it).
        assert_eq!(simulated(&small, usize::MAX, Ends::Single), (small.clone(), 1));
        let (got, reads) = simulated(&big, usize::MAX, Ends::Single);
        let (_, confirmed) = simulated(&big, usize::MAX, Ends::AtZero);
        assert!(got == big && reads + 1 == confirmed, "{reads} and {confirmed} reads");
        // Short lines: a read that left room for another line in a page is the end; one that did not is not.
        assert_eq!(simulated(&small, page, Ends::Lines { page }), (small.clone(), 1));
        let (got, reads) = simulated(&big, page - 100, Ends::Lines { page });
        assert!(got == big && reads > 5, "{} bytes in {reads} reads", got.len());
    }

    #[test]
    fn listed_procfs_files_are_read_whole() {
        // That they end without a confirming read is the simulation's part; here, that nothing is cut short.
        let kept = KeptFiles::new(16, IDLE);
        let mut buf = Vec::new();
        for (path, stable) in [("/proc/self/limits", true), ("/proc/net/dev", false), ("/proc/vmstat", false)] {
            for _ in 0..2 {
                kept.read_to_end(Path::new(path), &mut buf, 1 << 20).expect(path);
                let ours = String::from_utf8_lossy(&buf).into_owned();
                let std = std::fs::read_to_string(path).expect(path);
                // Values move between the two reads; lines (devices, counters) do not.
                assert_eq!(ours.lines().count(), std.lines().count(), "{path}");
                assert!(!stable || ours == std, "{path}");
            }
        }
    }

    #[test]
    fn how_reads_end_is_told_by_file_system_and_path() {
        let ends = |p: &str| Ends::of(File::open(p).expect(p), Path::new(p));
        let page = rustix::param::page_size();
        assert_eq!(ends("/sys/class/net/lo/mtu"), Some(Ends::Sysfs { page }));
        assert_eq!(ends("/proc/sys/kernel/ostype"), Some(Ends::Sysctl { page }));
        assert_eq!(ends("/proc/self/stat"), Some(Ends::Single));
        assert_eq!(ends("/proc/meminfo"), Some(Ends::Single));
        assert_eq!(ends("/proc/net/dev"), Some(Ends::Lines { page }));
        assert_eq!(ends("/proc/self/net/udp"), Some(Ends::Lines { page }));
        assert_eq!(ends("/proc/self/mountinfo"), Some(Ends::AtZero));
        assert_eq!(ends("/proc/self/maps"), Some(Ends::AtZero));
        assert_eq!(ends("/etc/hostname"), None);
    }

    #[test]
    fn a_sysfs_file_larger_than_the_buffer_is_read_whole() {
        // A binary attribute of several MB, readable by all where the kernel has BTF.
        let path = Path::new("/sys/kernel/btf/vmlinux");
        let Ok(expected) = std::fs::read(path) else {
            eprintln!(
                "{} cannot be read here: the large sysfs file case is covered by the simulation only",
                path.display()
            );
            return;
        };
        assert!(expected.len() > INITIAL);
        let kept = KeptFiles::new(16, IDLE);
        let mut buf = Vec::new();
        for _ in 0..2 {
            kept.read_to_end(path, &mut buf, 64 << 20).expect("read");
            assert!(buf == expected, "{} bytes read of {}", buf.len(), expected.len());
        }
        assert!(kept.is_kept(path));
        // A /proc/sys value through a kept descriptor, with a scratch buffer larger than the kernel would allocate
        // for one read (ENOMEM if it were asked for at once).
        let sysctl = Path::new("/proc/sys/kernel/ostype");
        kept.read_to_end(sysctl, &mut buf, u64::MAX).expect("ostype");
        assert_eq!(text(&buf), std::fs::read_to_string(sysctl).expect("ostype"));
    }

    #[test]
    fn a_procfs_seq_file_of_several_pages_is_read_whole() {
        // Make this process's maps many pages long: each thread adds its stack and the stack's guard page.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let stopped = Arc::new(Mutex::new(stopped));
        let started = Arc::new(std::sync::Barrier::new(151));
        let threads: Vec<_> = (0..150)
            .map(|_| {
                let (stopped, started) = (stopped.clone(), started.clone());
                std::thread::spawn(move || {
                    started.wait();
                    drop(stopped.lock().map(|rx| rx.recv()));
                })
            })
            .collect();
        started.wait();
        let kept = KeptFiles::new(16, IDLE);
        let mut buf = Vec::new();
        for _ in 0..2 {
            kept.read_to_end(Path::new("/proc/self/maps"), &mut buf, u64::MAX).expect("maps");
            let ours = text(&buf);
            let std = std::fs::read_to_string("/proc/self/maps").expect("maps");
            assert!(ours.len() > 3 * INITIAL, "maps of {} bytes", ours.len());
            assert!(ours.ends_with('\n'));
            assert!(ours.lines().all(|l| l.split_once('-').is_some_and(|(a, _)| u64::from_str_radix(a, 16).is_ok())));
            // The parked threads change little (an allocator's mapping or two); a read cut after its first page
            // would miss hundreds of lines.
            assert!(
                ours.lines().count().abs_diff(std.lines().count()) < 20,
                "{} lines of {}",
                ours.lines().count(),
                std.lines().count()
            );
        }
        drop(stop);
        for t in threads {
            t.join().expect("thread");
        }
    }

    #[test]
    fn a_dead_process_gives_an_error_and_the_path_recovers() {
        let kept = KeptFiles::new(16, IDLE);
        let mut buf = Vec::new();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        let path = PathBuf::from(format!("/proc/{}/stat", child.id()));
        kept.read_to_end(&path, &mut buf, u64::MAX).expect("child stat");
        assert!(text(&buf).contains("(sleep)"));
        assert!(kept.is_kept(&path));
        child.kill().expect("kill");
        child.wait().expect("reap");
        // The kept descriptor fails (ESRCH), the fresh open fails (ENOENT): an error, never the old content.
        let err = kept.read_to_end(&path, &mut buf, u64::MAX).expect_err("dead process");
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(!kept.is_kept(&path), "dropped");

        // A path of a live process afterwards works and is kept again (the set recovers).
        let child2 = Reaped(std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep"));
        let path2 = PathBuf::from(format!("/proc/{}/stat", child2.0.id()));
        kept.read_to_end(&path2, &mut buf, u64::MAX).expect("second child");
        assert!(kept.is_kept(&path2));
    }

    /// Kills and reaps the child when the test ends, however it ends.
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_kept_descriptor_of_a_vanished_object_is_replaced_by_a_fresh_open() {
        // /proc/<pid>/stat of a thread id (`/proc/self/task/<tid>/stat`) of a thread that ends; then the path is
        // asked again while the same kept set holds the old descriptor: it must not serve the dead thread.
        let kept = KeptFiles::new(16, IDLE);
        let mut buf = Vec::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            // "/proc/thread-self" links to "<pid>/task/<tid>".
            let link = std::fs::read_link("/proc/thread-self").expect("thread-self");
            tx.send(link.file_name().expect("tid").to_owned()).expect("send");
        });
        let tid = rx.recv().expect("tid");
        let path = Path::new("/proc/self/task").join(tid).join("stat");
        let kept_before_exit = kept.read_to_end(&path, &mut buf, u64::MAX).is_ok();
        t.join().expect("join");
        // Wait until the thread is gone from /proc.
        let start = Instant::now();
        while path.exists() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        if kept_before_exit {
            assert!(kept.read_to_end(&path, &mut buf, u64::MAX).is_err(), "no stale data of an ended thread");
            assert!(!kept.is_kept(&path));
        }
    }

    #[test]
    fn regular_files_are_opened_every_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, "one\n").expect("write");
        let kept = KeptFiles::new(16, IDLE);
        let mut buf = Vec::new();
        kept.read_to_end(&path, &mut buf, u64::MAX).expect("read");
        assert_eq!(text(&buf), "one\n");
        assert!(!kept.is_kept(&path), "a regular file is not kept");
        // Replaced by rename, as textfile writers do: the new content is read.
        let tmp = dir.path().join("f.tmp");
        std::fs::write(&tmp, "two\n").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        kept.read_to_end(&path, &mut buf, u64::MAX).expect("read");
        assert_eq!(text(&buf), "two\n");
        kept.read_once(&path, &mut buf, 2).expect("once");
        assert_eq!(text(&buf), "tw");
        kept.read_to_end(&path, &mut buf, 3).expect("limited");
        assert_eq!(text(&buf), "two");
        assert!(kept.is_empty());
        let missing = kept.read_once(&dir.path().join("missing"), &mut buf, 10).expect_err("missing");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn the_bound_is_respected_and_reads_beyond_it_still_work() {
        let kept = KeptFiles::new(3, IDLE);
        let mut buf = Vec::new();
        let paths = ["/proc/uptime", "/proc/loadavg", "/proc/meminfo", "/proc/version", "/proc/self/stat"];
        for _ in 0..2 {
            for p in paths {
                kept.read_to_end(Path::new(p), &mut buf, u64::MAX).expect(p);
                assert!(!buf.is_empty(), "{p}");
                assert!(kept.len() <= 3);
            }
        }
        assert_eq!(kept.len(), 3);
        assert!(kept.is_kept(Path::new("/proc/uptime")), "the first ones stay");
        assert!(!kept.is_kept(Path::new("/proc/self/stat")), "no room for later ones");
        assert!(KeptFiles::global().capacity() <= MAX_KEPT);
    }

    #[test]
    fn idle_descriptors_are_closed_when_others_are_added() {
        let kept = KeptFiles::new(8, Duration::from_millis(80));
        let mut buf = Vec::new();
        kept.read_to_end(Path::new("/proc/uptime"), &mut buf, u64::MAX).expect("uptime");
        std::thread::sleep(Duration::from_millis(120));
        kept.read_to_end(Path::new("/proc/loadavg"), &mut buf, u64::MAX).expect("loadavg");
        assert!(!kept.is_kept(Path::new("/proc/uptime")), "idle one closed");
        assert!(kept.is_kept(Path::new("/proc/loadavg")));
    }

    #[test]
    fn a_file_whose_fresh_read_fails_keeps_its_descriptor() {
        // /proc/self/mem at offset 0 is not mapped: EIO from a fresh open and from the kept descriptor alike.
        let kept = KeptFiles::new(8, IDLE);
        let mut buf = Vec::new();
        let path = Path::new("/proc/self/mem");
        let first = kept.read_once(path, &mut buf, 16).expect_err("offset 0 is unmapped");
        assert!(kept.is_kept(path), "kept with its error ({first})");
        let again = kept.read_once(path, &mut buf, 16).expect_err("still unmapped");
        assert_eq!(first.raw_os_error(), again.raw_os_error());
        assert!(kept.is_kept(path));
    }

    #[test]
    fn changed_identity_drops_descriptors_below() {
        let kept = KeptFiles::new(8, IDLE);
        let mut buf = Vec::new();
        kept.read_to_end(Path::new("/proc/self/stat"), &mut buf, u64::MAX).expect("stat");
        kept.read_to_end(Path::new("/proc/self/statm"), &mut buf, u64::MAX).expect("statm");
        kept.read_to_end(Path::new("/proc/uptime"), &mut buf, u64::MAX).expect("uptime");
        assert!(!kept.forget_changed(Path::new("/proc/sel"), 7), "a name prefix is not a directory prefix");
        // Descriptors opened before any identity was declared are of unknown identity: dropped.
        assert!(kept.forget_changed(Path::new("/proc/self"), 1));
        assert!(!kept.is_kept(Path::new("/proc/self/stat")) && !kept.is_kept(Path::new("/proc/self/statm")));
        assert!(kept.is_kept(Path::new("/proc/uptime")));
        kept.read_to_end(Path::new("/proc/self/stat"), &mut buf, u64::MAX).expect("stat");
        assert!(!kept.forget_changed(Path::new("/proc/self"), 1), "same identity: kept");
        assert!(kept.is_kept(Path::new("/proc/self/stat")));
        assert!(kept.forget_changed(Path::new("/proc/self"), 2), "new identity: dropped");
        assert!(!kept.is_kept(Path::new("/proc/self/stat")));
    }

    #[test]
    fn concurrent_readers_share_the_set() {
        let kept = Arc::new(KeptFiles::new(64, IDLE));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    for _ in 0..200 {
                        for p in ["/proc/uptime", "/proc/loadavg", "/proc/self/stat"] {
                            kept.read_to_end(Path::new(p), &mut buf, u64::MAX).expect(p);
                            assert!(buf.ends_with(b"\n"), "{p}");
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("reader");
        }
        assert_eq!(kept.len(), 3);
    }

    fn names(entries: &[DirEntry]) -> Vec<String> {
        let mut v: Vec<String> = entries.iter().map(|e| e.name.to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    fn std_names(path: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(path)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn pseudo_directories_are_kept_and_listed_afresh() {
        let kept = KeptFiles::new(16, IDLE);
        let net = Path::new("/sys/class/net");
        let first = kept.list_dir(net).expect("/sys/class/net");
        assert!(kept.is_kept(net));
        assert_eq!(names(&first), std_names(net));
        assert_eq!(names(&kept.list_dir(net).expect("again")), std_names(net));
        let lo = first.iter().find(|e| e.name == "lo").expect("lo");
        assert_eq!(lo.kind, EntryKind::Symlink);

        // The threads of this process: a new thread shows up in the next listing of the kept stream.
        let tasks = Path::new("/proc/self/task");
        let before = names(&kept.list_dir(tasks).expect("tasks"));
        let (started, wait) = std::sync::mpsc::channel::<()>();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            started.send(()).expect("send");
            let _ = stopped.recv();
        });
        wait.recv().expect("started");
        let during = names(&kept.list_dir(tasks).expect("tasks"));
        stop.send(()).expect("stop");
        t.join().expect("join");
        assert!(kept.is_kept(tasks));
        assert!(during.len() > before.len() || during != before, "{before:?} {during:?}");
        let entry = kept.list_dir(tasks).expect("tasks");
        assert!(entry.iter().all(|e| e.kind == EntryKind::Dir));
    }

    #[test]
    fn pseudo_directories_larger_than_the_buffer_are_listed_whole() {
        // Listings that take one `getdents64` call, two, or more (records of every length), which end without the
        // confirming call: the same names as `std::fs::read_dir`, fresh and from the kept descriptor.
        let kept = KeptFiles::new(16, IDLE);
        for dir in ["/sys/kernel/slab", "/proc/sys/net/ipv4", "/proc/sys/vm", "/sys/module", "/sys/class/net"] {
            let dir = Path::new(dir);
            if !dir.exists() {
                // Kernels without SLUB's sysfs have no /sys/kernel/slab; the others are on every Linux.
                println!("{} is not on this kernel", dir.display());
                continue;
            }
            assert_eq!(names(&kept.list_dir(dir).expect("fresh")), std_names(dir), "{}", dir.display());
            assert_eq!(names(&kept.list_dir(dir).expect("kept")), std_names(dir), "{}", dir.display());
        }
        // A procfs directory of some 900 short names (several calls' worth): all of them, in either listing.
        use std::os::fd::AsRawFd;
        let open: Vec<File> = (0..900).map(|_| File::open("/dev/null").expect("/dev/null")).collect();
        let fds = Path::new("/proc/self/fd");
        for _ in 0..2 {
            let listed: std::collections::HashSet<String> =
                names(&kept.list_dir(fds).expect("fds")).into_iter().collect();
            for f in &open {
                assert!(listed.contains(&f.as_raw_fd().to_string()), "fd {} not listed", f.as_raw_fd());
            }
        }
    }

    #[test]
    fn a_dead_process_directory_is_not_listed_stale() {
        let kept = KeptFiles::new(16, IDLE);
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        let dir = PathBuf::from(format!("/proc/{}/task", child.id()));
        assert_eq!(kept.list_dir(&dir).expect("live").len(), 1);
        assert!(kept.is_kept(&dir));
        child.kill().expect("kill");
        child.wait().expect("reap");
        let err = kept.list_dir(&dir).expect_err("dead process");
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(!kept.is_kept(&dir));
    }

    #[test]
    fn regular_directories_are_opened_every_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a"), "").expect("write");
        let kept = KeptFiles::new(16, IDLE);
        assert_eq!(names(&kept.list_dir(dir.path()).expect("list")), ["a"]);
        assert!(!kept.is_kept(dir.path()));
        std::fs::create_dir(dir.path().join("b")).expect("mkdir");
        let entries = kept.list_dir(dir.path()).expect("list");
        assert_eq!(names(&entries), ["a", "b"]);
        let kinds: Vec<_> = {
            let mut e = entries.clone();
            e.sort_by(|x, y| x.name.cmp(&y.name));
            e.into_iter().map(|e| e.kind).collect()
        };
        assert_eq!(kinds, [EntryKind::File, EntryKind::Dir]);
        assert_eq!(kept.list_dir(&dir.path().join("missing")).expect_err("missing").kind(), io::ErrorKind::NotFound);
        assert!(kept.list_dir(&dir.path().join("a")).is_err(), "not a directory");
        assert!(kept.is_empty());
    }

    #[test]
    fn directories_count_towards_the_bound_and_are_forgotten_by_identity() {
        let kept = KeptFiles::new(2, IDLE);
        let mut buf = Vec::new();
        kept.read_to_end(Path::new("/proc/uptime"), &mut buf, u64::MAX).expect("uptime");
        kept.list_dir(Path::new("/proc/self/task")).expect("tasks");
        kept.list_dir(Path::new("/sys/class/net")).expect("net");
        assert_eq!(kept.len(), 2);
        assert!(!kept.is_kept(Path::new("/sys/class/net")), "no room");
        assert!(kept.forget_changed(Path::new("/proc/self"), 9));
        assert!(!kept.is_kept(Path::new("/proc/self/task")));
    }

    #[test]
    fn empty_pseudo_directories_are_not_kept() {
        // Most machines lack some hardware class (thermal, hwmon, …), whose directory is then empty.
        let empty = std::fs::read_dir("/sys/class")
            .expect("/sys/class")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none()));
        let Some(empty) = empty else {
            eprintln!("no empty directory under /sys/class on this machine; nothing to check");
            return;
        };
        let kept = KeptFiles::new(16, IDLE);
        assert!(kept.list_dir(&empty).expect("list").is_empty());
        assert!(!kept.is_kept(&empty), "{}", empty.display());
    }

    #[test]
    fn helpers_use_the_global_set() {
        // A long file, then a short one: the reused buffer hands out only what the second read returned.
        let long = with_whole(Path::new("/proc/self/maps"), 1 << 20, |b| b.len()).expect("maps");
        let short = with_whole(Path::new("/proc/loadavg"), 1 << 20, text).expect("loadavg");
        assert!(long > short.len() && short.ends_with('\n') && short.lines().count() == 1, "{short:?}");
        let once = with_once(Path::new("/proc/loadavg"), 3, |b| b.len()).expect("loadavg");
        assert_eq!(once, 3);
        let s = read_to_string(Path::new("/proc/loadavg")).expect("loadavg");
        assert_eq!(s.split_whitespace().count(), 5);
        let n = with_once(Path::new("/proc/uptime"), 4096, |b| b.len()).expect("uptime");
        assert!(n > 3);
        // Nested use gets its own buffer.
        let nested = with_whole(Path::new("/proc/loadavg"), 1 << 20, |outer| {
            with_whole(Path::new("/proc/uptime"), 1 << 20, |inner| (outer.len(), inner.len())).expect("inner")
        })
        .expect("outer");
        assert!(nested.0 > 0 && nested.1 > 0);
    }
}
