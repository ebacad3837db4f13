//! The AdminServer's JSON (`/commands/monitor`, `/commands/configuration`): the same statistics as `mntr`, keyed
//! without the `zk_` prefix, plus `command` and `error`.

use serde_json::Value;

use super::mntr::short_text;
use super::{MAX_FIELD_LEN, NOT_SERVING, ParseError, Reply, Stats, snippet};

/// Parses the body of `/commands/monitor`.
pub fn parse_admin_monitor(text: &str) -> Result<Reply, ParseError> {
    let obj = object(text)?;
    if let Some(err) = obj.get("error").and_then(Value::as_str) {
        if err.contains(NOT_SERVING) {
            return Ok(Reply::NotServing);
        }
        return Err(ParseError::Admin(snippet(err)));
    }
    let mut stats = Stats::default();
    for (key, value) in &obj {
        if key.is_empty() || key.len() > MAX_FIELD_LEN {
            continue;
        }
        match (key.as_str(), value) {
            ("command" | "error", _) => {}
            ("version", Value::String(s)) => stats.version = short_text(s),
            ("server_state", Value::String(s)) => stats.server_state = short_text(s),
            ("peer_state", Value::String(s)) => stats.peer_state = short_text(s),
            (_, Value::Number(n)) => {
                if let Some(v) = n.as_f64().filter(|v| v.is_finite()) {
                    stats.values.push((key.clone(), v));
                }
            }
            _ => {}
        }
    }
    if stats.values.is_empty() && stats.server_state.is_none() {
        return Err(ParseError::NoStats(snippet(text)));
    }
    Ok(Reply::Stats(stats))
}

/// Parses the AdminServer's reply to `/commands/monitor` given its HTTP status.
///
/// ZooKeeper 3.8.0 answers HTTP 500 with an HTML page about a `NullPointerException` ("`zkServer` is null") while
/// the server has no quorum; later versions answer JSON whose `error` says the server is not serving. Both mean
/// "up, but not serving", as `mntr`'s reply does.
pub fn parse_admin_monitor_response(status: u16, body: &str) -> Result<Reply, ParseError> {
    if status == 200 {
        return parse_admin_monitor(body);
    }
    if (500..600).contains(&status) && (body.contains(NOT_SERVING) || body.contains("zkServer")) {
        return Ok(Reply::NotServing);
    }
    match parse_admin_monitor(body) {
        Ok(reply) => Ok(reply),
        Err(_) => Err(ParseError::Admin(format!("HTTP status {status}"))),
    }
}

/// The `server_id` of `/commands/configuration`, if the reply has one.
pub fn parse_admin_server_id(text: &str) -> Option<u64> {
    object(text).ok()?.get("server_id")?.as_u64()
}

fn object(text: &str) -> Result<serde_json::Map<String, Value>, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    // serde_json limits nesting depth, so hostile input cannot overflow the stack.
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ParseError::Json("not an object".into())),
        Err(e) => Err(ParseError::Json(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_monitor() {
        let r = parse_admin_monitor(
            r#"{"version":"3.8.0-x","server_state":"leader","peer_state":"leading - broadcast","avg_latency":15.5,
               "learners":2,"connection_drop_probability":0.0,"command":"monitor","error":null,"flag":true}"#,
        );
        let Ok(Reply::Stats(s)) = r else { panic!("expected stats, got {r:?}") };
        assert_eq!(s.server_state.as_deref(), Some("leader"));
        assert_eq!(s.peer_state.as_deref(), Some("leading - broadcast"));
        assert_eq!(s.get("avg_latency"), Some(15.5));
        assert_eq!(s.get("learners"), Some(2.0));
        assert_eq!(s.get("command"), None);
        assert_eq!(s.get("flag"), None);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_admin_monitor(
                r#"{"command":"monitor","error":"This ZooKeeper instance is not currently serving requests"}"#
            ),
            Ok(Reply::NotServing)
        );
        assert!(matches!(parse_admin_monitor(r#"{"command":"monitor","error":"boom"}"#), Err(ParseError::Admin(_))));
        assert!(matches!(parse_admin_monitor("<html>"), Err(ParseError::Json(_))));
        assert!(matches!(parse_admin_monitor("[1]"), Err(ParseError::Json(_))));
        assert!(matches!(parse_admin_monitor("{}"), Err(ParseError::NoStats(_))));
        assert_eq!(parse_admin_monitor(" "), Err(ParseError::Empty));
    }

    #[test]
    fn http_statuses() {
        let npe = "<title>Error 500 java.lang.NullPointerException: Cannot invoke &quot;org.apache.zookeeper.server.\
                   ZooKeeperServer.dumpMonitorValues(java.util.function.BiConsumer)&quot; because &quot;zkServer&quot; \
                   is null</title>";
        assert_eq!(parse_admin_monitor_response(500, npe), Ok(Reply::NotServing));
        assert_eq!(
            parse_admin_monitor_response(
                503,
                r#"{"error":"This ZooKeeper instance is not currently serving requests"}"#
            ),
            Ok(Reply::NotServing)
        );
        assert_eq!(
            parse_admin_monitor_response(404, "<html>nope</html>"),
            Err(ParseError::Admin("HTTP status 404".into()))
        );
        assert_eq!(parse_admin_monitor_response(502, "bad gateway"), Err(ParseError::Admin("HTTP status 502".into())));
        assert!(matches!(parse_admin_monitor_response(200, r#"{"server_state":"leader"}"#), Ok(Reply::Stats(_))));
        for input in crate::parse::garbage::inputs() {
            let _ = parse_admin_monitor_response(500, &input);
        }
    }

    #[test]
    fn server_id() {
        assert_eq!(parse_admin_server_id(r#"{"server_id":3,"command":"configuration","error":null}"#), Some(3));
        assert_eq!(parse_admin_server_id(r#"{"server_id":-1}"#), None);
        assert_eq!(parse_admin_server_id("nope"), None);
    }

    #[test]
    fn garbage_never_panics() {
        for input in crate::parse::garbage::inputs() {
            let _ = parse_admin_monitor(&input);
            let _ = parse_admin_server_id(&input);
        }
    }
}
