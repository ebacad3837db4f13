//! Golden-file tests: every fixture tree `tests/fixtures/<tree>/` (a fake `/` with `proc/` and `sys/`) is scraped
//! once through the real engine with the flags in `tests/fixtures/<tree>.args` plus `--path.procfs`,
//! `--path.sysfs` and `--path.rootfs` pointing into the tree; the text 0.0.4 output, with the values that cannot
//! be deterministic masked (see [`MASKS`]), must equal `tests/fixtures/<tree>.prom`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p oxporter-node --test golden` rewrites the `.prom` files; review the diff before
//! committing it. `tests/fixtures/README.md` explains how to add a tree or a collector.

// Test code: a failed setup step is a failed test.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use oxporter_core::ScrapeContext;
use oxporter_core::encode::{Format, encode};
use oxporter_core::engine::Filter;
use oxporter_testkit::textformat;

/// The replacement for every masked value.
const MASKED: &str = "MASKED";

/// Series whose values depend on the moment or the machine running the test rather than on the fixture tree:
/// `(metric name, also mask its label values)`. Their value becomes `MASKED` (and so do their label values when
/// the flag is set); the series stay, so a missing or renamed one still fails.
const MASKS: &[(&str, bool)] = &[
    // Wall time of each collector.
    ("node_scrape_collector_duration_seconds", false),
    // The clock and the test machine's time zone.
    ("node_time_seconds", false),
    ("node_time_zone_offset_seconds", true),
    // uname(2) of the test machine; the compatibility test checks the real values against node_exporter.
    ("node_uname_info", true),
    // statfs(2) of directories on the test machine's disk (the "filesystems" tree).
    ("node_filesystem_size_bytes", false),
    ("node_filesystem_free_bytes", false),
    ("node_filesystem_avail_bytes", false),
    ("node_filesystem_files", false),
    ("node_filesystem_files_free", false),
    // Modification times of the textfile fixtures (set by the checkout).
    ("node_textfile_mtime_seconds", false),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The trees: every directory under `tests/fixtures`.
fn trees() -> Vec<String> {
    let mut trees: Vec<String> = std::fs::read_dir(fixtures())
        .expect("tests/fixtures exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    trees.sort();
    trees
}

/// The flags of `<tree>.args`: one per line, blank lines and `#` comments ignored.
fn tree_args(tree: &str) -> Vec<String> {
    let path = fixtures().join(format!("{tree}.args"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (every fixture tree needs a .args file naming its collectors)", path.display())
    });
    // `$TREE` in a flag stands for the tree's directory (e.g. `--collector.textfile.directory=$TREE/textfile`).
    let root = fixtures().join(tree).display().to_string();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.replace("$TREE", &root))
        .collect()
}

/// Scrapes `tree` once and returns the masked exposition, followed by one `# error <collector>: …` comment per
/// failed collector (fixture paths shown relative to the tree).
async fn render(tree: &str) -> String {
    let root = fixtures().join(tree);
    let mut argv = vec![
        "oxporter-node".to_owned(),
        "--collector.disable-defaults".to_owned(),
        format!("--path.procfs={}", root.join("proc").display()),
        format!("--path.sysfs={}", root.join("sys").display()),
        format!("--path.rootfs={}", root.display()),
    ];
    argv.extend(tree_args(tree));
    let parsed = oxporter_node::parse_args_from(&argv).unwrap_or_else(|e| panic!("{tree}.args: {e}"));
    let engine = oxporter_core::run::build_engine(
        &oxporter_node::INFO,
        oxporter_node::collectors::COLLECTORS,
        &parsed.enabled,
        &parsed.args,
    )
    .unwrap_or_else(|e| panic!("{tree}: building collectors: {e}"));
    let result = engine.run(&ScrapeContext::with_timeout(Duration::from_secs(10)), &Filter::All).await;
    let text = encode(Format::Text004, &result.families);
    textformat::must_parse(&text, tree);

    let root_str = root.display().to_string();
    // Paths into the tree (textfile names and HELP, rapl's `path` label) are shown as `$TREE/…`, as in the error
    // lines, so the golden files do not depend on where the repository is checked out.
    let mut out = mask(&text).replace(&root_str, "$TREE");
    for o in &result.outcomes {
        if let Some(e) = &o.error {
            out.push_str(&format!("# error {}: {}\n", o.name, e.to_string().replace(&root_str, "$TREE")));
        }
    }
    out
}

/// Applies [`MASKS`] line by line.
fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let rule = MASKS.iter().find(|(name, _)| {
            line.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        });
        match rule {
            None => out.push_str(line),
            Some((name, mask_labels)) => {
                let fams = textformat::must_parse(&format!("{line}\n"), "masked line");
                let labels = &fams[0].samples[0].labels;
                out.push_str(name);
                if !labels.is_empty() {
                    let pairs: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| {
                            let v = if *mask_labels { MASKED } else { v.as_str() };
                            format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
                        })
                        .collect();
                    out.push_str(&format!("{{{}}}", pairs.join(",")));
                }
                out.push(' ');
                out.push_str(MASKED);
            }
        }
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_trees_match_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0");
    let trees = trees();
    assert!(trees.len() >= 2, "expected the fixture trees under {}", fixtures().display());
    let mut failures = Vec::new();
    for tree in &trees {
        let got = render(tree).await;
        let golden = fixtures().join(format!("{tree}.prom"));
        if update {
            std::fs::write(&golden, &got).unwrap_or_else(|e| panic!("writing {}: {e}", golden.display()));
            println!("updated {}", golden.display());
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if got != want {
            failures.push(format!("{tree}: output differs from {}\n{}", golden.display(), diff(&want, &got)));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nIf the change is intended, run UPDATE_GOLDEN=1 cargo test -p oxporter-node --test golden and review \
         the diff.",
        failures.join("\n\n")
    );
}

/// Lines only in `want` (`-`) or only in `got` (`+`), first 40.
fn diff(want: &str, got: &str) -> String {
    let w: std::collections::BTreeSet<&str> = want.lines().collect();
    let g: std::collections::BTreeSet<&str> = got.lines().collect();
    let mut out: Vec<String> = w.difference(&g).map(|l| format!("- {l}")).collect();
    out.extend(g.difference(&w).map(|l| format!("+ {l}")));
    if want.is_empty() {
        return "  (golden file missing or empty)".into();
    }
    if out.is_empty() {
        return "  (same lines, different order)".into();
    }
    let n = out.len();
    out.truncate(40);
    if n > 40 {
        out.push(format!("… and {} more", n - 40));
    }
    out.join("\n")
}

#[test]
fn masking_keeps_series_and_hides_values() {
    let text = "# HELP node_uname_info x\n# TYPE node_uname_info gauge\n\
                node_uname_info{nodename=\"a\",release=\"b\"} 1\nnode_time_seconds 1.7e+09\nnode_load1 0.5\n\
                node_scrape_collector_duration_seconds{collector=\"cpu\"} 0.001\n";
    let m = mask(text);
    assert!(m.contains("node_uname_info{nodename=\"MASKED\",release=\"MASKED\"} MASKED\n"));
    assert!(m.contains("node_time_seconds MASKED\n"));
    assert!(m.contains("node_load1 0.5\n"));
    assert!(m.contains("node_scrape_collector_duration_seconds{collector=\"cpu\"} MASKED\n"));
    assert!(m.contains("# HELP node_uname_info x\n"));
}
