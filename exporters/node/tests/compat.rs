//! Side-by-side compatibility with node_exporter: for each row of [`CASES`], Debian's `prometheus-node-exporter`
//! (1.5) and `oxporter-node` run on free loopback ports with only that collector enabled and the same flags, and
//! their `/metrics` are compared. When both report the collector successful:
//!
//! - the sets of `node_*` metric names are equal,
//! - each metric has the same type, the same label names and the same HELP,
//! - the values listed in the row agree (exactly, or within a tolerance for moving counters),
//!
//! except the differences in [`ALLOWED`], each with its reason (mirrored in `docs/compatibility.md`, section "Node
//! exporter"). node_exporter 1.5 is what Debian ships; our target is 1.9+, so where the two differ we follow 1.9+
//! and list the difference here.
//!
//! Adding a collector: add a row to `CASES` (and, for intended differences, to `ALLOWED` and the docs).

// Test code: a failed setup step is a failed test.
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxporter_testkit::ports::{free_port, wait_for_port};
use oxporter_testkit::process::{ChildGuard, require_binary};
use oxporter_testkit::textformat::{self, Family};

/// How two values of one metric must agree.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// Same series (label sets) with equal values.
    Exact,
    /// Same series with values at most this far apart (counters that move between the two scrapes).
    Within(f64),
}

/// One collector to compare.
struct Case {
    /// The collector's name in both exporters.
    collector: &'static str,
    /// Flags given to both exporters besides `--collector.disable-defaults --collector.<collector>`.
    flags: &'static [&'static str],
    /// Metrics whose values must agree, and how.
    values: &'static [(&'static str, Check)],
}

