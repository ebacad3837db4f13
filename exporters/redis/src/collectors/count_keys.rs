//! `count-keys`: `redis_keys_count{db,key}`, the number of keys matching each pattern, counted with SCAN.
//! A pattern whose scan the deadline cuts short is left out rather than reported with a partial count.

use std::time::Instant;

use oxporter_core::Snapshot;

use super::{CheckFuture, CheckOutcome, KeyChecks, keys, outcome_of};
use crate::client::Conn;

/// Whether key counting is configured.
pub fn enabled(c: &KeyChecks) -> bool {
    !c.count_keys.is_empty()
}

/// Runs the counts.
pub fn run<'a>(conn: &'a mut Conn, c: &'a KeyChecks, out: &'a mut Snapshot, deadline: Instant) -> CheckFuture<'a> {
    Box::pin(async move {
        for p in &c.count_keys {
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
        }
        CheckOutcome::Done
    })
}
