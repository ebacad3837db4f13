//! `hwmon`: hardware sensors from `/sys/class/hwmon` (as lm-sensors shows them), named
//! `node_hwmon_<type>_<attribute>_<unit>{chip,sensor}` as node_exporter names them, plus `node_hwmon_chip_names`
//! and `node_hwmon_sensor_label`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::filter::NameFilter;
use crate::sysfs::read_once;

/// Flags of the hwmon collector.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HwmonArgs {
    /// Regexp of hwmon chip to include (mutually exclusive to device-exclude).
    #[arg(
        id = "collector.hwmon.chip-include",
        long = "collector.hwmon.chip-include",
        value_name = "REGEXP",
        help_heading = "Collector: hwmon"
    )]
    pub chip_include: Option<String>,
    /// Regexp of hwmon chip to exclude (mutually exclusive to device-include).
    #[arg(
        id = "collector.hwmon.chip-exclude",
        long = "collector.hwmon.chip-exclude",
        value_name = "REGEXP",
        help_heading = "Collector: hwmon"
    )]
    pub chip_exclude: Option<String>,
    /// Regexp of hwmon sensor to include (mutually exclusive to sensor-exclude).
    #[arg(
        id = "collector.hwmon.sensor-include",
        long = "collector.hwmon.sensor-include",
        value_name = "REGEXP",
        help_heading = "Collector: hwmon"
    )]
    pub sensor_include: Option<String>,
    /// Regexp of hwmon sensor to exclude (mutually exclusive to sensor-include).
    #[arg(
        id = "collector.hwmon.sensor-exclude",
        long = "collector.hwmon.sensor-exclude",
        value_name = "REGEXP",
        help_heading = "Collector: hwmon"
    )]
    pub sensor_exclude: Option<String>,
}

/// Sensor types node_exporter reads; other files of a hwmon directory are ignored.
const SENSOR_TYPES: &[&str] = &[
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
    "freq",
];

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let a = &args.hwmon;
    Ok(blocking(Hwmon {
        class_dir: args.sys_path("class/hwmon"),
        chips: NameFilter::new(a.chip_exclude.as_deref().unwrap_or(""), a.chip_include.as_deref().unwrap_or(""))?,
        sensors: NameFilter::new(a.sensor_exclude.as_deref().unwrap_or(""), a.sensor_include.as_deref().unwrap_or(""))?,
    }))
}

struct Hwmon {
    class_dir: PathBuf,
    chips: NameFilter,
    sensors: NameFilter,
}

impl BlockingCollector for Hwmon {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let entries = std::fs::read_dir(&self.class_dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                CollectError::NoData("hwmon metrics are not available for this system".into())
            }
            _ => CollectError::io(self.class_dir.display(), e),
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            // Symlinks are followed; anything that is not (or does not lead to) a directory is skipped.
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_dir()))
            .collect();
        dirs.sort();
        let mut last_err = None;
        for dir in dirs {
            if let Err(e) = self.update_chip(&dir, out) {
                last_err = Some(e);
            }
        }
        last_err.map_or(Ok(()), Err)
    }
}

impl Hwmon {
    fn update_chip(&self, dir: &Path, out: &mut Snapshot) -> Result<(), CollectError> {
        let chip = chip_name(dir)?;
        if self.chips.ignored(&chip) {
            return Ok(());
        }
        let mut data = BTreeMap::new();
        collect_sensor_files(dir, &mut data).map_err(|e| CollectError::io(dir.display(), e))?;
        let device = dir.join("device");
        if std::fs::metadata(&device).is_ok() {
            collect_sensor_files(&device, &mut data).map_err(|e| CollectError::io(device.display(), e))?;
        }
        if let Some(name) = human_readable_chip_name(dir) {
            out.gauge("node_hwmon_chip_names", "Annotation metric for human-readable chip names")
                .sample(&[("chip", &chip), ("chip_name", &name)], 1.0);
        }
        for (sensor, props) in &data {
            // Sensors are filtered on "<chip>;<sensor>", so one sensor of one chip can be chosen.
            if self.sensors.ignored(&format!("{chip};{sensor}")) {
                continue;
            }
            emit_sensor(out, &chip, sensor, props);
        }
        Ok(())
    }
}

/// The properties of one sensor (`temp1` → {"input": "42000", "label": "Core 0", …}); `""` is the file without a
/// property (`pwm1`).
pub type SensorData = BTreeMap<String, String>;