/// The collectors compared: the single table to extend when a collector is added.
const CASES: &[Case] = &[
    Case {
        collector: "cpu",
        flags: &[
            "--collector.cpu.info",
            "--collector.cpu.info.flags-include=^(sse.*|avx.*|aes)$",
            "--collector.cpu.info.bugs-include=.",
        ],
        values: &[
            // Both read /proc/stat a few milliseconds apart.
            ("node_cpu_seconds_total", Check::Within(2.0)),
            ("node_cpu_guest_seconds_total", Check::Within(2.0)),
            ("node_cpu_info", Check::Exact),
            ("node_cpu_flag_info", Check::Exact),
            ("node_cpu_bug_info", Check::Exact),
            ("node_cpu_isolated", Check::Exact),
            ("node_cpu_core_throttles_total", Check::Within(5.0)),
            ("node_cpu_package_throttles_total", Check::Within(5.0)),
        ],
    },
    Case { collector: "loadavg", flags: &[], values: &[] },
    Case {
        collector: "meminfo",
        flags: &[],
        values: &[
            ("node_memory_MemTotal_bytes", Check::Exact),
            ("node_memory_SwapTotal_bytes", Check::Exact),
            ("node_memory_Hugepagesize_bytes", Check::Exact),
            ("node_memory_VmallocTotal_bytes", Check::Exact),
            ("node_memory_HugePages_Total", Check::Exact),
        ],
    },
    Case {
        collector: "stat",
        flags: &["--collector.stat.softirq"],
        values: &[("node_boot_time_seconds", Check::Exact), ("node_procs_blocked", Check::Within(10.0))],
    },
    Case {
        collector: "time",
        flags: &[],
        values: &[
            ("node_time_seconds", Check::Within(5.0)),
            ("node_time_zone_offset_seconds", Check::Exact),
            ("node_time_clocksource_available_info", Check::Exact),
            ("node_time_clocksource_current_info", Check::Exact),
        ],
    },
    Case { collector: "uname", flags: &[], values: &[("node_uname_info", Check::Exact)] },
    Case { collector: "conntrack", flags: &[], values: &[("node_nf_conntrack_entries_limit", Check::Exact)] },
    Case {
        collector: "diskstats",
        // 1.9+'s default (1.5's lacks `z?`), given to both.
        flags: &[r"--collector.diskstats.device-exclude=^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"],
        values: &[("node_disk_reads_completed_total", Check::Within(1000.0))],
    },
    Case { collector: "entropy", flags: &[], values: &[("node_entropy_pool_size_bits", Check::Exact)] },
    Case { collector: "filefd", flags: &[], values: &[("node_filefd_maximum", Check::Exact)] },
    Case {
        collector: "filesystem",
        // Debian patches this default; give both the same.
        flags: &[
            "--collector.filesystem.mount-points-exclude=^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
        ],
        values: &[],
    },
    Case { collector: "interrupts", flags: &[], values: &[] },
    Case {
        collector: "netdev",
        // Debian's default excludes lo; upstream has no default.
        flags: &["--collector.netdev.device-exclude=^lo$"],
        values: &[("node_network_receive_bytes_total", Check::Within(1e7))],
    },
    Case {
        collector: "netstat",
        // 1.9+'s default, given to both (1.5's lacks TCPOFOQueue and TCPRcvQDrop).
        flags: &[
            "--collector.netstat.fields=^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$",
        ],
        values: &[("node_netstat_Ip_Forwarding", Check::Exact)],
    },
    Case { collector: "pressure", flags: &[], values: &[] },
    Case {
        collector: "processes",
        flags: &[],
        values: &[("node_processes_max_processes", Check::Exact), ("node_processes_max_threads", Check::Exact)],
    },
    Case { collector: "sockstat", flags: &[], values: &[] },
    Case { collector: "tcpstat", flags: &[], values: &[] },
    Case { collector: "textfile", flags: &[], values: &[("node_textfile_scrape_error", Check::Exact)] },
    Case { collector: "vmstat", flags: &[], values: &[] },
    // Batch C. This host lacks most of their hardware, so most rows point both exporters at the hand-made
    // `hardware` fixture tree; rows without path flags read this host.
    Case {
        collector: "hwmon",
        flags: &[HW_SYSFS],
        values: &[
            ("node_hwmon_chip_names", Check::Exact),
            ("node_hwmon_temp_celsius", Check::Exact),
            ("node_hwmon_temp_crit_alarm_celsius", Check::Exact),
            ("node_hwmon_fan_min_rpm", Check::Exact),
            ("node_hwmon_pwm_enable", Check::Exact),
            ("node_hwmon_in_volts", Check::Exact),
            ("node_hwmon_power_average_watt", Check::Exact),
            ("node_hwmon_energy_joule_total", Check::Exact),
            ("node_hwmon_humidity", Check::Exact),
        ],
    },
    Case {
        collector: "thermal_zone",
        flags: &[HW_SYSFS],
        values: &[
            ("node_thermal_zone_temp", Check::Exact),
            ("node_cooling_device_cur_state", Check::Exact),
            ("node_cooling_device_max_state", Check::Exact),
        ],
    },
    Case {
        collector: "powersupplyclass",
        flags: &[HW_SYSFS],
        values: &[
            ("node_power_supply_info", Check::Exact),
            ("node_power_supply_online", Check::Exact),
            ("node_power_supply_energy_watthour", Check::Exact),
            ("node_power_supply_temp_celsius", Check::Exact),
        ],
    },
    Case {
        collector: "netclass",
        flags: &[],
        values: &[("node_network_up", Check::Exact), ("node_network_mtu_bytes", Check::Exact)],
    },
    Case {
        collector: "netclass",
        flags: &[HW_SYSFS],
        values: &[
            ("node_network_up", Check::Exact),
            ("node_network_speed_bytes", Check::Exact),
            ("node_network_carrier_changes_total", Check::Exact),
            ("node_network_flags", Check::Exact),
        ],
    },
    // This machine's table: node_exporter 1.5 reads /proc/net/arp, we read rtnetlink (the 1.9+ default).
    Case { collector: "arp", flags: &[], values: &[("node_arp_entries", Check::Exact)] },
    // The tree's /proc/net/arp (we are told --no-collector.arp.netlink, see OURS_ONLY).
    Case { collector: "arp", flags: &[HW_PROCFS], values: &[("node_arp_entries", Check::Exact)] },
    Case {
        collector: "timex",
        flags: &[],
        values: &[("node_timex_tick_seconds", Check::Exact), ("node_timex_sync_status", Check::Exact)],
    },
    Case {
        collector: "cpufreq",
        flags: &[HW_SYSFS],
        values: &[("node_cpu_frequency_hertz", Check::Exact), ("node_cpu_scaling_frequency_hertz", Check::Exact)],
    },
    Case {
        collector: "schedstat",
        flags: &[HW_PROCFS],
        values: &[
            ("node_schedstat_running_seconds_total", Check::Exact),
            ("node_schedstat_timeslices_total", Check::Exact),
        ],
    },
    Case { collector: "softnet", flags: &[], values: &[("node_softnet_dropped_total", Check::Within(10.0))] },
    Case { collector: "softnet", flags: &[HW_PROCFS], values: &[("node_softnet_processed_total", Check::Exact)] },
    Case { collector: "udp_queues", flags: &[HW_PROCFS], values: &[("node_udp_queues", Check::Exact)] },
    Case { collector: "udp_queues", flags: &[], values: &[] },
    Case { collector: "os", flags: &[], values: &[("node_os_info", Check::Exact), ("node_os_version", Check::Exact)] },
    Case {
        collector: "os",
        flags: &[HW_ROOTFS],
        values: &[("node_os_info", Check::Exact), ("node_os_version", Check::Exact)],
    },
    Case { collector: "dmi", flags: &[HW_SYSFS], values: &[("node_dmi_info", Check::Exact)] },
    Case {
        collector: "edac",
        flags: &[HW_SYSFS],
        values: &[
            ("node_edac_correctable_errors_total", Check::Exact),
            ("node_edac_csrow_uncorrectable_errors_total", Check::Exact),
        ],
    },
    Case {
        collector: "mdadm",
        flags: &[HW_PROCFS],
        values: &[
            ("node_md_state", Check::Exact),
            ("node_md_disks", Check::Exact),
            ("node_md_disks_required", Check::Exact),
            ("node_md_blocks", Check::Exact),
            ("node_md_blocks_synced", Check::Exact),
        ],
    },
    Case {
        collector: "bonding",
        flags: &[HW_SYSFS],
        values: &[("node_bonding_slaves", Check::Exact), ("node_bonding_active", Check::Exact)],
    },
    Case { collector: "nvme", flags: &[HW_SYSFS], values: &[("node_nvme_info", Check::Exact)] },
    Case {
        collector: "nfs",
        flags: &[HW_PROCFS],
        values: &[("node_nfs_requests_total", Check::Exact), ("node_nfs_packets_total", Check::Exact)],
    },
    Case {
        collector: "nfsd",
        flags: &[HW_PROCFS],
        values: &[("node_nfsd_requests_total", Check::Exact), ("node_nfsd_server_threads", Check::Exact)],
    },
    Case { collector: "selinux", flags: &[], values: &[("node_selinux_enabled", Check::Exact)] },
    Case {
        collector: "zfs",
        flags: &[HW_PROCFS],
        // node_zfs_zpool_state: 1.5 lacks the "suspended" state, so only the metric set and types are compared.
        values: &[
            ("node_zfs_arc_hits", Check::Exact),
            ("node_zfs_zpool_nread", Check::Exact),
            ("node_zfs_zpool_dataset_writes", Check::Exact),
        ],
    },
    Case {
        collector: "xfs",
        flags: &[HW_SYSFS],
        values: &[
            ("node_xfs_read_calls_total", Check::Exact),
            ("node_xfs_write_calls_total", Check::Exact),
            ("node_xfs_inode_operation_found_total", Check::Exact),
            ("node_xfs_vnode_active_total", Check::Exact),
        ],
    },
    Case {
        collector: "ipvs",
        flags: &[HW_PROCFS],
        values: &[
            ("node_ipvs_connections_total", Check::Exact),
            ("node_ipvs_incoming_bytes_total", Check::Exact),
            ("node_ipvs_backend_connections_active", Check::Exact),
            ("node_ipvs_backend_weight", Check::Exact),
        ],
    },
    Case {
        collector: "ipvs",
        flags: &[HW_PROCFS, "--collector.ipvs.backend-labels=local_port,proto"],
        values: &[("node_ipvs_backend_connections_inactive", Check::Exact)],
    },
    Case {
        collector: "tapestats",
        flags: &[HW_SYSFS],
        values: &[("node_tape_io_time_seconds_total", Check::Exact), ("node_tape_written_bytes_total", Check::Exact)],
    },
    Case {
        collector: "fibrechannel",
        flags: &[HW_SYSFS],
        values: &[("node_fibrechannel_info", Check::Exact), ("node_fibrechannel_tx_words_total", Check::Exact)],
    },
    Case {
        collector: "infiniband",
        flags: &[HW_SYSFS],
        values: &[
            ("node_infiniband_info", Check::Exact),
            ("node_infiniband_rate_bytes_per_second", Check::Exact),
            ("node_infiniband_port_data_received_bytes_total", Check::Exact),
            ("node_infiniband_legacy_data_transmitted_bytes_total", Check::Exact),
            ("node_infiniband_state_id", Check::Exact),
        ],
    },
    Case {
        collector: "bcache",
        flags: &[HW_SYSFS, "--collector.bcache.priorityStats"],
        values: &[
            ("node_bcache_cache_hits_total", Check::Exact),
            ("node_bcache_writeback_rate", Check::Exact),
            ("node_bcache_dirty_target_bytes", Check::Exact),
            ("node_bcache_writeback_rate_integral_term", Check::Exact),
            ("node_bcache_priority_stats_unused_percent", Check::Exact),
        ],
    },
    Case {
        collector: "btrfs",
        flags: &[HW_SYSFS],
        values: &[
            ("node_btrfs_info", Check::Exact),
            ("node_btrfs_used_bytes", Check::Exact),
            ("node_btrfs_allocation_ratio", Check::Exact),
            ("node_btrfs_device_size_bytes", Check::Exact),
        ],
    },
    Case { collector: "rapl", flags: &[HW_SYSFS], values: &[("node_rapl_package_joules_total", Check::Exact)] },
];

