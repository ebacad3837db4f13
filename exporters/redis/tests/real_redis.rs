//! oxporter-redis against real redis-server processes: standalone with data in several databases, a replica, an
//! ACL user, per-target passwords, TLS, a cluster, a Unix socket, and the key checks.

#![allow(clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Exporter, eventually, families, value};
use oxporter_testkit::redis::{RedisCluster, RedisServer, TlsFiles};

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn standalone_with_data_in_several_databases() {
    let redis = RedisServer::start();
    redis.cli(&["SET", "a", "1"]);
    redis.cli(&["SET", "b", "2"]);
    redis.cli(&["-n", "1", "SET", "c", "3", "EX", "1000"]);
    redis.cli(&["-n", "3", "RPUSH", "l", "x", "y"]);
    let _ = redis.try_cli(&["NOSUCHCOMMAND"]);
    let exp = Exporter::start(&["--redis.addr", &redis.url()]);
    // Redis estimates avg_ttl in its background expire cycle (every 100 ms): 0 until that ran once.
    eventually(Duration::from_secs(5), || {
        value(&exp.get("/metrics").1, "redis_db_avg_ttl_seconds", &[("db", "db1")]).is_some_and(|t| t > 0.0)
    });
    let (status, body) = exp.get("/metrics");
    assert_eq!(status, 200);
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
    assert_eq!(value(&body, "redis_exporter_last_scrape_error", &[("err", "")]), Some(0.0));
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db0")]), Some(2.0));
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db1")]), Some(1.0));
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db2")]), Some(0.0), "empty databases are padded");
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db3")]), Some(1.0));
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db15")]), Some(0.0));
    assert_eq!(value(&body, "redis_db_keys_expiring", &[("db", "db1")]), Some(1.0));
    assert!(value(&body, "redis_db_avg_ttl_seconds", &[("db", "db1")]).is_some_and(|t| t > 900.0 && t <= 1000.0));
    assert!(value(&body, "redis_commands_total", &[("cmd", "set")]).is_some_and(|v| v >= 3.0));
    assert!(value(&body, "redis_commands_duration_seconds_total", &[("cmd", "set")]).is_some());
    assert!(value(&body, "redis_errors_total", &[("err", "ERR")]).is_some_and(|v| v >= 1.0));
    assert_eq!(value(&body, "redis_config_maxclients", &[]), Some(10000.0));
    assert_eq!(value(&body, "redis_config_maxmemory", &[]), Some(0.0));
    assert!(value(&body, "redis_instance_info", &[("role", "master"), ("redis_mode", "standalone")]).is_some());
    assert!(value(&body, "redis_latency_percentiles_usec_count", &[("cmd", "set")]).is_some_and(|v| v >= 3.0));
    assert!(value(&body, "redis_commands_latencies_usec_count", &[("cmd", "set")]).is_some_and(|v| v >= 3.0));
    assert!(value(&body, "redis_slowlog_length", &[]).is_some());
    assert!(value(&body, "redis_memory_used_bytes", &[]).is_some_and(|v| v > 0.0));
    assert_eq!(value(&body, "redis_connected_slaves", &[]), Some(0.0));
    let fams = families(&body);
    assert_eq!(fams["redis_keyspace_hits_total"].0, "counter");
    assert_eq!(fams["redis_uptime_in_seconds"].0, "gauge");
    assert_eq!(fams["redis_latency_percentiles_usec"].0, "summary");
    assert_eq!(fams["redis_commands_latencies_usec"].0, "histogram");
    assert!(fams.contains_key("process_resident_memory_bytes"));
    assert!(!fams.keys().any(|k| k.starts_with("redis_scrape_collector")), "no engine collector metrics");
    // The scrape names its connection as redis_exporter does.
    assert!(
        redis.cli(&["CLIENT", "LIST"]).contains("name=redis_exporter")
            || redis.cli(&["INFO", "stats"]).contains("total_connections_received")
    );
    // Every family has HELP and TYPE lines, and nothing is exported twice.
    let (_, again) = exp.get("/metrics");
    assert!(value(&again, "redis_exporter_scrapes_total", &[]).is_some_and(|v| v >= 2.0));
}

