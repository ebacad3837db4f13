use super::*;

use Mode::{Lenient, Strict};

/// A textfile as people write them: every feature once.
const TEXTFILE: &str = "# HELP backup_ok Whether the last backup\\nsucceeded.\n\
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
                        with_ts 1 1700000000000\n";

/// An exposition as exporters write it.
const EXPOSITION: &str = r#"# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
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
# HELP empty_help 
# TYPE empty_help gauge
empty_help 1
"#;

fn both(input: &str) -> Vec<Family> {
    let lenient = parse(input, Lenient).expect("lenient parses");
    let strict = parse(input, Strict).expect("strict parses");
    // NaN != NaN: compare the debug output.
    assert_eq!(format!("{lenient:?}"), format!("{strict:?}"), "the modes disagree on a valid input");
    lenient
}

#[test]
fn typical_textfile() {
    let fams = both(TEXTFILE);
    let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["backup_ok", "untyped_thing", "lat", "q", "with_ts"]);
    assert_eq!(fams[0].help.as_deref(), Some("Whether the last backup\nsucceeded."));
    assert_eq!(fams[0].metric_type, MetricType::Gauge);
    assert_eq!(fams[0].samples[0].labels[1].1, "a\"b");
    assert_eq!(fams[1].metric_type, MetricType::Untyped);
    assert_eq!(fams[2].metric_type, MetricType::Histogram);
    assert_eq!(fams[2].samples.len(), 4);
    assert_eq!(fams[2].samples[3].name, "lat_count");
    assert!(fams[3].samples[0].value.is_nan());
    assert_eq!(fams[4].samples[0].timestamp_ms, Some(1_700_000_000_000));
}

