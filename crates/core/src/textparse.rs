//! A parser of the Prometheus text exposition format 0.0.4, in two modes.
//!
//! [`parse`] turns an exposition into [`Family`] values (in order of first appearance, samples as written, HELP
//! unescaped, label values unescaped) or an [`Error`] naming the 1-based line. It never panics, whatever the input
//! (fuzzed: `crates/core/fuzz/fuzz_targets/textparse.rs`).
//!
//! [`Mode::Lenient`] accepts exactly what Go's `expfmt.TextParser` accepts (node_exporter's textfile collector reads
//! `*.prom` files with it; its verdicts were checked against node_exporter 1.5), including its quirks:
//!
//! - every line ends with `\n` (a last line without it is an error unless it is blank), `\r` is an ordinary byte;
//! - `# HELP`/`# TYPE` lines without text are ignored; HELP text starts after all blanks following the name, allows
//!   only the `\\` and `\n` escapes; TYPE is case-insensitive (`GAUGE`) and must have no trailing blanks;
//! - a family may be split over the exposition (its parts are merged); a TYPE line after the family's samples or a
//!   second TYPE or HELP line is an error; `x_sum`/`x_count` (and `x_bucket` for histograms) belong to the
//!   histogram or summary `x` if one exists, unless a family named exactly `x_sum` … exists already;
//! - values and `le`/`quantile` labels use Go's float syntax (`1e3`, `.5`, `inf`, `Infinity`, `nan`, but no
//!   hex, `_` or out-of-range values); the value may follow the name or the `}` without a blank;
//! - duplicate label names are an error (except repeated `le` of a histogram or `quantile` of a summary, where
//!   Go keeps the last); duplicate series, buckets without `le` and summary samples without `quantile` are not.
//!
//! [`Mode::Strict`] adds what a well-formed exposition written by an exporter never contains, for comparing exporters
//! in tests: a family split in two (HELP, TYPE or sample of a family after another family began), a duplicate
//! series, any duplicate label name, a histogram bucket without `le` or a summary quantile sample without
//! `quantile`, other float spellings than Go's output (`NaN`, `+Inf`, `-Inf`, `Inf`, decimal numbers), a TYPE that
//! is not lowercase or missing, a HELP/TYPE line without a name, and anything but `{` or a blank after a sample name.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::model::{MetricType, is_valid_label_name, is_valid_metric_name};

/// How much [`parse`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// What Go's `expfmt.TextParser` accepts (for files written by people and scripts: the textfile collector).
    #[default]
    Lenient,
    /// [`Mode::Lenient`] plus the checks listed in the module documentation (for exporters' output in tests).
    Strict,
}

