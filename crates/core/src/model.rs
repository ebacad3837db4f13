//! The metric model: the plain snapshot that collectors fill and encoders write.
//!
//! A [`Snapshot`] is a list of [`MetricFamily`] values. It holds no locks, handles or I/O: collectors finish all
//! their I/O, fill a snapshot, and the encoders in [`crate::encode`] turn it into bytes afterwards.

use std::borrow::Cow;
use std::collections::HashMap;

/// The type of a metric family, as the Prometheus text format names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// A monotonically increasing value. The name is kept exactly as given (no `_total` is added).
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// A value of unknown type (`untyped` in text 0.0.4, `unknown` in OpenMetrics).
    Untyped,
    /// Cumulative buckets, a sum and a count.
    Histogram,
    /// Quantiles, a sum and a count.
    Summary,
}

impl MetricType {
    /// The type's name in the Prometheus text format 0.0.4.
    pub fn as_text(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

impl std::fmt::Display for MetricType {
    /// Writes the type's text format name ([`MetricType::as_text`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_text())
    }
}

/// The value of a histogram sample.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramValue {
    /// `(upper bound, cumulative count)` pairs in ascending order of bound. The `+Inf` bucket is implied by `count`
    /// and must not be listed.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// The value of a summary sample.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SummaryValue {
    /// `(quantile, value)` pairs, quantiles between 0 and 1.
    pub quantiles: Vec<(f64, f64)>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// The value of one sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter, gauge or untyped value.
    Scalar(f64),
    /// A histogram.
    Histogram(HistogramValue),
    /// A summary.
    Summary(SummaryValue),
}

/// One label: name and value.
pub type Label = (Cow<'static, str>, String);

/// One sample of a family: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label pairs in the order they are written.
    pub labels: Vec<Label>,
    /// The value.
    pub value: Value,
}

