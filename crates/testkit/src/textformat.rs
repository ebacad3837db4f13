//! A strict parser of the Prometheus text exposition format 0.0.4, for comparing exporters' output in tests.
//!
//! It accepts everything a valid exposition may contain (escapes in HELP and label values, `NaN`/`±Inf`,
//! timestamps, histogram and summary series, blank lines, free comments) and rejects, with the line number, what
//! Prometheus would reject or what our exporters must never write: malformed lines, invalid names, a second HELP
//! or TYPE for one family, a TYPE after its samples, a family split in two, duplicate series or label names.

use std::collections::{BTreeSet, HashSet};

/// One metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family name (for histograms and summaries without the `_bucket`/`_sum`/`_count` suffixes).
    pub name: String,
    /// The HELP text, unescaped, if the family had a HELP line.
    pub help: Option<String>,
    /// The TYPE (`counter`, `gauge`, `histogram`, `summary`, `untyped`); `untyped` when there was no TYPE line.
    pub metric_type: String,
    /// The samples in the order written.
    pub samples: Vec<Sample>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name as written (e.g. `x_bucket` for a histogram `x`).
    pub name: String,
    /// Label pairs in the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds, if given.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The label pairs sorted by name: a key that identifies the series within its family.
    pub fn label_key(&self) -> Vec<(String, String)> {
        let mut l = self.labels.clone();
        l.sort();
        l
    }
}

impl Family {
    /// Every label name any sample of the family carries (histogram `le` and summary `quantile` included).
    pub fn label_names(&self) -> BTreeSet<String> {
        self.samples.iter().flat_map(|s| s.labels.iter().map(|(k, _)| k.clone())).collect()
    }
}

/// A parse failure: the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole exposition.
pub fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut p = Parser::default();
    for (i, line) in text.split('\n').enumerate() {
        p.line(line).map_err(|message| ParseError { line: i + 1, message })?;
    }
    Ok(p.families)
}

/// Parses, panicking with the error and the offending line (for tests).
pub fn must_parse(text: &str, what: &str) -> Vec<Family> {
    match parse(text) {
        Ok(f) => f,
        Err(e) => {
            let line = text.split('\n').nth(e.line.saturating_sub(1)).unwrap_or_default();
            panic!("{what}: invalid text exposition: {e}\n  {line}")
        }
    }
}

/// The family called `name`.
pub fn find<'a>(families: &'a [Family], name: &str) -> Option<&'a Family> {
    families.iter().find(|f| f.name == name)
}

/// A series within a family: sample name and sorted label pairs.
type SeriesKey = (String, Vec<(String, String)>);

#[derive(Default)]
struct Parser {
    families: Vec<Family>,
    /// Families whose samples are finished (another family's sample came after them).
    closed: HashSet<String>,
    /// Series already seen per family index: (sample name, sorted labels).
    series: Vec<HashSet<SeriesKey>>,
    /// Indexes of the families that had a TYPE line.
    typed: HashSet<usize>,
}

const TYPES: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];

impl Parser {
    fn line(&mut self, raw: &str) -> Result<(), String> {
        let line = raw.trim_start_matches([' ', '\t']);
        if line.trim_end_matches([' ', '\t', '\r']).is_empty() {
            return Ok(());
        }
        if let Some(comment) = line.strip_prefix('#') {
            return self.comment(comment);
        }
        self.sample(line)
    }

    fn comment(&mut self, rest: &str) -> Result<(), String> {
        let rest = rest.trim_start_matches([' ', '\t']);
        let (keyword, rest) = split_token(rest);
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(()); // a free comment
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let (name, rest) = split_token(rest);
        if !valid_metric_name(name) {
            return Err(format!("invalid metric name {name:?} in {keyword} line"));
        }
        // One separating blank, the rest is the text (which may itself start with blanks).
        let text = rest.strip_prefix([' ', '\t']).unwrap_or(rest);
        let idx = self.family_for_meta(name)?;
        let fam = &mut self.families[idx];
        if keyword == "HELP" {
            if fam.help.is_some() {
                return Err(format!("second HELP line for {name}"));
            }
            fam.help = Some(unescape_help(text)?);
        } else {
            let t = text.trim_end_matches([' ', '\t']);
            if !TYPES.contains(&t) {
                return Err(format!("unknown type {t:?} for {name}"));
            }
            if !fam.samples.is_empty() {
                return Err(format!("TYPE line for {name} after its samples"));
            }
            if !self.typed.insert(idx) {
                return Err(format!("second TYPE line for {name}"));
            }
            fam.metric_type = t.to_owned();
        }
        Ok(())
    }