/// A parse failure: the 1-based line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text format parsing error in line {line}: {message}")]
pub struct Error {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name as written (e.g. `x_bucket` for a histogram `x`).
    pub name: String,
    /// Label pairs in the order written, values unescaped (histogram `le` and summary `quantile` included).
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds, if given.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`, if present (the first one if repeated).
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The label pairs sorted: a key that identifies the series among the family's samples of the same name.
    pub fn label_key(&self) -> Vec<(String, String)> {
        let mut l = self.labels.clone();
        l.sort();
        l
    }
}

/// One metric family: samples grouped under one name and type.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family name (for histograms and summaries without the `_bucket`/`_sum`/`_count` suffixes).
    pub name: String,
    /// The HELP text, unescaped, if the family had a HELP line with text.
    pub help: Option<String>,
    /// The type; [`MetricType::Untyped`] when there was no TYPE line.
    pub metric_type: MetricType,
    /// The samples in the order written (empty for a family that only had HELP or TYPE lines).
    pub samples: Vec<Sample>,
}

impl Family {
    /// Every label name any sample of the family carries (histogram `le` and summary `quantile` included).
    pub fn label_names(&self) -> BTreeSet<String> {
        self.samples.iter().flat_map(|s| s.labels.iter().map(|(k, _)| k.clone())).collect()
    }
}

/// Parses a whole exposition. Families come in order of first appearance.
pub fn parse(input: &str, mode: Mode) -> Result<Vec<Family>, Error> {
    let mut p = Parser { mode, families: Vec::new(), index: HashMap::new(), state: Vec::new() };
    let mut lines = input.split('\n').enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let last = lines.peek().is_none();
        let result = if last && !line.trim_start_matches(BLANKS).is_empty() {
            // Go's parser reads up to each '\n'; input that ends inside a line is an error there.
            Err("unexpected end of input stream".to_owned())
        } else {
            p.line(line)
        };
        result.map_err(|message| Error { line: i + 1, message })?;
    }
    Ok(p.families)
}

/// Parses a float as Go's `strconv.ParseFloat` does in expositions: decimal numbers with optional sign and exponent,
/// `inf`/`infinity` with optional sign and `nan` in any case; no hex, no `_`, nothing out of range.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'+') => (1.0, &s[1..]),
        Some(b'-') => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    // Rust also accepts its own spellings of inf and NaN (handled above, or rejected here with their sign).
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    // Go reports a range error for finite syntax beyond f64 (Rust rounds it to ±Inf); underflow to 0 is fine.
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The float spellings Go's exposition writers produce: decimal numbers, `NaN`, `+Inf`, `-Inf` (and `Inf`).
fn parse_canonical_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if s.bytes().any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') => None,
        _ => parse_go_float(s),
    }
}

const BLANKS: [char; 2] = [' ', '\t'];

/// A series within a family: sample name and sorted label pairs.
type SeriesKey = (String, Vec<(String, String)>);

/// What the parser remembers per family besides the [`Family`] itself.
#[derive(Default)]
struct FamilyState {
    /// A TYPE line or a sample was seen (Go's parser then refuses a TYPE line).
    typed: bool,
    /// Strict mode: the series seen so far.
    series: HashSet<SeriesKey>,
}

struct Parser {
    mode: Mode,
    families: Vec<Family>,
    /// Family index by name.
    index: HashMap<String, usize>,
    /// Parallel to `families`.
    state: Vec<FamilyState>,
}

impl Parser {
    fn strict(&self) -> bool {
        self.mode == Mode::Strict
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        let line = line.trim_start_matches(BLANKS);
        if line.is_empty() {
            return Ok(());
        }
        match line.strip_prefix('#') {
            Some(comment) => self.comment(comment),
            None => self.sample(line),
        }
    }

    /// The family a HELP, TYPE or sample line for `name` belongs to, as Go's parser resolves it: a family of exactly
    /// that name, else the histogram or summary the suffix points to, else a new family. Strict mode refuses a
    /// family other than the current (last) one.
    fn family(&mut self, name: &str) -> Result<usize, String> {
        let found = self.index.get(name).copied().or_else(|| {
            let base = ["_count", "_sum", "_bucket"].iter().find_map(|s| name.strip_suffix(s))?;
            let &i = self.index.get(base)?;
            match self.families.get(i)?.metric_type {
                MetricType::Histogram => Some(i),
                MetricType::Summary if !name.ends_with("_bucket") => Some(i),
                _ => None,
            }
        });
        match found {
            Some(i) if self.strict() && i + 1 != self.families.len() => Err(format!(
                "{name:?} belongs to family {:?}, which ended before this line (a family's lines must be contiguous)",
                self.families.get(i).map(|f| f.name.as_str()).unwrap_or_default()
            )),
            Some(i) => Ok(i),
            None => {
                self.families.push(Family {
                    name: name.to_owned(),
                    help: None,
                    metric_type: MetricType::Untyped,
                    samples: Vec::new(),
                });
                self.state.push(FamilyState::default());
                self.index.insert(name.to_owned(), self.families.len() - 1);
                Ok(self.families.len() - 1)
            }
        }
    }

    /// A line starting with `#` (`comment` is the rest): HELP and TYPE lines, anything else is a free comment.
    fn comment(&mut self, comment: &str) -> Result<(), String> {
        let (keyword, rest) = split_token(comment.trim_start_matches(BLANKS));
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(());
        }
        let rest = rest.trim_start_matches(BLANKS);
        let (name, rest) = rest.split_at(name_len(rest, true));
        if !rest.is_empty() && !rest.starts_with(BLANKS) {
            return Err(format!("invalid metric name in comment: {:?}", short(&format!("{name}{rest}"))));
        }
        let text = rest.trim_start_matches(BLANKS);
        if text.is_empty() {
            // Go ignores a HELP or TYPE line that ends before its text (or its name).
            if self.strict() && (name.is_empty() || keyword == "TYPE") {
                return Err(format!(
                    "{keyword} line without {}",
                    if name.is_empty() { "a metric name" } else { "a type" }
                ));
            }
            return Ok(());
        }
        let idx = self.family(name)?;
        let strict = self.strict();
        let (Some(fam), Some(state)) = (self.families.get_mut(idx), self.state.get_mut(idx)) else {
            return Err("internal error: family index out of range".into());
        };
        if keyword == "HELP" {
            if fam.help.is_some() {
                return Err(format!("second HELP line for metric name {:?}", fam.name));
            }
            fam.help = Some(unescape_help(text)?);
            return Ok(());
        }
        if state.typed {
            return Err(format!("second TYPE line for metric name {:?}, or TYPE reported after samples", fam.name));
        }
        // Go upper-cases the rest of the line (trailing blanks included) and looks it up.
        let upper = text.to_uppercase();
        fam.metric_type = match upper.as_str() {
            "COUNTER" => MetricType::Counter,
            "GAUGE" => MetricType::Gauge,
            "HISTOGRAM" => MetricType::Histogram,
            "SUMMARY" => MetricType::Summary,
            "UNTYPED" => MetricType::Untyped,
            // GAUGE_HISTOGRAM is in Go's enum too, but node_exporter 1.5 panics on it; refusing it is safer.
            _ => return Err(format!("unknown metric type {:?}", short(text))),
        };
        if strict && text != fam.metric_type.as_text() {
            return Err(format!("metric type {:?} is not written in lowercase", short(text)));
        }
        state.typed = true;
        Ok(())
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let (name, rest) = line.split_at(name_len(line, true));
        if name.is_empty() {
            return Err(format!("invalid metric name {:?}", short(line)));
        }
        if self.strict() && !(rest.is_empty() || rest.starts_with('{') || rest.starts_with(BLANKS)) {
            return Err(format!("expected '{{' or a blank after the metric name {name:?}"));
        }
        let after_name = rest.trim_start_matches(BLANKS);
        if self.strict() && after_name.len() != rest.len() && after_name.starts_with('{') {
            return Err(format!("blank between the metric name {name:?} and its labels"));
        }
        let idx = self.family(name)?;
        let Some(fam) = self.families.get(idx) else {
            return Err("internal error: family index out of range".into());
        };

