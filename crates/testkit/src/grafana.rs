//! Grafana dashboards as a test sees them: their Prometheus queries, and template variables filled in the way
//! Grafana fills them before it sends a query, so every panel can be run against a real Prometheus.
//!
//! ```no_run
//! use std::time::Duration;
//! use oxporter_testkit::grafana::{Builtins, Dashboard};
//! # let prom: oxporter_testkit::prometheus::Prometheus = unimplemented!();
//! let d = Dashboard::load("dashboards/node.json".as_ref());
//! let vars = d.resolve_variables(&prom, &Builtins::new(Duration::from_secs(15)));
//! for t in d.targets() {
//!     let expr = vars.interpolate(&t.expr).expect("every variable is known");
//!     assert!(prom.query_has_data(&expr), "{}: {expr}", t.panel);
//! }
//! ```
//!
//! What is covered: `$var`, `${var}`, `${var:format}`, `[[var]]` and `[[var:format]]`; Grafana's global variables
//! (`$__rate_interval`, `$__interval`, `$__range`, their `_ms`/`_s` forms, `$__from`, `$__to`); variables of type
//! `query` with `label_values(…)` (resolved through Prometheus's API, first value after Grafana's sort, as Grafana
//! selects when a dashboard is opened), `custom`, `constant`, `textbox`, `interval` and `datasource`. Anything else
//! (a `regex` filter on a variable, `query_result(…)`, library panels) panics with what is unsupported, so a test
//! never passes on a query it did not really run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::url_encode;
use crate::prometheus::Prometheus;

/// A dashboard JSON document.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The whole JSON model.
    pub json: Value,
}

/// One query of one panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The panel's title.
    pub panel: String,
    /// The panel's id.
    pub panel_id: u64,
    /// The query's `refId` (`A`, `B`, …).
    pub ref_id: String,
    /// The PromQL expression, variables not yet filled in.
    pub expr: String,
    /// Whether the query is hidden (`hide: true`: Grafana does not draw it).
    pub hidden: bool,
}

/// One entry of `templating.list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Its name (`job` for `$job`).
    pub name: String,
    /// Its type: `query`, `custom`, `constant`, `textbox`, `interval`, `datasource`, `adhoc`, ….
    pub kind: String,
    /// Its query (for `query` variables the PromQL-ish text, e.g. `label_values(node_uname_info, job)`; for
    /// `custom` the comma-separated options).
    pub query: String,
    /// Its `regex` filter (empty when none).
    pub regex: String,
    /// Its `sort` setting (0 none, 1 alphabetical, 2 alphabetical descending, 3 numerical, 4 numerical descending,
    /// 5 case-insensitive, 6 case-insensitive descending).
    pub sort: u64,
    /// Whether several values can be selected.
    pub multi: bool,
    /// Whether an "All" option exists.
    pub include_all: bool,
    /// The value saved as `current.value` (may be empty).
    pub current: Vec<String>,
}

