//! The metric model: the plain snapshot that collectors fill and encoders write.
//!
//! A [`Snapshot`] is a list of [`MetricFamily`] values. It holds no locks, handles or I/O: collectors finish all
//! their I/O, fill a snapshot, and the encoders in [`crate::encode`] turn it into bytes afterwards.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

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
///
/// A `Cow::Borrowed` name is a `&'static str` from our own code and is trusted to be valid (checked by debug
/// assertions where samples are added); a `Cow::Owned` name may come from target data and is checked where the
/// snapshot is sorted and where it is encoded.
pub type Label = (Cow<'static, str>, LabelValue);

/// How many bytes a [`LabelValue`] holds without a heap allocation.
const INLINE_CAPACITY: usize = 22;

/// A label value: an immutable string stored inline, without an allocation, up to
/// [`LabelValue::INLINE_CAPACITY`] bytes, and on the heap beyond.
///
/// Nearly every label value of a scrape is short (`"0"`, `"user"`, `"eth0"`, `"/"`), and a scrape writes
/// thousands of them: one allocation (and free) each was a tenth of a node scrape's CPU. It is as big as a
/// `String` (24 bytes), dereferences to `str`, and converts from `&str` and `String`, so most code reads and builds
/// it as it would a string.
#[derive(Clone)]
pub struct LabelValue(Repr);

#[derive(Clone)]
enum Repr {
    /// `len` bytes of `bytes` are the value, valid UTF-8 (they are copied from a `str`).
    Inline {
        len: u8,
        bytes: [u8; INLINE_CAPACITY],
    },
    Heap(Box<str>),
}

impl LabelValue {
    /// The longest value (in bytes) that is stored inline.
    pub const INLINE_CAPACITY: usize = INLINE_CAPACITY;

    /// A value holding a copy of `s`; no allocation when `s` is at most [`Self::INLINE_CAPACITY`] bytes.
    pub fn new(s: &str) -> Self {
        match Self::inline(s) {
            Some(v) => v,
            None => LabelValue(Repr::Heap(s.into())),
        }
    }

    /// `s` stored inline, if it fits.
    fn inline(s: &str) -> Option<Self> {
        let len = u8::try_from(s.len()).ok().filter(|&n| usize::from(n) <= INLINE_CAPACITY)?;
        let mut bytes = [0u8; INLINE_CAPACITY];
        bytes.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        Some(LabelValue(Repr::Inline { len, bytes }))
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { .. } => {
                let bytes = self.as_bytes();
                debug_assert!(std::str::from_utf8(bytes).is_ok());
                // SAFETY: an inline value is only made by `inline`, which copies a whole `&str` (all of its bytes,
                // so no character is cut) and sets `len` to its length, or by `default` (empty); the fields are
                // private and never changed afterwards. So `bytes` is valid UTF-8. Checking it again on every read
                // (`str::from_utf8`) was 0.8 % of a node scrape's instructions: the value is read to sort and to
                // write every sample. `label_values_inline_short_strings_and_behave_as_str` tests multi-byte text.
                #[allow(unsafe_code)]
                unsafe {
                    std::str::from_utf8_unchecked(bytes)
                }
            }
            Repr::Heap(s) => s,
        }
    }

    /// The value's UTF-8 bytes (without the check [`Self::as_str`] makes for an inline value).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    /// Whether the value is stored inline (no heap allocation).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

impl Default for LabelValue {
    /// The empty value.
    fn default() -> Self {
        LabelValue(Repr::Inline { len: 0, bytes: [0; INLINE_CAPACITY] })
    }
}

impl std::ops::Deref for LabelValue {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for LabelValue {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for LabelValue {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for LabelValue {
    fn from(s: &str) -> Self {
        LabelValue::new(s)
    }
}

impl From<&String> for LabelValue {
    fn from(s: &String) -> Self {
        LabelValue::new(s)
    }
}

impl From<String> for LabelValue {
    /// Short strings are copied inline (and `s` freed); longer ones keep their buffer (shrunk to fit).
    fn from(s: String) -> Self {
        match Self::inline(&s) {
            Some(v) => v,
            None => LabelValue(Repr::Heap(s.into_boxed_str())),
        }
    }
}

impl From<Cow<'_, str>> for LabelValue {
    fn from(s: Cow<'_, str>) -> Self {
        match s {
            Cow::Borrowed(s) => LabelValue::new(s),
            Cow::Owned(s) => LabelValue::from(s),
        }
    }
}

impl From<LabelValue> for String {
    fn from(v: LabelValue) -> Self {
        match v.0 {
            Repr::Heap(s) => s.into_string(),
            Repr::Inline { .. } => v.as_str().to_owned(),
        }
    }
}

impl PartialEq for LabelValue {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for LabelValue {}

impl PartialOrd for LabelValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LabelValue {
    /// The order of `str` (byte-wise, which for UTF-8 is the order of code points).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for LabelValue {
    /// Hashes as the `str` does, so that `Borrow<str>` lookups in hash maps work.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for LabelValue {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for LabelValue {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<String> for LabelValue {
    fn eq(&self, other: &String) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<LabelValue> for str {
    fn eq(&self, other: &LabelValue) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<LabelValue> for &str {
    fn eq(&self, other: &LabelValue) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<LabelValue> for String {
    fn eq(&self, other: &LabelValue) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Display for LabelValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for LabelValue {
    /// Like a `str`'s: quoted and escaped.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// How many labels a [`Labels`] holds without a heap allocation.
const INLINE_LABELS: usize = 1;

/// The labels of one sample, in the order they are written: up to [`Labels::INLINE_CAPACITY`] of them stored
/// inline, more in a `Vec`.
///
/// Most labelled samples have one label; an allocation per sample for it was a tenth of the allocations of a node
/// scrape. One inline label, not two: the sample stays small (104 bytes, against 72 with a `Vec` and 152 with two
/// inline), which measured fewer instructions and less memory than two (docs/benchmarks.md). It dereferences to
/// `[Label]`, and converts from a `Vec<Label>`, an array and an iterator of labels.
#[derive(Clone)]
pub struct Labels(LabelsRepr);

#[derive(Clone)]
enum LabelsRepr {
    /// The first `len` entries are the labels; the others are empty placeholders.
    Inline {
        len: u8,
        labels: [Label; INLINE_LABELS],
    },
    Heap(Vec<Label>),
}

/// An unused inline slot of [`Labels`].
const EMPTY_LABEL: Label = (Cow::Borrowed(""), LabelValue(Repr::Inline { len: 0, bytes: [0; INLINE_CAPACITY] }));

impl Labels {
    /// How many labels are stored inline.
    pub const INLINE_CAPACITY: usize = INLINE_LABELS;

    /// No labels.
    pub const fn new() -> Self {
        Labels(LabelsRepr::Inline { len: 0, labels: [EMPTY_LABEL; INLINE_LABELS] })
    }

    /// Appends a label.
    pub fn push(&mut self, label: Label) {
        match &mut self.0 {
            LabelsRepr::Inline { len, labels } => match labels.get_mut(usize::from(*len)) {
                Some(slot) => {
                    *slot = label;
                    *len += 1;
                }
                None => {
                    let mut v = Vec::with_capacity(INLINE_LABELS * 2);
                    v.extend(std::mem::replace(labels, [EMPTY_LABEL; INLINE_LABELS]));
                    v.push(label);
                    self.0 = LabelsRepr::Heap(v);
                }
            },
            LabelsRepr::Heap(v) => v.push(label),
        }
    }

    /// The labels as a slice.
    pub fn as_slice(&self) -> &[Label] {
        match &self.0 {
            LabelsRepr::Inline { len, labels } => labels.get(..usize::from(*len)).unwrap_or_default(),
            LabelsRepr::Heap(v) => v,
        }
    }

    /// The labels as a mutable slice (to rename or change values in place).
    pub fn as_mut_slice(&mut self) -> &mut [Label] {
        match &mut self.0 {
            LabelsRepr::Inline { len, labels } => labels.get_mut(..usize::from(*len)).unwrap_or_default(),
            LabelsRepr::Heap(v) => v,
        }
    }

    /// Whether the labels are stored inline (no heap allocation).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, LabelsRepr::Inline { .. })
    }
}

impl Default for Labels {
    /// No labels.
    fn default() -> Self {
        Labels::new()
    }
}

impl std::ops::Deref for Labels {
    type Target = [Label];

    fn deref(&self) -> &[Label] {
        self.as_slice()
    }
}

impl std::ops::DerefMut for Labels {
    fn deref_mut(&mut self) -> &mut [Label] {
        self.as_mut_slice()
    }
}

impl From<Vec<Label>> for Labels {
    /// Keeps the `Vec` (already allocated) as it is.
    fn from(v: Vec<Label>) -> Self {
        Labels(LabelsRepr::Heap(v))
    }
}

impl<const N: usize> From<[Label; N]> for Labels {
    fn from(a: [Label; N]) -> Self {
        a.into_iter().collect()
    }
}

impl FromIterator<Label> for Labels {
    fn from_iter<I: IntoIterator<Item = Label>>(iter: I) -> Self {
        let iter = iter.into_iter();
        if iter.size_hint().0 > INLINE_LABELS {
            return Labels(LabelsRepr::Heap(iter.collect()));
        }
        let mut out = Labels::new();
        for l in iter {
            out.push(l);
        }
        out
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a> IntoIterator for &'a mut Labels {
    type Item = &'a mut Label;
    type IntoIter = std::slice::IterMut<'a, Label>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

impl PartialEq for Labels {
    /// Equal when the label lists are, however they are stored.
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<[Label]> for Labels {
    fn eq(&self, other: &[Label]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<Label>> for Labels {
    fn eq(&self, other: &Vec<Label>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::fmt::Debug for Labels {
    /// Like a slice's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// One sample of a family: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label pairs in the order they are written.
    pub labels: Labels,
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
    pub samples: Samples,
}

/// A family's samples: the first one kept in the family itself, since most families have a single sample (one
/// allocation less per family and scrape).
pub type Samples = smallvec::SmallVec<[Sample; 1]>;

impl MetricFamily {
    /// A new family with no samples.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        metric_type: MetricType,
    ) -> Self {
        MetricFamily { name: name.into(), help: help.into(), metric_type, samples: Samples::new() }
    }

    /// Adds a scalar sample with static label names.
    pub fn sample(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        self.samples.push(Sample { labels: static_labels(labels), value: Value::Scalar(value) });
        self
    }

    /// Adds a scalar sample whose label names are only known at run time (e.g. textfile metrics).
    pub fn sample_owned(&mut self, labels: Vec<(String, String)>, value: f64) -> &mut Self {
        let labels = labels.into_iter().map(|(k, v)| (Cow::Owned(k), LabelValue::from(v))).collect();
        self.samples.push(Sample { labels, value: Value::Scalar(value) });
        self
    }

    /// Adds a sample with any value and prepared labels (a [`Labels`] or a `Vec<Label>`).
    pub fn push(&mut self, labels: impl Into<Labels>, value: Value) -> &mut Self {
        self.samples.push(Sample { labels: labels.into(), value });
        self
    }

    /// Adds a histogram sample.
    pub fn histogram(&mut self, labels: &[(&'static str, &str)], value: HistogramValue) -> &mut Self {
        self.push(static_labels(labels), Value::Histogram(value))
    }

    /// Adds a summary sample.
    pub fn summary(&mut self, labels: &[(&'static str, &str)], value: SummaryValue) -> &mut Self {
        self.push(static_labels(labels), Value::Summary(value))
    }
}

/// Labels with names from our own code. Those names are trusted (never re-validated), so debug builds, and with
/// them every collector's tests, check them here.
fn static_labels(labels: &[(&'static str, &str)]) -> Labels {
    debug_assert!(labels.iter().all(|(k, _)| is_valid_label_name(k)), "invalid static label name in {labels:?}");
    labels.iter().map(|&(k, v)| (Cow::Borrowed(k), LabelValue::new(v))).collect()
}

/// What one collector (or one whole scrape) produced: a list of families, each name at most once.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    families: Vec<MetricFamily>,
    /// The hash of each family's name, in `families`' order (the names themselves live in `families` only, so a
    /// name built at run time is not copied, in each collector's snapshot and again in the merged one). A snapshot
    /// of up to [`SCAN_UP_TO`] families, what one collector writes, is searched by scanning these: cheaper than a
    /// hash table's allocation and its probes all over memory. Two names with the same hash are told apart by
    /// [`Snapshot::position`]. Hashed with a fast seeded hasher: a lookup is made for every family a collector
    /// writes, and SipHash was a tenth of a node scrape's user time.
    hashes: Vec<u64>,
    /// Family positions by name hash, built once the snapshot holds more than [`SCAN_UP_TO`] families (a scrape's
    /// merged snapshot).
    index: Option<HashMap<u64, usize, BuildHasherDefault<PreHashed>>>,
    hasher: foldhash::fast::RandomState,
}

/// Up to how many families a snapshot is searched by scanning its hashes rather than through an index.
const SCAN_UP_TO: usize = 64;

impl PartialEq for Snapshot {
    /// Equal when the families are (the index follows from them).
    fn eq(&self, other: &Self) -> bool {
        self.families == other.families
    }
}

/// The hasher of [`Snapshot`]'s index, whose keys are already hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; anything else is folded in rather than ignored.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// The position of the family called `name` (whose hash is `hash`), if any.
    fn position(&self, name: &str, hash: u64) -> Option<usize> {
        let Some(index) = &self.index else {
            // Every family whose name has this hash (64-bit hashes: practically never more than one).
            let mut same = self.hashes.iter().enumerate().filter(|&(_, &h)| h == hash).map(|(i, _)| i);
            return same.find(|&i| self.families.get(i).is_some_and(|f| f.name == name));
        };
        let i = *index.get(&hash)?;
        if self.families.get(i).is_some_and(|f| f.name == name) {
            return Some(i);
        }
        // Another name with the same hash holds the slot. Only the first of such names is indexed, so the others
        // are found by a scan.
        self.families.iter().position(|f| f.name == name)
    }

    /// Appends `fam`, whose name is not here yet and hashes to `hash`.
    fn insert(&mut self, fam: MetricFamily, hash: u64) {
        if self.families.capacity() == 0 {
            // Most collectors write more than the 4 families a first allocation holds: skip the first steps of
            // growing one at a time.
            self.reserve(16);
        }
        if let Some(index) = &mut self.index {
            index.entry(hash).or_insert(self.families.len());
        }
        self.families.push(fam);
        self.hashes.push(hash);
        if self.index.is_none() && self.families.len() > SCAN_UP_TO {
            self.build_index(0);
        }
    }

    /// Indexes the families by name hash (the first of names with the same hash), with room for `additional` more.
    fn build_index(&mut self, additional: usize) {
        let mut index = HashMap::with_capacity_and_hasher(self.hashes.len() + additional, Default::default());
        for (i, &h) in self.hashes.iter().enumerate() {
            index.entry(h).or_insert(i);
        }
        self.index = Some(index);
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
        let hash = self.hasher.hash_one(name.as_ref());
        let idx = match self.position(&name, hash) {
            Some(i) => i,
            None => {
                self.insert(MetricFamily::new(name, help, metric_type), hash);
                self.families.len() - 1
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
            let hash = self.hasher.hash_one(fam.name.as_ref());
            match self.position(&fam.name, hash) {
                Some(i) if self.families[i].metric_type == fam.metric_type => {
                    self.families[i].samples.extend(fam.samples)
                }
                Some(_) => conflicts.push(fam.name.into_owned()),
                None => self.insert(fam, hash),
            }
        }
        conflicts
    }

    /// Makes room for `additional` more families, so that a collector that knows roughly how many it writes
    /// does not grow (and rehash) the name index step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.families.reserve(additional);
        self.hashes.reserve(additional);
        match &mut self.index {
            Some(index) => index.reserve(additional),
            None if self.families.len() + additional > SCAN_UP_TO => self.build_index(additional),
            None => {}
        }
    }

    /// The families in insertion order.
    pub fn families(&self) -> &[MetricFamily] {
        &self.families
    }

    /// The family called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&MetricFamily> {
        self.position(name, self.hasher.hash_one(name)).and_then(|i| self.families.get(i))
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
        let mut families = self.families;
        families.retain(|f| !f.samples.is_empty());
        sort_families(&mut families);
        for fam in &mut families {
            // An invalid label name (from target data) is renamed before dedup, so it can neither be written
            // nor, by being dropped later, turn two samples into duplicates. Static names are our own and valid.
            for sample in &mut fam.samples {
                for (name, _) in &mut sample.labels {
                    if let Cow::Owned(n) = name
                        && !is_valid_label_name(n)
                    {
                        *n = sanitize_name(n);
                    }
                }
            }
            // Stable, so that of two samples with the same label set the first written stays first and wins.
            if !fam.samples.is_sorted_by(|a, b| cmp_labels(&a.labels, &b.labels).is_le()) {
                fam.samples.sort_by(|a, b| cmp_labels(&a.labels, &b.labels));
            }
            fam.samples.dedup_by(|later, earlier| same_label_set(&later.labels, &earlier.labels));
        }
        families
    }
}

/// Sorts families by name (names are unique, so any sort is stable).
///
/// A sort comparing names directly was 2.7 % of a node scrape's instructions (some 300 families, every comparison a
/// `memcmp` call through names that all start with `node_`). Instead, each family gets a key: the 16 bytes after
/// the prefix all names share, big-endian, zero-padded. If two keys differ, they order the names as the names
/// themselves would (padding sorts a name before any longer name it is a prefix of); only equal keys compare names.
fn sort_families(families: &mut Vec<MetricFamily>) {
    // Collectors mostly write in order; the engine's merge of their snapshots is in runs. A check is cheap.
    if families.is_sorted_by(|a, b| a.name <= b.name) {
        return;
    }
    let first = families.first().map_or(&[][..], |f| f.name.as_bytes());
    let skip = families
        .iter()
        .fold(first.len(), |n, f| n.min(first.iter().zip(f.name.as_bytes()).take_while(|(a, b)| a == b).count()));
    let key = |name: &str| {
        let mut k = [0u8; 16];
        let rest = name.as_bytes().get(skip..).unwrap_or_default();
        let n = rest.len().min(16);
        k[..n].copy_from_slice(&rest[..n]);
        u128::from_be_bytes(k)
    };
    let mut order: Vec<(u128, usize)> = families.iter().enumerate().map(|(i, f)| (key(&f.name), i)).collect();
    order.sort_unstable_by(|&(ka, a), &(kb, b)| ka.cmp(&kb).then_with(|| families[a].name.cmp(&families[b].name)));
    let mut slots: Vec<Option<MetricFamily>> = std::mem::take(families).into_iter().map(Some).collect();
    families.reserve_exact(slots.len());
    families.extend(order.iter().filter_map(|&(_, i)| slots.get_mut(i).and_then(Option::take)));
}

fn cmp_labels(a: &[Label], b: &[Label]) -> std::cmp::Ordering {
    a.iter().map(|(_, v)| v.as_bytes()).cmp(b.iter().map(|(_, v)| v.as_bytes()))
}

fn same_label_set(a: &[Label], b: &[Label]) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
}

/// Which bytes may start or continue a metric or label name, one bit per question (one table lookup per byte).
const NAME_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let mut bits = 0;
        if alpha {
            bits |= LABEL_START | LABEL_CONT | METRIC_START | METRIC_CONT;
        }
        if c.is_ascii_digit() {
            bits |= LABEL_CONT | METRIC_CONT;
        }
        if c == b':' {
            bits |= METRIC_START | METRIC_CONT;
        }
        t[b] = bits;
        b += 1;
    }
    t
};
const LABEL_START: u8 = 1;
const LABEL_CONT: u8 = 2;
const METRIC_START: u8 = 4;
const METRIC_CONT: u8 = 8;

fn valid_name(name: &str, start: u8, cont: u8) -> bool {
    match name.as_bytes().split_first() {
        Some((&first, rest)) => {
            NAME_BYTES[usize::from(first)] & start != 0 && rest.iter().all(|&b| NAME_BYTES[usize::from(b)] & cont != 0)
        }
        None => false,
    }
}

/// Whether `name` is a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_valid_metric_name(name: &str) -> bool {
    valid_name(name, METRIC_START, METRIC_CONT)
}

/// Whether `name` is a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_label_name(name: &str) -> bool {
    valid_name(name, LABEL_START, LABEL_CONT)
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
    fn labels_inline_the_first_and_behave_as_a_slice() {
        let l = |k: &'static str, v: &str| (Cow::Borrowed(k), LabelValue::new(v));
        let mut labels = Labels::new();
        assert!(labels.is_empty() && labels.is_inline());
        for n in 0..5 {
            assert_eq!(labels.is_inline(), n <= Labels::INLINE_CAPACITY, "{n} labels");
            assert_eq!(labels.len(), n);
            let vec: Vec<Label> = (0..n).map(|i| l("k", &i.to_string())).collect();
            assert_eq!(labels, vec);
            assert_eq!(Labels::from(vec.clone()), labels, "Vec-backed and inline compare equal");
            assert_eq!(vec.iter().cloned().collect::<Labels>(), labels);
            assert_eq!(format!("{labels:?}"), format!("{vec:?}"));
            labels.push(l("k", &n.to_string()));
        }
        assert_eq!(labels[4].1, "4");
        for (k, _) in &mut labels {
            *k = Cow::Owned("x".into());
        }
        assert!((&labels).into_iter().all(|(k, _)| k == "x"));
        assert_eq!(Labels::from([l("a", "1")]).as_slice(), [l("a", "1")]);
        assert_eq!(Labels::default(), Labels::new());
        assert_eq!(std::mem::size_of::<Labels>(), 56, "one label inline, no more (see the type's doc)");
    }

    #[test]
    fn names_with_the_same_hash_are_told_apart_when_scanned() {
        // Two names given one hash, as if they collided; then a third.
        let mut s = Snapshot::new();
        s.insert(MetricFamily::new("a", "", MetricType::Gauge), 7);
        s.insert(MetricFamily::new("b", "", MetricType::Gauge), 7);
        assert!(s.index.is_none());
        assert_eq!((s.position("a", 7), s.position("b", 7), s.position("c", 7)), (Some(0), Some(1), None));
        // Past the scanning size the index takes over, with the same answers.
        for i in 0..SCAN_UP_TO {
            s.gauge(format!("f{i}"), "").sample(&[], 1.0);
        }
        assert!(s.index.is_some());
        assert_eq!((s.position("a", 7), s.position("b", 7), s.position("c", 7)), (Some(0), Some(1), None));
        assert_eq!(s.get("f3").map(|f| f.samples.len()), Some(1));
        // A reserve past the scanning size builds the index too.
        let mut r = Snapshot::new();
        r.gauge("x", "").sample(&[], 1.0);
        r.reserve(SCAN_UP_TO);
        assert!(r.index.is_some());
        assert!(r.get("x").is_some());
    }

    #[test]
    fn names_with_the_same_hash_are_told_apart() {
        let mut s = Snapshot::new();
        s.gauge("a", "").sample(&[], 1.0);
        // Pretend "b" hashes as "a" does: its slot in the index is taken by "a".
        let hash_b = s.hasher.hash_one("b");
        s.build_index(0);
        s.index.as_mut().expect("index").insert(hash_b, 0);
        s.counter("b", "").sample(&[], 2.0);
        s.counter("b", "").sample(&[], 3.0);
        s.gauge("a", "").sample(&[], 4.0);
        assert_eq!(s.families().len(), 2);
        assert_eq!(s.get("b").map(|f| f.samples.len()), Some(2));
        assert_eq!(s.get("a").map(|f| f.samples.len()), Some(2));
        assert!(s.get("c").is_none());
        let mut other = Snapshot::new();
        other.counter("b", "").sample(&[], 5.0);
        other.gauge("c", "").sample(&[], 6.0);
        assert!(s.merge(other).is_empty());
        assert_eq!(s.get("b").map(|f| f.samples.len()), Some(3));
        assert_eq!(s.get("c").map(|f| f.samples.len()), Some(1));
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
    fn label_values_inline_short_strings_and_behave_as_str() {
        assert_eq!(std::mem::size_of::<LabelValue>(), std::mem::size_of::<String>());
        let long = "x".repeat(LabelValue::INLINE_CAPACITY + 1);
        let exact = "é".repeat(LabelValue::INLINE_CAPACITY / 2);
        for s in ["", "0", "user", "eth0", "/", "ä\"\n\\", exact.as_str(), long.as_str()] {
            for v in [LabelValue::new(s), LabelValue::from(s.to_owned()), LabelValue::from(Cow::Borrowed(s))] {
                assert_eq!(v.is_inline(), s.len() <= LabelValue::INLINE_CAPACITY, "{s:?}");
                assert_eq!(v.as_str(), s);
                assert_eq!(v.as_bytes(), s.as_bytes());
                assert_eq!(&*v, s);
                assert_eq!(v.len(), s.len(), "deref to str");
                let owned = s.to_owned();
                assert_eq!(v, s);
                assert_eq!(v, *s);
                assert_eq!(v, owned);
                assert_eq!(s, v);
                assert_eq!(*s, v);
                assert_eq!(owned, v);
                assert_eq!(v.to_string(), s);
                assert_eq!(format!("{v:?}"), format!("{s:?}"));
                assert_eq!(String::from(v.clone()), s);
                let mut h1 = std::hash::DefaultHasher::new();
                let mut h2 = std::hash::DefaultHasher::new();
                std::hash::Hash::hash(&v, &mut h1);
                std::hash::Hash::hash(s, &mut h2);
                assert_eq!(std::hash::Hasher::finish(&h1), std::hash::Hasher::finish(&h2));
            }
        }
        assert!(LabelValue::default().is_empty());
        assert!(LabelValue::new(&exact).is_inline(), "22 bytes of two-byte characters fit");
        let set: std::collections::HashSet<LabelValue> = ["a", "b"].into_iter().map(LabelValue::from).collect();
        assert!(set.contains("a"), "Borrow<str> lookups");
    }

    #[test]
    fn label_values_order_as_str_does() {
        let long_a = format!("{}a", "z".repeat(30));
        let words = ["", "a", "aa", "b", "B", "ä", "zz", "z\u{0}", long_a.as_str(), "zzzzzzzzzzzzzzzzzzzzzzzzzz"];
        for a in words {
            for b in words {
                assert_eq!(LabelValue::new(a).cmp(&LabelValue::new(b)), a.cmp(b), "{a:?} {b:?}");
                assert_eq!(LabelValue::new(a) == LabelValue::new(b), a == b);
            }
        }
    }

    #[test]
    fn sorting_sorts_only_when_needed_and_first_duplicate_wins() {
        // Already in order, with a duplicate: nothing moves, the first of the two stays.
        let mut s = Snapshot::new();
        s.gauge("a", "").sample(&[("l", "1")], 1.0).sample(&[("l", "1")], 2.0).sample(&[("l", "2")], 3.0);
        s.gauge("b", "").sample(&[], 4.0);
        let out = s.into_sorted();
        assert_eq!(out.iter().map(|f| f.name.as_ref()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            out[0].samples.iter().map(|s| s.value.clone()).collect::<Vec<_>>(),
            [Value::Scalar(1.0), Value::Scalar(3.0)]
        );
        // Out of order, duplicates apart: sorted stably, so the first written still wins.
        let mut s = Snapshot::new();
        s.gauge("z", "").sample(&[("l", "2")], 1.0).sample(&[("l", "1")], 2.0).sample(&[("l", "2")], 3.0);
        s.gauge("m", "").sample(&[("l", "x"), ("k", "y")], 4.0).sample(&[("l", "x"), ("k", "a")], 5.0);
        s.gauge("e", "");
        let out = s.into_sorted();
        assert_eq!(out.iter().map(|f| f.name.as_ref()).collect::<Vec<_>>(), ["m", "z"]);
        assert_eq!(
            out[0].samples.iter().map(|s| s.value.clone()).collect::<Vec<_>>(),
            [Value::Scalar(5.0), Value::Scalar(4.0)]
        );
        assert_eq!(
            out[1].samples.iter().map(|s| s.value.clone()).collect::<Vec<_>>(),
            [Value::Scalar(2.0), Value::Scalar(1.0)]
        );
    }

    #[test]
    fn families_sort_by_name_whatever_the_prefixes() {
        // Names sharing long prefixes, prefixes of each other, differing after 16 bytes, non-ASCII and NUL bytes.
        let names = [
            "node_b",
            "node_a",
            "node_",
            "node_abcdefghijklmnopq_2",
            "node_abcdefghijklmnopq_1",
            "node_abcdefghijklmnop",
            "node_ab",
            "node_a\u{0}",
            "node_a\u{0}\u{0}",
            "node_é",
            "node_z",
            "node_Z",
            "node_abcdefghijklmnopq",
        ];
        for rotate in 0..names.len() {
            let mut s = Snapshot::new();
            for name in names.iter().cycle().skip(rotate).take(names.len()) {
                s.gauge(*name, "").sample(&[], 1.0);
            }
            let got: Vec<String> = s.into_sorted().into_iter().map(|f| f.name.into_owned()).collect();
            let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            want.sort();
            assert_eq!(got, want);
        }
        // No shared prefix at all, and a single family.
        let mut s = Snapshot::new();
        for name in ["b", "a_long_name_beyond_sixteen_bytes", "a"] {
            s.gauge(name, "").sample(&[], 1.0);
        }
        let got: Vec<_> = s.into_sorted().into_iter().map(|f| f.name).collect();
        assert_eq!(got, ["a", "a_long_name_beyond_sixteen_bytes", "b"]);
    }

    #[test]
    fn invalid_run_time_label_names_are_renamed_before_dedup() {
        let mut s = Snapshot::new();
        s.gauge("a", "")
            .sample_owned(vec![("a-b".into(), "1".into())], 1.0)
            .sample_owned(vec![("a_b".into(), "1".into())], 2.0)
            .sample_owned(vec![("ok".into(), "2".into())], 3.0);
        let out = s.into_sorted();
        let labels: Vec<_> = out[0].samples.iter().map(|s| (s.labels[0].0.as_ref(), s.labels[0].1.as_str())).collect();
        assert_eq!(labels, [("a_b", "1"), ("ok", "2")]);
        assert_eq!(out[0].samples[0].value, Value::Scalar(1.0));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "invalid static label name")]
    fn invalid_static_label_names_fail_debug_builds() {
        Snapshot::new().gauge("a", "").sample(&[("a-b", "1")], 1.0);
    }

    #[test]
    fn name_tables_match_the_grammar() {
        let label = |s: &str| {
            let mut b = s.bytes();
            b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        };
        let metric = |s: &str| {
            let mut b = s.bytes();
            b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        };
        for c in (0u32..0x250).filter_map(char::from_u32) {
            for s in [c.to_string(), format!("a{c}"), format!("{c}a"), format!("_{c}_")] {
                assert_eq!(is_valid_label_name(&s), label(&s), "{s:?}");
                assert_eq!(is_valid_metric_name(&s), metric(&s), "{s:?}");
            }
        }
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
