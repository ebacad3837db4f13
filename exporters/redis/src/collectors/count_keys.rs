//! `count-keys`: `redis_keys_count{db,key}`, the number of keys matching each pattern, counted with SCAN.
//! A pattern whose scan the deadline cuts short is left out rather than reported with a partial count.

use std::time::Instant;

use oxporter_core::Snapshot;

use super::{CheckEnv, CheckFuture, CheckOutcome, DbKey, KeyChecks, Work, keys, outcome_of, parallel};
use crate::client::Conn;

/// Whether key counting is configured.
pub fn enabled(c: &KeyChecks) -> bool {
    !c.count_keys.is_empty()
}

/// Runs the counts, the patterns spread over a few connections ([`super::parallel`]).
pub fn run<'a>(
    conn: &'a mut Conn,
    env: &'a CheckEnv<'a>,
    c: &'a KeyChecks,
    out: &'a mut Snapshot,
    deadline: Instant,
) -> CheckFuture<'a> {
    Box::pin(async move {
        let batch = c.batch_size.max(1);
        let round_trips = c.count_keys.iter().map(|p| env.scan_round_trips(p.db, batch)).fold(0, usize::saturating_add);
        parallel(conn, env, Work { jobs: &c.count_keys, round_trips, run: count }, c, out, deadline).await
    })
}

/// Counts the keys matching one pattern.
fn count<'c>(
    conn: &'c mut Conn,
    p: &'c DbKey,
    c: &'c KeyChecks,
    out: &'c mut Snapshot,
    deadline: Instant,
) -> CheckFuture<'c> {
    Box::pin(async move {
        let mut scan = keys::ScanCursor::new(p.db, &p.key);
        let mut count = 0u64;
        loop {
            match scan.next_page(conn, c.batch_size.max(1), deadline).await {
                Ok(Some(page)) => count += page.len() as u64,
                Ok(None) => break,
                Err(e) => return outcome_of(e),
            }
        }
        out.gauge("redis_keys_count", "Count of keys")
            .sample(&[("db", &format!("db{}", p.db)), ("key", &p.key)], count as f64);
        CheckOutcome::Done
    })
}