#[test]
fn exporter_exposition_and_helpers() {
    let f = both(EXPOSITION);
    let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["node_cpu_seconds_total", "node_uname_info", "esc", "untyped_no_meta", "h", "s", "empty_help"]);
    assert_eq!(f[0].metric_type, MetricType::Counter);
    assert_eq!(f[0].samples[1].value, 46.0);
    assert_eq!(f[0].label_names(), BTreeSet::from(["cpu".to_string(), "mode".to_string()]));
    assert_eq!(f[1].samples[0].label("nodename"), Some("a\"b\\c\nd"));
    assert_eq!(f[1].samples[0].label("nope"), None);
    assert_eq!(f[2].help.as_deref(), Some("Help with \\ backslash and \n newline."));
    assert!(f[2].samples[0].value.is_nan());
    assert_eq!(f[2].samples[1].timestamp_ms, Some(1_700_000_000_000));
    assert_eq!(f[3].metric_type, MetricType::Untyped);
    assert_eq!(f[3].help, None);
    assert_eq!(f[4].samples.len(), 4);
    assert_eq!(f[4].label_names(), BTreeSet::from(["le".to_string()]));
    assert_eq!(f[5].samples.len(), 3);
    // An empty HELP text (as encoders write it) is no HELP, as in Go.
    assert_eq!(f[6].help, None);
    let s = Sample {
        name: "x".into(),
        labels: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
        value: 1.0,
        timestamp_ms: None,
    };
    assert_eq!(s.label_key(), [("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())]);
}

/// Rejected in both modes, with the line named.
#[test]
fn errors_name_the_line() {
    let cases = [
        ("x{a=\"1\"} 1\n# TYPE x gauge\n", 2),
        ("# TYPE x gauge\n# TYPE x gauge\n", 2),
        ("# TYPE a untyped\n# TYPE a untyped\n", 2),
        ("# TYPE a gauge\n# TYPE a counter\na 1\n", 2),
        ("# HELP x a\n# HELP x b\n", 2),
        ("# TYPE x flubber\n", 1),
        ("# TYPE x gauge_histogram\n", 1),
        ("# TYPE x gauge \n", 1),
        ("# HELP 9x y\n", 1),
        ("# HELP x-y z\n", 1),
        ("# HELP x a\\qb\n", 1),
        ("# HELP x a\\\n", 1),
        ("x 1\ny{a=1} 2\n", 2),
        ("x{a=\"1\",a=\"2\"} 1\n", 1),
        ("x{a=\"1} 1\n", 1),
        ("a{b=\"1\" 1\n", 1),
        ("x{a=\"\\q\"} 1\n", 1),
        ("x{1b=\"1\"} 1\n", 1),
        ("x{,a=\"1\"} 1\n", 1),
        ("x{a=\"1\" b=\"2\"} 1\n", 1),
        ("x{__name__=\"y\"} 1\n", 1),
        ("x abc\n", 1),
        ("a one\n", 1),
        ("x 0x1p4\n", 1),
        ("x 1_000\n", 1),
        ("x 1e400\n", 1),
        ("x +NaN\n", 1),
        ("x 1 2 3\n", 1),
        ("x 1 1.5\n", 1),
        ("x 1 {a=\"1\"}\n", 1),
        ("x\n", 1),
        ("x{a=\"1\"}\n", 1),
        ("1x 1\n", 1),
        // Go refuses trailing blanks after the value or the timestamp.
        ("x 1 \n", 1),
        ("x 1 123 \n", 1),
        // '\r' is an ordinary byte: CRLF files are refused, as by Go.
        ("x 1\r\n", 1),
        ("\r\nx 1\n", 1),
        ("# TYPE x gauge\r\nx 1\n", 1),
        // The last line must end with '\n'.
        ("x 1", 1),
        ("x 1\n# comment", 2),
        ("# TYPE h histogram\nh_bucket{le=\"abc\"} 1\n", 2),
        ("# TYPE h histogram\nh_bucket{le=\"1e400\"} 1\n", 2),
        ("# TYPE h histogram\nh_sum{le=\"x\"} 1\n", 2),
        ("# TYPE s summary\ns{quantile=\"x\"} 1\n", 2),
        // `# TYPE s_count …` is about the summary `s`.
        ("# TYPE s summary\n# TYPE s_count gauge\n", 2),
    ];
    for (input, line) in cases {
        for mode in [Lenient, Strict] {
            match parse(input, mode) {
                Err(e) => assert_eq!(e.line, line, "{mode:?} {input:?}: {e}"),
                Ok(f) => panic!("{mode:?}: {input:?} parsed: {f:?}"),
            }
        }
    }
    let e = parse("a 1\n\nb x\n", Strict).expect_err("bad value");
    assert_eq!(e.line, 3);
    assert_eq!(e.to_string(), "text format parsing error in line 3: expected float as value, got \"x\"");
}

/// What only strict mode rejects; lenient (Go's parser) accepts each.
#[test]
fn strict_only_rejections() {
    for (input, why) in [
        ("a inf\n", "lowercase inf"),
        ("a Infinity\n", "Go's other spelling of +Inf"),
        ("a nan\n", "lowercase NaN"),
        ("a 1\na 2\n", "duplicate series"),
        ("a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n", "duplicate series, labels reordered"),
        ("a 1\nb 1\na{x=\"1\"} 1\n", "family not contiguous"),
        ("a 1\nb 1\n# HELP a x\n", "metadata after the family ended"),
        ("# TYPE s summary\ns{quantile=\"0.5\"} 1\nb 1\ns_count 1\n", "summary series after the family ended"),
        ("# TYPE h histogram\nh_bucket 1\n", "bucket without le"),
        ("# TYPE s summary\ns 1\n", "summary sample without quantile"),
        ("# TYPE h histogram\nh_bucket{le=\"1\",le=\"2\"} 1\n", "le twice"),
        ("# TYPE s summary\ns{quantile=\"1\",quantile=\"2\"} 1\n", "quantile twice"),
        ("# TYPE h histogram\nh_bucket{le=\"inf\"} 1\n", "le in Go's lenient spelling"),
        ("# TYPE x GAUGE\nx 1\n", "upper-case type"),
        ("# TYPE x\nx 1\n", "TYPE without a type"),
        ("# HELP\nx 1\n", "HELP without a name"),
        ("x-1 2\n", "no blank after the name (Go reads value -1, timestamp 2)"),
        ("x {a=\"1\"} 1\n", "blank before the labels"),
    ] {
        assert!(parse(input, Strict).is_err(), "{why}: {input:?} should be rejected in strict mode");
        if let Err(e) = parse(input, Lenient) {
            panic!("{why}: {input:?} should parse in lenient mode: {e}");
        }
    }
}

/// Go's parser's way with odd but valid input (verdicts and results observed with node_exporter 1.5's textfile
/// collector; `exporters/node/tests/textfile_compat.rs` compares the two side by side).
#[test]
fn lenient_follows_go() {
    let one = |input: &str| -> Family {
        let mut f = parse(input, Lenient).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        f.retain(|f| !f.samples.is_empty());
        assert_eq!(f.len(), 1, "{input:?}: {f:?}");
        f.remove(0)
    };
    // HELP/TYPE without text are ignored; HELP text starts after all blanks; TYPE is case-insensitive.
    assert_eq!(one("# HELP x\n# TYPE x\nx 1\n").help, None);
    assert_eq!(one("# HELP x \t\nx 1\n").help, None);
    assert_eq!(one("# HELP x \n# HELP x real\nx 1\n").help.as_deref(), Some("real"));
    assert_eq!(one("# HELP x   lead\nx 1\n").help.as_deref(), Some("lead"));
    assert_eq!(one("# HELP x a\t\nx 1\n").help.as_deref(), Some("a\t"));
    assert_eq!(one("#HELP x a\nx 1\n").help.as_deref(), Some("a"));
    assert_eq!(one("# TYPE\tx\tgauge\nx 1\n").metric_type, MetricType::Gauge);
    assert_eq!(one("# TYPE x Counter\nx 1\n").metric_type, MetricType::Counter);
    assert_eq!(one("# TYPE x GAUGE\nx 1\n").metric_type, MetricType::Gauge);
    // `# HELP x_bucket` of a histogram x is x's HELP.
    let h = one("# TYPE h histogram\n# HELP h_bucket hh\nh_bucket{le=\"1\"} 1\n");
    assert_eq!((h.name.as_str(), h.help.as_deref()), ("h", Some("hh")));
    // Buckets without le and summary samples without quantile are accepted (Go ignores their values), and a
    // repeated le or quantile too.
    assert_eq!(one("# TYPE h histogram\nh_bucket 1\nh_count 1\n").samples.len(), 2);
    assert_eq!(one("# TYPE s summary\ns 1\ns_sum 1\n").samples.len(), 2);
    assert_eq!(one("# TYPE h histogram\nh_bucket{le=\"1\",le=\"2\"} 1\n").samples[0].labels.len(), 2);
    assert_eq!(one("# TYPE h histogram\nh_bucket{le=\"inf\"} 1\n").samples.len(), 1);
    // `quantile` is an ordinary label elsewhere.
    assert_eq!(one("# TYPE g gauge\ng{quantile=\"x\"} 1\n").samples[0].label("quantile"), Some("x"));
    // A family split in two is merged; so are duplicate series.
    let f = parse("x{a=\"1\"} 1\nx_other 1\nx{a=\"2\"} 1\n", Lenient).expect("parses");
    assert_eq!((f.len(), f[0].samples.len()), (2, 2));
    assert_eq!(one("x 1\nx 2\n").samples.len(), 2);
    // A family of exactly the sample's name wins over the summary its suffix points to.
    let f = parse("s_count 1\n# TYPE s summary\ns_count 2\ns_sum 3\n", Lenient).expect("parses");
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].name.as_str(), f[0].samples.len()), ("s_count", 2));
    assert_eq!((f[1].name.as_str(), f[1].samples.len()), ("s", 1));
    // A summary has no _bucket series: that is a family of its own.
    assert_eq!(one("# TYPE s summary\ns_bucket 1\n").name, "s_bucket");
    // Name, labels and value need no blanks between them, or may have several.
    assert_eq!(one("x{a=\"1\"}1\n").samples[0].value, 1.0);
    assert_eq!(one("x {a=\"1\"} 1\n").samples[0].label("a"), Some("1"));
    assert_eq!(one("x{ a = \"1\" , b=\"2\" ,} \t 2\n").samples[0].labels.len(), 2);
    assert_eq!(one("x\t1\n").samples[0].value, 1.0);
    assert_eq!(one("x  1\n").samples[0].value, 1.0);
    assert_eq!(one("   x 1\n").samples[0].value, 1.0);
    assert_eq!(one("x{} 1\n").samples[0].labels.len(), 0);
    let s = &one("x-1 2\n").samples[0];
    assert_eq!((s.value, s.timestamp_ms), (-1.0, Some(2)));
    assert_eq!(one("x 1 +5\n").samples[0].timestamp_ms, Some(5));
    assert_eq!(one("x 1 -5\n").samples[0].timestamp_ms, Some(-5));
    assert_eq!(one(": 1\n").name, ":");
    assert_eq!(one("x{a=\"x\ty\u{e9}\"} 1\n").samples[0].label("a"), Some("x\ty\u{e9}"));
    // A last line of blanks without '\n' is fine; empty input is no families.
    assert_eq!(one("x 1\n   ").samples.len(), 1);
    assert_eq!(parse("", Lenient), Ok(vec![]));
    assert_eq!(parse("\n\n", Lenient), Ok(vec![]));
    // '\r' is kept in HELP and label values.
    assert_eq!(one("# HELP x a\r\nx{l=\"\r\"} 1\n").help.as_deref(), Some("a\r"));
}

