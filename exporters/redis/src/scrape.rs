//! One scrape of one Redis: connect, ask everything in one pipelined round trip, let each group of
//! [`crate::collectors::GROUPS`] write its metrics, run the key checks, and add redis_exporter's self metrics
//! (`redis_up`, `redis_exporter_last_scrape_error`, durations, scrape counters).
//!
//! The whole scrape is one core [`Collector`], so the engine's per-collector metrics (which redis_exporter does
//! not have) are off and every group shares one connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oxporter_core::collector::CollectFuture;
use oxporter_core::model::SummaryValue;
use oxporter_core::{Collector, MetricType, ScrapeContext, Snapshot};

use crate::args::PasswordFile;
use crate::client::{ClientError, Cmd, Conn, ConnectOptions};
use crate::collectors::{self, CHECKS, CheckOutcome, GROUPS, Input, KeyChecks, Settings};
use crate::info;
use crate::resp::Value;
use crate::target::Target;

/// Invalid probe targets seen (`redis_target_scrape_request_errors_total`).
pub static TARGET_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Everything a scrape needs that is fixed at start-up.
#[derive(Debug)]
pub struct Shared {
    /// Group settings.
    pub settings: Settings,
    /// Key checks from the flags (a probe may override them).
    pub checks: KeyChecks,
    /// TLS and client name.
    pub connect: ConnectOptions,
    /// `--redis.user`.
    pub user: Option<String>,
    /// `--redis.password`.
    pub password: Option<String>,
    /// `--redis.password-file`.
    pub password_file: Option<PasswordFile>,
    /// `--connection-timeout`.
    pub connection_timeout: Duration,
    /// `--config-command`, `None` for "-".
    pub config_command: Option<String>,
    /// `--ping-on-connect`.
    pub ping_on_connect: bool,
    /// `--namespace`.
    pub namespace: String,
    /// Whether probe answers carry `<ns>_exporter_build_info` (not with `--redis-only-metrics`).
    pub build_info: bool,
}

/// Why a scrape failed (it then reports `redis_up 0`).
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The target address is unusable.
    #[error("invalid address: {0}")]
    Address(#[from] crate::target::TargetError),
    /// Talking to Redis failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// INFO was refused (e.g. NOAUTH, or a user without the permission).
    #[error("INFO failed: {0}")]
    Info(String),
}

impl ScrapeError {
    /// The bounded `err` label value.
    pub fn kind(&self) -> &'static str {
        match self {
            ScrapeError::Address(_) => "address",
            ScrapeError::Client(e) => e.kind(),
            ScrapeError::Info(e) if e.starts_with("NOAUTH") || e.starts_with("NOPERM") => "auth",
            ScrapeError::Info(_) => "info",
        }
    }
}

/// Scrapes either a fixed address (`/metrics`) or the probe's `target`.
pub struct RedisCollector {
    shared: Arc<Shared>,
    fixed_target: Option<String>,
    scrapes: AtomicU64,
    durations: std::sync::Mutex<(f64, u64)>,
}

impl RedisCollector {
    /// A collector for `/metrics` (with `Some(address)`) or for probes (`None`).
    pub fn new(shared: Arc<Shared>, fixed_target: Option<String>) -> Self {
        RedisCollector { shared, fixed_target, scrapes: AtomicU64::new(0), durations: std::sync::Mutex::new((0.0, 0)) }
    }

    fn checks_for(&self, ctx: &ScrapeContext) -> KeyChecks {
        let mut c = self.shared.checks.clone();
        if self.fixed_target.is_some() {
            return c;
        }
        // A probe may ask for its own key checks, as redis_exporter's /scrape allows.
        let set = |name: &str, slot: &mut Vec<collectors::DbKey>| {
            if let Some(v) = ctx.param(name).filter(|v| !v.is_empty()) {
                match collectors::parse_key_arg(v) {
                    Ok(keys) => *slot = keys,
                    Err(e) => tracing::warn!(param = name, error = %e, "ignoring invalid probe parameter"),
                }
            }
        };
        set("check-keys", &mut c.keys);
        set("check-single-keys", &mut c.single_keys);
        set("check-streams", &mut c.streams);
        set("check-single-streams", &mut c.single_streams);
        set("count-keys", &mut c.count_keys);
        c
    }

