//! `latency`: `LATENCY LATEST` as `redis_latency_spike_last{event_name}` and
//! `redis_latency_spike_duration_seconds{event_name}`, and (Redis 7) `LATENCY HISTOGRAM` as the histogram
//! `redis_commands_latencies_usec{cmd}` whose sum comes from commandstats.

use std::collections::HashMap;

use oxporter_core::model::HistogramValue;
use oxporter_core::{MetricType, Snapshot};

use super::{Input, Settings, commandstats};
use crate::client::Cmd;
use crate::resp::Value;

/// `LATENCY LATEST`, and `LATENCY HISTOGRAM` unless excluded.
pub fn commands(s: &Settings) -> Vec<Cmd> {
    let mut c = vec![Cmd::new(&["LATENCY", "LATEST"])];
    if s.latency_histogram {
        c.push(Cmd::new(&["LATENCY", "HISTOGRAM"]));
    }
    c
}

/// One `LATENCY LATEST` row: event, time of the last spike (Unix seconds), its latency in ms.
pub fn parse_latest(v: &Value) -> Vec<(String, f64, f64)> {
    let Some(rows) = v.items() else { return Vec::new() };
    rows.iter()
        .filter_map(|r| {
            let r = r.items()?;
            let name = r.first()?.as_text()?.into_owned();
            Some((name, r.get(1)?.as_i64()? as f64, r.get(2)?.as_i64()? as f64))
        })
        .collect()
}

/// One command's histogram: name, calls, cumulative `(upper bound in usec, count)` buckets.
pub type CommandHistogram = (String, u64, Vec<(f64, u64)>);

/// The key-value pairs of a reply: a RESP3 map, or a RESP2 array of alternating keys and values.
fn pairs(v: &Value) -> Vec<(&Value, &Value)> {
    match v {
        Value::Array(a) => a.chunks_exact(2).map(|p| (&p[0], &p[1])).collect(),
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    }
}

/// Parses `LATENCY HISTOGRAM`: per command, the calls and the cumulative `(bucket upper bound usec, count)` list.
pub fn parse_histogram(v: &Value) -> Vec<CommandHistogram> {
    let mut out = Vec::new();
    for (name, details) in pairs(v) {
        let Some(cmd) = name.as_text() else { continue };
        let mut calls = None;
        let mut buckets = Vec::new();
        for (k, v) in pairs(details) {
            match k.as_text().as_deref() {
                Some("calls") => calls = v.as_i64().and_then(|c| u64::try_from(c).ok()),
                Some("histogram_usec") => {
                    buckets.reserve(16);
                    for (bound, count) in pairs(v) {
                        if let (Some(bound), Some(count)) = (bound.as_f64(), count.as_i64()) {
                            buckets.push((bound, u64::try_from(count).unwrap_or(0)));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(calls) = calls {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            out.push((cmd.into_owned(), calls, buckets));
        }
    }
    out
}

/// Writes the latency metrics.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    if let Some(latest) = input.replies.first() {
        for (event, last, ms) in parse_latest(latest) {
            let l = [("event_name", event.as_str())];
            out.gauge("redis_latency_spike_last", "When the latency spike last occurred").sample(&l, last);
            out.gauge("redis_latency_spike_duration_seconds", "Length of the last latency spike in seconds")
                .sample(&l, ms / 1e3);
        }
    }
    let Some(hist) = input.replies.get(1) else { return };
    let usec: HashMap<&str, f64> = input
        .info
        .section("Commandstats")
        .filter_map(|f| commandstats::parse(f.key, f.value))
        .map(|s| (s.cmd, s.usec))
        .collect();
    for (cmd, calls, buckets) in parse_histogram(hist) {
        let sum = usec.get(cmd.as_str()).copied().unwrap_or(0.0);
        out.family("redis_commands_latencies_usec", "A histogram of latencies per command", MetricType::Histogram)
            .histogram(&[("cmd", &cmd)], HistogramValue { buckets, sum, count: calls });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.as_bytes().to_vec())
    }

    #[test]
    fn parses_replies() {
        let latest = Value::Array(vec![Value::Array(vec![
            s("command"),
            Value::Int(1700000000),
            Value::Int(250),
            Value::Int(300),
        ])]);
        assert_eq!(parse_latest(&latest), vec![("command".to_owned(), 1700000000.0, 250.0)]);
        let hist = Value::Array(vec![
            s("set"),
            Value::Array(vec![
                s("calls"),
                Value::Int(6),
                s("histogram_usec"),
                Value::Array(vec![Value::Int(16), Value::Int(6), Value::Int(8), Value::Int(3)]),
            ]),
            s("broken"),
            Value::Int(1),
        ]);
        assert_eq!(parse_histogram(&hist), vec![("set".to_owned(), 6, vec![(8.0, 3), (16.0, 6)])]);
        assert!(parse_histogram(&Value::Error("ERR unknown".into())).is_empty());
    }
}
