//! The systemd collector against a stand-in systemd: a private `dbus-daemon` (Debian's `dbus` package) on a socket
//! in a temporary directory, where this test owns `org.freedesktop.systemd1` and serves the Manager, Unit,
//! Service, Socket, Timer and Mount interfaces with fixed values. Debian's node_exporter and oxporter-node both
//! scrape it through `DBUS_SYSTEM_BUS_ADDRESS`; their `node_systemd_*` output must be the same series with the
//! same values, types, label names and HELP. A second test shows a host without a bus: no data, no failure.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use oxporter_testkit::ports::{free_port, wait_for_port};
use oxporter_testkit::process::{ChildGuard, require_binary};
use oxporter_testkit::textformat::{self, Family};
use zbus::OwnedObjectPath;

type UnitRow = (String, String, String, String, String, String, OwnedObjectPath, u32, String, OwnedObjectPath);

struct Manager {
    units: Vec<UnitRow>,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl Manager {
    async fn list_units(&self) -> Vec<UnitRow> {
        self.units.clone()
    }
    #[zbus(property)]
    async fn version(&self) -> String {
        "252.22-1~deb12u1".to_owned()
    }
    #[zbus(property)]
    async fn system_state(&self) -> String {
        "degraded".to_owned()
    }
}

struct UnitIface {
    active_enter: u64,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Unit")]
impl UnitIface {
    #[zbus(property)]
    async fn active_enter_timestamp(&self) -> u64 {
        self.active_enter
    }
}

struct Service {
    kind: &'static str,
    restarts: u32,
    tasks: u64,
    tasks_max: u64,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Service")]
impl Service {
    #[zbus(property, name = "Type")]
    async fn kind(&self) -> String {
        self.kind.to_owned()
    }
    #[zbus(property, name = "NRestarts")]
    async fn n_restarts(&self) -> u32 {
        self.restarts
    }
    #[zbus(property, name = "TasksCurrent")]
    async fn tasks_current(&self) -> u64 {
        self.tasks
    }
    #[zbus(property, name = "TasksMax")]
    async fn tasks_max(&self) -> u64 {
        self.tasks_max
    }
}

struct Socket;

#[zbus::interface(name = "org.freedesktop.systemd1.Socket")]
impl Socket {
    #[zbus(property, name = "NAccepted")]
    async fn n_accepted(&self) -> u32 {
        42
    }
    #[zbus(property, name = "NConnections")]
    async fn n_connections(&self) -> u32 {
        3
    }
    #[zbus(property, name = "NRefused")]
    async fn n_refused(&self) -> u32 {
        1
    }
}

struct Timer;

#[zbus::interface(name = "org.freedesktop.systemd1.Timer")]
impl Timer {
    #[zbus(property, name = "LastTriggerUSec")]
    async fn last_trigger_usec(&self) -> u64 {
        1_700_000_000_123_456
    }
}

fn path(p: &str) -> OwnedObjectPath {
    OwnedObjectPath::try_from(p).unwrap()
}

fn row(name: &str, load: &str, active: &str, obj: &str) -> UnitRow {
    (
        name.into(),
        String::new(),
        load.into(),
        active.into(),
        "running".into(),
        String::new(),
        path(obj),
        0,
        String::new(),
        path("/"),
    )
}

/// Starts a private bus and the stand-in systemd on it; returns the bus guard, the serving connection and the
/// bus address.
async fn fake_systemd(dir: &Path) -> (ChildGuard, zbus::Connection, String) {
    let daemon = require_binary("dbus-daemon", "dbus");
    let socket = dir.join("bus");
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            socket.display()
        ),
    )
    .unwrap();
    let guard = ChildGuard::spawn(
        "dbus-daemon",
        Command::new(daemon).arg(format!("--config-file={}", config.display())).arg("--nofork").stdout(Stdio::null()),
    );
    let address = format!("unix:path={}", socket.display());
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let units = vec![
        row("ssh.service", "loaded", "active", "/org/freedesktop/systemd1/unit/ssh_2eservice"),
        row("cron.service", "loaded", "failed", "/org/freedesktop/systemd1/unit/cron_2eservice"),
        row("gone.service", "not-found", "inactive", "/org/freedesktop/systemd1/unit/gone_2eservice"),
        row("ssh.socket", "loaded", "active", "/org/freedesktop/systemd1/unit/ssh_2esocket"),
        row("logrotate.timer", "loaded", "activating", "/org/freedesktop/systemd1/unit/logrotate_2etimer"),
        row("home.mount", "loaded", "active", "/org/freedesktop/systemd1/unit/home_2emount"),
    ];
    let conn = zbus::connection::Builder::address(address.as_str())
        .name("org.freedesktop.systemd1")
        .serve_at("/org/freedesktop/systemd1", Manager { units })
        .serve_at("/org/freedesktop/systemd1/unit/ssh_2eservice", UnitIface { active_enter: 1_699_000_000_000_000 })
        .serve_at(
            "/org/freedesktop/systemd1/unit/ssh_2eservice",
            Service { kind: "notify", restarts: 2, tasks: 5, tasks_max: u64::MAX },
        )
        .serve_at("/org/freedesktop/systemd1/unit/cron_2eservice", UnitIface { active_enter: 0 })
        .serve_at(
            "/org/freedesktop/systemd1/unit/cron_2eservice",
            Service { kind: "simple", restarts: 0, tasks: 1, tasks_max: 4915 },
        )
        .serve_at("/org/freedesktop/systemd1/unit/ssh_2esocket", UnitIface { active_enter: 1_698_000_000_000_000 })
        .serve_at("/org/freedesktop/systemd1/unit/ssh_2esocket", Socket)
        .serve_at("/org/freedesktop/systemd1/unit/logrotate_2etimer", UnitIface { active_enter: 0 })
        .serve_at("/org/freedesktop/systemd1/unit/logrotate_2etimer", Timer)
        .build()
        .await
        .expect("the stand-in systemd connects to the private bus");
    (guard, conn, address)
}

const FLAGS: &[&str] = &[
    "--collector.disable-defaults",
    "--collector.systemd",
    "--collector.systemd.enable-task-metrics",
    "--collector.systemd.enable-restarts-metrics",
    "--collector.systemd.enable-start-time-metrics",
];

/// Runs an exporter against `bus` and returns its `node_systemd_*` families and the collector's success.
fn scrape(bin: &Path, name: &str, bus: &str) -> (BTreeMap<String, Family>, Option<f64>) {
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(FLAGS)
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _guard = ChildGuard::spawn(name, &mut cmd);
    wait_for_port(port, Duration::from_secs(20), name);
    let resp = oxporter_testkit::http::must_get(&format!("http://127.0.0.1:{port}/metrics"), &[]);
    let fams = textformat::must_parse(&resp.text(), name);
    let success = textformat::find(&fams, "node_scrape_collector_success")
        .and_then(|f| f.samples.iter().find(|s| s.label("collector") == Some("systemd")))
        .map(|s| s.value);
    (fams.into_iter().filter(|f| f.name.starts_with("node_systemd_")).map(|f| (f.name.clone(), f)).collect(), success)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_as_node_exporter_against_a_stand_in_systemd() {
    let anchor = require_binary("prometheus-node-exporter", "prometheus-node-exporter");
    let ours = Path::new(env!("CARGO_BIN_EXE_oxporter-node")).to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let (_bus, _conn, address) = fake_systemd(dir.path()).await;
    let addr = address.clone();
    let (a, a_ok) =
        tokio::task::spawn_blocking(move || scrape(&anchor, "prometheus-node-exporter", &addr)).await.unwrap();
    let (o, o_ok) = tokio::task::spawn_blocking(move || scrape(&ours, "oxporter-node", &address)).await.unwrap();
    assert_eq!(a_ok, Some(1.0), "node_exporter's systemd collector failed against the stand-in");
    assert_eq!(o_ok, Some(1.0), "our systemd collector failed against the stand-in");
    assert_eq!(a.keys().collect::<Vec<_>>(), o.keys().collect::<Vec<_>>(), "metric names");
    for (name, fa) in &a {
        let fo = &o[name];
        assert_eq!(fa.metric_type, fo.metric_type, "{name} type");
        assert_eq!(fa.help, fo.help, "{name} HELP");
        let series = |f: &Family| -> BTreeMap<Vec<(String, String)>, f64> {
            f.samples.iter().map(|s| (s.label_key(), s.value)).collect()
        };
        assert_eq!(series(fa), series(fo), "{name} series and values");
    }
    // The stand-in's values arrive as expected (not just equally wrong in both).
    let v = |name: &str, label: (&str, &str)| {
        o[name].samples.iter().find(|s| s.label(label.0) == Some(label.1)).map(|s| s.value)
    };
    assert_eq!(v("node_systemd_units", ("state", "active")), Some(3.0));
    assert_eq!(v("node_systemd_socket_accepted_connections_total", ("name", "ssh.socket")), Some(42.0));
    assert_eq!(v("node_systemd_unit_tasks_current", ("name", "ssh.service")), Some(5.0));
    assert_eq!(v("node_systemd_unit_tasks_max", ("name", "ssh.service")), None, "u64::MAX means no limit");
    assert_eq!(v("node_systemd_system_running", ("", "")), None);
    assert!(!o["node_systemd_unit_state"].samples.iter().any(|s| s.label("name") == Some("home.mount")));
}

#[test]
fn no_bus_means_no_data_not_failure() {
    let ours = Path::new(env!("CARGO_BIN_EXE_oxporter-node"));
    let dir = tempfile::tempdir().unwrap();
    let bus = format!("unix:path={}", dir.path().join("no-such-bus").display());
    let (fams, success) = scrape(ours, "oxporter-node", &bus);
    assert!(fams.is_empty(), "no systemd metrics without a bus");
    // node_exporter reports "no data" as success 0 with a debug log line; so do we.
    assert_eq!(success, Some(0.0));
}