/// Reads every sensor file of `dir` into `data`, keyed by sensor (`temp1`) and property (`crit`).
fn collect_sensor_files(dir: &Path, data: &mut BTreeMap<String, SensorData>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(parts) = explode_sensor_filename(&file_name) else { continue };
        if !SENSOR_TYPES.contains(&parts.sensor_type) {
            continue;
        }
        // One read of at most 128 bytes: broken drivers answer EAGAIN forever to a read-to-end loop.
        let Ok(raw) = read_once(&entry.path(), 128) else { continue };
        let key = format!("{}{}", parts.sensor_type, parts.num);
        data.entry(key).or_default().insert(parts.property.to_owned(), raw.trim_matches('\n').to_owned());
    }
    Ok(())
}

/// A sensor file name split as `<type><num>_<property>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorFile<'a> {
    /// `temp`, `fan`, `beep_enable`, …
    pub sensor_type: &'a str,
    /// The number after the type (0 when there is none).
    pub num: i64,
    /// What follows the first `_` after the number (`crit_alarm`), or `""`.
    pub property: &'a str,
}

/// Splits a file name as node_exporter's `^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$` does, with the
/// regex's backtracking: the longest type that lets the rest match wins.
pub fn explode_sensor_filename(name: &str) -> Option<SensorFile<'_>> {
    let first_digit = name.find(|c: char| c.is_ascii_digit()).unwrap_or(name.len());
    let ends: Vec<usize> = name[..first_digit].char_indices().map(|(i, _)| i).skip(1).chain([first_digit]).collect();
    for &type_end in ends.iter().rev().filter(|&&e| e > 0) {
        let rest = &name[type_end..];
        let id_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (id, after) = rest.split_at(id_len);
        let property = if after.is_empty() {
            ""
        } else if let Some(p) = after.strip_prefix('_').filter(|p| !p.is_empty() && !p.contains('\n')) {
            p
        } else {
            continue;
        };
        let num = if id.is_empty() { 0 } else { id.parse::<i64>().ok()? };
        return Some(SensorFile { sensor_type: &name[..type_end], num, property });
    }
    None
}

/// Lower-cases and replaces everything outside `[a-z0-9:_]` with `_`, trimming `_` at both ends (node_exporter's
/// `cleanMetricName`).
pub fn clean_metric_name(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) if l.is_ascii_lowercase() || l.is_ascii_digit() || l == ':' || l == '_' => l,
                _ => '_',
            }
        })
        .collect();
    replaced.trim_matches('_').to_owned()
}

/// The stable chip name: `<parent dir>_<device dir>` of the resolved `device` link, else the cleaned `name` file,
/// else the cleaned `hwmonN` directory name.
fn chip_name(dir: &Path) -> Result<String, CollectError> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let dev_name = device.file_name().map(|n| clean_metric_name(&n.to_string_lossy())).unwrap_or_default();
        let dev_type = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean_metric_name(&n.to_string_lossy()))
            .unwrap_or_default();
        if !dev_type.is_empty() && !dev_name.is_empty() {
            return Ok(format!("{dev_type}_{dev_name}"));
        }
        if !dev_name.is_empty() {
            return Ok(dev_name);
        }
    }
    if let Some(name) = human_readable_chip_name(dir) {
        return Ok(name);
    }
    let real = std::fs::canonicalize(dir).map_err(|e| CollectError::io(dir.display(), e))?;
    let name = real.file_name().map(|n| clean_metric_name(&n.to_string_lossy())).unwrap_or_default();
    if name.is_empty() {
        return Err(CollectError::Other(format!("could not derive a monitoring name for {}", dir.display())));
    }
    Ok(name)
}

/// The cleaned content of the chip's `name` file, if any.
fn human_readable_chip_name(dir: &Path) -> Option<String> {
    let raw = read_once(&dir.join("name"), 4096).ok()?;
    Some(clean_metric_name(&raw)).filter(|n| !n.is_empty())
}

