//! A parser for the Prometheus text exposition format 0.0.4, as the textfile collector needs it.
//!
//! It accepts what Go's `expfmt.TextParser` accepts (HELP/TYPE comments, labels with `\\`, `\"` and `\n` escapes,
//! Go float syntax including `NaN` and `±Inf`, optional timestamps, histograms and summaries grouped by their
//! `_bucket`/`_sum`/`_count` suffixes) and reports anything else as an [`Error`] with its line number. It never
//! panics, whatever the input: it is fuzzed (`fuzz/fuzz_targets/textformat.rs`).

use oxporter_core::MetricType;
use oxporter_core::model::{is_valid_label_name, is_valid_metric_name};

/// A parse error: the 1-based line and what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("text format parsing error in line {line}: {msg}")]
pub struct Error {
    /// Line number (1-based).
    pub line: usize,
    /// What was wrong.
    pub msg: String,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's own name (`x_bucket`, `x_sum`, …).
    pub name: String,
    /// Labels in file order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds, if given.
    pub timestamp_ms: Option<i64>,
}

/// A metric family: samples grouped under one name with one type.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Family name.
    pub name: String,
    /// HELP text (unescaped), if given.
    pub help: Option<String>,
    /// Type (`Untyped` when no TYPE line was given).
    pub metric_type: MetricType,
    /// Samples in file order.
    pub samples: Vec<Sample>,
}

/// Parses a whole exposition. Families are returned in order of first appearance.
pub fn parse(input: &str) -> Result<Vec<Family>, Error> {
    let mut families: Vec<Family> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // Families that had a TYPE line (an explicit `untyped` included), to catch a second one.
    let mut typed: std::collections::HashSet<usize> = std::collections::HashSet::new();
    for (i, raw) in input.split('\n').enumerate() {
        let line_no = i + 1;
        let err = |msg: String| Error { line: line_no, msg };
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim_start_matches([' ', '\t']);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start_matches([' ', '\t']);
            let (keyword, rest) = split_token(comment);
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let rest = rest.trim_start_matches([' ', '\t']);
            let (name, rest) = split_token(rest);
            if !is_valid_metric_name(name) {
                return Err(err(format!("invalid metric name in comment: {:?}", short(name))));
            }
            let rest = rest.strip_prefix([' ', '\t']).unwrap_or(rest);
            let idx = *index.entry(name.to_owned()).or_insert_with(|| {
                families.push(Family {
                    name: name.to_owned(),
                    help: None,
                    metric_type: MetricType::Untyped,
                    samples: Vec::new(),
                });
                families.len() - 1
            });
            let fam = &mut families[idx];
            if keyword == "HELP" {
                if fam.help.is_some() {
                    return Err(err(format!("second HELP line for metric name {name:?}")));
                }
                fam.help = Some(unescape_help(rest));
            } else {
                if !fam.samples.is_empty() || !typed.insert(idx) {
                    return Err(err(format!(
                        "second TYPE line for metric name {name:?}, or TYPE reported after samples"
                    )));
                }
                fam.metric_type = match rest.trim_end_matches([' ', '\t']) {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" => MetricType::Histogram,
                    "summary" => MetricType::Summary,
                    "untyped" => MetricType::Untyped,
                    t => return Err(err(format!("unknown metric type {:?}", short(t)))),
                };
            }
            continue;
        }
        let sample = parse_sample(line).map_err(err)?;
        let family_name = family_for(&sample.name, &index, &families);
        let idx = *index.entry(family_name.clone()).or_insert_with(|| {
            families.push(Family {
                name: family_name.clone(),
                help: None,
                metric_type: MetricType::Untyped,
                samples: Vec::new(),
            });
            families.len() - 1
        });
        let fam = &mut families[idx];
        match fam.metric_type {
            MetricType::Histogram
                if sample.name.ends_with("_bucket") && !sample.labels.iter().any(|(k, _)| k == "le") =>
            {
                return Err(err("histogram bucket without le label".into()));
            }
            MetricType::Summary if sample.name == fam.name && !sample.labels.iter().any(|(k, _)| k == "quantile") => {
                return Err(err("summary sample without quantile label".into()));
            }
            _ => {}
        }
        fam.samples.push(sample);
    }
    Ok(families)
}

/// Which family a sample belongs to: a histogram or summary family named by the sample's name without its
/// `_bucket`/`_sum`/`_count` suffix if one exists, else the sample's own name.
fn family_for(name: &str, index: &std::collections::HashMap<String, usize>, families: &[Family]) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some(&i) = index.get(base)
        {
            let t = families[i].metric_type;
            if t == MetricType::Histogram || (t == MetricType::Summary && suffix != "_bucket") {
                return base.to_owned();
            }
        }
    }
    name.to_owned()
}

fn split_token(s: &str) -> (&str, &str) {
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
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
    out
}

