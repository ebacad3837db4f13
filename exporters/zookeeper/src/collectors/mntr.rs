//! `mntr`: asks every server `ruok` and `mntr` (falling back to the AdminServer) and writes the per-server metrics
//! and the ensemble view. `/metrics` watches `--zk.hosts`; `/probe?target=host:port[,host:port…]` the target.

use std::time::Duration;

use oxporter_core::collector::{BuildError, CollectFuture};
use oxporter_core::{Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::client::Connector;
use crate::output;
use crate::scrape::Scraper;
use crate::target::{self, Server};

/// Builds the collector from the flags.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let servers = target::servers(&args.hosts, &args.admin_urls, args.admin_port)?;
    let tls = match args.tls_settings()? {
        Some(settings) => Some(settings.load()?),
        None => None,
    };
    Ok(Box::new(Mntr::new(servers, args.admin_port, Connector::new(tls, args.tls))))
}

/// The collector.
#[derive(Debug)]
pub struct Mntr {
    servers: Vec<Server>,
    admin_port: u16,
    scraper: Scraper,
}

impl Mntr {
    /// Watches `servers` on `/metrics`; probes find their AdminServer on `admin_port`.
    pub fn new(servers: Vec<Server>, admin_port: u16, connector: Connector) -> Self {
        Mntr { servers, admin_port, scraper: Scraper::new(connector) }
    }
}

/// Time kept back from the scrape deadline so that a server that never answers still gets its `zk_up 0` written.
fn margin(remaining: Duration) -> Duration {
    (remaining / 10).clamp(Duration::from_millis(10), Duration::from_millis(500))
}

impl Collector for Mntr {
    fn collect<'a>(&'a self, ctx: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a> {
        Box::pin(async move {
            let probed;
            let servers = match &ctx.target {
                Some(t) => {
                    let addrs = target::parse_list(t, target::MAX_PROBE_SERVERS)
                        .map_err(|e| oxporter_core::CollectError::Other(format!("invalid target: {e}")))?;
                    probed = addrs
                        .into_iter()
                        .map(|addr| Server { admin: target::default_admin_url(&addr, self.admin_port), addr })
                        .collect::<Vec<_>>();
                    &probed
                }
                None => &self.servers,
            };
            let deadline = ctx.deadline.checked_sub(margin(ctx.remaining())).unwrap_or(ctx.deadline);
            let results = self.scraper.scrape_all(servers, deadline).await;
            output::write_servers(out, &results);
            output::write_ensemble(out, &results);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn build_with(flags: &[&str]) -> Result<Box<dyn Collector>, BuildError> {
        let args = Args::try_parse_from(std::iter::once("oxporter-zookeeper").chain(flags.iter().copied()))?;
        build(&args)
    }

    #[test]
    fn bad_flags_stop_the_start() {
        assert!(build_with(&[]).is_ok());
        assert!(build_with(&["--zk.hosts", "a:1,b:2", "--zk.admin-url", "http://a:8080"]).is_err());
        assert!(build_with(&["--zk.hosts", "a:x"]).is_err());
        assert!(build_with(&["--zk.tls"]).is_err(), "TLS needs a CA file or insecure mode");
        assert!(build_with(&["--zk.admin-url", "https://a:8443"]).is_err(), "https needs TLS settings too");
        assert!(build_with(&["--zk.tls", "--zk.tls.insecure-skip-verify"]).is_ok());
        assert!(build_with(&["--zk.tls", "--zk.tls.ca-file", "/nonexistent/ca.pem"]).is_err());
    }

    #[test]
    fn margins() {
        assert_eq!(margin(Duration::from_secs(10)), Duration::from_millis(500));
        assert_eq!(margin(Duration::from_secs(1)), Duration::from_millis(100));
        assert_eq!(margin(Duration::ZERO), Duration::from_millis(10));
    }
}
