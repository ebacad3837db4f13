//! `netstat`: `/proc/net/netstat`, `/proc/net/snmp` and `/proc/net/snmp6` as untyped `node_netstat_<Proto>_<Name>`,
//! filtered by `--collector.netstat.fields`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use super::read_file;
use crate::args::Args;
use crate::filter::Remembered;
use crate::names::Interned;

/// node_exporter's default field selection (1.9+).
pub const DEFAULT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// Flags of the netstat collector.
#[derive(Debug, Clone, clap::Args)]
pub struct NetstatArgs {
    /// Regexp of fields to return for netstat collector.
    #[arg(id = "collector.netstat.fields", long = "collector.netstat.fields", value_name = "REGEXP", default_value = DEFAULT_FIELDS, help_heading = "Collector: netstat")]
    pub fields: String,
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let fields = Regex::new(&args.netstat.fields).map_err(|e| format!("--collector.netstat.fields: {e}"))?;
    Ok(blocking(Netstat {
        netstat: args.proc_path("net/netstat"),
        snmp: args.proc_path("net/snmp"),
        snmp6: args.proc_path("net/snmp6"),
        fields: fields.into(),
        layouts: Mutex::default(),
    }))
}

struct Netstat {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    fields: Remembered,
    layouts: Mutex<Layouts>,
}

/// The metric name and HELP of one selected column.
#[derive(Debug, Clone)]
struct Selected {
    metric: Cow<'static, str>,
    help: Cow<'static, str>,
}

/// What each column of a `Proto: Name1 Name2 …` header line of `/proc/net/netstat` or `/proc/net/snmp` becomes:
/// `None` where `--collector.netstat.fields` does not select it.
type Columns = Arc<[Option<Selected>]>;

/// The columns of each header line seen, worked out once per line: the kernel's header lines do not change while it
/// runs, so a scrape neither splits them nor matches and formats some 300 field names (the names themselves are
/// made once, by [`Interned`]). At most [`Layouts::MAX_LINES`] lines are remembered; past that (only garbage files
/// get there) a line is worked out every scrape.
#[derive(Default)]
struct Layouts {
    lines: HashMap<String, Columns, foldhash::fast::RandomState>,
    names: Interned,
}

impl Layouts {
    /// At most this many header lines are remembered (a kernel has about ten).
    const MAX_LINES: usize = 64;

    fn columns(&mut self, proto: &str, line: &str, names: super::Fields<'_>, fields: &Remembered) -> Columns {
        if let Some(c) = self.lines.get(line) {
            return Arc::clone(c);
        }
        let columns: Columns = names
            .map(|name| {
                let key = format!("{proto}_{name}");
                if !fields.is_match(&key) {
                    return None;
                }
                let (metric, help) =
                    self.names.get(&key, || (format!("node_netstat_{key}"), format!("Statistic {proto}{name}.")));
                oxporter_core::model::is_valid_metric_name(&metric).then_some(Selected { metric, help })
            })
            .collect();
        if self.lines.len() < Self::MAX_LINES {
            self.lines.insert(line.to_owned(), Arc::clone(&columns));
        }
        columns
    }
}

/// One statistic: protocol (e.g. `TcpExt`, `Udp6`), name, raw value.
pub type Stat<'a> = (&'a str, &'a str, &'a str);

impl BlockingCollector for Netstat {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let netstat = read_file(&self.netstat)?;
        let snmp = read_file(&self.snmp)?;
        // Without IPv6 the file does not exist; that is not an error.
        let snmp6 = match read_file(&self.snmp6) {
            Ok(s) => s,
            Err(e) if e.is_no_data() => String::new(),
            Err(e) => return Err(e),
        };
        // Both files are checked whole before anything is written, as `parse_pairs` checks them.
        let mut selected = Vec::new();
        {
            let mut layouts = self.layouts.lock().unwrap_or_else(|p| p.into_inner());
            for content in [netstat.as_str(), snmp.as_str()] {
                for pair in pairs(content)? {
                    let columns = layouts.columns(pair.proto, pair.line, pair.names, &self.fields);
                    let mut values = pair.values;
                    for column in columns.iter() {
                        let Some(value) = values.next() else { return Err(mismatch(pair.proto)) };
                        if let Some(s) = column {
                            selected.push((s.clone(), value));
                        }
                    }
                    if values.next().is_some() {
                        return Err(mismatch(pair.proto));
                    }
                }
            }
        }
        for (s, value) in selected {
            let v = value.parse::<f64>().map_err(|_| {
                let key = s.metric.strip_prefix("node_netstat_").unwrap_or(&s.metric);
                CollectError::Parse(format!("invalid value {value:?} in netstats for {key}"))
            })?;
            out.untyped(s.metric, s.help).sample(&[], v);
        }
        emit(&parse_snmp6(&snmp6), &self.fields, out)
    }
}

