//! `systemd` (opt-in): unit states, sockets, timers and the system state from systemd's D-Bus API
//! (`node_systemd_*`), bounded by the scrape deadline.
//!
//! The system bus is `DBUS_SYSTEM_BUS_ADDRESS` or `/run/dbus/system_bus_socket`. A host without it (most
//! containers) gets one log line at start-up and "no data" from each scrape, not an error per scrape.

use std::path::Path;
use std::time::Duration;

use oxporter_core::collector::{BuildError, CollectFuture};
use oxporter_core::{CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;
use zbus::{OwnedObjectPath, OwnedVariant as OwnedValue};

use crate::args::Args;

/// Flags of the systemd collector.
#[derive(Debug, Clone, clap::Args)]
pub struct SystemdArgs {
    /// Regexp of systemd units to include. Units must both match include and not match exclude to be included.
    #[arg(
        id = "collector.systemd.unit-include",
        long = "collector.systemd.unit-include",
        value_name = "REGEXP",
        default_value = ".+",
        help_heading = "Collector: systemd"
    )]
    pub unit_include: String,
    /// Regexp of systemd units to exclude. Units must both match include and not match exclude to be included.
    #[arg(
        id = "collector.systemd.unit-exclude",
        long = "collector.systemd.unit-exclude",
        value_name = "REGEXP",
        default_value = ".+\\.(automount|device|mount|scope|slice)",
        help_heading = "Collector: systemd"
    )]
    pub unit_exclude: String,
    /// DEPRECATED: Use --collector.systemd.unit-include
    #[arg(id = "collector.systemd.unit-whitelist", long = "collector.systemd.unit-whitelist", hide = true)]
    pub unit_whitelist: Option<String>,
    /// DEPRECATED: Use collector.systemd.unit-exclude
    #[arg(id = "collector.systemd.unit-blacklist", long = "collector.systemd.unit-blacklist", hide = true)]
    pub unit_blacklist: Option<String>,
    /// Accepted for compatibility; the collector always talks to systemd over the system bus.
    #[arg(id = "collector.systemd.private", long = "collector.systemd.private", hide = true)]
    pub private: bool,
    /// Enables service unit tasks metrics unit_tasks_current and unit_tasks_max
    #[arg(
        id = "collector.systemd.enable-task-metrics",
        long = "collector.systemd.enable-task-metrics",
        help_heading = "Collector: systemd"
    )]
    pub enable_task_metrics: bool,
    /// Enables service unit metric service_restart_total
    #[arg(
        id = "collector.systemd.enable-restarts-metrics",
        long = "collector.systemd.enable-restarts-metrics",
        help_heading = "Collector: systemd"
    )]
    pub enable_restarts_metrics: bool,
    /// Enables service unit metric unit_start_time_seconds
    #[arg(
        id = "collector.systemd.enable-start-time-metrics",
        long = "collector.systemd.enable-start-time-metrics",
        help_heading = "Collector: systemd"
    )]
    pub enable_start_time_metrics: bool,
}

/// Unit states reported per unit and in the summary.
const UNIT_STATES: &[&str] = &["active", "activating", "deactivating", "inactive", "failed"];
/// The first systemd version with the `SystemState` property and timers' `LastTriggerUSec`.
const MIN_VERSION_SYSTEM_STATE: f64 = 212.0;

const DEST: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// One row of `ListUnits`: name, description, load state, active state, sub state, followed, object path, job id,
/// job type, job path.
type UnitRow = (String, String, String, String, String, String, OwnedObjectPath, u32, String, OwnedObjectPath);

/// A unit as the collector uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `sshd.service`.
    pub name: String,
    /// `loaded`, `not-found`, …
    pub load_state: String,
    /// `active`, `inactive`, …
    pub active_state: String,
    /// The unit's object path.
    pub path: String,
}

/// The leading version number of systemd's `Version` property (`252.22-1~deb12u1` → 252.22), as node_exporter
/// extracts it (`[0-9]{3,}(\.[0-9]+)?`); 0 when there is none.
pub fn parse_version(version: &str) -> f64 {
    static RE: std::sync::LazyLock<Option<Regex>> =
        std::sync::LazyLock::new(|| Regex::new(r"[0-9]{3,}(\.[0-9]+)?").ok());
    RE.as_ref().and_then(|re| re.find(version)).and_then(|m| m.as_str().parse().ok()).unwrap_or(0.0)
}

