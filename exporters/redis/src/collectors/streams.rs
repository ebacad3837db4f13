//! `check-streams` and `check-single-streams`: length, radix tree, last id and groups of each stream
//! (`redis_stream_*`), per consumer group (`redis_stream_group_*`) and per consumer
//! (`redis_stream_group_consumer_*`), all pipelined: one round trip for every stream's XINFO STREAM and
//! XINFO GROUPS, one for every group's XINFO CONSUMERS.

use std::time::Instant;

use oxporter_core::Snapshot;

use super::keys::ScanCursor;
use super::{CheckEnv, CheckFuture, CheckOutcome, DbKey, KeyChecks, is_pattern, outcome_of};
use crate::client::{ClientError, Cmd, Conn};
use crate::resp::Value;

/// Streams inspected per pattern at most.
const MAX_STREAMS_PER_PATTERN: usize = 10_000;

/// Whether stream checks are configured.
pub fn enabled(c: &KeyChecks) -> bool {
    !c.streams.is_empty() || !c.single_streams.is_empty()
}

/// A flat key/value reply (RESP2 array or RESP3 map) as pairs with text keys.
fn pairs(v: Value) -> Vec<(String, Value)> {
    let items = v.into_items().unwrap_or_default();
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let Some(k) = k.as_text() {
            out.push((k.into_owned(), v));
        }
    }
    out
}

fn num(p: &[(String, Value)], name: &str) -> f64 {
    p.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_f64()).unwrap_or(0.0)
}

fn text(p: &[(String, Value)], name: &str) -> String {
    p.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_text().map(|t| t.into_owned())).unwrap_or_default()
}

/// The millisecond part of a stream ID (`1700000000000-0`), as redis_exporter reports IDs.
pub fn id_millis(id: &str) -> f64 {
    id.split('-').next().and_then(|ms| ms.parse().ok()).unwrap_or(0.0)
}

async fn check_streams(
    conn: &mut Conn,
    db: u32,
    streams: &[Vec<u8>],
    out: &mut Snapshot,
    deadline: Instant,
) -> Result<(), ClientError> {
    if streams.is_empty() {
        return Ok(());
    }
    let dbl = format!("db{db}");
    let mut cmds = vec![Cmd::new(&["SELECT".to_owned(), db.to_string()])];
    for s in streams {
        cmds.push(Cmd::new(&[b"XINFO".as_slice(), b"STREAM", s]));
        cmds.push(Cmd::new(&[b"XINFO".as_slice(), b"GROUPS", s]));
    }
    let mut replies = conn.pipeline(&cmds, deadline).await?.into_iter();
    if let Some(Value::Error(e)) = replies.next() {
        tracing::debug!(db, error = %e, "SELECT failed");
        return Ok(());
    }
    let mut consumer_cmds = Vec::new();
    let mut consumer_of = Vec::new();
    for s in streams {
        let (Some(info), Some(groups)) = (replies.next(), replies.next()) else { break };
        if let Value::Error(e) = &info {
            tracing::debug!(error = %e, "XINFO STREAM failed");
            continue;
        }
        let name = String::from_utf8_lossy(s).into_owned();
        let l = [("db", dbl.as_str()), ("stream", name.as_str())];
        let info = pairs(info);
        out.gauge("redis_stream_length", "The number of elements of the stream").sample(&l, num(&info, "length"));
        out.gauge("redis_stream_radix_tree_keys", "Radix tree keys count\"").sample(&l, num(&info, "radix-tree-keys"));
        out.gauge("redis_stream_radix_tree_nodes", "Radix tree nodes count").sample(&l, num(&info, "radix-tree-nodes"));
        out.gauge("redis_stream_last_generated_id", "The epoch timestamp (ms) of the latest message on the stream")
            .sample(&l, id_millis(&text(&info, "last-generated-id")));
        out.gauge("redis_stream_groups", "Groups count of stream").sample(&l, num(&info, "groups"));
        for g in groups.into_items().unwrap_or_default() {
            let g = pairs(g);
            let group = text(&g, "name");
            let gl = [("db", dbl.as_str()), ("group", group.as_str()), ("stream", name.as_str())];
            out.gauge("redis_stream_group_consumers", "Consumers count of stream group")
                .sample(&gl, num(&g, "consumers"));
            out.gauge("redis_stream_group_messages_pending", "Pending number of messages in that stream group")
                .sample(&gl, num(&g, "pending"));
            out.gauge("redis_stream_group_last_delivered_id", "The epoch timestamp (ms) of the last delivered message")
                .sample(&gl, id_millis(&text(&g, "last-delivered-id")));
            consumer_cmds.push(Cmd::new(&[b"XINFO".as_slice(), b"CONSUMERS", s, group.as_bytes()]));
            consumer_of.push((name.clone(), group));
        }
    }
    if consumer_cmds.is_empty() {
        return Ok(());
    }
    let replies = conn.pipeline(&consumer_cmds, deadline).await?;
    for ((stream, group), consumers) in consumer_of.iter().zip(replies) {
        for c in consumers.into_items().unwrap_or_default() {
            let c = pairs(c);
            let consumer = text(&c, "name");
            let l = [
                ("consumer", consumer.as_str()),
                ("db", dbl.as_str()),
                ("group", group.as_str()),
                ("stream", stream.as_str()),
            ];
            out.gauge(
                "redis_stream_group_consumer_messages_pending",
                "Pending number of messages for this specific consumer",
            )
            .sample(&l, num(&c, "pending"));
            out.gauge("redis_stream_group_consumer_idle_seconds", "Consumer idle time in seconds")
                .sample(&l, num(&c, "idle") / 1e3);
        }
    }
    Ok(())
}

/// Runs the stream checks, on the scrape's connection.
pub fn run<'a>(
    conn: &'a mut Conn,
    _: &'a CheckEnv<'a>,
    c: &'a KeyChecks,
    out: &'a mut Snapshot,
    deadline: Instant,
) -> CheckFuture<'a> {
    Box::pin(async move {
        let plain: Vec<&DbKey> =
            c.single_streams.iter().chain(c.streams.iter().filter(|k| !is_pattern(&k.key))).collect();
        let mut dbs: Vec<u32> = plain.iter().map(|k| k.db).collect();
        dbs.sort_unstable();
        dbs.dedup();
        for db in dbs {
            let names: Vec<Vec<u8>> = plain.iter().filter(|k| k.db == db).map(|k| k.key.clone().into_bytes()).collect();
            for chunk in names.chunks(c.batch_size.max(1)) {
                if let Err(e) = check_streams(conn, db, chunk, out, deadline).await {
                    return outcome_of(e);
                }
            }
        }
        for p in c.streams.iter().filter(|k| is_pattern(&k.key)) {
            let mut scan = ScanCursor::new(p.db, &p.key);
            let mut seen = std::collections::HashSet::new();
            loop {
                let page = match scan.next_page(conn, c.batch_size.max(1), deadline).await {
                    Ok(Some(page)) => page,
                    Ok(None) => break,
                    Err(e) => return outcome_of(e),
                };
                let fresh: Vec<Vec<u8>> = page.into_iter().filter(|k| seen.insert(k.clone())).collect();
                if let Err(e) = check_streams(conn, p.db, &fresh, out, deadline).await {
                    return outcome_of(e);
                }
                if seen.len() >= MAX_STREAMS_PER_PATTERN {
                    return CheckOutcome::CutShort;
                }
            }
        }
        CheckOutcome::Done
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(id_millis("1700000000000-5"), 1700000000000.0);
        assert_eq!(id_millis("0-0"), 0.0);
        assert_eq!(id_millis(""), 0.0);
    }
}
