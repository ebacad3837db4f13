//! The servers to watch: `--zk.hosts`, or a probe's `target`, each with its AdminServer URL.

use crate::client::http::Url;

/// ZooKeeper's default client port, used when an address has none.
pub const DEFAULT_CLIENT_PORT: u16 = 2181;

/// Most servers one probe may name (a probe target may list a whole ensemble).
pub const MAX_PROBE_SERVERS: usize = 32;

/// One ZooKeeper server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `host:port` of the client port, exactly as configured: the `zk_host` label.
    pub addr: String,
    /// The AdminServer's command URL (`…/commands`), to which `/monitor`, `/ruok`, `/configuration` are added.
    pub admin: Url,
}

/// Checks one `host:port` (a missing port means 2181) and returns it normalised.
pub fn parse_addr(raw: &str) -> Result<String, String> {
    let a = raw.trim();
    if a.is_empty() {
        return Err("empty address".into());
    }
    if a.len() > 255 || a.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '?' | '#')) {
        return Err(format!("invalid address {a:?}: expected host:port"));
    }
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| format!("invalid address {a:?}: unclosed '['"))?;
        (format!("[{h}]"), after.strip_prefix(':'))
    } else {
        match a.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => return Err(format!("invalid address {a:?}: write IPv6 as [addr]:port")),
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (a.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("invalid address {a:?}: no host"));
    }
    let port = match port {
        None => DEFAULT_CLIENT_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port in {a:?}"))?,
    };
    Ok(format!("{host}:{port}"))
}

/// The host part of a normalised address, with brackets for IPv6.
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

/// Splits a comma-separated list of addresses.
pub fn parse_list(list: &str, max: usize) -> Result<Vec<String>, String> {
    let addrs: Vec<String> =
        list.split(',').filter(|s| !s.trim().is_empty()).map(parse_addr).collect::<Result<_, _>>()?;
    if addrs.is_empty() {
        return Err("no ZooKeeper address given".into());
    }
    if addrs.len() > max {
        return Err(format!("{} addresses given, at most {max} allowed", addrs.len()));
    }
    Ok(addrs)
}

/// The default AdminServer command URL of a server: same host, `admin_port`.
pub fn default_admin_url(addr: &str, admin_port: u16) -> Url {
    Url { https: false, authority: format!("{}:{admin_port}", host_of(addr)), path: "/commands".into() }
}

/// An AdminServer URL as given: the command base (`http://zk1:8080/commands`); a trailing `/monitor` is dropped, and
/// a bare `http://zk1:8080` gets ZooKeeper's default `/commands`.
pub fn admin_url(raw: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim())?;
    if url.path.contains('?') {
        return Err(format!("AdminServer URL must not have a query: {raw:?}"));
    }
    let path = url.path.trim_end_matches('/');
    let path = path.strip_suffix("/monitor").unwrap_or(path);
    url.path = if path.is_empty() { "/commands".to_owned() } else { path.to_owned() };
    Ok(url)
}

/// The servers of `--zk.hosts` with their AdminServer URLs: `--zk.admin-url` gives one per host, in order, or none.
pub fn servers(hosts: &[String], admin_urls: &[String], admin_port: u16) -> Result<Vec<Server>, String> {
    let addrs = parse_list(&hosts.join(","), usize::MAX)?;
    let admin_urls: Vec<&String> = admin_urls.iter().filter(|u| !u.trim().is_empty()).collect();
    if !admin_urls.is_empty() && admin_urls.len() != addrs.len() {
        return Err(format!(
            "--zk.admin-url lists {} URLs for {} hosts: give one per host, in the order of --zk.hosts",
            admin_urls.len(),
            addrs.len()
        ));
    }
    addrs
        .into_iter()
        .enumerate()
        .map(|(i, addr)| {
            let admin = match admin_urls.get(i) {
                Some(u) => admin_url(u)?,
                None => default_admin_url(&addr, admin_port),
            };
            Ok(Server { addr, admin })
        })
        .collect()
}

/// The probe's target check: one address or a comma-separated ensemble of at most [`MAX_PROBE_SERVERS`].
pub fn validate_probe_target(target: &str) -> Result<(), String> {
    parse_list(target, MAX_PROBE_SERVERS).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("zk1:2181"), Ok("zk1:2181".into()));
        assert_eq!(parse_addr(" zk1 "), Ok("zk1:2181".into()));
        assert_eq!(parse_addr("[::1]:2182"), Ok("[::1]:2182".into()));
        assert_eq!(parse_addr("[::1]"), Ok("[::1]:2181".into()));
        assert!(parse_addr("::1").is_err());
        assert!(parse_addr("zk1:0").is_err());
        assert!(parse_addr("zk1:99999").is_err());
        assert!(parse_addr("zk1:x").is_err());
        assert!(parse_addr(":2181").is_err());
        assert!(parse_addr("http://zk1").is_err());
        assert!(parse_addr("a b:1").is_err());
        assert!(parse_addr("").is_err());
    }

    #[test]
    fn lists_and_probe_targets() {
        assert_eq!(parse_list("a:1,b:2,,", 5), Ok(vec!["a:1".into(), "b:2".into()]));
        assert!(parse_list(",", 5).is_err());
        assert!(validate_probe_target("a:1,b:2").is_ok());
        assert!(validate_probe_target(&vec!["a:1"; 33].join(",")).is_err());
        assert!(validate_probe_target("a:1,bad host").is_err());
    }

    #[test]
    fn admin_urls() {
        let s = servers(&["zk1:2181".into(), "[::1]:2182".into()], &[], 8080).expect("valid");
        assert_eq!(s[0].admin.display(), "http://zk1:8080/commands");
        assert_eq!(s[1].admin.display(), "http://[::1]:8080/commands");
        let s = servers(&["a:1".into()], &["http://a:9/commands/monitor".into()], 8080).expect("valid");
        assert_eq!(s[0].admin.display(), "http://a:9/commands");
        assert_eq!(admin_url("http://a:9/").map(|u| u.display()), Ok("http://a:9/commands".into()));
        assert_eq!(admin_url("http://a:9/zk/cmds/").map(|u| u.display()), Ok("http://a:9/zk/cmds".into()));
        assert!(admin_url("http://a:9/x?y").is_err());
        assert!(servers(&["a:1".into(), "b:1".into()], &["http://a:9".into()], 8080).is_err());
    }
}
