//! The scrape engine: runs the enabled collectors concurrently, each bounded by the scrape deadline, and adds
//! `<ns>_scrape_collector_duration_seconds` and `<ns>_scrape_collector_success`.
//!
//! Concurrent scrapes with the same key (target and collector filter) share one collection (single-flight), so a
//! burst of scrapes costs the target one round of work. A scrape joins a collection in flight only if that one
//! ends by its own deadline: one request with a long timeout must not hold every later scrape hostage to a stuck
//! collector.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use crate::collector::{CollectError, Collector, ScrapeContext};
use crate::model::{MetricFamily, Snapshot};

/// A registered, enabled collector.
pub struct NamedCollector {
    /// Its name.
    pub name: &'static str,
    /// The collector.
    pub collector: Arc<dyn Collector>,
}

/// Which of the enabled collectors a request wants (`collect[]` / `exclude[]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Filter {
    /// All enabled collectors.
    #[default]
    All,
    /// Only these.
    Only(Vec<String>),
    /// All but these.
    Except(Vec<String>),
}

/// A filter that names an unknown or disabled collector.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// `collect[]` and `exclude[]` were both given.
    #[error("collect[] and exclude[] cannot be used together")]
    Both,
    /// No collector has that name.
    #[error("missing collector: {0}")]
    Missing(String),
    /// The collector exists but is not enabled.
    #[error("disabled collector: {0}")]
    Disabled(String),
}

/// The outcome of one collector in one scrape.
#[derive(Debug, Clone)]
pub struct CollectorOutcome {
    /// Collector name.
    pub name: &'static str,
    /// Wall time it took (up to the deadline).
    pub duration: Duration,
    /// `None` on success.
    pub error: Option<Arc<CollectError>>,
}

/// Everything one scrape produced.
#[derive(Debug, Clone)]
pub struct ScrapeResult {
    /// Sorted families, ready to encode.
    pub families: Vec<MetricFamily>,
    /// One entry per collector that ran.
    pub outcomes: Vec<CollectorOutcome>,
}

/// A collection in progress that later scrapes with the same key may join.
#[derive(Clone)]
struct Flight {
    /// Tells this flight from a later one under the same key: only its own end removes it from the map.
    id: u64,
    /// Its deadline; a scrape joins it only if this is no later than its own.
    deadline: Instant,
    result: Shared<BoxFuture<'static, Arc<ScrapeResult>>>,
}

/// What makes two scrapes "the same" for single-flight: the target, the probe parameters and the collector filter.
type FlightKey = (Option<Arc<str>>, Vec<(String, String)>, Filter);

/// Runs collectors. Cheap to share behind an `Arc`.
pub struct Engine {
    namespace: String,
    all_names: Vec<&'static str>,
    collectors: Vec<NamedCollector>,
    in_flight: Mutex<HashMap<FlightKey, Flight>>,
    next_flight: AtomicU64,
    collector_metrics: bool,
}

impl Engine {
    /// An engine for namespace `ns` (e.g. `node`) with the enabled `collectors`. `all_names` lists every collector
    /// the exporter has, enabled or not, so filters can tell "disabled" from "missing".
    pub fn new(ns: &str, all_names: Vec<&'static str>, collectors: Vec<NamedCollector>) -> Self {
        Engine {
            namespace: ns.to_owned(),
            all_names,
            collectors,
            in_flight: Mutex::new(HashMap::new()),
            next_flight: AtomicU64::new(0),
            collector_metrics: true,
        }
    }

    /// Turns the per-collector duration/success metrics off (for exporters whose anchors lack them).
    pub fn without_collector_metrics(mut self) -> Self {
        self.collector_metrics = false;
        self
    }

