//! `nfsd`: NFS server statistics from `/proc/net/rpc/nfsd` (`node_nfsd_*`).

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::nfs::{V2_NAMES, V3_NAMES, counted, exact, split_line};
use super::read_file;
use crate::args::Args;

/// NFSv4 operation names in `proc4ops` column order (after the count), as the Go library maps them.
const V4_OPS: &[&str] = &[
    "Op0Unused",
    "Op1Unused",
    "Op2Future",
    "Access",
    "Close",
    "Commit",
    "Create",
    "DelegPurge",
    "DelegReturn",
    "GetAttr",
    "GetFH",
    "Link",
    "Lock",
    "Lockt",
    "Locku",
    "Lookup",
    "LookupRoot",
    "Nverify",
    "Open",
    "OpenAttr",
    "OpenConfirm",
    "OpenDgrd",
    "PutFH",
    "PutPubFH",
    "PutRootFH",
    "Read",
    "ReadDir",
    "ReadLink",
    "Remove",
    "Rename",
    "Renew",
    "RestoreFH",
    "SaveFH",
    "SecInfo",
    "SetAttr",
    "Verify",
    "Write",
    "RelLockOwner",
];

/// The NFSv4 operations node_exporter reports (every mapped one but the three unused slots and `PutPubFH`,
/// `PutRootFH`).
const V4_REPORTED: &[&str] = &[
    "Access",
    "Close",
    "Commit",
    "Create",
    "DelegPurge",
    "DelegReturn",
    "GetAttr",
    "GetFH",
    "Link",
    "Lock",
    "Lockt",
    "Locku",
    "Lookup",
    "LookupRoot",
    "Nverify",
    "Open",
    "OpenAttr",
    "OpenConfirm",
    "OpenDgrd",
    "PutFH",
    "Read",
    "ReadDir",
    "ReadLink",
    "Remove",
    "Rename",
    "Renew",
    "RestoreFH",
    "SaveFH",
    "SecInfo",
    "SetAttr",
    "Verify",
    "Write",
    "RelLockOwner",
];

/// The server statistics node_exporter reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// `rc`: hits, misses, nocache.
    pub reply_cache: [u64; 3],
    /// `fh`: stale, and four fields the kernel no longer fills.
    pub file_handles: [u64; 5],
    /// `io`: bytes read, written.
    pub io: [u64; 2],
    /// `th`: threads and the (unused) "full" count.
    pub threads: [u64; 2],
    /// `ra`: cache size, ten histogram buckets, not found.
    pub read_ahead: [u64; 12],
    /// `net`: total, UDP, TCP packets and TCP connections.
    pub network: [u64; 4],
    /// `rpc`: count, bad, bad format, bad auth, bad client.
    pub rpc: [u64; 5],
    /// `proc2` counts.
    pub v2: Vec<u64>,
    /// `proc3` counts.
    pub v3: Vec<u64>,
    /// `proc4ops` counts by [`V4_OPS`].
    pub v4_ops: Vec<u64>,
}

/// Parses `/proc/net/rpc/nfsd`. Every line must be known and well-formed, as in the Go library; `th` uses only its
/// first two values (later kernels print a histogram after them).
pub fn parse_server(content: &str) -> Result<ServerStats, CollectError> {
    let mut s = ServerStats {
        v2: vec![0; V2_NAMES.len()],
        v3: vec![0; V3_NAMES.len()],
        v4_ops: vec![0; V4_OPS.len()],
        ..ServerStats::default()
    };
    for line in content.lines() {
        let (key, v) = split_line(line)?;
        match key {
            "rc" => {
                exact(key, &v, 3)?;
                s.reply_cache.copy_from_slice(&v);
            }
            "fh" => {
                exact(key, &v, 5)?;
                s.file_handles.copy_from_slice(&v);
            }
            "io" => {
                exact(key, &v, 2)?;
                s.io.copy_from_slice(&v);
            }
            "th" => {
                exact(key, &v, 2)?;
                s.threads.copy_from_slice(&v);
            }
            "ra" => {
                exact(key, &v, 12)?;
                s.read_ahead.copy_from_slice(&v);
            }
            "net" => {
                exact(key, &v, 4)?;
                s.network.copy_from_slice(&v);
            }
            "rpc" => {
                exact(key, &v, 5)?;
                s.rpc.copy_from_slice(&v);
            }
            "proc2" => s.v2 = counted(key, &v, V2_NAMES.len())?[..V2_NAMES.len()].to_vec(),
            "proc3" => s.v3 = counted(key, &v, V3_NAMES.len())?[..V3_NAMES.len()].to_vec(),
            "proc4" => {
                let rest = counted(key, &v, 2)?;
                if rest.len() != 2 {
                    return Err(CollectError::Parse(format!("invalid proc4 line {v:?}")));
                }
            }
            "proc4ops" => s.v4_ops = counted(key, &v, V4_OPS.len() + 1)?[..V4_OPS.len()].to_vec(),
            _ => return Err(CollectError::Parse(format!("unknown NFSd metric line {key:?}"))),
        }
    }
    Ok(s)
}

