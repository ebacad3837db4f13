//! oxporter-node: a drop-in replacement for Prometheus node_exporter on Linux.
//!
//! Collectors live one per file in [`collectors`] and are declared in the table [`collectors::COLLECTORS`].

pub mod args;
pub mod collectors;

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
