//! `slowlog`: `redis_slowlog_length`, `redis_slowlog_last_id` and `redis_last_slow_execution_duration_seconds`.

use oxporter_core::Snapshot;

use super::{Input, Settings};
use crate::client::Cmd;

/// `SLOWLOG LEN` and `SLOWLOG GET 1`.
pub fn commands(_: &Settings) -> Vec<Cmd> {
    vec![Cmd::new(&["SLOWLOG", "LEN"]), Cmd::new(&["SLOWLOG", "GET", "1"])]
}

/// Writes the slowlog gauges.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    if let Some(len) = input.replies.first().and_then(|v| v.as_i64()) {
        out.gauge("redis_slowlog_length", "Total slowlog").sample(&[], len as f64);
    }
    let Some(get) = input.replies.get(1).and_then(|v| v.items()) else { return };
    let entry = get.first().and_then(|e| e.items()).unwrap_or_default();
    let last_id = entry.first().and_then(|v| v.as_i64()).unwrap_or(0);
    let duration = entry.get(2).and_then(|v| v.as_i64()).unwrap_or(0);
    out.gauge("redis_slowlog_last_id", "Last id of slowlog").sample(&[], last_id as f64);
    out.gauge(
        "redis_last_slow_execution_duration_seconds",
        "The amount of time needed for last slow execution, in seconds",
    )
    .sample(&[], duration as f64 / 1e6);
}