/// Flags given to oxporter-node only, for flags node_exporter 1.5 does not know: `(collector, a flag the case has,
/// the extra flags)`.
const OURS_ONLY: &[(&str, &str, &[&str])] = &[
    // 1.5 has no --collector.arp.netlink (added in 1.7, default on since): read the tree's /proc/net/arp as it does.
    ("arp", HW_PROCFS, &["--no-collector.arp.netlink"]),
];

/// The extra flags of `case` for oxporter-node (see [`OURS_ONLY`]).
fn ours_only(case: &Case) -> Vec<&'static str> {
    OURS_ONLY
        .iter()
        .filter(|(c, flag, _)| *c == case.collector && case.flags.contains(flag))
        .flat_map(|(_, _, extra)| extra.iter().copied())
        .collect()
}

/// The hand-made `hardware` fixture tree as sysfs, procfs and rootfs.
const HW_SYSFS: &str = concat!("--path.sysfs=", env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hardware/sys");
const HW_PROCFS: &str = concat!("--path.procfs=", env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hardware/proc");
const HW_ROOTFS: &str = concat!("--path.rootfs=", env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hardware");

/// Kinds of intended difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Diff {
    /// node_exporter 1.5 exports the metric, we do not.
    OnlyAnchor,
    /// We export the metric, node_exporter 1.5 does not.
    OnlyOurs,
    /// Both export it with different HELP text.
    Help,
    /// Both export it with different label names.
    Labels,
}

/// An intended difference: which collector, which metrics, what differs and why.
struct Allowed {
    collector: &'static str,
    /// How `docs/compatibility.md` names the metrics (checked to appear there).
    doc: &'static str,
    metric: fn(&str) -> bool,
    diff: Diff,
    reason: &'static str,
}

/// Every intended difference from node_exporter 1.5. Keep `docs/compatibility.md` ("Node exporter") in step.
const ALLOWED: &[Allowed] = &[
    Allowed {
        collector: "nvme",
        doc: "node_nvme_info",
        metric: |m| m == "node_nvme_info",
        diff: Diff::Labels,
        reason: "newer node_exporter adds the cntlid label",
    },
    Allowed {
        collector: "nvme",
        doc: "node_nvme_namespace_info",
        metric: |m| m.starts_with("node_nvme_namespace_"),
        diff: Diff::OnlyOurs,
        reason: "newer node_exporter adds the namespace metrics",
    },
    Allowed {
        collector: "diskstats",
        doc: "node_disk_info",
        metric: |m| m == "node_disk_info",
        diff: Diff::Labels,
        reason: "node_exporter 1.9+ adds the rotational label",
    },
    Allowed {
        collector: "filesystem",
        doc: "node_filesystem_*",
        metric: |m| m.starts_with("node_filesystem_"),
        diff: Diff::Labels,
        reason: "node_exporter 1.9+ adds the device_error label",
    },
    Allowed {
        collector: "filesystem",
        doc: "node_filesystem_mount_info",
        metric: |m| m == "node_filesystem_mount_info",
        diff: Diff::OnlyOurs,
        reason: "added in node_exporter 1.9 (from /proc/1/mountinfo)",
    },
    Allowed {
        collector: "meminfo",
        doc: "node_memory_*",
        metric: |m| {
            m.starts_with("node_memory_")
                && !oxporter_node::collectors::meminfo::FIELDS.iter().any(|(_, name, _)| *name == m)
        },
        diff: Diff::OnlyAnchor,
        reason: "node_exporter up to 1.8 exports every /proc/meminfo line; 1.9+ (our target) exports a fixed list of \
                 fields (e.g. no KReclaimable, Hugetlb, SecPageTables, FileHugePages, Unaccepted, Balloon)",
    },
    Allowed {
        collector: "cpu",
        doc: "node_cpu_frequency_hertz",
        metric: |m| m == "node_cpu_frequency_hertz",
        diff: Diff::OnlyOurs,
        reason: "added after 1.5: with --collector.cpu.info and the cpufreq collector off, node_exporter 1.9+ \
                 exports each CPU's frequency from /proc/cpuinfo",
    },
    Allowed {
        collector: "cpu",
        doc: "node_cpu_online",
        metric: |m| m == "node_cpu_online",
        diff: Diff::OnlyOurs,
        reason: "added in node_exporter 1.9 (exported when /sys/devices/system/cpu/cpu0/online exists)",
    },
    Allowed {
        collector: "hwmon",
        doc: "node_hwmon_freq_freq_mhz",
        metric: |m| m == "node_hwmon_freq_freq_mhz",
        diff: Diff::OnlyOurs,
        reason: "added after 1.5: node_exporter 1.9+ reads freq<N>_input (GPU clocks) with the cleaned label as sensor",
    },
    Allowed {
        collector: "netclass",
        doc: "node_network_info",
        metric: |m| m == "node_network_info",
        diff: Diff::Labels,
        reason: "node_exporter 1.9+ adds the adminstate label (up/down from the IFF_UP flag, unknown without flags)",
    },
    Allowed {
        collector: "cpufreq",
        doc: "node_cpu_scaling_governor",
        metric: |m| m == "node_cpu_scaling_governor",
        diff: Diff::OnlyOurs,
        reason: "added after 1.5: node_exporter 1.9+ exports the enabled governor among the available ones",
    },
    Allowed {
        collector: "cpufreq",
        doc: "node_cpu_frequency_*_hertz",
        metric: |m| m.starts_with("node_cpu_frequency_") && m.ends_with("_hertz"),
        diff: Diff::Help,
        reason: "node_exporter 1.7+ writes \"CPU\" in these HELP texts (\"Current CPU thread frequency in hertz.\"); 1.5 \
                 wrote \"cpu\"",
    },
    Allowed {
        collector: "infiniband",
        doc: "hw_counters",
        metric: |m| {
            oxporter_node::collectors::infiniband::HW_COUNTER_METRICS
                .iter()
                .any(|s| m == format!("node_infiniband_{s}"))
        },
        diff: Diff::OnlyOurs,
        reason: "added after 1.5: node_exporter 1.9+ also reports the hw_counters directory (RoCE and Mellanox \
                 counters) and the counters' lifespan",
    },
    Allowed {
        collector: "btrfs",
        doc: "node_btrfs_commit",
        metric: |m| {
            matches!(
                m,
                "node_btrfs_commits_total"
                    | "node_btrfs_commit_seconds_total"
                    | "node_btrfs_last_commit_seconds"
                    | "node_btrfs_max_commit_seconds"
            )
        },
        diff: Diff::OnlyOurs,
        reason: "added after 1.5: node_exporter 1.9+ reads commit_stats (kernel 6.0+)",
    },
    Allowed {
        collector: "arp",
        doc: "node_arp_states",
        metric: |m| m == "node_arp_states",
        diff: Diff::OnlyOurs,
        reason: "added after 1.5: node_exporter's rtnetlink path (default on) counts entries per neighbour state",
    },
    Allowed {
        collector: "softnet",
        doc: "node_softnet_backlog_len",
        metric: |m| {
            matches!(
                m,
                "node_softnet_backlog_len"
                    | "node_softnet_cpu_collision_total"
                    | "node_softnet_flow_limit_count_total"
                    | "node_softnet_received_rps_total"
            )
        },
        diff: Diff::OnlyOurs,
        reason: "added after 1.5: node_exporter 1.9+ reports every column of newer kernels' softnet_stat (backlog \
                 length, CPU collisions, flow limit count, received RPS)",
    },
];

fn allowed(collector: &str, metric: &str, diff: Diff) -> Option<&'static Allowed> {
    ALLOWED.iter().find(|a| a.collector == collector && a.diff == diff && (a.metric)(metric))
}

/// GET of `/metrics` asking for text 0.0.4, bounded by a timeout.
fn scrape(port: u16) -> Result<String, String> {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let resp = oxporter_testkit::http::get_with_timeout(
        &url,
        &[("Accept", "text/plain;version=0.0.4")],
        Duration::from_secs(20),
    )
    .map_err(|e| e.to_string())?;
    if resp.status != 200 {
        return Err(format!("status {}", resp.status));
    }
    Ok(resp.text())
}

/// A running exporter with its log file.
struct Running {
    _child: ChildGuard,
    port: u16,
    log: tempfile::NamedTempFile,
    name: String,
}

impl Running {
    fn start(name: &str, bin: &Path, case: &Case, extra: &[&str]) -> Running {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--collector.disable-defaults")
            .arg(format!("--collector.{}", case.collector))
            .args(case.flags)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log file"));
        let child = ChildGuard::spawn(name, &mut cmd);
        wait_for_port(port, Duration::from_secs(20), name);
        Running { _child: child, port, log, name: name.to_owned() }
    }

    fn metrics(&self) -> Vec<Family> {
        let text = scrape(self.port).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            panic!("scraping {}: {e}\nits log:\n{}", self.name, oxporter_testkit::tail(&log, 20))
        });
        textformat::must_parse(&text, &self.name)
    }
}

