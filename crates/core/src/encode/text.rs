//! The Prometheus text exposition format, version 0.0.4.

use std::borrow::Cow;

use super::float::{write_go_float, write_u64};
use crate::model::{Label, MetricFamily, MetricType, Value, is_valid_label_name, is_valid_metric_name};

/// Appends `families` in text format 0.0.4. Families or labels with invalid names are skipped so one bad name
/// from a target cannot make Prometheus reject the whole scrape. Label names are checked when built at run time
/// (`Cow::Owned`); static ones are our own (see [`crate::model::Label`]).
pub fn encode<'a>(out: &mut String, families: impl IntoIterator<Item = &'a MetricFamily>) {
    for fam in families {
        if fam.samples.is_empty() || !is_valid_metric_name(&fam.name) {
            continue;
        }
        out.push_str("# HELP ");
        out.push_str(&fam.name);
        out.push(' ');
        escape_help(out, &fam.help);
        out.push_str("\n# TYPE ");
        out.push_str(&fam.name);
        out.push(' ');
        out.push_str(fam.metric_type.as_text());
        out.push('\n');
        for s in &fam.samples {
            match &s.value {
                Value::Scalar(v) => line(out, &fam.name, "", &s.labels, None, |o| write_go_float(o, *v)),
                Value::Histogram(h) if fam.metric_type == MetricType::Histogram => {
                    let mut le = String::new();
                    for (bound, count) in &h.buckets {
                        le.clear();
                        write_go_float(&mut le, *bound);
                        line(out, &fam.name, "_bucket", &s.labels, Some(("le", &le)), |o| write_u64(o, *count));
                    }
                    line(out, &fam.name, "_bucket", &s.labels, Some(("le", "+Inf")), |o| write_u64(o, h.count));
                    line(out, &fam.name, "_sum", &s.labels, None, |o| write_go_float(o, h.sum));
                    line(out, &fam.name, "_count", &s.labels, None, |o| write_u64(o, h.count));
                }
                Value::Summary(sm) if fam.metric_type == MetricType::Summary => {
                    let mut q = String::new();
                    for (quantile, v) in &sm.quantiles {
                        q.clear();
                        write_go_float(&mut q, *quantile);
                        line(out, &fam.name, "", &s.labels, Some(("quantile", &q)), |o| write_go_float(o, *v));
                    }
                    line(out, &fam.name, "_sum", &s.labels, None, |o| write_go_float(o, sm.sum));
                    line(out, &fam.name, "_count", &s.labels, None, |o| write_u64(o, sm.count));
                }
                // A histogram or summary value in a family of another type is a programming error; skip it
                // rather than write something Prometheus rejects.
                _ => {}
            }
        }
    }
}

/// Writes one sample line: `name+suffix{labels,extra} value`. `extra` (`le`, `quantile`) has a valid name.
pub(crate) fn line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[Label],
    extra: Option<(&str, &str)>,
    value: impl FnOnce(&mut String),
) {
    out.push_str(name);
    out.push_str(suffix);
    let mut first = true;
    for (k, v) in labels {
        // Static names are our own, checked by debug assertions where samples are added; only names built at run
        // time (from target data) can be invalid.
        let valid = match k {
            Cow::Borrowed(k) => {
                debug_assert!(is_valid_label_name(k), "invalid static label name {k:?}");
                true
            }
            Cow::Owned(k) => is_valid_label_name(k),
        };
        if valid {
            label(out, &mut first, k, v);
        }
    }
    if let Some((k, v)) = extra {
        label(out, &mut first, k, v);
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    value(out);
    out.push('\n');
}

/// Writes `{k="v"` (the first label) or `,k="v"`.
fn label(out: &mut String, first: &mut bool, k: &str, v: &str) {
    out.push(if *first { '{' } else { ',' });
    *first = false;
    out.push_str(k);
    out.push_str("=\"");
    escape_label_value(out, v);
    out.push('"');
}

/// Escapes HELP text as text 0.0.4 requires: backslash and newline.
fn escape_help(out: &mut String, help: &str) {
    if !help.bytes().any(|b| b == b'\\' || b == b'\n') {
        out.push_str(help);
        return;
    }
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escapes a label value: backslash, double quote and newline.
pub(crate) fn escape_label_value(out: &mut String, v: &str) {
    // Almost every value needs no escaping: copy it at once.
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
