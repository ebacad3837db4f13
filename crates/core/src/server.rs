//! The HTTP server: `/metrics`, multi-target probe paths, the landing page, health endpoints, the request limit,
//! web-config security, and listening on every `--web.listen-address`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;

use crate::cli::{CommonArgs, ExporterInfo};
use crate::collector::ScrapeContext;
use crate::encode::{self, Format};
use crate::engine::{Engine, Filter};
use crate::model::{MetricFamily, Snapshot};
use crate::process;
use crate::webconfig::{AuthDecision, WebConfigHandle};

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listen address could not be parsed or resolved.
    #[error("invalid listen address {0:?}: {1}")]
    Address(String, String),
    /// Binding a socket failed.
    #[error("listening on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// The telemetry path is not an absolute path.
    #[error("--web.telemetry-path must start with '/', got {0:?}")]
    Path(String),
    /// The web config file is unusable.
    #[error(transparent)]
    WebConfig(#[from] crate::webconfig::WebConfigError),
}

/// Checks a probe's `target` before anything connects to it. Returns a message for HTTP 400 when it is unusable.
pub type TargetValidator = fn(&str) -> Result<(), String>;

/// A multi-target endpoint: `GET <path>?target=<t>` runs `engine` with `ctx.target = t`.
#[derive(Clone)]
pub struct ProbeRoute {
    /// Paths that serve probes, e.g. `["/probe"]` or `["/scrape", "/probe"]`.
    pub paths: Vec<&'static str>,
    /// The engine whose collectors read `ctx.target`.
    pub engine: Arc<Engine>,
    /// Validation of the target parameter.
    pub validate: TargetValidator,
    /// Whether requests without `target` are answered by the default `/metrics` collection instead of HTTP 400.
    pub example_target: &'static str,
}

/// How the server is set up. Build with [`ServerConfig::new`].
#[derive(Clone)]
pub struct ServerConfig {
    /// The exporter.
    pub info: ExporterInfo,
    /// Shared flags.
    pub common: CommonArgs,
    /// The `/metrics` engine, if the exporter has one.
    pub engine: Option<Arc<Engine>>,
    /// Probe endpoints.
    pub probe: Option<ProbeRoute>,
    /// Flags shown on the landing page.
    pub flags_in_effect: Vec<(String, String)>,
    /// Whether OpenMetrics is served when the client prefers it (default `true`). An exporter whose anchor always
    /// answers text 0.0.4 (client_golang without `EnableOpenMetrics`, e.g. redis_exporter) sets `false`: in
    /// OpenMetrics `le` and `quantile` are canonical floats (`99.0` where text has `99`), and Prometheus 2.x stores
    /// the label value as sent, so queries such as `quantile="99"` would stop matching.
    pub openmetrics: bool,
}

impl ServerConfig {
    /// A config with no engine and no probe route yet.
    pub fn new(info: ExporterInfo, common: CommonArgs) -> Self {
        ServerConfig { info, common, engine: None, probe: None, flags_in_effect: Vec::new(), openmetrics: true }
    }
}

/// Counters behind `promhttp_metric_handler_*`.
#[derive(Default)]
struct HandlerStats {
    ok: AtomicU64,
    unavailable: AtomicU64,
    error: AtomicU64,
    in_flight: AtomicU64,
}

struct AppState {
    cfg: ServerConfig,
    limit: Option<Semaphore>,
    web: Arc<WebConfigHandle>,
    stats: HandlerStats,
}

/// Builds the router (without binding). Tests use this directly with `tower::ServiceExt` or a local listener.
pub fn router(cfg: ServerConfig, web: Arc<WebConfigHandle>) -> Router {
    let limit = (cfg.common.max_requests > 0).then(|| Semaphore::new(cfg.common.max_requests));
    let metrics_path = cfg.common.telemetry_path.clone();
    let probe_paths = cfg.probe.as_ref().map(|p| p.paths.clone()).unwrap_or_default();
    let state = Arc::new(AppState { cfg, limit, web, stats: HandlerStats::default() });
    let mut r = Router::new()
        .route("/", get(landing))
        .route("/-/healthy", get(|| async { "Healthy" }))
        .route("/-/ready", get(|| async { "Ready" }))
        .route(&metrics_path, get(metrics));
    for p in probe_paths {
        r = r.route(p, get(probe));
    }
    r.fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found\n") })
        .layer(middleware::from_fn_with_state(state.clone(), security))
        .with_state(state)
}