/// The `node_*` families, by name, minus the exporter's own build info (not a collector's; its label set
/// differs by version and is covered by the core's tests).
fn node_families(fams: Vec<Family>) -> BTreeMap<String, Family> {
    fams.into_iter()
        .filter(|f| f.name.starts_with("node_") && f.name != "node_exporter_build_info")
        .map(|f| (f.name.clone(), f))
        .collect()
}

fn success(fams: &BTreeMap<String, Family>, collector: &str) -> Option<f64> {
    fams.get("node_scrape_collector_success")?
        .samples
        .iter()
        .find(|s| s.label("collector") == Some(collector))
        .map(|s| s.value)
}

/// Compares one case; returns the problems found.
fn compare(case: &Case, anchor: &BTreeMap<String, Family>, ours: &BTreeMap<String, Family>) -> Vec<String> {
    let c = case.collector;
    let mut problems = Vec::new();
    let a_names: BTreeSet<&String> = anchor.keys().collect();
    let o_names: BTreeSet<&String> = ours.keys().collect();
    for name in a_names.difference(&o_names) {
        match allowed(c, name, Diff::OnlyAnchor) {
            Some(a) => println!("  allowed: {name} only in node_exporter: {}", a.reason),
            None => problems.push(format!("{c}: {name} is exported by node_exporter but not by us")),
        }
    }
    for name in o_names.difference(&a_names) {
        match allowed(c, name, Diff::OnlyOurs) {
            Some(a) => println!("  allowed: {name} only in oxporter-node: {}", a.reason),
            None => problems.push(format!("{c}: {name} is exported by us but not by node_exporter")),
        }
    }
    for name in a_names.intersection(&o_names) {
        let (a, o) = (&anchor[*name], &ours[*name]);
        if a.metric_type != o.metric_type {
            problems
                .push(format!("{c}: {name} has type {} in node_exporter, {} in ours", a.metric_type, o.metric_type));
        }
        if a.label_names() != o.label_names() {
            match allowed(c, name, Diff::Labels) {
                Some(al) => println!("  allowed: labels of {name} differ: {}", al.reason),
                None => problems.push(format!(
                    "{c}: {name} has labels {:?} in node_exporter, {:?} in ours",
                    a.label_names(),
                    o.label_names()
                )),
            }
        }
        if a.help != o.help {
            match allowed(c, name, Diff::Help) {
                Some(al) => println!("  allowed: HELP of {name} differs: {}", al.reason),
                None => {
                    problems.push(format!("{c}: {name} HELP differs: node_exporter {:?}, ours {:?}", a.help, o.help))
                }
            }
        }
    }
    for (name, check) in case.values {
        let (Some(a), Some(o)) = (anchor.get(*name), ours.get(*name)) else {
            // Absent in both: the host lacks it (e.g. no throttle counters in a VM). Absent in one: reported above.
            continue;
        };
        // Where label names differ by intent (a label added in newer releases), series are told apart by the
        // labels both have.
        let common: Option<std::collections::BTreeSet<String>> =
            allowed(c, name, Diff::Labels).map(|_| a.label_names().intersection(&o.label_names()).cloned().collect());
        let series = |f: &Family| -> BTreeMap<Vec<(String, String)>, f64> {
            f.samples
                .iter()
                .map(|s| {
                    let mut key = s.label_key();
                    if let Some(common) = &common {
                        key.retain(|(k, _)| common.contains(k));
                    }
                    (key, s.value)
                })
                .collect()
        };
        let (sa, so) = (series(a), series(o));
        if sa.keys().ne(so.keys()) {
            let only_a: Vec<_> = sa.keys().filter(|k| !so.contains_key(*k)).take(5).collect();
            let only_o: Vec<_> = so.keys().filter(|k| !sa.contains_key(*k)).take(5).collect();
            problems.push(format!("{c}: {name} series differ: only node_exporter {only_a:?}, only ours {only_o:?}"));
            continue;
        }
        for (labels, va) in &sa {
            let vo = so[labels];
            let ok = match check {
                Check::Exact => va == &vo || (va.is_nan() && vo.is_nan()),
                Check::Within(tol) => (va - vo).abs() <= *tol,
            };
            if !ok {
                problems.push(format!("{c}: {name}{labels:?}: node_exporter {va}, ours {vo} ({check:?})"));
            }
        }
        println!("  values of {name} agree ({} series, {check:?})", sa.len());
    }
    problems
}

