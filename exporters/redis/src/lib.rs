//! oxporter-redis: a drop-in replacement for Prometheus's redis_exporter.
//!
//! - [`resp`] and [`client`]: the Redis protocol and a small pipelining client (TCP, TLS, Unix sockets, through
//!   the core's deadline-bounded connections).
//! - [`info`]: INFO parsing and the field → metric table.
//! - [`collectors`]: the metric groups, one per file, in one table.
//! - [`scrape`]: one scrape of one Redis, the only collector the core engine runs.

pub mod args;
pub mod client;
pub mod collectors;
pub mod info;
pub mod resp;
pub mod scrape;
pub mod target;

use std::ffi::OsString;
use std::sync::Arc;

use oxporter_core::cli::{self, ExporterInfo, LogFormat, LogLevel, Parsed};
use oxporter_core::collector::CollectorSpec;
use oxporter_core::engine::{Engine, NamedCollector};
use oxporter_core::server::{ProbeRoute, ServerConfig};

use crate::args::{Args, GoLogFormat, PasswordFile};
use crate::client::ConnectOptions;
use crate::collectors::{KeyChecks, Settings, parse_key_arg};
use crate::scrape::{RedisCollector, Shared};

/// This exporter.
pub const INFO: ExporterInfo = ExporterInfo {
    binary: "oxporter-redis",
    namespace: "redis",
    anchor: "redis_exporter",
    default_port: 9121,
    description: "Prometheus exporter for Redis metrics; a drop-in for redis_exporter.",
    version: env!("CARGO_PKG_VERSION"),
};

/// redis_exporter has no `--collector.*` flags: the groups are always on.
const NO_COLLECTORS: &[CollectorSpec<Args>] = &[];

/// The long flag names, for accepting Go's single-dash spelling.
fn long_flags() -> Vec<String> {
    cli::command::<Args, Args>(&INFO, NO_COLLECTORS)
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .chain(["help".to_owned(), "version".to_owned()])
        .collect()
}

/// Parses `argv` (Go or GNU spelling, plus redis_exporter's environment variables).
pub fn parse_args(argv: Vec<OsString>) -> Result<Parsed<Args>, clap::Error> {
    let argv = args::normalise_argv(argv, &long_flags(), |k| std::env::var(k).ok());
    cli::try_parse_from::<Args, Args, _, _>(&INFO, NO_COLLECTORS, argv)
}

