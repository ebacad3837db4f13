//! Strict OpenMetrics 1.0 validation with Python's `prometheus_client` parser
//! (`prometheus_client.openmetrics.parser.text_string_to_metric_families`), an implementation independent of ours.
//!
//! Needs `python3` (or `$OXPORTER_PYTHON`) with the pip package `prometheus_client`; the README's test command
//! installs it. A missing module fails the test with the install command.

use std::process::Command;

/// The Python side: parse stdin, print one line per family, or the parser's error and exit 1.
const SCRIPT: &str = r#"
import sys
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError as e:
    sys.stderr.write("IMPORT-ERROR %s\n" % e)
    sys.exit(3)
text = sys.stdin.buffer.read().decode("utf-8")
try:
    families = list(text_string_to_metric_families(text))
except Exception as e:
    sys.stderr.write("%s: %s\n" % (type(e).__name__, e))
    sys.exit(1)
for f in families:
    sys.stdout.write("%s %s %d\n" % (f.name, f.type, len(f.samples)))
"#;

/// One metric family as the OpenMetrics parser saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The family name (the parser drops a counter's `_total` suffix here).
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `summary`, `unknown`, `info`, `stateset`, `gaugehistogram`.
    pub kind: String,
    /// Number of samples.
    pub samples: usize,
}

/// Parses `text` strictly as OpenMetrics 1.0. `Err` carries the parser's message. Panics if Python or
/// `prometheus_client` is missing.
pub fn parse(text: &str) -> Result<Vec<Family>, String> {
    let python = std::env::var("OXPORTER_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let bin = crate::process::require_binary(&python, "python3");
    let out = crate::promtool::run_with_stdin(Command::new(bin).args(["-c", SCRIPT]), text);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut it = l.split(' ');
                Some(Family {
                    name: it.next()?.to_owned(),
                    kind: it.next()?.to_owned(),
                    samples: it.next()?.parse().ok()?,
                })
            })
            .collect()),
        Some(1) => Err(stderr.trim().to_owned()),
        Some(3) => panic!(
            "the Python module prometheus_client is missing for {python}: pip install prometheus_client \
             (or run the README's test command, which installs it)\n{stderr}"
        ),
        _ => panic!("{python} failed ({}): {stderr}", out.status),
    }
}

/// Parses `text` strictly as OpenMetrics 1.0 and returns its families; panics with the parser's message and the
/// start of the input when it is invalid.
pub fn check_openmetrics(text: &str) -> Vec<Family> {
    match parse(text) {
        Ok(f) => f,
        Err(e) => panic!(
            "OpenMetrics parser rejected the exposition: {e}\n--- input (first 60 lines) ---\n{}",
            text.lines().take(60).collect::<Vec<_>>().join("\n")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid() {
        let fams = check_openmetrics(
            "# TYPE a counter\n# HELP a A.\na_total 1\n# TYPE b gauge\nb{x=\"y\"} 2\nb{x=\"z\"} 3\n# EOF\n",
        );
        assert_eq!(
            fams,
            vec![
                Family { name: "a".into(), kind: "counter".into(), samples: 1 },
                Family { name: "b".into(), kind: "gauge".into(), samples: 2 },
            ]
        );
        // No `# EOF`; a counter sample without `_total`; a text 0.0.4 body.
        assert!(parse("# TYPE b gauge\nb 1\n").is_err());
        assert!(parse("# TYPE a counter\na 1\n# EOF\n").is_err());
        assert!(parse("# HELP x X.\n# TYPE x untyped\nx 1\n").is_err());
    }
}
