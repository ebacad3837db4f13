//! What the core's end-to-end server tests share: a server configuration with one collector, `test_up 1`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oxporter_core::cli::{CommonArgs, ExporterInfo, LogFormat, LogLevel};
use oxporter_core::collector::{CollectFuture, Collector, ScrapeContext};
use oxporter_core::engine::{Engine, NamedCollector};
use oxporter_core::model::Snapshot;
use oxporter_core::server::ServerConfig;

const INFO: ExporterInfo = ExporterInfo {
    binary: "oxporter-core-test",
    namespace: "test",
    anchor: "none",
    default_port: 0,
    description: "core server test",
    version: "0.0.0",
};

/// The one collector: `test_up 1`.
struct Up;

impl Collector for Up {
    fn collect<'a>(&'a self, _ctx: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a> {
        Box::pin(async move {
            out.gauge("test_up", "Always 1.").sample(&[], 1.0);
            Ok(())
        })
    }
}

/// A server configuration for `port` with the `Up` collector and, if given, a web config file.
pub fn server_config(port: u16, web_config_file: Option<PathBuf>) -> ServerConfig {
    let common = CommonArgs {
        listen_addresses: vec![format!("127.0.0.1:{port}")],
        telemetry_path: "/metrics".into(),
        web_config_file,
        max_requests: 40,
        disable_exporter_metrics: true,
        scrape_timeout: Duration::from_secs(5),
        log_level: LogLevel::Info,
        log_format: LogFormat::Logfmt,
    };
    let mut cfg = ServerConfig::new(INFO, common);
    let engine = Engine::new("test", vec!["up"], vec![NamedCollector { name: "up", collector: Arc::new(Up) }]);
    cfg.engine = Some(Arc::new(engine));
    cfg
}
