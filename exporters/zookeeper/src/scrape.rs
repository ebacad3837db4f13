//! Asking one server how it is: `ruok` and `mntr` over the client port at once, the AdminServer when the words are
//! not whitelisted, and the leader's id. Never a word that changes server state (`srst`, `crst`, …).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::client::http::{self, Url};
use crate::client::{ClientError, Connector};
use crate::output::{ServerResult, Source};
use crate::parse::{self, NOT_WHITELISTED, Reply};
use crate::target::Server;

/// Most server ids remembered at once.
const MAX_CACHED_IDS: usize = 1024;

/// Scrapes servers and remembers their ids (a server's id only changes with a restart, so it is looked up once,
/// and again after the server was seen down).
#[derive(Debug)]
pub struct Scraper {
    connector: Connector,
    server_ids: Mutex<HashMap<String, u64>>,
}

impl Scraper {
    /// A scraper that connects with `connector`.
    pub fn new(connector: Connector) -> Self {
        Scraper { connector, server_ids: Mutex::new(HashMap::new()) }
    }

    /// Scrapes every server concurrently, each before `deadline`.
    pub async fn scrape_all(&self, servers: &[Server], deadline: Instant) -> Vec<ServerResult> {
        futures::future::join_all(servers.iter().map(|s| self.scrape(s, deadline))).await
    }

    /// Scrapes one server.
    pub async fn scrape(&self, server: &Server, deadline: Instant) -> ServerResult {
        let addr = server.addr.as_str();
        let (ruok, mntr) = tokio::join!(
            self.connector.four_letter_word(addr, "ruok", deadline),
            self.connector.four_letter_word(addr, "mntr", deadline)
        );
        let ruok_refused = matches!(&ruok, Ok(t) if t.contains(NOT_WHITELISTED));
        let mut result = ServerResult {
            addr: server.addr.clone(),
            ruok: matches!(&ruok, Ok(t) if t.trim() == "imok"),
            reply: None,
            source: None,
            server_id: None,
        };
        match mntr.as_deref().map(parse::parse_mntr) {
            Ok(Ok(Reply::NotWhitelisted)) => {
                tracing::debug!(zk_host = addr, "mntr is not whitelisted; asking the AdminServer");
                let (monitor, admin_ruok) = tokio::join!(self.admin_get(&server.admin, "monitor", deadline), async {
                    if ruok_refused { Some(self.admin_get(&server.admin, "ruok", deadline).await) } else { None }
                });
                if let Some(Ok(r)) = admin_ruok {
                    result.ruok = admin_ok(&r.body);
                }
                match monitor.map(|r| parse::parse_admin_monitor_response(r.status, &r.body)) {
                    Ok(Ok(reply)) => {
                        result.reply = Some(reply);
                        result.source = Some(Source::Admin);
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(zk_host = addr, error = %e, "AdminServer monitor reply not understood")
                    }
                    Err(e) => tracing::warn!(
                        zk_host = addr,
                        error = %e,
                        "mntr is not in 4lw.commands.whitelist and the AdminServer did not answer"
                    ),
                }
            }
            Ok(Ok(reply)) => {
                result.reply = Some(reply);
                result.source = Some(Source::Mntr);
            }
            Ok(Err(e)) => tracing::warn!(zk_host = addr, error = %e, "mntr reply not understood"),
            Err(e) => tracing::warn!(zk_host = addr, error = %e, "mntr failed"),
        }
        if !result.up() {
            self.forget_id(addr);
        } else if result.claims_leadership() {
            result.server_id = self.server_id(server, result.source, deadline).await;
        }
        result
    }

    /// The server's id, from the cache, `conf`, or the AdminServer's `configuration`.
    async fn server_id(&self, server: &Server, source: Option<Source>, deadline: Instant) -> Option<u64> {
        if let Some(id) = self.server_ids.lock().unwrap_or_else(|p| p.into_inner()).get(&server.addr) {
            return Some(*id);
        }
        let mut id = None;
        if source == Some(Source::Mntr)
            && let Ok(text) = self.connector.four_letter_word(&server.addr, "conf", deadline).await
        {
            id = parse::parse_conf_server_id(&text);
        }
        if id.is_none()
            && let Ok(r) = self.admin_get(&server.admin, "configuration", deadline).await
        {
            id = parse::parse_admin_server_id(&r.body);
        }
        if let Some(id) = id {
            let mut ids = self.server_ids.lock().unwrap_or_else(|p| p.into_inner());
            // Probes may name any server; keep the cache bounded.
            if ids.len() >= MAX_CACHED_IDS {
                ids.clear();
            }
            ids.insert(server.addr.clone(), id);
        }
        id
    }

    fn forget_id(&self, addr: &str) {
        self.server_ids.lock().unwrap_or_else(|p| p.into_inner()).remove(addr);
    }

    /// GETs `<admin>/<command>`; any status is returned, since ZooKeeper reports errors in the body too.
    async fn admin_get(&self, admin: &Url, command: &str, deadline: Instant) -> Result<http::Response, ClientError> {
        let url = Url { path: format!("{}/{command}", admin.path), ..admin.clone() };
        http::get(&self.connector, &url, deadline).await
    }
}

/// Whether an AdminServer command reply has `"error": null`.
fn admin_ok(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.as_object().map(|o| o.get("error").is_some_and(serde_json::Value::is_null)))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_ruok() {
        assert!(admin_ok(r#"{"command":"ruok","error":null}"#));
        assert!(!admin_ok(r#"{"command":"ruok","error":"x"}"#));
        assert!(!admin_ok(r#"{"command":"ruok"}"#));
        assert!(!admin_ok("<html>"));
    }
}
