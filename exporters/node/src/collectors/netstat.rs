//! `netstat`: `/proc/net/netstat`, `/proc/net/snmp` and `/proc/net/snmp6` as untyped `node_netstat_<Proto>_<Name>`,
//! filtered by `--collector.netstat.fields`.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use super::read_file;
use crate::args::Args;
use crate::filter::Remembered;

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
    }))
}

struct Netstat {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    fields: Remembered,
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
        let mut stats = parse_pairs(&netstat)?;
        stats.extend(parse_pairs(&snmp)?);
        stats.extend(parse_snmp6(&snmp6));
        emit(&stats, &self.fields, out)
    }
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
    let mut lines = content.lines().filter(|l| !l.trim().is_empty());
    while let Some(names) = lines.next() {
        let Some(values) = lines.next() else {
            return Err(CollectError::Parse(format!("netstat: header without values: {:?}", short(names))));
        };
        let mut n = super::fields(names);
        let mut v = super::fields(values);
        let (Some(proto_n), Some(proto_v)) = (n.next(), v.next()) else {
            return Err(CollectError::Parse("netstat: empty line".into()));
        };
        let Some(proto) = proto_n.strip_suffix(':') else {
            return Err(CollectError::Parse(format!("netstat: expected \"Proto:\", got {:?}", short(proto_n))));
        };
        if proto_n != proto_v {
            return Err(CollectError::Parse(format!("netstat: {proto_n} header followed by {:?}", short(proto_v))));
        }
        loop {
            match (n.next(), v.next()) {
                (Some(name), Some(value)) => out.push((proto, name, value)),
                (None, None) => break,
                _ => return Err(CollectError::Parse(format!("netstat: field count mismatch for {proto}"))),
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
