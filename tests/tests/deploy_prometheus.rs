//! `deploy/prometheus/`: the example config passes `promtool check config`, the alert rules pass their unit tests
//! (`promtool test rules`, as scripts/test-all runs them), and every alert is well-formed and tested both firing and
//! not firing. Generic over every `rules/<name>.yml`, each with its tests in `rules/tests/<name>_test.yml`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use oxporter_testkit::process::require_binary;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn yaml(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn promtool(args: &[&str]) {
    let out = Command::new(require_binary("promtool", "prometheus")).args(args).current_dir(repo()).output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rule_files() -> Vec<PathBuf> {
    let dir = repo().join("deploy/prometheus/rules");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.iter().any(|f| f.ends_with("node.yml")), "deploy/prometheus/rules/node.yml is missing");
    files
}

#[test]
fn example_config_is_valid() {
    promtool(&["check", "config", "deploy/prometheus/prometheus.yml"]);
}

#[test]
fn rule_unit_tests_pass() {
    for rules in rule_files() {
        let stem = rules.file_stem().unwrap().to_str().unwrap();
        let test = format!("deploy/prometheus/rules/tests/{stem}_test.yml");
        assert!(repo().join(&test).is_file(), "{} has no unit tests at {test}", rules.display());
        promtool(&["test", "rules", &test]);
    }
}

#[test]
fn every_alert_is_annotated_and_tested_firing_and_not_firing() {
    for rules in rule_files() {
        let stem = rules.file_stem().unwrap().to_str().unwrap();
        let doc = yaml(&rules);
        let mut alerts = Vec::new();
        for group in doc["groups"].as_array().expect("groups") {
            for rule in group["rules"].as_array().expect("rules") {
                let Some(name) = rule["alert"].as_str() else { continue };
                let severity = rule["labels"]["severity"].as_str();
                assert!(
                    matches!(severity, Some("critical" | "warning" | "info")),
                    "{stem}: {name} needs labels.severity critical, warning or info, has {severity:?}"
                );
                for key in ["summary", "description"] {
                    let text = rule["annotations"][key].as_str().unwrap_or("");
                    assert!(!text.trim().is_empty(), "{stem}: {name} has no {key} annotation");
                }
                alerts.push(name.to_owned());
            }
        }
        assert!(!alerts.is_empty(), "{stem}: no alerts");

        // alertname -> (tested not firing, tested firing)
        let tests = yaml(&repo().join(format!("deploy/prometheus/rules/tests/{stem}_test.yml")));
        let mut seen: BTreeMap<String, (bool, bool)> = BTreeMap::new();
        for t in tests["tests"].as_array().expect("tests") {
            for case in t["alert_rule_test"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let name = case["alertname"].as_str().expect("alertname").to_owned();
                let firing = case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
                let entry = seen.entry(name).or_default();
                if firing {
                    entry.1 = true;
                } else {
                    entry.0 = true;
                }
            }
        }
        for name in &alerts {
            let (quiet, firing) = seen.get(name).copied().unwrap_or_default();
            assert!(firing, "{stem}: no test where {name} fires");
            assert!(quiet, "{stem}: no test where {name} does not fire");
        }
        for name in seen.keys() {
            assert!(alerts.contains(name), "{stem}_test.yml tests {name}, which {stem}.yml does not define");
        }
    }
}
