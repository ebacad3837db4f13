//! `vmstat`: selected lines of `/proc/vmstat` as untyped `node_vmstat_<field>`, filtered by
//! `--collector.vmstat.fields`.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use super::read_file;
use crate::args::Args;
use crate::filter::Remembered;
use crate::names::Interned;

/// node_exporter's default field selection.
pub const DEFAULT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

/// Flags of the vmstat collector.
#[derive(Debug, Clone, clap::Args)]
pub struct VmstatArgs {
    /// Regexp of fields to return for vmstat collector.
    #[arg(id = "collector.vmstat.fields", long = "collector.vmstat.fields", value_name = "REGEXP", default_value = DEFAULT_FIELDS, help_heading = "Collector: vmstat")]
    pub fields: String,
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let fields = Regex::new(&args.vmstat.fields).map_err(|e| format!("--collector.vmstat.fields: {e}"))?;
    Ok(blocking(Vmstat { path: args.proc_path("vmstat"), fields: fields.into(), names: Interned::default() }))
}

struct Vmstat {
    path: PathBuf,
    fields: Remembered,
    names: Interned,
}

impl BlockingCollector for Vmstat {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        for (name, value) in parse(&read_file(&self.path)?, &self.fields)? {
            let (metric, help) = self
                .names
                .get(name, || (format!("node_vmstat_{name}"), format!("/proc/vmstat information field {name}.")));
            out.untyped(metric, help).sample(&[], value);
        }
        Ok(())
    }
}

/// Parses `/proc/vmstat` (`name value` lines), keeping the fields `fields` matches.
pub fn parse<'a>(content: &'a str, fields: &Remembered) -> Result<Vec<(&'a str, f64)>, CollectError> {
    let mut out = Vec::new();
    for line in content.lines() {
        let mut parts = super::fields(line);
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(CollectError::Parse(format!("vmstat: malformed line {line:?}")));
        };
        if !fields.is_match(name) {
            continue;
        }
        if !oxporter_core::model::is_valid_metric_name(name) {
            return Err(CollectError::Parse(format!("vmstat: invalid field name {name:?}")));
        }
        let v = value.parse::<f64>().map_err(|_| CollectError::Parse(format!("vmstat: invalid value {value:?}")))?;
        out.push((name, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Remembered {
        Remembered::from(Regex::new(DEFAULT_FIELDS).expect("valid"))
    }

    #[test]
    fn parses_real_sample_with_default_fields() {
        let got = parse(include_str!("../../testdata/proc/vmstat"), &default()).expect("parses");
        let names: Vec<&str> = got.iter().map(|(n, _)| *n).collect();
        for want in ["oom_kill", "pgfault", "pgmajfault", "pgpgin", "pgpgout", "pswpin", "pswpout"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names.contains(&"nr_free_pages"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("pgfault x\n", &default()).is_err());
        assert!(parse("pgfault\n", &default()).is_err());
        assert!(parse("pg-fault 1\n", &default()).is_err());
        assert_eq!(parse("", &default()).expect("empty is fine").len(), 0);
        // Unselected garbage values are not looked at, as in node_exporter.
        assert_eq!(parse("nr_x y\n", &default()).expect("ok").len(), 0);
    }
}