/// Parses Go's `strconv.ParseFloat` syntax as far as expositions use it.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (sign, body) = match lower.as_bytes().first() {
        Some(b'+') => (1.0, &lower[1..]),
        Some(b'-') => (-1.0, &lower[1..]),
        _ => (1.0, lower.as_str()),
    };
    match body {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" if s.len() == 3 => return Some(f64::NAN),
        _ => {}
    }
    // Rust accepts "inf"/"nan" spellings Go does not (handled above) and nothing Go rejects otherwise, except a
    // leading '+' on "nan" and "infinity" forms, which are covered. Hex floats and '_' are not used in practice.
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-')) {
        return None;
    }
    s.parse::<f64>().ok()
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_valid_metric_name(name) {
        return Err(format!("invalid metric name {:?}", short(line)));
    }
    let mut rest = &line[name_end..];
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(after) = rest.trim_start_matches([' ', '\t']).strip_prefix('{') {
        let mut s = after;
        loop {
            s = s.trim_start_matches([' ', '\t']);
            if let Some(r) = s.strip_prefix('}') {
                s = r;
                break;
            }
            let lname_end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
            let lname = &s[..lname_end];
            if !is_valid_label_name(lname) || lname == "__name__" {
                return Err(format!("invalid label name {:?}", short(lname)));
            }
            s = s[lname_end..].trim_start_matches([' ', '\t']);
            s = s.strip_prefix('=').ok_or_else(|| format!("expected '=' after label name {lname:?}"))?;
            s = s.trim_start_matches([' ', '\t']);
            s = s.strip_prefix('"').ok_or_else(|| format!("expected '\"' to start value of label {lname:?}"))?;
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
                        _ => return Err(format!("invalid escape sequence in value of label {lname:?}")),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            s = &s[end + 1..];
            if labels.iter().any(|(k, _)| k == lname) {
                return Err(format!("duplicate label name {lname:?}"));
            }
            labels.push((lname.to_owned(), value));
            s = s.trim_start_matches([' ', '\t']);
            if let Some(r) = s.strip_prefix(',') {
                s = r;
            } else if !s.starts_with('}') {
                return Err("expected ',' or '}' after label value".into());
            }
        }
        rest = s;
    }
    // Like Go's tokenizer, no blank is needed after '}'; the name token ends at the first non-name byte.
    let mut tokens = rest.split([' ', '\t']).filter(|t| !t.is_empty());
    let value_str = tokens.next().ok_or_else(|| format!("missing value for {name:?}"))?;
    let value = parse_go_float(value_str).ok_or_else(|| format!("invalid value {:?}", short(value_str)))?;
    let timestamp_ms = match tokens.next() {
        None => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| format!("invalid timestamp {:?}", short(t)))?),
    };
    if tokens.next().is_some() {
        return Err(format!("spurious text after the value of {name:?}"));
    }
    Ok(Sample { name: name.to_owned(), labels, value, timestamp_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_file() {
        let fams = parse(
            "# HELP backup_ok Whether the last backup\\nsucceeded.\n\
             # TYPE backup_ok gauge\n\
             backup_ok{job=\"db\",host=\"a\\\"b\"} 1\n\
             backup_ok{job=\"web\",} 0\n\
             # a comment\n\
             \n\
             untyped_thing 3.5e3\n\
             # TYPE lat histogram\n\
             lat_bucket{le=\"0.1\"} 1\n\
             lat_bucket{le=\"+Inf\"} 2\n\
             lat_sum 0.3\n\
             lat_count 2\n\
             # TYPE q summary\n\
             q{quantile=\"0.5\"} NaN\n\
             q_sum 1\n\
             q_count 1\n\
             with_ts 1 1700000000000\n",
        )
        .expect("parses");
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["backup_ok", "untyped_thing", "lat", "q", "with_ts"]);
        assert_eq!(fams[0].help.as_deref(), Some("Whether the last backup\nsucceeded."));
        assert_eq!(fams[0].samples[0].labels[1].1, "a\"b");
        assert_eq!(fams[2].samples.len(), 4);
        assert!(fams[3].samples[0].value.is_nan());
        assert_eq!(fams[4].samples[0].timestamp_ms, Some(1_700_000_000_000));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("x{a=\"1\"} 1\n# TYPE x gauge\n", 2),
            ("# TYPE x gauge\n# TYPE x gauge\n", 2),
            ("# HELP x a\n# HELP x b\n", 2),
            ("# TYPE x flubber\n", 1),
            ("x 1\ny{a=1} 2\n", 2),
            ("x{a=\"1\",a=\"2\"} 1\n", 1),
            ("x{a=\"1} 1\n", 1),
            ("x{a=\"\\q\"} 1\n", 1),
            ("x abc\n", 1),
            ("x 1 2 3\n", 1),
            ("x 1 1.5\n", 1),
            ("x\n", 1),
            ("1x 1\n", 1),
            ("x{__name__=\"y\"} 1\n", 1),
            ("# TYPE h histogram\nh_bucket 1\n", 2),
            ("# TYPE s summary\ns 1\n", 2),
        ];
        for (input, line) in cases {
            match parse(input) {
                Err(e) => assert_eq!(e.line, line, "{input:?}: {e}"),
                Ok(f) => panic!("{input:?} parsed: {f:?}"),
            }
        }
    }

    #[test]
    fn go_floats() {
        for (s, v) in [
            ("1", 1.0),
            ("-2.5", -2.5),
            ("1e3", 1000.0),
            ("+Inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
        ] {
            assert_eq!(parse_go_float(s), Some(v), "{s}");
        }
        assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
        for s in ["", "abc", "1,5", "0x", "--1", "nan1"] {
            assert_eq!(parse_go_float(s), None, "{s}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"ab_{}=\",# \n\\TYPEHELPgauge1.5e+-InfNaN\t\r:le";
        for _ in 0..2000 {
            let len = (seed % 80) as usize;
            let s: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize] as char
                })
                .collect();
            let _ = parse(&s);
        }
        let _ = parse("x{a=\"\u{1F600}\"} 1\n\u{0}\u{FFFF}");
    }
}
