//! A real Prometheus scrapes `oxporter-node` over HTTPS with basic auth (exporter-toolkit's `--web.config.file`),
//! verifying the exporter's certificate against a test CA; curl checks the same from outside.

// In tests a failed expectation is a failed test (clippy's allow-expect-in-tests misses helper functions here).
#![allow(clippy::expect_used)]

use std::time::Duration;

use oxporter_testkit::exporter;
use oxporter_testkit::http::CurlOptions;
use oxporter_testkit::prometheus::{Prometheus, ScrapeJob};
use oxporter_testkit::tls::{Pki, bcrypt_hash};

const UP_TIMEOUT: Duration = Duration::from_secs(30);
const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";
const WRONG_PASSWORD: &str = "not-the-password-4711";

#[test]
fn prometheus_scrapes_node_over_https_with_basic_auth() {
    let pki = Pki::new();
    let web_config = pki.dir().join("web-config.yml");
    oxporter_testkit::write_file(
        &web_config,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  {USER}: '{}'\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            bcrypt_hash(PASSWORD)
        ),
    );
    let node = exporter::node()
        .arg(format!("--web.config.file={}", web_config.display()))
        .https(&pki.ca_cert)
        .basic_auth(USER, PASSWORD)
        .start();

    // From outside: TLS verified against our CA, credentials required.
    let ok = node.curl("/metrics", CurlOptions::default());
    assert_eq!(ok.status, 200, "curl exit {}: {}", ok.exit_code, ok.stderr);
    assert!(ok.text().contains("node_load1 "), "{}", ok.text());
    let anonymous =
        node.curl("/metrics", CurlOptions { basic_auth: Some((String::new(), String::new())), ..Default::default() });
    assert_eq!(anonymous.status, 401, "empty credentials must be refused");
    let wrong = node
        .curl("/metrics", CurlOptions { basic_auth: Some((USER.into(), WRONG_PASSWORD.into())), ..Default::default() });
    assert_eq!(wrong.status, 401, "a wrong password must be refused");
    let plain = oxporter_testkit::http::get_with_timeout(
        &format!("http://{}/metrics", node.address()),
        &[],
        Duration::from_secs(5),
    );
    assert!(!matches!(&plain, Ok(r) if r.status == 200), "plain HTTP must not be served on the TLS port");

    let prom = Prometheus::start(&[
        ScrapeJob::new("node_tls", [node.address()]).ca_file(&pki.ca_cert).basic_auth(USER, PASSWORD),
        ScrapeJob::new("node_tls_wrong_password", [node.address()])
            .ca_file(&pki.ca_cert)
            .basic_auth(USER, WRONG_PASSWORD),
    ]);
    prom.wait_for_targets_up("node_tls", UP_TIMEOUT);
    assert_eq!(prom.query_values("up{job=\"node_tls\"}"), vec![1.0]);
    assert!(prom.query_has_data("node_load1{job=\"node_tls\"}"));
    assert_eq!(prom.query_values("node_scrape_collector_success{job=\"node_tls\",collector=\"loadavg\"}"), vec![1.0]);

    // The job with the wrong password is down with a 401, and the exporter never logs the password.
    let down = oxporter_testkit::poll(UP_TIMEOUT, Duration::from_millis(200), || {
        let t = prom.targets("node_tls_wrong_password");
        let t = t.first()?;
        (t["health"] == "down").then(|| t["lastError"].as_str().unwrap_or_default().to_owned())
    });
    let down = down.expect("the wrong-password target never went down");
    assert!(down.contains("401"), "lastError: {down}");
    let log = node.log();
    assert!(!log.contains(PASSWORD) && !log.contains(WRONG_PASSWORD), "the exporter logged a password:\n{log}");
}
