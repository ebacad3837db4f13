//! `thermal_zone`: `/sys/class/thermal` zones (`node_thermal_zone_temp`) and cooling devices
//! (`node_cooling_device_cur_state`, `node_cooling_device_max_state`).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::{read_attr, sorted_entries};

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(ThermalZone { dir: args.sys_path("class/thermal") }))
}

struct ThermalZone {
    dir: PathBuf,
}

/// One thermal zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// The zone's type (`x86_pkg_temp`, `acpitz`).
    pub zone_type: String,
    /// Temperature in millidegrees Celsius.
    pub temp: i64,
}

/// One cooling device.
#[derive(Debug, Clone, PartialEq)]
pub struct CoolingDevice {
    /// The device's type (`Processor`, `Fan`, `intel_powerclamp`).
    pub device_type: String,
    /// Current state (-1 for some drivers such as intel_powerclamp).
    pub cur_state: i64,
    /// Maximum state.
    pub max_state: i64,
}

fn parse_int(dir: &Path, name: &str) -> std::io::Result<i64> {
    let v = read_attr(&dir.join(name))?;
    v.parse().map_err(|_| std::io::Error::new(ErrorKind::InvalidData, format!("invalid {name} value {v:?}")))
}

/// Reads a `thermal_zoneN` directory: `type`, `policy` (must exist) and `temp`.
pub fn read_zone(dir: &Path) -> std::io::Result<Zone> {
    let zone_type = read_attr(&dir.join("type"))?;
    read_attr(&dir.join("policy"))?;
    Ok(Zone { zone_type, temp: parse_int(dir, "temp")? })
}

/// Reads a `cooling_deviceN` directory.
pub fn read_cooling_device(dir: &Path) -> std::io::Result<CoolingDevice> {
    Ok(CoolingDevice {
        device_type: read_attr(&dir.join("type"))?,
        max_state: parse_int(dir, "max_state")?,
        cur_state: parse_int(dir, "cur_state")?,
    })
}

/// `prefix<digit>…` entries of the class directory.
fn numbered<'a>(entries: &'a [(String, PathBuf)], prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a Path)> {
    entries.iter().filter_map(move |(name, path)| {
        let rest = name.strip_prefix(prefix)?;
        rest.starts_with(|c: char| c.is_ascii_digit()).then_some((rest, path.as_path()))
    })
}

impl BlockingCollector for ThermalZone {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let entries = match sorted_entries(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(CollectError::NoData("no /sys/class/thermal".into()));
            }
            Err(e) => return Err(CollectError::io(self.dir.display(), e)),
        };
        let mut last_err = None;
        for (name, path) in numbered(&entries, "thermal_zone") {
            match read_zone(path) {
                Ok(z) => {
                    out.gauge("node_thermal_zone_temp", "Zone temperature in Celsius")
                        .sample(&[("type", &z.zone_type), ("zone", name)], z.temp as f64 / 1000.0);
                }
                // A zone whose sensor has no reading right now (ENODATA, EINVAL, EAGAIN) is skipped, as in
                // node_exporter; other errors fail the collector after the rest is written.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA | libc::EINVAL | libc::EAGAIN)) => {}
                Err(e) => last_err = Some(CollectError::io(path.display(), e)),
            }
        }
        for (name, path) in numbered(&entries, "cooling_device") {
            match read_cooling_device(path) {
                Ok(d) => {
                    let labels = [("name", name), ("type", d.device_type.as_str())];
                    out.gauge("node_cooling_device_cur_state", "Current throttle state of the cooling device")
                        .sample(&labels, d.cur_state as f64);
                    out.gauge("node_cooling_device_max_state", "Maximum throttle state of the cooling device")
                        .sample(&labels, d.max_state as f64);
                }
                Err(e) => last_err = Some(CollectError::io(path.display(), e)),
            }
        }
        last_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, render};

    fn run(tree: &str) -> (Result<(), CollectError>, String) {
        let c = ThermalZone { dir: fixture(tree).join("sys/class/thermal") };
        let mut out = Snapshot::new();
        let res = c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out);
        (res, render(out))
    }

    #[test]
    fn fixture_tree() {
        let (res, text) = run("hardware");
        assert!(res.is_ok());
        for line in [
            "node_thermal_zone_temp{type=\"bcm2835_thermal\",zone=\"0\"} 49.925",
            "node_thermal_zone_temp{type=\"acpitz\",zone=\"1\"} -44",
            "node_cooling_device_cur_state{name=\"0\",type=\"Processor\"} 0",
            "node_cooling_device_max_state{name=\"0\",type=\"Processor\"} 50",
            "node_cooling_device_cur_state{name=\"2\",type=\"intel_powerclamp\"} -1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn broken_entries_fail_the_collector_but_keep_the_rest() {
        let (res, text) = run("broken");
        assert!(res.is_err());
        assert!(text.contains("node_thermal_zone_temp{type=\"acpitz\",zone=\"0\"} 12"), "{text}");
        assert!(text.contains("node_cooling_device_cur_state{name=\"3\",type=\"Fan\"} 1"), "{text}");
        assert!(!text.contains("zone=\"1\"") && !text.contains("name=\"1\""), "{text}");
    }

    #[test]
    fn missing_class_is_no_data() {
        let c = ThermalZone { dir: fixture("nope") };
        let res = c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut Snapshot::new());
        assert!(res.is_err_and(|e| e.is_no_data()));
    }
}
