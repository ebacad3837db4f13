//! Exposition conformance of `oxporter-node` as a running process: both formats through independent checkers,
//! gzip, URL filters, the landing page, health endpoints and the request limit.

// In tests a failed expectation is a failed test (clippy's allow-expect-in-tests misses helper functions here).
#![allow(clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use oxporter_e2e::{comment_lines, sample_value, series_keys};
use oxporter_testkit::exporter::{self, Exporter};
use oxporter_testkit::{openmetrics, promtool};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

fn node(args: &[&str]) -> Exporter {
    exporter::node().args(args).start()
}

#[test]
fn text_format_passes_promtool() {
    let node = node(&[]);
    let r = node.get("/metrics", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = r.text();
    let check = promtool::check_metrics(&text);
    for lint in &check.lint {
        println!("promtool lint: {lint}");
    }
    for series in [
        "node_load1",
        "node_load5",
        "node_load15",
        "node_scrape_collector_success{collector=\"loadavg\"}",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    ] {
        assert!(sample_value(&text, series).is_some(), "{series} missing:\n{text}");
    }
    assert_eq!(sample_value(&text, "node_scrape_collector_success{collector=\"loadavg\"}"), Some(1.0));
    assert!(text.contains("# TYPE node_load1 gauge\n"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("node_exporter_build_info{")), "{text}");
}

#[test]
fn openmetrics_format_passes_strict_parser() {
    let node = node(&[]);
    let r = node.get("/metrics", &[("Accept", OPENMETRICS)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/openmetrics-text; version=1.0.0"), "content type {ct:?}");
    let text = r.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let families = openmetrics::check_openmetrics(&text);
    let load1 = families.iter().find(|f| f.name == "node_load1").expect("node_load1 family");
    assert_eq!((load1.kind.as_str(), load1.samples), ("gauge", 1));
    assert!(families.iter().any(|f| f.name == "node_scrape_collector_success"), "{families:?}");

    // What Prometheus itself sends: OpenMetrics preferred, text as a fallback.
    let prom_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                       text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let r = node.get("/metrics", &[("Accept", prom_accept)]);
    assert!(r.header("content-type").unwrap_or_default().starts_with("application/openmetrics-text"));
    openmetrics::check_openmetrics(&r.text());

    // Anything else gets text 0.0.4.
    for accept in ["text/plain", "*/*", "application/json"] {
        let r = node.get("/metrics", &[("Accept", accept)]);
        assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"), "Accept: {accept}");
    }
}

#[test]
fn gzip_decodes_to_the_same_exposition() {
    // Exporter metrics change between scrapes (CPU time, request counters); without them only values change.
    let node = node(&["--web.disable-exporter-metrics"]);
    for accept in ["text/plain", OPENMETRICS] {
        let plain = node.get("/metrics", &[("Accept", accept)]);
        let zipped = node.get("/metrics", &[("Accept", accept), ("Accept-Encoding", "gzip")]);
        assert_eq!(plain.header("content-encoding"), None);
        assert_eq!(zipped.header("content-encoding"), Some("gzip"), "Accept: {accept}");
        assert_eq!(zipped.raw_body.get(..2), Some(&[0x1f, 0x8b][..]), "not a gzip stream");
        assert_eq!(plain.header("content-type"), zipped.header("content-type"));
        let (p, z) = (plain.text(), zipped.text());
        assert_eq!(series_keys(&p), series_keys(&z), "Accept: {accept}");
        assert_eq!(comment_lines(&p), comment_lines(&z), "Accept: {accept}");
        assert!(!series_keys(&p).is_empty());
    }
}

#[test]
fn collect_and_exclude_filters() {
    let node = node(&[]);
    let text = node.scrape_path("/metrics?collect[]=loadavg");
    promtool::check_metrics(&text);
    assert!(sample_value(&text, "node_load1").is_some(), "{text}");
    let collectors: Vec<&str> = text.lines().filter(|l| l.starts_with("node_scrape_collector_success{")).collect();
    assert_eq!(collectors, vec!["node_scrape_collector_success{collector=\"loadavg\"} 1"]);

    let text = node.scrape_path("/metrics?exclude[]=loadavg");
    assert!(sample_value(&text, "node_load1").is_none(), "{text}");
    assert!(!text.contains("collector=\"loadavg\""), "{text}");
    // The exporter's own metrics are not a collector and stay.
    assert!(sample_value(&text, "process_start_time_seconds").is_some(), "{text}");

    // Percent-encoded brackets, as some clients send them.
    let text = node.scrape_path("/metrics?collect%5B%5D=loadavg");
    assert!(sample_value(&text, "node_load1").is_some(), "{text}");
}

#[test]
fn unknown_collector_in_filter_is_400() {
    let node = node(&[]);
    for query in ["collect[]=nope", "exclude[]=nope", "collect[]=loadavg&collect[]=nope"] {
        let r = node.get(&format!("/metrics?{query}"), &[]);
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert!(r.text().contains("nope"), "{query}: the message should name the collector: {}", r.text());
    }
    // The exporter is still fine afterwards.
    assert!(sample_value(&node.scrape(), "node_load1").is_some());
}

#[test]
fn landing_page_and_health_endpoints() {
    let node = node(&[]);
    let r = node.get("/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap_or_default().starts_with("text/html"));
    let html = r.text();
    assert!(html.contains("href=\"./metrics\""), "landing page does not link /metrics:\n{html}");
    assert!(html.contains("oxporter-node"), "{html}");
    for path in ["/-/healthy", "/-/ready"] {
        assert_eq!(node.get(path, &[]).status, 200, "{path}");
    }
    assert_eq!(node.get("/nope", &[]).status, 404);

    // A custom telemetry path moves /metrics, and the landing page follows.
    let custom = exporter::node().arg("--web.telemetry-path=/custom-metrics").start();
    let html = custom.get("/", &[]).text();
    assert!(html.contains("href=\"./custom-metrics\""), "{html}");
    assert!(sample_value(&custom.scrape_path("/custom-metrics"), "node_load1").is_some());
    assert_eq!(custom.get("/metrics", &[]).status, 404);
}

/// Replaces `path` with a regular file holding `contents` (atomically, so a reader never sees it half-written).
fn replace_with_file(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// Deterministic request limit test: `--path.procfs` points at a folder whose `loadavg` is a FIFO, so the first
/// scrape blocks inside the loadavg collector (holding the only request slot) until the test writes to the FIFO.
/// The test knows the scrape is inside the collector when opening the FIFO for writing without blocking succeeds,
/// which the kernel allows only once a reader has it open.
#[test]
fn max_requests_beyond_the_limit_gives_503() {
    let procfs = oxporter_testkit::tempdir("procfs");
    let fifo = procfs.path().join("loadavg");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils)");
    assert!(status.success(), "mkfifo {}", fifo.display());
    let procfs_arg = format!("--path.procfs={}", procfs.path().display());
    let node = exporter::node()
        .args([
            procfs_arg.as_str(),
            "--collector.disable-defaults",
            "--collector.loadavg",
            "--web.max-requests=1",
            "--scrape.timeout=20s",
        ])
        .start();

    let url = node.url("/metrics");
    let first = std::thread::spawn(move || oxporter_testkit::http::must_get(&url, &[]));

    let writer = oxporter_testkit::poll(Duration::from_secs(10), Duration::from_millis(5), || {
        std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo).ok()
    });
    let mut writer = writer.expect("the first scrape never opened the loadavg FIFO");

    // The only slot is taken: a second scrape is refused at once.
    let second = node.get("/metrics", &[]);
    assert_eq!(second.status, 503, "{}", second.text());
    assert!(second.text().contains("Limit of concurrent requests"), "{}", second.text());
    // Health endpoints are not scrapes and stay available.
    assert_eq!(node.get("/-/healthy", &[]).status, 200);

    // Let the first scrape finish with data we chose.
    writer.write_all(b"1.25 2.50 3.75 1/100 4242\n").expect("write FIFO");
    drop(writer);
    let first = first.join().expect("first scrape thread");
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(sample_value(&first.text(), "node_load1"), Some(1.25), "{}", first.text());

    // The slot is free again; the refused request was counted as promhttp counts it.
    replace_with_file(&procfs.path().join("loadavg"), "0.5 0.5 0.5 1/1 1\n");
    let third = node.scrape();
    assert_eq!(sample_value(&third, "node_load15"), Some(0.5), "{third}");
    assert_eq!(sample_value(&third, "promhttp_metric_handler_requests_total{code=\"503\"}"), Some(1.0), "{third}");
}

#[test]
fn slow_collector_does_not_hang_the_scrape() {
    // The same FIFO, but nobody ever writes: the scrape must end at the deadline with the collector marked failed.
    let procfs = oxporter_testkit::tempdir("procfs");
    let fifo = procfs.path().join("loadavg");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let procfs_arg = format!("--path.procfs={}", procfs.path().display());
    let node =
        exporter::node().args([procfs_arg.as_str(), "--collector.disable-defaults", "--collector.loadavg"]).start();
    let started = std::time::Instant::now();
    let r = node.get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "1")]);
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(took < Duration::from_secs(5), "scrape took {took:?} with a 1 s scrape timeout");
    let text = r.text();
    assert_eq!(sample_value(&text, "node_scrape_collector_success{collector=\"loadavg\"}"), Some(0.0), "{text}");
    assert!(sample_value(&text, "node_load1").is_none(), "{text}");
    promtool::check_metrics(&text);
}
