//! oxporter-redis's flags: redis_exporter's names and environment variables, plus the shared ones.
//!
//! redis_exporter uses Go's `flag` package, so its users write `-redis.addr=…` with one dash and `-debug=false`
//! for booleans; [`normalise_argv`] accepts both spellings.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use clap::ArgAction;
use oxporter_core::cli::{CommonArgs, parse_duration};

/// Go's `strconv.ParseBool`: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean {s:?} (use true or false)")),
    }
}

/// Log format names redis_exporter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GoLogFormat {
    /// Plain text (logfmt here).
    Txt,
    /// One JSON object per line.
    Json,
}

/// All flags of oxporter-redis.
#[derive(Debug, Clone, clap::Parser)]
pub struct Args {
    /// Flags every exporter shares.
    #[command(flatten)]
    pub common: CommonArgs,

    /// Address of the Redis instance to scrape (redis://, rediss:// for TLS, unix:///path, or host:port).
    #[arg(long = "redis.addr", env = "REDIS_ADDR", default_value = "redis://localhost:6379", help_heading = "Redis")]
    pub redis_addr: String,
    /// User name to use for authentication (Redis ACL for Redis 6.0 and newer).
    #[arg(long = "redis.user", env = "REDIS_USER", default_value = "", help_heading = "Redis")]
    pub redis_user: String,
    /// Password of the Redis instance to scrape. Prefer REDIS_PASSWORD or --redis.password-file.
    #[arg(
        long = "redis.password",
        env = "REDIS_PASSWORD",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true,
        help_heading = "Redis"
    )]
    pub redis_password: String,
    /// JSON file mapping Redis URIs to passwords ({"redis://host:6379": "secret"}), used when --redis.password is
    /// empty. Re-read when it changes.
    #[arg(long = "redis.password-file", env = "REDIS_PASSWORD_FILE", value_name = "FILE", help_heading = "Redis")]
    pub redis_password_file: Option<PathBuf>,
    /// Namespace for metrics.
    #[arg(long = "namespace", env = "REDIS_EXPORTER_NAMESPACE", default_value = "redis", help_heading = "Redis")]
    pub namespace: String,
    /// Timeout for connection to Redis instance (also capped by the scrape deadline).
    #[arg(long = "connection-timeout", env = "REDIS_EXPORTER_CONNECTION_TIMEOUT", default_value = "15s", value_parser = parse_duration, help_heading = "Redis")]
    pub connection_timeout: Duration,
    /// What to use for the CONFIG command; "-" skips the config metrics.
    #[arg(
        long = "config-command",
        env = "REDIS_EXPORTER_CONFIG_COMMAND",
        default_value = "CONFIG",
        help_heading = "Redis"
    )]
    pub config_command: String,
    /// Whether to set client name to redis_exporter.
    #[arg(long = "set-client-name", env = "REDIS_EXPORTER_SET_CLIENT_NAME", default_value = "true", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Redis")]
    pub set_client_name: bool,
    /// Whether to ping the redis instance after connecting (adds redis_exporter_last_scrape_ping_time_seconds).
    #[arg(long = "ping-on-connect", env = "REDIS_EXPORTER_PING_ON_CONNECT", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Redis")]
    pub ping_on_connect: bool,
    /// Whether this is a redis cluster (accepted for compatibility; key checks run against the node scraped).
    #[arg(long = "is-cluster", env = "REDIS_EXPORTER_IS_CLUSTER", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Redis")]
    pub is_cluster: bool,

    /// Comma separated list of key-patterns to export value and length/size, searched for with SCAN
    /// (e.g. db0=user:*,db3=queue).
    #[arg(long = "check-keys", env = "REDIS_EXPORTER_CHECK_KEYS", default_value = "", help_heading = "Key checks")]
    pub check_keys: String,
    /// Comma separated list of single keys to export value and length/size.
    #[arg(
        long = "check-single-keys",
        env = "REDIS_EXPORTER_CHECK_SINGLE_KEYS",
        default_value = "",
        help_heading = "Key checks"
    )]
    pub check_single_keys: String,
    /// Comma separated list of stream-patterns to export info about streams, groups and consumers, searched for
    /// with SCAN.
    #[arg(
        long = "check-streams",
        env = "REDIS_EXPORTER_CHECK_STREAMS",
        default_value = "",
        help_heading = "Key checks"
    )]
    pub check_streams: String,
    /// Comma separated list of single streams to export info about streams, groups and consumers.
    #[arg(
        long = "check-single-streams",
        env = "REDIS_EXPORTER_CHECK_SINGLE_STREAMS",
        default_value = "",
        help_heading = "Key checks"
    )]
    pub check_single_streams: String,
    /// Comma separated list of patterns to count (eg: 'db0=production_*,db3=sessions:*'), searched for with SCAN.
    #[arg(long = "count-keys", env = "REDIS_EXPORTER_COUNT_KEYS", default_value = "", help_heading = "Key checks")]
    pub count_keys: String,
    /// Approximate number of keys to process in each execution (SCAN COUNT and pipeline batch size).
    #[arg(
        long = "check-keys-batch-size",
        env = "REDIS_EXPORTER_CHECK_KEYS_BATCH_SIZE",
        default_value_t = 1000,
        help_heading = "Key checks"
    )]
    pub check_keys_batch_size: i64,
    /// Connections the key checks use at most, the scrape's own included, to work on several patterns and
    /// databases at once; 0: 4 to a server across a network, 1 to one on this host (a Unix socket, or a TCP peer
    /// at a loopback address or the host's own), where more connections gain nothing.
    #[arg(
        long = "check-keys-connections",
        env = "REDIS_EXPORTER_CHECK_KEYS_CONNECTIONS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u8).range(0..=16),
        help_heading = "Key checks"
    )]
    pub check_keys_connections: u8,
    /// Whether to leave out the values of checked keys (redis_key_value, redis_key_value_as_string).
    #[arg(long = "disable-exporting-key-values", env = "REDIS_EXPORTER_DISABLE_EXPORTING_KEY_VALUES", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Key checks")]
    pub disable_exporting_key_values: bool,
    /// Comma separated list of lua regex for grouping keys (not supported by oxporter-redis; refused).
    #[arg(
        long = "check-key-groups",
        env = "REDIS_EXPORTER_CHECK_KEY_GROUPS",
        default_value = "",
        help_heading = "Key checks"
    )]
    pub check_key_groups: String,
    /// Maximum number of distinct key groups (accepted for compatibility; key groups are not supported).
    #[arg(
        long = "max-distinct-key-groups",
        env = "REDIS_EXPORTER_MAX_DISTINCT_KEY_GROUPS",
        default_value_t = 100,
        help_heading = "Key checks"
    )]
    pub max_distinct_key_groups: i64,

    /// Name of the CA certificate file (PEM) to verify the Redis server with; the system store when unset.
    #[arg(
        long = "tls-ca-cert-file",
        env = "REDIS_EXPORTER_TLS_CA_CERT_FILE",
        value_name = "FILE",
        help_heading = "TLS to Redis"
    )]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Name of the client certificate file (PEM) if the server requires TLS client authentication.
    #[arg(
        long = "tls-client-cert-file",
        env = "REDIS_EXPORTER_TLS_CLIENT_CERT_FILE",
        value_name = "FILE",
        help_heading = "TLS to Redis"
    )]
    pub tls_client_cert_file: Option<PathBuf>,
    /// Name of the client key file (PEM) if the server requires TLS client authentication.
    #[arg(
        long = "tls-client-key-file",
        env = "REDIS_EXPORTER_TLS_CLIENT_KEY_FILE",
        value_name = "FILE",
        help_heading = "TLS to Redis"
    )]
    pub tls_client_key_file: Option<PathBuf>,
    /// Name to verify the Redis server certificate against, instead of the host of the address.
    #[arg(
        long = "tls-server-name",
        env = "REDIS_EXPORTER_TLS_SERVER_NAME",
        value_name = "NAME",
        help_heading = "TLS to Redis"
    )]
    pub tls_server_name: Option<String>,
    /// Whether to skip TLS verification of the Redis server.
    #[arg(long = "skip-tls-verification", env = "REDIS_EXPORTER_SKIP_TLS_VERIFICATION", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "TLS to Redis")]
    pub skip_tls_verification: bool,

    /// Whether to include system metrics like e.g. redis_total_system_memory_bytes.
    #[arg(long = "include-system-metrics", env = "REDIS_EXPORTER_INCL_SYSTEM_METRICS", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Metrics")]
    pub include_system_metrics: bool,
    /// Whether to export only Redis metrics (leave out process_* and promhttp_*).
    #[arg(long = "redis-only-metrics", env = "REDIS_EXPORTER_REDIS_ONLY_METRICS", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Metrics")]
    pub redis_only_metrics: bool,
    /// Do not collect the per-command latency histograms (LATENCY HISTOGRAM, Redis 7).
    #[arg(long = "exclude-latency-histogram-metrics", env = "REDIS_EXPORTER_EXCLUDE_LATENCY_HISTOGRAM_METRICS", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Metrics")]
    pub exclude_latency_histogram_metrics: bool,
    /// Whether to emit redis_db_keys and redis_db_keys_expiring as 0 for empty databases.
    #[arg(long = "include-metrics-for-empty-databases", env = "REDIS_EXPORTER_INCL_METRICS_FOR_EMPTY_DATABASES", default_value = "true", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Metrics")]
    pub include_metrics_for_empty_databases: bool,
    /// Whether to include all config settings as metrics (not supported by oxporter-redis; refused).
    #[arg(long = "include-config-metrics", env = "REDIS_EXPORTER_INCL_CONFIG_METRICS", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Metrics")]
    pub include_config_metrics: bool,
    /// Whether to redact sensitive config settings (accepted for compatibility).
    #[arg(long = "redact-config-metrics", env = "REDIS_EXPORTER_REDACT_CONFIG_METRICS", default_value = "true", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Metrics")]
    pub redact_config_metrics: bool,
    /// Whether to scrape Client List specific metrics (not supported by oxporter-redis; refused).
    #[arg(long = "export-client-list", env = "REDIS_EXPORTER_EXPORT_CLIENT_LIST", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Metrics")]
    pub export_client_list: bool,
    /// Whether to include the client's port in the client list (accepted for compatibility).
    #[arg(long = "export-client-port", env = "REDIS_EXPORTER_EXPORT_CLIENT_PORT", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Metrics")]
    pub export_client_port: bool,
    /// Whether to scrape Tile38 specific metrics (not supported by oxporter-redis; refused).
    #[arg(long = "is-tile38", env = "REDIS_EXPORTER_IS_TILE38", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Metrics")]
    pub is_tile38: bool,
    /// Path to Lua Redis script for collecting extra metrics (not supported by oxporter-redis; refused).
    #[arg(long = "script", env = "REDIS_EXPORTER_SCRIPT", default_value = "", help_heading = "Metrics")]
    pub script: String,

    /// Output verbose debug information (same as --log.level=debug).
    #[arg(long = "debug", env = "REDIS_EXPORTER_DEBUG", default_value = "false", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, help_heading = "Logging")]
    pub debug: bool,
    /// Log format, txt or json (same as --log.format=logfmt|json).
    #[arg(long = "log-format", env = "REDIS_EXPORTER_LOG_FORMAT", value_enum, help_heading = "Logging")]
    pub go_log_format: Option<GoLogFormat>,

    /// TLS certificate for the web server (use --web.config.file; refused with a pointer to it).
    #[arg(
        long = "tls-server-cert-file",
        env = "REDIS_EXPORTER_TLS_SERVER_CERT_FILE",
        value_name = "FILE",
        help_heading = "Web"
    )]
    pub tls_server_cert_file: Option<PathBuf>,
    /// TLS key for the web server (use --web.config.file).
    #[arg(
        long = "tls-server-key-file",
        env = "REDIS_EXPORTER_TLS_SERVER_KEY_FILE",
        value_name = "FILE",
        help_heading = "Web"
    )]
    pub tls_server_key_file: Option<PathBuf>,
    /// CA for web client certificates (use --web.config.file).
    #[arg(
        long = "tls-server-ca-cert-file",
        env = "REDIS_EXPORTER_TLS_SERVER_CA_CERT_FILE",
        value_name = "FILE",
        help_heading = "Web"
    )]
    pub tls_server_ca_cert_file: Option<PathBuf>,
    /// Minimum TLS version of the web server (use --web.config.file).
    #[arg(
        long = "tls-server-min-version",
        env = "REDIS_EXPORTER_TLS_SERVER_MIN_VERSION",
        default_value = "TLS1.2",
        help_heading = "Web"
    )]
    pub tls_server_min_version: String,
}

