//! `oxporter-node`'s command line as a user meets it: `--version`, `--help`, and flags that must stop it with a
//! readable message and a non-zero exit code.

// In tests a failed expectation is a failed test (clippy's allow-expect-in-tests misses helper functions here).
#![allow(clippy::expect_used)]

use std::net::TcpListener;
use std::time::Duration;

use oxporter_testkit::exporter;

const TIMEOUT: Duration = Duration::from_secs(20);

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = exporter::run("oxporter-node", "oxporter-node", args, TIMEOUT);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_names_version_revision_and_rustc() {
    let (code, stdout, stderr) = run(&["--version"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(stdout.starts_with(&format!("oxporter-node {version}")), "{stdout}");
    assert!(stdout.contains("revision:"), "{stdout}");
    assert!(stdout.contains("rustc 1."), "{stdout}");
}

#[test]
fn help_lists_the_go_flag_names() {
    let (code, stdout, stderr) = run(&["--help"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    for flag in [
        "--web.listen-address",
        "--web.telemetry-path",
        "--web.config.file",
        "--web.max-requests",
        "--web.disable-exporter-metrics",
        "--log.level",
        "--log.format",
        "--path.procfs",
        "--path.sysfs",
        "--path.rootfs",
        "--collector.loadavg",
        "--collector.disable-defaults",
    ] {
        assert!(stdout.contains(flag), "--help does not mention {flag}:\n{stdout}");
    }
}

/// Runs with `args`, expects a non-zero exit within the timeout and a message containing every one of `expect`.
fn assert_refused(args: &[&str], expect: &[&str]) {
    let (code, stdout, stderr) = run(args);
    assert!(code.is_some_and(|c| c != 0), "{args:?} should fail, exit {code:?}:\n{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    for e in expect {
        assert!(all.contains(e), "{args:?}: message should mention {e:?}:\n{all}");
    }
    assert!(!all.contains("panicked"), "{args:?} panicked instead of reporting:\n{all}");
    assert!(all.lines().count() < 40, "{args:?}: message is not short:\n{all}");
}

#[test]
fn bad_flags_exit_non_zero_with_a_readable_message() {
    assert_refused(&["--log.level=loud"], &["loud", "--log.level"]);
    assert_refused(&["--log.format=xml"], &["xml", "--log.format"]);
    assert_refused(&["--collector.nope"], &["--collector.nope"]);
    assert_refused(&["--web.max-requests=many"], &["many", "--web.max-requests"]);
    assert_refused(&["--scrape.timeout=soon"], &["soon"]);
    assert_refused(&["--web.listen-address=nonsense"], &["nonsense"]);
    assert_refused(&["--web.listen-address=127.0.0.1:notaport"], &["notaport"]);
    assert_refused(&["--web.listen-address=127.0.0.1:0", "--web.telemetry-path=metrics"], &["metrics"]);
}

#[test]
fn busy_port_exits_non_zero() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    assert_refused(&[&format!("--web.listen-address={addr}")], &[&addr.to_string()]);
}

/// Like a Go program (Go 1.19+), the exporter raises its soft open-files limit to the hard limit at start, so
/// `process_max_fds` reads as node_exporter's does.
#[test]
fn raises_the_open_files_limit_to_the_hard_limit() {
    let hard = hard_open_files_limit();
    // Start it with a lower soft limit (inherited), as a service manager's default of 1024 would be.
    lower_soft_open_files_limit(hard.min(1024) / 2);
    let node = exporter::node().args(["--collector.disable-defaults", "--collector.loadavg"]).start();
    let body = node.get("/metrics", &[]).text();
    let line = body.lines().find(|l| l.starts_with("process_max_fds ")).expect("process_max_fds in the output");
    let value: f64 = line["process_max_fds ".len()..].trim().parse().expect("a number");
    assert_eq!(value, hard as f64, "{line}");
}

/// The hard limit on open files of this process ("Max open files" in /proc/self/limits).
fn hard_open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("read /proc/self/limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("Max open files line");
    line.split_whitespace().nth(4).expect("hard column").parse().expect("a finite hard limit")
}

#[allow(unsafe_code)] // setrlimit with a valid struct; this test process alone is affected (nextest runs each test in its own process).
fn lower_soft_open_files_limit(soft: u64) {
    let hard = hard_open_files_limit();
    let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: `lim` is a valid rlimit for the duration of the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(rc, 0, "setrlimit");
}