fn parse_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// Writes the metrics of one sensor.
pub fn emit_sensor(out: &mut Snapshot, chip: &str, sensor: &str, data: &SensorData) {
    let sensor_type = explode_sensor_filename(sensor).map(|p| p.sensor_type).unwrap_or_default();
    let labels = [("chip", chip), ("sensor", sensor)];
    if let Some(label) = data.get("label") {
        out.gauge("node_hwmon_sensor_label", "Label for given chip and sensor")
            .sample(&[("chip", chip), ("label", label), ("sensor", sensor)], 1.0);
    }
    let bare = data.get("");
    match sensor_type {
        "beep_enable" => {
            let v = if bare.map(String::as_str) == Some("1") { 1.0 } else { 0.0 };
            out.gauge("node_hwmon_beep_enabled", "Hardware beep enabled").sample(&labels, v);
            return;
        }
        "vrm" => {
            if let Some(v) = bare.and_then(|v| parse_float(v)) {
                out.gauge("node_hwmon_voltage_regulator_version", "Hardware voltage regulator").sample(&labels, v);
            }
            return;
        }
        "update_interval" => {
            if let Some(v) = bare.and_then(|v| parse_float(v)) {
                out.gauge("node_hwmon_update_interval_seconds", "Hardware monitor update interval")
                    .sample(&labels, v * 0.001);
            }
            return;
        }
        _ => {}
    }
    let prefix = format!("node_hwmon_{sensor_type}");
    for (element, value) in data {
        let element = element.as_str();
        if element == "label" {
            continue;
        }
        let name = match element {
            // "input" is the value itself, unless the sensor also has a bare file.
            "input" if bare.is_some() => format!("{prefix}_input"),
            "input" | "" => prefix.clone(),
            _ => format!("{prefix}_{}", clean_metric_name(element)),
        };
        let Some(v) = parse_float(value) else { continue };
        if element == "fault" || element == "alarm" {
            out.gauge(name, format!("Hardware sensor {element} status ({sensor_type})")).sample(&labels, v);
            continue;
        }
        if element == "beep" {
            out.gauge(format!("{name}_enabled"), "Hardware monitor sensor has beeping enabled").sample(&labels, v);
            continue;
        }
        match sensor_type {
            "in" | "cpu" => {
                out.gauge(format!("{name}_volts"), format!("Hardware monitor for voltage ({element})"))
                    .sample(&labels, v * 0.001);
            }
            "temp" if element != "type" => {
                let element = if element.is_empty() { "input" } else { element };
                out.gauge(format!("{name}_celsius"), format!("Hardware monitor for temperature ({element})"))
                    .sample(&labels, v * 0.001);
            }
            "curr" => {
                out.gauge(format!("{name}_amps"), format!("Hardware monitor for current ({element})"))
                    .sample(&labels, v * 0.001);
            }
            "energy" => {
                out.counter(
                    format!("{name}_joule_total"),
                    format!("Hardware monitor for joules used so far ({element})"),
                )
                .sample(&labels, v / 1_000_000.0);
            }
            "power" if element == "accuracy" => {
                out.gauge(name, "Hardware monitor power meter accuracy, as a ratio").sample(&labels, v / 1_000_000.0);
            }
            "power" if matches!(element, "average_interval" | "average_interval_min" | "average_interval_max") => {
                out.gauge(
                    format!("{name}_seconds"),
                    format!("Hardware monitor power usage update interval ({element})"),
                )
                .sample(&labels, v * 0.001);
            }
            "power" => {
                out.gauge(format!("{name}_watt"), format!("Hardware monitor for power usage in watts ({element})"))
                    .sample(&labels, v / 1_000_000.0);
            }
            "humidity" => {
                out.gauge(
                    name,
                    format!(
                        "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a \
                         percentage) ({element})"
                    ),
                )
                .sample(&labels, v / 1_000_000.0);
            }
            "fan" if matches!(element, "input" | "min" | "max" | "target") => {
                out.gauge(
                    format!("{name}_rpm"),
                    format!("Hardware monitor for fan revolutions per minute ({element})"),
                )
                .sample(&labels, v);
            }
            "freq" if element == "input" => {
                // node_exporter puts the cleaned label, not the sensor, in the `sensor` label here.
                if let Some(label) = data.get("label") {
                    let label = clean_metric_name(label);
                    out.gauge(format!("{name}_freq_mhz"), "Hardware monitor for GPU frequency in MHz")
                        .sample(&[("chip", chip), ("sensor", &label)], v / 1_000_000.0);
                }
            }
            _ => {
                out.gauge(name, format!("Hardware monitor {sensor_type} element {element}")).sample(&labels, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, garbage, render};

    fn collector(chip_include: Option<&str>, sensor_exclude: Option<&str>) -> Hwmon {
        Hwmon {
            class_dir: fixture("hardware/sys/class/hwmon"),
            chips: NameFilter::new("", chip_include.unwrap_or("")).expect("valid"),
            sensors: NameFilter::new(sensor_exclude.unwrap_or(""), "").expect("valid"),
        }
    }

    fn run(c: &Hwmon) -> String {
        let mut out = Snapshot::new();
        let ctx = ScrapeContext::with_timeout(std::time::Duration::from_secs(5));
        c.collect(&ctx, &mut out).expect("collect");
        render(out)
    }

    #[test]
    fn splits_file_names_like_the_go_regex() {
        let f = |s| explode_sensor_filename(s).map(|p| (p.sensor_type, p.num, p.property));
        assert_eq!(f("temp1_crit_alarm"), Some(("temp", 1, "crit_alarm")));
        assert_eq!(f("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(f("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(f("update_interval"), Some(("update_interval", 0, "")));
        assert_eq!(f("temp01_input"), Some(("temp", 1, "input")));
        assert_eq!(f("pwm1_auto_point1_pwm"), Some(("pwm", 1, "auto_point1_pwm")));
        // Backtracking: "foo_bar1x" fails with the longest type and matches with type "foo".
        assert_eq!(f("foo_bar1x"), Some(("foo", 0, "bar1x")));
        assert_eq!(f("temp1x"), None);
        assert_eq!(f("1abc"), None);
        assert_eq!(f(""), None);
        assert_eq!(f("temp99999999999999999999_input"), None);
        assert_eq!(f("temp1_"), None);
    }

    #[test]
    fn cleans_names() {
        assert_eq!(clean_metric_name("Core 0\n"), "core_0");
        assert_eq!(clean_metric_name("__Package id 0__"), "package_id_0");
        assert_eq!(clean_metric_name("applesmc.768"), "applesmc_768");
        assert_eq!(clean_metric_name("ä"), "");
        assert_eq!(clean_metric_name("\u{212a}"), "k");
    }

    #[test]
    fn file_name_garbage_never_panics() {
        garbage(b"temp_1in0x\n\xc3\xa4_", "temp1_crit_alarm", |s| {
            let _ = explode_sensor_filename(s);
            let _ = clean_metric_name(s);
        });
    }

    #[test]
    fn fixture_tree() {
        let text = run(&collector(None, None));
        let expect = [
            "node_hwmon_chip_names{chip=\"platform_coretemp_0\",chip_name=\"coretemp\"} 1",
            "node_hwmon_chip_names{chip=\"platform_applesmc_768\",chip_name=\"applesmc\"} 1",
            "node_hwmon_temp_celsius{chip=\"platform_coretemp_0\",sensor=\"temp1\"} 55",
            "node_hwmon_temp_crit_alarm_celsius{chip=\"platform_coretemp_0\",sensor=\"temp1\"} 0",
            "node_hwmon_temp_crit_celsius{chip=\"platform_coretemp_0\",sensor=\"temp1\"} 100",
            "node_hwmon_temp_max_celsius{chip=\"platform_coretemp_0\",sensor=\"temp1\"} 84",
            "node_hwmon_sensor_label{chip=\"platform_coretemp_0\",label=\"Package id 0\",sensor=\"temp1\"} 1",
            "node_hwmon_fan_rpm{chip=\"platform_applesmc_768\",sensor=\"fan1\"} 0",
            "node_hwmon_fan_min_rpm{chip=\"platform_applesmc_768\",sensor=\"fan1\"} 1200",
            "node_hwmon_pwm{chip=\"nct6779\",sensor=\"pwm1\"} 153",
            "node_hwmon_pwm_enable{chip=\"nct6779\",sensor=\"pwm1\"} 2",
            "node_hwmon_in_volts{chip=\"nct6779\",sensor=\"in0\"} 0.792",
            "node_hwmon_beep_enabled{chip=\"nct6779\",sensor=\"beep_enable0\"} 0",
            "node_hwmon_intrusion_alarm{chip=\"nct6779\",sensor=\"intrusion0\"} 1",
            "node_hwmon_power_average_watt{chip=\"hwmon4\",sensor=\"power1\"} 345",
            "node_hwmon_power_average_interval_seconds{chip=\"hwmon4\",sensor=\"power1\"} 1",
            "node_hwmon_energy_joule_total{chip=\"hwmon4\",sensor=\"energy1\"} 1234.5",
            "node_hwmon_humidity{chip=\"hwmon4\",sensor=\"humidity1\"} 0.45",
            "node_hwmon_curr_amps{chip=\"hwmon4\",sensor=\"curr1\"} 1.5",
            "node_hwmon_freq_freq_mhz{chip=\"hwmon4\",sensor=\"sclk\"} 1000",
            "# HELP node_hwmon_temp_celsius Hardware monitor for temperature (input)",
            "# TYPE node_hwmon_energy_joule_total counter",
            "# HELP node_hwmon_intrusion_alarm Hardware sensor alarm status (intrusion)",
        ];
        for line in expect {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // The unreadable-type file `temp1_type` is not a temperature.
        assert!(!text.contains("node_hwmon_temp_type_celsius"), "{text}");
        // A non-numeric value is skipped.
        assert!(!text.contains("node_hwmon_fan_label"), "{text}");
    }

    #[test]
    fn chip_and_sensor_filters() {
        let text = run(&collector(Some("^nct"), Some("nct6779;in0")));
        assert!(text.contains("node_hwmon_pwm{"));
        assert!(!text.contains("platform_coretemp_0"));
        assert!(!text.contains("sensor=\"in0\""));
    }

    #[test]
    fn missing_class_is_no_data() {
        let c = Hwmon { class_dir: fixture("does-not-exist"), ..collector(None, None) };
        let ctx = ScrapeContext::with_timeout(std::time::Duration::from_secs(5));
        assert!(c.collect(&ctx, &mut Snapshot::new()).is_err_and(|e| e.is_no_data()));
    }
}
