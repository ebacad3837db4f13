//! `textfile`: metrics from `*.prom` files in `--collector.textfile.directory` (repeatable, globs allowed), plus
//! `node_textfile_mtime_seconds{file}` for each file read and `node_textfile_scrape_error`.
//!
//! A file that cannot be read or parsed, or that carries client-side timestamps, is skipped whole and sets
//! `node_textfile_scrape_error` to 1; the other files and the rest of the scrape are unaffected.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::model::{HistogramValue, Label, SummaryValue, Value};
use oxporter_core::textparse::{self, Family, Mode};
use oxporter_core::{BlockingCollector, CollectError, Collector, MetricType, ScrapeContext, Snapshot};

use crate::args::Args;

/// Flags of the textfile collector.
#[derive(Debug, Clone, clap::Args)]
pub struct TextfileArgs {
    /// Directory to read text files with metrics from, supports glob matching. (repeatable)
    #[arg(
        id = "collector.textfile.directory",
        long = "collector.textfile.directory",
        value_name = "DIR",
        help_heading = "Collector: textfile"
    )]
    pub directory: Vec<String>,
}

/// Largest file read; bigger ones count as errors rather than being read into memory.
const MAX_FILE: u64 = 64 * 1024 * 1024;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Textfile { dirs: args.textfile.directory.clone() }))
}

/// The collector.
pub struct Textfile {
    /// Directories or glob patterns.
    pub dirs: Vec<String>,
}

/// One file's parsed families, or why it was skipped.
struct FileResult {
    path: String,
    families: Vec<Family>,
    mtime: f64,
}

fn expand(pattern: &str) -> Vec<PathBuf> {
    // As node_exporter: a pattern that matches nothing (or is not a valid glob) is taken as a plain directory.
    let matched: Vec<PathBuf> = glob::glob(pattern).map(|g| g.filter_map(Result::ok).collect()).unwrap_or_default();
    if matched.is_empty() { vec![PathBuf::from(pattern)] } else { matched }
}

fn read_capped(path: &Path) -> std::io::Result<(String, std::fs::Metadata)> {
    use std::io::Read;
    // Opening a FIFO nobody writes to blocks forever (a thread lost per scrape, and every other file's metrics
    // with it): only regular files are opened.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if meta.len() > MAX_FILE {
        return Err(std::io::Error::other(format!("file is larger than {MAX_FILE} bytes")));
    }
    let mut s = String::new();
    f.take(MAX_FILE + 1).read_to_string(&mut s)?;
    if s.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other(format!("file is larger than {MAX_FILE} bytes")));
    }
    Ok((s, meta))
}

fn process_file(path: &Path) -> Result<FileResult, String> {
    let (content, meta) =
        read_capped(path).map_err(|e| format!("failed to open textfile data file {:?}: {e}", path.display()))?;
    let families = textparse::parse(&content, Mode::Lenient)
        .map_err(|e| format!("failed to parse textfile data from {:?}: {e}", path.display()))?;
    if families.iter().any(|f| f.samples.iter().any(|s| s.timestamp_ms.is_some())) {
        return Err(format!(
            "textfile {:?} contains unsupported client-side timestamps, skipping entire file",
            path.display()
        ));
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0);
    Ok(FileResult { path: path.display().to_string(), families, mtime })
}

