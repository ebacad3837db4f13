//! `commandstats`: `redis_commands_total`, `redis_commands_duration_seconds_total`, and (Redis 6.2+)
//! `redis_commands_rejected_calls_total` and `redis_commands_failed_calls_total`, per command.

use oxporter_core::Snapshot;

use super::Input;

/// One `cmdstat_<cmd>:calls=…,usec=…,…` line.
#[derive(Debug, Clone, PartialEq)]
pub struct CmdStat<'a> {
    /// Command name (`get`, `client|setname`).
    pub cmd: &'a str,
    /// Calls.
    pub calls: f64,
    /// Total time in microseconds.
    pub usec: f64,
    /// Rejected and failed calls (Redis 6.2+).
    pub rejected_failed: Option<(f64, f64)>,
}

/// Parses a commandstats field (one pass over its items; the first of each name counts).
pub fn parse<'a>(key: &'a str, value: &str) -> Option<CmdStat<'a>> {
    let cmd = key.strip_prefix("cmdstat_")?;
    let (mut calls, mut usec, mut rejected, mut failed) = (None, None, None, None);
    for kv in value.split(',') {
        let Some((k, v)) = kv.split_once('=') else { continue };
        let slot = match k {
            "calls" => &mut calls,
            "usec" => &mut usec,
            "rejected_calls" => &mut rejected,
            "failed_calls" => &mut failed,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(v.parse::<f64>().ok());
        }
    }
    let rejected_failed = match (rejected.flatten(), failed.flatten()) {
        (Some(r), Some(f)) => Some((r, f)),
        _ => None,
    };
    Some(CmdStat { cmd, calls: calls.flatten()?, usec: usec.flatten()?, rejected_failed })
}

/// Writes the per-command counters.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    for f in input.info.section("Commandstats") {
        let Some(s) = parse(f.key, f.value) else { continue };
        let l = [("cmd", s.cmd)];
        out.counter("redis_commands_total", "Total number of calls per command").sample(&l, s.calls);
        out.counter("redis_commands_duration_seconds_total", "Total amount of time in seconds spent per command")
            .sample(&l, s.usec / 1e6);
        if let Some((rejected, failed)) = s.rejected_failed {
            out.counter(
                "redis_commands_rejected_calls_total",
                "Total number of errors within command execution per command",
            )
            .sample(&l, rejected);
            out.counter(
                "redis_commands_failed_calls_total",
                "Total number of errors prior command execution per command",
            )
            .sample(&l, failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_formats() {
        let s = parse("cmdstat_get", "calls=21,usec=175,usec_per_call=8.33").expect("valid");
        assert_eq!((s.cmd, s.calls, s.usec, s.rejected_failed), ("get", 21.0, 175.0, None));
        let s = parse("cmdstat_config|get", "calls=2,usec=9,usec_per_call=4.5,rejected_calls=1,failed_calls=0")
            .expect("valid");
        assert_eq!(s.rejected_failed, Some((1.0, 0.0)));
        assert_eq!(parse("cmdstat_x", "calls=a,usec=1"), None);
        assert_eq!(parse("other", "calls=1,usec=1"), None);
    }
}
