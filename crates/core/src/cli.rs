//! Command-line flags every exporter shares, spelled as the Go exporters spell them, and the `--collector.<name>`
//! flags generated from an exporter's collector table.

use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};

use crate::collector::CollectorSpec;

/// Static facts about one exporter binary.
#[derive(Debug, Clone, Copy)]
pub struct ExporterInfo {
    /// Binary name, e.g. `oxporter-node`.
    pub binary: &'static str,
    /// Metric namespace, e.g. `node`.
    pub namespace: &'static str,
    /// The Go exporter this one replaces, e.g. `node_exporter`. Used in HELP texts that name it.
    pub anchor: &'static str,
    /// Default port (the anchor's).
    pub default_port: u16,
    /// One sentence for `--help` and the landing page.
    pub description: &'static str,
    /// The package version.
    pub version: &'static str,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Everything, including per-collector "no data" notes.
    Debug,
    /// Start-up, shutdown and failures.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs, as the Go exporters print.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Flags every exporter has. Flatten into the exporter's own `clap::Parser` struct.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Addresses on which to expose metrics and web interface. Repeatable. `:PORT` listens on all interfaces.
    #[arg(long = "web.listen-address", value_name = "ADDRESS", action = ArgAction::Append, help_heading = "Web")]
    pub listen_addresses: Vec<String>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", help_heading = "Web")]
    pub telemetry_path: String,
    /// Path to a configuration file that can enable TLS or authentication (exporter-toolkit format). Re-read when
    /// it changes.
    #[arg(long = "web.config.file", value_name = "FILE", help_heading = "Web")]
    pub web_config_file: Option<PathBuf>,
    /// Maximum number of parallel scrape requests; further ones get HTTP 503. 0 disables the limit.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40, help_heading = "Web")]
    pub max_requests: usize,
    /// Exclude metrics about the exporter itself (process_*, promhttp_*).
    #[arg(long = "web.disable-exporter-metrics", help_heading = "Web")]
    pub disable_exporter_metrics: bool,
    /// Scrape deadline when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds header (e.g. 10s, 500ms).
    #[arg(long = "scrape.timeout", value_name = "DURATION", default_value = "10s", value_parser = parse_duration, help_heading = "Web")]
    pub scrape_timeout: Duration,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_name = "LEVEL", value_enum, default_value = "info", help_heading = "Logging")]
    pub log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", value_name = "FORMAT", value_enum, default_value = "logfmt", help_heading = "Logging")]
    pub log_format: LogFormat,
}