/// Units that match `include`, do not match `exclude` (both anchored) and are loaded.
pub fn filter_units<'a>(units: &'a [Unit], include: &Regex, exclude: &Regex) -> Vec<&'a Unit> {
    units
        .iter()
        .filter(|u| include.is_match(&u.name) && !exclude.is_match(&u.name) && u.load_state == "loaded")
        .collect()
}

/// The count of units per active state, every state of [`UNIT_STATES`] present.
pub fn summarize(units: &[Unit]) -> Vec<(String, f64)> {
    let mut summary: Vec<(String, f64)> = UNIT_STATES.iter().map(|s| ((*s).to_owned(), 0.0)).collect();
    for u in units {
        match summary.iter_mut().find(|(s, _)| *s == u.active_state) {
            Some((_, n)) => *n += 1.0,
            None => summary.push((u.active_state.clone(), 1.0)),
        }
    }
    summary
}

/// The system bus address zbus will use, and whether it can exist on this host.
fn system_bus_available() -> Result<(), String> {
    match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
        Ok(addr) => match addr.strip_prefix("unix:path=") {
            Some(path) => {
                let path = path.split(',').next().unwrap_or(path);
                if Path::new(path).exists() { Ok(()) } else { Err(format!("{path} does not exist")) }
            }
            // Other transports (abstract sockets, TCP) cannot be checked without connecting.
            None => Ok(()),
        },
        Err(_) => {
            let path = "/run/dbus/system_bus_socket";
            let legacy = "/var/run/dbus/system_bus_socket";
            if Path::new(path).exists() || Path::new(legacy).exists() {
                Ok(())
            } else {
                Err(format!("{path} does not exist"))
            }
        }
    }
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let a = &args.systemd;
    // The deprecated spellings apply only when the new flag was left at its default.
    let include = match &a.unit_whitelist {
        Some(old) if a.unit_include == ".+" => {
            tracing::warn!("--collector.systemd.unit-whitelist is DEPRECATED, use --collector.systemd.unit-include");
            old.clone()
        }
        Some(_) => {
            return Err(
                "--collector.systemd.unit-whitelist and --collector.systemd.unit-include are mutually exclusive".into(),
            );
        }
        None => a.unit_include.clone(),
    };
    let exclude = match &a.unit_blacklist {
        Some(old) if a.unit_exclude == ".+\\.(automount|device|mount|scope|slice)" => {
            tracing::warn!("--collector.systemd.unit-blacklist is DEPRECATED, use --collector.systemd.unit-exclude");
            old.clone()
        }
        Some(_) => {
            return Err(
                "--collector.systemd.unit-blacklist and --collector.systemd.unit-exclude are mutually exclusive".into(),
            );
        }
        None => a.unit_exclude.clone(),
    };
    let bus_missing = match system_bus_available() {
        Ok(()) => None,
        Err(why) => {
            tracing::info!("systemd collector: no system D-Bus ({why}); it will report no data");
            Some(why)
        }
    };
    Ok(Box::new(Systemd {
        include: Regex::new(&format!("^(?:{include})$"))?,
        exclude: Regex::new(&format!("^(?:{exclude})$"))?,
        tasks: a.enable_task_metrics,
        restarts: a.enable_restarts_metrics,
        start_time: a.enable_start_time_metrics,
        bus_missing,
    }))
}

struct Systemd {
    include: Regex,
    exclude: Regex,
    tasks: bool,
    restarts: bool,
    start_time: bool,
    bus_missing: Option<String>,
}

fn dbus_err(what: &str, e: impl std::fmt::Display) -> CollectError {
    CollectError::Other(format!("{what}: {e}"))
}

/// `org.freedesktop.DBus.Properties.Get` of one property.
async fn get_property(conn: &zbus::Connection, path: &str, iface: &str, name: &str) -> Result<OwnedValue, zbus::Error> {
    let reply = conn.call_method(Some(DEST), path, Some(PROPERTIES), "Get", &(iface, name)).await?;
    let value: OwnedValue = reply.body().deserialize()?;
    Ok(value)
}

async fn get_u64(conn: &zbus::Connection, path: &str, iface: &str, name: &str) -> Option<u64> {
    let v = get_property(conn, path, iface, name).await.ok()?;
    u64::try_from(v).ok()
}

