//! `mdadm`: Linux software RAID state from `/proc/mdstat` (`node_md_state`, `node_md_disks`,
//! `node_md_disks_required`, `node_md_blocks`, `node_md_blocks_synced`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::LazyLock;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use super::read_file;
use crate::args::Args;

/// One md device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MdStat {
    /// Device name (`md0`).
    pub name: String,
    /// RAID level (`raid1`), or `unknown`.
    pub raid_type: String,
    /// `active`, `inactive`, `recovering`, `resyncing`, `checking`, `reshaping`, …
    pub state: String,
    /// Active disks.
    pub disks_active: i64,
    /// Disks the array needs.
    pub disks_total: i64,
    /// Failed disks (`(F)`).
    pub disks_failed: i64,
    /// Missing disks (`_` in the status).
    pub disks_down: i64,
    /// Spare disks (`(S)`).
    pub disks_spare: i64,
    /// Size in blocks.
    pub blocks_total: i64,
    /// Blocks in sync (all of them unless a sync is running).
    pub blocks_synced: i64,
}

struct Patterns {
    status: Regex,
    recovery_blocks: Regex,
    recovery_pct: Regex,
    recovery_finish: Regex,
    recovery_speed: Regex,
}

static PATTERNS: LazyLock<Option<Patterns>> = LazyLock::new(|| {
    Some(Patterns {
        status: Regex::new(r"(\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\]").ok()?,
        recovery_blocks: Regex::new(r"\((\d+/\d+)\)").ok()?,
        recovery_pct: Regex::new(r"= (.+)%").ok()?,
        recovery_finish: Regex::new(r"finish=(.+)min").ok()?,
        recovery_speed: Regex::new(r"speed=(.+)[A-Z]").ok()?,
    })
});

fn err(msg: String) -> CollectError {
    CollectError::Parse(format!("/proc/mdstat: {msg}"))
}

/// Parses `/proc/mdstat` as the Go procfs library does: a device line, its status line, an optional bitmap line
/// and a sync line per device.
pub fn parse(content: &str) -> Result<Vec<MdStat>, CollectError> {
    let p = PATTERNS.as_ref().ok_or_else(|| err("internal pattern error".into()))?;
    let lines: Vec<&str> = content.split('\n').collect();
    let mut known_types: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for (i, &line) in lines.iter().enumerate() {
        if line.trim().is_empty() || line.starts_with(' ') || line.starts_with("unused") {
            continue;
        }
        if known_types.is_empty()
            && let Some(rest) = line.strip_prefix("Personalities : ")
        {
            // Each personality is written in brackets: "[raid1]".
            known_types.extend(rest.split_whitespace().filter_map(|w| w.get(1..w.len().saturating_sub(1))));
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 {
            return Err(err(format!("expected 3+ fields, got {line:?}")));
        }
        let name = fields[0];
        let mut state = fields[2].to_owned();
        let is_type = |s: &str| known_types.contains(s) && !s.contains(['(', '[']);
        let raid_type = match (fields.get(3), fields.get(4)) {
            (Some(t), _) if is_type(t) => (*t).to_owned(),
            (Some(_), Some(t)) if is_type(t) => (*t).to_owned(),
            _ => "unknown".to_owned(),
        };
        if lines.len() <= i + 3 {
            return Err(err(format!("too few lines for md device {name:?}")));
        }
        let failed = line.matches("(F)").count() as i64;
        let spare = line.matches("(S)").count() as i64;
        let (active, total, down, size) = eval_status_line(p, line, lines[i + 1])?;
        let sync_line = if lines[i + 2].contains("bitmap") { lines[i + 3] } else { lines[i + 2] };
        let mut blocks_synced = size;
        let recovering = sync_line.contains("recovery");
        let reshaping = sync_line.contains("reshape");
        let resyncing = sync_line.contains("resync");
        let checking = sync_line.contains("check");
        if recovering || reshaping || resyncing || checking {
            state = if recovering {
                "recovering"
            } else if reshaping {
                "reshaping"
            } else if checking {
                "checking"
            } else {
                "resyncing"
            }
            .to_owned();
            if sync_line.contains("PENDING") || sync_line.contains("DELAYED") {
                blocks_synced = 0;
            } else {
                blocks_synced = eval_recovery_line(p, sync_line)
                    .map_err(|e| err(format!("cannot parse sync line of {name:?}: {e}")))?;
            }
        }
        out.push(MdStat {
            name: name.to_owned(),
            raid_type,
            state,
            disks_active: active,
            disks_total: total,
            disks_failed: failed,
            disks_down: down,
            disks_spare: spare,
            blocks_total: size,
            blocks_synced,
        });
    }
    Ok(out)
}

fn eval_status_line(p: &Patterns, device_line: &str, status_line: &str) -> Result<(i64, i64, i64, i64), CollectError> {
    let bad = || err(format!("unexpected status line {status_line:?}"));
    let size: i64 = status_line.split_whitespace().next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    if device_line.contains("raid0") || device_line.contains("linear") {
        // Only member disks carry a "[n]" on the device line.
        let total = device_line.matches('[').count() as i64;
        return Ok((total, total, 0, size));
    }
    if device_line.contains("inactive") {
        return Ok((0, 0, 0, size));
    }
    let c = p.status.captures(status_line).ok_or_else(bad)?;
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<i64>().ok()).ok_or_else(bad);
    let down = c.get(4).map_or(0, |m| m.as_str().matches('_').count()) as i64;
    Ok((num(3)?, num(2)?, down, size))
}

