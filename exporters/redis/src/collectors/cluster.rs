//! `cluster`: every `CLUSTER INFO` field in cluster mode (`redis_cluster_state`, `redis_cluster_slots_ok`, …,
//! `cluster_stats_messages_sent` as `redis_cluster_messages_sent_total`), as gauges.

use oxporter_core::Snapshot;

use super::Input;
use crate::info::map_field;

/// Writes the CLUSTER INFO fields.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    let Some(text) = input.cluster_info else { return };
    for line in text.lines() {
        let mut parts = line.trim_end_matches('\r').split(':');
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else { continue };
        if let Some(m) = map_field(key, value, false) {
            out.gauge(m.name, m.help).sample(&[], m.value);
        }
    }
}