fn mismatch(proto: &str) -> CollectError {
    CollectError::Parse(format!("netstat: field count mismatch for {proto}"))
}

/// One `Proto: Name1 Name2 …` / `Proto: v1 v2 …` pair: the protocol, the whole header line, and the fields after
/// the protocol of each line.
struct Pair<'a> {
    proto: &'a str,
    line: &'a str,
    names: super::Fields<'a>,
    values: super::Fields<'a>,
}

/// The pairs of lines of `/proc/net/netstat` or `/proc/net/snmp`, with the checks of [`parse_pairs`] but the field
/// counts (left to the caller, which may not split the header line at all).
fn pairs(content: &str) -> Result<Vec<Pair<'_>>, CollectError> {
    let mut out = Vec::new();
    let mut lines = content.lines().filter(|l| !l.trim().is_empty());
    while let Some(line) = lines.next() {
        let Some(values) = lines.next() else {
            return Err(CollectError::Parse(format!("netstat: header without values: {:?}", short(line))));
        };
        let mut names = super::fields(line);
        let mut values = super::fields(values);
        let (Some(proto_n), Some(proto_v)) = (names.next(), values.next()) else {
            return Err(CollectError::Parse("netstat: empty line".into()));
        };
        let Some(proto) = proto_n.strip_suffix(':') else {
            return Err(CollectError::Parse(format!("netstat: expected \"Proto:\", got {:?}", short(proto_n))));
        };
        if proto_n != proto_v {
            return Err(CollectError::Parse(format!("netstat: {proto_n} header followed by {:?}", short(proto_v))));
        }
        out.push(Pair { proto, line, names, values });
    }
    Ok(out)
}

/// Writes the selected statistics. Every selected value must be a number.
pub fn emit(stats: &[Stat<'_>], fields: &Remembered, out: &mut Snapshot) -> Result<(), CollectError> {
    let mut key = String::new();
    for &(proto, name, value) in stats {
        key.clear();
        key.push_str(proto);
        key.push('_');
        key.push_str(name);
        if !fields.is_match(&key) {
            continue;
        }
        let v = value
            .parse::<f64>()
            .map_err(|_| CollectError::Parse(format!("invalid value {value:?} in netstats for {key}")))?;
        let metric = format!("node_netstat_{key}");
        if !oxporter_core::model::is_valid_metric_name(&metric) {
            continue;
        }
        out.untyped(metric, format!("Statistic {proto}{name}.")).sample(&[], v);
    }
    Ok(())
}

/// Parses the two-line-per-protocol format of `/proc/net/netstat` and `/proc/net/snmp`:
/// `Proto: Name1 Name2 …` followed by `Proto: v1 v2 …`.
pub fn parse_pairs(content: &str) -> Result<Vec<Stat<'_>>, CollectError> {
    let mut out = Vec::new();
    for Pair { proto, mut names, mut values, .. } in pairs(content)? {
        loop {
            match (names.next(), values.next()) {
                (Some(name), Some(value)) => out.push((proto, name, value)),
                (None, None) => break,
                _ => return Err(mismatch(proto)),
            }
        }
    }
    Ok(out)
}

