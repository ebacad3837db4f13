//! Checks with the real `promtool` (Debian package `prometheus`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::process::require_binary;

/// What `promtool check metrics` said about an exposition that it could parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsCheck {
    /// Naming lint (e.g. `foo_seconds counter metrics should have "_total" suffix`): promtool's exit code 3. The Go
    /// exporters we replace have such names too, so lint alone does not fail a test; print it instead.
    pub lint: Vec<String>,
}

/// Pipes Prometheus text format 0.0.4 `text` through `promtool check metrics`.
///
/// Exit 0 (clean) and exit 3 (naming lint only) pass and return the lint lines; exit 1 (the text does not parse) or
/// any other failure panics with promtool's output.
pub fn check_metrics(text: &str) -> MetricsCheck {
    let out = run_with_stdin(Command::new(require_binary("promtool", "prometheus")).args(["check", "metrics"]), text);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => MetricsCheck::default(),
        Some(3) => MetricsCheck { lint: stdout.lines().chain(stderr.lines()).map(str::to_owned).collect() },
        _ => panic!(
            "promtool check metrics rejected the exposition ({}):\n{stdout}{stderr}\n--- input (first 60 lines) ---\n{}",
            out.status,
            text.lines().take(60).collect::<Vec<_>>().join("\n")
        ),
    }
}

/// Runs `promtool test rules` on every `*_test.yml` / `*_test.yaml` file in `dir` (rule files are named inside
/// them, relative to the test file). Panics with promtool's output if any test fails, or if `dir` holds none.
pub fn test_rules(dir: &Path) {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with("_test.yml") || n.ends_with("_test.yaml"))
            })
            .collect(),
        Err(e) => panic!("reading rule tests in {}: {e}", dir.display()),
    };
    files.sort();
    assert!(!files.is_empty(), "no *_test.yml files in {}", dir.display());
    let out = run(Command::new(require_binary("promtool", "prometheus")).args(["test", "rules"]).args(&files));
    assert!(
        out.status.success(),
        "promtool test rules {files:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `promtool check rules` on `files`; panics with promtool's output unless they are valid.
pub fn check_rules(files: &[&Path]) {
    let out = run(Command::new(require_binary("promtool", "prometheus")).args(["check", "rules"]).args(files));
    assert!(
        out.status.success(),
        "promtool check rules {files:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(cmd: &mut Command) -> Output {
    match cmd.stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => panic!("running {cmd:?}: {e}"),
    }
}

/// Runs `cmd` with `input` on its stdin, capturing its output.
pub(crate) fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    let mut child = match cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => panic!("running {cmd:?}: {e}"),
    };
    // Write from a thread: a child that answers before reading everything must not deadlock us.
    let stdin = child.stdin.take();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            let _ = s.write_all(input.as_bytes());
        }
    });
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => panic!("waiting for {cmd:?}: {e}"),
    };
    let _ = writer.join();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_lint_and_broken() {
        assert_eq!(check_metrics("# HELP up_now A.\n# TYPE up_now gauge\nup_now 1\n"), MetricsCheck::default());
        let lint = check_metrics("# HELP a_seconds A.\n# TYPE a_seconds counter\na_seconds 1\n").lint;
        assert!(lint.iter().any(|l| l.contains("_total")), "{lint:?}");
        let broken = std::panic::catch_unwind(|| check_metrics("# TYPE a gauge\na{ 1\n"));
        assert!(broken.is_err());
    }

    #[test]
    fn rules() {
        let dir = crate::tempdir("rules");
        let rules = dir.path().join("r.yml");
        crate::write_file(
            &rules,
            "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 1m\n    labels: {severity: critical}\n",
        );
        check_rules(&[&rules]);
        crate::write_file(
            &dir.path().join("r_test.yml"),
            "rule_files: [r.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n  - series: 'up{job=\"n\"}'\n    values: '0x5'\n  alert_rule_test:\n  - eval_time: 3m\n    alertname: Down\n    exp_alerts:\n    - exp_labels: {severity: critical, job: n}\n",
        );
        test_rules(dir.path());
    }
}
