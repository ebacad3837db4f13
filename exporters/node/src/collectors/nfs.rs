//! `nfs`: NFS client statistics from `/proc/net/rpc/nfs` (`node_nfs_*`). The line parsers here are shared with
//! the `nfsd` collector, which reads the server side.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// NFSv2 procedure names, in `proc2` column order (the Go library's field names, which become `method` labels).
pub const V2_NAMES: &[&str] = &[
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write", "Create", "Remove",
    "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedure names, in `proc3` column order.
pub const V3_NAMES: &[&str] = &[
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// NFSv4 client operation names, in `proc4` column order.
pub const CLIENT_V4_NAMES: &[&str] = &[
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// One `<key> <values…>` line split into its key and unsigned values (only the first two for `th`, whose
/// later columns are fractions).
pub fn split_line(line: &str) -> Result<(&str, Vec<u64>), CollectError> {
    let mut parts = line.split_whitespace();
    let key = parts.next().unwrap_or_default();
    let limit = if key == "th" { 2 } else { usize::MAX };
    let values = parts
        .take(limit)
        .map(|p| p.parse::<u64>().map_err(|_| CollectError::Parse(format!("invalid NFS value {p:?} in line {line:?}"))))
        .collect::<Result<Vec<u64>, _>>()?;
    if values.is_empty() {
        return Err(CollectError::Parse(format!("invalid NFS metric line {line:?}")));
    }
    Ok((key, values))
}

/// Checks a fixed-length line.
pub fn exact(key: &str, v: &[u64], n: usize) -> Result<(), CollectError> {
    if v.len() == n { Ok(()) } else { Err(CollectError::Parse(format!("invalid {key} line {v:?}"))) }
}

/// A `procN` line: the first value counts the rest, which must number at least `min`; returns the counts.
pub fn counted<'a>(key: &str, v: &'a [u64], min: usize) -> Result<&'a [u64], CollectError> {
    let (n, rest) = v.split_first().ok_or_else(|| CollectError::Parse(format!("invalid {key} line")))?;
    if usize::try_from(*n).ok() != Some(rest.len()) || rest.len() < min {
        return Err(CollectError::Parse(format!("invalid {key} line {v:?}")));
    }
    Ok(rest)
}

/// The client statistics node_exporter reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// `net`: total, UDP, TCP packets and TCP connections.
    pub network: [u64; 4],
    /// `rpc`: calls, retransmissions, authentication refreshes.
    pub rpc: [u64; 3],
    /// `proc2` counts by [`V2_NAMES`].
    pub v2: Vec<u64>,
    /// `proc3` counts by [`V3_NAMES`].
    pub v3: Vec<u64>,
    /// `proc4` counts by [`CLIENT_V4_NAMES`] (zero-padded for older kernels).
    pub v4: Vec<u64>,
}

/// Parses `/proc/net/rpc/nfs`. Every line must be known and well-formed, as in the Go library.
pub fn parse_client(content: &str) -> Result<ClientStats, CollectError> {
    let mut s = ClientStats {
        v2: vec![0; V2_NAMES.len()],
        v3: vec![0; V3_NAMES.len()],
        v4: vec![0; CLIENT_V4_NAMES.len()],
        ..ClientStats::default()
    };
    for line in content.lines() {
        let (key, v) = split_line(line)?;
        match key {
            "net" => {
                exact(key, &v, 4)?;
                s.network.copy_from_slice(&v);
            }
            "rpc" => {
                exact(key, &v, 3)?;
                s.rpc.copy_from_slice(&v);
            }
            "proc2" => s.v2 = counted(key, &v, V2_NAMES.len())?[..V2_NAMES.len()].to_vec(),
            "proc3" => s.v3 = counted(key, &v, V3_NAMES.len())?[..V3_NAMES.len()].to_vec(),
            "proc4" => {
                let rest = counted(key, &v, 0)?;
                let mut v4 = vec![0; CLIENT_V4_NAMES.len()];
                for (slot, value) in v4.iter_mut().zip(rest) {
                    *slot = *value;
                }
                s.v4 = v4;
            }
            _ => return Err(CollectError::Parse(format!("unknown NFS metric line {key:?}"))),
        }
    }
    Ok(s)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Nfs { path: args.proc_path("net/rpc/nfs") }))
}

struct Nfs {
    path: PathBuf,
}

/// Writes the client metrics.
pub fn emit(out: &mut Snapshot, s: &ClientStats) {
    let packets = "Total NFSd network packets (sent+received) by protocol type.";
    out.counter("node_nfs_packets_total", packets).sample(&[("protocol", "udp")], s.network[1] as f64);
    out.counter("node_nfs_packets_total", packets).sample(&[("protocol", "tcp")], s.network[2] as f64);
    out.counter("node_nfs_connections_total", "Total number of NFSd TCP connections.").sample(&[], s.network[3] as f64);
    out.counter("node_nfs_rpcs_total", "Total number of RPCs performed.").sample(&[], s.rpc[0] as f64);
    out.counter("node_nfs_rpc_retransmissions_total", "Number of RPC transmissions performed.")
        .sample(&[], s.rpc[1] as f64);
    out.counter("node_nfs_rpc_authentication_refreshes_total", "Number of RPC authentication refreshes performed.")
        .sample(&[], s.rpc[2] as f64);
    for (proto, names, values) in [("2", V2_NAMES, &s.v2), ("3", V3_NAMES, &s.v3), ("4", CLIENT_V4_NAMES, &s.v4)] {
        for (name, v) in names.iter().zip(values.iter()) {
            out.counter("node_nfs_requests_total", "Number of NFS procedures invoked.")
                .sample(&[("method", name), ("proto", proto)], *v as f64);
        }
    }
}

impl BlockingCollector for Nfs {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let stats = parse_client(&read_file(&self.path)?)
            .map_err(|e| CollectError::Parse(format!("failed to retrieve nfs stats: {e}")))?;
        emit(out, &stats);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, garbage, render};

    fn client() -> String {
        std::fs::read_to_string(fixture("hardware/proc/net/rpc/nfs")).expect("fixture")
    }

    #[test]
    fn parses_fixture() {
        let s = parse_client(&client()).expect("valid");
        assert_eq!(s.network, [18628, 0, 18628, 6]);
        assert_eq!(s.rpc, [4329785, 0, 4338291]);
        assert_eq!(s.v3[1], 1);
        assert_eq!(s.v4[1], 1);
        // An older kernel's shorter proc4 line is padded with zeros.
        assert_eq!(s.v4.len(), CLIENT_V4_NAMES.len());
    }

    #[test]
    fn emits() {
        let mut out = Snapshot::new();
        emit(&mut out, &parse_client(&client()).expect("valid"));
        let text = render(out);
        for line in [
            "node_nfs_packets_total{protocol=\"tcp\"} 18628",
            "node_nfs_connections_total 6",
            "node_nfs_rpcs_total 4.329785e+06",
            "node_nfs_requests_total{method=\"GetAttr\",proto=\"3\"} 1",
            "node_nfs_requests_total{method=\"WrCache\",proto=\"2\"} 0",
            "node_nfs_requests_total{method=\"Clone\",proto=\"4\"} 0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["net 1 2 3", "rpc x 1 2", "proc2 3 1 2 3", "proc3 30 1", "bogus 1", "net", "proc4 5 1"] {
            assert!(parse_client(bad).is_err(), "{bad:?}");
        }
        garbage(b"netrpcproc234 0123456789\n", &client(), |s| {
            let _ = parse_client(s);
        });
    }
}