#[test]
fn primary_and_replica() {
    let primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    primary.cli(&["SET", "k", "v"]);
    let exp = Exporter::start(&["--redis.addr", &primary.url()]);
    let path = format!("/scrape?target={}", enc(&replica.url()));
    let port = primary.port.to_string();
    assert!(
        eventually(Duration::from_secs(15), || {
            let (_, b) = exp.get(&path);
            value(&b, "redis_master_link_up", &[("master_host", "127.0.0.1"), ("master_port", &port)]) == Some(1.0)
        }),
        "replica never reported its link up"
    );
    let (_, body) = exp.get(&path);
    assert!(value(&body, "redis_slave_info", &[("master_port", &port), ("read_only", "1")]).is_some());
    assert!(value(&body, "redis_instance_info", &[("role", "slave")]).is_some());
    assert!(value(&body, "redis_master_last_io_seconds_ago", &[("master_port", &port)]).is_some());
    assert!(value(&body, "redis_slave_repl_offset", &[("master_port", &port)]).is_some());
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db0")]), Some(1.0));
    let replica_port = replica.port.to_string();
    assert!(eventually(Duration::from_secs(10), || {
        let (_, b) = exp.get("/metrics");
        value(&b, "redis_connected_slave_offset_bytes", &[("slave_port", &replica_port), ("slave_state", "online")])
            .is_some()
            && value(&b, "redis_connected_slave_lag_seconds", &[("slave_port", &replica_port)]).is_some()
    }));
    let (_, body) = exp.get("/metrics");
    assert_eq!(value(&body, "redis_connected_slaves", &[]), Some(1.0));
}

#[test]
fn acl_user_with_password_never_shown() {
    let secret = "s3cret-Pa55";
    let redis = RedisServer::start_with(&[
        "--user",
        "alice",
        "on",
        &format!(">{secret}"),
        "~*",
        "&*",
        "+@all",
        "--user",
        "default",
        "off",
    ]);
    let exp =
        Exporter::start_env(&["--redis.addr", &redis.url(), "--redis.user", "alice"], &[("REDIS_PASSWORD", secret)]);
    let (_, body) = exp.get("/metrics");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}\n{}", exp.log());
    let (_, landing) = exp.get("/");
    assert!(landing.contains("redis.user"), "landing page lists flags");
    for text in [&body, &landing, &exp.log()] {
        assert!(!text.contains(secret), "password leaked: {text}");
    }

    // A wrong password: redis_up 0 with a bounded error kind, and still no secret anywhere.
    let wrong = "not-the-Pa55word";
    let bad =
        Exporter::start(&["--redis.addr", &redis.url(), "--redis.user=alice", &format!("--redis.password={wrong}")]);
    let (status, body) = bad.get("/metrics");
    assert_eq!(status, 200);
    assert_eq!(value(&body, "redis_up", &[]), Some(0.0));
    assert_eq!(value(&body, "redis_exporter_last_scrape_error", &[("err", "auth")]), Some(1.0), "{body}");
    let (_, landing) = bad.get("/");
    for text in [&body, &landing, &bad.log()] {
        assert!(!text.contains(wrong), "password leaked: {text}");
    }
}

