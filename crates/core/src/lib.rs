//! oxporter-core: everything the oxporter exporters share.
//!
//! - [`model`]: the plain snapshot collectors fill ([`model::Snapshot`], [`model::MetricFamily`]).
//! - [`collector`]: the [`collector::Collector`] trait and the registration table row [`collector::CollectorSpec`].
//! - [`engine`]: runs collectors concurrently under the scrape deadline, single-flight, with per-collector
//!   duration and success metrics.
//! - [`encode`]: Prometheus text 0.0.4 and OpenMetrics 1.0, negotiated from `Accept`.
//! - [`server`]: `/metrics`, probe routes, landing page, health, request limit.
//! - [`webconfig`]: exporter-toolkit compatible `--web.config.file` (TLS, basic auth, headers).
//! - [`textparse`]: a parser of text format 0.0.4, lenient as Go's (textfile collector) or strict (tests).
//! - [`tls`], [`net`]: PEM loading and TLS client settings; connections to targets bounded by the scrape deadline.
//! - [`cli`], [`logging`], [`process`]: shared flags, log output, and the exporter's own process metrics.
//! - [`kept`]: procfs and sysfs reads through descriptors kept open between scrapes.
//! - [`testing`]: deterministic garbage inputs for parser tests.
//!
//! See `docs/architecture.md` for how the pieces fit.

pub mod cli;
pub mod collector;
pub mod encode;
pub mod engine;
pub mod kept;
pub mod logging;
pub mod model;
pub mod net;
pub mod process;
pub mod run;
pub mod server;
pub mod testing;
pub mod textparse;
pub mod tls;
pub mod webconfig;

pub use collector::{BlockingCollector, CollectError, Collector, CollectorSpec, ScrapeContext};
pub use model::{MetricFamily, MetricType, Snapshot};