/// Builds what every scrape shares from the flags.
pub fn shared(a: &Args) -> anyhow::Result<Shared> {
    if !oxporter_core::model::is_valid_metric_name(&format!("{}_up", a.namespace)) {
        anyhow::bail!("--namespace {:?} cannot start a metric name (letters, digits, '_' and ':')", a.namespace);
    }
    let parse = |flag: &str, v: &str| parse_key_arg(v).map_err(|e| anyhow::anyhow!("--{flag}: {e}"));
    let checks = KeyChecks {
        keys: parse("check-keys", &a.check_keys)?,
        single_keys: parse("check-single-keys", &a.check_single_keys)?,
        count_keys: parse("count-keys", &a.count_keys)?,
        streams: parse("check-streams", &a.check_streams)?,
        single_streams: parse("check-single-streams", &a.check_single_streams)?,
        batch_size: usize::try_from(a.check_keys_batch_size).ok().filter(|n| *n > 0).unwrap_or(1000),
        no_values: a.disable_exporting_key_values,
        connections: usize::from(a.check_keys_connections),
    };
    let tls = a.tls();
    let needs_tls = a.redis_addr.trim().to_ascii_lowercase().starts_with("rediss://")
        || a.tls_ca_cert_file.is_some()
        || a.tls_client_cert_file.is_some()
        || a.skip_tls_verification;
    // Flags that ask for TLS get it loaded now, so that a bad file stops the exporter at start-up; otherwise it is
    // loaded when a probe first names a rediss:// target.
    let tls_config = if needs_tls {
        let loaded = tls.load().map_err(|e| anyhow::Error::new(e).context("TLS to Redis"))?;
        crate::client::LazyTls::loaded(tls, loaded)
    } else {
        crate::client::LazyTls::new(tls)
    };
    let password_file = match (&a.redis_password_file, a.redis_password.is_empty()) {
        (Some(p), true) => Some(PasswordFile::load(p.clone())?),
        _ => None,
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(Shared {
        settings: Settings {
            include_system_metrics: a.include_system_metrics,
            latency_histogram: !a.exclude_latency_histogram_metrics,
            empty_databases: a.include_metrics_for_empty_databases,
        },
        checks,
        connect: ConnectOptions {
            tls: Arc::new(tls_config),
            user: None,
            password: None,
            client_name: a.set_client_name.then(|| "redis_exporter".to_owned()),
        },
        user: non_empty(&a.redis_user),
        password: non_empty(&a.redis_password),
        password_file,
        connection_timeout: a.connection_timeout,
        config_command: (a.config_command != "-").then(|| a.config_command.clone()),
        ping_on_connect: a.ping_on_connect,
        namespace: a.namespace.clone(),
        build_info: !a.redis_only_metrics,
    })
}

fn engine(shared: &Arc<Shared>, fixed: Option<String>) -> Arc<Engine> {
    let c = RedisCollector::new(shared.clone(), fixed);
    Arc::new(
        Engine::new(INFO.namespace, vec!["redis"], vec![NamedCollector { name: "redis", collector: Arc::new(c) }])
            .without_collector_metrics(),
    )
}

/// The server configuration: `/metrics` scrapes `--redis.addr`, `/scrape` and `/probe` scrape `target`.
pub fn server_config(parsed: &Parsed<Args>, shared: Arc<Shared>) -> ServerConfig {
    let a = &parsed.args;
    let mut common = a.common.clone();
    if a.redis_only_metrics {
        common.disable_exporter_metrics = true;
    }
    // `<ns>_exporter_build_info` on /metrics follows --namespace, as redis_exporter's does (probe answers get it
    // renamed with the rest of the scrape). Leaked once at start-up: ExporterInfo holds static strings.
    let info = match a.namespace.as_str() {
        "redis" => INFO,
        ns => ExporterInfo { namespace: Box::leak(ns.to_owned().into_boxed_str()), ..INFO },
    };
    let mut cfg = ServerConfig::new(info, common);
    // redis_exporter answers text 0.0.4 whatever Prometheus asks for; so do we, so that Prometheus stores the same
    // label values (`quantile="99"`, not OpenMetrics' `"99.0"`) and dashboards keep matching.
    cfg.openmetrics = false;
    // An empty --redis.addr means probes only, as with redis_exporter: /metrics then has no Redis to scrape.
    if !a.redis_addr.trim().is_empty() {
        cfg.engine = Some(engine(&shared, Some(a.redis_addr.clone())));
    }
    cfg.probe = Some(ProbeRoute {
        paths: vec!["/scrape", "/probe"],
        engine: engine(&shared, None),
        validate: scrape::validate_target,
        example_target: "redis://localhost:6379",
    });
    // The address may hold a password (redis://:pw@host); show it without.
    cfg.flags_in_effect = parsed
        .flags_in_effect
        .iter()
        .map(|(k, v)| if k == "redis.addr" { (k.clone(), target::strip_password(v)) } else { (k.clone(), v.clone()) })
        .collect();
    cfg
}

/// The binary's entry point.
pub fn main() -> anyhow::Result<()> {
    let parsed = match parse_args(std::env::args_os().collect()) {
        Ok(p) => p,
        Err(e) => e.exit(),
    };
    let a = &parsed.args;
    let level = if a.debug { LogLevel::Debug } else { a.common.log_level };
    let format = match a.go_log_format {
        Some(GoLogFormat::Json) => LogFormat::Json,
        Some(GoLogFormat::Txt) => LogFormat::Logfmt,
        None => a.common.log_format,
    };
    oxporter_core::logging::init(level, format);
    a.check_unsupported().map_err(anyhow::Error::msg)?;
    let shared = Arc::new(shared(a)?);
    let cfg = server_config(&parsed, shared);
    // Scrapes wait on Redis and do little else: one thread serves them all (less memory, no cross-thread wake-ups).
    oxporter_core::run::single_thread_runtime()?.block_on(async {
        tracing::info!(version = INFO.version, redis_addr = %target::strip_password(&a.redis_addr), "starting {}", INFO.binary);
        oxporter_core::server::serve(cfg).await
    })?;
    Ok(())
}
