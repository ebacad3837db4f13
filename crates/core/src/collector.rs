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

/// The future [`Collector::collect_timed`] returns: the result, and how long the collector itself worked.
pub type TimedFuture<'a> = Pin<Box<dyn Future<Output = (Result<(), CollectError>, Duration)> + Send + 'a>>;

/// A collector: does its I/O asynchronously and writes families into `out`.
///
/// Whatever was written to `out` is kept even when the collector then fails or runs out of time, so a collector
/// that gathers several things should write each as soon as it has it (partial results).
pub trait Collector: Send + Sync + 'static {
    /// Collects into `out`, finishing before `ctx.deadline`.
    fn collect<'a>(&'a self, ctx: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a>;

    /// [`Collector::collect`], and how long the collector worked on it: the engine's
    /// `<ns>_scrape_collector_duration_seconds`. By default the time its future took; [`Blocking`] collectors
    /// report their own run on the lane, not the wait behind the collectors queued before them nor until their
    /// batch was announced (node_exporter times each collector's own work, all running at once).
    fn collect_timed<'a>(&'a self, ctx: &'a ScrapeContext, out: &'a mut Snapshot) -> TimedFuture<'a> {
        Box::pin(async move {
            let start = Instant::now();
            let res = self.collect(ctx, out).await;
            (res, start.elapsed())
        })
    }
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
/// looks at the lane [`LANE_PATIENCE`] after it took up work (its alarm, a `timerfd` the lane sets when it takes up
/// work and clears when it runs out, so a scrape that ends sooner never wakes it): if the running collector has
/// been at it for that long (a slow or hung file system), every collector still queued behind it gets a thread of
/// its own, and while the lane is stalled new ones go to a thread of their own directly, so a hung file system costs
/// only the collector that reads it.
///
/// Finished collections are announced in batches: the lane wakes their waiters when its queue runs dry or the next
/// queued collection is another task's (another scrape's), and wakes each task once however many of its
/// collections finished (the engine polls a scrape's collectors under one waker, so a scrape's blocking collectors
/// wake it once, not once each: every wake-up from another thread is an `eventfd` write and an `epoll_wait` return
/// of the runtime's thread, and a context switch each, dearer still when the thread's CPU was idle). The watch
/// announces what finished before a collector that has held the lane for the patience, so a hung collector delays
/// the others' results by at most [`LANE_PATIENCE`]. Pushes made under a [`LanePushes`] guard (the engine holds one
/// while it starts a scrape's collectors) wake the lane once, when the guard drops. A scrape thus wakes the lane
/// once, its own task once and the watch not at all, and registers no timer per collector (the scrape's deadline,
/// kept by the engine, is the only one).
pub struct Blocking<T>(pub Arc<T>);

/// How long the running collector may hold the lane before the collectors queued behind it get threads of their own
/// (and those finished before it are announced).
pub const LANE_PATIENCE: Duration = Duration::from_millis(50);

/// A finished job: what it wrote, how it ended, and how long it ran.
type Output = (Snapshot, Result<(), CollectError>, Duration);

type Work = Box<dyn FnOnce() -> (Snapshot, Result<(), CollectError>) + Send>;

/// A finished job's output and the waker of whoever waits for it.
#[derive(Default)]
struct Delivery {
    output: Option<Output>,
    waker: Option<std::task::Waker>,
}

/// One blocking collection: the work until someone takes it, then its output until the caller takes that.
struct Job {
    work: std::sync::Mutex<Option<Work>>,
    delivery: std::sync::Mutex<Delivery>,
    /// The runtime of the scrape, for a thread of its own from its blocking pool.
    runtime: Option<tokio::runtime::Handle>,
}

