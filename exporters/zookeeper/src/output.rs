//! Turns what the servers answered into metric families: per server (`zk_host` label), then the ensemble view.
//! Pure: no I/O, so golden tests feed it recorded replies.

use oxporter_core::Snapshot;

use crate::keys;
use crate::parse::{Reply, Stats};

/// Where a server's statistics came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The `mntr` four-letter word.
    Mntr,
    /// The AdminServer's `/commands/monitor` (four-letter words not whitelisted).
    Admin,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Mntr => "mntr",
            Source::Admin => "admin",
        }
    }
}

/// Everything learnt about one server in one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerResult {
    /// `host:port` as configured.
    pub addr: String,
    /// Whether `ruok` (or the AdminServer's `ruok`) said the server is fine.
    pub ruok: bool,
    /// The statistics reply, `None` when the server did not answer usefully (down, not ZooKeeper, words refused
    /// and no AdminServer).
    pub reply: Option<Reply>,
    /// Where `reply` came from.
    pub source: Option<Source>,
    /// The server's id (`serverId` of `conf`), looked up for the leader only.
    pub server_id: Option<u64>,
}

impl ServerResult {
    /// Whether the server answered the statistics request (serving or not).
    pub fn up(&self) -> bool {
        matches!(self.reply, Some(Reply::Stats(_) | Reply::NotServing))
    }

