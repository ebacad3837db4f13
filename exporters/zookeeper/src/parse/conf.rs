//! The `conf` four-letter word: `key=value` lines, of which the exporter needs only `serverId` (the leader's id).

/// The `serverId=<n>` of a `conf` reply.
pub fn parse_conf_server_id(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.trim_end_matches('\r').strip_prefix("serverId=")).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_id() {
        assert_eq!(parse_conf_server_id("clientPort=2181\nserverId=3\n"), Some(3));
        assert_eq!(parse_conf_server_id("serverId=x\n"), None);
        assert_eq!(parse_conf_server_id("conf is not executed because it is not in the whitelist.\n"), None);
        for input in crate::parse::garbage::inputs() {
            let _ = parse_conf_server_id(&input);
        }
    }
}