    /// The names of the enabled collectors.
    pub fn enabled(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.collectors.iter().map(|c| c.name)
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Builds a filter from `collect[]` and `exclude[]` values, checking every name.
    pub fn filter(&self, collect: Vec<String>, exclude: Vec<String>) -> Result<Filter, FilterError> {
        if !collect.is_empty() && !exclude.is_empty() {
            return Err(FilterError::Both);
        }
        for name in collect.iter().chain(&exclude) {
            if !self.all_names.contains(&name.as_str()) {
                return Err(FilterError::Missing(name.clone()));
            }
            if !self.collectors.iter().any(|c| c.name == name) {
                return Err(FilterError::Disabled(name.clone()));
            }
        }
        let normalise = |mut v: Vec<String>| {
            v.sort();
            v.dedup();
            v
        };
        Ok(if !collect.is_empty() {
            Filter::Only(normalise(collect))
        } else if !exclude.is_empty() {
            Filter::Except(normalise(exclude))
        } else {
            Filter::All
        })
    }

    /// Runs one scrape, joining a scrape already in flight for the same target and filter if that one ends by
    /// this scrape's deadline.
    pub async fn scrape(self: &Arc<Self>, ctx: ScrapeContext, filter: Filter) -> Arc<ScrapeResult> {
        let key = (ctx.target.clone(), ctx.params.as_ref().clone(), filter.clone());
        let flight = {
            let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&key) {
                Some(f) if f.deadline <= ctx.deadline => f.result.clone(),
                // Nothing in flight, or one that may run past our deadline (started by a request with a longer
                // timeout): start our own, which later scrapes join. The other one finishes for its own waiters.
                _ => {
                    let id = self.next_flight.fetch_add(1, Ordering::Relaxed);
                    let deadline = ctx.deadline;
                    let this = self.clone();
                    let key2 = key.clone();
                    // A spawned task finishes (and leaves the map) even if every waiting client goes away.
                    let task = tokio::spawn(async move {
                        let _leave = LeaveFlight { engine: this.clone(), key: Some(key2), id };
                        Arc::new(this.run(&ctx, &filter).await)
                    });
                    let result = async move {
                        match task.await {
                            Ok(res) => res,
                            Err(e) => Arc::new(ScrapeResult {
                                families: Vec::new(),
                                outcomes: vec![CollectorOutcome {
                                    name: "scrape",
                                    duration: Duration::ZERO,
                                    error: Some(Arc::new(CollectError::Other(format!("scrape task failed: {e}")))),
                                }],
                            }),
                        }
                    }
                    .boxed()
                    .shared();
                    map.insert(key, Flight { id, deadline, result: result.clone() });
                    result
                }
            }
        };
        flight.await
    }

    /// Runs the filtered collectors concurrently without single-flight.
    pub async fn run(&self, ctx: &ScrapeContext, filter: &Filter) -> ScrapeResult {
        let selected = self.collectors.iter().filter(|c| match filter {
            Filter::All => true,
            Filter::Only(names) => names.iter().any(|n| n == c.name),
            Filter::Except(names) => !names.iter().any(|n| n == c.name),
        });
        let mut slots: Vec<Slot> = selected
            .map(|c| Slot { collector: c, snap: Snapshot::new(), duration: Duration::ZERO, res: None })
            .collect();
        let budget = ctx.remaining();
        let start = Instant::now();
        {
            // One timer for the whole scrape rather than one per collector: every timer a scrape registers wakes
            // the runtime's driver once more (an eventfd write and an epoll round per collector).
            let mut runs: Vec<Option<Pin<Box<_>>>> =
                slots.iter_mut().map(|slot| Some(Box::pin(run_one(slot, ctx)))).collect();
            // Every collector is polled under the scrape task's own waker (not one waker each, as in
            // `FuturesUnordered`), and each wake-up polls those still running: a collector's wake-up from another
            // thread is an eventfd write and an epoll round, and the collector lane wakes each task only once for
            // all the collections it finished (`collector::Blocking`). A scrape has tens of collectors, so polling
            // them all costs less than one wake-up more.
            let all = std::future::poll_fn(|cx| {
                // The blocking collectors started in this poll wake the lane once, after the last one is queued.
                let _pushes = crate::collector::LanePushes::hold();
                let mut running = false;
                for run in runs.iter_mut() {
                    if let Some(fut) = run {
                        if fut.as_mut().poll(cx).is_ready() {
                            *run = None;
                        } else {
                            running = true;
                        }
                    }
                }
                if running { Poll::Pending } else { Poll::Ready(()) }
            });
            let _ = tokio::time::timeout_at(ctx.deadline.into(), all).await;
            // Dropping `runs` here cancels whatever did not finish; its slots keep what it wrote so far.
        }
        // Room for every family up front, so merging thirty collectors does not grow (and rehash) the name index
        // step by step.
        let mut unmerged: usize = slots.iter().map(|slot| slot.snap.families().len()).sum();
        let results = slots.into_iter().map(|slot| {
            let (duration, res) = match slot.res {
                Some(res) => (slot.duration, res),
                None => (start.elapsed(), Err(CollectError::Timeout(budget))),
            };
            (slot.collector.name, slot.snap, duration, res)
        });

        let mut snapshot = Snapshot::new();
        let mut outcomes = Vec::with_capacity(results.len());
        for (name, snap, duration, res) in results {
            let first = snapshot.is_empty();
            unmerged = unmerged.saturating_sub(snap.families().len());
            for conflict in snapshot.merge(snap) {
                tracing::warn!(collector = name, metric = %conflict, "metric already exported with another type; dropped");
            }
            if first && !snapshot.is_empty() {
                // The first non-empty one was taken whole (see `Snapshot::merge`); make room for the rest.
                snapshot.reserve(unmerged);
            }
            let error = match res {
                Ok(()) => None,
                Err(e) => {
                    if e.is_no_data() {
                        tracing::debug!(collector = name, error = %bounded(&e), "collector returned no data");
                    } else {
                        tracing::error!(collector = name, error = %bounded(&e), "collector failed");
                    }
                    Some(Arc::new(e))
                }
            };
            outcomes.push(CollectorOutcome { name, duration, error });
        }
        if self.collector_metrics {
            self.add_collector_metrics(&mut snapshot, &outcomes);
        }
        ScrapeResult { families: snapshot.into_sorted(), outcomes }
    }

