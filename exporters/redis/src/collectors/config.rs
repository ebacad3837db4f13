//! `config`: `redis_config_maxmemory`, `redis_config_maxclients` and `redis_config_io_threads` from a targeted
//! `CONFIG GET` (not `CONFIG GET *`, which makes Redis render its whole configuration every scrape).

use oxporter_core::Snapshot;

use super::Input;

/// The parameters the scrape asks for; `databases` sizes the keyspace padding.
pub const PARAMETERS: &[&str] = &["maxmemory", "maxclients", "io-threads", "databases"];

/// Writes the config gauges.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    for name in ["maxmemory", "maxclients", "io-threads"] {
        let Some(v) = input.config.get(name).and_then(|v| crate::resp::parse_go_float(v)) else { continue };
        let metric = format!("config_{}", name.replace('-', "_"));
        out.gauge(format!("redis_{metric}"), format!("{metric} metric")).sample(&[], v);
    }
}
