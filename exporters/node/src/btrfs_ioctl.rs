//! The three read-only Btrfs ioctls the btrfs collector asks a mounted filesystem (as node_exporter does through
//! its btrfs library): `BTRFS_IOC_FS_INFO` (device count and filesystem id), `BTRFS_IOC_DEV_INFO` (a device's UUID,
//! path, size and used bytes) and `BTRFS_IOC_GET_DEV_STATS` (a device's error counters, without resetting them).
//!
//! The kernel structures are handled as plain byte buffers: the `unsafe` calls live in the small module `sys`,
//! decoding is safe code here ([`decode_fs_info`], [`decode_dev_info`], [`decode_dev_stats`], unit-tested with
//! hand-made buffers). [`Kernel`] and [`Handle`] are the seam the collector uses, so its logic is tested with a
//! stand-in; [`RealKernel`] is the real thing.

use std::fs::File;
use std::io;
use std::path::Path;

/// Size of `struct btrfs_ioctl_fs_info_args` (padded to 1 KiB).
pub const FS_INFO_LEN: usize = 1024;
/// Size of `struct btrfs_ioctl_dev_info_args` (padded to 4 KiB).
pub const DEV_INFO_LEN: usize = 4096;
/// Size of `struct btrfs_ioctl_get_dev_stats` (padded to 1 KiB + 8).
pub const DEV_STATS_LEN: usize = 1032;
/// `BTRFS_DEV_STAT_VALUES_MAX`: write, read, flush, corruption and generation errors.
pub const DEV_STAT_VALUES: usize = 5;
/// Offset of `path` in `struct btrfs_ioctl_dev_info_args`, and its size (`BTRFS_DEVICE_PATH_NAME_MAX`).
const DEV_INFO_PATH: usize = 3072;

/// What `BTRFS_IOC_FS_INFO` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    /// The highest device id.
    pub max_id: u64,
    /// The number of devices.
    pub num_devices: u64,
    /// The filesystem id (the UUID of `/sys/fs/btrfs/<uuid>`).
    pub fsid: [u8; 16],
}

/// What `BTRFS_IOC_DEV_INFO` reports about one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevInfo {
    /// The device UUID.
    pub uuid: [u8; 16],
    /// Bytes allocated on the device.
    pub bytes_used: u64,
    /// The device's size.
    pub total_bytes: u64,
    /// The device path the filesystem was mounted with (`/dev/sda1`), empty for a missing device.
    pub path: String,
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = buf.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_ne_bytes(b))
}

fn bytes16_at(buf: &[u8], at: usize) -> Option<[u8; 16]> {
    buf.get(at..at.checked_add(16)?)?.try_into().ok()
}

/// Decodes `struct btrfs_ioctl_fs_info_args` (`None` if `buf` is too short).
pub fn decode_fs_info(buf: &[u8]) -> Option<FsInfo> {
    Some(FsInfo { max_id: u64_at(buf, 0)?, num_devices: u64_at(buf, 8)?, fsid: bytes16_at(buf, 16)? })
}

/// The `BTRFS_IOC_DEV_INFO` argument asking for device `devid` (a zero UUID: look up by id).
pub fn dev_info_request(devid: u64) -> [u8; DEV_INFO_LEN] {
    let mut buf = [0u8; DEV_INFO_LEN];
    buf[..8].copy_from_slice(&devid.to_ne_bytes());
    buf
}

/// Decodes `struct btrfs_ioctl_dev_info_args` (`None` if `buf` is too short). The path ends at the first NUL.
pub fn decode_dev_info(buf: &[u8]) -> Option<DevInfo> {
    let path = buf.get(DEV_INFO_PATH..)?;
    let path = &path[..path.iter().position(|&b| b == 0).unwrap_or(path.len())];
    Some(DevInfo {
        uuid: bytes16_at(buf, 8)?,
        bytes_used: u64_at(buf, 24)?,
        total_bytes: u64_at(buf, 32)?,
        path: String::from_utf8_lossy(path).into_owned(),
    })
}

/// The `BTRFS_IOC_GET_DEV_STATS` argument for device `devid`: all counters, flags 0 (read, do not reset).
pub fn dev_stats_request(devid: u64) -> [u8; DEV_STATS_LEN] {
    let mut buf = [0u8; DEV_STATS_LEN];
    buf[..8].copy_from_slice(&devid.to_ne_bytes());
    buf[8..16].copy_from_slice(&(DEV_STAT_VALUES as u64).to_ne_bytes());
    buf
}