    fn add_collector_metrics(&self, snapshot: &mut Snapshot, outcomes: &[CollectorOutcome]) {
        let ns = &self.namespace;
        let dur = snapshot.gauge(
            format!("{ns}_scrape_collector_duration_seconds"),
            format!("{ns}_exporter: Duration of a collector scrape."),
        );
        for o in outcomes {
            dur.sample(&[("collector", o.name)], o.duration.as_secs_f64());
        }
        let ok = snapshot
            .gauge(format!("{ns}_scrape_collector_success"), format!("{ns}_exporter: Whether a collector succeeded."));
        for o in outcomes {
            ok.sample(&[("collector", o.name)], if o.error.is_none() { 1.0 } else { 0.0 });
        }
    }
}

/// The longest error text logged, in characters. Parsers quote what they could not parse; a line of garbage
/// megabytes long must not be written to the log on every scrape.
const MAX_LOGGED_ERROR: usize = 300;

/// `e` as logged: cut to [`MAX_LOGGED_ERROR`] characters, saying how long it was.
fn bounded(e: &CollectError) -> String {
    let text = e.to_string();
    match text.char_indices().nth(MAX_LOGGED_ERROR) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text,
    }
}

/// Removes a flight from the map when its task ends, however it ends.
struct LeaveFlight {
    engine: Arc<Engine>,
    key: Option<FlightKey>,
    id: u64,
}

impl Drop for LeaveFlight {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut map = self.engine.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            // A later flight may have taken the key meanwhile; it is not ours to remove.
            if map.get(&key).is_some_and(|f| f.id == self.id) {
                map.remove(&key);
            }
        }
    }
}

/// One collector's place in a scrape: its output so far and, once it finished, how.
struct Slot<'a> {
    collector: &'a NamedCollector,
    snap: Snapshot,
    duration: Duration,
    /// `None` while running (and after the deadline cut it short).
    res: Option<Result<(), CollectError>>,
}