impl Args {
    /// Refuses flags for redis_exporter features oxporter-redis does not have, so a migrated setup fails loudly
    /// instead of silently losing metrics.
    pub fn check_unsupported(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        if !self.check_key_groups.is_empty() {
            bad.push("--check-key-groups (key groups use a Lua script per scrape)");
        }
        if !self.script.is_empty() {
            bad.push("--script (Lua collect scripts)");
        }
        if self.export_client_list {
            bad.push("--export-client-list");
        }
        if self.is_tile38 {
            bad.push("--is-tile38");
        }
        if self.include_config_metrics {
            bad.push("--include-config-metrics");
        }
        if self.tls_server_cert_file.is_some()
            || self.tls_server_key_file.is_some()
            || self.tls_server_ca_cert_file.is_some()
        {
            bad.push("--tls-server-* (serve HTTPS with --web.config.file, exporter-toolkit format)");
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!("not supported by oxporter-redis: {} (see docs/redis.md)", bad.join(", ")))
        }
    }

    /// The TLS settings for connections to Redis.
    pub fn tls(&self) -> oxporter_core::tls::ClientTlsSettings {
        oxporter_core::tls::ClientTlsSettings {
            ca_file: self.tls_ca_cert_file.clone(),
            cert_file: self.tls_client_cert_file.clone(),
            key_file: self.tls_client_key_file.clone(),
            server_name: self.tls_server_name.clone(),
            skip_verify: self.skip_tls_verification,
        }
    }
}

