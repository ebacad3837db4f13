//! Golden-file tests of the exposition encoders.
//!
//! Each `tests/fixtures/<case>.json` describes metric families; the expected text 0.0.4 output is `<case>.prom`
//! and the expected OpenMetrics output `<case>.om` beside it. `UPDATE_GOLDEN=1 cargo test -p oxporter-core --test
//! exposition_golden` rewrites the expected files from the current encoders (review the diff before committing).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use oxporter_core::encode::{Format, encode};
use oxporter_core::model::{HistogramValue, MetricType, Snapshot, SummaryValue, Value};
use serde_json::Value as J;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn num(v: &J) -> f64 {
    match v {
        J::Number(n) => n.as_f64().expect("number"),
        J::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "-0" => -0.0,
            other => other.parse().expect("numeric string"),
        },
        other => panic!("not a number: {other}"),
    }
}

fn pairs(v: &J) -> Vec<(f64, f64)> {
    v.as_array().expect("array").iter().map(|p| (num(&p[0]), num(&p[1]))).collect()
}

/// Builds a snapshot from the fixture's JSON description.
fn load(path: &Path) -> Snapshot {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let doc: J = serde_json::from_str(&text).expect("fixture is JSON");
    let mut snap = Snapshot::new();
    for fam in doc.as_array().expect("list of families") {
        let ty = match fam["type"].as_str().expect("type") {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "untyped" => MetricType::Untyped,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            t => panic!("unknown type {t}"),
        };
        let name = fam["name"].as_str().expect("name").to_owned();
        let help = fam["help"].as_str().unwrap_or("").to_owned();
        let f = snap.family(name, help, ty);
        for s in fam["samples"].as_array().expect("samples") {
            let labels = s["labels"]
                .as_array()
                .map(|ls| {
                    ls.iter()
                        .map(|l| {
                            (
                                Cow::Owned(l[0].as_str().expect("label name").to_owned()),
                                l[1].as_str().expect("label value").into(),
                            )
                        })
                        .collect::<Vec<oxporter_core::model::Label>>()
                })
                .unwrap_or_default();
            let v = &s["value"];
            let value = if let Some(b) = v.get("buckets") {
                Value::Histogram(HistogramValue {
                    buckets: pairs(b).into_iter().map(|(le, c)| (le, c as u64)).collect(),
                    sum: num(&v["sum"]),
                    count: v["count"].as_u64().expect("count"),
                })
            } else if let Some(q) = v.get("quantiles") {
                Value::Summary(SummaryValue {
                    quantiles: pairs(q),
                    sum: num(&v["sum"]),
                    count: v["count"].as_u64().expect("count"),
                })
            } else {
                Value::Scalar(num(v))
            };
            f.push(labels, value);
        }
    }
    snap
}

fn check(expected_path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected_path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(expected_path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1 to create it", expected_path.display()));
    if expected != actual {
        panic!(
            "{} differs from the encoder's output (UPDATE_GOLDEN=1 rewrites it).\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        );
    }
}

#[test]
fn golden_files() {
    let mut cases = 0;
    for entry in std::fs::read_dir(fixtures()).expect("fixtures dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let families = load(&path).into_sorted();
            let text = encode(Format::Text004, &families);
            let om = encode(Format::OpenMetrics100, &families);
            check(&path.with_extension("prom"), &text);
            check(&path.with_extension("om"), &om);
            // The goldens are only worth pinning if real parsers accept them: promtool (exit 1 fails; naming
            // lint is fine) and a strict OpenMetrics parser.
            oxporter_testkit::promtool::check_metrics(&text);
            oxporter_testkit::openmetrics::check_openmetrics(&om);
            cases += 1;
        }
    }
    assert!(cases >= 3, "expected the golden cases in {}", fixtures().display());
}