#[test]
fn go_floats() {
    for (s, v) in [
        ("1", 1.0),
        ("-2.5", -2.5),
        ("+1.5", 1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("1e-400", 0.0),
        ("+Inf", f64::INFINITY),
        ("-inf", f64::NEG_INFINITY),
        ("Infinity", f64::INFINITY),
        ("-INFINITY", f64::NEG_INFINITY),
    ] {
        assert_eq!(parse_go_float(s), Some(v), "{s}");
    }
    assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
    assert!(parse_go_float("nan").is_some_and(f64::is_nan));
    for s in ["", "abc", "1,5", "0x", "0x1p4", "1_0", "--1", "nan1", "+nan", "-NaN", "1e400", "-1e400", ".", "e5", "1e"]
    {
        assert_eq!(parse_go_float(s), None, "{s}");
    }
    for (s, v) in [("+Inf", f64::INFINITY), ("Inf", f64::INFINITY), ("-Inf", f64::NEG_INFINITY), ("4.6e+01", 46.0)] {
        assert_eq!(parse_canonical_float(s), Some(v), "{s}");
    }
    assert!(parse_canonical_float("NaN").is_some_and(f64::is_nan));
    for s in ["inf", "Infinity", "nan", "NAN", "1e400", "0x10"] {
        assert_eq!(parse_canonical_float(s), None, "{s}");
    }
}

/// The fuzz target's function (`crates/core/fuzz/fuzz_targets/textparse.rs`) over garbage, so CI covers it.
#[test]
fn garbage_never_panics() {
    let tokens = &[
        "a",
        "_",
        ":",
        "{",
        "}",
        "=",
        "\"",
        ",",
        "#",
        " ",
        "\n",
        "\\",
        "HELP",
        "TYPE",
        "histogram",
        "summary",
        "gauge",
        "GAUGE",
        "le",
        "quantile",
        "_bucket",
        "_sum",
        "_count",
        "1",
        ".5",
        "e+",
        "-Inf",
        "NaN",
        "inf",
        "\t",
        "\r",
        "é",
        "\u{0}",
        "\u{1F600}",
        "x",
        "9",
    ];
    let mut inputs = crate::testing::token_soup(11, 5000, 80, tokens);
    let bytes: Vec<String> = "ab_{}=\",# \n\\TYPEHELPgauge1.5e+-InfNaN\t\r:le".chars().map(String::from).collect();
    let bytes: Vec<&str> = bytes.iter().map(String::as_str).collect();
    inputs.extend(crate::testing::token_soup(0x2545_f491_4f6c_dd1d, 3000, 120, &bytes));
    // Every truncation of valid input.
    for text in [TEXTFILE, EXPOSITION] {
        inputs.extend((0..=text.len()).filter(|&i| text.is_char_boundary(i)).map(|i| text[..i].to_owned()));
    }
    for input in &inputs {
        for mode in [Lenient, Strict] {
            if let Ok(fams) = parse(input, mode) {
                // Whatever parses satisfies what the parser promises.
                for f in &fams {
                    assert!(is_valid_metric_name(&f.name), "{input:?}");
                    for s in &f.samples {
                        assert!(s.labels.iter().all(|(k, _)| is_valid_label_name(k) && k != "__name__"), "{input:?}");
                    }
                }
            }
        }
    }
}