/// Parses `/proc/net/snmp6`: `Ip6InReceives 1` lines. The protocol is the name up to and including its first `6`;
/// lines without a `6` are skipped, as node_exporter does.
pub fn parse_snmp6(content: &str) -> Vec<Stat<'_>> {
    let mut out = Vec::new();
    for line in content.lines() {
        let mut parts = super::fields(line);
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else { continue };
        if let Some(i) = key.find('6') {
            let (proto, name) = key.split_at(i + 1);
            out.push((proto, name, value));
        }
    }
    out
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(netstat: &str, snmp: &str, snmp6: &str) -> Result<Snapshot, CollectError> {
        let fields = Remembered::from(Regex::new(DEFAULT_FIELDS).expect("valid"));
        let mut stats = parse_pairs(netstat)?;
        stats.extend(parse_pairs(snmp)?);
        stats.extend(parse_snmp6(snmp6));
        let mut out = Snapshot::new();
        emit(&stats, &fields, &mut out)?;
        Ok(out)
    }

    #[test]
    fn real_sample_gives_node_exporter_names() {
        let out = collect(
            include_str!("../../testdata/proc/net/netstat"),
            include_str!("../../testdata/proc/net/snmp"),
            include_str!("../../testdata/proc/net/snmp6"),
        )
        .expect("parses");
        for name in [
            "node_netstat_Tcp_CurrEstab",
            "node_netstat_TcpExt_ListenDrops",
            "node_netstat_Ip6_InOctets",
            "node_netstat_Udp6_InDatagrams",
            "node_netstat_Ip_Forwarding",
            "node_netstat_IpExt_InOctets",
            "node_netstat_Icmp6_InMsgs",
            "node_netstat_UdpLite_InErrors",
        ] {
            let f = out.get(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(f.metric_type, oxporter_core::MetricType::Untyped);
        }
        assert_eq!(out.get("node_netstat_Tcp_CurrEstab").map(|f| f.help.as_ref()), Some("Statistic TcpCurrEstab."));
        assert!(out.get("node_netstat_Tcp_RtoMin").is_none());
    }

    /// The collector with its remembered header lines, on files in a temporary directory.
    fn collector(netstat: &str, snmp: &str, snmp6: &str) -> (tempfile::TempDir, Netstat) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, content) in [("netstat", netstat), ("snmp", snmp), ("snmp6", snmp6)] {
            std::fs::write(dir.path().join(name), content).expect("write");
        }
        let c = Netstat {
            netstat: dir.path().join("netstat"),
            snmp: dir.path().join("snmp"),
            snmp6: dir.path().join("snmp6"),
            fields: Remembered::from(Regex::new(DEFAULT_FIELDS).expect("valid")),
            layouts: Mutex::default(),
        };
        (dir, c)
    }

    fn scrape(c: &Netstat) -> Result<Snapshot, CollectError> {
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).map(|()| out)
    }

    #[test]
    fn remembered_header_lines_give_the_same_samples() {
        let files = (
            include_str!("../../testdata/proc/net/netstat"),
            include_str!("../../testdata/proc/net/snmp"),
            include_str!("../../testdata/proc/net/snmp6"),
        );
        let want = collect(files.0, files.1, files.2).expect("parses");
        let (_dir, c) = collector(files.0, files.1, files.2);
        for _ in 0..3 {
            assert_eq!(scrape(&c).expect("collects"), want);
        }
        let layouts = c.layouts.lock().expect("lock");
        assert!(layouts.lines.len() >= 5 && layouts.names.len() > 20, "{} lines", layouts.lines.len());
        let tcp = layouts.lines.iter().find(|(l, _)| l.starts_with("Tcp: ")).map(|(_, c)| c).expect("Tcp line");
        assert!(tcp.iter().flatten().all(|s| matches!(s.metric, Cow::Borrowed(_))));
    }

    #[test]
    fn the_collector_rejects_what_parse_pairs_rejects() {
        for (netstat, snmp) in [
            ("Tcp: A B\n", ""),
            ("Tcp: A B\nTcp: 1\n", ""),
            ("Tcp: A\nTcp: 1 2\n", ""),
            ("Tcp A\nTcp 1\n", ""),
            ("", "Tcp: A\nUdp: 1\n"),
            ("Tcp: CurrEstab\nTcp: x\n", ""),
        ] {
            let (_dir, c) = collector(netstat, snmp, "");
            // Twice: the second time with the header line remembered.
            assert!(scrape(&c).is_err() && scrape(&c).is_err(), "{netstat:?} {snmp:?}");
        }
        // Bounded: past the remembered lines' limit, lines are worked out every scrape, with the same result.
        let mut many = String::new();
        for i in 0..Layouts::MAX_LINES + 5 {
            many.push_str(&format!("P{i}: InErrors\nP{i}: {i}\n"));
        }
        let (_dir, c) = collector(&many, "", "");
        let first = scrape(&c).expect("collects");
        assert_eq!(first.families().len(), Layouts::MAX_LINES + 5);
        assert_eq!(scrape(&c).expect("collects"), first);
        assert_eq!(c.layouts.lock().expect("lock").lines.len(), Layouts::MAX_LINES);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_pairs("Tcp: A B\n").is_err());
        assert!(parse_pairs("Tcp: A B\nTcp: 1\n").is_err());
        assert!(parse_pairs("Tcp A\nTcp 1\n").is_err());
        assert!(parse_pairs("Tcp: A\nUdp: 1\n").is_err());
        assert!(collect("Tcp: CurrEstab\nTcp: x\n", "", "").is_err());
        assert_eq!(parse_snmp6("garbage\nIp6\n\n"), vec![]);
        assert!(parse_pairs("").expect("empty ok").is_empty());
    }
}