    /// The family a HELP/TYPE line for `name` belongs to: the current one if it has that name, else a new one.
    fn family_for_meta(&mut self, name: &str) -> Result<usize, String> {
        if let Some(last) = self.families.last() {
            if last.name == name {
                return Ok(self.families.len() - 1);
            }
            self.closed.insert(last.name.clone());
        }
        if self.closed.contains(name) {
            return Err(format!("metadata for {name} after its family ended (families must be contiguous)"));
        }
        self.push_family(name);
        Ok(self.families.len() - 1)
    }

    fn push_family(&mut self, name: &str) {
        self.families.push(Family {
            name: name.to_owned(),
            help: None,
            metric_type: "untyped".into(),
            samples: Vec::new(),
        });
        self.series.push(HashSet::new());
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let name_len = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(line.len());
        let name = &line[..name_len];
        if !valid_metric_name(name) {
            return Err(format!("invalid metric name at {:?}", truncate(line)));
        }
        let mut rest = &line[name_len..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            rest = parse_labels(r, &mut labels)?;
        } else if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            return Err(format!("expected a blank and a value after {name}"));
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let (value, rest) = split_token(rest);
        let value = parse_value(value).ok_or_else(|| format!("invalid value {value:?} for {name}"))?;
        let rest = rest.trim_start_matches([' ', '\t']);
        let (ts, rest) = split_token(rest);
        let timestamp_ms = if ts.is_empty() {
            None
        } else {
            Some(ts.parse::<i64>().map_err(|_| format!("invalid timestamp {ts:?} for {name}"))?)
        };
        if !rest.trim_matches([' ', '\t', '\r']).is_empty() {
            return Err(format!("unexpected text after the sample of {name}: {:?}", truncate(rest)));
        }
        let mut seen = HashSet::new();
        for (k, _) in &labels {
            if !seen.insert(k.as_str()) {
                return Err(format!("label {k} twice in a sample of {name}"));
            }
        }

        let idx = self.family_for_sample(name)?;
        let fam = &self.families[idx];
        let has = |label: &str| labels.iter().any(|(k, _)| k == label);
        if fam.metric_type == "histogram" && name.ends_with("_bucket") && !has("le") {
            return Err(format!("histogram bucket {name} without le label"));
        }
        if fam.metric_type == "summary" && name == fam.name && !has("quantile") {
            return Err(format!("summary sample {name} without quantile label"));
        }
        let mut key = labels.clone();
        key.sort();
        if !self.series[idx].insert((name.to_owned(), key)) {
            return Err(format!("duplicate series {name}{{{}}}", fmt_labels(&labels)));
        }
        self.families[idx].samples.push(Sample { name: name.to_owned(), labels, value, timestamp_ms });
        Ok(())
    }

    /// The family a sample called `name` belongs to: the current family if the name is its name (or one of its
    /// histogram/summary series), else a new untyped family.
    fn family_for_sample(&mut self, name: &str) -> Result<usize, String> {
        if let Some(last) = self.families.last() {
            if belongs(&last.name, &last.metric_type, name) {
                return Ok(self.families.len() - 1);
            }
            self.closed.insert(last.name.clone());
        }
        if self.closed.contains(name) {
            return Err(format!("sample of {name} after its family ended (families must be contiguous)"));
        }
        self.push_family(name);
        Ok(self.families.len() - 1)
    }
}

fn belongs(family: &str, metric_type: &str, sample: &str) -> bool {
    if sample == family {
        return true;
    }
    let Some(suffix) = sample.strip_prefix(family) else {
        return false;
    };
    match metric_type {
        "histogram" => matches!(suffix, "_bucket" | "_sum" | "_count"),
        "summary" => matches!(suffix, "_sum" | "_count"),
        _ => false,
    }
}

/// Parses `name="value",…}` (after the opening brace) into `out`, returning what follows the closing brace.
fn parse_labels<'a>(mut s: &'a str, out: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start_matches([' ', '\t']);
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let name_len = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
        let name = &s[..name_len];
        if !valid_label_name(name) {
            return Err(format!("invalid label name at {:?}", truncate(s)));
        }
        s = s[name_len..].trim_start_matches([' ', '\t']);
        s = s.strip_prefix('=').ok_or_else(|| format!("expected = after label {name}"))?;
        s = s.trim_start_matches([' ', '\t']);
        s = s.strip_prefix('"').ok_or_else(|| format!("expected a quoted value for label {name}"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("unterminated value of label {name}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => return Err(format!("invalid escape \\{c} in value of label {name}")),
                    None => return Err(format!("unterminated value of label {name}")),
                },
                Some((_, '\n')) => return Err(format!("newline in value of label {name}")),
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_owned(), value));
        s = s[end + 1..].trim_start_matches([' ', '\t']);
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(format!("expected , or }} after label {name}"));
        }
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        // Rust also accepts "inf", "infinity", "nan" in any case; the format does not.
        _ if s.bytes().any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') => None,
        _ => s.parse().ok(),
    }
}