/// Basic auth and the configured response headers, on every route (as exporter-toolkit does).
async fn security(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    st.web.reload_if_changed();
    let decision = st.web.authorize(req.headers().get(header::AUTHORIZATION)).await;
    let mut resp = match decision {
        AuthDecision::Allowed => next.run(req).await,
        AuthDecision::Denied => {
            let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            r
        }
        AuthDecision::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response(),
    };
    for (k, v) in st.web.response_headers().iter() {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

/// The scrape timeout for a request: Prometheus's header minus a margin, else `--scrape.timeout`.
pub fn scrape_timeout(headers: &HeaderMap, default: Duration) -> Duration {
    let from_header = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok());
    match from_header {
        // Leave time to encode and send: 10% of the budget, at most half a second.
        Some(t) => t.saturating_sub((t / 10).min(Duration::from_millis(500))),
        None => default,
    }
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = query else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` in a query component; invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct InFlight<'a>(&'a AtomicU64);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn metrics(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let _permit = match st.limit.as_ref().map(Semaphore::try_acquire) {
        Some(Err(_)) => {
            st.stats.unavailable.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Limit of concurrent requests reached ({}), try again later.\n", st.cfg.common.max_requests),
            )
                .into_response();
        }
        Some(Ok(p)) => Some(p),
        None => None,
    };
    st.stats.in_flight.fetch_add(1, Ordering::Relaxed);
    let _in_flight = InFlight(&st.stats.in_flight);

    let params = query_pairs(req.uri().query());
    let collect: Vec<String> = params.iter().filter(|(k, _)| k == "collect[]").map(|(_, v)| v.clone()).collect();
    let exclude: Vec<String> = params.iter().filter(|(k, _)| k == "exclude[]").map(|(_, v)| v.clone()).collect();
    let timeout = scrape_timeout(req.headers(), st.cfg.common.scrape_timeout);

    let mut scraped = None;
    if let Some(engine) = &st.cfg.engine {
        let filter = match engine.filter(collect, exclude) {
            Ok(f) => f,
            Err(e) => {
                st.stats.error.fetch_add(1, Ordering::Relaxed);
                return (StatusCode::BAD_REQUEST, format!("Couldn't create filtered metrics handler: {e}\n"))
                    .into_response();
            }
        };
        let ctx = ScrapeContext {
            deadline: ScrapeContext::deadline_after(timeout),
            target: None,
            params: Arc::new(Vec::new()),
        };
        scraped = Some(engine.scrape(ctx, filter).await);
    }
    let mut own = Snapshot::new();
    process::add_build_info(&mut own, &st.cfg.info);
    if !st.cfg.common.disable_exporter_metrics {
        process::add_process_metrics(&mut own);
        st.stats.ok.fetch_add(1, Ordering::Relaxed);
        own.gauge("promhttp_metric_handler_requests_in_flight", "Current number of scrapes being served.")
            .sample(&[], st.stats.in_flight.load(Ordering::Relaxed) as f64);
        own.counter("promhttp_metric_handler_requests_total", "Total number of scrapes by HTTP status code.")
            .sample(&[("code", "200")], st.stats.ok.load(Ordering::Relaxed) as f64)
            .sample(&[("code", "500")], st.stats.error.load(Ordering::Relaxed) as f64)
            .sample(&[("code", "503")], st.stats.unavailable.load(Ordering::Relaxed) as f64);
    }
    let own = own.into_sorted();
    // The scrape result is shared with concurrent scrapes (single-flight): encode it by reference, merged in name
    // order with our own few families.
    let mut families: Vec<&MetricFamily> = scraped.iter().flat_map(|r| r.families.iter()).chain(own.iter()).collect();
    families.sort_by(|a, b| a.name.cmp(&b.name));
    respond(req.headers(), &families, st.cfg.openmetrics)
}

async fn probe(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let Some(route) = st.cfg.probe.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let _permit = match st.limit.as_ref().map(Semaphore::try_acquire) {
        Some(Err(_)) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "Limit of concurrent requests reached, try again later.\n")
                .into_response();
        }
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let params = query_pairs(req.uri().query());
    let Some(target) = params.iter().find(|(k, _)| k == "target").map(|(_, v)| v.clone()) else {
        return (StatusCode::BAD_REQUEST, "'target' parameter must be specified\n").into_response();
    };
    if target.trim().is_empty() {
        return (StatusCode::BAD_REQUEST, "'target' parameter must not be empty\n").into_response();
    }
    if let Err(msg) = (route.validate)(&target) {
        return (StatusCode::BAD_REQUEST, format!("invalid target: {msg}\n")).into_response();
    }
    let timeout = scrape_timeout(req.headers(), st.cfg.common.scrape_timeout);
    let extra: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k != "target").collect();
    let ctx = ScrapeContext {
        deadline: ScrapeContext::deadline_after(timeout),
        target: Some(Arc::from(target)),
        params: Arc::new(extra),
    };
    let res = route.engine.scrape(ctx, Filter::All).await;
    let families: Vec<&MetricFamily> = res.families.iter().collect();
    respond(req.headers(), &families, st.cfg.openmetrics)
}

/// Encodes `families` in the negotiated format (text 0.0.4 only, without `openmetrics`), gzipped when accepted.
fn respond(headers: &HeaderMap, families: &[&MetricFamily], openmetrics: bool) -> Response {
    let format = match openmetrics {
        true => Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())),
        false => Format::Text004,
    };
    let body = encode::encode_refs(format, families);
    let gzip = encode::accepts_gzip(headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()));
    let mut builder = Response::builder().status(StatusCode::OK).header(header::CONTENT_TYPE, format.content_type());
    let body = if gzip {
        match encode::gzip(body.as_bytes()) {
            Ok(z) => {
                builder = builder.header(header::CONTENT_ENCODING, "gzip");
                Body::from(z)
            }
            Err(_) => Body::from(body),
        }
    } else {
        Body::from(body)
    };
    builder.body(body).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn landing(State(st): State<Arc<AppState>>) -> Response {
    let cfg = &st.cfg;
    let esc = html_escape;
    // Links are relative so the page works behind a path-rewriting proxy.
    let mut links = format!("<li><a href=\".{0}\">{0}</a>: metrics</li>", esc(&cfg.common.telemetry_path));
    if let Some(p) = &cfg.probe {
        for path in &p.paths {
            links.push_str(&format!(
                "<li><a href=\".{path}?target={t}\">{path}?target={t}</a>: multi-target probe</li>",
                t = esc(p.example_target)
            ));
        }
    }
    links.push_str("<li><a href=\"./-/healthy\">/-/healthy</a> and <a href=\"./-/ready\">/-/ready</a>: health</li>");
    let collectors = cfg
        .engine
        .as_ref()
        .map(|e| e.enabled().map(|n| format!("<code>{}</code>", esc(n))).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let flags: String = cfg
        .flags_in_effect
        .iter()
        .map(|(k, v)| format!("<tr><td><code>--{}</code></td><td><code>{}</code></td></tr>", esc(k), esc(v)))
        .collect();
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{name}</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td{{padding:0 1em 0 0}}</style></head>\
         <body><h1>{name}</h1><p>{desc}</p><p>Version {version}, a drop-in for {anchor}.</p>\
         <h2>Endpoints</h2><ul>{links}</ul>\
         <h2>Enabled collectors</h2><p>{collectors}</p>\
         <h2>Flags in effect</h2><table>{flags}</table></body></html>\n",
        name = esc(cfg.info.binary),
        desc = esc(cfg.info.description),
        version = esc(cfg.info.version),
        anchor = esc(cfg.info.anchor),
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Resolves a Go-style listen address: `:9100` means every interface (IPv6 and IPv4), `host:port` is resolved.
pub fn resolve_listen_address(addr: &str) -> Result<Vec<SocketAddr>, ServeError> {
    let bad = |m: &str| ServeError::Address(addr.to_owned(), m.to_owned());
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| bad("port is not a number"))?;
        return Ok(vec![SocketAddr::from(([0u16; 8], port))]);
    }
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(|e| bad(&e.to_string()))?.collect();
    if addrs.is_empty() {
        return Err(bad("resolves to no address"));
    }
    Ok(addrs)
}

/// Binds a listener; `[::]` falls back to `0.0.0.0` on hosts without IPv6.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ServeError> {
    let l = match std::net::TcpListener::bind(addr) {
        Err(e) if addr.ip().is_unspecified() && addr.is_ipv6() => {
            std::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], addr.port())))
                .map_err(|_| ServeError::Bind(addr, e))?
        }
        r => r.map_err(|e| ServeError::Bind(addr, e))?,
    };
    l.set_nonblocking(true).map_err(|e| ServeError::Bind(addr, e))?;
    Ok(l)
}

/// Starts serving on every listen address and runs until SIGINT or SIGTERM.
pub async fn serve(cfg: ServerConfig) -> Result<(), ServeError> {
    if !cfg.common.telemetry_path.starts_with('/') {
        return Err(ServeError::Path(cfg.common.telemetry_path.clone()));
    }
    let web = WebConfigHandle::load(cfg.common.web_config_file.as_deref())?;
    let mut listeners = Vec::new();
    for a in &cfg.common.listen_addresses {
        for addr in resolve_listen_address(a)? {
            listeners.push(bind(addr)?);
        }
    }
    serve_listeners(cfg, web, listeners, shutdown_signal()).await
}

/// Serves on already-bound listeners until `shutdown` completes (tests use this with their own listeners).
pub async fn serve_listeners(
    cfg: ServerConfig,
    web: Arc<WebConfigHandle>,
    listeners: Vec<std::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(cfg.clone(), web.clone());
    let handle = axum_server::Handle::<SocketAddr>::new();
    let mut tickers = Vec::new();
    let initial_tls = web.tls_config();
    let tls = initial_tls.clone().map(axum_server::tls_rustls::RustlsConfig::from_config);
    if let (Some(tls), Some(mut applied)) = (tls.clone(), initial_tls) {
        // Pick up rotated certificates without a restart, even when no request comes to trigger the reload. A
        // request may have reloaded first, so compare with what the listeners use rather than trusting the
        // return value.
        let web2 = web.clone();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                web2.reload_if_changed();
                if let Some(new) = web2.tls_config().filter(|new| !Arc::ptr_eq(new, &applied)) {
                    tls.reload_from_config(new.clone());
                    applied = new;
                    tracing::info!("reloaded TLS configuration");
                }
            }
        });
        tickers.push(ticker);
    }
    let mut tasks = Vec::new();
    for l in listeners {
        let addr = l.local_addr().map_err(|e| ServeError::Bind(SocketAddr::from(([0, 0, 0, 0], 0)), e))?;
        tracing::info!(address = %addr, tls = tls.is_some(), "listening");
        let app = app.clone();
        let handle = handle.clone();
        let server_tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let res = match server_tls {
                Some(t) => match axum_server::from_tcp_rustls(l, t) {
                    Ok(s) => s.handle(handle).serve(app.into_make_service()).await,
                    Err(e) => Err(e),
                },
                None => match axum_server::from_tcp(l) {
                    Ok(s) => s.handle(handle).serve(app.into_make_service()).await,
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = res {
                tracing::error!(address = %addr, error = %e, "server stopped");
            }
        }));
    }
    let h2 = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        h2.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    for t in tasks {
        let _ = t.await;
    }
    for t in tickers {
        t.abort();
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = futures::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn openmetrics_only_when_the_exporter_offers_it() {
        let mut headers = HeaderMap::new();
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                          text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        headers.insert(header::ACCEPT, HeaderValue::from_static(prometheus));
        let content_type = |r: &Response| r.headers()[header::CONTENT_TYPE].to_str().unwrap_or_default().to_owned();
        assert!(content_type(&respond(&headers, &[], true)).starts_with("application/openmetrics-text"));
        assert!(content_type(&respond(&headers, &[], false)).starts_with("text/plain; version=0.0.4"));
    }

    #[test]
    fn timeout_from_header() {
        let mut h = HeaderMap::new();
        assert_eq!(scrape_timeout(&h, Duration::from_secs(7)), Duration::from_secs(7));
        h.insert("x-prometheus-scrape-timeout-seconds", HeaderValue::from_static("10"));
        assert_eq!(scrape_timeout(&h, Duration::from_secs(7)), Duration::from_millis(9500));
        h.insert("x-prometheus-scrape-timeout-seconds", HeaderValue::from_static("1"));
        assert_eq!(scrape_timeout(&h, Duration::from_secs(7)), Duration::from_millis(900));
        h.insert("x-prometheus-scrape-timeout-seconds", HeaderValue::from_static("junk"));
        assert_eq!(scrape_timeout(&h, Duration::from_secs(7)), Duration::from_secs(7));
        h.insert("x-prometheus-scrape-timeout-seconds", HeaderValue::from_static("-3"));
        assert_eq!(scrape_timeout(&h, Duration::from_secs(7)), Duration::from_secs(7));
        // Out of Duration's range: ignored rather than trusted.
        h.insert("x-prometheus-scrape-timeout-seconds", HeaderValue::from_static("1e308"));
        assert_eq!(scrape_timeout(&h, Duration::from_secs(7)), Duration::from_secs(7));
        // In Duration's range but past what an Instant can reach: the deadline is capped instead of panicking.
        h.insert("x-prometheus-scrape-timeout-seconds", HeaderValue::from_static("1e19"));
        let huge = scrape_timeout(&h, Duration::from_secs(7));
        assert!(huge > Duration::from_secs(1 << 62));
        assert!(ScrapeContext::deadline_after(huge) > Instant::now() + Duration::from_secs(3600 * 24 * 365 * 99));
        assert!(ScrapeContext::deadline_after(Duration::MAX) > Instant::now());
    }

    #[test]
    fn query_decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("redis%3A%2F%2Fh%3A1"), "redis://h:1");
        assert_eq!(percent_decode("bad%zz%"), "bad%zz%");
        assert_eq!(
            query_pairs(Some("collect[]=cpu&collect%5B%5D=mem&x")),
            vec![("collect[]".into(), "cpu".into()), ("collect[]".into(), "mem".into()), ("x".into(), "".into())]
        );
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(resolve_listen_address(":9100").ok(), Some(vec!["[::]:9100".parse().expect("addr")]));
        assert_eq!(resolve_listen_address("127.0.0.1:1").ok(), Some(vec!["127.0.0.1:1".parse().expect("addr")]));
        assert!(resolve_listen_address(":x").is_err());
        assert!(resolve_listen_address("nonsense").is_err());
    }
}