    /// Runs the scrape until `deadline`, writing into `out`. Errors mean `redis_up 0`.
    async fn scrape(
        &self,
        raw: &str,
        checks: &KeyChecks,
        deadline: Instant,
        out: &mut Snapshot,
    ) -> Result<(), ScrapeError> {
        let sh = &self.shared;
        let target = Target::parse(raw)?;
        let mut opts = sh.connect.clone();
        let probe = self.fixed_target.is_none();
        if probe && target.password.is_some() {
            // Like redis_exporter: passwords do not travel in probe URLs (they would sit in Prometheus's config
            // and logs); they come from the password file or --redis.password.
            tracing::debug!(target = %target, "ignoring the password in the probe target");
        }
        opts.user = target.user.clone().or_else(|| sh.user.clone());
        opts.password = sh
            .password
            .clone()
            .or_else(|| if probe { None } else { target.password.clone() })
            .or_else(|| sh.password_file.as_ref().and_then(|f| f.lookup(&target.password_keys(raw))));
        let connect_deadline = deadline.min(Instant::now() + sh.connection_timeout);
        let started = Instant::now();
        let conn = Conn::connect(&target, &opts, connect_deadline).await;
        out.gauge(
            "redis_exporter_last_scrape_connect_time_seconds",
            "exporter_last_scrape_connect_time_seconds metric",
        )
        .sample(&[], started.elapsed().as_secs_f64());
        let mut conn = conn?;

        if sh.ping_on_connect {
            let t = Instant::now();
            match conn.query(Cmd::new(&["PING"]), deadline).await? {
                Value::Error(e) => tracing::error!(error = %e, "PING failed"),
                _ => {
                    out.gauge(
                        "redis_exporter_last_scrape_ping_time_seconds",
                        "exporter_last_scrape_ping_time_seconds metric",
                    )
                    .sample(&[], t.elapsed().as_secs_f64());
                }
            }
        }

        // One round trip for everything: CONFIG GET per parameter (works on every Redis version, unlike a
        // multi-parameter CONFIG GET), INFO ALL, and each group's commands.
        let mut cmds = Vec::new();
        if let Some(config) = &sh.config_command {
            for p in collectors::config::PARAMETERS {
                cmds.push(Cmd::new(&[config.as_str(), "GET", p]));
            }
        }
        let info_at = cmds.len();
        cmds.push(Cmd::new(&["INFO", "ALL"]));
        let mut spans = Vec::with_capacity(GROUPS.len());
        for g in GROUPS {
            let own = (g.commands)(&sh.settings);
            spans.push((cmds.len(), own.len()));
            cmds.extend(own);
        }
        let replies = conn.pipeline(&cmds, deadline).await?;

        let mut config = HashMap::new();
        for r in replies.iter().take(info_at) {
            match r {
                Value::Error(e) => tracing::debug!(error = %e, "CONFIG GET failed"),
                Value::Array(items) => {
                    for kv in items.chunks(2) {
                        if let [Value::Str(k), Value::Str(v)] = kv {
                            config.insert(
                                String::from_utf8_lossy(k).into_owned(),
                                String::from_utf8_lossy(v).into_owned(),
                            );
                        }
                    }
                }
                Value::Map(pairs) => {
                    for (k, v) in pairs {
                        if let (Value::Str(k), Value::Str(v)) = (k, v) {
                            config.insert(
                                String::from_utf8_lossy(k).into_owned(),
                                String::from_utf8_lossy(v).into_owned(),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        let fallback;
        let info_bytes: &[u8] = match replies.get(info_at) {
            Some(Value::Str(s)) if !s.is_empty() => s,
            // Very old servers know no INFO ALL.
            _ => match conn.query(Cmd::new(&["INFO"]), deadline).await? {
                Value::Str(s) => {
                    fallback = s;
                    &fallback
                }
                Value::Error(e) => return Err(ScrapeError::Info(e)),
                _ => return Err(ScrapeError::Info("unexpected reply".into())),
            },
        };
        let info_text = String::from_utf8_lossy(info_bytes);
        let info = info::parse(&info_text);

        let cluster_info = if info.cluster_enabled() {
            match conn.query(Cmd::new(&["CLUSTER", "INFO"]), deadline).await? {
                Value::Str(s) => Some(String::from_utf8_lossy(&s).into_owned()),
                other => {
                    tracing::error!(reply = ?other, "CLUSTER INFO failed");
                    None
                }
            }
        } else {
            None
        };

        let now = oxporter_core::process::unix_now();
        for (g, (at, n)) in GROUPS.iter().zip(spans) {
            let input = Input {
                info: &info,
                config: &config,
                cluster_info: cluster_info.as_deref(),
                replies: replies.get(at..at + n).unwrap_or_default(),
                settings: &sh.settings,
                now,
            };
            (g.extract)(&input, out);
        }

        let env = collectors::CheckEnv {
            target: &target,
            opts: &opts,
            timeout: sh.connection_timeout,
            same_host: conn.same_host(),
            db_keys: info
                .section("Keyspace")
                .filter_map(|f| {
                    let db = f.key.strip_prefix("db")?.parse().ok()?;
                    Some((db, collectors::keyspace::parse_db(f.value)?.keys as u64))
                })
                .collect(),
        };
        for check in CHECKS.iter().filter(|c| (c.enabled)(checks)) {
            let outcome = (check.run)(&mut conn, &env, checks, out, deadline).await;
            let cut = match outcome {
                CheckOutcome::Done => false,
                CheckOutcome::CutShort => {
                    tracing::warn!(
                        check = check.name,
                        "key check cut short by the scrape deadline; results are partial"
                    );
                    true
                }
                CheckOutcome::Failed(e) => {
                    tracing::error!(check = check.name, error = %e, "key check failed; results are partial");
                    true
                }
            };
            out.gauge(
                "redis_exporter_key_check_truncated",
                "Whether the key check was cut short (scrape deadline, key limit or connection failure) in the last scrape, so its metrics are partial.",
            )
            .sample(&[("check", check.name)], if cut { 1.0 } else { 0.0 });
        }
        Ok(())
    }
}

/// The time the scrape keeps for itself before the engine's deadline, to write `redis_up` and the self metrics.
fn margin(remaining: Duration) -> Duration {
    (remaining / 10).min(Duration::from_millis(100))
}

impl Collector for RedisCollector {
    fn collect<'a>(&'a self, ctx: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a> {
        Box::pin(async move {
            let start = Instant::now();
            let scrapes = self.scrapes.fetch_add(1, Ordering::Relaxed) + 1;
            let raw = match (&self.fixed_target, &ctx.target) {
                (Some(t), _) => t.clone(),
                (None, Some(t)) => t.to_string(),
                (None, None) => String::new(),
            };
            let checks = self.checks_for(ctx);
            let deadline = ctx.deadline.checked_sub(margin(ctx.remaining())).unwrap_or(ctx.deadline);
            // With the default namespace the metrics go straight into `out`; another one needs a renaming pass.
            let renamed = self.shared.namespace != "redis";
            let mut own = Snapshot::new();
            let snap = if renamed { &mut own } else { &mut *out };
            // A Redis 7 scrape writes about 130 families: size the name index once.
            snap.reserve(160);
            let result = self.scrape(&raw, &checks, deadline, snap).await;
            let (up, err) = match &result {
                Ok(()) => (1.0, ""),
                Err(e) => {
                    let shown =
                        Target::parse(&raw).map(|t| t.redacted()).unwrap_or_else(|_| "<invalid address>".into());
                    tracing::error!(target = %shown, error = %e, "scrape failed");
                    (0.0, e.kind())
                }
            };
            snap.gauge("redis_exporter_last_scrape_error", "The last scrape error status.")
                .sample(&[("err", err)], if up > 0.0 { 0.0 } else { 1.0 });
            snap.gauge("redis_up", "Information about the Redis instance").sample(&[], up);
            let took = start.elapsed().as_secs_f64();
            snap.gauge("redis_exporter_last_scrape_duration_seconds", "exporter_last_scrape_duration_seconds metric")
                .sample(&[], took);
            let (sum, count) = {
                let mut d = self.durations.lock().unwrap_or_else(|p| p.into_inner());
                d.0 += took;
                d.1 += 1;
                *d
            };
            snap.family(
                "redis_exporter_scrape_duration_seconds",
                "Durations of scrapes by the exporter",
                MetricType::Summary,
            )
            .summary(&[], SummaryValue { quantiles: Vec::new(), sum, count });
            snap.counter("redis_exporter_scrapes_total", "Current total redis scrapes.").sample(&[], scrapes as f64);
            snap.counter("redis_target_scrape_request_errors_total", "Errors in requests to the exporter")
                .sample(&[], TARGET_ERRORS.load(Ordering::Relaxed) as f64);
            if self.fixed_target.is_none() && self.shared.build_info {
                oxporter_core::process::add_build_info(snap, &crate::INFO);
            }
            if renamed {
                out.merge(rename(own, &self.shared.namespace));
            }
            Ok(())
        })
    }
}

/// Moves every `redis_*` family to `<namespace>_*` (`--namespace`).
pub fn rename(snap: Snapshot, namespace: &str) -> Snapshot {
    if namespace == "redis" {
        return snap;
    }
    let mut out = Snapshot::new();
    for fam in snap.into_families() {
        let name = match fam.name.strip_prefix("redis_") {
            Some(rest) => format!("{namespace}_{rest}"),
            None => fam.name.into_owned(),
        };
        out.family(name, fam.help, fam.metric_type).samples.extend(fam.samples);
    }
    out
}

/// Checks a probe target before anything connects to it (HTTP 400 otherwise). The message never echoes it.
pub fn validate_target(raw: &str) -> Result<(), String> {
    Target::parse(raw).map(|_| ()).map_err(|e| {
        TARGET_ERRORS.fetch_add(1, Ordering::Relaxed);
        e.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(namespace: &str) -> Arc<Shared> {
        Arc::new(Shared {
            settings: Settings::default(),
            checks: KeyChecks::default(),
            connect: ConnectOptions::default(),
            user: None,
            password: None,
            password_file: None,
            connection_timeout: Duration::from_secs(1),
            config_command: Some("CONFIG".into()),
            ping_on_connect: false,
            namespace: namespace.into(),
            build_info: true,
        })
    }

    fn value(snap: &Snapshot, name: &str) -> Option<f64> {
        match snap.get(name)?.samples.first()?.value {
            oxporter_core::model::Value::Scalar(v) => Some(v),
            _ => None,
        }
    }

    #[tokio::test]
    async fn unusable_address_is_redis_up_0_with_a_bounded_error() {
        let c = RedisCollector::new(shared("redis"), Some("http://user:hunter2@nowhere".into()));
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(Duration::from_secs(1)), &mut out).await.expect("never fails");
        assert_eq!(value(&out, "redis_up"), Some(0.0));
        let err = out.get("redis_exporter_last_scrape_error").expect("error metric");
        assert_eq!(err.samples[0].labels[0].1, "address");
        assert_eq!(value(&out, "redis_exporter_scrapes_total"), Some(1.0));
    }

    #[tokio::test]
    async fn namespace_renames_every_family() {
        let c = RedisCollector::new(shared("cache"), None);
        let ctx = ScrapeContext {
            deadline: Instant::now() + Duration::from_secs(1),
            target: Some(Arc::from("redis://127.0.0.1:1")),
            params: Arc::new(Vec::new()),
        };
        let mut out = Snapshot::new();
        c.collect(&ctx, &mut out).await.expect("never fails");
        assert_eq!(value(&out, "cache_up"), Some(0.0));
        assert!(out.families().iter().all(|f| !f.name.starts_with("redis_")), "{:?}", out.families());
    }

    #[test]
    fn error_kinds() {
        assert_eq!(ScrapeError::Info("NOAUTH Authentication required.".into()).kind(), "auth");
        assert_eq!(ScrapeError::Info("LOADING".into()).kind(), "info");
        let timeout = oxporter_core::net::NetError::Timeout { addr: "redis://localhost:6379".into() };
        assert_eq!(ScrapeError::Client(ClientError::Net(timeout)).kind(), "timeout");
        assert_eq!(margin(Duration::from_secs(10)), Duration::from_millis(100));
        assert_eq!(margin(Duration::from_millis(500)), Duration::from_millis(50));
    }
}