impl Textfile {
    /// Reads every `*.prom` file and writes its metrics; returns whether anything went wrong.
    pub fn gather(&self, out: &mut Snapshot) -> bool {
        let mut errored = false;
        let mut files: Vec<FileResult> = Vec::new();
        for dir in self.dirs.iter().flat_map(|d| expand(d)) {
            let entries = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    if !dir.as_os_str().is_empty() {
                        errored = true;
                        tracing::error!(path = %dir.display(), error = %e, "failed to read textfile collector directory");
                    }
                    continue;
                }
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".prom"))
                .collect();
            names.sort();
            for name in names {
                match process_file(&dir.join(&name)) {
                    Ok(r) => files.push(r),
                    Err(e) => {
                        errored = true;
                        tracing::error!(file = %name, error = %e, "failed to collect textfile data");
                    }
                }
            }
        }

        // Families of one name from several files are merged; their HELP texts must agree and so must their types.
        let mut help: HashMap<String, Option<String>> = HashMap::new();
        let mut types: HashMap<String, MetricType> = HashMap::new();
        let mut sources: HashMap<String, Vec<String>> = HashMap::new();
        let mut accepted: Vec<(usize, usize)> = Vec::new();
        for (fi, file) in files.iter().enumerate() {
            for (ai, fam) in file.families.iter().enumerate() {
                if fam.samples.is_empty() {
                    continue;
                }
                if let Some(prev) = help.get(&fam.name) {
                    if let (Some(a), Some(b)) = (prev, &fam.help)
                        && a != b
                    {
                        errored = true;
                        tracing::error!(metric = %fam.name, original_help_text = %a, new_help_text = %b, "inconsistent metric help text");
                        continue;
                    }
                    if types.get(&fam.name) != Some(&fam.metric_type) {
                        errored = true;
                        tracing::error!(metric = %fam.name, file = %file.path, "metric has a different type in another file; dropped");
                        continue;
                    }
                }
                let entry = help.entry(fam.name.clone()).or_insert(None);
                if entry.is_none() {
                    *entry = fam.help.clone();
                }
                types.insert(fam.name.clone(), fam.metric_type);
                sources.entry(fam.name.clone()).or_default().push(file.path.clone());
                accepted.push((fi, ai));
            }
        }
        for (fi, ai) in accepted {
            let fam = &files[fi].families[ai];
            let help_text = help.get(&fam.name).cloned().flatten().unwrap_or_else(|| {
                format!("Metric read from {}", sources.get(&fam.name).map(|v| v.join(", ")).unwrap_or_default())
            });
            if let Err(e) = convert(fam, help_text, out) {
                errored = true;
                tracing::error!(metric = %fam.name, error = %e, "invalid textfile metric");
            }
        }
        if !files.is_empty() {
            let fam = out.gauge("node_textfile_mtime_seconds", "Unixtime mtime of textfiles successfully read.");
            let mut sorted: Vec<&FileResult> = files.iter().collect();
            sorted.sort_by(|a, b| a.path.cmp(&b.path));
            for f in sorted {
                fam.sample(&[("file", &f.path)], f.mtime);
            }
        }
        errored
    }
}

/// Adds one parsed family to `out`: every sample gets every label name used in the family (missing ones empty),
/// labels sorted by name as client_golang writes them; histograms and summaries are assembled from their series.
fn convert(fam: &Family, help: String, out: &mut Snapshot) -> Result<(), String> {
    let mut names: Vec<&str> = Vec::new();
    for s in &fam.samples {
        for (k, _) in &s.labels {
            let special = (fam.metric_type == MetricType::Histogram && k == "le")
                || (fam.metric_type == MetricType::Summary && k == "quantile");
            if !special && !names.contains(&k.as_str()) {
                names.push(k);
            }
        }
    }
    names.sort_unstable();
    let key = |labels: &[(String, String)]| -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), labels.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default()))
            .collect()
    };
    let to_labels =
        |k: Vec<(String, String)>| -> Vec<Label> { k.into_iter().map(|(n, v)| (n.into(), v.into())).collect() };
    let target = out.family(fam.name.clone(), help, fam.metric_type);
    if target.metric_type != fam.metric_type {
        return Err(format!("{} is already exported with type {}", fam.name, target.metric_type.as_text()));
    }
    match fam.metric_type {
        MetricType::Counter | MetricType::Gauge | MetricType::Untyped => {
            for s in &fam.samples {
                target.push(to_labels(key(&s.labels)), Value::Scalar(s.value));
            }
        }
        MetricType::Histogram => {
            let mut groups: Vec<(Vec<(String, String)>, HistogramValue)> = Vec::new();
            for s in &fam.samples {
                let k = key(&s.labels);
                let i = match groups.iter().position(|(g, _)| *g == k) {
                    Some(i) => i,
                    None => {
                        groups.push((k, HistogramValue::default()));
                        groups.len() - 1
                    }
                };
                let h = &mut groups[i].1;
                if s.name.ends_with("_bucket") {
                    // As Go: a bucket without le is ignored, of repeated ones the last counts.
                    let Some(le) = last_label(s, "le") else { continue };
                    let bound = textparse::parse_go_float(le).ok_or_else(|| format!("invalid le {le:?}"))?;
                    if bound != f64::INFINITY {
                        h.buckets.push((bound, float_count(s.value)));
                    }
                } else if s.name.ends_with("_sum") {
                    h.sum = s.value;
                } else if s.name.ends_with("_count") {
                    h.count = float_count(s.value);
                }
            }
            for (k, mut h) in groups {
                h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                target.push(to_labels(k), Value::Histogram(h));
            }
        }
        MetricType::Summary => {
            let mut groups: Vec<(Vec<(String, String)>, SummaryValue)> = Vec::new();
            for s in &fam.samples {
                let k = key(&s.labels);
                let i = match groups.iter().position(|(g, _)| *g == k) {
                    Some(i) => i,
                    None => {
                        groups.push((k, SummaryValue::default()));
                        groups.len() - 1
                    }
                };
                let q = &mut groups[i].1;
                if s.name.ends_with("_sum") && s.name != fam.name {
                    q.sum = s.value;
                } else if s.name.ends_with("_count") && s.name != fam.name {
                    q.count = float_count(s.value);
                } else if let Some(ql) = last_label(s, "quantile") {
                    // As Go: a sample without quantile is ignored, of repeated ones the last counts.
                    let quantile = textparse::parse_go_float(ql).ok_or_else(|| format!("invalid quantile {ql:?}"))?;
                    q.quantiles.push((quantile, s.value));
                }
            }
            for (k, mut q) in groups {
                q.quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
                target.push(to_labels(k), Value::Summary(q));
            }
        }
    }
    Ok(())
}