/// Rewrites Go-style arguments for clap: `-flag` and `-flag=value` become `--flag…` for every long flag in
/// `known`, and the environment variables redis_exporter reads for the shared web flags
/// (`REDIS_EXPORTER_WEB_LISTEN_ADDRESS`, `REDIS_EXPORTER_WEB_TELEMETRY_PATH`) become flags when not given.
pub fn normalise_argv(argv: Vec<OsString>, known: &[String], env: impl Fn(&str) -> Option<String>) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::with_capacity(argv.len() + 2);
    let mut previous_takes_value = false;
    for (i, a) in argv.into_iter().enumerate() {
        let rewritten = match a.to_str() {
            Some(s) if i > 0 && !previous_takes_value && s.starts_with('-') && !s.starts_with("--") && s.len() > 2 => {
                let name = s[1..].split('=').next().unwrap_or_default();
                if known.iter().any(|k| k == name) { OsString::from(format!("-{s}")) } else { a }
            }
            _ => a,
        };
        // A value after `--flag` (without `=`) must not be rewritten even if it starts with a dash.
        previous_takes_value = rewritten.to_str().and_then(|s| s.strip_prefix("--")).is_some_and(|name| {
            !name.contains('=') && BOOL_FLAGS.iter().all(|b| *b != name) && known.iter().any(|k| k == name)
        });
        out.push(rewritten);
    }
    let given = |out: &[OsString], flag: &str| {
        out.iter().any(|a| a.to_str().is_some_and(|s| s == flag || s.starts_with(&format!("{flag}="))))
    };
    for (var, flag) in [
        ("REDIS_EXPORTER_WEB_LISTEN_ADDRESS", "--web.listen-address"),
        ("REDIS_EXPORTER_WEB_TELEMETRY_PATH", "--web.telemetry-path"),
    ] {
        if !given(&out, flag)
            && let Some(v) = env(var).filter(|v| !v.is_empty())
        {
            out.push(OsString::from(format!("{flag}={v}")));
        }
    }
    out
}

