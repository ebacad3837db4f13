//! End-to-end tests, in `tests/tests/`. Each test starts the exporter it needs as a real process (built on demand by
//! `oxporter_testkit::exporter`), and checks it with real tools: `promtool`, Python's strict OpenMetrics parser,
//! `curl` and a real Prometheus; the files users install (`deploy/`, `dashboards/`) are checked with
//! `systemd-analyze`, `promtool` and `bash`. Missing tools fail the tests; nothing is skipped.
//!
//! Run with `cargo test -p oxporter-e2e` (or `cargo nextest run -p oxporter-e2e`).

/// Splits a text-format exposition into its sample lines without their values: `name{labels}` for each sample,
/// sorted. Two scrapes of the same exporter give the same keys even though values (durations, CPU time) change.
pub fn series_keys(exposition: &str) -> Vec<String> {
    let mut keys: Vec<String> = exposition
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.rfind('}') {
            Some(i) => l[..=i].to_owned(),
            None => l.split(' ').next().unwrap_or(l).to_owned(),
        })
        .collect();
    keys.sort();
    keys
}

/// The comment lines (`# HELP`, `# TYPE`, ...) of an exposition, in order.
pub fn comment_lines(exposition: &str) -> Vec<&str> {
    exposition.lines().filter(|l| l.starts_with('#')).collect()
}

/// The value of the first sample whose line starts with `series` followed by a space, e.g.
/// `sample_value(text, "node_load1")` or `sample_value(text, "x{a=\"b\"}")`.
pub fn sample_value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

/// Every file below `root`, as sorted paths relative to it (what an install laid down).
pub fn files_below(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for p in entries.filter_map(Result::ok).map(|e| e.path()) {
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values() {
        let t = "# HELP a A.\n# TYPE a gauge\na{x=\"1 }\"} 3\nb 4 1000\n";
        assert_eq!(series_keys(t), vec!["a{x=\"1 }\"}", "b"]);
        assert_eq!(sample_value(t, "b"), Some(4.0));
        assert_eq!(sample_value(t, "a{x=\"1 }\"}"), Some(3.0));
        assert_eq!(sample_value(t, "c"), None);
        assert_eq!(comment_lines(t), vec!["# HELP a A.", "# TYPE a gauge"]);
    }
}