fn unescape_help(s: &str) -> Result<String, String> {
    let s = s.trim_end_matches('\r');
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                // 0.0.4 only defines \\ and \n in HELP; anything else is kept as written (as Prometheus does).
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn split_token(s: &str) -> (&str, &str) {
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn valid_metric_name(n: &str) -> bool {
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn valid_label_name(n: &str) -> bool {
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

fn fmt_labels(labels: &[(String, String)]) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 559.83
node_cpu_seconds_total{cpu="0",mode="user"} 4.6e+01
# A free comment.

# HELP node_uname_info Labeled system information as provided by the uname system call.
# TYPE node_uname_info gauge
node_uname_info{domainname="(none)",nodename="a\"b\\c\nd",release="6.1"} 1
# HELP esc Help with \\ backslash and \n newline.
# TYPE esc untyped
esc NaN
esc{a="1",} +Inf 1700000000000
untyped_no_meta -Inf
# TYPE h histogram
h_bucket{le="0.5"} 1
h_bucket{le="+Inf"} 2
h_sum 3.5
h_count 2
# TYPE s summary
s{quantile="0.9"} 1
s_sum 1
s_count 1
"#;

    #[test]
    fn parses_valid_exposition() {
        let f = parse(GOOD).expect("valid");
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["node_cpu_seconds_total", "node_uname_info", "esc", "untyped_no_meta", "h", "s"]);
        assert_eq!(f[0].metric_type, "counter");
        assert_eq!(f[0].samples[1].value, 46.0);
        assert_eq!(f[0].label_names(), BTreeSet::from(["cpu".to_string(), "mode".to_string()]));
        assert_eq!(f[1].samples[0].label("nodename"), Some("a\"b\\c\nd"));
        assert_eq!(f[2].help.as_deref(), Some("Help with \\ backslash and \n newline."));
        assert!(f[2].samples[0].value.is_nan());
        assert_eq!(f[2].samples[1].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(f[3].metric_type, "untyped");
        assert_eq!(f[3].help, None);
        assert_eq!(f[4].samples.len(), 4);
        assert_eq!(f[5].samples.len(), 3);
        assert!(find(&f, "h").is_some());
    }

    #[test]
    fn rejects_invalid_expositions() {
        for (bad, why) in [
            ("1abc 1\n", "invalid name"),
            ("a{b=\"1\" 1\n", "unterminated labels"),
            ("a{b=1} 1\n", "unquoted value"),
            ("a{b=\"\\x\"} 1\n", "bad escape"),
            ("a{1b=\"1\"} 1\n", "invalid label name"),
            ("a{b=\"1\",b=\"2\"} 1\n", "duplicate label"),
            ("a one\n", "bad value"),
            ("a inf\n", "lowercase inf"),
            ("a 1 2 3\n", "trailing text"),
            ("a 1 1.5\n", "bad timestamp"),
            ("a\n", "missing value"),
            ("a 1\na 2\n", "duplicate series"),
            ("# TYPE a gauge\n# TYPE a counter\na 1\n", "second TYPE"),
            ("# TYPE a untyped\n# TYPE a untyped\n", "second TYPE even untyped"),
            ("# HELP a x\n# HELP a y\n", "second HELP"),
            ("a 1\n# TYPE a gauge\n", "TYPE after samples"),
            ("# TYPE a gaugee\n", "unknown type"),
            ("a 1\nb 1\na{x=\"1\"} 1\n", "family not contiguous"),
            ("a 1\nb 1\n# HELP a x\n", "metadata after family"),
            ("# TYPE h histogram\nh_bucket 1\n", "bucket without le"),
            ("# HELP 9x y\n", "bad name in HELP"),
        ] {
            assert!(parse(bad).is_err(), "{why}: {bad:?} should be rejected");
        }
    }

    #[test]
    fn reports_line_numbers() {
        let e = parse("a 1\n\nb x\n").expect_err("bad value");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet = b"ab_{}=\",\\n# HELPTYPE 1.5+Inf\n\t";
        let mut seed = 88172645463325252u64;
        for len in 0..2000 {
            let s: String = (0..len % 120)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize] as char
                })
                .collect();
            let _ = parse(&s);
        }
    }
}
