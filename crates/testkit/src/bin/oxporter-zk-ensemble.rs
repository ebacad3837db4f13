//! Starts a ZooKeeper ensemble on free loopback ports exactly as the tests do (`ZkEnsemble::start`), prints one line
//! `hosts=HOST:PORT,... pids=PID,...` when every server serves, and stops the servers when its standard input closes.
//! For benchmarks and manual runs (`bench/zookeeper.sh`); tests use the library directly.
//!
//! Usage: `oxporter-zk-ensemble [SERVERS]` (default 3).

use std::io::{Read, Write};

use oxporter_testkit::zookeeper::{ZkEnsemble, ZkOptions};

fn main() -> std::process::ExitCode {
    let n = match std::env::args().nth(1).map(|a| a.parse::<usize>()) {
        None => 3,
        Some(Ok(n)) if (1..=7).contains(&n) => n,
        Some(_) => {
            eprintln!("usage: oxporter-zk-ensemble [SERVERS (1-7)]");
            return std::process::ExitCode::FAILURE;
        }
    };
    let ensemble = ZkEnsemble::start(n, ZkOptions::default());
    ensemble.wait_for_leader(n, oxporter_testkit::zookeeper::START_TIMEOUT);
    let pids: Vec<String> = ensemble.servers.iter().filter_map(|s| s.pid()).map(|p| p.to_string()).collect();
    let mut out = std::io::stdout();
    if writeln!(out, "hosts={} pids={}", ensemble.hosts(), pids.join(",")).and_then(|()| out.flush()).is_err() {
        return std::process::ExitCode::FAILURE;
    }
    // Until whoever started us closes our standard input (or exits): then the ensemble is dropped and killed.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(ensemble);
    std::process::ExitCode::SUCCESS
}
