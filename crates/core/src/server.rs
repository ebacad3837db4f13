//! The HTTP server: `/metrics`, multi-target probe paths, the landing page, health endpoints, the request limit,
//! web-config security, and listening on every `--web.listen-address`.

mod header_timeout;
use header_timeout::{HEADER_READ_TIMEOUT, HeaderTimeout};

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

/// How long a TLS client has to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open connections get to finish their requests after SIGTERM before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves on already-bound, non-blocking listeners until `shutdown` completes (tests use this with their own
/// listeners).
///
/// Each connection speaks HTTP/1.1 (hyper's HTTP/1 server; the TLS config offers no ALPN `h2`, and a plain
/// connection is never sniffed for HTTP/2), which is all Prometheus and every other scraper needs: the HTTP/2 stack
/// would be about 0.3 MB of code in every exporter for nothing (docs/benchmarks.md). With TLS, every new connection
/// takes the newest certificates: the web config is checked for changes (one `stat` per file) before its handshake.
pub async fn serve_listeners(
    cfg: ServerConfig,
    web: Arc<WebConfigHandle>,
    listeners: Vec<std::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(cfg.clone(), web.clone());
    // What the listeners serve with: the config at start-up, replaced when a reload brings a new one.
    let tls = web.tls_config().map(|c| Arc::new(std::sync::Mutex::new(c)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every connection task holds a sender: when all are gone, every connection has finished.
    let (alive, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    let mut tasks = Vec::new();
    for l in listeners {
        let addr = l.local_addr().map_err(|e| ServeError::Bind(SocketAddr::from(([0, 0, 0, 0], 0)), e))?;
        let l = tokio::net::TcpListener::from_std(l).map_err(|e| ServeError::Bind(addr, e))?;
        tracing::info!(address = %addr, tls = tls.is_some(), "listening");
        let conn = Conn { app: app.clone(), web: web.clone(), tls: tls.clone(), _alive: alive.clone() };
        tasks.push(tokio::spawn(accept_loop(l, conn, stop_rx.clone())));
    }
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    drop(alive);
    for t in tasks {
        let _ = t.await;
    }
    // Requests in progress get to finish; idle kept-alive connections are closed at once.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, all_done.recv()).await;
    Ok(())
}

/// What serving one connection needs.
#[derive(Clone)]
struct Conn {
    app: Router,
    web: Arc<WebConfigHandle>,
    tls: Option<Arc<std::sync::Mutex<Arc<rustls::ServerConfig>>>>,
    /// Held for as long as the connection is served (see `all_done`).
    _alive: tokio::sync::mpsc::Sender<()>,
}

/// Accepts connections until `stop` turns true, each served by a task of its own.
async fn accept_loop(listener: tokio::net::TcpListener, conn: Conn, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(conn.clone().serve(stream, stop.clone()));
            }
            // Out of file descriptors or similar: wait a little instead of spinning; the listener stays.
            Err(e) => {
                tracing::debug!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Conn {
    async fn serve(self, stream: tokio::net::TcpStream, mut stop: tokio::sync::watch::Receiver<bool>) {
        let service = hyper_util::service::TowerToHyperService::new(self.app);
        // No timer, so not hyper's header read timeout: it would also close kept-alive connections idle between
        // scrapes (as Go's servers keep them). `HeaderTimeout` bounds a request's headers from their first byte.
        let http = hyper::server::conn::http1::Builder::new();
        let Some(tls) = self.tls else {
            let stream = HeaderTimeout::new(stream, HEADER_READ_TIMEOUT);
            let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            return until_done(conn, stop).await;
        };
        let config = {
            let mut applied = tls.lock().unwrap_or_else(|p| p.into_inner());
            self.web.reload_if_changed();
            if let Some(new) = self.web.tls_config().filter(|new| !Arc::ptr_eq(new, &applied)) {
                *applied = new;
                tracing::info!("reloaded TLS configuration");
            }
            applied.clone()
        };
        let handshake =
            tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tokio_rustls::TlsAcceptor::from(config).accept(stream));
        // A connection still in its handshake at shutdown is dropped rather than waited for.
        let stream = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            h = handshake => match h {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            },
        };
        let stream = HeaderTimeout::new(stream, HEADER_READ_TIMEOUT);
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        until_done(conn, stop).await;
    }
}

/// Serves a connection until the client closes it or, after `stop`, until the request in progress is answered.
async fn until_done<I, S>(
    conn: hyper::server::conn::http1::Connection<I, S>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    let stopping = tokio::select! {
        biased;
        _ = conn.as_mut() => false,
        // Also when the server is gone (the sender dropped).
        _ = stop.wait_for(|s| *s) => true,
    };
    if stopping {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
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