impl Job {
    /// Takes the work to run it (or to cancel it): whoever takes it first owns it.
    fn take_work(&self) -> Option<Work> {
        self.work.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn delivery(&self) -> std::sync::MutexGuard<'_, Delivery> {
        self.delivery.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the work if nobody has taken it yet; a panic becomes the output. Returns the waker to wake (now or in a
    /// batch), if the job ran and someone waits for it.
    fn run(&self) -> Option<std::task::Waker> {
        let work = self.take_work()?;
        let start = Instant::now();
        let (snap, res) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| (Snapshot::new(), Err(CollectError::Other("collector panicked".into()))));
        let took = start.elapsed();
        let mut d = self.delivery();
        d.output = Some((snap, res, took));
        d.waker.take()
    }

    /// The output if it is there, else registers `cx`'s waker to be woken when it is.
    fn poll_output(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Output> {
        let mut d = self.delivery();
        if let Some(output) = d.output.take() {
            return std::task::Poll::Ready(output);
        }
        if !d.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            d.waker = Some(cx.waker().clone());
        }
        std::task::Poll::Pending
    }

    /// Runs the job on a thread of its own (its runtime's blocking pool, else a new thread), unless it has been
    /// taken already.
    fn run_elsewhere(self: &Arc<Self>) {
        if self.work.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            return;
        }
        let job = self.clone();
        let work = move || {
            if let Some(waker) = job.run() {
                waker.wake();
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

/// Wakes each task once: wakers that wake the same task (a scrape's collectors, polled under one waker) are
/// woken through the first of them only.
fn wake_distinct(wakers: Vec<std::task::Waker>) {
    let mut woken: Vec<std::task::Waker> = Vec::with_capacity(wakers.len());
    for w in wakers {
        if !woken.iter().any(|o| o.will_wake(&w)) {
            w.wake_by_ref();
            woken.push(w);
        }
    }
}

/// What the lane and its watch share under one lock.
#[derive(Default)]
struct Queue {
    jobs: std::collections::VecDeque<Arc<Job>>,
    /// Wakers of finished jobs not yet woken (see [`Blocking`]); the lane wakes them when it runs out of work or
    /// comes to another task's job, the watch when the lane is stalled.
    unannounced: Vec<std::task::Waker>,
    /// The lane sleeps on `ready` (so a push must wake it).
    lane_idle: bool,
    /// Whether the watch's timer is set (so a push behind a stalled lane need not set it).
    watch_armed: bool,
}

impl Queue {
    fn take_unannounced(&mut self) -> Vec<std::task::Waker> {
        std::mem::take(&mut self.unannounced)
    }

    /// Whether the finished jobs must be announced before the next queued one runs: it belongs to another task
    /// than the job that finished last (a job is queued with its waiter's waker, see [`Blocking::run`]).
    fn announce_before_next(&self) -> bool {
        let (Some(last), Some(next)) = (self.unannounced.last(), self.jobs.front()) else {
            return false;
        };
        !next.delivery().waker.as_ref().is_some_and(|w| w.will_wake(last))
    }
}

struct Lane {
    queue: std::sync::Mutex<Queue>,
    ready: std::sync::Condvar,
    /// The watch's alarm (a `timerfd`): set for [`LANE_PATIENCE`] when the lane takes up work and cleared when it
    /// runs out, so a scrape costs the watch no wake-up unless a collector holds the lane that long. (A condition
    /// variable would wake the watch twice per scrape: when work arrives and when its wait for the patience ends.)
    alarm: rustix::fd::OwnedFd,
    /// When the running job started, in microseconds since `epoch`; 0 while idle.
    busy_since: std::sync::atomic::AtomicU64,
    epoch: Instant,
}

impl Lane {
    /// The process's lane, started on first use; `None` if its threads or its watch's timer could not be started.
    fn get() -> Option<&'static Lane> {
        static LANE: std::sync::OnceLock<Option<&'static Lane>> = std::sync::OnceLock::new();
        *LANE.get_or_init(|| {
            use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
            let alarm = match timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::CLOEXEC) {
                Ok(fd) => fd,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create the collector lane's timer; blocking collectors get a thread each");
                    return None;
                }
            };
            let lane: &'static Lane = Box::leak(Box::new(Lane {
                queue: Default::default(),
                ready: Default::default(),
                alarm,
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

    /// Sets the watch's alarm to go off `after` from now, or clears it (`None`). Called with the queue locked, so
    /// the lane and the watch do not undo each other's setting.
    fn set_alarm(&self, q: &mut Queue, after: Option<Duration>) {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        let after = after.unwrap_or_default();
        let value = Timespec { tv_sec: after.as_secs() as _, tv_nsec: after.subsec_nanos() as _ };
        let spec = Itimerspec { it_interval: Timespec { tv_sec: 0, tv_nsec: 0 }, it_value: value };
        match timerfd_settime(&self.alarm, TimerfdTimerFlags::empty(), &spec) {
            Ok(_) => q.watch_armed = !after.is_zero(),
            Err(e) => tracing::error!(error = %e, "cannot set the collector lane's timer"),
        }
    }

    /// Runs queued jobs in order. Waiters are woken only when the queue runs dry or the next job is another task's,
    /// each task once.
    fn run(&self) {
        use std::sync::atomic::Ordering;
        // The waker of the job just run, handed to the queue with the next lock.
        let mut last: Option<std::task::Waker> = None;
        loop {
            let next = {
                let mut q = self.lock();
                if let Some(w) = last.take() {
                    q.unannounced.push(w);
                }
                loop {
                    if !q.announce_before_next()
                        && let Some(j) = q.jobs.pop_front()
                    {
                        // Under the lock: the watch sees a job either queued or running, never neither.
                        self.busy_since.store(self.now(), Ordering::Release);
                        if !q.watch_armed {
                            // Taking up work (once per batch: the watch keeps the alarm set while the lane works).
                            self.set_alarm(&mut q, Some(LANE_PATIENCE));
                        }
                        break Ok(j);
                    }
                    if !q.unannounced.is_empty() {
                        break Err(q.take_unannounced());
                    }
                    if q.watch_armed {
                        self.set_alarm(&mut q, None);
                    }
                    q.lane_idle = true;
                    q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
                    q.lane_idle = false;
                }
            };
            let job = match next {
                Ok(job) => job,
                Err(wakers) => {
                    wake_distinct(wakers);
                    continue;
                }
            };
            last = job.run();
            self.busy_since.store(0, Ordering::Release);
        }
    }

    /// The lane's watch: when its alarm goes off (the lane has been at work for [`LANE_PATIENCE`]), looks whether
    /// the running job has held the lane for longer than that, and if so moves the queued jobs to threads of their
    /// own and announces the finished ones; if not, sets the alarm for when the running job's patience ends.
    fn watch(&self) {
        let mut expirations = [0u8; 8];
        loop {
            match rustix::io::read(&self.alarm, &mut expirations) {
                Ok(_) | Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(e) => {
                    // Not expected of a timerfd; look every patience rather than spin or stop watching.
                    tracing::error!(error = %e, "cannot read the collector lane's timer");
                    std::thread::sleep(LANE_PATIENCE);
                }
            }
            let mut q = self.lock();
            q.watch_armed = false;
            if self.stalled() {
                // The lane is stuck: what queued behind it goes elsewhere, what finished before it is announced,
                // and later collectors go elsewhere directly (`Blocking` checks `stalled`). A job pushed in the
                // moment the lane stalled sets the alarm again (`push`).
                let stuck: Vec<Arc<Job>> = q.jobs.drain(..).collect();
                let wakers = q.take_unannounced();
                drop(q);
                wake_distinct(wakers);
                for job in stuck {
                    job.run_elsewhere();
                }
                continue;
            }
            if q.lane_idle {
                continue;
            }
            // At work, within its patience: look again when the running job's patience ends.
            let since = self.busy_since.load(std::sync::atomic::Ordering::Acquire);
            let patience = LANE_PATIENCE.as_micros() as u64;
            let wait = if since == 0 { patience } else { (since + patience + 1).saturating_sub(self.now()).max(100) };
            self.set_alarm(&mut q, Some(Duration::from_micros(wait)));
        }
    }

    /// Whether the running job has been running for the patience or longer.
    fn stalled(&self) -> bool {
        let since = self.busy_since.load(std::sync::atomic::Ordering::Acquire);
        since != 0 && self.now().saturating_sub(since) >= LANE_PATIENCE.as_micros() as u64
    }

    /// Queues a job, waking the lane only if it sleeps (it then sets the watch's alarm), and under a
    /// [`LanePushes`] guard only when the guard drops.
    fn push(&self, job: Arc<Job>) {
        let mut q = self.lock();
        q.jobs.push_back(job);
        if q.lane_idle {
            let deferred = DEFERRED_WAKE.with(|d| d.get().map(|_| d.set(Some(true))).is_some());
            if !deferred {
                q.lane_idle = false;
                self.ready.notify_one();
            }
        } else if !q.watch_armed {
            // Queued behind a lane that the watch found stalled a moment ago.
            self.set_alarm(&mut q, Some(LANE_PATIENCE));
        }
    }
}

thread_local! {
    /// `Some` while a [`LanePushes`] guard lives on this thread; `Some(true)` once a push left the lane asleep.
    static DEFERRED_WAKE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// While it lives, blocking collections queued from this thread leave the lane asleep; dropping it wakes the lane
/// once if any did. The engine holds one while it starts a scrape's collectors, so the lane does not wake at the
/// first of them and contend for its queue's lock with the pushes of the others.
///
/// Create and drop it in the same synchronous stretch of code (never hold it across an `.await`): until it drops,
/// the lane does not start what was queued.
#[must_use = "the lane wakes when the guard drops"]
pub struct LanePushes {
    /// The enclosing guard's state on this thread, restored on drop.
    outer: Option<bool>,
    /// Not `Send`: it must drop on the thread whose pushes it holds back.
    _here: std::marker::PhantomData<*const ()>,
}

impl LanePushes {
    /// Starts holding back the lane's wake-up on this thread.
    pub fn hold() -> Self {
        LanePushes { outer: DEFERRED_WAKE.with(|d| d.replace(Some(false))), _here: std::marker::PhantomData }
    }
}

impl Drop for LanePushes {
    fn drop(&mut self) {
        let pushed = DEFERRED_WAKE.with(|d| d.replace(self.outer)) == Some(true);
        if !pushed {
            return;
        }
        if self.outer.is_some() {
            // Nested: the outermost guard wakes the lane.
            DEFERRED_WAKE.with(|d| d.set(Some(true)));
        } else if let Some(lane) = Lane::get() {
            let mut q = lane.lock();
            if q.lane_idle && !q.jobs.is_empty() {
                q.lane_idle = false;
                lane.ready.notify_one();
            }
        }
    }
}

impl std::fmt::Debug for LanePushes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanePushes").finish_non_exhaustive()
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
        Box::pin(async move { self.run(ctx, out).await.0 })
    }

    fn collect_timed<'a>(&'a self, ctx: &'a ScrapeContext, out: &'a mut Snapshot) -> TimedFuture<'a> {
        Box::pin(self.run(ctx, out))
    }
}

impl<T: BlockingCollector> Blocking<T> {
    /// Queues the collection on the lane (or a thread of its own) and waits for it; the duration is its own run.
    fn run<'a>(
        &'a self,
        ctx: &'a ScrapeContext,
        out: &'a mut Snapshot,
    ) -> impl Future<Output = (Result<(), CollectError>, Duration)> + Send + 'a {
        let inner = self.0.clone();
        let ctx2 = ctx.clone();
        async move {
            let work = move || {
                let mut snap = Snapshot::new();
                let res = inner.collect(&ctx2, &mut snap);
                (snap, res)
            };
            let job = Arc::new(Job {
                work: std::sync::Mutex::new(Some(Box::new(work))),
                delivery: Default::default(),
                runtime: tokio::runtime::Handle::try_current().ok(),
            });
            let _cancel = CancelOnDrop(job.clone());
            let mut queued = false;
            // No timer here: the engine's deadline ends the wait (and `_cancel` the job, if it has not started).
            let (snap, res, took) = std::future::poll_fn(|cx| {
                if !queued {
                    // Queued with its waiter's waker, so the lane can tell whose job comes next.
                    queued = true;
                    job.delivery().waker = Some(cx.waker().clone());
                    match Lane::get().filter(|l| !l.stalled()) {
                        Some(lane) => lane.push(job.clone()),
                        None => job.run_elsewhere(),
                    }
                }
                job.poll_output(cx)
            })
            .await;
            out.merge(snap);
            (res, took)
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    /// A waker that counts how often it was woken.
    struct Counting(AtomicUsize);
    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Holds the lane until told to go on (or for 5 s).
    struct Gate(std::sync::Mutex<std::sync::mpsc::Receiver<()>>);
    impl BlockingCollector for Gate {
        fn collect(&self, _: &ScrapeContext, _: &mut Snapshot) -> Result<(), CollectError> {
            let _ = self.0.lock().expect("gate").recv_timeout(Duration::from_secs(5));
            Ok(())
        }
    }

    struct Quick;
    impl BlockingCollector for Quick {
        fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
            out.gauge("test_quick", "Read quickly.").sample(&[], 1.0);
            Ok(())
        }
    }