#[test]
fn same_metrics_as_node_exporter() {
    let anchor_bin = require_binary("prometheus-node-exporter", "prometheus-node-exporter");
    let ours_bin = Path::new(env!("CARGO_BIN_EXE_oxporter-node"));
    let started = Instant::now();
    let mut problems = Vec::new();
    let mut compared = Vec::new();
    for case in CASES {
        println!("collector {}:", case.collector);
        let anchor = Running::start("prometheus-node-exporter", &anchor_bin, case, &[]);
        let ours = Running::start("oxporter-node", ours_bin, case, &ours_only(case));
        // Scrape both back to back so moving counters stay close.
        let a = node_families(anchor.metrics());
        let o = node_families(ours.metrics());
        match (success(&a, case.collector), success(&o, case.collector)) {
            (Some(1.0), Some(1.0)) => {}
            (Some(1.0), got) => {
                problems.push(format!("{}: node_exporter succeeds, ours reports success {got:?}", case.collector));
                continue;
            }
            (got, _) => {
                // Not comparable on this host; said loudly, not skipped silently.
                println!("  node_exporter reports success {got:?} for {}: nothing to compare here", case.collector);
                continue;
            }
        }
        problems.extend(compare(case, &a, &o));
        compared.push(case.collector);
    }
    println!("compared {compared:?} in {:?}", started.elapsed());
    assert!(problems.is_empty(), "differences from node_exporter:\n  {}", problems.join("\n  "));
    assert!(!compared.is_empty(), "no collector could be compared");
}

#[test]
fn allowlist_is_documented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/compatibility.md");
    let doc = std::fs::read_to_string(&path).expect("docs/compatibility.md");
    let section = doc.split("\n## Node exporter\n").nth(1).expect("a \"## Node exporter\" section");
    let section = section.split("\n## ").next().unwrap_or_default();
    for a in ALLOWED {
        assert!(
            section.contains(a.doc),
            "docs/compatibility.md, section Node exporter, must explain {} ({}): {}",
            a.doc,
            a.collector,
            a.reason
        );
    }
}
