//! `mntr` and `conf` replies, then the whole path to metric families: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxporter_zookeeper::output::{ServerResult, Source, write_ensemble, write_servers};
use oxporter_zookeeper::parse::{parse_conf_server_id, parse_mntr};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_conf_server_id(&text);
    if let Ok(reply) = parse_mntr(&text) {
        let r = ServerResult { addr: "zk:2181".into(), ruok: true, reply: Some(reply), source: Some(Source::Mntr), server_id: Some(1) };
        let mut snap = oxporter_core::Snapshot::new();
        write_servers(&mut snap, std::slice::from_ref(&r));
        write_ensemble(&mut snap, &[r]);
        let _ = snap.into_sorted();
    }
});
