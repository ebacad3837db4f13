//! The collector model: one trait, one registration table per exporter.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::Snapshot;

/// Why a collector failed. Becomes `<ns>_scrape_collector_success{collector} 0` and one log line.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Reading a file or talking to a target failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being read (a path, a command), never a secret.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A reply or file could not be parsed.
    #[error("{0}")]
    Parse(String),
    /// The data this collector reads does not exist on this host (logged at debug level, like node_exporter's
    /// `ErrNoData`).
    #[error("no data: {0}")]
    NoData(String),
    /// The collector did not finish before the scrape deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Any other failure, already phrased for a person.
    #[error("{0}")]
    Other(String),
}

impl CollectError {
    /// An I/O error with the path or operation it concerns.
    pub fn io(context: impl std::fmt::Display, source: std::io::Error) -> Self {
        CollectError::Io { context: context.to_string(), source }
    }

    /// Whether this is the expected "nothing to read here" case.
    pub fn is_no_data(&self) -> bool {
        matches!(self, CollectError::NoData(_))
    }
}

/// What a collector knows about the scrape it serves.
#[derive(Debug, Clone)]
pub struct ScrapeContext {
    /// When the scrape must be answered. Every network call must finish before it.
    pub deadline: Instant,
    /// The target of a multi-target (`/probe`) scrape; `None` for `/metrics`.
    pub target: Option<Arc<str>>,
    /// Extra query parameters of a probe request (e.g. `module`), in request order.
    pub params: Arc<Vec<(String, String)>>,
}

impl ScrapeContext {
    /// A context whose deadline is `timeout` from now, with no target.
    pub fn with_timeout(timeout: Duration) -> Self {
        ScrapeContext { deadline: Self::deadline_after(timeout), target: None, params: Arc::new(Vec::new()) }
    }

    /// The instant `timeout` from now, for a scrape deadline. The timeout comes from a request header or a flag, so
    /// it may be absurd (`1e19` seconds): `Instant + Duration` would panic past what an `Instant` can hold, so a
    /// timeout is capped at 100 years.
    pub fn deadline_after(timeout: Duration) -> Instant {
        const CAP: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        let now = Instant::now();
        now.checked_add(timeout.min(CAP)).unwrap_or(now)
    }

    /// Time left until the deadline (zero once past it).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The value of the probe parameter `name`, if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The future a collector returns.
pub type CollectFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CollectError>> + Send + 'a>>;

/// A collector: does its I/O asynchronously and writes families into `out`.
///
/// Whatever was written to `out` is kept even when the collector then fails or runs out of time, so a collector
/// that gathers several things should write each as soon as it has it (partial results).
pub trait Collector: Send + Sync + 'static {
    /// Collects into `out`, finishing before `ctx.deadline`.
    fn collect<'a>(&'a self, ctx: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a>;
}

/// A collector that reads local files with blocking calls (most of the node exporter's).
///
/// It runs off the async workers (see [`Blocking`]), so a hung file system stalls only this collector; the scrape
/// still answers at its deadline, without this collector's output.
pub trait BlockingCollector: Send + Sync + 'static {
    /// Collects into `out`.
    fn collect(&self, ctx: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError>;
}

/// Adapts a [`BlockingCollector`] to [`Collector`].
///
/// Blocking collectors run one after another on one long-lived thread, the *lane*: most take well under a
/// millisecond, and a thread per collector (oxporter-node used to run 20 threads for 20 collectors) costs more in
/// thread wake-ups, stacks and malloc arenas than the collectors themselves. A second thread, the lane's *watch*,
/// looks at the lane [`LANE_PATIENCE`] after work arrives: if the running collector has been at it for longer (a slow
/// or hung file system), every collector still queued behind it gets a thread of its own, and while the lane is
/// stalled new ones go to a thread of their own directly, so a hung file system costs only the collector that reads
/// it. A scrape thus wakes the lane and the watch once each, not once per collector, and registers no timer per
/// collector (the scrape's deadline, kept by the engine, is the only one).
pub struct Blocking<T>(pub Arc<T>);

/// How long the running collector may hold the lane before the collectors queued behind it get threads of their own.
pub const LANE_PATIENCE: Duration = Duration::from_millis(50);

type Output = (Snapshot, Result<(), CollectError>);

