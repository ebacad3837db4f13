//! `powersupplyclass`: batteries, mains adapters and UPSes from `/sys/class/power_supply` as
//! `node_power_supply_<attribute>{power_supply}` plus `node_power_supply_info`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use crate::args::Args;
use crate::sysfs::{parse_go_int, read_attr, sorted_entries};

/// Flags of the powersupplyclass collector.
#[derive(Debug, Clone, clap::Args)]
pub struct PowerSupplyArgs {
    /// Regexp of power supplies to ignore for powersupplyclass collector.
    #[arg(
        id = "collector.powersupply.ignored-supplies",
        long = "collector.powersupply.ignored-supplies",
        value_name = "REGEXP",
        default_value = "^$",
        help_heading = "Collector: powersupplyclass"
    )]
    pub ignored_supplies: String,
}

/// `(file, metric suffix, divisor)`: numeric attributes node_exporter exports, with their scale to base units.
const NUMERIC: &[(&str, &str, f64)] = &[
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    ("constant_charge_current_max", "constant_charge_current_max", 1e6),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    ("constant_charge_voltage_max", "constant_charge_voltage_max", 1e6),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Numeric attributes the kernel documents that node_exporter reads but does not export; still validated.
const NUMERIC_UNEXPORTED: &[&str] =
    &["charge_avg", "current_avg", "energy_avg", "power_avg", "time_to_empty_avg", "time_to_full_avg", "voltage_avg"];

/// Text attributes that become labels of `node_power_supply_info`.
const TEXT: &[&str] = &[
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

/// The attributes of one power supply that node_exporter knows: numbers by file name, text by file name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PowerSupply {
    /// Numeric attributes, raw kernel units.
    pub numbers: BTreeMap<&'static str, i64>,
    /// Text attributes.
    pub text: BTreeMap<&'static str, String>,
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(PowerSupplyClass {
        dir: args.sys_path("class/power_supply"),
        ignored: Regex::new(&args.powersupply.ignored_supplies)?,
    }))
}

struct PowerSupplyClass {
    dir: PathBuf,
    ignored: Regex,
}

/// Reads one `/sys/class/power_supply/<name>` directory.
pub fn read_power_supply(dir: &Path) -> Result<PowerSupply, CollectError> {
    let mut ps = PowerSupply::default();
    for entry in std::fs::read_dir(dir).map_err(|e| CollectError::io(dir.display(), e))? {
        let Ok(entry) = entry else { continue };
        // Only regular files: `device`, `subsystem` and `hwmonN` are links or directories.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let value = match read_attr(&path) {
            Ok(v) => v,
            // Attributes a driver lists but cannot answer right now.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || matches!(
                        e.raw_os_error(),
                        Some(
                            libc::ENODATA | libc::EAGAIN | libc::EINVAL | libc::EOPNOTSUPP | libc::EPERM | libc::EACCES
                        )
                    ) =>
            {
                continue;
            }
            Err(e) => return Err(CollectError::io(path.display(), e)),
        };
        if let Some(&(file, ..)) = NUMERIC.iter().find(|(f, ..)| *f == name) {
            let v = parse_go_int(&value)
                .ok_or_else(|| CollectError::Parse(format!("{}: invalid number {value:?}", path.display())))?;
            ps.numbers.insert(file, v);
        } else if NUMERIC_UNEXPORTED.contains(&name.as_str()) {
            parse_go_int(&value)
                .ok_or_else(|| CollectError::Parse(format!("{}: invalid number {value:?}", path.display())))?;
        } else if let Some(&field) = TEXT.iter().find(|f| **f == name) {
            ps.text.insert(field, value);
        }
    }
    Ok(ps)
}

/// Writes the metrics of one power supply.
pub fn emit(out: &mut Snapshot, name: &str, ps: &PowerSupply) {
    for &(file, suffix, divisor) in NUMERIC {
        if let Some(&v) = ps.numbers.get(file) {
            let value = if divisor == 1.0 { v as f64 } else { v as f64 / divisor };
            out.gauge(
                format!("node_power_supply_{suffix}"),
                format!("{suffix} value of /sys/class/power_supply/<power_supply>."),
            )
            .sample(&[("power_supply", name)], value);
        }
    }
    let mut labels: Vec<(String, String)> = ps
        .text
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .chain(std::iter::once(("power_supply".to_owned(), name.to_owned())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    labels.sort();
    out.gauge("node_power_supply_info", "info of /sys/class/power_supply/<power_supply>.").sample_owned(labels, 1.0);
}

impl BlockingCollector for PowerSupplyClass {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let entries = match sorted_entries(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::NoData("no /sys/class/power_supply".into()));
            }
            Err(e) => return Err(CollectError::io(self.dir.display(), e)),
        };
        let mut last_err = None;
        for (name, path) in entries {
            if self.ignored.is_match(&name) {
                continue;
            }
            match read_power_supply(&path) {
                Ok(ps) => emit(out, &name, &ps),
                Err(e) => last_err = Some(e),
            }
        }
        last_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, render};

    fn run(tree: &str, ignored: &str) -> (Result<(), CollectError>, String) {
        let c = PowerSupplyClass {
            dir: fixture(tree).join("sys/class/power_supply"),
            ignored: Regex::new(ignored).expect("valid"),
        };
        let mut out = Snapshot::new();
        let res = c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out);
        (res, render(out))
    }

    #[test]
    fn fixture_tree() {
        let (res, text) = run("hardware", "^$");
        assert!(res.is_ok(), "{res:?}");
        for line in [
            "node_power_supply_online{power_supply=\"AC\"} 0",
            "node_power_supply_capacity{power_supply=\"BAT0\"} 81",
            "node_power_supply_energy_watthour{power_supply=\"BAT0\"} 36.58",
            "node_power_supply_voltage_volt{power_supply=\"BAT0\"} 12.229",
            "node_power_supply_power_watt{power_supply=\"BAT0\"} 4.83",
            "node_power_supply_cyclecount{power_supply=\"BAT0\"} 0",
            "node_power_supply_temp_celsius{power_supply=\"BAT0\"} 25.1",
            "node_power_supply_info{power_supply=\"AC\",type=\"Mains\"} 1",
            "node_power_supply_info{capacity_level=\"Normal\",manufacturer=\"LGC\",model_name=\"LNV-45N1\",power_supply=\"BAT0\",serial_number=\"38109\",status=\"Discharging\",technology=\"Li-ion\",type=\"Battery\"} 1",
            "# HELP node_power_supply_capacity capacity value of /sys/class/power_supply/<power_supply>.",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn ignored_supplies() {
        let (_, text) = run("hardware", "^BAT");
        assert!(text.contains("power_supply=\"AC\""));
        assert!(!text.contains("BAT0"));
    }

    #[test]
    fn garbage_value_fails_that_supply_only() {
        let (res, text) = run("broken", "^$");
        assert!(res.is_err());
        assert!(text.contains("node_power_supply_online{power_supply=\"AC\"} 1"), "{text}");
        assert!(!text.contains("BAT1"), "{text}");
    }
}