/// Parses a Go-style duration: `10s`, `500ms`, `1m30s`, `2h`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"));
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("invalid duration {s:?}: expected a number"));
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => {
                return Err(format!("invalid duration {s:?}: unknown unit {u:?} (use ms, s, m or h)"));
            }
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// The version text `--version` prints.
pub fn version_text(info: &ExporterInfo) -> String {
    format!(
        "{} {}\n  revision: {} (branch {})\n  rustc: {}\n  platform: {}/{}",
        info.binary,
        info.version,
        env!("OXPORTER_GIT_REVISION"),
        env!("OXPORTER_GIT_BRANCH"),
        env!("OXPORTER_RUSTC_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// What [`parse`] returns.
#[derive(Debug)]
pub struct Parsed<A> {
    /// The exporter's parsed flags.
    pub args: A,
    /// Names of the collectors that are enabled, in table order.
    pub enabled: Vec<&'static str>,
    /// `(flag, value)` for every flag set on the command line, in the environment or by default; secrets redacted.
    /// Shown on the landing page.
    pub flags_in_effect: Vec<(String, String)>,
}

/// Adds `--collector.<name>` and `--no-collector.<name>` for every row of `table`, plus
/// `--collector.disable-defaults`.
pub fn add_collector_flags<C>(mut cmd: Command, table: &[CollectorSpec<C>]) -> Command {
    cmd = cmd.arg(
        Arg::new("collector.disable-defaults")
            .long("collector.disable-defaults")
            .action(ArgAction::SetTrue)
            .help("Set all collectors to disabled by default; enable them one by one with --collector.<name>.")
            .help_heading("Collectors"),
    );
    for spec in table {
        let on = format!("collector.{}", spec.name);
        let off = format!("no-collector.{}", spec.name);
        let state = if spec.default_enabled { "enabled" } else { "disabled" };
        cmd = cmd
            .arg(
                Arg::new(on.clone())
                    .long(on.clone())
                    .action(ArgAction::SetTrue)
                    .overrides_with(off.clone())
                    .help(format!("{} (default: {state}; --no-collector.{} disables)", spec.description, spec.name))
                    .help_heading("Collectors"),
            )
            .arg(Arg::new(off.clone()).long(off).action(ArgAction::SetTrue).overrides_with(on).hide(true));
    }
    cmd
}

/// The names of the enabled collectors, from the flags [`add_collector_flags`] added.
pub fn enabled_collectors<C>(matches: &ArgMatches, table: &[CollectorSpec<C>]) -> Vec<&'static str> {
    let disable_defaults = matches.get_flag("collector.disable-defaults");
    table
        .iter()
        .filter(|spec| {
            let on = format!("collector.{}", spec.name);
            let off = format!("no-collector.{}", spec.name);
            if matches.value_source(&on) == Some(ValueSource::CommandLine) && matches.get_flag(&on) {
                true
            } else if matches.value_source(&off) == Some(ValueSource::CommandLine) && matches.get_flag(&off) {
                false
            } else {
                spec.default_enabled && !disable_defaults
            }
        })
        .map(|spec| spec.name)
        .collect()
}

/// Whether a flag's value must not be shown (passwords, tokens). Paths to secret files are fine to show.
pub fn is_secret_flag(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    (n.contains("password") || n.contains("secret") || n.contains("token")) && !n.ends_with("file")
}

/// Parses the process's command line for exporter `info`: the exporter's own flags (`A`, which flattens
/// [`CommonArgs`]), the collector flags from `table`, the anchor's default listen address, and `--version`.
/// Prints help or errors and exits as clap does.
pub fn parse<A, C>(info: &ExporterInfo, table: &[CollectorSpec<C>]) -> Parsed<A>
where
    A: clap::CommandFactory + FromArgMatches,
{
    parse_from(info, table, std::env::args_os())
}

/// [`parse`] over explicit arguments (for tests).
pub fn parse_from<A, C, I, T>(info: &ExporterInfo, table: &[CollectorSpec<C>], argv: I) -> Parsed<A>
where
    A: clap::CommandFactory + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match try_parse_from(info, table, argv) {
        Ok(p) => p,
        Err(e) => e.exit(),
    }
}

/// [`parse_from`] that returns clap's error instead of exiting.
pub fn try_parse_from<A, C, I, T>(
    info: &ExporterInfo,
    table: &[CollectorSpec<C>],
    argv: I,
) -> Result<Parsed<A>, clap::Error>
where
    A: clap::CommandFactory + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cmd = command::<A, C>(info, table);
    let matches = cmd.clone().try_get_matches_from(argv)?;
    let args = A::from_arg_matches(&matches)?;
    let enabled = enabled_collectors(&matches, table);
    let flags_in_effect = flags_in_effect(&cmd, &matches);
    Ok(Parsed { args, enabled, flags_in_effect })
}

/// The full clap command for an exporter (used by `--help` and by tests of the help text).
pub fn command<A: clap::CommandFactory, C>(info: &ExporterInfo, table: &[CollectorSpec<C>]) -> Command {
    let cmd = A::command()
        .name(info.binary)
        .about(info.description)
        .version(info.version)
        .long_version(version_text(info).split_once(' ').map(|(_, v)| v.to_owned()).unwrap_or_default())
        .max_term_width(110)
        .mut_arg("listen_addresses", |a| a.default_value(format!(":{}", info.default_port)));
    add_collector_flags(cmd, table)
}

