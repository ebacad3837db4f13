//! Parsers of what ZooKeeper answers: the `mntr` and `conf` four-letter words and the AdminServer's JSON.
//!
//! Every parser takes `&str` and does no I/O, so they are tested (and fuzzed) apart from the network. None of them
//! panics on any input.

pub mod admin;
pub mod conf;
pub mod mntr;

pub use admin::{parse_admin_monitor, parse_admin_monitor_response, parse_admin_server_id};
pub use conf::parse_conf_server_id;
pub use mntr::parse_mntr;

/// What ZooKeeper writes when a four-letter word is not in `4lw.commands.whitelist` (after the word itself).
pub const NOT_WHITELISTED: &str = "is not executed because it is not in the whitelist.";

/// What ZooKeeper answers while it has no quorum (or is still starting): `ruok` still says `imok`.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// Longest key or string value kept from a reply; longer ones are ignored (a sane server never sends them).
pub const MAX_FIELD_LEN: usize = 256;

/// The statistics one server reported, from `mntr` or the AdminServer's `monitor` command.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// `zk_version`, verbatim (Debian's build says `3.8.0-${mvngit.commit.id}, built on …`).
    pub version: Option<String>,
    /// `zk_server_state`: `leader`, `follower`, `observer`, `standalone`, `read-only`.
    pub server_state: Option<String>,
    /// `zk_peer_state`, e.g. `leading - broadcast` (quorum peers only).
    pub peer_state: Option<String>,
    /// Every numeric value, in reply order, keyed without the `zk_` prefix (`avg_latency`).
    pub values: Vec<(String, f64)>,
}

impl Stats {
    /// The first value reported under `key` (without `zk_`).
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// A server's answer to a statistics request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// It is serving and reported its statistics.
    Stats(Stats),
    /// It is up but "not currently serving requests" (no quorum, or still starting).
    NotServing,
    /// The four-letter word is not whitelisted on this server.
    NotWhitelisted,
}

/// A reply that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing came back.
    #[error("empty reply")]
    Empty,
    /// Text came back, but none of it was statistics.
    #[error("no statistics in reply starting {0:?}")]
    NoStats(String),
    /// The AdminServer's reply is not a JSON object.
    #[error("AdminServer reply is not a JSON object: {0}")]
    Json(String),
    /// The AdminServer reported an error for the command.
    #[error("AdminServer error: {0}")]
    Admin(String),
}

/// The start of `text`, for error messages: at most 60 characters.
pub(crate) fn snippet(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
pub(crate) mod garbage {
    /// Inputs that have broken parsers before: empty, binary, huge, deeply nested, half-formed.
    pub fn inputs() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            "\0\0\0",
            "\t",
            "zk_",
            "zk_\t",
            "zk_x\t",
            "zk_x\tNaN",
            "zk_x\tinf",
            "zk_x\t-1e999",
            "zk_version",
            "zk_server_state\t",
            "\u{feff}zk_avg_latency\t1",
            "zk_avg_\t1\nzk_p999_\t2\nzk_avg__read_per_namespace\t3\nzk_cnt_x_learner_handler_qp_size\t4",
            "{",
            "[]",
            "null",
            "{\"error\": 5}",
            "{\"version\": {\"a\": 1}, \"x\": [1, 2], \"y\": 1e400}",
            "{\"error\": \"This ZooKeeper instance is not currently serving requests\"}",
            "This ZooKeeper instance is not currently serving requests",
            "mntr is not executed because it is not in the whitelist.\n",
            "serverId=",
            "serverId=-1\nserverId=99999999999999999999999",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("[".repeat(100_000));
        v.push("{\"a\":".repeat(10_000));
        v.push(format!("zk_{}\t1", "k".repeat(100_000)));
        v.push("zk_a\t1\n".repeat(50_000));
        v.push(String::from_utf8_lossy(&(0u8..=255).cycle().take(10_000).collect::<Vec<u8>>()).into_owned());
        v
    }
}
