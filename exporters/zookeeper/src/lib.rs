//! oxporter-zookeeper: an ensemble-aware ZooKeeper exporter, a drop-in for the popular mntr exporter
//! (`zk_<key>{zk_host}` names, port 9141) that adds HELP and types, folds per-znode keys into labels, falls back
//! to the AdminServer, and says whether the ensemble has a quorum.
//!
//! - [`parse`]: `mntr`, `conf` and AdminServer JSON parsers (`&str` in, no I/O).
//! - [`keys`]: what each mntr key becomes (name, type, HELP, namespace/learner label).
//! - [`client`]: four-letter words and HTTP GET, bounded by the scrape deadline; TLS.
//! - [`scrape`]: one server's round of requests; [`output`]: results to metrics, ensemble view.
//! - [`collectors`]: the registration table.

pub mod args;
pub mod client;
pub mod collectors;
pub mod keys;
pub mod output;
pub mod parse;
pub mod scrape;
pub mod target;

use std::sync::Arc;

use oxporter_core::cli::ExporterInfo;
use oxporter_core::server::ProbeRoute;

/// This exporter.
pub const INFO: ExporterInfo = ExporterInfo {
    binary: "oxporter-zookeeper",
    namespace: "zk",
    anchor: "zookeeper-exporter",
    default_port: 9141,
    description: "Prometheus exporter for ZooKeeper ensembles: ruok and mntr of every server, and the quorum.",
    version: env!("CARGO_PKG_VERSION"),
};

/// The `/probe` route: `target=host:port` or a comma-separated ensemble.
pub fn probe_route(engine: Arc<oxporter_core::engine::Engine>) -> ProbeRoute {
    ProbeRoute {
        paths: vec!["/probe"],
        engine,
        validate: target::validate_probe_target,
        example_target: "127.0.0.1:2181",
    }
}

/// The binary's entry point.
pub fn main() -> anyhow::Result<()> {
    let parsed = oxporter_core::run::start(&INFO, collectors::COLLECTORS, |a: &args::Args| &a.common);
    tracing::info!(hosts = %parsed.args.hosts.join(","), "watching ZooKeeper servers");
    oxporter_core::run::run_exporter(&INFO, collectors::COLLECTORS, &parsed, &parsed.args.common, Some(probe_route))?;
    Ok(())
}
