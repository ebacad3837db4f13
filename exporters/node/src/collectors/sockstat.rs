//! `sockstat`: `/proc/net/sockstat` and `/proc/net/sockstat6` as `node_sockstat_<PROTO>_<state>` gauges plus
//! `node_sockstat_sockets_used`.

use std::path::PathBuf;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;
use crate::names::Interned;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Sockstat {
        v4: args.proc_path("net/sockstat"),
        v6: args.proc_path("net/sockstat6"),
        page_size: rustix::param::page_size() as f64,
        names: Interned::default(),
    }))
}

struct Sockstat {
    v4: PathBuf,
    v6: PathBuf,
    page_size: f64,
    names: Interned,
}

/// One protocol line, e.g. `TCP: inuse 7 orphan 0 tw 32 alloc 9 mem 105`: the protocol and its known fields in
/// node_exporter's order (`inuse`, `orphan`, `tw`, `alloc`, `mem`, `memory`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Protocol {
    /// `TCP`, `UDP6`, …
    pub name: String,
    /// `(field, value)` pairs.
    pub fields: Vec<(&'static str, f64)>,
}

/// A parsed sockstat file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sockstat4or6 {
    /// `sockets: used N` (only in the IPv4 file).
    pub used: Option<f64>,
    /// Protocol lines in file order.
    pub protocols: Vec<Protocol>,
}

const KNOWN: [&str; 6] = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];

/// Parses a sockstat file. Unknown fields are ignored; a known field without a numeric value is an error.
pub fn parse(content: &str) -> Result<Sockstat4or6, CollectError> {
    let mut out = Sockstat4or6::default();
    for line in content.lines() {
        let mut parts = super::fields(line);
        let Some(head) = parts.next() else { continue };
        let Some(proto) = head.strip_suffix(':') else {
            return Err(CollectError::Parse(format!(
                "sockstat: malformed line {:?}",
                line.chars().take(60).collect::<String>()
            )));
        };
        let rest: Vec<&str> = parts.collect();
        if !rest.len().is_multiple_of(2) {
            return Err(CollectError::Parse(format!("sockstat: odd number of fields for {proto}")));
        }
        let mut fields = Vec::new();
        for kv in rest.chunks_exact(2) {
            let (k, v) = (kv[0], kv[1]);
            let value = || {
                v.parse::<u64>()
                    .map(|n| n as f64)
                    .map_err(|_| CollectError::Parse(format!("sockstat: invalid value {v:?} for {proto} {k}")))
            };
            if proto == "sockets" {
                if k == "used" {
                    out.used = Some(value()?);
                }
                continue;
            }
            if let Some(known) = KNOWN.iter().find(|n| **n == k) {
                fields.push((*known, value()?));
            }
        }
        if proto != "sockets" {
            fields.sort_by_key(|(k, _)| KNOWN.iter().position(|n| n == k));
            out.protocols.push(Protocol { name: proto.to_owned(), fields });
        }
    }
    Ok(out)
}

/// Writes one parsed file. `mem` is in pages, so a `<PROTO>_mem_bytes` is added for it.
pub fn emit(stat: &Sockstat4or6, page_size: f64, names: &Interned, out: &mut Snapshot) {
    if let Some(used) = stat.used {
        out.gauge("node_sockstat_sockets_used", "Number of IPv4 sockets in use.").sample(&[], used);
    }
    let mut key = String::new();
    for p in &stat.protocols {
        let mut write = |field: &str, v: f64| {
            key.clear();
            key.push_str(&p.name);
            key.push('_');
            key.push_str(field);
            let (name, help) = names.get(&key, || {
                (format!("node_sockstat_{}_{field}", p.name), format!("Number of {} sockets in state {field}.", p.name))
            });
            if oxporter_core::model::is_valid_metric_name(&name) {
                out.gauge(name, help).sample(&[], v);
            }
        };
        for (k, v) in &p.fields {
            write(k, *v);
        }
        if let Some((_, mem)) = p.fields.iter().find(|(k, _)| *k == "mem") {
            write("mem_bytes", mem * page_size);
        }
    }
}

impl BlockingCollector for Sockstat {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        for path in [&self.v4, &self.v6] {
            match read_file(path) {
                Ok(s) => emit(&parse(&s)?, self.page_size, &self.names, out),
                // IPv6 (or the whole file) may be missing; node_exporter logs this at debug level and goes on.
                Err(e) if e.is_no_data() => {
                    tracing::debug!(path = %path.display(), "sockstat statistics not found, skipping")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_samples() {
        let mut out = Snapshot::new();
        emit(
            &parse(include_str!("../../testdata/proc/net/sockstat")).expect("v4"),
            4096.0,
            &Interned::default(),
            &mut out,
        );
        emit(
            &parse(include_str!("../../testdata/proc/net/sockstat6")).expect("v6"),
            4096.0,
            &Interned::default(),
            &mut out,
        );
        for name in [
            "node_sockstat_sockets_used",
            "node_sockstat_TCP_inuse",
            "node_sockstat_TCP_mem_bytes",
            "node_sockstat_UDP_mem",
            "node_sockstat_FRAG_memory",
            "node_sockstat_TCP6_inuse",
            "node_sockstat_FRAG6_memory",
            "node_sockstat_UDPLITE6_inuse",
        ] {
            assert!(out.get(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn mem_bytes_and_garbage() {
        let s = parse("sockets: used 3\nTCP: inuse 1 mem 2 weird 9\n").expect("parses");
        let mut out = Snapshot::new();
        emit(&s, 4096.0, &Interned::default(), &mut out);
        let v = &out.get("node_sockstat_TCP_mem_bytes").expect("mem_bytes").samples[0].value;
        assert_eq!(*v, oxporter_core::model::Value::Scalar(8192.0));
        assert!(out.get("node_sockstat_TCP_weird").is_none());
        for bad in ["TCP inuse 1", "TCP: inuse", "TCP: inuse x", "sockets: used -1"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
