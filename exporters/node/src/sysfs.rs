//! Small helpers the sysfs and procfs collectors share: single-read attribute files, Go-style integers, sorted
//! directory listings, and a text rendering of a snapshot for tests.

use std::path::{Path, PathBuf};

use oxporter_core::kept;

/// `bytes` as text, invalid UTF-8 replaced (as [`String::from_utf8_lossy`]). Valid text, the usual case, is
/// checked by [`std::str::from_utf8`], which runs through ASCII a word at a time; the lossy decoder goes byte by
/// byte and showed up in scrape profiles.
pub fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Reads at most `max` bytes with a single `read` call. Some sysfs attributes (broken hwmon drivers, `EAGAIN`)
/// never finish a read-to-end loop; one read either has the data or fails at once. Pseudo-files are read through
/// kept descriptors ([`kept`]).
pub fn read_once(path: &Path, max: usize) -> std::io::Result<String> {
    kept::with_once(path, max, |b| lossy(b).into_owned())
}

/// Reads a sysfs attribute as the Go sysfs library's `SysReadFile` does: one read of up to 4 KiB, surrounding
/// whitespace trimmed.
pub fn read_attr(path: &Path) -> std::io::Result<String> {
    read_attr_with(path, str::to_owned)
}

/// [`read_attr`]'s trimmed text handed to `f`, borrowed from the reused buffer (valid UTF-8 is not copied), so a
/// value that is parsed right away costs no allocation.
pub fn read_attr_with<T>(path: &Path, f: impl FnOnce(&str) -> T) -> std::io::Result<T> {
    kept::with_once(path, 4096, |b| f(lossy(b).trim()))
}

/// [`read_attr`] of `dir/name`, `None` when missing or unreadable (optional attributes).
pub fn attr(dir: &Path, name: &str) -> Option<String> {
    read_attr(&dir.join(name)).ok()
}

/// [`attr`] parsed as an unsigned integer.
pub fn attr_u64(dir: &Path, name: &str) -> Option<u64> {
    read_attr_with(&dir.join(name), |s| s.parse().ok()).ok().flatten()
}

/// [`attr`] parsed as a signed integer.
pub fn attr_i64(dir: &Path, name: &str) -> Option<i64> {
    read_attr_with(&dir.join(name), |s| s.parse().ok()).ok().flatten()
}

/// Parses an integer as Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then what
/// [`crate::collectors::parse_go_uint`] accepts (decimal, `0x`, `0o`/leading-zero octal, `0b`, `_` separators).
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = crate::collectors::parse_go_uint(rest)?;
    if neg {
        0i64.checked_sub_unsigned(magnitude).or((magnitude == 1 << 63).then_some(i64::MIN))
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// The entries of `dir`, sorted by name (Go's `os.ReadDir` order). `NotFound` is passed on so callers can report
/// "no data".
pub fn sorted_entries(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    Ok(typed_entries(dir)?.into_iter().map(|(name, path, _)| (name, path)).collect())
}

/// [`sorted_entries`] with each entry's type as the listing gives it (`d_type`; sysfs and procfs fill it in, so
/// no `lstat` per entry). Symlinks are not followed. procfs and sysfs directories are listed through kept
/// descriptors ([`kept::list_dir`]), and each entry's identity is declared ([`listed`]).
pub fn typed_entries(dir: &Path) -> std::io::Result<Vec<(String, PathBuf, kept::EntryKind)>> {
    let mut out: Vec<(String, PathBuf, kept::EntryKind)> = kept::list_dir(dir)?
        .into_iter()
        .map(|e| (e.name.to_string_lossy().into_owned(), listed(dir, &e), e.kind))
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Ok(out)
}

/// The path of the entry `entry` of `dir`, after telling the kept descriptors its identity: when the name now
/// belongs to another object (an interface renamed away and a new one given its name), descriptors kept below it
/// are closed rather than read on ([`kept::KeptFiles::forget_changed`]). The inode number comes with the listing.
pub fn listed(dir: &Path, entry: &kept::DirEntry) -> PathBuf {
    let path = dir.join(&entry.name);
    kept::KeptFiles::global().forget_changed(&path, entry.ino);
    path
}

/// [`sorted_entries`] for a collector's class directory: a missing directory is "no data" (the host lacks the
/// hardware, logged at debug level), any other error an I/O error naming the directory.
pub fn class_entries(dir: &Path, missing: &str) -> Result<Vec<(String, PathBuf)>, oxporter_core::CollectError> {
    sorted_entries(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => oxporter_core::CollectError::NoData(missing.to_owned()),
        _ => oxporter_core::CollectError::io(dir.display(), e),
    })
}

/// Helpers for unit tests of collectors.
#[cfg(test)]
pub(crate) mod testing {
    use oxporter_core::Snapshot;
    use oxporter_core::encode::{Format, encode};
    use std::path::PathBuf;

    /// The fixture tree `exporters/node/tests/fixtures/<name>`.
    pub fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    /// The snapshot as sorted text exposition.
    pub fn render(snap: Snapshot) -> String {
        encode(Format::Text004, &snap.into_sorted())
    }

    /// Calls `f` with every prefix of `valid` and with a few thousand pseudo-random strings over `alphabet`
    /// (the shared helpers in `collectors::testutil`): parsers must return errors on such input, never panic. The
    /// fuzz targets explore further.
    pub fn garbage(alphabet: &[u8], valid: &str, f: impl Fn(&str)) {
        crate::collectors::testutil::truncations(valid, &f);
        crate::collectors::testutil::never_panics(alphabet, &f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_is_from_utf8_lossy() {
        for b in [&b""[..], b"abc 1\n", "é€ ok".as_bytes(), b"a\xffb\xc3", b"\xe2\x82"] {
            assert_eq!(lossy(b), String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn go_ints() {
        for (s, v) in [("42", 42), ("-7", -7), ("+3", 3), ("0x1f", 31), ("017", 15), ("0b101", 5), ("1_000", 1000)] {
            assert_eq!(parse_go_int(s), Some(v), "{s}");
        }
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        for bad in ["", "-", "x", "08", "1__0", "_1", "1_", "9223372036854775808", " 1", "0x", "1.5"] {
            assert_eq!(parse_go_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_once_and_trims() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a"), " 42\n").expect("write");
        assert_eq!(attr(dir.path(), "a").as_deref(), Some("42"));
        assert_eq!(attr_u64(dir.path(), "a"), Some(42));
        assert_eq!(attr(dir.path(), "missing"), None);
        assert_eq!(read_once(&dir.path().join("a"), 2).expect("read"), " 4");
    }
}
