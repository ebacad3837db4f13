//! The community dashboard "Node Exporter Full" (grafana.com 1860), as users import it: a real Prometheus scrapes
//! oxporter-node (with the opt-in collectors the dashboard needs), the template variables are filled in the way
//! Grafana fills them (`$job`, `$nodename` and `$node` from `node_uname_info`, `$__rate_interval`, …), and every query
//! must return data, except those in [`EXCEPTIONS`], each with its reason. The exceptions are checked too: each must
//! really return nothing here, name a query of the dashboard, and hold for its stated reason (a missing device must
//! be missing on this host; for a dashboard mistake, what it means must have data), so the list cannot go stale
//! silently. (It once listed the collectors not yet written, "collector not yet implemented"; all have landed.)
//!
//! Reads the dashboard from `$OXPORTER_REFERENCE_DIR/dashboards/` (not part of the repository).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use oxporter_testkit::exporter;
use oxporter_testkit::grafana::{Builtins, Dashboard, Vars, metric_names};
use oxporter_testkit::prometheus::{Prometheus, ScrapeJob};

/// The opt-in collectors the dashboard reads (node_exporter's names).
const OPT_IN: &[&str] = &["processes", "systemd", "tcpstat", "interrupts"];

/// Why a query of the dashboard has no data on this machine.
#[derive(Debug, Clone, Copy)]
enum Why {
    /// This host lacks what the series describes (`lacks()` checks that it still does).
    Lacks { what: &'static str, lacks: fn() -> bool },
    /// The dashboard asks for a series node_exporter never exported; nothing to implement. `instead` is what it
    /// means, which must have data.
    DashboardQuirk { why: &'static str, instead: &'static str },
    /// node_exporter leaves it out unless a flag asks for it, and we keep its defaults.
    NotByDefault(&'static str),
    /// Nothing on this host makes the value the query filters for (e.g. `> 0` of a counter that stays 0).
    Idle(&'static str),
    /// A TCP state sockets pass through in microseconds: present only if a scrape catches one, so "no data" is
    /// not asserted; the collector itself must work (other states have data).
    Transient,
}

/// A series of the dashboard this machine cannot show.
struct Exception {
    /// The metric name, or a prefix ending in `*`.
    series: &'static str,
    /// A label matcher the query must contain for the exception to apply (empty: any query of the series).
    matcher: &'static str,
    /// The expression that must return no data here, when the series with `matcher` alone is not it.
    probe: Option<&'static str>,
    why: Why,
}

const fn ex(series: &'static str, why: Why) -> Exception {
    Exception { series, matcher: "", probe: None, why }
}

const fn tcp(state: &'static str) -> Exception {
    Exception { series: "node_tcp_connection_states", matcher: state, probe: None, why: Why::Transient }
}

fn missing(path: &str) -> bool {
    std::fs::read_dir(path).map_or_else(|_| !Path::new(path).exists(), |mut d| d.next().is_none())
}

fn no_pressure_irq() -> bool {
    missing("/proc/pressure/irq")
}
fn no_hardware_corrupted() -> bool {
    !std::fs::read_to_string("/proc/meminfo").unwrap().contains("HardwareCorrupted:")
}
fn no_hwmon() -> bool {
    missing("/sys/class/hwmon")
}
fn no_cooling_device() -> bool {
    std::fs::read_dir("/sys/class/thermal")
        .map(|d| d.flatten().all(|e| !e.file_name().to_string_lossy().starts_with("cooling_device")))
        .unwrap_or(true)
}
fn no_power_supply() -> bool {
    missing("/sys/class/power_supply")
}
fn no_cpufreq() -> bool {
    missing("/sys/devices/system/cpu/cpu0/cpufreq")
}
fn no_schedstat() -> bool {
    missing("/proc/schedstat")
}
fn no_system_dbus() -> bool {
    !Path::new("/run/dbus/system_bus_socket").exists()
}

const EXCEPTIONS: &[Exception] = &[
    // Hardware and kernel features this machine (a small VM) does not have.
    ex(
        "node_pressure_irq_stalled_seconds_total",
        Why::Lacks { what: "/proc/pressure/irq (a kernel without IRQ time accounting)", lacks: no_pressure_irq },
    ),
    ex(
        "node_memory_HardwareCorrupted_bytes",
        Why::Lacks {
            what: "a HardwareCorrupted line in /proc/meminfo (a kernel without memory-failure handling)",
            lacks: no_hardware_corrupted,
        },
    ),
    ex("node_hwmon_*", Why::Lacks { what: "hwmon sensors (/sys/class/hwmon)", lacks: no_hwmon }),
    ex(
        "node_cooling_device_*",
        Why::Lacks { what: "cooling devices (/sys/class/thermal/cooling_device*)", lacks: no_cooling_device },
    ),
    ex("node_power_supply_*", Why::Lacks { what: "power supplies (/sys/class/power_supply)", lacks: no_power_supply }),
    ex(
        "node_cpu_scaling_frequency_*",
        Why::Lacks { what: "CPU frequency scaling (/sys/devices/system/cpu/cpu0/cpufreq)", lacks: no_cpufreq },
    ),
    ex(
        "node_schedstat_*",
        Why::Lacks { what: "/proc/schedstat (a kernel without CONFIG_SCHEDSTATS)", lacks: no_schedstat },
    ),
    ex(
        "node_systemd_*",
        Why::Lacks {
            what: "systemd on a system D-Bus (/run/dbus/system_bus_socket): this VM's init is not systemd",
            lacks: no_system_dbus,
        },
    ),
    Exception {
        series: "node_cpu_guest_seconds_total",
        matcher: "",
        probe: Some(
            r#"sum by (instance) (rate(node_cpu_guest_seconds_total{instance="$node",job="$job"}[$__rate_interval])) > 0"#,
        ),
        why: Why::Idle("no virtual machine runs on this host: guest CPU time stays 0 and the panel keeps only > 0"),
    },
    // The dashboard's own mistakes: node_exporter never had these series.
    ex(
        "node_kernel_hung_tasks",
        Why::DashboardQuirk {
            why: "node_exporter's kernel_hung collector exports node_kernel_hung_tasks_total",
            instead: r#"node_kernel_hung_tasks_total{instance="$node",job="$job"}"#,
        },
    ),
    Exception {
        series: "node_network_up",
        matcher: r#"operstate="up""#,
        probe: None,
        why: Why::DashboardQuirk {
            why: "node_network_up has only the device label; operstate is on node_network_info",
            instead: r#"node_network_info{operstate="up",instance="$node",job="$job"}"#,
        },
    },
    ex(
        "node_netstat_Tcp_MaxConn",
        Why::NotByDefault("not in node_exporter's default --collector.netstat.fields (Tcp_MaxConn is a constant -1)"),
    ),
    // TCP states no socket stays in on an idle host. (established, listen, time_wait, fin_wait2 and close_wait are
    // held by this test, so those queries must have data.)
    tcp(r#"state="syn_sent""#),
    tcp(r#"state="syn_recv""#),
    tcp(r#"state="fin_wait1""#),
    tcp(r#"state="close""#),
    tcp(r#"state="last_ack""#),
    tcp(r#"state="closing""#),
];

impl Why {
    fn reason(&self) -> String {
        match self {
            Why::Lacks { what, .. } => format!("this host lacks {what}"),
            Why::DashboardQuirk { why, .. } => format!("dashboard quirk: {why}"),
            Why::NotByDefault(r) => format!("off by default: {r}"),
            Why::Idle(r) => format!("idle: {r}"),
            Why::Transient => "transient TCP state".to_owned(),
        }
    }
}

impl Exception {
    fn covers_name(&self, name: &str) -> bool {
        match self.series.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.series,
        }
    }

    fn applies_to(&self, expr: &str) -> bool {
        metric_names(expr).iter().any(|n| self.covers_name(n)) && expr.contains(self.matcher)
    }

    /// The expression that must return no data here (variables not yet filled in).
    fn probe(&self) -> String {
        if let Some(p) = self.probe {
            return p.to_owned();
        }
        let scope = r#"instance="$node",job="$job""#;
        let matcher = if self.matcher.is_empty() { String::new() } else { format!("{},", self.matcher) };
        match self.series.strip_suffix('*') {
            Some(prefix) => format!(r#"{{__name__=~"{prefix}.*",{matcher}{scope}}}"#),
            None => format!("{}{{{matcher}{scope}}}", self.series),
        }
    }
}

/// Sockets that keep this host's TCP table in the states the "TCP Stat Persistent" panel shows, while the test
/// runs: established, listen, time_wait (we closed first), and fin_wait2 with close_wait (the peer closed, we did
/// not).
struct TcpStates {
    _held: Vec<TcpStream>,
    _listener: TcpListener,
}

fn hold_tcp_states() -> TcpStates {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let pair = || {
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    };
    let (established_c, established_s) = pair();
    let (close_wait, fin_wait2) = pair();
    drop(fin_wait2);
    let (time_wait, peer) = pair();
    drop(time_wait);
    drop(peer);
    TcpStates { _held: vec![established_c, established_s, close_wait], _listener: listener }
}

#[test]
fn node_exporter_full_shows_data_for_every_query() {
    let Some(reference) = oxporter_testkit::reference_dir("node_exporter_full_shows_data_for_every_query") else {
        return;
    };
    let dashboard = Dashboard::load(&reference.join("dashboards/node-exporter-full-1860.json"));
    let targets = dashboard.targets();

    // Every metric of the reference list is read by some query here, and no query reads another.
    let listed: BTreeSet<String> =
        std::fs::read_to_string(reference.join("dashboards/node-exporter-full-1860.metrics.txt"))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
    // Panel queries, and the selectors of `label_values(selector, label)` variables.
    let selectors = dashboard.variables().into_iter().filter_map(|v| {
        let inner = v.query.strip_prefix("label_values(")?;
        Some(inner[..inner.rfind(',')?].to_owned())
    });
    let queried: BTreeSet<String> =
        targets.iter().map(|t| t.expr.clone()).chain(selectors).flat_map(|e| metric_names(&e)).collect();
    assert_eq!(
        (queried.difference(&listed).collect::<Vec<_>>(), listed.difference(&queried).collect::<Vec<_>>()),
        (vec![], vec![]),
        "metric names (read by the dashboard but not listed, listed but not read) in node-exporter-full-1860.metrics.txt"
    );

    let _tcp = hold_tcp_states();
    let node = exporter::node().args(OPT_IN.iter().map(|c| format!("--collector.{c}"))).start();
    let prom = Prometheus::start(&[ScrapeJob::new("node", [node.address()])]);
    prom.wait_for_targets_up("node", Duration::from_secs(30));
    // rate() needs two samples in its window; three scrapes leave a margin.
    prom.wait_for_query(r#"count_over_time(up{job="node"}[1m]) >= 3"#, Duration::from_secs(30));

    let vars = dashboard.resolve_variables(&prom, &Builtins::new(Duration::from_secs(15)));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(vars.value("job"), Some("node"), "$job from node_uname_info");
    assert_eq!(vars.value("nodename"), Some(hostname.trim()), "$nodename from node_uname_info");
    assert_eq!(vars.value("node"), Some(node.address().as_str()), "$node from node_uname_info");

    // Each distinct query once, with the first panel that uses it.
    let mut queries: BTreeMap<String, String> = BTreeMap::new();
    for t in &targets {
        let expr = interpolate(&vars, &t.expr);
        queries.entry(expr).or_insert_with(|| format!("{} ({})", t.panel, t.ref_id));
    }
    let mut failures = Vec::new();
    let mut used = vec![false; EXCEPTIONS.len()];
    for (expr, panel) in &queries {
        let excused: Vec<usize> = (0..EXCEPTIONS.len()).filter(|&i| EXCEPTIONS[i].applies_to(expr)).collect();
        for &i in &excused {
            used[i] = true;
        }
        if !prom.query_has_data(expr) && excused.is_empty() {
            failures.push(format!("{panel}: no data: {expr}"));
        }
    }

    for (e, used) in EXCEPTIONS.iter().zip(used) {
        let name =
            format!("{}{}", e.series, if e.matcher.is_empty() { String::new() } else { format!("{{{}}}", e.matcher) });
        if !used {
            failures.push(format!("exception {name}: no query of the dashboard reads it"));
        }
        match e.why {
            Why::Transient => {
                let any = interpolate(&vars, r#"node_tcp_connection_states{instance="$node",job="$job"}"#);
                if !prom.query_has_data(&any) {
                    failures.push(format!("exception {name}: the tcpstat collector reports no state at all"));
                }
                continue;
            }
            Why::DashboardQuirk { instead, .. } => {
                let instead = interpolate(&vars, instead);
                if !prom.query_has_data(&instead) {
                    failures.push(format!("exception {name}: what the dashboard means has no data: {instead}"));
                }
            }
            Why::Lacks { what, lacks } if !lacks() => {
                failures.push(format!("exception {name}: this host has {what} now; the series must have data"))
            }
            _ => {}
        }
        let probe = interpolate(&vars, &e.probe());
        if prom.query_has_data(&probe) {
            failures.push(format!("exception {name} ({}) has data now: {probe}", e.why.reason()));
        }
    }
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
}

fn interpolate(vars: &Vars, expr: &str) -> String {
    vars.interpolate(expr).unwrap_or_else(|e| panic!("{e}"))
}
