//! `check-keys` and `check-single-keys`: `redis_key_size{db,key}` for every matching key, and its value as
//! `redis_key_value` (numbers) or `redis_key_value_as_string{val}` (other UTF-8 strings).
//!
//! Patterns are expanded with SCAN; the keys are then inspected in pipelined batches (TYPE for a batch, then
//! one size command per key, then PFCOUNT for HyperLogLogs), a few round trips per batch instead of several per
//! key. Only commands that suit the key's type are sent, so checks never add to the server's error counters.

use std::time::Instant;

use oxporter_core::Snapshot;

use super::{CheckEnv, CheckFuture, CheckOutcome, DbKey, KeyChecks, Work, is_pattern, outcome_of, parallel};
use crate::client::{ClientError, Cmd, Conn};
use crate::resp::{Value, parse_go_float};

/// Keys collected by one SCAN pattern at most; a pattern matching more is cut short (and reported so).
pub const MAX_KEYS_PER_PATTERN: usize = 100_000;
/// Longest string value read for `redis_key_value_as_string`; longer values are measured but not exported.
pub const MAX_VALUE_LEN: usize = 1024;

/// Whether any key check is configured.
pub fn enabled(c: &KeyChecks) -> bool {
    !c.keys.is_empty() || !c.single_keys.is_empty()
}

/// A SCAN over one pattern in one database, page by page.
#[derive(Debug)]
pub struct ScanCursor {
    db: u32,
    pattern: String,
    cursor: Vec<u8>,
    started: bool,
    done: bool,
}

impl ScanCursor {
    /// A scan of `db` for `pattern`, not started yet.
    pub fn new(db: u32, pattern: &str) -> Self {
        ScanCursor { db, pattern: pattern.to_owned(), cursor: b"0".to_vec(), started: false, done: false }
    }

    /// Whether the cursor came back to 0.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The next page of keys (`COUNT batch`), or `None` once the scan is complete. The first page also selects
    /// the database; a refused SELECT (no such database) ends the scan with nothing found.
    pub async fn next_page(
        &mut self,
        conn: &mut Conn,
        batch: usize,
        deadline: Instant,
    ) -> Result<Option<Vec<Vec<u8>>>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let scan =
            Cmd::new(&["SCAN"]).arg(&self.cursor).arg("MATCH").arg(&self.pattern).arg("COUNT").arg(batch.to_string());
        let reply = if self.started {
            conn.query(scan, deadline).await?
        } else {
            self.started = true;
            let r = conn.pipeline(&[Cmd::new(&["SELECT".to_owned(), self.db.to_string()]), scan], deadline).await?;
            let mut r = r.into_iter();
            if let Some(Value::Error(e)) = r.next() {
                tracing::debug!(db = self.db, error = %e, "SELECT failed");
                self.done = true;
                return Ok(None);
            }
            r.next().unwrap_or(Value::Nil)
        };
        let mut items = reply.into_items().unwrap_or_default().into_iter();
        let (Some(next), Some(Value::Array(keys))) = (items.next(), items.next()) else {
            self.done = true;
            return Ok(None);
        };
        match next.as_text() {
            Some(c) if c != "0" => self.cursor = c.into_owned().into_bytes(),
            _ => self.done = true,
        }
        Ok(Some(keys.into_iter().filter_map(|k| if let Value::Str(k) = k { Some(k) } else { None }).collect()))
    }
}

/// What one checked key turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyReport {
    /// Size or length (0 for a missing key).
    pub size: f64,
    /// The string value, when it is a string of at most [`MAX_VALUE_LEN`] bytes.
    pub value: Option<Vec<u8>>,
}

/// The size command for a TYPE reply (`None` for strings, which need two, and unknown types).
fn size_command(kind: &str, key: &[u8]) -> Option<Cmd> {
    let cmd = match kind {
        "list" => "LLEN",
        "set" => "SCARD",
        "zset" => "ZCARD",
        "hash" => "HLEN",
        "stream" => "XLEN",
        _ => return None,
    };
    Some(Cmd::new(&[cmd.as_bytes(), key]))
}

