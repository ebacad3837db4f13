//! The metric groups, one per file, declared in [`GROUPS`] and [`CHECKS`].
//!
//! A scrape makes one connection and asks everything the groups need in one pipelined round trip: the driver's
//! own `CONFIG GET` and `INFO ALL`, plus each group's [`Group::commands`]. Each group then turns its replies and
//! the parsed INFO into metrics. Key checks ([`CHECKS`]) come last: they need several round trips (SCAN cursors),
//! share the same connection, and stop at the scrape deadline with partial results.

use std::collections::HashMap;
use std::time::Instant;

use futures::future::BoxFuture;
use oxporter_core::Snapshot;

use crate::client::{ClientError, Cmd, Conn};
use crate::info::Info;
use crate::resp::Value;

pub mod cluster;
pub mod commandstats;
pub mod config;
pub mod count_keys;
pub mod errorstats;
pub mod info_fields;
pub mod keys;
pub mod keyspace;
pub mod latency;
pub mod latencystats;
pub mod replication;
pub mod server;
pub mod slowlog;
pub mod streams;

/// Scrape-wide settings the groups read.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--include-system-metrics`.
    pub include_system_metrics: bool,
    /// Not `--exclude-latency-histogram-metrics`.
    pub latency_histogram: bool,
    /// `--include-metrics-for-empty-databases`.
    pub empty_databases: bool,
}

/// What a group reads.
#[derive(Debug)]
pub struct Input<'a> {
    /// The parsed `INFO ALL` reply.
    pub info: &'a Info<'a>,
    /// `CONFIG GET` results (name → value) for the few parameters asked.
    pub config: &'a HashMap<String, String>,
    /// The `CLUSTER INFO` reply, in cluster mode.
    pub cluster_info: Option<&'a str>,
    /// The replies to this group's own [`Group::commands`], in order (error replies included).
    pub replies: &'a [Value],
    /// Settings.
    pub settings: &'a Settings,
    /// Seconds since the Unix epoch at the time of the scrape.
    pub now: f64,
}

/// One metric group.
#[derive(Debug)]
pub struct Group {
    /// Name (for logs and docs).
    pub name: &'static str,
    /// Commands to add to the scrape's pipeline.
    pub commands: fn(&Settings) -> Vec<Cmd>,
    /// Writes the group's metrics.
    pub extract: fn(&Input<'_>, &mut Snapshot),
}

fn no_commands(_: &Settings) -> Vec<Cmd> {
    Vec::new()
}

/// Every metric group: the one place a group is registered.
pub const GROUPS: &[Group] = &[
    Group { name: "info", commands: no_commands, extract: info_fields::extract },
    Group { name: "server", commands: no_commands, extract: server::extract },
    Group { name: "keyspace", commands: no_commands, extract: keyspace::extract },
    Group { name: "commandstats", commands: no_commands, extract: commandstats::extract },
    Group { name: "latencystats", commands: no_commands, extract: latencystats::extract },
    Group { name: "errorstats", commands: no_commands, extract: errorstats::extract },
    Group { name: "replication", commands: no_commands, extract: replication::extract },
    Group { name: "cluster", commands: no_commands, extract: cluster::extract },
    Group { name: "config", commands: no_commands, extract: config::extract },
    Group { name: "latency", commands: latency::commands, extract: latency::extract },
    Group { name: "slowlog", commands: slowlog::commands, extract: slowlog::extract },
];

/// Runs every group over an INFO reply (and CLUSTER INFO, CONFIG values) without a connection: what a scrape
/// does after its round trip, minus the groups' own replies. Golden tests and benchmarks use it.
pub fn render(
    info_text: &str,
    cluster_info: Option<&str>,
    config: &HashMap<String, String>,
    settings: &Settings,
    now: f64,
) -> Snapshot {
    let info = crate::info::parse(info_text);
    let mut out = Snapshot::new();
    for g in GROUPS {
        let input = Input { info: &info, config, cluster_info, replies: &[], settings, now };
        (g.extract)(&input, &mut out);
    }
    out
}

/// One `db=pattern` item of a key-check flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbKey {
    /// Database number.
    pub db: u32,
    /// Key name or SCAN pattern.
    pub key: String,
}

/// The key-check settings of one scrape (flags, or a probe's `check-keys`, … parameters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyChecks {
    /// `--check-keys`: patterns expanded with SCAN (plain names are used as they are).
    pub keys: Vec<DbKey>,
    /// `--check-single-keys`.
    pub single_keys: Vec<DbKey>,
    /// `--count-keys`.
    pub count_keys: Vec<DbKey>,
    /// `--check-streams`.
    pub streams: Vec<DbKey>,
    /// `--check-single-streams`.
    pub single_streams: Vec<DbKey>,
    /// `--check-keys-batch-size`: SCAN COUNT and pipeline batch size.
    pub batch_size: usize,
    /// `--disable-exporting-key-values`.
    pub no_values: bool,
}

