//! The metric groups, one per file, declared in [`GROUPS`] and [`CHECKS`].
//!
//! A scrape makes one connection and asks everything the groups need in one pipelined round trip: the driver's
//! own `CONFIG GET` and `INFO ALL`, plus each group's [`Group::commands`]. Each group then turns its replies and
//! the parsed INFO into metrics. Key checks ([`CHECKS`]) come last: they need several round trips (SCAN cursors),
//! so those that work on several patterns or databases spread them over a few connections ([`parallel`]); all
//! stop at the scrape deadline with partial results.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use oxporter_core::Snapshot;

use crate::client::{ClientError, Cmd, Conn, ConnectOptions};
use crate::info::Info;
use crate::resp::Value;
use crate::target::Target;

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
    /// `--check-keys-connections`: 0 for [`CheckEnv::max_connections`]'s choice.
    pub connections: usize,
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

/// What the key checks get besides the scrape's connection: how to open more connections to the target (same
/// address, credentials, TLS and client name), and how many keys each database holds, to judge whether more
/// connections are worth opening.
#[derive(Debug, Clone)]
pub struct CheckEnv<'a> {
    /// The target.
    pub target: &'a Target,
    /// Credentials, TLS and client name.
    pub opts: &'a ConnectOptions,
    /// `--connection-timeout`.
    pub timeout: Duration,
    /// Whether the server runs on this host ([`Conn::same_host`] of the scrape's connection).
    pub same_host: bool,
    /// Keys per database, from INFO's keyspace section (databases it does not list are empty).
    pub db_keys: HashMap<u32, u64>,
}

impl CheckEnv<'_> {
    /// A new connection, opened before `deadline` and the connection timeout.
    pub async fn connect(&self, deadline: Instant) -> Result<Conn, ClientError> {
        Conn::connect(self.target, self.opts, deadline.min(Instant::now() + self.timeout)).await
    }

    /// Connections a check may use at once: `--check-keys-connections`, or [`REMOTE_CHECK_CONNECTIONS`] to a
    /// server across a network and 1 to one on this host.
    pub fn max_connections(&self, c: &KeyChecks) -> usize {
        match c.connections {
            0 if self.same_host => 1,
            0 => REMOTE_CHECK_CONNECTIONS,
            n => n,
        }
    }

    /// About how many round trips a SCAN of database `db` takes with `COUNT batch`.
    pub fn scan_round_trips(&self, db: u32, batch: usize) -> usize {
        let keys = self.db_keys.get(&db).copied().unwrap_or(0);
        usize::try_from(keys / batch.max(1) as u64).unwrap_or(usize::MAX).saturating_add(1)
    }
}

/// One key check: runs after the groups, on the scrape's connection (and more from the [`CheckEnv`], if it
/// wants), until `deadline`.
#[derive(Debug)]
pub struct Check {
    /// The name used in `redis_exporter_check_truncated{check}` and logs.
    pub name: &'static str,
    /// Whether the settings ask for it.
    pub enabled: fn(&KeyChecks) -> bool,
    /// Runs it.
    pub run: for<'a> fn(&'a mut Conn, &'a CheckEnv<'a>, &'a KeyChecks, &'a mut Snapshot, Instant) -> CheckFuture<'a>,
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

/// Connections a check uses by default to a server across a network, the scrape's own included.
///
/// Redis runs commands one at a time, so more connections do not make it scan faster; what they remove is the
/// time Redis sits idle while a reply travels back and the next command comes (a SCAN loop is one round trip
/// after another). Over a network that is most of the time: with a 0.6 ms round trip, check-keys over 100,000
/// keys in four databases took 63 ms instead of 103 (docs/benchmarks.md). To a server on the same host there is
/// no wire time to hide, and Redis and the exporter share the CPUs: the same check gained nothing on an idle
/// machine and was 20-50 % slower on a busy one, where a Redis kept busy without pause gets a smaller share of
/// the CPU than one that sleeps between commands. So local servers get one connection.
pub const REMOTE_CHECK_CONNECTIONS: usize = 4;

/// Expected round trips of work per connection: a check opens one more connection for every this many, so small
/// checks stay on the scrape's connection (a new connection costs about a round trip, and shows in
/// `redis_connections_received_total`).
pub const ROUND_TRIPS_PER_CONNECTION: usize = 8;

/// One unit of a check's work on one connection: writes its metrics into the snapshot it is given.
pub type JobFn<J> = for<'c> fn(&'c mut Conn, &'c J, &'c KeyChecks, &'c mut Snapshot, Instant) -> CheckFuture<'c>;

/// A check's work for [`parallel`].
#[derive(Debug)]
pub struct Work<'p, J> {
    /// The jobs, in the order their metrics are written.
    pub jobs: &'p [J],
    /// About how many round trips they take in all.
    pub round_trips: usize,
    /// Does one job.
    pub run: JobFn<J>,
}

/// A finished job: its index, what it wrote, how it ended.
type Finished = (usize, Snapshot, CheckOutcome);

