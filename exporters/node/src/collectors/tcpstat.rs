//! `tcpstat` (opt-in): TCP sockets by state from `/proc/net/tcp` and `/proc/net/tcp6` as
//! `node_tcp_connection_states{state}`, with the summed queues as the states `tx_queued_bytes` and
//! `rx_queued_bytes`.

use std::io::BufRead;
use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Tcpstat { v4: args.proc_path("net/tcp"), v6: args.proc_path("net/tcp6") }))
}

struct Tcpstat {
    v4: PathBuf,
    v6: PathBuf,
}

/// Kernel TCP states 1..=11 by name (include/net/tcp_states.h).
const STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// Sockets per state and summed queues.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// Sockets per state 1..=11 (index 0 unused); states outside that range count as "unknown".
    pub states: [u64; 12],
    /// Sockets in an unknown state.
    pub unknown: u64,
    /// Sum of transmit queues.
    pub tx_queued: u64,
    /// Sum of receive queues.
    pub rx_queued: u64,
    /// Sockets seen.
    pub sockets: u64,
}

/// Adds the sockets of one `/proc/net/tcp`-format table (header line, then one socket per line) to `c`. Read
/// line by line: on a busy host the table is megabytes long.
pub fn parse(reader: impl BufRead, c: &mut Counts) -> Result<(), CollectError> {
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| CollectError::io("tcp table", e))?;
        if i == 0 || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().take(5).collect();
        let bad =
            || CollectError::Parse(format!("tcp: malformed line {:?}", line.chars().take(60).collect::<String>()));
        if f.len() < 5 {
            return Err(bad());
        }
        let st = u8::from_str_radix(f[3], 16).map_err(|_| bad())?;
        let (tx, rx) = f[4].split_once(':').ok_or_else(bad)?;
        let tx = u64::from_str_radix(tx, 16).map_err(|_| bad())?;
        let rx = u64::from_str_radix(rx, 16).map_err(|_| bad())?;
        match c.states.get_mut(st as usize) {
            Some(n) if st >= 1 => *n += 1,
            _ => c.unknown += 1,
        }
        c.tx_queued += tx;
        c.rx_queued += rx;
        c.sockets += 1;
    }
    Ok(())
}

/// Writes the counts as node_exporter does: only states seen, plus the queue sums once any socket exists.
pub fn emit(c: &Counts, out: &mut Snapshot) {
    let fam = out.gauge("node_tcp_connection_states", "Number of connection states.");
    for (i, name) in STATES.iter().enumerate() {
        let n = c.states[i + 1];
        if n > 0 {
            fam.sample(&[("state", name)], n as f64);
        }
    }
    if c.unknown > 0 {
        fam.sample(&[("state", "unknown")], c.unknown as f64);
    }
    if c.sockets > 0 {
        fam.sample(&[("state", "tx_queued_bytes")], c.tx_queued as f64);
        fam.sample(&[("state", "rx_queued_bytes")], c.rx_queued as f64);
    }
}

fn open(path: &PathBuf) -> Result<Option<std::io::BufReader<std::fs::File>>, CollectError> {
    match std::fs::File::open(path) {
        Ok(f) => Ok(Some(std::io::BufReader::new(f))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CollectError::io(path.display(), e)),
    }
}

impl BlockingCollector for Tcpstat {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let mut c = Counts::default();
        let v4 =
            open(&self.v4)?.ok_or_else(|| CollectError::NoData(format!("{} does not exist", self.v4.display())))?;
        parse(v4, &mut c)?;
        // Without IPv6 there is no tcp6 table.
        if let Some(v6) = open(&self.v6)? {
            parse(v6, &mut c)?;
        }
        emit(&c, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_samples() {
        let mut c = Counts::default();
        parse(include_str!("../../testdata/proc/net/tcp").as_bytes(), &mut c).expect("v4");
        parse(include_str!("../../testdata/proc/net/tcp6").as_bytes(), &mut c).expect("v6");
        assert!(c.states[10] > 0, "listening sockets");
        let mut out = Snapshot::new();
        emit(&c, &mut out);
        let fam = out.get("node_tcp_connection_states").expect("family");
        assert!(fam.samples.iter().any(|s| s.labels[0].1 == "listen"));
        assert!(fam.samples.iter().any(|s| s.labels[0].1 == "rx_queued_bytes"));
    }

    #[test]
    fn queues_and_garbage() {
        let table =
            "  sl  local rem st tx:rx\n   0: 0:0 0:0 01 0000000A:00000002 00\n   1: 0:0 0:0 0C 00000001:00000000\n";
        let mut c = Counts::default();
        parse(table.as_bytes(), &mut c).expect("parses");
        assert_eq!((c.states[1], c.unknown, c.tx_queued, c.rx_queued), (1, 1, 11, 2));
        for bad in ["h\n0: a b ZZ 0:0\n", "h\n0: a b 01 00\n", "h\n0: a b\n", "h\n0: a b 01 x:1\n"] {
            assert!(parse(bad.as_bytes(), &mut Counts::default()).is_err(), "{bad:?}");
        }
        let mut out = Snapshot::new();
        emit(&Counts::default(), &mut out);
        assert!(out.get("node_tcp_connection_states").is_none_or(|f| f.samples.is_empty()));
    }
}