#[test]
fn multi_target_with_password_file() {
    let one = RedisServer::start_with(&["--requirepass", "pw-one"]);
    let two = RedisServer::start_with(&["--requirepass", "pw-two"]);
    let unlisted = RedisServer::start_with(&["--requirepass", "pw-three"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("passwords.json");
    let json = format!(r#"{{"{}": "pw-one", "redis://127.0.0.1:{}": "pw-two"}}"#, one.url(), two.port);
    std::fs::write(&file, json).expect("write password file");
    let exp = Exporter::start(&["--redis.addr", &one.url(), "--redis.password-file", file.to_str().expect("path")]);
    let (_, body) = exp.get("/metrics");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
    for (target, up) in [(one.url(), 1.0), (format!("127.0.0.1:{}", two.port), 1.0), (unlisted.url(), 0.0)] {
        let (status, body) = exp.get(&format!("/scrape?target={}", enc(&target)));
        assert_eq!(status, 200);
        assert_eq!(value(&body, "redis_up", &[]), Some(up), "{target}: {body}");
        assert!(value(&body, "redis_exporter_build_info", &[]).is_some(), "probe answers carry build info");
        assert!(value(&body, "process_resident_memory_bytes", &[]).is_none(), "probe answers are about the target");
    }
    let (_, body) = exp.get(&format!("/probe?target={}", enc(&two.url())));
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "/probe is an alias");

    // Probes only: an empty --redis.addr leaves /metrics without a Redis.
    let probes_only = Exporter::start(&["--redis.addr=", "--redis.password-file", file.to_str().expect("path")]);
    let (status, body) = probes_only.get("/metrics");
    assert_eq!(status, 200);
    assert_eq!(value(&body, "redis_up", &[]), None, "{body}");
    let (_, body) = probes_only.get(&format!("/scrape?target={}", enc(&one.url())));
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");

    let (status, body) = exp.get("/scrape");
    assert_eq!(status, 400);
    assert!(body.contains("'target' parameter must be specified"), "{body}");
    let (status, body) = exp.get(&format!("/scrape?target={}", enc("redis://user:hunter2@h:notaport")));
    assert_eq!(status, 400);
    assert!(!body.contains("hunter2"), "{body}");
    let dead = oxporter_testkit::ports::free_port();
    let (status, body) = exp.get(&format!("/scrape?target={}", enc(&format!("redis://127.0.0.1:{dead}"))));
    assert_eq!(status, 200);
    assert_eq!(value(&body, "redis_up", &[]), Some(0.0));
    assert_eq!(value(&body, "redis_exporter_last_scrape_error", &[("err", "connect")]), Some(1.0));
    assert!(value(&body, "redis_target_scrape_request_errors_total", &[]).is_some_and(|v| v >= 1.0));
    for text in [&exp.log(), &exp.get("/").1] {
        assert!(!text.contains("pw-one") && !text.contains("pw-two") && !text.contains("hunter2"), "{text}");
    }

    // A rotated password file is picked up without a restart.
    std::thread::sleep(Duration::from_millis(1100));
    unlisted.cli(&["CONFIG", "SET", "requirepass", "pw-three"]);
    let json = format!(r#"{{"{}": "pw-three"}}"#, unlisted.url());
    std::fs::write(&file, json).expect("rewrite password file");
    let (_, body) = exp.get(&format!("/scrape?target={}", enc(&unlisted.url())));
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
}

#[test]
fn tls_with_client_certificates() {
    let files = TlsFiles::generate();
    let redis = RedisServer::start_tls(&files);
    redis.cli(&["SET", "k", "v"]);
    let s = |p: &std::path::Path| p.to_str().expect("path").to_owned();
    let exp = Exporter::start(&[
        "--redis.addr",
        &redis.url(),
        "--tls-ca-cert-file",
        &s(&files.ca),
        "--tls-client-cert-file",
        &s(&files.client_cert),
        "--tls-client-key-file",
        &s(&files.client_key),
    ]);
    let (_, body) = exp.get("/metrics");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}\n{}", exp.log());
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db0")]), Some(1.0));

    // Skip-verify connects without the CA.
    let skip = Exporter::start(&["--redis.addr", &redis.url(), "--skip-tls-verification"]);
    assert_eq!(value(&skip.get("/metrics").1, "redis_up", &[]), Some(1.0));

    // Another CA: the certificate is refused.
    let other = TlsFiles::generate();
    let wrong = Exporter::start(&["--redis.addr", &redis.url(), "--tls-ca-cert-file", &s(&other.ca)]);
    let (_, body) = wrong.get("/metrics");
    assert_eq!(value(&body, "redis_up", &[]), Some(0.0));
    assert_eq!(value(&body, "redis_exporter_last_scrape_error", &[("err", "tls")]), Some(1.0), "{body}");

    // The server name can be set when the address is an IP the certificate does not name.
    let by_ip = redis.url().replace("localhost", "127.0.0.1");
    let named = Exporter::start(&[
        "--redis.addr",
        &by_ip,
        "--tls-ca-cert-file",
        &s(&files.ca),
        "--tls-server-name",
        "localhost",
    ]);
    assert_eq!(value(&named.get("/metrics").1, "redis_up", &[]), Some(1.0));
}

#[test]
fn three_primary_cluster() {
    let cluster = RedisCluster::start();
    let node = &cluster.nodes[0];
    let exp = Exporter::start(&["--redis.addr", &node.url()]);
    let (_, body) = exp.get("/metrics");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
    assert_eq!(value(&body, "redis_cluster_enabled", &[]), Some(1.0));
    assert_eq!(value(&body, "redis_cluster_state", &[]), Some(1.0));
    assert_eq!(value(&body, "redis_cluster_slots_assigned", &[]), Some(16384.0));
    assert_eq!(value(&body, "redis_cluster_known_nodes", &[]), Some(3.0));
    assert!(value(&body, "redis_cluster_messages_sent_total", &[]).is_some());
    assert!(value(&body, "redis_instance_info", &[("redis_mode", "cluster")]).is_some());
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db0")]), Some(0.0));
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db1")]), None, "a cluster has one database");
}

#[test]
fn unix_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("redis.sock");
    let sock = sock.to_str().expect("path");
    let redis = RedisServer::start_with(&["--unixsocket", sock, "--unixsocketperm", "700"]);
    redis.cli(&["SET", "k", "v"]);
    let exp = Exporter::start(&["--redis.addr", &format!("unix://{sock}")]);
    let (_, body) = exp.get("/metrics");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
    assert_eq!(value(&body, "redis_db_keys", &[("db", "db0")]), Some(1.0));
}

#[test]
fn key_checks() {
    let redis = RedisServer::start();
    redis.cli(&["SET", "num", "42"]);
    redis.cli(&["SET", "str", "hello"]);
    redis.cli(&["HSET", "h", "a", "1", "b", "2"]);
    redis.cli(&["PFADD", "hll", "a", "b", "c"]);
    redis.cli(&["ZADD", "z", "1", "a"]);
    redis.cli(&["XADD", "s", "1700000000000-0", "f", "v"]);
    redis.cli(&["XGROUP", "CREATE", "s", "g1", "0"]);
    redis.cli(&["XREADGROUP", "GROUP", "g1", "c1", "COUNT", "1", "STREAMS", "s", ">"]);
    for i in 0..50 {
        redis.cli(&["-n", "2", "SET", &format!("k:{i}"), &i.to_string()]);
    }
    let errors_before = redis.cli(&["INFO", "stats"]);
    let exp = Exporter::start(&[
        "--redis.addr",
        &redis.url(),
        "--check-keys=db0=n*,db0=s*,db2=k:*",
        "--check-single-keys=db0=h,db0=hll,db0=missing,db0=z",
        "--count-keys=db2=k:*,db2=nothing*",
        "--check-streams=db0=s",
        "--check-keys-batch-size=7",
    ]);
    let (_, body) = exp.get("/metrics");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
    let key = |k: &str| value(&body, "redis_key_size", &[("db", "db0"), ("key", k)]);
    assert_eq!(key("num"), Some(2.0));
    assert_eq!(key("str"), Some(5.0));
    assert_eq!(key("h"), Some(2.0));
    assert_eq!(key("hll"), Some(3.0), "HyperLogLogs report their cardinality");
    assert_eq!(key("missing"), Some(0.0));
    assert_eq!(key("z"), Some(1.0));
    assert_eq!(key("s"), Some(1.0));
    assert_eq!(value(&body, "redis_key_value", &[("db", "db0"), ("key", "num")]), Some(42.0));
    assert_eq!(value(&body, "redis_key_value_as_string", &[("key", "str"), ("val", "hello")]), Some(1.0));
    assert_eq!(value(&body, "redis_key_value_as_string", &[("key", "hll")]), None);
    for i in 0..50 {
        assert_eq!(value(&body, "redis_key_value", &[("db", "db2"), ("key", &format!("k:{i}"))]), Some(i as f64));
    }
    assert_eq!(value(&body, "redis_keys_count", &[("db", "db2"), ("key", "k:*")]), Some(50.0));
    assert_eq!(value(&body, "redis_keys_count", &[("db", "db2"), ("key", "nothing*")]), Some(0.0));
    assert_eq!(value(&body, "redis_stream_length", &[("db", "db0"), ("stream", "s")]), Some(1.0));
    assert_eq!(value(&body, "redis_stream_groups", &[("stream", "s")]), Some(1.0));
    assert_eq!(value(&body, "redis_stream_last_generated_id", &[("stream", "s")]), Some(1700000000000.0));
    assert_eq!(value(&body, "redis_stream_group_messages_pending", &[("group", "g1")]), Some(1.0));
    assert_eq!(value(&body, "redis_stream_group_consumer_messages_pending", &[("consumer", "c1")]), Some(1.0));
    for check in ["check-keys", "check-streams", "count-keys"] {
        assert_eq!(value(&body, "redis_exporter_key_check_truncated", &[("check", check)]), Some(0.0), "{check}");
    }
    // The checks send only commands that fit each key's type, so the server counts no new errors.
    let stat = |s: &str| {
        s.lines().find_map(|l| l.strip_prefix("total_error_replies:")).map(|v| v.trim().to_owned()).unwrap_or_default()
    };
    assert_eq!(stat(&errors_before), stat(&redis.cli(&["INFO", "stats"])));

    // A probe may bring its own checks; values can be left out.
    let quiet = Exporter::start(&["--redis.addr", &redis.url(), "--disable-exporting-key-values"]);
    let (_, body) = quiet.get(&format!("/scrape?target={}&check-single-keys=db0%3Dnum", enc(&redis.url())));
    assert_eq!(value(&body, "redis_key_size", &[("key", "num")]), Some(2.0), "{body}");
    assert_eq!(value(&body, "redis_key_value", &[("key", "num")]), None);
}

/// Fills database `db` with `filler` plain keys (`fill:1`…, value `x`) and 60 `check:*` keys of five types, in one
/// Lua call.
fn fill(redis: &RedisServer, db: u32, filler: u32) {
    let script = "for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'fill:' .. i, 'x') end
        for i = 0, 59 do
            local k, t = 'check:' .. i, i % 6
            if t == 0 then redis.call('SET', k, tostring(i))
            elseif t == 1 then redis.call('SET', k, 'text-' .. i)
            elseif t == 2 then redis.call('RPUSH', k, 'a', 'b', 'c')
            elseif t == 3 then redis.call('HSET', k, 'f1', 'v1', 'f2', 'v2')
            elseif t == 4 then redis.call('SADD', k, 'x', 'y', 'z', 'w')
            else redis.call('ZADD', k, 1, 'x') end
        end";
    redis.cli(&["-n", &db.to_string(), "EVAL", script, "0", &filler.to_string()]);
}

type Series = std::collections::BTreeMap<(String, Vec<(String, String)>), f64>;

fn series(name: &str, labels: &[(&str, &str)], v: f64) -> ((String, Vec<(String, String)>), f64) {
    let mut l: Vec<(String, String)> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    l.sort();
    ((name.to_owned(), l), v)
}

/// What `fill` put under `check:*` in `db`, as the key-check metrics should report it.
fn expected_check_keys(db: u32) -> Series {
    let db = format!("db{db}");
    let mut out = Series::new();
    for i in 0..60u32 {
        let key = format!("check:{i}");
        let l = [("db", db.as_str()), ("key", key.as_str())];
        let text = format!("text-{i}");
        let size = match i % 6 {
            0 => i.to_string().len(),
            1 => text.len(),
            2 => 3,
            3 => 2,
            4 => 4,
            _ => 1,
        };
        out.extend([series("redis_key_size", &l, size as f64)]);
        match i % 6 {
            0 => out.extend([series("redis_key_value", &l, f64::from(i))]),
            1 => out.extend([series(
                "redis_key_value_as_string",
                &[("db", db.as_str()), ("key", key.as_str()), ("val", text.as_str())],
                1.0,
            )]),
            _ => {}
        }
    }
    out
}

/// The key-check metrics of a scrape, checking that none is reported twice.
fn key_check_series(body: &str) -> Series {
    let names = ["redis_key_size", "redis_key_value", "redis_key_value_as_string"];
    let found: Vec<_> = common::samples(body).into_iter().filter(|s| names.contains(&s.name.as_str())).collect();
    let n = found.len();
    let out: Series = found.into_iter().map(|s| ((s.name, s.labels.into_iter().collect()), s.value)).collect();
    assert_eq!(out.len(), n, "a key reported twice");
    out
}

fn stat(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {info}"))
}

/// Key checks over four databases with many SCAN pages each are spread over four connections (and count-keys
/// over four more), and report exactly the keys there are: each once, none missing, with their sizes and values.
#[test]
fn key_checks_over_several_databases_on_several_connections() {
    let redis = RedisServer::start();
    for db in 0..4 {
        fill(&redis, db, 2000);
    }
    let exp = Exporter::start(&[
        "--redis.addr",
        &redis.url(),
        "--check-keys=db0=check:*,db1=check:*,db2=check:*,db3=check:*,db3=fill:8",
        "--check-single-keys=db1=fill:7,db2=missing",
        "--count-keys=db0=check:*,db1=fill:*,db2=nothing*,db3=check:1*",
        "--check-keys-batch-size=50",
        // The default for a server on this host is one connection.
        "--check-keys-connections=4",
    ]);
    let before = stat(&redis.cli(&["INFO", "stats"]), "total_connections_received");
    let (_, body) = exp.get("/metrics");
    let after = stat(&redis.cli(&["INFO", "stats"]), "total_connections_received");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
    for check in ["check-keys", "count-keys"] {
        assert_eq!(value(&body, "redis_exporter_key_check_truncated", &[("check", check)]), Some(0.0), "{check}");
    }
    let mut want = Series::new();
    for db in 0..4 {
        want.extend(expected_check_keys(db));
    }
    for (db, key) in [("db1", "fill:7"), ("db3", "fill:8")] {
        want.extend([
            series("redis_key_size", &[("db", db), ("key", key)], 1.0),
            series("redis_key_value_as_string", &[("db", db), ("key", key), ("val", "x")], 1.0),
        ]);
    }
    want.extend([series("redis_key_size", &[("db", "db2"), ("key", "missing")], 0.0)]);
    assert_eq!(key_check_series(&body), want);
    for (db, pattern, n) in
        [("db0", "check:*", 60.0), ("db1", "fill:*", 2000.0), ("db2", "nothing*", 0.0), ("db3", "check:1*", 11.0)]
    {
        assert_eq!(value(&body, "redis_keys_count", &[("db", db), ("key", pattern)]), Some(n), "{db} {pattern}");
    }
    // The scrape's connection, three more for check-keys and three for count-keys (about 42 SCAN pages per
    // database), and the INFO call after the scrape.
    assert_eq!(after - before, 1 + 3 + 3 + 1);

    // With the default, a server on this host gets one connection, and the same metrics.
    let local = Exporter::start(&[
        "--redis.addr",
        &redis.url(),
        "--check-keys=db0=check:*,db1=check:*,db2=check:*,db3=check:*,db3=fill:8",
        "--check-single-keys=db1=fill:7,db2=missing",
        "--check-keys-batch-size=50",
    ]);
    let before = stat(&redis.cli(&["INFO", "stats"]), "total_connections_received");
    let (_, body) = local.get("/metrics");
    let after = stat(&redis.cli(&["INFO", "stats"]), "total_connections_received");
    assert_eq!(key_check_series(&body), want);
    assert_eq!(after - before, 1 + 1);
}

/// A database that cannot be selected (beyond `databases`) holds no keys; the other databases' results are whole.
#[test]
fn a_database_that_cannot_be_selected_costs_only_itself() {
    let redis = RedisServer::start();
    fill(&redis, 0, 500);
    fill(&redis, 1, 500);
    let exp = Exporter::start(&[
        "--redis.addr",
        &redis.url(),
        "--check-keys=db0=check:*,db99=check:*,db1=check:*",
        "--check-single-keys=db98=check:1",
        "--count-keys=db99=check:*,db1=check:*",
        "--check-keys-batch-size=20",
        "--check-keys-connections=3",
    ]);
    let (_, body) = exp.get("/metrics");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
    let mut want = expected_check_keys(0);
    want.extend(expected_check_keys(1));
    assert_eq!(key_check_series(&body), want);
    assert_eq!(value(&body, "redis_keys_count", &[("db", "db1"), ("key", "check:*")]), Some(60.0));
    assert_eq!(value(&body, "redis_keys_count", &[("db", "db99"), ("key", "check:*")]), Some(0.0));
    for check in ["check-keys", "count-keys"] {
        assert_eq!(value(&body, "redis_exporter_key_check_truncated", &[("check", check)]), Some(0.0), "{check}");
    }
}

/// A Redis that accepts no more connections (`maxclients 1`) refuses the key checks' extra connections: their
/// work is done on the scrape's connection instead, and nothing is lost.
#[test]
fn refused_extra_connections_cost_no_results() {
    let redis = RedisServer::start_with(&["--maxclients", "1"]);
    for db in 0..4 {
        fill(&redis, db, 1000);
    }
    let exp = Exporter::start(&[
        "--redis.addr",
        &redis.url(),
        "--check-keys=db0=check:*,db1=check:*,db2=check:*,db3=check:*",
        "--check-keys-batch-size=50",
        "--check-keys-connections=4",
    ]);
    let (_, body) = exp.get("/metrics");
    assert_eq!(value(&body, "redis_up", &[]), Some(1.0), "{body}");
    let mut want = Series::new();
    for db in 0..4 {
        want.extend(expected_check_keys(db));
    }
    assert_eq!(key_check_series(&body), want);
    assert_eq!(value(&body, "redis_exporter_key_check_truncated", &[("check", "check-keys")]), Some(0.0));
    // The exporter's connection may not be closed on the server's side yet.
    let mut info = Err(String::new());
    assert!(eventually(Duration::from_secs(5), || {
        info = redis.try_cli(&["INFO", "stats"]);
        info.as_ref().is_ok_and(|i| !i.contains("max number of clients"))
    }));
    let rejected = stat(&info.expect("INFO"), "rejected_connections");
    assert!(rejected >= 3, "the extra connections were refused: {rejected}");
}

/// `--namespace` renames every family, the build info included, on `/metrics` and on `/scrape`; and, as
/// redis_exporter, the answer is text 0.0.4 even when Prometheus prefers OpenMetrics, so summary quantiles keep
/// redis_exporter's label values (`quantile="99"`, which OpenMetrics would write as `99.0`).
#[test]
fn namespace_renames_everything_and_prometheus_gets_text() {
    let redis = RedisServer::start();
    redis.cli(&["SET", "a", "1"]);
    let exp = Exporter::start(&["--redis.addr", &redis.url(), "--namespace", "cache"]);
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;\
                             q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for path in ["/metrics".to_owned(), format!("/scrape?target={}", enc(&redis.url()))] {
        let url = format!("http://127.0.0.1:{}{path}", exp.port);
        let r = oxporter_testkit::http::must_get(&url, &[("Accept", prometheus_accept)]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"), "{path}");
        let body = r.text();
        assert_eq!(value(&body, "cache_up", &[]), Some(1.0), "{path}: {body}");
        assert_eq!(value(&body, "cache_exporter_build_info", &[]), Some(1.0), "{path}: {body}");
        assert!(value(&body, "cache_latency_percentiles_usec", &[("cmd", "set"), ("quantile", "99")]).is_some());
        let stray: Vec<String> = families(&body).into_keys().filter(|k| k.starts_with("redis_")).collect();
        assert!(stray.is_empty(), "{path}: not renamed: {stray:?}");
    }
}

#[test]
fn a_namespace_that_cannot_start_a_metric_name_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oxporter-redis"))
        .args(["--namespace", "my-cache", "--web.listen-address", "127.0.0.1:0"])
        .output()
        .expect("run oxporter-redis");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--namespace") && stderr.contains("my-cache"), "{stderr}");
}
