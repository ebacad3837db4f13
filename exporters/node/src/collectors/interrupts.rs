//! `interrupts` (opt-in): `/proc/interrupts` as `node_interrupts_total{cpu, type, info, devices}`.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;
use crate::filter::NameFilter;

/// Flags of the interrupts collector.
#[derive(Debug, Clone, clap::Args)]
pub struct InterruptsArgs {
    /// Regexp of interrupts name to include (mutually exclusive to --collector.interrupts.name-exclude).
    #[arg(
        id = "collector.interrupts.name-include",
        long = "collector.interrupts.name-include",
        value_name = "REGEXP",
        help_heading = "Collector: interrupts"
    )]
    pub name_include: Option<String>,
    /// Regexp of interrupts name to exclude (mutually exclusive to --collector.interrupts.name-include).
    #[arg(
        id = "collector.interrupts.name-exclude",
        long = "collector.interrupts.name-exclude",
        value_name = "REGEXP",
        help_heading = "Collector: interrupts"
    )]
    pub name_exclude: Option<String>,
    /// Include interrupts that have a zero value (default: true; --no-collector.interrupts.include-zeros drops them)
    #[arg(
        id = "collector.interrupts.include-zeros",
        long = "collector.interrupts.include-zeros",
        help_heading = "Collector: interrupts",
        overrides_with = "no-collector.interrupts.include-zeros"
    )]
    pub include_zeros: bool,
    /// Drop interrupts that have a zero value.
    #[arg(
        id = "no-collector.interrupts.include-zeros",
        long = "no-collector.interrupts.include-zeros",
        hide = true,
        overrides_with = "collector.interrupts.include-zeros"
    )]
    pub no_include_zeros: bool,
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let a = &args.interrupts;
    let (inc, exc) = (a.name_include.as_deref().unwrap_or(""), a.name_exclude.as_deref().unwrap_or(""));
    if !inc.is_empty() && !exc.is_empty() {
        return Err(
            "--collector.interrupts.name-include and --collector.interrupts.name-exclude are mutually exclusive".into(),
        );
    }
    Ok(blocking(Interrupts {
        path: args.proc_path("interrupts"),
        filter: NameFilter::new(exc, inc)?,
        include_zeros: !a.no_include_zeros,
    }))
}

struct Interrupts {
    path: PathBuf,
    filter: NameFilter,
    include_zeros: bool,
}

/// One interrupt line.
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupt {
    /// The name before the colon (`24`, `NMI`, `LOC`).
    pub name: String,
    /// The description (for numbered interrupts the chip, e.g. `IO-APIC`; otherwise the whole text).
    pub info: String,
    /// For numbered interrupts, the rest (`5-edge ACPI:Ged`).
    pub devices: String,
    /// Per-CPU counts as written.
    pub values: Vec<String>,
}

/// Parses `/proc/interrupts`: a header with one column per CPU, then `name: count… description`. Lines with fewer
/// than one count per CPU plus a description are skipped, as node_exporter does.
pub fn parse(content: &str) -> Result<Vec<Interrupt>, CollectError> {
    let mut lines = content.lines();
    let cpus = lines
        .next()
        .map(|h| h.split_whitespace().count())
        .filter(|n| *n > 0)
        .ok_or_else(|| CollectError::Parse("interrupts: empty".into()))?;
    let mut out = Vec::new();
    for line in lines {
        // There can be no space between the name and the values (aarch64), so split at the colon first.
        let Some((name, rest)) = line.split_once(':') else { continue };
        let parts: Vec<&str> = rest.split_whitespace().collect();
        if parts.len() < cpus + 1 {
            continue;
        }
        let name = name.trim_start().to_owned();
        let (info, devices) = if name.parse::<i64>().is_ok() {
            (parts[cpus].to_owned(), parts[cpus + 1..].join(" "))
        } else {
            (parts[cpus..].join(" "), String::new())
        };
        out.push(Interrupt { name, info, devices, values: parts[..cpus].iter().map(|s| (*s).to_owned()).collect() });
    }
    Ok(out)
}

impl BlockingCollector for Interrupts {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let interrupts = parse(&read_file(&self.path)?)?;
        let fam = out.counter("node_interrupts_total", "Interrupt details.");
        for i in interrupts {
            if self.filter.ignored(&i.name) {
                continue;
            }
            for (cpu, v) in i.values.iter().enumerate() {
                let v =
                    v.parse::<f64>().map_err(|_| CollectError::Parse(format!("invalid value {v:?} in interrupts")))?;
                if !self.include_zeros && v == 0.0 {
                    continue;
                }
                fam.sample(
                    &[("cpu", &cpu.to_string()), ("devices", &i.devices), ("info", &i.info), ("type", &i.name)],
                    v,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_sample() {
        let ints = parse(include_str!("../../testdata/proc/interrupts")).expect("parses");
        let acpi = ints.iter().find(|i| i.name == "24").expect("irq 24");
        assert_eq!(acpi.info, "IO-APIC");
        assert_eq!(acpi.devices, "5-edge ACPI:Ged");
        assert_eq!(acpi.values.len(), 2);
        let loc = ints.iter().find(|i| i.name == "LOC").expect("LOC");
        assert_eq!(loc.info, "Local timer interrupts");
        assert_eq!(loc.devices, "");
        // "ERR: 0" has one value for two CPUs and no description: skipped.
        assert!(!ints.iter().any(|i| i.name == "ERR"));
    }

    #[test]
    fn garbage() {
        assert!(parse("").is_err());
        assert!(parse("   \n").is_err());
        assert_eq!(parse("CPU0\nnonsense\n:\n 1:\n").expect("skips").len(), 0);
        let i = parse("CPU0\n 1:x y\n").expect("parses");
        assert_eq!(i[0].values, ["x"]);
    }
}
