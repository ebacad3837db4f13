//! `watchdog`: hardware watchdogs from `/sys/class/watchdog/watchdogN` (`node_watchdog_*`).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::read_attr;

/// `(file, metric suffix)` of the numeric attributes, all optional.
const NUMERIC: &[(&str, &str)] = &[
    ("bootstatus", "bootstatus"),
    ("fw_version", "fw_version"),
    ("nowayout", "nowayout"),
    ("timeleft", "timeleft_seconds"),
    ("timeout", "timeout_seconds"),
    ("pretimeout", "pretimeout_seconds"),
    ("access_cs0", "access_cs0"),
];

/// `(label, file)` of the text attributes of `node_watchdog_info`, in label order.
const TEXT: &[(&str, &str)] = &[
    ("identity", "identity"),
    ("options", "options"),
    ("pretimeout_governor", "pretimeout_governor"),
    ("state", "state"),
    ("status", "status"),
];

/// One watchdog's attributes: numbers by file (absent when missing), text by file (empty when missing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watchdog {
    /// Numeric attributes in [`NUMERIC`] order.
    pub numbers: Vec<Option<i64>>,
    /// Text attributes in [`TEXT`] order.
    pub text: Vec<String>,
}

fn optional(path: &Path) -> Result<Option<String>, CollectError> {
    match read_attr(path) {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) => Ok(None),
        Err(e) => Err(CollectError::io(path.display(), e)),
    }
}

/// Reads one watchdog directory; a present but invalid number is an error.
pub fn read_watchdog(dir: &Path) -> Result<Watchdog, CollectError> {
    let mut w = Watchdog::default();
    for (file, _) in NUMERIC {
        let path = dir.join(file);
        let v = match optional(&path)? {
            Some(v) => Some(
                v.parse::<i64>()
                    .map_err(|_| CollectError::Parse(format!("{}: invalid value {v:?}", path.display())))?,
            ),
            None => None,
        };
        w.numbers.push(v);
    }
    for (_, file) in TEXT {
        w.text.push(optional(&dir.join(file))?.unwrap_or_default());
    }
    Ok(w)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(WatchdogCollector { dir: args.sys_path("class/watchdog") }))
}

struct WatchdogCollector {
    dir: PathBuf,
}

impl BlockingCollector for WatchdogCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        if let Err(e) = std::fs::read_dir(&self.dir) {
            return Err(match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    CollectError::NoData(format!("could not read watchdog stats: {e}"))
                }
                _ => CollectError::io(self.dir.display(), e),
            });
        }
        let mut watchdogs = Vec::new();
        for (name, path) in super::numbered_entries(&self.dir, "watchdog") {
            watchdogs.push((name, read_watchdog(&path)?));
        }
        for (name, w) in &watchdogs {
            for ((file, suffix), v) in NUMERIC.iter().zip(&w.numbers) {
                if let Some(v) = v {
                    out.gauge(
                        format!("node_watchdog_{suffix}"),
                        format!("Value of /sys/class/watchdog/<watchdog>/{file}"),
                    )
                    .sample(&[("name", name)], *v as f64);
                }
            }
            let mut labels: Vec<(&'static str, &str)> = vec![("name", name.as_str())];
            labels.extend(TEXT.iter().zip(&w.text).map(|((label, _), v)| (*label, v.as_str())));
            labels.sort();
            out.gauge("node_watchdog_info", "Info of /sys/class/watchdog/<watchdog>").sample(&labels, 1.0);
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
        let c = WatchdogCollector { dir: fixture("hardware/sys/class/watchdog") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        for line in [
            "node_watchdog_bootstatus{name=\"watchdog0\"} 1",
            "node_watchdog_timeout_seconds{name=\"watchdog0\"} 60",
            "node_watchdog_timeleft_seconds{name=\"watchdog0\"} 45",
            "node_watchdog_info{identity=\"iTCO_wdt\",name=\"watchdog0\",options=\"0x8380\",pretimeout_governor=\"\",state=\"active\",status=\"0x8000\"} 1",
            "node_watchdog_info{identity=\"\",name=\"watchdog1\",options=\"\",pretimeout_governor=\"\",state=\"\",status=\"\"} 1",
            "# HELP node_watchdog_timeout_seconds Value of /sys/class/watchdog/<watchdog>/timeout",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("node_watchdog_access_cs0"), "{text}");
        let missing = WatchdogCollector { dir: fixture("nope") };
        let res =
            missing.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err_and(|e| e.is_no_data()));
    }
}