fn flags_in_effect(cmd: &Command, matches: &ArgMatches) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        if arg.is_hide_set() || matches!(arg.get_action(), ArgAction::Help | ArgAction::Version) {
            continue;
        }
        let source = matches.value_source(id);
        if source.is_none() {
            continue;
        }
        let value = if is_secret_flag(long) {
            "<secret>".to_owned()
        } else {
            match matches.get_raw(id) {
                Some(vals) => vals.map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>().join(","),
                None => continue,
            }
        };
        out.push((long.to_owned(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::{BuildError, Collector};

    #[derive(Debug, clap::Parser)]
    struct TestArgs {
        #[command(flatten)]
        common: CommonArgs,
        /// A secret.
        #[arg(long = "target.password")]
        password: Option<String>,
    }

    fn never(_: &TestArgs) -> Result<Box<dyn Collector>, BuildError> {
        Err("unused".into())
    }

    const TABLE: &[CollectorSpec<TestArgs>] = &[
        CollectorSpec { name: "cpu", default_enabled: true, description: "CPU.", build: never },
        CollectorSpec { name: "mem", default_enabled: true, description: "Memory.", build: never },
        CollectorSpec { name: "extra", default_enabled: false, description: "Extra.", build: never },
    ];

    const INFO: ExporterInfo = ExporterInfo {
        binary: "oxporter-test",
        namespace: "test",
        anchor: "test_exporter",
        default_port: 9999,
        description: "A test.",
        version: "0.0.0",
    };

    fn parse(args: &[&str]) -> Parsed<TestArgs> {
        let argv = std::iter::once("oxporter-test").chain(args.iter().copied());
        try_parse_from::<TestArgs, _, _, _>(&INFO, TABLE, argv).expect("valid flags")
    }

    #[test]
    fn defaults() {
        let p = parse(&[]);
        assert_eq!(p.args.common.listen_addresses, vec![":9999"]);
        assert_eq!(p.args.common.telemetry_path, "/metrics");
        assert_eq!(p.args.common.scrape_timeout, Duration::from_secs(10));
        assert_eq!(p.enabled, vec!["cpu", "mem"]);
    }

    #[test]
    fn collector_flags() {
        assert_eq!(parse(&["--collector.extra", "--no-collector.cpu"]).enabled, vec!["mem", "extra"]);
        assert_eq!(parse(&["--collector.disable-defaults", "--collector.mem"]).enabled, vec!["mem"]);
        // The last of a pair wins, as with kingpin.
        assert_eq!(parse(&["--no-collector.cpu", "--collector.cpu"]).enabled, vec!["cpu", "mem"]);
    }

    #[test]
    fn go_style_flags() {
        let p = parse(&[
            "--web.listen-address=:1",
            "--web.listen-address",
            "127.0.0.1:2",
            "--log.level=debug",
            "--log.format=json",
            "--scrape.timeout=1m30s",
            "--target.password=hunter2",
        ]);
        assert_eq!(p.args.common.listen_addresses, vec![":1", "127.0.0.1:2"]);
        assert_eq!(p.args.common.log_level, LogLevel::Debug);
        assert_eq!(p.args.common.log_format, LogFormat::Json);
        assert_eq!(p.args.common.scrape_timeout, Duration::from_secs(90));
        assert!(p.flags_in_effect.iter().any(|(k, v)| k == "target.password" && v == "<secret>"));
        assert!(!p.flags_in_effect.iter().any(|(_, v)| v.contains("hunter2")));
        assert!(p.flags_in_effect.iter().any(|(k, v)| k == "web.listen-address" && v == ":1,127.0.0.1:2"));
    }

    #[test]
    fn bad_flags_are_errors() {
        let argv = ["x", "--log.level=loud"];
        assert!(try_parse_from::<TestArgs, _, _, _>(&INFO, TABLE, argv).is_err());
        let argv = ["x", "--collector.nope"];
        assert!(try_parse_from::<TestArgs, _, _, _>(&INFO, TABLE, argv).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