/// Inspects `keys` of database `db` in three pipelined round trips.
pub async fn inspect(
    conn: &mut Conn,
    db: u32,
    keys: &[Vec<u8>],
    with_values: bool,
    deadline: Instant,
) -> Result<Vec<Option<KeyReport>>, ClientError> {
    let mut cmds = vec![Cmd::new(&["SELECT".to_owned(), db.to_string()])];
    cmds.extend(keys.iter().map(|k| Cmd::new(&[b"TYPE".as_slice(), k])));
    let types = conn.pipeline(&cmds, deadline).await?;
    if let Some(Value::Error(e)) = types.first() {
        tracing::debug!(db, error = %e, "SELECT failed");
        return Ok(vec![None; keys.len()]);
    }
    let types: Vec<String> =
        types.iter().skip(1).map(|t| t.as_text().map(|t| t.into_owned()).unwrap_or_default()).collect();

    // Second round trip: sizes, and the head (or all) of each string to spot HyperLogLogs and read values.
    let head = if with_values { MAX_VALUE_LEN } else { 4 };
    let mut cmds = Vec::new();
    let mut plan = Vec::with_capacity(keys.len());
    for (k, t) in keys.iter().zip(&types) {
        if t == "string" {
            plan.push(cmds.len());
            cmds.push(Cmd::new(&[b"STRLEN".as_slice(), k]));
            cmds.push(Cmd::new(&[b"GETRANGE".as_slice(), k, b"0", (head - 1).to_string().as_bytes()]));
        } else if let Some(c) = size_command(t, k) {
            plan.push(cmds.len());
            cmds.push(c);
        } else {
            plan.push(usize::MAX);
        }
    }
    let replies = if cmds.is_empty() { Vec::new() } else { conn.pipeline(&cmds, deadline).await? };

    let mut reports: Vec<Option<KeyReport>> = Vec::with_capacity(keys.len());
    let mut hll = Vec::new();
    for (i, t) in types.iter().enumerate() {
        let at = plan.get(i).copied().unwrap_or(usize::MAX);
        let report = match t.as_str() {
            "none" => Some(KeyReport { size: 0.0, value: None }),
            "string" => {
                let len = replies.get(at).and_then(Value::as_i64).unwrap_or(0);
                let head = match replies.get(at + 1) {
                    Some(Value::Str(b)) => b.clone(),
                    _ => Vec::new(),
                };
                if head.starts_with(b"HYLL") {
                    hll.push(i);
                    Some(KeyReport { size: len as f64, value: None })
                } else {
                    let value =
                        (with_values && len as usize <= MAX_VALUE_LEN && head.len() as i64 == len).then_some(head);
                    Some(KeyReport { size: len as f64, value })
                }
            }
            _ if at != usize::MAX => {
                replies.get(at).and_then(Value::as_i64).map(|n| KeyReport { size: n as f64, value: None })
            }
            other => {
                tracing::debug!(kind = other, "unknown key type");
                None
            }
        };
        reports.push(report);
    }
    // Third round trip, rarely needed: HyperLogLog cardinalities, which redis_exporter reports as their size.
    if !hll.is_empty() {
        let cmds: Vec<Cmd> =
            hll.iter().filter_map(|&i| keys.get(i)).map(|k| Cmd::new(&[b"PFCOUNT".as_slice(), k])).collect();
        let counts = conn.pipeline(&cmds, deadline).await?;
        for (&i, c) in hll.iter().zip(counts) {
            if let (Some(n), Some(Some(r))) = (c.as_i64(), reports.get_mut(i)) {
                r.size = n as f64;
            }
        }
    }
    Ok(reports)
}

/// Writes the metrics of one inspected key.
pub fn write(out: &mut Snapshot, db: u32, key: &[u8], report: &KeyReport, with_values: bool) {
    let db = format!("db{db}");
    let key = String::from_utf8_lossy(key);
    let l = [("db", db.as_str()), ("key", key.as_ref())];
    out.gauge("redis_key_size", "The length or size of \"key\"").sample(&l, report.size);
    let Some(value) = report.value.as_ref().filter(|_| with_values) else { return };
    // Values that are not UTF-8 (HyperLogLogs, binary blobs) cannot be label values; redis_exporter drops them too.
    let Ok(text) = std::str::from_utf8(value) else { return };
    match parse_go_float(text) {
        Some(v) => {
            out.gauge("redis_key_value", "The value of \"key\"").sample(&l, v);
        }
        None => {
            out.gauge("redis_key_value_as_string", "The value of \"key\" as a string")
                .sample(&[("db", db.as_str()), ("key", key.as_ref()), ("val", text)], 1.0);
        }
    }
}

/// Inspects `keys` and writes their metrics.
async fn check_batch(
    conn: &mut Conn,
    db: u32,
    keys: &[Vec<u8>],
    c: &KeyChecks,
    out: &mut Snapshot,
    deadline: Instant,
) -> Result<(), ClientError> {
    for chunk in keys.chunks(c.batch_size.max(1)) {
        let reports = inspect(conn, db, chunk, !c.no_values, deadline).await?;
        for (k, r) in chunk.iter().zip(reports) {
            if let Some(r) = r {
                write(out, db, k, &r, !c.no_values);
            }
        }
    }
    Ok(())
}