/// Boolean flags: they take no separate value (`--flag` or `--flag=value`).
const BOOL_FLAGS: &[&str] = &[
    "set-client-name",
    "ping-on-connect",
    "is-cluster",
    "disable-exporting-key-values",
    "skip-tls-verification",
    "include-system-metrics",
    "redis-only-metrics",
    "exclude-latency-histogram-metrics",
    "include-metrics-for-empty-databases",
    "include-config-metrics",
    "redact-config-metrics",
    "export-client-list",
    "export-client-port",
    "is-tile38",
    "debug",
    "web.disable-exporter-metrics",
    "help",
    "version",
];

/// `--redis.password-file`: a JSON object mapping Redis URIs to passwords, re-read when the file changes.
#[derive(Debug)]
pub struct PasswordFile {
    path: PathBuf,
    state: Mutex<(Option<SystemTime>, HashMap<String, String>)>,
}

/// Why the password file could not be used. Never contains a password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// Reading failed.
    #[error("reading password file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// Not a JSON object of strings.
    #[error("password file {0} is not a JSON object of \"uri\": \"password\" pairs (line {1}, column {2})")]
    Format(PathBuf, usize, usize),
}

impl PasswordFile {
    /// Loads the file now; an unreadable or malformed file is an error at start-up.
    pub fn load(path: PathBuf) -> Result<PasswordFile, PasswordFileError> {
        let (mtime, map) = read_password_file(&path)?;
        tracing::info!(entries = map.len(), path = %path.display(), "loaded password file");
        Ok(PasswordFile { path, state: Mutex::new((mtime, map)) })
    }