impl Dashboard {
    /// Reads and parses a dashboard file; panics with the path when it cannot.
    pub fn load(path: &Path) -> Dashboard {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => panic!("reading dashboard {}: {e}", path.display()),
        };
        match serde_json::from_str(&text) {
            Ok(json) => Dashboard { json },
            Err(e) => panic!("dashboard {} is not JSON: {e}", path.display()),
        }
    }

    /// Every panel, including those nested in rows (collapsed rows keep theirs in `panels`).
    pub fn panels(&self) -> Vec<&Value> {
        fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
            for p in list.as_array().map(Vec::as_slice).unwrap_or_default() {
                out.push(p);
                walk(&p["panels"], out);
            }
        }
        let mut out = Vec::new();
        walk(&self.json["panels"], &mut out);
        out
    }

    /// Every Prometheus query (a target with an `expr`) of every panel, in dashboard order. Panics on a library
    /// panel, whose queries live outside the file.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for p in self.panels() {
            let title = p["title"].as_str().unwrap_or_default().to_owned();
            assert!(p.get("libraryPanel").is_none(), "panel {title:?} is a library panel: its queries are not here");
            for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let Some(expr) = t["expr"].as_str() else { continue };
                out.push(Target {
                    panel: title.clone(),
                    panel_id: p["id"].as_u64().unwrap_or_default(),
                    ref_id: t["refId"].as_str().unwrap_or_default().to_owned(),
                    expr: expr.to_owned(),
                    hidden: t["hide"].as_bool().unwrap_or(false),
                });
            }
        }
        out
    }

    /// The template variables, in order (later ones may use earlier ones).
    pub fn variables(&self) -> Vec<Variable> {
        let list = self.json["templating"]["list"].as_array().map(Vec::as_slice).unwrap_or_default();
        list.iter()
            .map(|v| {
                let query = match &v["query"] {
                    Value::String(s) => s.clone(),
                    Value::Object(o) => o.get("query").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    _ => String::new(),
                };
                let current = match &v["current"]["value"] {
                    Value::String(s) if !s.is_empty() => vec![s.clone()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                    _ => Vec::new(),
                };
                Variable {
                    name: v["name"].as_str().unwrap_or_default().to_owned(),
                    kind: v["type"].as_str().unwrap_or("query").to_owned(),
                    query,
                    regex: v["regex"].as_str().unwrap_or_default().to_owned(),
                    sort: v["sort"].as_u64().unwrap_or(0),
                    multi: v["multi"].as_bool().unwrap_or(false),
                    include_all: v["includeAll"].as_bool().unwrap_or(false),
                    current,
                }
            })
            .collect()
    }

    /// Fills in every template variable as Grafana does when the dashboard is opened: `query` variables are run
    /// against `prom` and take their first value after sorting; the others take their saved or first option. Panics
    /// when a `query` variable has no values (the dashboard would show "No data" everywhere) or uses something this
    /// module does not implement.
    pub fn resolve_variables(&self, prom: &Prometheus, builtins: &Builtins) -> Vars {
        self.resolve_with(builtins, |var, query| {
            let values = label_values(prom, query);
            assert!(!values.is_empty(), "template variable ${}: {query:?} returned no values", var.name);
            values
        })
    }

    /// Fills in the template variables without a Prometheus: `query` variables take the value `fixed` gives for
    /// their name (for static checks such as "every query parses").
    pub fn fixed_variables(&self, builtins: &Builtins, fixed: &[(&str, &str)]) -> Vars {
        self.resolve_with(builtins, |var, _| match fixed.iter().find(|(n, _)| *n == var.name) {
            Some((_, v)) => vec![(*v).to_owned()],
            None => panic!("no fixed value given for query variable ${}", var.name),
        })
    }

    fn resolve_with(&self, builtins: &Builtins, mut run_query: impl FnMut(&Variable, &str) -> Vec<String>) -> Vars {
        let mut vars = builtins.vars();
        for var in self.variables() {
            let values = match var.kind.as_str() {
                "query" => {
                    assert!(var.regex.is_empty(), "variable ${}: regex filters are not implemented here", var.name);
                    let query = match vars.interpolate(&var.query) {
                        Ok(q) => q,
                        Err(e) => panic!("variable ${}: {e}", var.name),
                    };
                    let mut values = run_query(&var, &query);
                    sort_values(&mut values, var.sort);
                    values.truncate(1);
                    values
                }
                "custom" | "interval" => {
                    let options: Vec<String> =
                        var.query.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
                    if var.current.first().is_some_and(|c| options.contains(c)) {
                        var.current.clone()
                    } else {
                        options.into_iter().take(1).collect()
                    }
                }
                "constant" => vec![var.query.clone()],
                "textbox" => {
                    if var.current.is_empty() {
                        vec![var.query.clone()]
                    } else {
                        var.current.clone()
                    }
                }
                // The datasource's name: only ever used in datasource fields, never in a query.
                "datasource" => vec![var.query.clone()],
                // Ad hoc filters add label matchers only when the user sets some; none are set.
                "adhoc" => continue,
                other => panic!("variable ${}: type {other:?} is not implemented here", var.name),
            };
            // An interval variable's "auto" option follows `$__interval`.
            let values = if var.kind == "interval" && values.first().is_some_and(|v| v == "auto") {
                vec![vars.value("__interval").unwrap_or_default().to_owned()]
            } else {
                values
            };
            vars.set(&var.name, values, var.multi || var.include_all);
        }
        vars
    }
}