    #[test]
    fn collections_finished_together_wake_their_task_once() {
        let (go, gate) = std::sync::mpsc::channel();
        let gate = Blocking(Arc::new(Gate(std::sync::Mutex::new(gate))));
        let quick = Blocking(Arc::new(Quick));
        let ctx = ScrapeContext::with_timeout(Duration::from_secs(10));
        let counter = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);

        // The gate holds the lane while twenty collections queue behind it, all polled under one waker (as the
        // engine polls a scrape's collectors).
        let mut outs: Vec<Snapshot> = (0..21).map(|_| Snapshot::new()).collect();
        let (first, rest) = outs.split_first_mut().expect("21 snapshots");
        let mut futs = vec![gate.collect(&ctx, first)];
        futs.extend(rest.iter_mut().map(|out| quick.collect(&ctx, out)));
        for f in &mut futs {
            assert!(f.as_mut().poll(&mut cx).is_pending());
        }
        go.send(()).expect("gate");

        let start = Instant::now();
        while counter.0.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(5), "never woken");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(100));
        for f in &mut futs {
            assert!(matches!(f.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
        }
        // Once for the whole batch (twice only if the test thread was descheduled past the lane's patience).
        let wakes = counter.0.load(Ordering::SeqCst);
        assert!(wakes <= 2, "woken {wakes} times for 21 collections");
        drop(futs);
        assert!(outs.iter().skip(1).all(|o| o.families().iter().any(|f| f.name == "test_quick")));
    }

    /// Waits up to 5 s for `counter` to reach `n`.
    fn woken(counter: &Counting, n: usize) -> bool {
        let start = Instant::now();
        while counter.0.load(Ordering::SeqCst) < n {
            if start.elapsed() > Duration::from_secs(5) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn a_task_is_woken_when_the_lane_comes_to_another_tasks_collection() {
        let (go_a, gate_a) = std::sync::mpsc::channel();
        let (go_b, gate_b) = std::sync::mpsc::channel();
        let gate_a = Blocking(Arc::new(Gate(std::sync::Mutex::new(gate_a))));
        let gate_b = Blocking(Arc::new(Gate(std::sync::Mutex::new(gate_b))));
        let quick = Blocking(Arc::new(Quick));
        let ctx = ScrapeContext::with_timeout(Duration::from_secs(10));
        let (a, b) = (Arc::new(Counting(AtomicUsize::new(0))), Arc::new(Counting(AtomicUsize::new(0))));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));

        // Task A: a gate and three quick collections; task B, queued behind them: a gate that holds the lane.
        let mut outs: Vec<Snapshot> = (0..5).map(|_| Snapshot::new()).collect();
        let [o1, o2, o3, o4, o5] = &mut outs[..] else { unreachable!() };
        let mut futs_a = vec![gate_a.collect(&ctx, o1), quick.collect(&ctx, o2), quick.collect(&ctx, o3)];
        futs_a.push(quick.collect(&ctx, o4));
        let mut fut_b = gate_b.collect(&ctx, o5);
        for f in &mut futs_a {
            assert!(f.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
        }
        assert!(fut_b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());

        // A's results are announced when the lane reaches B's collection, not when the lane runs dry.
        go_a.send(()).expect("gate a");
        assert!(woken(&a, 1), "task A was not woken while task B's collection held the lane");
        for f in &mut futs_a {
            assert!(matches!(f.as_mut().poll(&mut Context::from_waker(&wa)), Poll::Ready(Ok(()))));
        }
        assert_eq!(b.0.load(Ordering::SeqCst), 0);
        go_b.send(()).expect("gate b");
        assert!(woken(&b, 1), "task B was never woken");
        assert!(matches!(fut_b.as_mut().poll(&mut Context::from_waker(&wb)), Poll::Ready(Ok(()))));
        assert_eq!(a.0.load(Ordering::SeqCst), 1, "task A woken again for B's collection");
    }

    #[test]
    fn pushes_under_a_guard_wake_the_lane_when_it_drops() {
        let quick = Blocking(Arc::new(Quick));
        let ctx = ScrapeContext::with_timeout(Duration::from_secs(10));
        let counter = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        // One collection first, so the lane has started and gone to sleep (a lane still starting finds the queue
        // by itself).
        let mut first = Snapshot::new();
        let mut fut = quick.collect(&ctx, &mut first);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(woken(&counter, 1), "the lane never ran the first collection");
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        drop(fut);
        std::thread::sleep(Duration::from_millis(20));

        let mut outs: Vec<Snapshot> = (0..3).map(|_| Snapshot::new()).collect();
        let mut futs: Vec<_> = outs.iter_mut().map(|o| quick.collect(&ctx, o)).collect();
        {
            let _outer = LanePushes::hold();
            let _inner = LanePushes::hold();
            for f in &mut futs {
                assert!(f.as_mut().poll(&mut cx).is_pending());
            }
            drop(_inner);
            // Held back: the lane (idle, or busy with another test's work) has not run them.
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        }
        assert!(woken(&counter, 2), "the lane was not woken when the guard dropped");
        for f in &mut futs {
            assert!(matches!(f.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
        }
    }

    #[test]
    fn wakers_of_one_task_are_woken_once() {
        let a = Arc::new(Counting(AtomicUsize::new(0)));
        let b = Arc::new(Counting(AtomicUsize::new(0)));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        wake_distinct(vec![wa.clone(), wb.clone(), wa.clone(), wa, wb]);
        assert_eq!((a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)), (1, 1));
    }
}