/// A metric family: name, help, type and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The metric name, exactly as exposed.
    pub name: Cow<'static, str>,
    /// The HELP text (unescaped).
    pub help: Cow<'static, str>,
    /// The type.
    pub metric_type: MetricType,
    /// The samples.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// A new family with no samples.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        metric_type: MetricType,
    ) -> Self {
        MetricFamily { name: name.into(), help: help.into(), metric_type, samples: Vec::new() }
    }

    /// Adds a scalar sample with static label names.
    pub fn sample(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        let labels = labels.iter().map(|(k, v)| (Cow::Borrowed(*k), (*v).to_owned())).collect();
        self.samples.push(Sample { labels, value: Value::Scalar(value) });
        self
    }

    /// Adds a scalar sample whose label names are only known at run time (e.g. textfile metrics).
    pub fn sample_owned(&mut self, labels: Vec<(String, String)>, value: f64) -> &mut Self {
        let labels = labels.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect();
        self.samples.push(Sample { labels, value: Value::Scalar(value) });
        self
    }

    /// Adds a sample with any value and prepared labels.
    pub fn push(&mut self, labels: Vec<Label>, value: Value) -> &mut Self {
        self.samples.push(Sample { labels, value });
        self
    }

    /// Adds a histogram sample.
    pub fn histogram(&mut self, labels: &[(&'static str, &str)], value: HistogramValue) -> &mut Self {
        let labels = labels.iter().map(|(k, v)| (Cow::Borrowed(*k), (*v).to_owned())).collect();
        self.push(labels, Value::Histogram(value))
    }

    /// Adds a summary sample.
    pub fn summary(&mut self, labels: &[(&'static str, &str)], value: SummaryValue) -> &mut Self {
        let labels = labels.iter().map(|(k, v)| (Cow::Borrowed(*k), (*v).to_owned())).collect();
        self.push(labels, Value::Summary(value))
    }
}

/// What one collector (or one whole scrape) produced: a list of families, each name at most once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    families: Vec<MetricFamily>,
    /// Keyed with a fast seeded hasher: the index is hit for every family a collector writes, and SipHash was a
    /// tenth of a node scrape's user time.
    index: HashMap<Cow<'static, str>, usize, foldhash::fast::RandomState>,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// The family called `name`, created with `help` and `metric_type` if it does not exist yet.
    ///
    /// If it exists with another type, the existing family is returned unchanged: the first writer wins, so a
    /// snapshot never holds one name twice.
    pub fn family(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        metric_type: MetricType,
    ) -> &mut MetricFamily {
        let name = name.into();
        let idx = match self.index.get(&name) {
            Some(&i) => i,
            None => {
                let i = self.families.len();
                self.index.insert(name.clone(), i);
                self.families.push(MetricFamily::new(name, help, metric_type));
                i
            }
        };
        &mut self.families[idx]
    }

    /// Shorthand for a counter family.
    pub fn counter(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> &mut MetricFamily {
        self.family(name, help, MetricType::Counter)
    }

    /// Shorthand for a gauge family.
    pub fn gauge(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> &mut MetricFamily {
        self.family(name, help, MetricType::Gauge)
    }

    /// Shorthand for an untyped family.
    pub fn untyped(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> &mut MetricFamily {
        self.family(name, help, MetricType::Untyped)
    }

    /// Moves every family of `other` into this snapshot, appending samples to families of the same name and type.
    /// A family whose name exists here with another type is dropped and its name returned, so the caller can log it.
    pub fn merge(&mut self, other: Snapshot) -> Vec<String> {
        if self.families.is_empty() {
            // Nothing to merge with (an engine's first or only collector): take it whole, index included.
            *self = other;
            return Vec::new();
        }
        let mut conflicts = Vec::new();
        self.reserve(other.families.len());
        for fam in other.families {
            match self.index.get(&fam.name) {
                Some(&i) if self.families[i].metric_type == fam.metric_type => {
                    self.families[i].samples.extend(fam.samples)
                }
                Some(_) => conflicts.push(fam.name.into_owned()),
                None => {
                    self.index.insert(fam.name.clone(), self.families.len());
                    self.families.push(fam);
                }
            }
        }
        conflicts
    }

    /// Makes room for `additional` more families, so that a collector that knows roughly how many it writes
    /// does not grow (and rehash) the name index step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.families.reserve(additional);
        self.index.reserve(additional);
    }

    /// The families in insertion order.
    pub fn families(&self) -> &[MetricFamily] {
        &self.families
    }

    /// The family called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&MetricFamily> {
        self.index.get(name).map(|&i| &self.families[i])
    }

    /// Whether the snapshot has no families.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// Consumes the snapshot and returns its families.
    pub fn into_families(self) -> Vec<MetricFamily> {
        self.families
    }

    /// Sorts families by name and samples by label values, drops empty families and duplicate samples (same label
    /// set; the first wins), so the output is deterministic and Prometheus never rejects it as a whole.
    pub fn into_sorted(self) -> Vec<MetricFamily> {
        let mut families: Vec<MetricFamily> = self.families.into_iter().filter(|f| !f.samples.is_empty()).collect();
        families.sort_by(|a, b| a.name.cmp(&b.name));
        for fam in &mut families {
            // An invalid label name (from target data) is renamed before dedup, so it can neither be written
            // nor, by being dropped later, turn two samples into duplicates.
            for sample in &mut fam.samples {
                for (name, _) in &mut sample.labels {
                    if !is_valid_label_name(name) {
                        *name = Cow::Owned(sanitize_name(name));
                    }
                }
            }
            fam.samples.sort_by(|a, b| cmp_labels(&a.labels, &b.labels));
            fam.samples.dedup_by(|later, earlier| same_label_set(&later.labels, &earlier.labels));
        }
        families
    }
}

fn cmp_labels(a: &[Label], b: &[Label]) -> std::cmp::Ordering {
    a.iter().map(|(_, v)| v.as_str()).cmp(b.iter().map(|(_, v)| v.as_str()))
}

fn same_label_set(a: &[Label], b: &[Label]) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
}

/// Whether `name` is a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `name` is a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Turns arbitrary text into a valid metric or label name fragment: every byte outside `[a-zA-Z0-9_]` becomes `_`,
/// and a leading digit gets a `_` in front. Used for names built from target data (e.g. mntr keys, hwmon chips).
pub fn sanitize_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 1);
    if raw.bytes().next().is_none_or(|b| b.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_type_displays_as_text() {
        assert_eq!(MetricType::Histogram.to_string(), "histogram");
        assert_eq!(format!("{}", MetricType::Untyped), MetricType::Untyped.as_text());
    }

    #[test]
    fn family_is_created_once_and_first_type_wins() {
        let mut s = Snapshot::new();
        s.gauge("a", "help").sample(&[], 1.0);
        s.counter("a", "other").sample(&[], 2.0);
        assert_eq!(s.families().len(), 1);
        assert_eq!(s.families()[0].metric_type, MetricType::Gauge);
        assert_eq!(s.families()[0].samples.len(), 2);
    }

    #[test]
    fn merge_into_an_empty_snapshot_keeps_the_index() {
        let mut other = Snapshot::new();
        other.gauge("a", "").sample(&[], 1.0);
        other.counter("b", "").sample(&[], 2.0);
        let mut s = Snapshot::new();
        s.reserve(8);
        assert!(s.merge(other).is_empty());
        assert_eq!(s.get("b").map(|f| f.samples.len()), Some(1));
        s.gauge("a", "").sample(&[("l", "v")], 3.0);
        assert_eq!(s.families().len(), 2);
        assert_eq!(s.get("a").map(|f| f.samples.len()), Some(2));
    }

    #[test]
    fn merge_reports_type_conflicts() {
        let mut a = Snapshot::new();
        a.gauge("x", "").sample(&[], 1.0);
        let mut b = Snapshot::new();
        b.counter("x", "").sample(&[], 1.0);
        b.gauge("y", "").sample(&[], 1.0);
        assert_eq!(a.merge(b), vec!["x".to_string()]);
        assert!(a.get("y").is_some());
    }

    #[test]
    fn sorted_output_drops_duplicates_and_empty_families() {
        let mut s = Snapshot::new();
        s.gauge("b", "").sample(&[("l", "2")], 2.0).sample(&[("l", "1")], 1.0).sample(&[("l", "1")], 9.0);
        s.gauge("a", "");
        let out = s.into_sorted();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].samples.len(), 2);
        assert_eq!(out[0].samples[0].value, Value::Scalar(1.0));
    }

    #[test]
    fn names() {
        assert!(is_valid_metric_name("node_cpu_seconds_total"));
        assert!(is_valid_metric_name("a:b"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name(""));
        assert!(!is_valid_label_name("a:b"));
        assert_eq!(sanitize_name("foo-bar.baz"), "foo_bar_baz");
        assert_eq!(sanitize_name("9x"), "_9x");
        assert_eq!(sanitize_name(""), "_");
    }
}
