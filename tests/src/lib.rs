//! End-to-end tests, in `tests/tests/`: the exporters as real processes, and the files users install
//! (`deploy/`, `dashboards/`) checked with the real tools (`systemd-analyze`, `promtool`, `bash`).
//! Missing tools fail the tests; nothing is skipped.
//!
//! Run with `cargo test -p oxporter-e2e` (or `cargo nextest run -p oxporter-e2e`).