async fn run_one(slot: &mut Slot<'_>, ctx: &ScrapeContext) {
    let start = Instant::now();
    // A panicking collector is a bug, but it must cost only its own output, not the scrape.
    let guarded =
        std::panic::AssertUnwindSafe(slot.collector.collector.collect_timed(ctx, &mut slot.snap)).catch_unwind();
    let (res, took) = match guarded.await {
        Ok(done) => done,
        Err(_) => (Err(CollectError::Other("collector panicked".into())), start.elapsed()),
    };
    slot.duration = took;
    slot.res = Some(res);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::{BlockingCollector, CollectFuture, blocking};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Fixed(f64);
    impl Collector for Fixed {
        fn collect<'a>(&'a self, _: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a> {
            Box::pin(async move {
                out.gauge("test_value", "A value.").sample(&[], self.0);
                Ok(())
            })
        }
    }

    struct Hang;
    impl Collector for Hang {
        fn collect<'a>(&'a self, _: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a> {
            Box::pin(async move {
                out.gauge("test_partial", "Written before hanging.").sample(&[], 1.0);
                futures::future::pending::<()>().await;
                Ok(())
            })
        }
    }

    struct Fail;
    impl Collector for Fail {
        fn collect<'a>(&'a self, _: &'a ScrapeContext, _: &'a mut Snapshot) -> CollectFuture<'a> {
            Box::pin(async { Err(CollectError::Parse("bad".into())) })
        }
    }

    struct StuckFile;
    impl BlockingCollector for StuckFile {
        fn collect(&self, _: &ScrapeContext, _: &mut Snapshot) -> Result<(), CollectError> {
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        }
    }

    struct QuickFile;
    impl BlockingCollector for QuickFile {
        fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
            out.gauge("test_quick", "Read quickly.").sample(&[], 1.0);
            Ok(())
        }
    }

    struct PanicFile;
    impl BlockingCollector for PanicFile {
        fn collect(&self, _: &ScrapeContext, _: &mut Snapshot) -> Result<(), CollectError> {
            panic!("a bug in a blocking collector")
        }
    }

    #[tokio::test]
    async fn a_panicking_blocking_collector_fails_alone() {
        let engine = Arc::new(Engine::new(
            "test",
            vec!["panics", "quick"],
            vec![named("panics", blocking(PanicFile)), named("quick", blocking(QuickFile))],
        ));
        for _ in 0..2 {
            let res = engine.scrape(ScrapeContext::with_timeout(Duration::from_secs(5)), Filter::All).await;
            assert_eq!(success(&res, "panics"), 0.0);
            assert_eq!(success(&res, "quick"), 1.0);
        }
    }

    #[tokio::test]
    async fn blocking_collectors_queued_behind_a_hung_one_still_run() {
        let engine = Arc::new(Engine::new(
            "test",
            vec!["stuck", "quick1", "quick2"],
            vec![
                named("stuck", blocking(StuckFile)),
                named("quick1", blocking(QuickFile)),
                named("quick2", blocking(QuickFile)),
            ],
        ));
        let start = Instant::now();
        let res = engine.scrape(ScrapeContext::with_timeout(Duration::from_millis(800)), Filter::All).await;
        assert!(start.elapsed() < Duration::from_millis(1500), "scrape took {:?}", start.elapsed());
        assert_eq!(success(&res, "stuck"), 0.0);
        assert_eq!(success(&res, "quick1"), 1.0);
        assert_eq!(success(&res, "quick2"), 1.0);
        // And while the lane is still stuck, the next scrape does not wait for it at all.
        let res = engine.scrape(ScrapeContext::with_timeout(Duration::from_millis(800)), Filter::All).await;
        assert_eq!(success(&res, "quick1"), 1.0);
    }

    #[tokio::test]
    async fn collectors_finished_before_a_hung_one_are_delivered_by_the_deadline() {
        // The lane runs blocking collectors in turn: `quick1` finishes before `stuck` takes the lane and hangs.
        let engine = Arc::new(Engine::new(
            "test",
            vec!["quick1", "stuck", "quick2", "quick3"],
            vec![
                named("quick1", blocking(QuickFile)),
                named("stuck", blocking(StuckFile)),
                named("quick2", blocking(QuickFile)),
                named("quick3", blocking(QuickFile)),
            ],
        ));
        let start = Instant::now();
        let res = engine.scrape(ScrapeContext::with_timeout(Duration::from_millis(600)), Filter::All).await;
        assert!(start.elapsed() < Duration::from_millis(1500), "scrape took {:?}", start.elapsed());
        assert_eq!(success(&res, "stuck"), 0.0);
        for quick in ["quick1", "quick2", "quick3"] {
            assert_eq!(success(&res, quick), 1.0, "{quick}");
            // Announced once the hung one had held the lane for the patience, not at the deadline.
            let took = res.outcomes.iter().find(|o| o.name == quick).expect("outcome").duration;
            assert!(took < Duration::from_millis(400), "{quick} took {took:?}");
        }
        let quick = res.families.iter().find(|f| f.name == "test_quick").expect("the quick collectors' samples");
        assert_eq!(quick.samples.len(), 1, "three identical samples merged into one");
    }

    struct SlowFile(Duration);
    impl BlockingCollector for SlowFile {
        fn collect(&self, _: &ScrapeContext, _: &mut Snapshot) -> Result<(), CollectError> {
            std::thread::sleep(self.0);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_blocking_collectors_duration_is_its_own_run() {
        // Queued behind a slow one, the quick collector waits at least 40 ms (on the lane, or until the watch gives
        // it a thread after the lane's patience), but its duration, like node_exporter's, is its own work.
        let engine = Engine::new(
            "test",
            vec!["slow", "quick"],
            vec![named("slow", blocking(SlowFile(Duration::from_millis(80)))), named("quick", blocking(QuickFile))],
        );
        let res = engine.run(&ScrapeContext::with_timeout(Duration::from_secs(5)), &Filter::All).await;
        let took = |name: &str| res.outcomes.iter().find(|o| o.name == name).expect("outcome").duration;
        assert!(took("slow") >= Duration::from_millis(80), "slow took {:?}", took("slow"));
        assert!(took("quick") < Duration::from_millis(40), "quick took {:?}", took("quick"));
    }

    #[tokio::test]
    async fn the_lane_is_watched_again_after_a_stall_ends() {
        let engine = Arc::new(Engine::new(
            "test",
            vec!["slow", "quick"],
            vec![named("slow", blocking(SlowFile(Duration::from_millis(300)))), named("quick", blocking(QuickFile))],
        ));
        for round in 0..3 {
            let res = engine.scrape(ScrapeContext::with_timeout(Duration::from_millis(200)), Filter::All).await;
            assert_eq!((success(&res, "slow"), success(&res, "quick")), (0.0, 1.0), "round {round}");
            // Let the slow one finish: the next round's slow collector holds the lane afresh.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    #[tokio::test]
    async fn a_scrape_of_many_blocking_collectors_wakes_rarely() {
        let names: Vec<&'static str> = (0..30).map(|i| &*format!("q{i}").leak()).collect();
        let engine = Engine::new("test", names.clone(), names.iter().map(|n| named(n, blocking(QuickFile))).collect());
        let ctx = ScrapeContext::with_timeout(Duration::from_secs(5));
        let mut polls = 0;
        let mut run = std::pin::pin!(engine.run(&ctx, &Filter::All));
        let res = std::future::poll_fn(|cx| {
            polls += 1;
            run.as_mut().poll(cx)
        })
        .await;
        assert!(res.outcomes.iter().all(|o| o.error.is_none()));
        // One poll to start and one when the lane has run them all (a third only if a collection held the lane
        // past its patience on a loaded machine; not thirty).
        assert!(polls <= 3, "polled {polls} times");
    }

    struct Counting(Arc<AtomicUsize>);
    impl Collector for Counting {
        fn collect<'a>(&'a self, _: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a> {
            Box::pin(async move {
                self.0.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                out.gauge("test_count", "").sample(&[], 1.0);
                Ok(())
            })
        }
    }

    fn named(name: &'static str, c: Box<dyn Collector>) -> NamedCollector {
        NamedCollector { name, collector: Arc::from(c) }
    }

    fn success(res: &ScrapeResult, name: &str) -> f64 {
        let fam = res.families.iter().find(|f| f.name == "test_scrape_collector_success").expect("success metric");
        let s = fam.samples.iter().find(|s| s.labels[0].1 == name).expect("collector sample");
        match s.value {
            crate::model::Value::Scalar(v) => v,
            _ => f64::NAN,
        }
    }

    #[test]
    fn logged_errors_are_bounded() {
        let short = CollectError::Parse("meminfo: malformed line \"x\"".into());
        assert_eq!(bounded(&short), short.to_string());
        let long = CollectError::Parse(format!("meminfo: malformed line {:?}", "é".repeat(1_000_000)));
        let logged = bounded(&long);
        assert_eq!(logged.chars().count(), MAX_LOGGED_ERROR + " (2000026 bytes in all)".len() + 1, "{logged:.80}");
        assert!(logged.starts_with("meminfo: malformed line \"éé") && logged.ends_with("… (2000026 bytes in all)"));
    }

    #[tokio::test]
    async fn slow_and_failing_collectors_give_partial_output_in_time() {
        let engine = Arc::new(Engine::new(
            "test",
            vec!["fixed", "hang", "fail", "stuck"],
            vec![
                named("fixed", Box::new(Fixed(3.0))),
                named("hang", Box::new(Hang)),
                named("fail", Box::new(Fail)),
                named("stuck", blocking(StuckFile)),
            ],
        ));
        let start = Instant::now();
        let res = engine.scrape(ScrapeContext::with_timeout(Duration::from_millis(300)), Filter::All).await;
        assert!(start.elapsed() < Duration::from_secs(2), "scrape took {:?}", start.elapsed());
        assert_eq!(success(&res, "fixed"), 1.0);
        assert_eq!(success(&res, "hang"), 0.0);
        assert_eq!(success(&res, "fail"), 0.0);
        assert_eq!(success(&res, "stuck"), 0.0);
        assert!(res.families.iter().any(|f| f.name == "test_value"));
        assert!(
            res.families.iter().any(|f| f.name == "test_partial"),
            "partial output of a timed-out collector is kept"
        );
        assert!(matches!(
            res.outcomes.iter().find(|o| o.name == "hang").and_then(|o| o.error.as_deref()),
            Some(CollectError::Timeout(_))
        ));
    }

    #[tokio::test]
    async fn concurrent_scrapes_share_one_collection() {
        let count = Arc::new(AtomicUsize::new(0));
        let engine = Arc::new(Engine::new("test", vec!["c"], vec![named("c", Box::new(Counting(count.clone())))]));
        let ctx = ScrapeContext::with_timeout(Duration::from_secs(5));
        let (a, b, c) = tokio::join!(
            engine.scrape(ctx.clone(), Filter::All),
            engine.scrape(ctx.clone(), Filter::All),
            engine.scrape(ctx.clone(), Filter::All)
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&b, &c));
        // Once finished, the next scrape collects afresh.
        engine.scrape(ctx.clone(), Filter::All).await;
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // Different probe parameters are different scrapes, even for the same target.
        let with = |p: &str| ScrapeContext {
            target: Some(Arc::from("t")),
            params: Arc::new(vec![("module".into(), p.into())]),
            ..ctx.clone()
        };
        tokio::join!(engine.scrape(with("a"), Filter::All), engine.scrape(with("b"), Filter::All));
        assert_eq!(count.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_long_scrape_in_flight_does_not_hold_a_shorter_one() {
        let engine = Arc::new(Engine::new(
            "test",
            vec!["fixed", "hang"],
            vec![named("fixed", Box::new(Fixed(3.0))), named("hang", Box::new(Hang))],
        ));
        // A request with an hour's timeout starts a collection that will hang for that hour.
        let long = tokio::spawn({
            let engine = engine.clone();
            async move { engine.scrape(ScrapeContext::with_timeout(Duration::from_secs(3600)), Filter::All).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Later scrapes with a short timeout do not join it: each answers by its own deadline.
        for _ in 0..2 {
            let start = Instant::now();
            let short = engine.scrape(ScrapeContext::with_timeout(Duration::from_millis(200)), Filter::All);
            let res = tokio::time::timeout(Duration::from_secs(5), short).await.expect("answered by its own deadline");
            assert!(start.elapsed() < Duration::from_secs(2), "scrape took {:?}", start.elapsed());
            assert_eq!((success(&res, "fixed"), success(&res, "hang")), (1.0, 0.0));
        }
        // The long one still runs for its own waiter.
        assert!(!long.is_finished());
        long.abort();
    }

    #[tokio::test]
    async fn filters() {
        let engine = Arc::new(Engine::new(
            "test",
            vec!["a", "b", "off"],
            vec![named("a", Box::new(Fixed(1.0))), named("b", Box::new(Fail))],
        ));
        assert_eq!(engine.filter(vec![], vec![]), Ok(Filter::All));
        assert_eq!(engine.filter(vec!["x".into()], vec![]), Err(FilterError::Missing("x".into())));
        assert_eq!(engine.filter(vec!["off".into()], vec![]), Err(FilterError::Disabled("off".into())));
        assert_eq!(engine.filter(vec!["a".into()], vec!["b".into()]), Err(FilterError::Both));
        let only_a = engine.filter(vec!["a".into()], vec![]).expect("valid filter");
        let res = engine.scrape(ScrapeContext::with_timeout(Duration::from_secs(1)), only_a).await;
        assert_eq!(res.outcomes.len(), 1);
        let not_a = engine.filter(vec![], vec!["a".into()]).expect("valid filter");
        let res = engine.scrape(ScrapeContext::with_timeout(Duration::from_secs(1)), not_a).await;
        assert_eq!(res.outcomes.len(), 1);
        assert_eq!(res.outcomes[0].name, "b");
    }
}