        let mut labels: Vec<(String, String)> = Vec::new();
        let rest = match after_name.strip_prefix('{') {
            Some(r) => parse_labels(r, self.mode, fam, &mut labels)?,
            None => after_name,
        };

        // The value follows the name or '}' after any blanks (or none); a timestamp may follow after blanks, then
        // nothing at all (Go refuses even trailing blanks).
        let (value_str, rest) = split_token(rest.trim_start_matches(BLANKS));
        let value = parse_float(value_str, self.mode)
            .ok_or_else(|| format!("expected float as value, got {:?}", short(value_str)))?;
        let timestamp_ms = if rest.is_empty() {
            None
        } else {
            let (ts, rest) = split_token(rest.trim_start_matches(BLANKS));
            let ts = ts.parse::<i64>().map_err(|_| format!("expected integer as timestamp, got {:?}", short(ts)))?;
            if !rest.is_empty() {
                return Err(format!("spurious string after timestamp: {:?}", short(rest)));
            }
            Some(ts)
        };

        let strict = self.strict();
        let (Some(fam), Some(state)) = (self.families.get_mut(idx), self.state.get_mut(idx)) else {
            return Err("internal error: family index out of range".into());
        };
        if strict {
            let suffix = name.strip_prefix(fam.name.as_str());
            let has = |label: &str| labels.iter().any(|(k, _)| k == label);
            if fam.metric_type == MetricType::Histogram && suffix == Some("_bucket") && !has("le") {
                return Err(format!("histogram bucket {name:?} without le label"));
            }
            if fam.metric_type == MetricType::Summary && suffix == Some("") && !has("quantile") {
                return Err(format!("summary sample {name:?} without quantile label"));
            }
            let mut key = labels.clone();
            key.sort();
            if !state.series.insert((name.to_owned(), key)) {
                return Err(format!("duplicate series {name}{{{}}}", fmt_labels(&labels)));
            }
        }
        state.typed = true;
        fam.samples.push(Sample { name: name.to_owned(), labels, value, timestamp_ms });
        Ok(())
    }
}

