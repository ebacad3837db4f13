//! Bad input never kills oxporter-node. `--path.procfs` and `--path.sysfs` point at trees of truncated, garbage,
//! binary and huge files and at FIFOs nobody writes to; every scrape is still answered within Prometheus's deadline,
//! the collectors reading those files report `node_scrape_collector_success 0` and the others 1, and the log says
//! so in one line per failure (no panic, no backtrace). Then the HTTP side: huge and invalid query strings, invalid
//! `Accept` and `X-Prometheus-Scrape-Timeout-Seconds` headers, idle and many concurrent connections: each gets an
//! HTTP answer and the process lives on.
//!
//! One exporter serves the whole file; the trees are generated in a temporary directory (the 50 MB file too).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oxporter_e2e::sample_value;
use oxporter_testkit::exporter::{self, Exporter};
use oxporter_testkit::http;
use oxporter_testkit::process::require_binary;

/// Prometheus's scrape timeout as the test sends it; every answer must come within it.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Collectors whose files are good copies of this host's (or that read none), so they must succeed.
/// `textfile` is among them: like node_exporter it reports a broken `*.prom` file in `node_textfile_scrape_error`
/// and keeps the good files' metrics.
const HEALTHY: &[&str] = &["entropy", "filefd", "interrupts", "tcpstat", "uname", "textfile"];

/// Collectors whose input is broken: (collector, what is wrong with it).
const BROKEN: &[(&str, &str)] = &[
    ("loadavg", "proc/loadavg is truncated"),
    ("meminfo", "proc/meminfo is 1 MB of binary garbage without a line break"),
    ("stat", "proc/stat is 50 MB of garbage"),
    ("cpu", "proc/stat is 50 MB of garbage"),
    ("netdev", "proc/net/dev is text garbage"),
    ("netstat", "proc/net/netstat has a header line without its values line"),
    ("sockstat", "proc/net/sockstat is cut mid-line"),
    ("pressure", "proc/pressure/* are binary garbage"),
    ("diskstats", "proc/diskstats has values past u64"),
    ("filesystem", "proc/1/mountinfo and proc/self/mountinfo are garbage lines"),
    ("conntrack", "proc/sys/net/netfilter/nf_conntrack_count is an empty directory"),
];

/// Collectors whose read blocks and never returns (a FIFO nobody writes to): only the scrape deadline ends their
/// wait. (A blocked read keeps its thread until it returns; with real procfs and sysfs files this does not happen.)
const STUCK: &[(&str, &str)] = &[
    ("vmstat", "proc/vmstat is a FIFO nobody writes to"),
    ("processes", "proc/1/stat is a FIFO nobody writes to"),
    ("time", "sys/devices/system/clocksource/clocksource0/current_clocksource is a FIFO nobody writes to"),
];

/// A scrape without the [`STUCK`] collectors, which hold every full scrape until the deadline: for the checks that
/// need no slow scrape each.
const QUICK: &str = "/metrics?exclude[]=vmstat&exclude[]=processes&exclude[]=time";