/// Decodes the counters of `struct btrfs_ioctl_get_dev_stats`; counters past the `nr_items` the kernel filled in
/// (older kernels know fewer) are 0. `None` if `buf` is too short.
pub fn decode_dev_stats(buf: &[u8]) -> Option<[u64; DEV_STAT_VALUES]> {
    let filled = u64_at(buf, 8)?;
    let mut out = [0u64; DEV_STAT_VALUES];
    for (i, v) in out.iter_mut().enumerate() {
        if (i as u64) < filled {
            *v = u64_at(buf, 24 + 8 * i)?;
        }
    }
    Some(out)
}

/// A filesystem id as node_exporter's library prints it: 32 lowercase hex digits.
pub fn fsid_hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A device UUID as node_exporter's library prints it (`8-4-4-4-12` lowercase hex), `<zero>` for all zeros.
pub fn uuid_string(id: &[u8; 16]) -> String {
    if id.iter().all(|&b| b == 0) {
        return "<zero>".to_owned();
    }
    let h = fsid_hex(id);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// An open, mounted Btrfs filesystem to ask.
pub trait Handle {
    /// `BTRFS_IOC_FS_INFO`.
    fn fs_info(&self) -> io::Result<FsInfo>;
    /// `BTRFS_IOC_DEV_INFO` for device `devid` (`ENODEV` for an unused id: ids have gaps).
    fn dev_info(&self, devid: u64) -> io::Result<DevInfo>;
    /// `BTRFS_IOC_GET_DEV_STATS` for device `devid`.
    fn dev_stats(&self, devid: u64) -> io::Result<[u64; DEV_STAT_VALUES]>;
}

/// Opens mounted filesystems: the kernel, or a stand-in in tests.
pub trait Kernel: Send + Sync {
    /// Opens the mount point `path` (read-only).
    fn open(&self, path: &Path) -> io::Result<Box<dyn Handle>>;
}

/// The real kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealKernel;

impl Kernel for RealKernel {
    fn open(&self, path: &Path) -> io::Result<Box<dyn Handle>> {
        // A directory opens read-only like a file; the ioctls go to the filesystem it belongs to.
        Ok(Box::new(Mounted(File::open(path)?)))
    }
}

struct Mounted(File);

fn short(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: short buffer"))
}

impl Handle for Mounted {
    fn fs_info(&self) -> io::Result<FsInfo> {
        let mut buf = [0u8; FS_INFO_LEN];
        sys::fs_info(&self.0, &mut buf)?;
        decode_fs_info(&buf).ok_or_else(|| short("BTRFS_IOC_FS_INFO"))
    }

    fn dev_info(&self, devid: u64) -> io::Result<DevInfo> {
        let mut buf = dev_info_request(devid);
        sys::dev_info(&self.0, &mut buf)?;
        decode_dev_info(&buf).ok_or_else(|| short("BTRFS_IOC_DEV_INFO"))
    }

    fn dev_stats(&self, devid: u64) -> io::Result<[u64; DEV_STAT_VALUES]> {
        let mut buf = dev_stats_request(devid);
        sys::dev_stats(&self.0, &mut buf)?;
        decode_dev_stats(&buf).ok_or_else(|| short("BTRFS_IOC_GET_DEV_STATS"))
    }
}

/// The ioctl calls themselves: the only `unsafe` code of this module.
///
/// Why it is sound: each call passes a pointer to a byte array owned by the caller whose size is exactly the size
/// the opcode encodes (the kernel's `_IOR`/`_IOWR` size, checked against the uapi structs above: 1024, 4096 and
/// 1032 bytes), so the kernel reads and writes only inside it; any bit pattern is a valid `[u8; N]`; the pointer
/// does not outlive the call; the file descriptor is borrowed from an open `File`. The ioctls only read filesystem
/// state (`GET_DEV_STATS` is sent with flags 0, which does not reset the counters).
#[allow(unsafe_code)]
mod sys {
    use std::fs::File;
    use std::io;

    use rustix::ioctl::{Updater, ioctl, opcode};

    use super::{DEV_INFO_LEN, DEV_STATS_LEN, FS_INFO_LEN};

    /// `BTRFS_IOCTL_MAGIC`.
    const MAGIC: u8 = 0x94;

    /// `BTRFS_IOC_FS_INFO`: `_IOR(0x94, 31, struct btrfs_ioctl_fs_info_args)`.
    pub fn fs_info(fd: &File, buf: &mut [u8; FS_INFO_LEN]) -> io::Result<()> {
        // SAFETY: see the module documentation.
        unsafe { ioctl(fd, Updater::<{ opcode::read::<[u8; FS_INFO_LEN]>(MAGIC, 31) }, _>::new(buf)) }?;
        Ok(())
    }

    /// `BTRFS_IOC_DEV_INFO`: `_IOWR(0x94, 30, struct btrfs_ioctl_dev_info_args)`.
    pub fn dev_info(fd: &File, buf: &mut [u8; DEV_INFO_LEN]) -> io::Result<()> {
        // SAFETY: see the module documentation.
        unsafe { ioctl(fd, Updater::<{ opcode::read_write::<[u8; DEV_INFO_LEN]>(MAGIC, 30) }, _>::new(buf)) }?;
        Ok(())
    }

    /// `BTRFS_IOC_GET_DEV_STATS`: `_IOWR(0x94, 52, struct btrfs_ioctl_get_dev_stats)`.
    pub fn dev_stats(fd: &File, buf: &mut [u8; DEV_STATS_LEN]) -> io::Result<()> {
        // SAFETY: see the module documentation.
        unsafe { ioctl(fd, Updater::<{ opcode::read_write::<[u8; DEV_STATS_LEN]>(MAGIC, 52) }, _>::new(buf)) }?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_match_the_kernel_headers() {
        // The values of BTRFS_IOC_FS_INFO, BTRFS_IOC_DEV_INFO and BTRFS_IOC_GET_DEV_STATS on x86_64/aarch64
        // (computed by the kernel's _IOR/_IOWR macros from the uapi struct sizes).
        assert_eq!(rustix::ioctl::opcode::read::<[u8; FS_INFO_LEN]>(0x94, 31), 0x8400_941f);
        assert_eq!(rustix::ioctl::opcode::read_write::<[u8; DEV_INFO_LEN]>(0x94, 30), 0xd000_941e);
        assert_eq!(rustix::ioctl::opcode::read_write::<[u8; DEV_STATS_LEN]>(0x94, 52), 0xc408_9434);
    }

    #[test]
    fn decodes_hand_made_buffers() {
        let mut fs = [0u8; FS_INFO_LEN];
        fs[..8].copy_from_slice(&3u64.to_ne_bytes());
        fs[8..16].copy_from_slice(&2u64.to_ne_bytes());
        fs[16..32].copy_from_slice(&[0xab; 16]);
        assert_eq!(decode_fs_info(&fs), Some(FsInfo { max_id: 3, num_devices: 2, fsid: [0xab; 16] }));

        let mut dev = dev_info_request(7);
        assert_eq!(u64_at(&dev, 0), Some(7));
        let uuid: [u8; 16] = core::array::from_fn(|i| i as u8);
        dev[8..24].copy_from_slice(&uuid);
        dev[24..32].copy_from_slice(&100u64.to_ne_bytes());
        dev[32..40].copy_from_slice(&1000u64.to_ne_bytes());
        dev[DEV_INFO_PATH..DEV_INFO_PATH + 10].copy_from_slice(b"/dev/loop3");
        let info = decode_dev_info(&dev).expect("long enough");
        assert_eq!(info, DevInfo { uuid, bytes_used: 100, total_bytes: 1000, path: "/dev/loop3".into() });
        // A path filling the whole field has no NUL.
        dev[DEV_INFO_PATH..].fill(b'x');
        assert_eq!(decode_dev_info(&dev).expect("long enough").path.len(), 1024);

        let mut stats = dev_stats_request(1);
        assert_eq!((u64_at(&stats, 0), u64_at(&stats, 8), u64_at(&stats, 16)), (Some(1), Some(5), Some(0)));
        for i in 0..5 {
            stats[24 + 8 * i..32 + 8 * i].copy_from_slice(&(i as u64 + 10).to_ne_bytes());
        }
        assert_eq!(decode_dev_stats(&stats), Some([10, 11, 12, 13, 14]));
        // A kernel that filled in only 3 counters.
        stats[8..16].copy_from_slice(&3u64.to_ne_bytes());
        assert_eq!(decode_dev_stats(&stats), Some([10, 11, 12, 0, 0]));

        assert_eq!(uuid_string(&uuid), "00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(uuid_string(&[0; 16]), "<zero>");
        assert_eq!(fsid_hex(&uuid), "000102030405060708090a0b0c0d0e0f");
    }

    #[test]
    fn short_buffers_are_refused() {
        for len in 0..64 {
            let buf = vec![0xffu8; len];
            assert_eq!(decode_fs_info(&buf).is_some(), len >= 32);
            assert!(decode_dev_info(&buf).is_none());
            assert_eq!(decode_dev_stats(&buf).is_some(), len >= 64);
        }
    }

    #[test]
    fn a_directory_that_is_not_btrfs_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = RealKernel.open(dir.path()).expect("open a directory");
        // tmpfs/ext4 answer ENOTTY (or EINVAL) to Btrfs ioctls.
        assert!(h.fs_info().is_err());
        assert!(h.dev_info(1).is_err());
        assert!(h.dev_stats(1).is_err());
    }
}
