//! A real Prometheus scrapes `oxporter-node` over plain HTTP; the series are queryable through its HTTP API.

// In tests a failed expectation is a failed test (clippy's allow-expect-in-tests misses helper functions here).
#![allow(clippy::expect_used)]

use std::time::Duration;

use oxporter_testkit::exporter;
use oxporter_testkit::prometheus::{Prometheus, ScrapeJob};

const UP_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn prometheus_scrapes_node_over_http() {
    let node = exporter::node().start();
    let prom = Prometheus::start(&[
        ScrapeJob::new("node", [node.address()]),
        // The same exporter with node_exporter's URL filter passed as scrape params.
        ScrapeJob::new("node_filtered", [node.address()]).param("collect[]", "loadavg"),
    ]);
    prom.wait_for_targets_up("node", UP_TIMEOUT);
    prom.wait_for_targets_up("node_filtered", UP_TIMEOUT);

    assert_eq!(prom.query_values("up{job=\"node\"}"), vec![1.0]);
    for expr in [
        "node_load1{job=\"node\"}",
        "node_load15{job=\"node\"}",
        "node_exporter_build_info{job=\"node\"}",
        "process_resident_memory_bytes{job=\"node\"}",
        "process_cpu_seconds_total{job=\"node\"}",
    ] {
        assert!(prom.query_has_data(expr), "{expr} has no data; targets: {:?}", prom.targets("node"));
    }
    assert_eq!(prom.query_values("node_scrape_collector_success{job=\"node\",collector=\"loadavg\"}"), vec![1.0]);
    // Prometheus saw no sample it had to drop or reject.
    let scraped = prom.query_values("scrape_samples_scraped{job=\"node\"}");
    assert!(scraped.first().is_some_and(|n| *n > 10.0), "scrape_samples_scraped = {scraped:?}");
    assert_eq!(prom.query_values("scrape_samples_post_metric_relabeling{job=\"node\"}"), scraped);

    // The filtered job sees the loadavg collector only.
    let collectors = prom.query("node_scrape_collector_success{job=\"node_filtered\"}");
    let names: Vec<&str> =
        collectors.as_array().into_iter().flatten().filter_map(|s| s["metric"]["collector"].as_str()).collect();
    assert_eq!(names, vec!["loadavg"]);

    // Every scrape was answered well within Prometheus's 1 s timeout.
    let duration = prom.query_values("scrape_duration_seconds{job=\"node\"}");
    assert!(duration.first().is_some_and(|d| *d < 1.0), "scrape_duration_seconds = {duration:?}");
    assert!(!node.log().contains("level=error"), "exporter logged errors:\n{}", node.log());
}
