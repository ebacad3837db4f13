//! `latencystats`: `redis_latency_percentiles_usec{cmd}`, a summary whose quantiles are INFO's latency
//! percentiles (labelled 50, 99, 99.9 as redis_exporter does) and whose count and sum come from commandstats.

use std::collections::HashMap;

use oxporter_core::Snapshot;
use oxporter_core::model::SummaryValue;

use super::{Input, commandstats};

/// Parses `latency_percentiles_usec_<cmd>:p50=…,p99=…` into the command and `(percentile, usec)` pairs.
pub fn parse<'a>(key: &'a str, value: &str) -> Option<(&'a str, Vec<(f64, f64)>)> {
    let cmd = key.strip_prefix("latency_percentiles_usec_")?;
    let mut points = Vec::new();
    for kv in value.split(',') {
        let (p, v) = kv.split_once('=')?;
        let p: f64 = p.strip_prefix('p')?.parse().ok()?;
        points.push((p, v.parse().ok()?));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some((cmd, points))
}

/// Writes the summaries.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    let stats: HashMap<&str, commandstats::CmdStat> = input
        .info
        .section("Commandstats")
        .filter_map(|f| commandstats::parse(f.key, f.value))
        .map(|s| (s.cmd, s))
        .collect();
    for f in input.info.section("Latencystats") {
        let Some((cmd, quantiles)) = parse(f.key, f.value) else { continue };
        let Some(s) = stats.get(cmd) else { continue };
        out.family(
            "redis_latency_percentiles_usec",
            "A summary of latency percentile distribution per command",
            oxporter_core::MetricType::Summary,
        )
        .summary(&[("cmd", cmd)], SummaryValue { quantiles, sum: s.usec, count: s.calls.max(0.0) as u64 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_percentiles() {
        let (cmd, q) = parse("latency_percentiles_usec_set", "p50=1.003,p99.9=4.015,p99=2").expect("valid");
        assert_eq!(cmd, "set");
        assert_eq!(q, vec![(50.0, 1.003), (99.0, 2.0), (99.9, 4.015)]);
        assert_eq!(parse("latency_percentiles_usec_x", "q50=1"), None);
        assert_eq!(parse("nope", "p50=1"), None);
    }
}