    /// The statistics, when the server is serving.
    pub fn stats(&self) -> Option<&Stats> {
        match &self.reply {
            Some(Reply::Stats(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether the server claims leadership: state `leader`, or `standalone` (a one-server ensemble leads itself).
    pub fn claims_leadership(&self) -> bool {
        self.stats().and_then(|s| s.server_state.as_deref()).is_some_and(|s| s == "leader" || s == "standalone")
    }
}

/// Server states ZooKeeper reports; each gets a `zk_server_state` series so alerts can match on 0 as well as 1.
const STATES: &[&str] = &["leader", "follower", "observer", "standalone", "read-only"];

/// Names this exporter writes itself; an mntr key that would map onto one of them is dropped.
fn reserved(name: &str) -> bool {
    matches!(
        name,
        "zk_up"
            | "zk_ruok"
            | "zk_serving"
            | "zk_server_state"
            | "zk_server_leader"
            | "zk_peer_state"
            | "zk_version"
            | "zk_stats_source"
    ) || name.starts_with("zk_ensemble_")
        || name.starts_with("zk_scrape_")
}

/// The `x.y.z` the popular mntr exporter puts in `zk_version{version}`: the leading `digits.digits.digits` of the
/// first word, or the whole first word when it does not start that way.
pub fn short_version(full: &str) -> &str {
    let word = full.split([' ', '\t']).next().unwrap_or(full);
    let mut end = 0;
    for part in 0..3 {
        let digits = word[end..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return word;
        }
        end += digits;
        if part < 2 {
            if word.as_bytes().get(end) != Some(&b'.') {
                return word;
            }
            end += 1;
        }
    }
    &word[..end]
}

/// Writes the per-server families of every result.
pub fn write_servers(out: &mut Snapshot, results: &[ServerResult]) {
    for r in results {
        write_server(out, r);
    }
}

fn write_server(out: &mut Snapshot, r: &ServerResult) {
    let host = r.addr.as_str();
    let up = r.up();
    out.gauge("zk_up", "Whether the server answered mntr (or the AdminServer's monitor command).")
        .sample(&[("zk_host", host)], bool_value(up));
    out.gauge("zk_ruok", "Whether the server answered imok to ruok.").sample(&[("zk_host", host)], bool_value(r.ruok));
    if !up {
        return;
    }
    let stats = r.stats();
    out.gauge("zk_serving", "Whether the server is serving requests (0: up but without quorum or still starting).")
        .sample(&[("zk_host", host)], bool_value(stats.is_some()));
    if let Some(src) = r.source {
        out.gauge("zk_stats_source", "Where the server's statistics came from: mntr, or admin (AdminServer fallback).")
            .sample(&[("zk_host", host), ("source", src.as_str())], 1.0);
    }
    let state = stats.and_then(|s| s.server_state.as_deref());
    out.gauge("zk_server_leader", "Whether the server is the ensemble's leader.")
        .sample(&[("zk_host", host)], bool_value(state == Some("leader")));
    let Some(stats) = stats else { return };
    if let Some(state) = state {
        let fam = out.gauge("zk_server_state", "The server's state: 1 for the state it reports, 0 for the others.");
        for s in STATES {
            fam.sample(&[("zk_host", host), ("state", s)], bool_value(*s == state));
        }
        if !STATES.contains(&state) {
            fam.sample(&[("zk_host", host), ("state", state)], 1.0);
        }
    }
    if let Some(peer) = &stats.peer_state {
        out.gauge("zk_peer_state", "The quorum peer's state as ZooKeeper words it (e.g. \"following - broadcast\").")
            .sample(&[("zk_host", host), ("state", peer)], 1.0);
    }
    if let Some(v) = &stats.version {
        out.gauge(
            "zk_version",
            "ZooKeeper version: version is x.y.z, full_version the whole string the server reports.",
        )
        .sample(&[("zk_host", host), ("version", short_version(v)), ("full_version", v)], 1.0);
    }
    for (key, value) in &stats.values {
        let info = keys::classify(key);
        if reserved(&info.name) {
            continue;
        }
        let fam = out.family(info.name, info.help, info.metric_type);
        match &info.label {
            Some((label, part)) => fam.sample(&[("zk_host", host), (label, part)], *value),
            None => fam.sample(&[("zk_host", host)], *value),
        };
    }
}

/// Writes the ensemble view of `results` (the servers of one ensemble).
pub fn write_ensemble(out: &mut Snapshot, results: &[ServerResult]) {
    let configured = results.len();
    let answering = results.iter().filter(|r| r.up()).count();
    let serving = results.iter().filter(|r| r.stats().is_some()).count();
    let leaders: Vec<&ServerResult> = results.iter().filter(|r| r.claims_leadership()).collect();
    // Voting members as the servers see them (their zk_quorum_size); a standalone server or a dark ensemble falls
    // back to what we were told to watch.
    let reported = results
        .iter()
        .filter_map(|r| r.stats().and_then(|s| s.get("quorum_size")))
        .filter(|v| *v >= 1.0 && *v <= 10_000.0)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        .map(|v| v as usize);
    // Watching only part of an ensemble (e.g. one probe per server) would report a follower's probe as "no leader":
    // no view then, rather than a wrong one.
    if reported.is_some_and(|v| v > configured) {
        return;
    }
    let voting = reported.unwrap_or(configured);
    out.gauge("zk_ensemble_servers_configured", "Servers this exporter watches in the ensemble.")
        .sample(&[], configured as f64);
    out.gauge("zk_ensemble_servers_up", "Servers that answered (serving or not).").sample(&[], answering as f64);
    out.gauge("zk_ensemble_servers_serving", "Servers serving client requests.").sample(&[], serving as f64);
    out.gauge(
        "zk_ensemble_leaders",
        "Servers that claim leadership (leader, or standalone): 0 means no quorum, more than 1 a split brain.",
    )
    .sample(&[], leaders.len() as f64);
    out.gauge("zk_ensemble_quorum_size", "Servers needed for a quorum: a majority of the voting members.")
        .sample(&[], (voting / 2 + 1) as f64);
    out.gauge("zk_ensemble_has_quorum", "Whether exactly one serving server claims leadership.")
        .sample(&[], bool_value(leaders.len() == 1));
    if let [leader] = leaders.as_slice()
        && let Some(id) = leader.server_id
    {
        out.gauge("zk_ensemble_leader_id", "The leader's server id (myid).").sample(&[], id as f64);
    }
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(short_version("3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC"), "3.8.0");
        assert_eq!(short_version("3.4.14-4c25d480e66aadd371de8bd2fd8da255ac140bcf, built on 03/06/2019"), "3.4.14");
        assert_eq!(short_version("3.9.2"), "3.9.2");
        assert_eq!(short_version("${project.version}, built"), "${project.version},");
        assert_eq!(short_version("3.8 beta"), "3.8");
        assert_eq!(short_version(""), "");
        assert_eq!(short_version("1.2.3.4"), "1.2.3");
    }

    #[test]
    fn garbage_replies_become_valid_families() {
        for input in crate::parse::garbage::inputs() {
            let Ok(reply) = crate::parse::parse_mntr(&input) else { continue };
            let r = ServerResult {
                addr: "zk:2181".into(),
                ruok: true,
                reply: Some(reply),
                source: Some(Source::Mntr),
                server_id: None,
            };
            let mut snap = Snapshot::new();
            write_servers(&mut snap, std::slice::from_ref(&r));
            write_ensemble(&mut snap, &[r]);
            for f in snap.into_sorted() {
                assert!(oxporter_core::model::is_valid_metric_name(&f.name), "{}", f.name);
            }
        }
    }

    fn member(addr: &str, state: &str, quorum_size: Option<f64>) -> ServerResult {
        let mut stats = Stats { server_state: Some(state.into()), ..Stats::default() };
        if let Some(q) = quorum_size {
            stats.values.push(("quorum_size".into(), q));
        }
        ServerResult {
            addr: addr.into(),
            ruok: true,
            reply: Some(Reply::Stats(stats)),
            source: Some(Source::Mntr),
            server_id: None,
        }
    }

    #[test]
    fn ensemble_view_needs_the_whole_ensemble() {
        let mut snap = Snapshot::new();
        write_ensemble(&mut snap, &[member("a:1", "follower", Some(3.0))]);
        assert!(snap.is_empty(), "a lone follower of a 3-server ensemble gives no ensemble view");

        let mut snap = Snapshot::new();
        let down = ServerResult { addr: "c:1".into(), ruok: false, reply: None, source: None, server_id: None };
        write_ensemble(&mut snap, &[member("a:1", "leader", Some(3.0)), member("b:1", "follower", Some(3.0)), down]);
        let value = |name: &str| match snap.get(name).map(|f| &f.samples[0].value) {
            Some(oxporter_core::model::Value::Scalar(v)) => *v,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(value("zk_ensemble_leaders"), 1.0);
        assert_eq!(value("zk_ensemble_servers_up"), 2.0);
        assert_eq!(value("zk_ensemble_quorum_size"), 2.0);
        assert_eq!(value("zk_ensemble_has_quorum"), 1.0);
        assert!(snap.get("zk_ensemble_leader_id").is_none(), "unknown id");

        let mut snap = Snapshot::new();
        write_ensemble(&mut snap, &[member("a:1", "standalone", None)]);
        assert_eq!(snap.get("zk_ensemble_leaders").map(|f| f.samples.len()), Some(1));
    }

    #[test]
    fn reserved_names() {
        assert!(reserved("zk_up"));
        assert!(reserved("zk_ensemble_leaders"));
        assert!(!reserved("zk_uptime"));
    }
}