/// The values of a `label_values(label)` or `label_values(selector, label)` query, asked of Prometheus as Grafana
/// asks them (`/api/v1/label/<label>/values`, with `match[]` when there is a selector).
pub fn label_values(prom: &Prometheus, query: &str) -> Vec<String> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("variable query {query:?}: only label_values(…) is implemented here"));
    let (selector, label) = match inner.rfind(',') {
        Some(i) => (Some(inner[..i].trim()), inner[i + 1..].trim()),
        None => (None, inner.trim()),
    };
    let path = match selector {
        Some(s) => format!("/api/v1/label/{}/values?match[]={}", url_encode(label), url_encode(s)),
        None => format!("/api/v1/label/{}/values", url_encode(label)),
    };
    prom.api(&path).as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

fn sort_values(values: &mut [String], sort: u64) {
    let num = |s: &String| s.parse::<f64>().unwrap_or(f64::NAN);
    match sort {
        1 => values.sort(),
        2 => values.sort_by(|a, b| b.cmp(a)),
        3 => values.sort_by(|a, b| num(a).total_cmp(&num(b))),
        4 => values.sort_by(|a, b| num(b).total_cmp(&num(a))),
        5 => values.sort_by_key(|a| a.to_lowercase()),
        6 => values.sort_by_key(|b| std::cmp::Reverse(b.to_lowercase())),
        _ => {}
    }
}

/// Grafana's global variables for one dashboard view.
#[derive(Debug, Clone)]
pub struct Builtins {
    /// `$__interval`: the step between two points of a graph.
    pub interval: Duration,
    /// `$__rate_interval`: the window `rate()` uses (Grafana: at least four scrape intervals).
    pub rate_interval: Duration,
    /// `$__range`: the dashboard's time range.
    pub range: Duration,
    /// The end of the time range (`$__to`).
    pub to: SystemTime,
}

impl Builtins {
    /// A view of the last 5 minutes with `$__rate_interval` = `rate_interval` and `$__interval` a third of it.
    pub fn new(rate_interval: Duration) -> Builtins {
        Builtins {
            interval: (rate_interval / 3).max(Duration::from_secs(1)),
            rate_interval,
            range: Duration::from_secs(300),
            to: SystemTime::now(),
        }
    }

    fn vars(&self) -> Vars {
        let ms = |d: Duration| d.as_millis().to_string();
        let to_ms = self.to.duration_since(UNIX_EPOCH).unwrap_or_default();
        let from_ms = to_ms.saturating_sub(self.range);
        let mut v = Vars::default();
        for (name, value) in [
            ("__interval", prom_duration(self.interval)),
            ("__interval_ms", ms(self.interval)),
            ("__rate_interval", prom_duration(self.rate_interval)),
            ("__rate_interval_ms", ms(self.rate_interval)),
            // Grafana writes the range in seconds, the intervals in the largest whole unit.
            ("__range", format!("{}s", self.range.as_secs())),
            ("__range_s", self.range.as_secs().to_string()),
            ("__range_ms", ms(self.range)),
            ("__from", ms(from_ms)),
            ("__to", ms(to_ms)),
        ] {
            v.set(name, vec![value], false);
        }
        v
    }
}

/// A duration as PromQL writes it (`15s`, `1500ms`, `5m`).
pub fn prom_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".to_owned(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

/// One variable's value(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarValue {
    /// The selected values (one unless multi-valued).
    pub values: Vec<String>,
    /// Whether the variable allows several values or "All" (Grafana then formats it as a regex by default).
    pub multi: bool,
}

/// Variables by name, ready to fill into queries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    map: BTreeMap<String, VarValue>,
}

impl Vars {
    /// Sets (or replaces) a variable.
    pub fn set(&mut self, name: &str, values: Vec<String>, multi: bool) {
        self.map.insert(name.to_owned(), VarValue { values, multi });
    }

    /// A variable's value(s).
    pub fn get(&self, name: &str) -> Option<&VarValue> {
        self.map.get(name)
    }