/// A request (path and query, extra headers) and the statuses that count as a good answer to it.
type HttpCase = (String, Vec<(&'static str, String)>, &'static [u16]);

/// Deterministic pseudo-random bytes (every value, NULs and invalid UTF-8 included).
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn put(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
}

fn copy_from_host(root: &Path, rel: &str) {
    let content = std::fs::read(Path::new("/proc").join(rel)).unwrap();
    put(root, rel, content);
}

fn fifo(root: &Path, rel: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = Command::new(require_binary("mkfifo", "coreutils")).arg(&path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A procfs and a sysfs tree: good copies of this host's files for [`HEALTHY`], broken files for [`BROKEN`].
fn bad_trees(root: &Path) -> (PathBuf, PathBuf) {
    let proc = root.join("proc");
    let sys = root.join("sys");
    // Healthy: real files of this host.
    for rel in ["sys/fs/file-nr", "sys/kernel/random/entropy_avail", "sys/kernel/random/poolsize", "interrupts"] {
        copy_from_host(&proc, rel);
    }
    put(&proc, "net/tcp", std::fs::read("/proc/net/tcp").unwrap());
    // Broken.
    put(&proc, "loadavg", "0.52 0.4");
    put(&proc, "meminfo", garbage(1 << 20, 1).into_iter().map(|b| if b == b'\n' { 0 } else { b }).collect::<Vec<_>>());
    {
        // 50 MB without a line break: more than any reader may hold.
        let mut f = std::fs::File::create(proc.join("stat")).unwrap();
        let chunk: Vec<u8> = b"cpu0 1 2 3 x".iter().copied().cycle().take(1 << 20).collect();
        for _ in 0..50 {
            f.write_all(&chunk).unwrap();
        }
    }
    fifo(&proc, "vmstat");
    put(&proc, "net/dev", "Inter-|   Receive\n face |bytes\n  eth0: zero one two\n\u{0}\u{0}\n");
    put(&proc, "net/netstat", "TcpExt: SyncookiesSent SyncookiesRecv\n");
    put(&proc, "net/snmp", "Ip: Forwarding DefaultTTL\nIp: 1 64\n");
    put(&proc, "net/sockstat", "sockets: used 170\nTCP: inuse 9 orphan 0 tw");
    for r in ["cpu", "memory", "io"] {
        put(&proc, &format!("pressure/{r}"), garbage(300, 7));
    }
    put(&proc, "diskstats", "   8       0 sda 99999999999999999999999 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
    put(&proc, "1/mountinfo", "garbage line\n\u{1}\u{2}\u{3}\n");
    fifo(&proc, "1/stat");
    put(&proc, "sys/kernel/threads-max", "1000\n");
    put(&proc, "sys/kernel/pid_max", "4096\n");
    put(&proc, "self/mountinfo", "garbage line\n");
    std::fs::create_dir_all(proc.join("sys/net/netfilter/nf_conntrack_count")).unwrap();
    put(&proc, "sys/net/netfilter/nf_conntrack_max", "262144\n");
    put(&proc, "net/stat/nf_conntrack", "entries\n00000000\n");
    let cs = "devices/system/clocksource/clocksource0";
    put(&sys, &format!("{cs}/available_clocksource"), "tsc hpet\n");
    fifo(&sys, &format!("{cs}/current_clocksource"));
    // The textfile directory: a good file beside a FIFO, garbage, and a file over the 64 MiB limit (sparse).
    let text = root.join("textfile");
    put(
        &text,
        "good.prom",
        "# HELP bad_input_good A metric from a good file.\n# TYPE bad_input_good gauge\nbad_input_good 1\n",
    );
    fifo(&text, "stuck.prom");
    put(&text, "garbage.prom", garbage(4096, 3));
    std::fs::File::create(text.join("huge.prom")).unwrap().set_len(65 << 20).unwrap();
    (proc, sys)
}

/// One scrape of `path` the way Prometheus makes it; returns the body and how long it took.
fn scrape(node: &Exporter, path: &str) -> (String, Duration) {
    let start = Instant::now();
    let timeout = SCRAPE_TIMEOUT.as_secs_f64().to_string();
    let r = http::get_with_timeout(
        &node.url(path),
        &[("X-Prometheus-Scrape-Timeout-Seconds", &timeout), ("Accept", "text/plain;version=0.0.4")],
        SCRAPE_TIMEOUT * 2,
    )
    .unwrap_or_else(|e| panic!("scrape failed: {e}"));
    let took = start.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    (r.text(), took)
}

/// Every log line that mentions `collector=NAME` at level error.
fn error_lines<'a>(log: &'a str, collector: &str) -> Vec<&'a str> {
    let needle = format!("collector={collector} ");
    log.lines().filter(|l| l.contains("level=error") && format!("{l} ").contains(&needle)).collect()
}

#[test]
fn broken_files_and_requests_never_kill_it() {
    let dir = oxporter_testkit::tempdir("bad-input");
    let (proc, sys) = bad_trees(dir.path());
    let mut args = vec![
        "--collector.disable-defaults".to_owned(),
        format!("--path.procfs={}", proc.display()),
        format!("--path.sysfs={}", sys.display()),
        // The udev database is not ours to break; keep diskstats from reading the host's.
        format!("--path.udev.data={}", dir.path().join("udev").display()),
        format!("--collector.textfile.directory={}", dir.path().join("textfile").display()),
        // The deadline when a request carries no usable scrape timeout header.
        format!("--scrape.timeout={}s", SCRAPE_TIMEOUT.as_secs()),
    ];
    let enabled = HEALTHY.iter().chain(BROKEN.iter().chain(STUCK).map(|(c, _)| c));
    args.extend(enabled.map(|c| format!("--collector.{c}")));
    let mut node = exporter::node().args(args).start();
    let log_at_start = node.log().lines().count();

    // Files: scrapes in a row, each within the deadline, each with the same verdict per collector; the last one
    // with the stuck collector too, which the deadline ends.
    const SCRAPES: usize = 4;
    for i in 0..SCRAPES {
        let full = i == SCRAPES - 1;
        let (body, took) = scrape(&node, if full { "/metrics" } else { QUICK });
        assert!(took <= SCRAPE_TIMEOUT, "scrape {i} took {took:?}, over Prometheus's {SCRAPE_TIMEOUT:?}");
        let success = |c: &str| sample_value(&body, &format!("node_scrape_collector_success{{collector=\"{c}\"}}"));
        for c in HEALTHY {
            assert_eq!(success(c), Some(1.0), "healthy collector {c} in scrape {i}\n{body}");
        }
        for (c, why) in BROKEN {
            assert_eq!(success(c), Some(0.0), "collector {c} ({why}) in scrape {i}");
        }
        for (c, why) in STUCK {
            assert_eq!(success(c), full.then_some(0.0), "collector {c} ({why}) in scrape {i}");
        }
        assert_eq!(sample_value(&body, "node_textfile_scrape_error"), Some(1.0), "three bad *.prom files");
        assert_eq!(sample_value(&body, "bad_input_good"), Some(1.0), "the good *.prom file is served");
    }
    let log = node.log();
    let scrape_log: Vec<&str> = log.lines().skip(log_at_start).collect();
    let scrape_log = scrape_log.join("\n");
    for (c, why) in BROKEN.iter().chain(STUCK) {
        let lines = error_lines(&scrape_log, c);
        let expected = if STUCK.iter().any(|(s, _)| s == c) { 1 } else { SCRAPES };
        assert_eq!(lines.len(), expected, "collector {c} ({why}): one error line per failed scrape:\n{scrape_log}");
        for l in lines {
            // Bounded: the error is cut to 300 characters (escaped in the log), not the megabyte of garbage.
            assert!(l.len() < 4096, "collector {c}: a log line of {} bytes is not a clear line: {:.300}…", l.len(), l);
            assert!(l.contains("msg=\"collector failed\""), "{l}");
        }
    }
    for (c, _) in STUCK {
        assert!(error_lines(&scrape_log, c)[0].contains("timed out"), "{scrape_log}");
    }
    for c in HEALTHY {
        assert!(error_lines(&scrape_log, c).is_empty(), "healthy collector {c} logged an error:\n{scrape_log}");
    }

    // HTTP: every request gets an answer.
    let long = "x".repeat(256 * 1024);
    let cases: Vec<HttpCase> = vec![
        (format!("/metrics?collect[]={long}"), vec![], &[400, 414, 431]),
        (format!("/metrics?{}exclude[]=processes", "a=b&".repeat(20_000)), vec![], &[200, 400, 414, 431]),
        ("/metrics?collect[]=%FF%FE%00".into(), vec![], &[400]),
        ("/metrics?collect[]=nosuchcollector".into(), vec![], &[400]),
        ("/metrics?collect[]=loadavg&exclude[]=cpu".into(), vec![], &[400]),
        ("/metrics?%%%&&&===&collect[]".into(), vec![], &[200, 400]),
        ("/metrics?collect%5B%5D=uname".into(), vec![], &[200]),
        (QUICK.into(), vec![("Accept", "application/openmetrics-text; version=banana; q=x, */*;q=-1".into())], &[200]),
        (QUICK.into(), vec![("Accept", ";;;,,,".into())], &[200]),
        (QUICK.into(), vec![("Accept", "\u{7f}garbage/\u{1}".into())], &[200, 400]),
        (QUICK.into(), vec![("Accept", "a".repeat(60_000))], &[200, 400, 431]),
        (QUICK.into(), vec![("Accept-Encoding", "gzip;q=banana, deflate, br, *".into())], &[200]),
    ];
    let mut failures = Vec::new();
    for (path, headers, ok) in &cases {
        let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match http::get_with_timeout(&node.url(path), &hdrs, Duration::from_secs(15)) {
            Ok(r) if ok.contains(&r.status) => {}
            Ok(r) => failures.push(format!("{:.80} {hdrs:.80?}: HTTP {} {:.200}", path, r.status, r.text())),
            Err(e) => failures.push(format!("{:.80} {hdrs:.80?}: no answer: {e}", path)),
        }
    }
    // Scrape timeout headers: useless ones fall back to --scrape.timeout (shown once with the stuck collector), a
    // tiny one fails every collector at once. Huge but valid ones (up to ~585 years) are honoured, so they ask only
    // for collectors that cannot hang here; a deadline past what the clock can represent must not panic.
    for (timeout, path) in [
        ("abc", "/metrics"),
        ("", QUICK),
        ("-1", QUICK),
        ("0", QUICK),
        ("NaN", QUICK),
        ("inf", QUICK),
        ("-inf", QUICK),
        ("1e309", QUICK),
        ("18446744073709551616", QUICK),
        ("0.000000001", "/metrics"),
        ("2,5", QUICK),
        ("1e19", "/metrics?collect[]=uname&collect[]=loadavg"),
        ("1e12", "/metrics?collect[]=uname&collect[]=loadavg"),
    ] {
        let start = Instant::now();
        match http::get_with_timeout(
            &node.url(path),
            &[("X-Prometheus-Scrape-Timeout-Seconds", timeout)],
            Duration::from_secs(15),
        ) {
            Ok(r) if r.status == 200 => {
                let took = start.elapsed();
                if took > SCRAPE_TIMEOUT + Duration::from_secs(1) {
                    failures.push(format!("scrape timeout {timeout:?}: answered after {took:?}"));
                }
            }
            Ok(r) => failures.push(format!("scrape timeout {timeout:?}: HTTP {}", r.status)),
            Err(e) => failures.push(format!("scrape timeout {timeout:?}: no answer: {e}")),
        }
    }

    // Connections: idle ones that never send a request must not keep others from being served, and a crowd of
    // scrapes at once is answered (200, or 503 beyond --web.max-requests), never dropped.
    let idle: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(node.address()).unwrap()).collect();
    let half: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(node.address()).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Half: ").unwrap();
            s
        })
        .collect();
    let crowd: Vec<_> = (0..120)
        .map(|i| {
            let url = node.url(if i % 2 == 0 { "/metrics" } else { "/-/healthy" });
            std::thread::spawn(move || {
                http::get_with_timeout(&url, &[("X-Prometheus-Scrape-Timeout-Seconds", "2")], Duration::from_secs(30))
                    .map(|r| r.status)
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for t in crowd {
        let s = match t.join().unwrap() {
            Ok(code) => code.to_string(),
            Err(e) => format!("error: {e}"),
        };
        *statuses.entry(s).or_default() += 1;
    }
    if statuses.keys().any(|s| s != "200" && s != "503") || !statuses.contains_key("200") {
        failures.push(format!("concurrent requests: {statuses:?}"));
    }
    // Raw garbage instead of HTTP gets an error status or a closed connection, and the server goes on.
    for raw in [&b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..], b"GET /metrics HTTP/9.9\r\n\r\n", b"\r\n\r\n\r\n"]
    {
        let mut s = TcpStream::connect(node.address()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The server may answer and close before all is written or the write side is shut: that is an answer too.
        let _ = s.write_all(raw);
        // Nothing more is coming: a server waiting for the rest of a request sees the end instead.
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let head = String::from_utf8_lossy(&buf);
        if !(buf.is_empty() || head.starts_with("HTTP/1.1 4") || head.starts_with("HTTP/1.1 5")) {
            failures.push(format!("raw {raw:?}: answered {:.100}", head));
        }
    }
    drop(idle);
    drop(half);

    // Still alive and serving, and no panic or backtrace was ever logged.
    let (_, took) = scrape(&node, QUICK);
    assert!(took <= SCRAPE_TIMEOUT, "scrape after the HTTP garbage took {took:?}");
    assert!(!node.child().has_exited(), "oxporter-node exited");
    let log = node.log();
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "thread '"] {
        let hits: Vec<&str> = log.lines().filter(|l| l.contains(bad)).take(5).collect();
        assert!(hits.is_empty(), "the log has {bad:?}:\n{}", hits.join("\n"));
    }
    assert!(log.lines().all(|l| l.starts_with("ts=")), "a log line that is not one logfmt record:\n{log:.3000}");
    assert!(failures.is_empty(), "{} request(s) not answered well:\n{}", failures.len(), failures.join("\n"));
}
