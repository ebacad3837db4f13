//! The OpenMetrics 1.0 text format.
//!
//! Names are kept exactly as in text 0.0.4 so that Prometheus stores the same series whichever format it
//! negotiates. OpenMetrics requires counter samples to end in `_total`; a counter whose name does not (the Go
//! exporters have a few) is therefore written as `unknown`, not renamed. See docs/compatibility.md.

use super::float::{write_om_float, write_u64};
use super::text::line;
use crate::model::{MetricFamily, MetricType, Value, is_valid_metric_name};

/// Appends `families` in OpenMetrics 1.0 format, ending with `# EOF`.
pub fn encode<'a>(out: &mut String, families: impl IntoIterator<Item = &'a MetricFamily>) {
    for fam in families {
        if fam.samples.is_empty() || !is_valid_metric_name(&fam.name) {
            continue;
        }
        let (family_name, type_name, suffix): (&str, &str, &str) = match fam.metric_type {
            MetricType::Counter => match fam.name.strip_suffix("_total") {
                Some(base) if !base.is_empty() => (base, "counter", "_total"),
                _ => (&fam.name, "unknown", ""),
            },
            MetricType::Gauge => (&fam.name, "gauge", ""),
            MetricType::Untyped => (&fam.name, "unknown", ""),
            MetricType::Histogram => (&fam.name, "histogram", ""),
            MetricType::Summary => (&fam.name, "summary", ""),
        };
        out.push_str("# TYPE ");
        out.push_str(family_name);
        out.push(' ');
        out.push_str(type_name);
        out.push('\n');
        if !fam.help.is_empty() {
            out.push_str("# HELP ");
            out.push_str(family_name);
            out.push(' ');
            escape_help(out, &fam.help);
            out.push('\n');
        }
        for s in &fam.samples {
            match &s.value {
                Value::Scalar(v) => line(out, family_name, suffix, &s.labels, None, |o| write_om_float(o, *v)),
                Value::Histogram(h) if fam.metric_type == MetricType::Histogram => {
                    let mut le = String::new();
                    for (bound, count) in &h.buckets {
                        le.clear();
                        write_om_float(&mut le, *bound);
                        line(out, family_name, "_bucket", &s.labels, Some(("le", &le)), |o| write_u64(o, *count));
                    }
                    line(out, family_name, "_bucket", &s.labels, Some(("le", "+Inf")), |o| write_u64(o, h.count));
                    line(out, family_name, "_sum", &s.labels, None, |o| write_om_float(o, h.sum));
                    line(out, family_name, "_count", &s.labels, None, |o| write_u64(o, h.count));
                }
                Value::Summary(sm) if fam.metric_type == MetricType::Summary => {
                    let mut q = String::new();
                    for (quantile, v) in &sm.quantiles {
                        q.clear();
                        write_om_float(&mut q, *quantile);
                        line(out, family_name, "", &s.labels, Some(("quantile", &q)), |o| write_om_float(o, *v));
                    }
                    line(out, family_name, "_sum", &s.labels, None, |o| write_om_float(o, sm.sum));
                    line(out, family_name, "_count", &s.labels, None, |o| write_u64(o, sm.count));
                }
                _ => {}
            }
        }
    }
    out.push_str("# EOF\n");
}

/// Escapes HELP text as OpenMetrics requires: backslash, newline and double quote.
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}