/// One unit of the key checks, done on one connection.
#[derive(Debug)]
enum Job {
    /// Plain key names of one database (`--check-single-keys`, and `--check-keys` items without glob characters).
    Keys { db: u32, keys: Vec<Vec<u8>> },
    /// A pattern expanded with SCAN.
    Pattern(DbKey),
}

/// The jobs, in the order their metrics are written: plain keys by database, then each pattern.
fn jobs(c: &KeyChecks) -> Vec<Job> {
    let plain: Vec<&DbKey> = c.single_keys.iter().chain(c.keys.iter().filter(|k| !is_pattern(&k.key))).collect();
    let mut dbs: Vec<u32> = plain.iter().map(|k| k.db).collect();
    dbs.sort_unstable();
    dbs.dedup();
    let mut jobs: Vec<Job> = dbs
        .into_iter()
        .map(|db| Job::Keys {
            db,
            keys: plain.iter().filter(|k| k.db == db).map(|k| k.key.clone().into_bytes()).collect(),
        })
        .collect();
    jobs.extend(c.keys.iter().filter(|k| is_pattern(&k.key)).cloned().map(Job::Pattern));
    jobs
}

/// Runs the key checks, the plain keys and patterns spread over a few connections ([`super::parallel`]).
pub fn run<'a>(
    conn: &'a mut Conn,
    env: &'a CheckEnv<'a>,
    c: &'a KeyChecks,
    out: &'a mut Snapshot,
    deadline: Instant,
) -> CheckFuture<'a> {
    Box::pin(async move {
        let jobs = jobs(c);
        let batch = c.batch_size.max(1);
        // SCAN pages, plus two round trips per batch of keys inspected (rarely three).
        let round_trips = jobs
            .iter()
            .map(|j| match j {
                Job::Keys { keys, .. } => 2 * keys.len().div_ceil(batch),
                Job::Pattern(p) => env.scan_round_trips(p.db, batch).saturating_add(2),
            })
            .fold(0, usize::saturating_add);
        parallel(conn, env, Work { jobs: &jobs, round_trips, run: run_job }, c, out, deadline).await
    })
}

/// Does one job of the key checks on `conn`.
fn run_job<'c>(
    conn: &'c mut Conn,
    job: &'c Job,
    c: &'c KeyChecks,
    out: &'c mut Snapshot,
    deadline: Instant,
) -> CheckFuture<'c> {
    Box::pin(async move {
        match job {
            Job::Keys { db, keys } => match check_batch(conn, *db, keys, c, out, deadline).await {
                Ok(()) => CheckOutcome::Done,
                Err(e) => outcome_of(e),
            },
            Job::Pattern(p) => check_pattern(conn, p, c, out, deadline).await,
        }
    })
}

/// Expands one pattern with SCAN, inspecting keys in batches as SCAN finds them, so that a check cut short still
/// reports every batch it finished.
async fn check_pattern(
    conn: &mut Conn,
    p: &DbKey,
    c: &KeyChecks,
    out: &mut Snapshot,
    deadline: Instant,
) -> CheckOutcome {
    let mut scan = ScanCursor::new(p.db, &p.key);
    // SCAN may return a key twice; remember what was checked (bounded by MAX_KEYS_PER_PATTERN).
    let mut seen = std::collections::HashSet::new();
    let mut pending: Vec<Vec<u8>> = Vec::new();
    loop {
        let page = match scan.next_page(conn, c.batch_size.max(1), deadline).await {
            Ok(p) => p,
            Err(e) => return outcome_of(e),
        };
        let finished = page.is_none();
        for k in page.unwrap_or_default() {
            if seen.len() >= MAX_KEYS_PER_PATTERN {
                break;
            }
            if seen.insert(k.clone()) {
                pending.push(k);
            }
        }
        let full = seen.len() >= MAX_KEYS_PER_PATTERN;
        if finished || full || pending.len() >= c.batch_size.max(1) {
            if let Err(e) = check_batch(conn, p.db, &pending, c, out, deadline).await {
                return outcome_of(e);
            }
            pending.clear();
        }
        if full {
            tracing::warn!(pattern = %p.key, limit = MAX_KEYS_PER_PATTERN, "check-keys pattern matches too many keys");
            return CheckOutcome::CutShort;
        }
        if finished {
            return CheckOutcome::Done;
        }
    }
}
