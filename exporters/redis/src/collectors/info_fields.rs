//! `info`: every INFO field redis_exporter maps to a metric of its own (memory, clients, persistence, stats, CPU,
//! replication counters, …), named and typed by the table in [`crate::info`].

use oxporter_core::{MetricType, Snapshot};

use super::{Input, replication};
use crate::info::{Kind, map_field};

/// Sections whose fields other groups turn into labelled metrics.
const OWNED_SECTIONS: &[&str] = &["Commandstats", "Latencystats", "Errorstats", "Keyspace"];

/// Writes the mapped INFO fields.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    for f in &input.info.fields {
        if OWNED_SECTIONS.contains(&f.section) {
            continue;
        }
        if f.section == "Replication" && replication::consumes(f.key, f.value) {
            continue;
        }
        let Some(m) = map_field(f.key, f.value, input.settings.include_system_metrics) else { continue };
        let ty = match m.kind {
            Kind::Gauge => MetricType::Gauge,
            Kind::Counter => MetricType::Counter,
        };
        out.family(m.name, m.help, ty).sample(&[], m.value);
    }
}
