//! Faults: Redis paused past the deadline, killed mid-scrape, restarted; key checks cut short by the deadline.
//! The exporter answers within the deadline with `redis_up 0` (or partial key checks) and recovers without a
//! restart.

#![allow(clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Exporter, eventually, samples, value};
use oxporter_testkit::redis::RedisServer;

#[test]
fn paused_redis_answers_within_the_deadline_and_recovers() {
    let redis = RedisServer::start();
    let exp = Exporter::start(&["--redis.addr", &redis.url()]);
    assert_eq!(value(&exp.get("/metrics").1, "redis_up", &[]), Some(1.0));

    redis.pause();
    let start = Instant::now();
    let (status, body) = exp.get_with_timeout("/metrics", 2.0);
    let took = start.elapsed();
    redis.resume();
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    assert_eq!(value(&body, "redis_up", &[]), Some(0.0), "{body}");
    assert_eq!(value(&body, "redis_exporter_last_scrape_error", &[("err", "timeout")]), Some(1.0), "{body}");
    assert!(value(&body, "process_resident_memory_bytes", &[]).is_some(), "the rest of the answer is intact");

    assert!(
        eventually(Duration::from_secs(5), || value(&exp.get("/metrics").1, "redis_up", &[]) == Some(1.0)),
        "no recovery after SIGCONT"
    );
}

#[test]
fn killed_mid_scrape_then_restarted() {
    let mut redis = RedisServer::start();
    redis.cli(&["SET", "k", "v"]);
    let exp = Exporter::start(&["--redis.addr", &redis.url()]);
    assert_eq!(value(&exp.get("/metrics").1, "redis_up", &[]), Some(1.0));

    // Freeze Redis so the scrape is surely in flight, then kill it under the exporter's feet.
    redis.pause();
    let port = exp.port;
    let scrape = std::thread::spawn(move || {
        let start = Instant::now();
        let r = common::http_get(port, "/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "10")]);
        (r, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    redis.kill();
    let ((status, body), took) = scrape.join().expect("scrape thread");
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(5), "a dead connection must end the scrape early, took {took:?}");
    assert_eq!(value(&body, "redis_up", &[]), Some(0.0), "{body}");

    // While it is down: refused connections, still HTTP 200.
    let (status, body) = exp.get("/metrics");
    assert_eq!(status, 200);
    assert_eq!(value(&body, "redis_exporter_last_scrape_error", &[("err", "connect")]), Some(1.0), "{body}");

    redis.restart();
    assert!(
        eventually(Duration::from_secs(5), || value(&exp.get("/metrics").1, "redis_up", &[]) == Some(1.0)),
        "no recovery after restart"
    );
}

#[test]
fn key_checks_are_cut_short_by_the_deadline_with_partial_results() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    redis.cli(&["DEBUG", "POPULATE", "1000000", "key", "4"]);
    // SCAN with COUNT 10 over a million keys takes far more than a second: the checks cannot finish.
    let exp = Exporter::start(&[
        "--redis.addr",
        &redis.url(),
        "--check-keys=db0=key:1*",
        "--count-keys=db0=nomatch*",
        "--check-keys-batch-size=10",
    ]);
    let start = Instant::now();
    let (status, body) = exp.get_with_timeout("/metrics", 1.5);
    let took = start.elapsed();
    assert_eq!(status, 200);
    // The deadline is 1.35 s (1.5 s less the 10% margin). The slack absorbs scheduling delays on a loaded CI
    // machine; a check that ran to completion over a million keys would take many seconds.
    assert!(took < Duration::from_millis(2500), "answered after {took:?}");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "the INFO part is complete: {body}");
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db0")]), Some(1_000_000.0));
    assert_eq!(value(&body, "redis_exporter_key_check_truncated", &[("check", "check-keys")]), Some(1.0), "{body}");
    assert_eq!(value(&body, "redis_exporter_key_check_truncated", &[("check", "count-keys")]), Some(1.0));
    let checked = samples(&body).into_iter().filter(|s| s.name == "redis_key_size").count();
    assert!(checked > 0, "keys checked before the deadline are reported");
    assert_eq!(value(&body, "redis_keys_count", &[]), None, "an unfinished count is not reported");
    assert!(exp.log().contains("cut short"), "{}", exp.log());

    // Redis is fine afterwards, and so is the next scrape.
    assert_eq!(redis.cli(&["PING"]).trim(), "PONG");
    assert_eq!(value(&exp.get_with_timeout("/metrics", 1.5).1, "redis_up", &[]), Some(1.0));
}

/// Key checks on several connections at once stop at the deadline too: each database's scan reports what it
/// inspected before it, and the check says it was cut short.
#[test]
fn parallel_key_checks_are_cut_short_with_partial_results_from_every_database() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    for db in ["0", "1"] {
        redis.cli(&["-n", db, "DEBUG", "POPULATE", "300000", "key", "4"]);
    }
    // 30,000 SCAN round trips per database: far more than the 0.45 s deadline allows.
    let exp = Exporter::start(&[
        "--redis.addr",
        &redis.url(),
        "--check-keys=db0=key:1*,db1=key:2*",
        "--check-keys-batch-size=10",
        "--check-keys-connections=2",
    ]);
    let start = Instant::now();
    let (status, body) = exp.get_with_timeout("/metrics", 0.5);
    let took = start.elapsed();
    assert_eq!(status, 200);
    assert!(took < Duration::from_millis(1500), "answered after {took:?}");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
    assert_eq!(value(&body, "redis_exporter_key_check_truncated", &[("check", "check-keys")]), Some(1.0), "{body}");
    let checked = |db: &str| {
        samples(&body)
            .into_iter()
            .filter(|s| s.name == "redis_key_size" && s.labels.get("db").map(String::as_str) == Some(db))
            .count()
    };
    let (db0, db1) = (checked("db0"), checked("db1"));
    assert!(db0 > 0 && db1 > 0, "both databases report keys checked before the deadline: {db0} and {db1}");
    // Each pattern matches 111,111 keys, so the key limit (100,000 per pattern) would come only near the end.
    assert!(db0 < 100_000 && db1 < 100_000, "neither scan got far: {db0} and {db1}");
    assert!(exp.log().contains("cut short"), "{}", exp.log());
    assert_eq!(value(&exp.get_with_timeout("/metrics", 0.5).1, "redis_up", &[]), Some(1.0));
}
