//! `errorstats`: `redis_errors_total{err}` from INFO's Errorstats section (`errorstat_ERR:count=4`).

use oxporter_core::Snapshot;

use super::Input;

/// Writes the per-error-type counters.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    for f in input.info.section("Errorstats") {
        let Some(kind) = f.key.strip_prefix("errorstat_") else { continue };
        let Some(count) = f.value.strip_prefix("count=").and_then(|v| v.parse::<f64>().ok()) else { continue };
        out.counter("redis_errors_total", "Total number of errors per error type").sample(&[("err", kind)], count);
    }
}