/// Writes the server metrics.
pub fn emit(out: &mut Snapshot, s: &ServerStats) {
    let mut counter = |name: &'static str, help: &'static str, v: u64| {
        out.counter(name, help).sample(&[], v as f64);
    };
    counter(
        "node_nfsd_reply_cache_hits_total",
        "Total number of NFSd Reply Cache hits (client lost server response).",
        s.reply_cache[0],
    );
    counter(
        "node_nfsd_reply_cache_misses_total",
        "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
        s.reply_cache[1],
    );
    counter(
        "node_nfsd_reply_cache_nocache_total",
        "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
        s.reply_cache[2],
    );
    counter("node_nfsd_file_handles_stale_total", "Total number of NFSd stale file handles", s.file_handles[0]);
    counter("node_nfsd_disk_bytes_read_total", "Total NFSd bytes read.", s.io[0]);
    counter("node_nfsd_disk_bytes_written_total", "Total NFSd bytes written.", s.io[1]);
    counter(
        "node_nfsd_read_ahead_cache_not_found_total",
        "Total number of NFSd read ahead cache not found.",
        s.read_ahead[11],
    );
    counter("node_nfsd_connections_total", "Total number of NFSd TCP connections.", s.network[3]);
    counter("node_nfsd_server_rpcs_total", "Total number of NFSd RPCs.", s.rpc[0]);
    out.gauge("node_nfsd_server_threads", "Total number of NFSd kernel threads that are running.")
        .sample(&[], s.threads[0] as f64);
    out.gauge("node_nfsd_read_ahead_cache_size_blocks", "How large the read ahead cache is in blocks.")
        .sample(&[], s.read_ahead[0] as f64);
    let packets = "Total NFSd network packets (sent+received) by protocol type.";
    out.counter("node_nfsd_packets_total", packets).sample(&[("proto", "udp")], s.network[1] as f64);
    out.counter("node_nfsd_packets_total", packets).sample(&[("proto", "tcp")], s.network[2] as f64);
    let errors = "Total number of NFSd RPC errors by error type.";
    for (label, v) in [("fmt", s.rpc[2]), ("auth", s.rpc[3]), ("cInt", s.rpc[4])] {
        out.counter("node_nfsd_rpc_errors_total", errors).sample(&[("error", label)], v as f64);
    }
    let requests = "Total number NFSd Requests by method and protocol.";
    // The server side skips the Null procedure.
    for (proto, names, values) in [("2", V2_NAMES, &s.v2), ("3", V3_NAMES, &s.v3)] {
        for (name, v) in names.iter().zip(values.iter()).skip(1) {
            out.counter("node_nfsd_requests_total", requests).sample(&[("method", name), ("proto", proto)], *v as f64);
        }
    }
    for name in V4_REPORTED {
        if let Some(v) = V4_OPS.iter().position(|n| n == name).and_then(|i| s.v4_ops.get(i)) {
            out.counter("node_nfsd_requests_total", requests).sample(&[("method", name), ("proto", "4")], *v as f64);
        }
    }
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Nfsd { path: args.proc_path("net/rpc/nfsd") }))
}

struct Nfsd {
    path: PathBuf,
}

impl BlockingCollector for Nfsd {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let stats = parse_server(&read_file(&self.path)?)
            .map_err(|e| CollectError::Parse(format!("failed to retrieve nfsd stats: {e}")))?;
        emit(out, &stats);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, garbage, render};

    fn server() -> String {
        std::fs::read_to_string(fixture("hardware/proc/net/rpc/nfsd")).expect("fixture")
    }

    #[test]
    fn parses_and_emits_fixture() {
        let s = parse_server(&server()).expect("valid");
        assert_eq!(s.reply_cache, [0, 6, 18622]);
        assert_eq!(s.threads, [8, 0]);
        let mut out = Snapshot::new();
        emit(&mut out, &s);
        let text = render(out);
        for line in [
            "node_nfsd_reply_cache_nocache_total 18622",
            "node_nfsd_server_threads 8",
            "node_nfsd_disk_bytes_read_total 1.572864e+08",
            "node_nfsd_packets_total{proto=\"tcp\"} 18628",
            "node_nfsd_rpc_errors_total{error=\"cInt\"} 0",
            "node_nfsd_requests_total{method=\"GetAttr\",proto=\"3\"} 4",
            "node_nfsd_requests_total{method=\"Access\",proto=\"4\"} 2",
            "node_nfsd_requests_total{method=\"RelLockOwner\",proto=\"4\"} 0",
            "node_nfsd_read_ahead_cache_size_blocks 32",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("method=\"Null\""), "{text}");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["rc 1 2", "th 1", "ra 1 2 3", "proc4 3 1 2 3", "proc4ops 2 1 2", "what 1", "io x 1"] {
            assert!(parse_server(bad).is_err(), "{bad:?}");
        }
        garbage(b"rcfhiothraproc234ops 0123456789\n", &server(), |s| {
            let _ = parse_server(s);
        });
    }
}