async fn get_u32(conn: &zbus::Connection, path: &str, iface: &str, name: &str) -> Option<u32> {
    let v = get_property(conn, path, iface, name).await.ok()?;
    u32::try_from(v).ok()
}

async fn get_string(conn: &zbus::Connection, path: &str, iface: &str, name: &str) -> Option<String> {
    let v = get_property(conn, path, iface, name).await.ok()?;
    String::try_from(v).ok()
}

impl Systemd {
    async fn scrape(&self, out: &mut Snapshot) -> Result<(), CollectError> {
        let conn = zbus::Connection::system().await.map_err(|e| dbus_err("couldn't get dbus connection", e))?;
        let version_full = get_string(&conn, MANAGER_PATH, MANAGER, "Version").await.unwrap_or_default();
        let version = parse_version(&version_full);
        let version_label = if version > 0.0 { version_full.as_str() } else { "" };
        out.gauge("node_systemd_version", "Detected systemd version").sample(&[("version", version_label)], version);

        let reply = conn
            .call_method(Some(DEST), MANAGER_PATH, Some(MANAGER), "ListUnits", &())
            .await
            .map_err(|e| dbus_err("couldn't get units", e))?;
        let rows: Vec<UnitRow> = reply.body().deserialize().map_err(|e| dbus_err("couldn't get units", e))?;
        let all: Vec<Unit> = rows
            .into_iter()
            .map(|r| Unit { name: r.0, load_state: r.2, active_state: r.3, path: r.6.to_string() })
            .collect();
        for (state, n) in summarize(&all) {
            out.gauge("node_systemd_units", "Summary of systemd unit states").sample(&[("state", &state)], n);
        }
        let units = filter_units(&all, &self.include, &self.exclude);

        // Property queries of all units go out together; the bus answers them in order.
        let per_unit = futures::future::join_all(units.iter().map(|u| self.unit_properties(&conn, u, version))).await;
        for (u, props) in units.iter().zip(per_unit) {
            let name = u.name.as_str();
            for state in UNIT_STATES {
                let v = if *state == u.active_state { 1.0 } else { 0.0 };
                out.gauge("node_systemd_unit_state", "Systemd unit")
                    .sample(&[("name", name), ("state", state), ("type", props.unit_type.as_deref().unwrap_or(""))], v);
            }
            let by_name = [("name", name)];
            if let Some(n) = props.restarts {
                out.counter("node_systemd_service_restart_total", "Service unit count of Restart triggers")
                    .sample(&by_name, f64::from(n));
            }
            if let Some(t) = props.start_time_usec {
                out.gauge(
                    "node_systemd_unit_start_time_seconds",
                    "Start time of the unit since unix epoch in seconds.",
                )
                .sample(&by_name, t as f64 / 1e6);
            }
            // systemd reports "infinity" as u64::MAX.
            if let Some(n) = props.tasks_current.filter(|n| *n != u64::MAX) {
                out.gauge("node_systemd_unit_tasks_current", "Current number of tasks per Systemd unit")
                    .sample(&by_name, n as f64);
            }
            if let Some(n) = props.tasks_max.filter(|n| *n != u64::MAX) {
                out.gauge("node_systemd_unit_tasks_max", "Maximum number of tasks per Systemd unit")
                    .sample(&by_name, n as f64);
            }
            if let Some(t) = props.last_trigger_usec {
                out.gauge("node_systemd_timer_last_trigger_seconds", "Seconds since epoch of last trigger.")
                    .sample(&by_name, t as f64 / 1e6);
            }
            if let Some(n) = props.accepted {
                out.counter(
                    "node_systemd_socket_accepted_connections_total",
                    "Total number of accepted socket connections",
                )
                .sample(&by_name, f64::from(n));
                if let Some(c) = props.connections {
                    out.gauge("node_systemd_socket_current_connections", "Current number of socket connections")
                        .sample(&by_name, f64::from(c));
                    if let Some(r) = props.refused {
                        out.gauge(
                            "node_systemd_socket_refused_connections_total",
                            "Total number of refused socket connections",
                        )
                        .sample(&by_name, f64::from(r));
                    }
                }
            }
        }
        if version >= MIN_VERSION_SYSTEM_STATE {
            let state = get_string(&conn, MANAGER_PATH, MANAGER, "SystemState")
                .await
                .ok_or_else(|| CollectError::Other("couldn't get system state".into()))?;
            out.gauge(
                "node_systemd_system_running",
                "Whether the system is operational (see 'systemctl is-system-running')",
            )
            .sample(&[], if state == "running" { 1.0 } else { 0.0 });
        }
        Ok(())
    }

