//! `rapl`: Intel/AMD RAPL energy counters from `/sys/class/powercap` (`node_rapl_<zone>_joules_total{index,path}`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::{read_attr, sorted_entries};

/// Flags of the rapl collector.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RaplArgs {
    /// Enables service unit metric unit_start_time_seconds
    #[arg(
        id = "collector.rapl.enable-zone-label",
        long = "collector.rapl.enable-zone-label",
        help_heading = "Collector: rapl"
    )]
    pub enable_zone_label: bool,
}

/// One powercap zone with a `name` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaplZone {
    /// Zone name without its index (`package`, `dram`, `core`).
    pub name: String,
    /// The index from the name (`package-1` → 1), or a running count for names without one.
    pub index: i64,
    /// The zone's directory, as node_exporter shows it in the `path` label.
    pub path: PathBuf,
}

/// Splits a zone name as the Go library does: `package-0` → (0, `package`); a name without `-` gets the number of
/// earlier zones of that name.
pub fn index_and_name(counts: &HashMap<String, i64>, name: &str) -> Result<(i64, String), CollectError> {
    let parts: Vec<&str> = name.split('-').collect();
    match parts.as_slice() {
        [single] => Ok((counts.get(*single).copied().unwrap_or(0), (*single).to_owned())),
        [base, idx] => idx
            .parse::<i64>()
            .map(|i| (i, (*base).to_owned()))
            .map_err(|_| CollectError::Parse(format!("invalid RAPL zone name {name:?}"))),
        _ => Err(CollectError::Parse(format!("invalid RAPL zone name {name:?}"))),
    }
}

/// Lists the zones of `/sys/class/powercap`: every entry with a `name` file, whose `max_energy_range_uj` must be a
/// number.
pub fn read_zones(dir: &Path) -> Result<Vec<RaplZone>, CollectError> {
    let entries = sorted_entries(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            CollectError::NoData(format!("platform has no readable powercap files: {e}"))
        }
        _ => CollectError::io(dir.display(), e),
    })?;
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut zones = Vec::new();
    for (_, path) in entries {
        let Ok(raw) = crate::sysfs::read_once(&path.join("name"), 4096) else { continue };
        let (index, name) = index_and_name(&counts, raw.trim())?;
        let max = path.join("max_energy_range_uj");
        let v = read_attr(&max).map_err(|e| CollectError::io(max.display(), e))?;
        v.parse::<u64>().map_err(|_| CollectError::Parse(format!("{}: invalid value {v:?}", max.display())))?;
        counts.insert(name.clone(), index + 1);
        zones.push(RaplZone { name, index, path });
    }
    Ok(zones)
}

/// node_exporter's `SanitizeMetricName`: every match of `_*[^0-9A-Za-z_]+_*` becomes one `_`.
pub fn sanitize_metric_name(name: &str) -> String {
    static INVALID: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new("_*[^0-9A-Za-z_]+_*").ok());
    match INVALID.as_ref() {
        Some(re) => re.replace_all(name, "_").into_owned(),
        None => name.to_owned(),
    }
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Rapl { dir: args.sys_path("class/powercap"), zone_label: args.rapl.enable_zone_label }))
}

struct Rapl {
    dir: PathBuf,
    zone_label: bool,
}

impl BlockingCollector for Rapl {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        for z in read_zones(&self.dir)? {
            let file = z.path.join("energy_uj");
            let uj = match read_attr(&file) {
                Ok(v) => v
                    .parse::<u64>()
                    .map_err(|_| CollectError::Parse(format!("{}: invalid value {v:?}", file.display())))?,
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(CollectError::NoData(format!("can't access {}", file.display())));
                }
                Err(e) => return Err(CollectError::io(file.display(), e)),
            };
            let joules = uj as f64 / 1_000_000.0;
            let index = z.index.to_string();
            let path = z.path.to_string_lossy();
            if self.zone_label {
                out.counter("node_rapl_joules_total", "Current RAPL value in joules")
                    .sample(&[("index", &index), ("path", &path), ("rapl_zone", &z.name)], joules);
            } else {
                out.counter(
                    format!("node_rapl_{}_joules_total", sanitize_metric_name(&z.name)),
                    format!("Current RAPL {} value in joules", z.name),
                )
                .sample(&[("index", &index), ("path", &path)], joules);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, render};

    fn run(zone_label: bool) -> String {
        let c = Rapl { dir: fixture("hardware/sys/class/powercap"), zone_label };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        render(out)
    }

    #[test]
    fn fixture_tree() {
        let dir = fixture("hardware/sys/class/powercap");
        let text = run(false);
        let p = |z: &str| dir.join(z).display().to_string();
        for line in [
            format!("node_rapl_package_joules_total{{index=\"0\",path=\"{}\"}} 240422.366267", p("intel-rapl:0")),
            format!("node_rapl_core_joules_total{{index=\"0\",path=\"{}\"}} 118821.284256", p("intel-rapl:0:0")),
            format!("node_rapl_dram_joules_total{{index=\"0\",path=\"{}\"}} 24.3", p("intel-rapl:0:1")),
            format!("node_rapl_dram_joules_total{{index=\"1\",path=\"{}\"}} 1.5", p("intel-rapl:0:2")),
            "# HELP node_rapl_package_joules_total Current RAPL package value in joules".to_owned(),
        ] {
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
        let text = run(true);
        let line =
            format!("node_rapl_joules_total{{index=\"0\",path=\"{}\",rapl_zone=\"package\"}}", p("intel-rapl:0"));
        assert!(text.contains(&line), "{text}");
    }

    #[test]
    fn names() {
        let mut counts = HashMap::new();
        assert_eq!(index_and_name(&counts, "package-1").ok(), Some((1, "package".to_owned())));
        counts.insert("dram".to_owned(), 1);
        assert_eq!(index_and_name(&counts, "dram").ok(), Some((1, "dram".to_owned())));
        assert!(index_and_name(&counts, "package-x").is_err());
        assert!(index_and_name(&counts, "a-1-2").is_err());
        assert_eq!(sanitize_metric_name("psys"), "psys");
        assert_eq!(sanitize_metric_name("a.b"), "a_b");
        assert_eq!(sanitize_metric_name("a_.-_b"), "a_b");
        assert_eq!(sanitize_metric_name("a__b"), "a__b");
        assert_eq!(sanitize_metric_name("._."), "__");
    }
}
