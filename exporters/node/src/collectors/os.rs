//! `os`: the operating system from `/etc/os-release` (or `/usr/lib/os-release`) as `node_os_info`,
//! `node_os_version` and `node_os_support_end_timestamp_seconds`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// Parses an os-release file: `KEY=value` lines with shell-style single or double quotes and backslash escapes,
/// `#` comments and an optional `export ` prefix. A line that is not an assignment, a bad key or an unterminated
/// quote is an error.
pub fn parse_os_release(content: &str) -> Result<HashMap<String, String>, CollectError> {
    let mut env = HashMap::new();
    for (n, raw) in content.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let err = |what: &str| CollectError::Parse(format!("os-release line {}: {what}", n + 1));
        let (key, rest) = line.split_once('=').ok_or_else(|| err("missing '='"))?;
        let valid_key = key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_key {
            return Err(err("invalid key"));
        }
        env.insert(key.to_owned(), parse_value(rest).ok_or_else(|| err("invalid value"))?);
    }
    Ok(env)
}

/// One shell word: quoted and unquoted parts concatenated, ending at unquoted whitespace or `#`.
fn parse_value(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        c @ ('"' | '\\' | '$' | '`') => out.push(c),
                        'n' => out.push('\n'),
                        c => {
                            out.push('\\');
                            out.push(c);
                        }
                    },
                    c => out.push(c),
                }
            },
            '\\' => out.push(chars.next()?),
            c if c.is_whitespace() => {
                // Only a comment may follow the value.
                let rest: String = chars.collect();
                let rest = rest.trim_start();
                return (rest.is_empty() || rest.starts_with('#')).then_some(out);
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// The leading `major[.minor]` of `VERSION_ID` as a number (`22.04`, `12`), 0 when there is none.
pub fn major_minor(version_id: &str) -> f64 {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let major = digits(version_id);
    if major == 0 {
        return 0.0;
    }
    let mut end = major;
    if version_id[major..].starts_with('.') {
        end = major + 1 + digits(&version_id[major + 1..]);
    }
    version_id[..end].trim_end_matches('.').parse().unwrap_or(0.0)
}

/// Seconds since the epoch of a `YYYY-MM-DD` date at midnight UTC (`SUPPORT_END`).
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_len = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > month_len[(m - 1) as usize] {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), per Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

/// Writes the metrics for one parsed file.
pub fn emit(out: &mut Snapshot, env: &HashMap<String, String>) -> Result<(), CollectError> {
    let get = |k: &str| env.get(k).map(String::as_str).unwrap_or("");
    out.gauge(
        "node_os_info",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, \
         pretty_name, variant, variant_id, version, version_codename, version_id.",
    )
    .sample(
        &[
            ("build_id", get("BUILD_ID")),
            ("id", get("ID")),
            ("id_like", get("ID_LIKE")),
            ("image_id", get("IMAGE_ID")),
            ("image_version", get("IMAGE_VERSION")),
            ("name", get("NAME")),
            ("pretty_name", get("PRETTY_NAME")),
            ("variant", get("VARIANT")),
            ("variant_id", get("VARIANT_ID")),
            ("version", get("VERSION")),
            ("version_codename", get("VERSION_CODENAME")),
            ("version_id", get("VERSION_ID")),
        ],
        1.0,
    );
    let version = major_minor(get("VERSION_ID"));
    if version > 0.0 {
        out.gauge("node_os_version", "Metric containing the major.minor part of the OS version.")
            .sample(&[("id", get("ID")), ("id_like", get("ID_LIKE")), ("name", get("NAME"))], version);
    }
    let support_end = get("SUPPORT_END");
    if !support_end.is_empty() {
        let ts = parse_date(support_end)
            .ok_or_else(|| CollectError::Parse(format!("invalid SUPPORT_END {support_end:?}")))?;
        out.gauge(
            "node_os_support_end_timestamp_seconds",
            "Metric containing the end-of-life date timestamp of the OS.",
        )
        .sample(&[], ts as f64);
    }
    Ok(())
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let files = ["/etc/os-release", "/usr/lib/os-release"].map(|p| args.rootfs_path(std::path::Path::new(p)));
    Ok(blocking(Os { files: files.to_vec(), last: Mutex::new(None) }))
}

/// What identifies one version of a file: device, inode, size and modification time (seconds, nanoseconds).
type Identity = (u64, u64, u64, i64, i64);

/// A file's path, its identity when it was read, and its parsed content.
type Parsed = (PathBuf, Identity, HashMap<String, String>);

fn identity(meta: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec())
}

struct Os {
    files: Vec<PathBuf>,
    /// The file last parsed, its identity then, and what it said. Like node_exporter, which re-reads os-release
    /// only when its modification time changed, a scrape costs one `stat` while the file stays the same (a
    /// replacement by rename changes the inode, an edit in place the time or size).
    last: Mutex<Option<Parsed>>,
}

