//! The common `main` of a single-target exporter: parse flags, start logging, build the enabled collectors from
//! the table, serve.

use std::sync::Arc;

use crate::cli::{self, CommonArgs, ExporterInfo, Parsed};
use crate::collector::CollectorSpec;
use crate::engine::{Engine, NamedCollector};
use crate::server::{self, ServerConfig};

/// An error that stops an exporter at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A collector could not be built from its flags.
    #[error("collector {name}: {source}")]
    Collector {
        /// Which.
        name: &'static str,
        /// Why.
        source: crate::collector::BuildError,
    },
    /// The server could not start.
    #[error(transparent)]
    Serve(#[from] server::ServeError),
    /// The async runtime could not start.
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Builds the enabled collectors of `table` and an engine for them.
pub fn build_engine<C>(
    info: &ExporterInfo,
    table: &[CollectorSpec<C>],
    enabled: &[&'static str],
    config: &C,
) -> Result<Engine, StartError> {
    let mut collectors = Vec::new();
    for spec in table.iter().filter(|s| enabled.contains(&s.name)) {
        let c = (spec.build)(config).map_err(|source| StartError::Collector { name: spec.name, source })?;
        collectors.push(NamedCollector { name: spec.name, collector: Arc::from(c) });
    }
    Ok(Engine::new(info.namespace, table.iter().map(|s| s.name).collect(), collectors))
}

/// Runs a single-target exporter to completion: what most `main` functions call after parsing.
pub fn run_single<C>(
    info: &ExporterInfo,
    table: &[CollectorSpec<C>],
    parsed: &Parsed<C>,
    common: &CommonArgs,
) -> Result<(), StartError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    rt.block_on(async {
        let engine = build_engine(info, table, &parsed.enabled, &parsed.args)?;
        tracing::info!(version = info.version, collectors = %parsed.enabled.join(","), "starting {}", info.binary);
        let mut cfg = ServerConfig::new(*info, common.clone());
        cfg.engine = Some(Arc::new(engine));
        cfg.flags_in_effect = parsed.flags_in_effect.clone();
        server::serve(cfg).await?;
        Ok(())
    })
}

/// Parses flags for `info`/`table`, and starts logging from the common flags `common_of` picks out.
pub fn start<C>(info: &ExporterInfo, table: &[CollectorSpec<C>], common_of: fn(&C) -> &CommonArgs) -> Parsed<C>
where
    C: clap::CommandFactory + clap::FromArgMatches,
{
    let parsed: Parsed<C> = cli::parse(info, table);
    let common = common_of(&parsed.args);
    crate::logging::init(common.log_level, common.log_format);
    parsed
}

/// Turns `main`'s result into an exit code, printing an error as one readable line on stderr (`binary: error: …`,
/// with the chain of causes, never a Debug dump or backtrace).
pub fn exit_code<E: std::fmt::Display>(binary: &str, result: Result<(), E>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: through the logger when it is set up (so --log.format applies), else plain stderr.
            if tracing::dispatcher::has_been_set() {
                tracing::error!(error = %format!("{e:#}"), "{binary} cannot run");
            } else {
                eprintln!("{binary}: error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
