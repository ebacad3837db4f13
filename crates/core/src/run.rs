//! The common `main` of a single-target exporter: parse flags, start logging, build the enabled collectors from
//! the table, serve.

use std::sync::Arc;

use crate::cli::{self, CommonArgs, ExporterInfo, Parsed};
use crate::collector::CollectorSpec;
use crate::engine::{Engine, NamedCollector};
use crate::server::{self, ProbeRoute, ServerConfig};

/// An error that stops an exporter at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A collector could not be built from its flags.
    #[error("collector {name}")]
    Collector {
        /// Which.
        name: &'static str,
        /// Why.
        #[source]
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

/// Builds the enabled collectors into one engine and the server configuration around it: `/metrics` for the
/// engine, and, when `probe` is given, the multi-target route it builds on the same engine.
pub fn server_config<C>(
    info: &ExporterInfo,
    table: &[CollectorSpec<C>],
    parsed: &Parsed<C>,
    common: &CommonArgs,
    probe: Option<fn(Arc<Engine>) -> ProbeRoute>,
) -> Result<ServerConfig, StartError> {
    let engine = Arc::new(build_engine(info, table, &parsed.enabled, &parsed.args)?);
    let mut cfg = ServerConfig::new(*info, common.clone());
    cfg.probe = probe.map(|p| p(engine.clone()));
    cfg.engine = Some(engine);
    cfg.flags_in_effect = parsed.flags_in_effect.clone();
    Ok(cfg)
}

/// Runs an exporter to completion (until SIGTERM or SIGINT): what every `main` calls after parsing. It runs on
/// [`single_thread_runtime`]: scrapes wait on the network or on the blocking collectors' own thread, so a second
/// worker thread only added wake-ups and memory (about 0.4 MiB of oxporter-node's peak RSS, docs/benchmarks.md).
pub fn run_exporter<C>(
    info: &ExporterInfo,
    table: &[CollectorSpec<C>],
    parsed: &Parsed<C>,
    common: &CommonArgs,
    probe: Option<fn(Arc<Engine>) -> ProbeRoute>,
) -> Result<(), StartError> {
    single_thread_runtime()?.block_on(async {
        let cfg = server_config(info, table, parsed, common, probe)?;
        tracing::info!(version = info.version, collectors = %parsed.enabled.join(","), "starting {}", info.binary);
        server::serve(cfg).await?;
        Ok(())
    })
}

/// A runtime on the calling thread alone, for exporters whose scrapes only wait (on the network, or on blocking
/// collectors, which run on threads of their own):
/// one thread serves every request and target concurrently. Compared with a multi-thread runtime it saves the worker threads
/// (their stacks and malloc arenas, about 1 MiB of resident memory) and the cross-thread wake-ups of every scrape.
/// Blocking work still goes to the bounded blocking pool.
pub fn single_thread_runtime() -> Result<tokio::runtime::Runtime, StartError> {
    limit_malloc_arenas();
    raise_open_files_limit();
    tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .map_err(StartError::Runtime)
}

/// Makes glibc's malloc use one arena instead of one per thread (up to 8 per core). An exporter allocates little
/// and rarely from several threads at once, and every arena keeps its own freed memory: with the blocking pool's
/// threads that was about a third of oxporter-node's resident memory (see docs/benchmarks.md). An explicit
/// `GLIBC_TUNABLES=glibc.malloc.arena_max=N` in the environment wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // One call into libc, with nothing to check but its return value.
fn limit_malloc_arenas() {
    if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max")) {
        return;
    }
    // SAFETY: mallopt takes two integers and only changes a malloc tunable; glibc serialises it with its own lock,
    // so calling it while other threads allocate is sound.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Raises the soft limit on open files to the hard limit, as every Go program does at start since Go 1.19 (and so
/// the exporters we replace): `process_max_fds` then reads as theirs does, and kept descriptors (`kept`) and
/// concurrent connections have the room a service manager grants. A failure leaves the limit as it was.
fn raise_open_files_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(soft), Some(hard)) = (limit.current, limit.maximum)
        && soft < hard
        && let Err(e) = setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: Some(hard) })
    {
        tracing::debug!(error = %e, soft, hard, "could not raise the open files limit");
    }
}

/// [`run_exporter`] without a probe route.
pub fn run_single<C>(
    info: &ExporterInfo,
    table: &[CollectorSpec<C>],
    parsed: &Parsed<C>,
    common: &CommonArgs,
) -> Result<(), StartError> {
    run_exporter(info, table, parsed, common, None)
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

/// Turns `main`'s result into an exit code, printing an error as one readable line: the message and its causes
/// joined by `: `, each cause only if the text so far does not already say it; never a Debug dump or backtrace.
pub fn exit_code<E>(binary: &str, result: Result<(), E>) -> std::process::ExitCode
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let e: Box<dyn std::error::Error + Send + Sync> = e.into();
            let msg = error_chain(e.as_ref());
            // Through the logger when it is set up (so --log.format applies), else plain stderr.
            if tracing::dispatcher::has_been_set() {
                tracing::error!(error = %msg, "{binary} cannot run");
            } else {
                eprintln!("{binary}: error: {msg}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes as one line, without repeating a cause the message already contains.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_do_not_repeat_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let with_source_in_message = crate::webconfig::WebConfigError::Read { path: "/x.yml".into(), source: io };
        let e = StartError::Serve(server::ServeError::WebConfig(with_source_in_message));
        assert_eq!(error_chain(&e), "reading web config /x.yml: no such file");
        let e = StartError::Collector { name: "cpu", source: "bad flag".into() };
        assert_eq!(error_chain(&e), "collector cpu: bad flag");
    }
}