    /// The single value of a variable (its first one), for assertions.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.map.get(name).and_then(|v| v.values.first()).map(String::as_str)
    }

    /// Fills every variable into `text` as Grafana's Prometheus data source does. An unknown variable is an error
    /// (Grafana would send it unchanged and the panel would show an error or nothing), except `$1`-style names,
    /// which in PromQL are `label_replace` back-references.
    pub fn interpolate(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut unknown = BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find(['$', '[']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            match parse_reference(tail) {
                Some((len, name, format)) => {
                    match self.map.get(name) {
                        Some(v) => out.push_str(&format_value(v, format)?),
                        None => {
                            if !name.chars().all(|c| c.is_ascii_digit()) {
                                unknown.insert(name.to_owned());
                            }
                            out.push_str(&tail[..len]);
                        }
                    }
                    rest = &tail[len..];
                }
                None => {
                    out.push_str(&tail[..1]);
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        if unknown.is_empty() { Ok(out) } else { Err(format!("unknown template variable(s) {unknown:?} in {text:?}")) }
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// At the start of `s`, a variable reference: (its length, the name, the format if any). Grafana's forms are
/// `$name`, `[[name]]`, `[[name:format]]`, `${name}`, `${name:format}` (and `${name.field}`, not used by
/// Prometheus panels).
fn parse_reference(s: &str) -> Option<(usize, &str, Option<&str>)> {
    if let Some(body) = s.strip_prefix("${") {
        let end = body.find('}')?;
        let inner = &body[..end];
        let (name, format) = match inner.split_once(':') {
            Some((n, f)) => (n, Some(f)),
            None => (inner, None),
        };
        let name = name.split('.').next().unwrap_or(name);
        if name.is_empty() || !name.chars().all(is_word) {
            return None;
        }
        return Some((end + 3, name, format));
    }
    if let Some(body) = s.strip_prefix("[[") {
        let end = body.find("]]")?;
        let inner = &body[..end];
        let (name, format) = match inner.split_once(':') {
            Some((n, f)) => (n, Some(f)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(is_word) || format.is_some_and(|f| !f.chars().all(is_word)) {
            return None;
        }
        return Some((end + 4, name, format));
    }
    let body = s.strip_prefix('$')?;
    let len = body.find(|c: char| !is_word(c)).unwrap_or(body.len());
    (len > 0).then(|| (len + 1, &body[..len], None))
}

/// Escapes regex metacharacters as Grafana's Prometheus data source does for regex-formatted values.
fn regex_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if "\\^$*+?.()|{}[]".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn format_value(v: &VarValue, format: Option<&str>) -> Result<String, String> {
    let vals = &v.values;
    let joined = |sep: &str| vals.join(sep);
    let regex = || {
        let escaped: Vec<String> = vals.iter().map(|s| regex_escape(s)).collect();
        if escaped.len() == 1 { escaped[0].clone() } else { format!("({})", escaped.join("|")) }
    };
    Ok(match format {
        // Grafana's Prometheus data source: a single-valued variable goes in as it is (backslashes doubled for
        // the PromQL string it usually lands in), a multi-valued one as a regex alternation.
        None if v.multi => regex(),
        None => joined(",").replace('\\', "\\\\"),
        Some("raw" | "text" | "value" | "csv") => joined(","),
        Some("regex") => regex(),
        Some("pipe") => joined("|"),
        Some("distributed") => joined(","),
        Some("glob") if vals.len() > 1 => format!("{{{}}}", joined(",")),
        Some("glob") => joined(","),
        Some("json") if vals.len() == 1 => serde_json::Value::from(vals[0].as_str()).to_string(),
        Some("json") => serde_json::Value::from(vals.clone()).to_string(),
        Some("doublequote") => {
            vals.iter().map(|s| format!("\"{}\"", s.replace('"', "\\\""))).collect::<Vec<_>>().join(",")
        }
        Some("singlequote") => {
            vals.iter().map(|s| format!("'{}'", s.replace('\'', "\\'"))).collect::<Vec<_>>().join(",")
        }
        Some("sqlstring") => vals.iter().map(|s| format!("'{}'", s.replace('\'', "''"))).collect::<Vec<_>>().join(","),
        Some("percentencode") => url_encode(&joined(",")),
        Some("lucene") => {
            let esc = |s: &str| {
                s.chars().fold(String::new(), |mut acc, c| {
                    if "+-&|!(){}[]^\"~*?:\\/ ".contains(c) {
                        acc.push('\\');
                    }
                    acc.push(c);
                    acc
                })
            };
            if vals.len() == 1 {
                esc(&vals[0])
            } else {
                format!("({})", vals.iter().map(|s| format!("\"{}\"", esc(s))).collect::<Vec<_>>().join(" OR "))
            }
        }
        Some(other) => return Err(format!("variable format {other:?} is not implemented here")),
    })
}

/// The metric names a PromQL expression reads: identifiers that are not functions, aggregations, keywords,
/// label names (in `{…}`, `by (…)`, `on (…)`, …), durations or strings.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];
    const KEYWORDS: &[&str] = &["bool", "offset", "and", "or", "unless", "atan2", "inf", "nan", "start", "end"];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skips from an opening bracket to just past its partner, stepping over strings.
    let skip_group = |mut i: usize, open: char, close: char| {
        let mut depth = 0;
        while i < chars.len() {
            match chars[i] {
                '"' | '\'' | '`' => i = skip_string(&chars, i),
                c if c == open => {
                    depth += 1;
                    i += 1;
                }
                c if c == close => {
                    depth -= 1;
                    i += 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => i += 1,
            }
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_group(i, '{', '}'),
            '[' => i = skip_group(i, '[', ']'),
            '#' => {
                // A comment runs to the end of the line.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                // Numbers and durations (`1e3`, `0x1f`, `5m`).
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let next = chars.get(j).copied();
                let lower = word.to_ascii_lowercase();
                if LABEL_LISTS.contains(&lower.as_str()) {
                    if next == Some('(') {
                        i = skip_group(j, '(', ')');
                    }
                } else if next == Some('(')
                    || AGGREGATIONS.contains(&lower.as_str())
                    || KEYWORDS.contains(&lower.as_str())
                {
                    // A function call, an aggregation (`sum by (x) (…)`) or an operator keyword.
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// From an opening quote at `i`, the index just past the closing one (backslash escapes inside `"` and `'`).
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() {
        if chars[j] == '\\' && quote != '`' {
            j += 2;
            continue;
        }
        if chars[j] == quote {
            return j + 1;
        }
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let mut v = Builtins {
            interval: Duration::from_secs(5),
            rate_interval: Duration::from_secs(15),
            range: Duration::from_secs(3600),
            to: UNIX_EPOCH + Duration::from_secs(1_000_000),
        }
        .vars();
        v.set("job", vec!["node".into()], false);
        v.set("node", vec!["127.0.0.1:9100".into()], false);
        v.set("disk", vec!["sda".into(), "nvme0n1".into()], true);
        v.set("re", vec!["a.b".into()], false);
        v
    }

    #[test]
    fn every_reference_form() {
        let v = vars();
        let ok = |s: &str| v.interpolate(s).expect("interpolates");
        assert_eq!(
            ok(r#"rate(x{job="$job",instance="${node}"}[$__rate_interval])"#),
            r#"rate(x{job="node",instance="127.0.0.1:9100"}[15s])"#
        );
        assert_eq!(ok("[[job]] [[job:raw]] ${job:raw} ${job:value} ${job:text}"), "node node node node node");
        assert_eq!(ok(r#"x{device=~"$disk"}"#), r#"x{device=~"(sda|nvme0n1)"}"#);
        assert_eq!(
            ok("${disk:pipe} ${disk:csv} ${disk:glob} ${disk:json}"),
            r#"sda|nvme0n1 sda,nvme0n1 {sda,nvme0n1} ["sda","nvme0n1"]"#
        );
        assert_eq!(ok("${re:regex} ${re} ${re:doublequote} ${re:singlequote}"), r#"a\.b a.b "a.b" 'a.b'"#);
        assert_eq!(ok("$__interval $__interval_ms $__range $__range_s $__range_ms"), "5s 5000 3600s 3600 3600000");
        assert_eq!(ok("$__from $__to"), "996400000 1000000000");
        // Not references: label_replace back-references, `$` at the end of a regex, PromQL subqueries.
        assert_eq!(ok(r#"label_replace(x, "a", "$1", "b", "(.*)$")"#), r#"label_replace(x, "a", "$1", "b", "(.*)$")"#);
        assert_eq!(ok("max_over_time(x[5m:1m])"), "max_over_time(x[5m:1m])");
        assert!(v.interpolate("x{a=\"$nope\"}").unwrap_err().contains("nope"));
        assert!(v.interpolate("${job:nosuchformat}").is_err());
        // `$jobx` is the variable `jobx`, not `$job` followed by `x` (Grafana's `\w+`).
        assert!(v.interpolate("$jobx").is_err());
    }

    #[test]
    fn variables_of_every_kind() {
        let d = Dashboard {
            json: json!({
                "templating": {"list": [
                    {"name": "ds", "type": "datasource", "query": "prometheus"},
                    {"name": "job", "type": "query", "query": {"query": "label_values(up, job)"}, "sort": 2},
                    {"name": "node", "type": "query", "query": "label_values(up{job=\"$job\"}, instance)"},
                    {"name": "disks", "type": "constant", "query": "[a-z]+|nvme[0-9]+n[0-9]+"},
                    {"name": "iv", "type": "interval", "query": "1m,5m", "current": {"value": "5m"}},
                    {"name": "c", "type": "custom", "query": "a, b", "multi": true},
                    {"name": "f", "type": "adhoc"},
                ]},
                "panels": [
                    {"id": 1, "title": "row", "type": "row", "panels": [
                        {"id": 2, "title": "inner", "targets": [{"refId": "A", "expr": "up{job=\"$job\"}", "hide": true}]},
                    ]},
                    {"id": 3, "title": "text"},
                    {"id": 4, "title": "graph", "targets": [{"refId": "B", "expr": "x"}, {"refId": "C", "query": "not prom"}]},
                ],
            }),
        };
        let mut asked = Vec::new();
        let vars = d.resolve_with(&Builtins::new(Duration::from_secs(60)), |var, q| {
            asked.push(q.to_owned());
            match var.name.as_str() {
                "job" => vec!["a".into(), "c".into(), "b".into()],
                _ => vec!["h:2".into(), "h:1".into()],
            }
        });
        assert_eq!(asked, ["label_values(up, job)", "label_values(up{job=\"c\"}, instance)"]);
        assert_eq!(vars.value("job"), Some("c"), "sort 2 is descending");
        assert_eq!(vars.value("node"), Some("h:2"), "sort 0 keeps Prometheus's order");
        assert_eq!(vars.value("disks"), Some("[a-z]+|nvme[0-9]+n[0-9]+"));
        assert_eq!(vars.value("iv"), Some("5m"));
        assert_eq!(vars.interpolate("$c").as_deref(), Ok("a"));
        assert_eq!(vars.value("ds"), Some("prometheus"));
        assert_eq!(vars.value("__rate_interval"), Some("1m"));
        let targets = d.targets();
        assert_eq!(targets.len(), 2);
        assert_eq!((targets[0].panel.as_str(), targets[0].hidden, targets[0].panel_id), ("inner", true, 2));
        assert_eq!((targets[1].ref_id.as_str(), targets[1].expr.as_str()), ("B", "x"));
        let fixed = d.fixed_variables(&Builtins::new(Duration::from_secs(60)), &[("job", "j"), ("node", "n")]);
        assert_eq!(fixed.interpolate("$job $node"), Ok("j n".to_owned()));
    }

    #[test]
    fn names_in_expressions() {
        let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
        assert_eq!(
            names(r#"sum by (mode) (rate(node_cpu_seconds_total{job="$job", mode!="idle"}[1m])) / up"#),
            ["node_cpu_seconds_total", "up"]
        );
        assert_eq!(
            names("a * on(chip) group_left(chip_name) b > bool 0 and c offset 5m or sum without(x)(d) unless e"),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(names("count(count(x{a=\"y z\"}) by (cpu)) + 1e3 - Inf + scalar(y) + .5"), ["x", "y"]);
        assert_eq!(names("topk(3, m:rec:rate5m) # a comment with words\n"), ["m:rec:rate5m"]);
        assert_eq!(names("time() - vector(0)"), Vec::<String>::new());
        assert_eq!(names("x[5m:1m] @ start()"), ["x"]);
    }

    #[test]
    fn durations() {
        assert_eq!(prom_duration(Duration::from_secs(15)), "15s");
        assert_eq!(prom_duration(Duration::from_secs(120)), "2m");
        assert_eq!(prom_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(prom_duration(Duration::from_millis(1500)), "1500ms");
    }
}