/// The blocks synced so far; the other fields are validated as the Go parser validates them.
fn eval_recovery_line(p: &Patterns, line: &str) -> Result<i64, String> {
    let group = |re: &Regex| re.captures(line).and_then(|c| c.get(1)).map(|m| m.as_str().to_owned());
    let blocks = group(&p.recovery_blocks).ok_or("no blocks")?;
    let (done, todo) = blocks.split_once('/').ok_or("no blocks")?;
    let done: i64 = done.parse().map_err(|_| "invalid blocks synced")?;
    todo.parse::<i64>().map_err(|_| "invalid blocks to sync")?;
    let float = |s: Option<String>, what: &str| -> Result<f64, String> {
        s.ok_or(format!("no {what}"))?.trim().parse::<f64>().map_err(|_| format!("invalid {what}"))
    };
    float(group(&p.recovery_pct), "percentage")?;
    // The finish time and speed are parsed untrimmed, as in Go.
    group(&p.recovery_finish).ok_or("no finish time")?.parse::<f64>().map_err(|_| "invalid finish time")?;
    group(&p.recovery_speed).ok_or("no speed")?.parse::<f64>().map_err(|_| "invalid speed")?;
    Ok(done)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Mdadm { path: args.proc_path("mdstat") }))
}

struct Mdadm {
    path: PathBuf,
}

/// Writes the metrics of the parsed devices.
pub fn emit(out: &mut Snapshot, stats: &[MdStat]) {
    for md in stats {
        let dev = [("device", md.name.as_str())];
        out.gauge("node_md_disks_required", "Total number of disks of device.").sample(&dev, md.disks_total as f64);
        for (state, n) in [("active", md.disks_active), ("failed", md.disks_failed), ("spare", md.disks_spare)] {
            out.gauge("node_md_disks", "Number of active/failed/spare disks of device.")
                .sample(&[("device", md.name.as_str()), ("state", state)], n as f64);
        }
        for (label, state) in [
            ("active", "active"),
            ("inactive", "inactive"),
            ("recovering", "recovering"),
            ("resync", "resyncing"),
            ("check", "checking"),
        ] {
            let v = if md.state == state { 1.0 } else { 0.0 };
            out.gauge("node_md_state", "Indicates the state of md-device.")
                .sample(&[("device", md.name.as_str()), ("state", label)], v);
        }
        out.gauge("node_md_blocks", "Total number of blocks on device.").sample(&dev, md.blocks_total as f64);
        out.gauge("node_md_blocks_synced", "Number of blocks synced on device.").sample(&dev, md.blocks_synced as f64);
    }
}

impl BlockingCollector for Mdadm {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let stats = parse(&read_file(&self.path)?)?;
        emit(out, &stats);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, garbage, render};

    fn mdstat() -> String {
        std::fs::read_to_string(fixture("hardware/proc/mdstat")).expect("fixture")
    }

    #[test]
    fn parses_fixture() {
        let stats = parse(&mdstat()).expect("valid");
        let get = |n: &str| stats.iter().find(|s| s.name == n).cloned().expect(n);
        let md3 = get("md3");
        assert_eq!((md3.raid_type.as_str(), md3.state.as_str()), ("raid6", "active"));
        assert_eq!((md3.disks_active, md3.disks_total, md3.disks_failed, md3.disks_spare), (8, 8, 0, 2));
        assert_eq!((md3.blocks_total, md3.blocks_synced), (5853468288, 5853468288));
        let md127 = get("md127");
        assert_eq!((md127.state.as_str(), md127.disks_active), ("active", 2));
        let md6 = get("md6");
        assert_eq!(
            (md6.state.as_str(), md6.disks_failed, md6.disks_down, md6.blocks_synced),
            ("recovering", 1, 1, 616768)
        );
        let md8 = get("md8");
        assert_eq!((md8.state.as_str(), md8.blocks_synced), ("resyncing", 793224));
        assert_eq!(get("md7").state, "checking");
        assert_eq!(get("md201").blocks_synced, 0);
        let md9 = get("md9");
        assert_eq!((md9.raid_type.as_str(), md9.disks_total, md9.disks_active), ("raid0", 3, 3));
        let md10 = get("md10");
        assert_eq!((md10.state.as_str(), md10.disks_total, md10.blocks_total), ("inactive", 0, 4190208));
    }

    #[test]
    fn emits() {
        let mut out = Snapshot::new();
        emit(&mut out, &parse(&mdstat()).expect("valid"));
        let text = render(out);
        for line in [
            "node_md_state{device=\"md6\",state=\"recovering\"} 1",
            "node_md_state{device=\"md6\",state=\"active\"} 0",
            "node_md_state{device=\"md8\",state=\"resync\"} 1",
            "node_md_state{device=\"md7\",state=\"check\"} 1",
            "node_md_disks{device=\"md3\",state=\"spare\"} 2",
            "node_md_disks_required{device=\"md3\"} 8",
            "node_md_blocks_synced{device=\"md6\"} 616768",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("md0 : active raid1 sda[0]\n").is_err());
        assert!(parse("md0 : active\n      x blocks\n\n\n").is_err());
        assert!(parse("md0 :\n").is_err());
        assert_eq!(parse("Personalities : [\n\nunused devices: <none>\n").ok(), Some(vec![]));
        garbage(b"md0 :active[raid1]()SF_U/0123456789 blocks\n=%", &mdstat(), |s| {
            let _ = parse(s);
        });
    }
}
