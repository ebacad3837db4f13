//! The `mntr` four-letter word: one `zk_<key>\t<value>` line per statistic.

use super::{MAX_FIELD_LEN, NOT_SERVING, NOT_WHITELISTED, ParseError, Reply, Stats, snippet};

/// Parses a reply to `mntr`.
///
/// Lines that are not `zk_<key><tab or space><value>` are skipped, as are numeric keys whose value is not a number;
/// a reply with no `zk_` line at all is an error.
pub fn parse_mntr(text: &str) -> Result<Reply, ParseError> {
    let start = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if start.is_empty() {
        return Err(ParseError::Empty);
    }
    if start.starts_with(NOT_SERVING) {
        return Ok(Reply::NotServing);
    }
    if start.lines().next().is_some_and(|l| l.contains(NOT_WHITELISTED)) {
        return Ok(Reply::NotWhitelisted);
    }
    let mut stats = Stats::default();
    let mut recognised = false;
    for line in start.lines() {
        let line = line.trim_end_matches('\r');
        let Some((key, value)) = line.split_once('\t').or_else(|| line.split_once(' ')) else { continue };
        let Some(key) = key.trim().strip_prefix("zk_") else { continue };
        if key.is_empty() || key.len() > MAX_FIELD_LEN {
            continue;
        }
        recognised = true;
        let value = value.trim();
        match key {
            "version" => stats.version = short_text(value),
            "server_state" => stats.server_state = short_text(value),
            "peer_state" => stats.peer_state = short_text(value),
            _ => {
                if let Some(v) = parse_number(value) {
                    stats.values.push((key.to_owned(), v));
                }
            }
        }
    }
    if !recognised {
        return Err(ParseError::NoStats(snippet(start)));
    }
    Ok(Reply::Stats(stats))
}

/// A string value kept as a label: non-empty and not absurdly long.
pub(crate) fn short_text(value: &str) -> Option<String> {
    (!value.is_empty() && value.len() <= MAX_FIELD_LEN).then(|| value.to_owned())
}

/// A numeric value as ZooKeeper prints it (`12`, `10.7273`, `0.0`, `-1`). Words such as `inf` or `NaN`, which Rust
/// would accept, are refused: ZooKeeper never prints them, so they mean the line is not a statistic.
pub(crate) fn parse_number(value: &str) -> Option<f64> {
    let plausible = value.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.')
        && value.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if !plausible {
        return None;
    }
    value.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(text: &str) -> Stats {
        match parse_mntr(text) {
            Ok(Reply::Stats(s)) => s,
            other => panic!("expected stats, got {other:?}"),
        }
    }

    #[test]
    fn parses_lines() {
        let s = stats(
            "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\nzk_server_state\tleader\n\
             zk_peer_state\tleading - broadcast\nzk_avg_latency\t10.7273\nzk_znode_count\t12\n\
             zk_connection_drop_probability\t0.0\nzk_weird\tnot-a-number\n",
        );
        assert_eq!(s.version.as_deref(), Some("3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC"));
        assert_eq!(s.server_state.as_deref(), Some("leader"));
        assert_eq!(s.peer_state.as_deref(), Some("leading - broadcast"));
        assert_eq!(s.get("avg_latency"), Some(10.7273));
        assert_eq!(s.get("znode_count"), Some(12.0));
        assert_eq!(s.get("connection_drop_probability"), Some(0.0));
        assert_eq!(s.get("weird"), None);
    }

    #[test]
    fn old_servers_and_crlf() {
        // 3.4 separates with a tab too, but be lenient about spaces and CRLF.
        let s = stats(
            "zk_version 3.4.14-4c25d480e66aadd371de8bd2fd8da255ac140bcf, built on 03/06/2019 16:18 GMT\r\nzk_followers 2\r\n",
        );
        assert_eq!(s.get("followers"), Some(2.0));
        assert!(s.version.as_deref().is_some_and(|v| v.starts_with("3.4.14-")));
    }

    #[test]
    fn special_replies() {
        assert_eq!(parse_mntr("This ZooKeeper instance is not currently serving requests\n"), Ok(Reply::NotServing));
        assert_eq!(parse_mntr("mntr is not executed because it is not in the whitelist.\n"), Ok(Reply::NotWhitelisted));
        assert_eq!(parse_mntr(""), Err(ParseError::Empty));
        assert!(matches!(parse_mntr("HTTP/1.1 400 Bad Request\r\n"), Err(ParseError::NoStats(_))));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("12"), Some(12.0));
        assert_eq!(parse_number("-1"), Some(-1.0));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("1e999"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("e"), None);
    }

    #[test]
    fn garbage_never_panics() {
        for input in crate::parse::garbage::inputs() {
            let _ = parse_mntr(&input);
        }
    }
}