/// One blocking collection: the work until someone takes it, then its output until the caller takes that.
struct Job {
    work: std::sync::Mutex<Option<Box<dyn FnOnce() -> Output + Send>>>,
    output: std::sync::Mutex<Option<Output>>,
    done: tokio::sync::Notify,
    /// The runtime of the scrape, for a thread of its own from its blocking pool.
    runtime: Option<tokio::runtime::Handle>,
}

impl Job {
    /// Takes the work to run it (or to cancel it): whoever takes it first owns it.
    fn take_work(&self) -> Option<Box<dyn FnOnce() -> Output + Send>> {
        self.work.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn take_output(&self) -> Option<Output> {
        self.output.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Runs the work if nobody has taken it yet; a panic becomes the output. Returns whether it ran.
    fn run(&self) -> bool {
        let Some(work) = self.take_work() else { return false };
        let output = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| (Snapshot::new(), Err(CollectError::Other("collector panicked".into()))));
        *self.output.lock().unwrap_or_else(|p| p.into_inner()) = Some(output);
        true
    }

    /// Runs the job on a thread of its own (its runtime's blocking pool, else a new thread), unless it has been
    /// taken already.
    fn run_elsewhere(self: &Arc<Self>) {
        if self.work.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            return;
        }
        let job = self.clone();
        let work = move || {
            if job.run() {
                job.done.notify_one();
            }
        };
        match &self.runtime {
            Some(rt) => drop(rt.spawn_blocking(work)),
            None => {
                if let Err(e) = std::thread::Builder::new().name("collector".into()).spawn(work) {
                    tracing::error!(error = %e, "cannot start a thread for a blocking collector");
                }
            }
        }
    }
}

/// What the lane and its watch share under one lock.
#[derive(Default)]
struct Queue {
    jobs: std::collections::VecDeque<Arc<Job>>,
    /// The lane sleeps on `ready` (so a push must wake it).
    lane_idle: bool,
    /// The watch sleeps on `arrived` until work arrives (so a push must wake it).
    watch_idle: bool,
}

struct Lane {
    queue: std::sync::Mutex<Queue>,
    ready: std::sync::Condvar,
    arrived: std::sync::Condvar,
    /// When the running job started, in microseconds since `epoch`; 0 while idle.
    busy_since: std::sync::atomic::AtomicU64,
    epoch: Instant,
}

