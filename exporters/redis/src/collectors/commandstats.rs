//! `commandstats`: `redis_commands_total`, `redis_commands_duration_seconds_total`, and (Redis 6.2+)
//! `redis_commands_rejected_calls_total` and `redis_commands_failed_calls_total`, per command.

use oxporter_core::Snapshot;

use super::Input;

/// One `cmdstat_<cmd>:calls=…,usec=…,…` line.
#[derive(Debug, Clone, PartialEq)]
pub struct CmdStat {
    /// Command name (`get`, `client|setname`).
    pub cmd: String,
    /// Calls.
    pub calls: f64,
    /// Total time in microseconds.
    pub usec: f64,
    /// Rejected and failed calls (Redis 6.2+).
    pub rejected_failed: Option<(f64, f64)>,
}

fn item<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(',').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

/// Parses a commandstats field.
pub fn parse(key: &str, value: &str) -> Option<CmdStat> {
    let cmd = key.strip_prefix("cmdstat_")?;
    let num = |name: &str| item(value, name).and_then(|v| v.parse::<f64>().ok());
    let rejected_failed = match (num("rejected_calls"), num("failed_calls")) {
        (Some(r), Some(f)) => Some((r, f)),
        _ => None,
    };
    Some(CmdStat { cmd: cmd.to_owned(), calls: num("calls")?, usec: num("usec")?, rejected_failed })
}

/// Writes the per-command counters.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    for f in input.info.section("Commandstats") {
        let Some(s) = parse(&f.key, &f.value) else { continue };
        let l = [("cmd", s.cmd.as_str())];
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
        assert_eq!((s.cmd.as_str(), s.calls, s.usec, s.rejected_failed), ("get", 21.0, 175.0, None));
        let s = parse("cmdstat_config|get", "calls=2,usec=9,usec_per_call=4.5,rejected_calls=1,failed_calls=0")
            .expect("valid");
        assert_eq!(s.rejected_failed, Some((1.0, 0.0)));
        assert_eq!(parse("cmdstat_x", "calls=a,usec=1"), None);
        assert_eq!(parse("other", "calls=1,usec=1"), None);
    }
}