/// Parses `name="value",…}` (after the opening brace) of a sample of `family` into `out`; returns what follows the
/// closing brace.
fn parse_labels<'a>(
    mut s: &'a str,
    mode: Mode,
    family: &Family,
    out: &mut Vec<(String, String)>,
) -> Result<&'a str, String> {
    loop {
        s = s.trim_start_matches(BLANKS);
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let (lname, rest) = s.split_at(name_len(s, false));
        if lname.is_empty() {
            return Err(format!("invalid label name for metric {:?} at {:?}", family.name, short(s)));
        }
        if lname == "__name__" {
            return Err("label name \"__name__\" is reserved".into());
        }
        s = rest.trim_start_matches(BLANKS);
        s = s.strip_prefix('=').ok_or_else(|| format!("expected '=' after label name {lname:?}"))?;
        s = s.trim_start_matches(BLANKS);
        s = s.strip_prefix('"').ok_or_else(|| format!("expected '\"' at start of the value of label {lname:?}"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("unterminated value of label {lname:?}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => return Err(format!("invalid escape sequence '\\{c}' in label {lname:?}")),
                    None => return Err(format!("unterminated value of label {lname:?}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        s = s.get(end + 1..).unwrap_or_default();
        // Go keeps `le` of histograms and `quantile` of summaries apart from the other labels: they must be floats,
        // and repeating them is not an error (the last wins).
        let special = (family.metric_type == MetricType::Histogram && lname == "le")
            || (family.metric_type == MetricType::Summary && lname == "quantile");
        if special && parse_float(&value, mode).is_none() {
            return Err(format!("expected float as value for {lname:?} label, got {:?}", short(&value)));
        }
        if (mode == Mode::Strict || !special) && out.iter().any(|(k, _)| k == lname) {
            return Err(format!("duplicate label names for metric {:?}: {lname:?}", family.name));
        }
        out.push((lname.to_owned(), value));
        s = s.trim_start_matches(BLANKS);
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(format!("expected ',' or '}}' after the value of label {lname:?}"));
        }
    }
}

/// A value or `le`/`quantile` label in the mode's float syntax.
fn parse_float(s: &str, mode: Mode) -> Option<f64> {
    match mode {
        Mode::Lenient => parse_go_float(s),
        Mode::Strict => parse_canonical_float(s),
    }
}

/// The length of the metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or label name (no `:`) at the start of `s`.
fn name_len(s: &str, metric: bool) -> usize {
    let ok = |i: usize, b: u8| {
        b.is_ascii_alphabetic() || b == b'_' || (metric && b == b':') || (i > 0 && b.is_ascii_digit())
    };
    let len = s.bytes().enumerate().take_while(|&(i, b)| ok(i, b)).count();
    debug_assert!(len == 0 || if metric { is_valid_metric_name(&s[..len]) } else { is_valid_label_name(&s[..len]) });
    len
}

/// Splits at the first blank: the token before it and the rest from it.
fn split_token(s: &str) -> (&str, &str) {
    s.split_at(s.find(BLANKS).unwrap_or(s.len()))
}

/// HELP text with `\\` and `\n` unescaped; any other escape (or a lone trailing `\`) is an error, as in Go.
fn unescape_help(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some(other) => return Err(format!("invalid escape sequence '\\{other}' in HELP")),
            None => return Err("invalid escape sequence '\\' at the end of HELP".into()),
        }
    }
    Ok(out)
}

/// At most 60 characters of `s`, for error messages.
fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

fn fmt_labels(labels: &[(String, String)]) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests;