    /// The per-unit properties the enabled metrics need; a property the unit lacks is `None`.
    async fn unit_properties(&self, conn: &zbus::Connection, u: &Unit, version: f64) -> UnitProps {
        let path = u.path.as_str();
        let mut p = UnitProps::default();
        let service = u.name.ends_with(".service");
        if service {
            p.unit_type = get_string(conn, path, "org.freedesktop.systemd1.Service", "Type").await;
            if self.restarts {
                p.restarts = get_u32(conn, path, "org.freedesktop.systemd1.Service", "NRestarts").await;
            }
            if self.tasks {
                p.tasks_current = get_u64(conn, path, "org.freedesktop.systemd1.Service", "TasksCurrent").await;
                p.tasks_max = get_u64(conn, path, "org.freedesktop.systemd1.Service", "TasksMax").await;
            }
        } else if u.name.ends_with(".mount") {
            p.unit_type = get_string(conn, path, "org.freedesktop.systemd1.Mount", "Type").await;
        }
        if self.start_time {
            p.start_time_usec = if u.active_state == "active" {
                get_u64(conn, path, "org.freedesktop.systemd1.Unit", "ActiveEnterTimestamp").await
            } else {
                Some(0)
            };
        }
        if u.name.ends_with(".timer") && version >= MIN_VERSION_SYSTEM_STATE {
            p.last_trigger_usec = get_u64(conn, path, "org.freedesktop.systemd1.Timer", "LastTriggerUSec").await;
        }
        if u.name.ends_with(".socket") {
            p.accepted = get_u32(conn, path, "org.freedesktop.systemd1.Socket", "NAccepted").await;
            p.connections = get_u32(conn, path, "org.freedesktop.systemd1.Socket", "NConnections").await;
            // NRefused exists since systemd 239.
            p.refused = get_u32(conn, path, "org.freedesktop.systemd1.Socket", "NRefused").await;
        }
        p
    }
}

#[derive(Debug, Default)]
struct UnitProps {
    unit_type: Option<String>,
    restarts: Option<u32>,
    start_time_usec: Option<u64>,
    tasks_current: Option<u64>,
    tasks_max: Option<u64>,
    last_trigger_usec: Option<u64>,
    accepted: Option<u32>,
    connections: Option<u32>,
    refused: Option<u32>,
}

impl Collector for Systemd {
    fn collect<'a>(&'a self, ctx: &'a ScrapeContext, out: &'a mut Snapshot) -> CollectFuture<'a> {
        Box::pin(async move {
            if let Some(why) = &self.bus_missing {
                return Err(CollectError::NoData(format!("no system D-Bus: {why}")));
            }
            // Whatever was written before the deadline is kept.
            let budget = ctx.remaining().saturating_sub(Duration::from_millis(50));
            match tokio::time::timeout(budget, self.scrape(out)).await {
                Ok(res) => res,
                Err(_) => Err(CollectError::Timeout(budget)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str, load: &str, active: &str) -> Unit {
        Unit { name: name.into(), load_state: load.into(), active_state: active.into(), path: String::new() }
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("252.22-1~deb12u1"), 252.22);
        assert_eq!(parse_version("systemd 249"), 249.0);
        assert_eq!(parse_version("v42"), 0.0);
        assert_eq!(parse_version(""), 0.0);
    }

    #[test]
    fn filters_and_summarizes() {
        let units = vec![
            unit("sshd.service", "loaded", "active"),
            unit("home.mount", "loaded", "active"),
            unit("gone.service", "not-found", "inactive"),
            unit("cron.service", "loaded", "failed"),
            unit("odd.service", "loaded", "maintenance"),
        ];
        let include = Regex::new("^(?:.+)$").expect("valid");
        let exclude = Regex::new(r"^(?:.+\.(automount|device|mount|scope|slice))$").expect("valid");
        let names: Vec<&str> = filter_units(&units, &include, &exclude).iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["sshd.service", "cron.service", "odd.service"]);
        let summary = summarize(&units);
        assert!(summary.contains(&("active".into(), 2.0)));
        assert!(summary.contains(&("deactivating".into(), 0.0)));
        assert!(summary.contains(&("maintenance".into(), 1.0)));
    }
}
