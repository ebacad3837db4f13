//! `keyspace`: `redis_db_keys`, `redis_db_keys_expiring`, `redis_db_avg_ttl_seconds` (and KeyDB's
//! `redis_db_keys_cached`) per database, with zeros for empty databases.

use std::collections::HashSet;

use oxporter_core::Snapshot;

use super::Input;

/// Databases padded with zeros at most: a hostile `databases` value must not create millions of series.
const MAX_PADDED_DBS: u64 = 4096;

/// One `dbN:keys=…,expires=…,avg_ttl=…` line.
#[derive(Debug, Clone, PartialEq)]
pub struct DbStats {
    /// Keys.
    pub keys: f64,
    /// Keys with an expiry.
    pub expires: f64,
    /// Average TTL in milliseconds, if reported.
    pub avg_ttl_ms: Option<f64>,
    /// KeyDB's cached keys, if reported.
    pub cached_keys: Option<f64>,
}

/// Parses a keyspace value; `None` unless `keys` and `expires` are there and every item is `name=number`.
pub fn parse_db(value: &str) -> Option<DbStats> {
    let (mut keys, mut expires, mut avg_ttl_ms, mut cached_keys) = (None, None, None, None);
    for item in value.split(',') {
        let (k, v) = item.split_once('=')?;
        let v: f64 = v.trim().parse().ok()?;
        match k {
            "keys" => keys = Some(v),
            "expires" => expires = Some(v),
            "avg_ttl" => avg_ttl_ms = Some(v),
            "cached_keys" => cached_keys = Some(v),
            _ => {}
        }
    }
    Some(DbStats { keys: keys?, expires: expires?, avg_ttl_ms, cached_keys })
}

/// Writes the per-database metrics.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    let mut seen = HashSet::new();
    for f in input.info.section("Keyspace") {
        if !f.key.starts_with("db") {
            continue;
        }
        let Some(s) = parse_db(f.value) else { continue };
        let db = f.key;
        out.gauge("redis_db_keys", "Total number of keys by DB").sample(&[("db", db)], s.keys);
        out.gauge("redis_db_keys_expiring", "Total number of expiring keys by DB").sample(&[("db", db)], s.expires);
        if let Some(ttl) = s.avg_ttl_ms {
            out.gauge("redis_db_avg_ttl_seconds", "Avg TTL in seconds").sample(&[("db", db)], ttl / 1000.0);
        }
        if let Some(c) = s.cached_keys {
            out.gauge("redis_db_keys_cached", "Total number of cached keys by DB").sample(&[("db", db)], c);
        }
        seen.insert(f.key);
    }
    // redis_exporter 1.45 always reports its key-group scrape time, 0 without --check-key-groups (which
    // oxporter-redis does not support), so dashboards reading it keep working.
    out.gauge(
        "redis_last_key_groups_scrape_duration_milliseconds",
        "Duration of the last key group metrics scrape in milliseconds",
    )
    .sample(&[], 0.0);
    if !input.settings.empty_databases {
        return;
    }
    // Cluster mode has one database; otherwise CONFIG's `databases`, or Redis's default of 16.
    let count = if input.info.cluster_enabled() {
        1
    } else {
        input.config.get("databases").and_then(|v| v.parse::<u64>().ok()).filter(|n| *n > 0).unwrap_or(16)
    };
    for i in 0..count.min(MAX_PADDED_DBS) {
        let db = format!("db{i}");
        if !seen.contains(db.as_str()) {
            out.gauge("redis_db_keys", "Total number of keys by DB").sample(&[("db", &db)], 0.0);
            out.gauge("redis_db_keys_expiring", "Total number of expiring keys by DB").sample(&[("db", &db)], 0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keyspace_lines() {
        assert_eq!(
            parse_db("keys=3,expires=1,avg_ttl=1500"),
            Some(DbStats { keys: 3.0, expires: 1.0, avg_ttl_ms: Some(1500.0), cached_keys: None })
        );
        assert_eq!(parse_db("keys=3,expires=1,avg_ttl=0,subexpiry=0").map(|s| s.keys), Some(3.0));
        assert_eq!(parse_db("keys=3"), None);
        assert_eq!(parse_db("keys=x,expires=1"), None);
        assert_eq!(parse_db("garbage"), None);
    }
}
