//! Fuzzes INFO parsing and every metric group over it (`cargo +nightly fuzz run info`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxporter_redis::collectors::{Settings, render};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let settings = Settings { include_system_metrics: true, latency_histogram: true, empty_databases: true };
    let config = [("databases".to_owned(), "4".to_owned())].into();
    // The same text as INFO and as CLUSTER INFO.
    let _ = render(&text, Some(&text), &config, &settings, 1.0).into_sorted();
});
