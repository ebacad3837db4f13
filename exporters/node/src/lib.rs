//! oxporter-node: a drop-in replacement for Prometheus node_exporter on Linux.
//!
//! Collectors live one per file in [`collectors`] and are declared in the table [`collectors::COLLECTORS`].

pub mod args;
pub mod btrfs_ioctl;
pub mod collectors;
pub mod filter;
#[doc(hidden)]
pub mod fuzzing;
pub mod names;
pub mod netlink;
pub mod sysfs;

use oxporter_core::cli::{ExporterInfo, Parsed};

/// This exporter.
pub const INFO: ExporterInfo = ExporterInfo {
    binary: "oxporter-node",
    namespace: "node",
    anchor: "node_exporter",
    default_port: 9100,
    description: "Prometheus exporter for hardware and OS metrics exposed by the Linux kernel; a drop-in for node_exporter.",
    version: env!("CARGO_PKG_VERSION"),
};

/// The binary's entry point.
pub fn main() -> anyhow::Result<()> {
    let mut parsed = oxporter_core::run::start(&INFO, collectors::COLLECTORS, |a: &args::Args| &a.common);
    parsed.args.enabled_collectors = parsed.enabled.clone();
    oxporter_core::run::run_single(&INFO, collectors::COLLECTORS, &parsed, &parsed.args.common)?;
    Ok(())
}

/// Parses an oxporter-node command line (`argv[0]` first) as `main` does, without exiting on errors. Tests use it
/// to build exactly the collectors a command line would.
pub fn parse_args_from<I, T>(argv: I) -> Result<Parsed<args::Args>, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut parsed: Parsed<args::Args> = oxporter_core::cli::try_parse_from(&INFO, collectors::COLLECTORS, argv)?;
    parsed.args.enabled_collectors = parsed.enabled.clone();
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_is_well_formed() {
        oxporter_core::cli::command::<crate::args::Args, _>(&crate::INFO, crate::collectors::COLLECTORS).debug_assert();
    }

    /// The convention written in `src/args.rs`: every flag of oxporter-node has its long name as its clap id.
    #[test]
    fn every_node_flag_id_is_its_long_name() {
        use clap::Args as _;
        let common = oxporter_core::cli::CommonArgs::augment_args(clap::Command::new("common"));
        let common_ids: Vec<&str> = common.get_arguments().map(|a| a.get_id().as_str()).collect();
        let cmd = oxporter_core::cli::command::<crate::args::Args, _>(&crate::INFO, crate::collectors::COLLECTORS);
        let mut wrong = Vec::new();
        let mut checked = 0;
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if common_ids.contains(&id) || matches!(id, "help" | "version") {
                continue;
            }
            checked += 1;
            match arg.get_long() {
                Some(long) if long == id => {}
                Some(long) => wrong.push(format!("--{long} has id {id:?}")),
                None => wrong.push(format!("{id:?} has no long name")),
            }
        }
        assert!(checked > 100, "only {checked} node flags found");
        assert!(wrong.is_empty(), "flag ids must equal long names:\n{}", wrong.join("\n"));
    }

    #[test]
    fn collector_flags_parse() {
        let argv = [
            "oxporter-node",
            "--collector.diskstats.device-include=^sd",
            "--collector.filesystem.fs-types-exclude=^tmpfs$",
            "--collector.netdev.device-exclude=^lo$",
            "--no-collector.netdev.netlink",
            "--no-collector.interrupts.include-zeros",
            "--collector.textfile.directory=/a",
            "--collector.textfile.directory=/b",
            "--collector.vmstat.fields=.*",
        ];
        let p = crate::parse_args_from(argv).expect("valid flags");
        assert_eq!(p.args.textfile.directory, ["/a", "/b"]);
        assert!(p.args.interrupts.no_include_zeros);
        assert_eq!(p.args.diskstats.device_include.as_deref(), Some("^sd"));
        for spec in crate::collectors::COLLECTORS {
            assert!((spec.build)(&p.args).is_ok(), "{} builds", spec.name);
        }
    }
}