/// How a check ended.
#[derive(Debug)]
pub enum CheckOutcome {
    /// Everything was checked.
    Done,
    /// The deadline came first; what was written is partial.
    CutShort,
    /// The connection failed; what was written is partial.
    Failed(ClientError),
}

/// The future a check returns.
pub type CheckFuture<'a> = BoxFuture<'a, CheckOutcome>;

/// One key check: runs after the groups, on the same connection, until `deadline`.
#[derive(Debug)]
pub struct Check {
    /// The name used in `redis_exporter_check_truncated{check}` and logs.
    pub name: &'static str,
    /// Whether the settings ask for it.
    pub enabled: fn(&KeyChecks) -> bool,
    /// Runs it.
    pub run: for<'a> fn(&'a mut Conn, &'a KeyChecks, &'a mut Snapshot, Instant) -> CheckFuture<'a>,
}

/// Every key check, in the order they run.
pub const CHECKS: &[Check] = &[
    Check { name: "check-keys", enabled: keys::enabled, run: keys::run },
    Check { name: "check-streams", enabled: streams::enabled, run: streams::run },
    Check { name: "count-keys", enabled: count_keys::enabled, run: count_keys::run },
];

/// Maps a transport failure inside a check to its outcome.
pub fn outcome_of(e: ClientError) -> CheckOutcome {
    if e.is_timeout() { CheckOutcome::CutShort } else { CheckOutcome::Failed(e) }
}

/// Parses a key-check flag: comma separated `[dbN=]key` items, keys URL-query-escaped (as redis_exporter reads
/// them). Empty items are skipped.
pub fn parse_key_arg(arg: &str) -> Result<Vec<DbKey>, String> {
    let mut out = Vec::new();
    for item in arg.split(',') {
        if item.is_empty() {
            continue;
        }
        let frags: Vec<&str> = item.split('=').collect();
        let (db, key) = match frags.as_slice() {
            [key] => ("0".to_owned(), *key),
            [db, key] => (db.trim().replace("db", ""), *key),
            _ => return Err(format!("invalid key list argument: {item}")),
        };
        let key = oxporter_core::server::percent_decode(key.trim());
        if db.is_empty() || key.is_empty() {
            continue;
        }
        let db: u32 = db.parse().map_err(|_| format!("invalid database index for db {db:?}"))?;
        out.push(DbKey { db, key });
    }
    Ok(out)
}

/// Whether `key` holds glob characters, so it must be expanded with SCAN.
pub fn is_pattern(key: &str) -> bool {
    key.contains(['?', '*', '[', ']', '^'])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same function the `info` fuzz target drives, over garbage.
    #[test]
    fn render_survives_garbage() {
        let settings = Settings { include_system_metrics: true, latency_histogram: true, empty_databases: true };
        let config: HashMap<String, String> = [("databases".to_owned(), "3".to_owned())].into();
        let pieces = [
            "# Keyspace\n",
            "db0:keys=",
            "cmdstat_",
            "latency_percentiles_usec_x:p",
            "errorstat_E:count=",
            "slave0:",
            "ip=",
            ",",
            "=",
            ":",
            "\r\n",
            "master_host:",
            "master_link_status:up\n",
            "# Replication\n",
            "cluster_x:ok\n",
            "# Commandstats\n",
            "calls=1,usec=2",
            "p50=1",
            "NaN",
            "-1",
            "1e309",
            "\u{0}",
            "é",
            "# Latencystats\n",
        ];
        let mut seed = 99u64;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(seed % 30) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let snap = render(&s, Some(&s), &config, &settings, 0.0);
            let _ = oxporter_core::encode::encode(oxporter_core::encode::Format::Text004, &snap.into_sorted());
        }
        // A hostile `databases` value pads a bounded number of databases.
        let config: HashMap<String, String> = [("databases".to_owned(), "99999999999".to_owned())].into();
        let snap = render("", None, &config, &settings, 0.0);
        assert_eq!(snap.get("redis_db_keys").map(|f| f.samples.len()), Some(4096));
    }

    #[test]
    fn key_args() {
        assert_eq!(
            parse_key_arg("db1=a*,b,,db2=c%3Ad").expect("valid"),
            vec![
                DbKey { db: 1, key: "a*".into() },
                DbKey { db: 0, key: "b".into() },
                DbKey { db: 2, key: "c:d".into() }
            ]
        );
        assert!(parse_key_arg("a=b=c").is_err());
        assert!(parse_key_arg("dbx=k").is_err());
        assert!(parse_key_arg("db-1=k").is_err());
        assert!(is_pattern("user:*") && !is_pattern("plain"));
    }
}
