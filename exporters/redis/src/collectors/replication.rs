//! `replication`: the link to the master on a replica (`redis_master_link_up`, `redis_master_last_io_seconds_ago`,
//! `redis_master_sync_in_progress`, `redis_slave_repl_offset`, labelled by master host and port, KeyDB
//! multi-master included) and each connected replica on a primary (`redis_connected_slave_offset_bytes`,
//! `redis_connected_slave_lag_seconds`).

use oxporter_core::Snapshot;

use super::Input;

/// `master_host`, `master_1_host`, … (and the same for port and link status).
fn master_field(key: &str, suffix: &str) -> bool {
    let Some(rest) = key.strip_prefix("master_") else { return false };
    // Optional `<digits>_` (KeyDB multi-master), then the suffix as a prefix of the rest (Go's regex is unanchored
    // at the end).
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return rest.starts_with(suffix);
    }
    rest[digits..].strip_prefix('_').is_some_and(|r| r.starts_with(suffix))
}

/// What a replication field becomes, if it is one of the labelled ones.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplField {
    /// `master_link_status`: up or not.
    LinkUp(bool),
    /// A per-master gauge: metric name (without namespace) and value.
    Direct(&'static str, f64),
    /// `slaveN:ip=…,port=…,state=…,offset=…,lag=…`.
    Replica {
        /// Replica IP.
        ip: String,
        /// Replica port.
        port: String,
        /// Replica state.
        state: String,
        /// Replication offset.
        offset: f64,
        /// Lag in seconds, when reported (Redis 3.0+).
        lag: Option<f64>,
    },
}

/// Classifies a Replication-section field.
pub fn classify(key: &str, value: &str) -> Option<ReplField> {
    if master_field(key, "link_status") {
        return Some(ReplField::LinkUp(value == "up"));
    }
    let int = || value.trim().parse::<i64>().map(|v| v as f64).unwrap_or(0.0);
    if master_field(key, "last_io_seconds_ago") {
        return Some(ReplField::Direct("master_last_io_seconds_ago", int()));
    }
    if master_field(key, "sync_in_progress") {
        return Some(ReplField::Direct("master_sync_in_progress", int()));
    }
    if key.starts_with("slave_repl_offset") {
        return Some(ReplField::Direct("slave_repl_offset", int()));
    }
    let n = key.strip_prefix("slave")?;
    if !n.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut ip = String::new();
    let mut port = String::new();
    let mut state = String::new();
    let mut offset = None;
    let mut lag = None;
    for kv in value.split(',') {
        let mut parts = kv.split('=');
        let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else { return None };
        match k {
            "ip" => ip = v.to_owned(),
            "port" => port = v.to_owned(),
            "state" => state = v.to_owned(),
            "offset" => offset = Some(v.parse::<f64>().ok()?),
            "lag" => lag = Some(v.parse::<f64>().ok()?),
            _ => {}
        }
    }
    Some(ReplField::Replica { ip, port, state, offset: offset?, lag })
}

/// Whether the field is turned into a labelled metric here (so the plain INFO mapping skips it).
pub fn consumes(key: &str, value: &str) -> bool {
    classify(key, value).is_some()
}

/// Writes the replication metrics.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    let mut master_host = "";
    let mut master_port = "";
    for f in &input.info.fields {
        if master_field(f.key, "host") {
            master_host = f.value;
        }
        if master_field(f.key, "port") {
            master_port = f.value;
        }
        if f.section != "Replication" {
            continue;
        }
        let master = [("master_host", master_host), ("master_port", master_port)];
        match classify(f.key, f.value) {
            Some(ReplField::LinkUp(up)) => {
                out.gauge("redis_master_link_up", "Master link status on Redis slave")
                    .sample(&master, if up { 1.0 } else { 0.0 });
            }
            Some(ReplField::Direct(name, v)) => {
                let help = match name {
                    "master_last_io_seconds_ago" => "Master last io seconds ago",
                    "master_sync_in_progress" => "Master sync in progress",
                    _ => "Slave replication offset",
                };
                out.gauge(format!("redis_{name}"), help).sample(&master, v);
            }
            Some(ReplField::Replica { ip, port, state, offset, lag }) => {
                let l = [("slave_ip", ip.as_str()), ("slave_port", port.as_str()), ("slave_state", state.as_str())];
                out.gauge("redis_connected_slave_offset_bytes", "Offset of connected slave").sample(&l, offset);
                if let Some(lag) = lag {
                    out.gauge("redis_connected_slave_lag_seconds", "Lag of connected slave").sample(&l, lag);
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify("master_link_status", "up"), Some(ReplField::LinkUp(true)));
        assert_eq!(classify("master_2_link_status", "down"), Some(ReplField::LinkUp(false)));
        assert_eq!(
            classify("master_last_io_seconds_ago", "-1"),
            Some(ReplField::Direct("master_last_io_seconds_ago", -1.0))
        );
        assert_eq!(classify("slave_repl_offset", "x"), Some(ReplField::Direct("slave_repl_offset", 0.0)));
        assert_eq!(
            classify("slave0", "ip=10.0.0.1,port=6380,state=online,offset=42,lag=1"),
            Some(ReplField::Replica {
                ip: "10.0.0.1".into(),
                port: "6380".into(),
                state: "online".into(),
                offset: 42.0,
                lag: Some(1.0)
            })
        );
        assert_eq!(classify("slave0", "ip=a,offset=x"), None);
        assert_eq!(classify("slave_priority", "100"), None);
        assert_eq!(classify("master_repl_offset", "100"), None);
        assert!(master_field("master_host", "host") && master_field("master_12_port", "port"));
        assert!(!master_field("master_x_host", "host"));
    }
}