/// The value of the last label `name` of `s`.
fn last_label<'a>(s: &'a textparse::Sample, name: &str) -> Option<&'a str> {
    s.labels.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn float_count(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 { v as u64 } else { 0 }
}

impl BlockingCollector for Textfile {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let errored = self.gather(out);
        out.gauge("node_textfile_scrape_error", "1 if there was an error opening or reading a file, 0 otherwise")
            .sample(&[], if errored { 1.0 } else { 0.0 });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dirs: Vec<String>) -> Snapshot {
        let mut out = Snapshot::new();
        Textfile { dirs }
            .collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(1)), &mut out)
            .expect("never fails");
        out
    }

    fn error_flag(out: &Snapshot) -> Option<Value> {
        out.get("node_textfile_scrape_error").map(|f| f.samples[0].value.clone())
    }

    #[test]
    fn no_directory_is_not_an_error() {
        let out = run(vec![]);
        assert_eq!(error_flag(&out), Some(Value::Scalar(0.0)));
        assert!(out.get("node_textfile_mtime_seconds").is_none());
    }

    #[test]
    fn good_bad_and_merged_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("a.prom"), "# HELP job_ok Whether.\n# TYPE job_ok gauge\njob_ok{job=\"a\"} 1\nplain 3\n")
            .expect("write");
        std::fs::write(d.join("b.prom"), "# TYPE job_ok gauge\njob_ok{job=\"b\",extra=\"x\"} 0\nplain 4\n")
            .expect("write");
        std::fs::write(d.join("bad.prom"), "this is { not metrics\n").expect("write");
        std::fs::write(d.join("ts.prom"), "with_ts 1 123\n").expect("write");
        std::fs::write(d.join("ignored.txt"), "ignored 1\n").expect("write");
        std::fs::write(
            d.join("h.prom"),
            "# TYPE lat histogram\nlat_bucket{le=\"1\"} 2\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 2.5\nlat_count 3\n",
        )
        .expect("write");
        let out = run(vec![d.display().to_string()]);
        assert_eq!(error_flag(&out), Some(Value::Scalar(1.0)));
        let job = out.get("node_textfile_mtime_seconds").expect("mtimes");
        let files: Vec<&str> = job.samples.iter().map(|s| s.labels[0].1.as_str()).collect();
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files.iter().all(|f| f.ends_with("a.prom") || f.ends_with("b.prom") || f.ends_with("h.prom")));
        let ok = out.get("job_ok").expect("job_ok");
        assert_eq!(ok.help, "Whether.");
        assert_eq!(ok.metric_type, MetricType::Gauge);
        assert_eq!(ok.samples.len(), 2);
        let plain = out.get("plain").expect("plain");
        assert!(
            plain.help.starts_with("Metric read from ")
                && plain.help.contains("a.prom, ")
                && plain.help.ends_with("b.prom")
        );
        assert!(out.get("ignored").is_none() && out.get("with_ts").is_none());
        match &out.get("lat").expect("histogram").samples[0].value {
            Value::Histogram(h) => assert_eq!((h.buckets.clone(), h.count, h.sum), (vec![(1.0, 2)], 3, 2.5)),
            v => panic!("not a histogram: {v:?}"),
        }
        // Label sets are padded within a file's family.
        let b = ok.samples.iter().find(|s| s.labels.iter().any(|(_, v)| v == "b")).expect("b");
        assert_eq!(b.labels.iter().map(|(k, _)| k.as_ref()).collect::<Vec<_>>(), ["extra", "job"]);
    }

    #[test]
    fn a_fifo_is_skipped_not_waited_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("good.prom"), "good 1\n").expect("write");
        let made = std::process::Command::new("mkfifo").arg(dir.path().join("stuck.prom")).status().expect("mkfifo");
        assert!(made.success());
        let dirs = vec![dir.path().display().to_string()];
        // In a thread: a regression would block forever in open(2).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(run(dirs));
        });
        let out = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("returns without waiting for a writer");
        assert_eq!(error_flag(&out), Some(Value::Scalar(1.0)));
        assert!(out.get("good").is_some());
    }

    #[test]
    fn glob_and_missing_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("one")).expect("mkdir");
        std::fs::write(dir.path().join("one/x.prom"), "x 1\n").expect("write");
        let out = run(vec![format!("{}/o*", dir.path().display())]);
        assert_eq!(error_flag(&out), Some(Value::Scalar(0.0)));
        assert!(out.get("x").is_some());
        let out = run(vec![dir.path().join("nope").display().to_string()]);
        assert_eq!(error_flag(&out), Some(Value::Scalar(1.0)));
    }

    #[test]
    fn go_parser_quirks() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Go's parser accepts buckets without le and summary samples without quantile, and ignores their values.
        std::fs::write(
            dir.path().join("odd.prom"),
            "# TYPE h histogram\nh_bucket 7\nh_bucket{le=\"1\",le=\"2\"} 1\nh_count 1\n\
             # TYPE s summary\ns 7\ns_sum 2\n",
        )
        .expect("write");
        let out = run(vec![dir.path().display().to_string()]);
        assert_eq!(error_flag(&out), Some(Value::Scalar(0.0)));
        match &out.get("h").expect("h").samples[0].value {
            Value::Histogram(h) => assert_eq!((h.buckets.clone(), h.count), (vec![(2.0, 1)], 1)),
            v => panic!("not a histogram: {v:?}"),
        }
        match &out.get("s").expect("s").samples[0].value {
            Value::Summary(s) => assert_eq!((s.quantiles.len(), s.sum), (0, 2.0)),
            v => panic!("not a summary: {v:?}"),
        }
        // ... and refuses CRLF line ends and a last line without '\n' (the whole file is skipped).
        std::fs::write(dir.path().join("crlf.prom"), "crlf 1\r\n").expect("write");
        std::fs::write(dir.path().join("open.prom"), "open 1").expect("write");
        let out = run(vec![dir.path().display().to_string()]);
        assert_eq!(error_flag(&out), Some(Value::Scalar(1.0)));
        assert!(out.get("h").is_some() && out.get("crlf").is_none() && out.get("open").is_none());
    }

    #[test]
    fn inconsistent_help_and_type_across_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("1.prom"), "# HELP m one\n# TYPE m gauge\nm 1\n").expect("write");
        std::fs::write(dir.path().join("2.prom"), "# HELP m two\nm{a=\"b\"} 2\n").expect("write");
        std::fs::write(dir.path().join("3.prom"), "# HELP m one\n# TYPE m counter\nm{a=\"c\"} 3\n").expect("write");
        let out = run(vec![dir.path().display().to_string()]);
        assert_eq!(error_flag(&out), Some(Value::Scalar(1.0)));
        assert_eq!(out.get("m").expect("m").samples.len(), 1);
    }
}