    /// The password for the first of `keys` the file lists. Re-reads the file if it changed; a broken new version
    /// is logged and the previous one kept.
    pub fn lookup(&self, keys: &[String]) -> Option<String> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mtime = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if mtime.is_some() && mtime != state.0 {
            match read_password_file(&self.path) {
                Ok(new) => {
                    tracing::info!(entries = new.1.len(), path = %self.path.display(), "reloaded password file");
                    *state = new;
                }
                Err(e) => {
                    tracing::error!(error = %e, "keeping the previous passwords");
                    state.0 = mtime;
                }
            }
        }
        keys.iter().find_map(|k| state.1.get(k)).filter(|p| !p.is_empty()).cloned()
    }
}

fn read_password_file(path: &PathBuf) -> Result<(Option<SystemTime>, HashMap<String, String>), PasswordFileError> {
    let meta = std::fs::metadata(path).map_err(|e| PasswordFileError::Read(path.clone(), e))?;
    // A password file is small; refuse something huge rather than read it.
    if meta.len() > 16 * 1024 * 1024 {
        return Err(PasswordFileError::Read(path.clone(), std::io::Error::other("larger than 16 MiB")));
    }
    let data = std::fs::read(path).map_err(|e| PasswordFileError::Read(path.clone(), e))?;
    let map: HashMap<String, String> =
        serde_json::from_slice(&data).map_err(|e| PasswordFileError::Format(path.clone(), e.line(), e.column()))?;
    Ok((meta.modified().ok(), map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn go_bools() {
        assert_eq!(parse_go_bool("T"), Ok(true));
        assert_eq!(parse_go_bool("0"), Ok(false));
        assert!(parse_go_bool("yes").is_err());
    }

    #[test]
    fn single_dash_flags_become_double() {
        let known: Vec<String> = ["redis.addr", "debug", "check-keys", "web.listen-address"].map(String::from).into();
        let out = normalise_argv(
            os(&["x", "-redis.addr=redis://h:1", "-debug", "--check-keys", "-weird-value", "-h", "-unknown"]),
            &known,
            |_| None,
        );
        assert_eq!(
            out,
            os(&["x", "--redis.addr=redis://h:1", "--debug", "--check-keys", "-weird-value", "-h", "-unknown"])
        );
        let out = normalise_argv(os(&["x"]), &known, |v| {
            (v == "REDIS_EXPORTER_WEB_LISTEN_ADDRESS").then(|| ":1234".to_owned())
        });
        assert_eq!(out, os(&["x", "--web.listen-address=:1234"]));
        let out = normalise_argv(os(&["x", "-web.listen-address", ":1"]), &known, |v| {
            (v == "REDIS_EXPORTER_WEB_LISTEN_ADDRESS").then(|| ":2".to_owned())
        });
        assert_eq!(out, os(&["x", "--web.listen-address", ":1"]));
    }

    #[test]
    fn password_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw.json");
        std::fs::write(&path, r#"{"redis://h:6379": "one", "redis://empty:1": ""}"#).expect("write");
        let pf = PasswordFile::load(path.clone()).expect("valid file");
        assert_eq!(pf.lookup(&["redis://x:1".into(), "redis://h:6379".into()]), Some("one".into()));
        assert_eq!(pf.lookup(&["redis://empty:1".into()]), None);
        std::fs::write(&path, "[1,2]").expect("write");
        assert!(matches!(PasswordFile::load(path.clone()), Err(PasswordFileError::Format(..))));
        std::fs::write(&path, r#"{"k": "hunter2"#).expect("write");
        let e = PasswordFile::load(path).expect_err("truncated").to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
