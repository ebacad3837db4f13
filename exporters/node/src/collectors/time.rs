//! `time`: the system clock (`node_time_seconds`), the local time zone's offset
//! (`node_time_zone_offset_seconds{time_zone}`) and the kernel's clocksources from
//! `/sys/devices/system/clocksource`.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::{numbered_entries, read_file};
use crate::args::Args;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Time { clocksource_dir: args.sys_path("devices/system/clocksource") }))
}

struct Time {
    clocksource_dir: PathBuf,
}

impl BlockingCollector for Time {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let now = jiff::Timestamp::now();
        out.gauge("node_time_seconds", "System time in seconds since epoch (1970).")
            .sample(&[], now.as_nanosecond() as f64 / 1e9);
        // The local zone as Go's time.Local resolves it: $TZ, else /etc/localtime, else UTC (named "UTC", where
        // jiff's own fallback would be "Etc/Unknown").
        let tz = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
        let info = tz.to_offset_info(now);
        out.gauge("node_time_zone_offset_seconds", "System time zone offset in seconds.")
            .sample(&[("time_zone", info.abbreviation())], f64::from(info.offset().seconds()));

        let sources = read_clocksources(&self.clocksource_dir)?;
        if sources.is_empty() {
            return Ok(());
        }
        let available = out.gauge(
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
        );
        for (i, s) in sources.iter().enumerate() {
            // The device label is the position in the sorted list, not the number in the directory name.
            let device = i.to_string();
            for name in &s.available {
                available.sample(&[("clocksource", name), ("device", &device)], 1.0);
            }
        }
        let current = out.gauge(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
        );
        for (i, s) in sources.iter().enumerate() {
            current.sample(&[("clocksource", &s.current), ("device", &i.to_string())], 1.0);
        }
        Ok(())
    }
}

/// One `clocksourceN` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clocksource {
    /// `available_clocksource`, split on whitespace.
    pub available: Vec<String>,
    /// `current_clocksource`, trimmed.
    pub current: String,
}

/// Reads every `clocksource[0-9]*` directory below `dir` in name order. A missing `dir` has none; a directory
/// without its two files is an error, as in node_exporter.
pub fn read_clocksources(dir: &std::path::Path) -> Result<Vec<Clocksource>, CollectError> {
    numbered_entries(dir, "clocksource")
        .into_iter()
        .map(|(_, path)| {
            // The directory exists, so a missing file is a broken sysfs, not a host without clocksources.
            let read = |f: &str| {
                read_file(&path.join(f)).map_err(|e| match e {
                    CollectError::NoData(m) => CollectError::Other(m),
                    e => e,
                })
            };
            let available = read("available_clocksource")?;
            let current = read("current_clocksource")?;
            Ok(Clocksource {
                available: available.split_whitespace().map(str::to_owned).collect(),
                current: current.trim().to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_clocksources_in_name_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, avail, cur) in [("clocksource0", "tsc hpet acpi_pm\n", "tsc\n"), ("clocksource1", "", "none\n")] {
            let d = dir.path().join(name);
            std::fs::create_dir(&d).expect("mkdir");
            std::fs::write(d.join("available_clocksource"), avail).expect("write");
            std::fs::write(d.join("current_clocksource"), cur).expect("write");
        }
        std::fs::create_dir(dir.path().join("power")).expect("mkdir");
        let got = read_clocksources(dir.path()).expect("valid");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].available, ["tsc", "hpet", "acpi_pm"]);
        assert_eq!(got[0].current, "tsc");
        assert!(got[1].available.is_empty());
        assert!(read_clocksources(&dir.path().join("missing")).expect("no dir is fine").is_empty());
        std::fs::create_dir(dir.path().join("clocksource2")).expect("mkdir");
        assert!(read_clocksources(dir.path()).is_err(), "a clocksource without its files fails");
    }
}