/// The work [`parallel`] shares among its connections.
struct Pool<'p, J> {
    env: &'p CheckEnv<'p>,
    jobs: &'p [J],
    next: AtomicUsize,
    /// Jobs whose extra connection failed, to be done again on the scrape's connection.
    again: Mutex<Vec<usize>>,
    checks: &'p KeyChecks,
    deadline: Instant,
    job: JobFn<J>,
}

/// Runs the jobs of `work` on up to [`CheckEnv::max_connections`] connections at once: the scrape's own `conn`, and
/// more opened with `env` (one per [`ROUND_TRIPS_PER_CONNECTION`] the work is expected to take). Each connection
/// takes the next job when done with one, and stops when none are left or it breaks.
///
/// Extra connections never cost results: one that cannot be opened takes no job, and a job whose extra
/// connection fails is done again, from the start, on the scrape's connection afterwards. Every job writes into a
/// snapshot of its own, merged into `out` in job order, so the output is the same as running the jobs one after
/// another (partial results of a job cut short included).
///
/// The outcome is the first failure in job order, else `CutShort` if any job was cut short (or left undone
/// because every connection broke), else `Done`.
pub async fn parallel<J: Sync>(
    conn: &mut Conn,
    env: &CheckEnv<'_>,
    work: Work<'_, J>,
    c: &KeyChecks,
    out: &mut Snapshot,
    deadline: Instant,
) -> CheckOutcome {
    let Work { jobs, round_trips, run: job } = work;
    let pool = Pool { env, jobs, next: AtomicUsize::new(0), again: Mutex::new(Vec::new()), checks: c, deadline, job };
    let max = env.max_connections(c).max(1);
    let workers = round_trips.div_ceil(ROUND_TRIPS_PER_CONNECTION).clamp(1, max).min(jobs.len());
    let mut running = Vec::with_capacity(workers.max(1));
    running.push(worker(Some(&mut *conn), &pool));
    for _ in 1..workers {
        running.push(worker(None, &pool));
    }
    let mut results: Vec<Finished> = futures::future::join_all(running).await.into_iter().flatten().collect();
    let again = std::mem::take(&mut *pool.again.lock().unwrap_or_else(|p| p.into_inner()));
    for i in again {
        let Some(j) = jobs.get(i) else { continue };
        let mut snap = Snapshot::new();
        let outcome = job(conn, j, c, &mut snap, deadline).await;
        results.push((i, snap, outcome));
    }
    results.sort_by_key(|(i, _, _)| *i);
    let mut outcome = if results.len() < jobs.len() { CheckOutcome::CutShort } else { CheckOutcome::Done };
    for (_, snap, o) in results {
        out.merge(snap);
        match (&outcome, o) {
            (CheckOutcome::Failed(_), _) | (_, CheckOutcome::Done) => {}
            (_, o) => outcome = o,
        }
    }
    outcome
}

/// One connection's share of [`parallel`]: `own` is the scrape's connection; without it, the worker opens one.
async fn worker<J: Sync>(own: Option<&mut Conn>, pool: &Pool<'_, J>) -> Vec<Finished> {
    let extra = own.is_none();
    let mut opened = None;
    let conn = match own {
        Some(c) => c,
        None => match pool.env.connect(pool.deadline).await {
            Ok(c) => opened.insert(c),
            Err(e) => {
                tracing::debug!(error = %e, "no extra connection for the key checks");
                return Vec::new();
            }
        },
    };
    let mut results = Vec::new();
    loop {
        let i = pool.next.fetch_add(1, Ordering::Relaxed);
        let Some(j) = pool.jobs.get(i) else { break };
        let mut snap = Snapshot::new();
        let outcome = (pool.job)(conn, j, pool.checks, &mut snap, pool.deadline).await;
        if let (true, CheckOutcome::Failed(e)) = (extra, &outcome) {
            // Refused (maxclients, …) or broken: not this check's problem, the scrape's connection redoes it.
            tracing::debug!(error = %e, "extra key-check connection failed");
            pool.again.lock().unwrap_or_else(|p| p.into_inner()).push(i);
            break;
        }
        results.push((i, snap, outcome));
        if !conn.usable() {
            break;
        }
    }
    results
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
    fn connections_for_key_checks() {
        let target = Target::parse("redis://cache:6379").expect("valid");
        let opts = ConnectOptions::default();
        let db_keys: HashMap<u32, u64> = [(0, 25_000), (3, 10)].into();
        let env = |same_host| CheckEnv {
            target: &target,
            opts: &opts,
            timeout: Duration::from_secs(1),
            same_host,
            db_keys: db_keys.clone(),
        };
        let checks = |connections| KeyChecks { connections, ..KeyChecks::default() };
        assert_eq!(env(true).max_connections(&checks(0)), 1);
        assert_eq!(env(false).max_connections(&checks(0)), REMOTE_CHECK_CONNECTIONS);
        assert_eq!(env(true).max_connections(&checks(3)), 3);
        assert_eq!(env(false).max_connections(&checks(1)), 1);
        assert_eq!(env(false).scan_round_trips(0, 1000), 26);
        assert_eq!(env(false).scan_round_trips(3, 1000), 1);
        assert_eq!(env(false).scan_round_trips(7, 0), 1, "a database INFO does not list is empty");
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