impl BlockingCollector for Os {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        for path in &self.files {
            let id = match std::fs::metadata(path) {
                Ok(meta) => identity(&meta),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CollectError::io(path.display(), e)),
            };
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((known_path, known_id, env)) = &*last
                && known_path == path
                && *known_id == id
            {
                return emit(out, env);
            }
            match read_file(path) {
                Ok(content) => {
                    let env = parse_os_release(&content)?;
                    let res = emit(out, &env);
                    *last = Some((path.clone(), id, env));
                    return res;
                }
                Err(e) if e.is_no_data() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CollectError::NoData("no os-release file found".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{garbage, render};

    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;

    #[test]
    fn parses_quotes_and_comments() {
        let env = parse_os_release(
            "# comment\n\nNAME='Ubuntu'\nVERSION_ID=\"22.04\" # trailing\nexport ID=ubuntu\nX=\"a\\\"b\\\\c\"\nY=a\\ b\n",
        )
        .expect("valid");
        assert_eq!(env["NAME"], "Ubuntu");
        assert_eq!(env["VERSION_ID"], "22.04");
        assert_eq!(env["ID"], "ubuntu");
        assert_eq!(env["X"], "a\"b\\c");
        assert_eq!(env["Y"], "a b");
        for bad in ["NAME", "1X=a", "X=\"open", "X='open", "X=a b", "=x"] {
            assert!(parse_os_release(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions_and_dates() {
        assert_eq!(major_minor("22.04"), 22.04);
        assert_eq!(major_minor("12"), 12.0);
        assert_eq!(major_minor("7.9.2009"), 7.9);
        assert_eq!(major_minor("rolling"), 0.0);
        assert_eq!(major_minor(""), 0.0);
        assert_eq!(major_minor("3."), 3.0);
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2029-04-30"), Some(1_872_201_600));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        for bad in ["2023-02-29", "2024-13-01", "2024-1-01", "soon", "+024-01-01"] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn collects_with_fallback_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("usr-os-release"), format!("{DEBIAN}SUPPORT_END=2028-06-30\n")).expect("write");
        let c =
            Os { files: vec![dir.path().join("missing"), dir.path().join("usr-os-release")], last: Mutex::new(None) };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        assert!(text.contains("node_os_info{build_id=\"\",id=\"debian\",id_like=\"\",image_id=\"\",image_version=\"\",name=\"Debian GNU/Linux\",pretty_name=\"Debian GNU/Linux 12 (bookworm)\",variant=\"\",variant_id=\"\",version=\"12 (bookworm)\",version_codename=\"bookworm\",version_id=\"12\"} 1"), "{text}");
        assert!(text.contains("node_os_version{id=\"debian\",id_like=\"\",name=\"Debian GNU/Linux\"} 12"), "{text}");
        assert!(text.contains("node_os_support_end_timestamp_seconds 1.845936e+09"), "{text}");
        let none = Os { files: vec![dir.path().join("missing")], last: Mutex::new(None) };
        let res = none.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err_and(|e| e.is_no_data()));
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (etc, usr) = (dir.path().join("etc-os-release"), dir.path().join("usr-os-release"));
        std::fs::write(&usr, DEBIAN).expect("write");
        let c = Os { files: vec![etc.clone(), usr.clone()], last: Mutex::new(None) };
        let scrape = || {
            let mut out = Snapshot::new();
            c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
            render(out)
        };
        assert!(scrape().contains("version_id=\"12\""));
        // Unchanged: the same output from what was parsed.
        assert_eq!(scrape(), scrape());
        // Replaced by rename, same size and modification time: a new inode.
        let new = dir.path().join("new");
        std::fs::write(&new, DEBIAN.replace("VERSION_ID=\"12\"", "VERSION_ID=\"13\"")).expect("write");
        let old_time = std::fs::metadata(&usr).expect("stat").modified().expect("mtime");
        std::fs::File::options().write(true).open(&new).expect("open").set_modified(old_time).expect("touch");
        std::fs::rename(&new, &usr).expect("rename");
        assert!(scrape().contains("version_id=\"13\""));
        // Edited in place.
        std::fs::write(&usr, DEBIAN.replace("VERSION_ID=\"12\"", "VERSION_ID=\"14.1\"")).expect("write");
        assert!(scrape().contains("version_id=\"14.1\""));
        // The first file appears: it wins from the next scrape on.
        std::fs::write(&etc, DEBIAN.replace("ID=debian", "ID=other")).expect("write");
        assert!(scrape().contains("id=\"other\""));
        // And goes away again.
        std::fs::remove_file(&etc).expect("rm");
        assert!(scrape().contains("id=\"debian\""));
    }

    #[test]
    fn garbage_never_panics() {
        garbage(b"AZ_=\"'\\ #\n09.x", DEBIAN, |s| {
            if let Ok(env) = parse_os_release(s) {
                let _ = emit(&mut Snapshot::new(), &env);
            }
        });
    }
}
