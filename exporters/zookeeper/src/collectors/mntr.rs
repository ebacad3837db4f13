//! `mntr`: asks every server `ruok` and `mntr` (falling back to the AdminServer) and writes the per-server metrics
//! and the ensemble view. `/metrics` watches `--zk.hosts`; `/probe?target=host:port[,host:port…]` the target.

use std::sync::Arc;
use std::time::Duration;

use oxporter_core::collector::{BuildError, CollectFuture};
use oxporter_core::{Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::client::Connector;
use crate::client::tls::TlsSettings;
use crate::output;
use crate::scrape::Scraper;
use crate::target::{self, Server};

/// Builds the collector from the flags.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let servers = target::servers(&args.hosts, &args.admin_urls, args.admin_port)?;
    let tls = match args.tls_options() {
        Some(opts) => Some(Arc::new(TlsSettings::load(&opts)?)),
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
