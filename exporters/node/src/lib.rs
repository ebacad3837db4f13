//! oxporter-node: a drop-in replacement for Prometheus node_exporter on Linux.
//!
//! Collectors live one per file in [`collectors`] and are declared in the table [`collectors::COLLECTORS`].

pub mod args;
pub mod collectors;

use oxporter_core::cli::ExporterInfo;

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
    let parsed = oxporter_core::run::start(&INFO, collectors::COLLECTORS, |a: &args::Args| &a.common);
    oxporter_core::run::run_single(&INFO, collectors::COLLECTORS, &parsed, &parsed.args.common)?;
    Ok(())
}