impl Lane {
    /// The process's lane, started on first use; `None` if its threads could not be started.
    fn get() -> Option<&'static Lane> {
        static LANE: std::sync::OnceLock<Option<&'static Lane>> = std::sync::OnceLock::new();
        *LANE.get_or_init(|| {
            let lane: &'static Lane = Box::leak(Box::new(Lane {
                queue: Default::default(),
                ready: Default::default(),
                arrived: Default::default(),
                busy_since: Default::default(),
                epoch: Instant::now(),
            }));
            let spawn = |name: &str, f: fn(&'static Lane)| std::thread::Builder::new().name(name.into()).spawn(move || f(lane));
            match spawn("collectors", Lane::run).and_then(|_| spawn("collectors-watch", Lane::watch)) {
                Ok(_) => Some(lane),
                Err(e) => {
                    // A lane without its watch could hold collectors behind a hung one; run each on its own thread.
                    tracing::warn!(error = %e, "cannot start the collector lane; blocking collectors get a thread each");
                    None
                }
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> u64 {
        (self.epoch.elapsed().as_micros() as u64).max(1)
    }

    /// Runs queued jobs in order. Callers are told their output is ready only when the queue runs dry, so a scrape's
    /// collectors wake the scrape once, not once each; with scrapes queueing without pause, outputs are announced
    /// after a millisecond anyway rather than when the queue runs dry.
    fn run(&self) {
        use std::sync::atomic::Ordering;
        let mut finished: Vec<Arc<Job>> = Vec::new();
        // When the oldest unannounced output was ready.
        let mut oldest: Option<Instant> = None;
        loop {
            let job = {
                let mut q = self.lock();
                loop {
                    let overdue = oldest.is_some_and(|t| t.elapsed() > Duration::from_millis(1));
                    if !overdue && let Some(j) = q.jobs.pop_front() {
                        break Some(j);
                    }
                    if !finished.is_empty() {
                        break None;
                    }
                    q.lane_idle = true;
                    q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
                    q.lane_idle = false;
                }
            };
            let Some(job) = job else {
                for j in finished.drain(..) {
                    j.done.notify_one();
                }
                oldest = None;
                continue;
            };
            self.busy_since.store(self.now(), Ordering::Release);
            if job.run() {
                finished.push(job);
                oldest.get_or_insert_with(Instant::now);
            }
            self.busy_since.store(0, Ordering::Release);
        }
    }

    /// The lane's watch: while jobs are queued, looks every [`LANE_PATIENCE`] whether the lane is stalled, and if so
    /// moves the queued jobs to threads of their own. Sleeps while the queue is empty.
    fn watch(&self) {
        let mut q = self.lock();
        loop {
            if q.jobs.is_empty() {
                q.watch_idle = true;
                q = self.arrived.wait(q).unwrap_or_else(|p| p.into_inner());
                q.watch_idle = false;
                continue;
            }
            q = self.arrived.wait_timeout(q, LANE_PATIENCE).unwrap_or_else(|p| p.into_inner()).0;
            if self.stalled() && !q.jobs.is_empty() {
                let stuck: Vec<Arc<Job>> = q.jobs.drain(..).collect();
                drop(q);
                for job in stuck {
                    job.run_elsewhere();
                }
                q = self.lock();
            }
        }
    }

    /// Whether the running job has been running for longer than the patience.
    fn stalled(&self) -> bool {
        let since = self.busy_since.load(std::sync::atomic::Ordering::Acquire);
        since != 0 && self.now().saturating_sub(since) > LANE_PATIENCE.as_micros() as u64
    }

    /// Queues a job, waking the lane and the watch only if they sleep.
    fn push(&self, job: Arc<Job>) {
        let mut q = self.lock();
        q.jobs.push_back(job);
        if q.lane_idle {
            q.lane_idle = false;
            self.ready.notify_one();
        }
        if q.watch_idle {
            q.watch_idle = false;
            self.arrived.notify_one();
        }
    }
}

/// Cancels a job that has not started when the collection is abandoned (the scrape's deadline passed).
struct CancelOnDrop(Arc<Job>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        drop(self.0.take_work());
    }
}

impl<T: BlockingCollector> Collector for Blocking<T> {
    fn collect<'a>(&'a self, ctx: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a> {
        let inner = self.0.clone();
        let ctx2 = ctx.clone();
        Box::pin(async move {
            let work = move || {
                let mut snap = Snapshot::new();
                let res = inner.collect(&ctx2, &mut snap);
                (snap, res)
            };
            let job = Arc::new(Job {
                work: std::sync::Mutex::new(Some(Box::new(work))),
                output: std::sync::Mutex::new(None),
                done: tokio::sync::Notify::new(),
                runtime: tokio::runtime::Handle::try_current().ok(),
            });
            let _cancel = CancelOnDrop(job.clone());
            match Lane::get().filter(|l| !l.stalled()) {
                Some(lane) => lane.push(job.clone()),
                None => job.run_elsewhere(),
            }
            // No timer here: the engine's deadline ends the wait (and `_cancel` the job, if it has not started).
            loop {
                if let Some((snap, res)) = job.take_output() {
                    out.merge(snap);
                    return res;
                }
                job.done.notified().await;
            }
        })
    }
}

/// Wraps a blocking collector for registration.
pub fn blocking<T: BlockingCollector>(c: T) -> Box<dyn Collector> {
    Box::new(Blocking(Arc::new(c)))
}

/// The error a collector constructor returns (bad flag value, missing directory, …).
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// One row of an exporter's collector table.
///
/// `C` is the exporter's parsed configuration, which constructors read their own flags from.
pub struct CollectorSpec<C> {
    /// The collector's name: `--collector.<name>`, the `collector` label, `collect[]=<name>`.
    pub name: &'static str,
    /// Whether it runs unless disabled.
    pub default_enabled: bool,
    /// One line for `--help`.
    pub description: &'static str,
    /// Builds the collector once at start-up.
    pub build: fn(&C) -> Result<Box<dyn Collector>, BuildError>,
}

impl<C> std::fmt::Debug for CollectorSpec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorSpec")
            .field("name", &self.name)
            .field("default_enabled", &self.default_enabled)
            .finish()
    }
}
