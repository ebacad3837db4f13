//! The node exporter's flags: the shared ones plus node_exporter's own.
//!
//! Convention: every flag defined here or in a collector's `…Args` struct sets `id` to its long name
//! (`#[arg(id = "collector.x.y", long = "collector.x.y")]`, and `overrides_with` names that id). clap's default id
//! is the field name, and the flattened structs once collided on field names; long names are unique by
//! construction. `tests::every_node_flag_id_is_its_long_name` in `src/lib.rs` checks it.

use std::path::{Path, PathBuf};

use oxporter_core::cli::CommonArgs;

/// All flags of oxporter-node.
#[derive(Debug, Clone, clap::Parser)]
pub struct Args {
    /// Flags every exporter shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// procfs mountpoint.
    #[arg(
        id = "path.procfs",
        long = "path.procfs",
        value_name = "PATH",
        default_value = "/proc",
        help_heading = "Paths"
    )]
    pub procfs: PathBuf,
    /// sysfs mountpoint.
    #[arg(id = "path.sysfs", long = "path.sysfs", value_name = "PATH", default_value = "/sys", help_heading = "Paths")]
    pub sysfs: PathBuf,
    /// rootfs mountpoint (for a containerised exporter watching its host).
    #[arg(id = "path.rootfs", long = "path.rootfs", value_name = "PATH", default_value = "/", help_heading = "Paths")]
    pub rootfs: PathBuf,
    /// Flags of the `cpu` collector.
    #[command(flatten)]
    pub cpu: crate::collectors::cpu::CpuArgs,
    /// Flags of the `stat` collector.
    #[command(flatten)]
    pub stat: crate::collectors::stat::StatArgs,
    /// The collectors enabled for this run (filled in by [`crate::parse_args_from`] after parsing), for collectors
    /// whose output depends on another one running (e.g. `cpu` leaves `node_cpu_frequency_hertz` to `cpufreq`).
    #[arg(skip)]
    pub enabled_collectors: Vec<&'static str>,
    /// Flags of the diskstats collector.
    #[command(flatten)]
    pub diskstats: crate::collectors::diskstats::DiskstatsArgs,
    /// Flags of the filesystem collector.
    #[command(flatten)]
    pub filesystem: crate::collectors::filesystem::FilesystemArgs,
    /// Flags of the netdev collector.
    #[command(flatten)]
    pub netdev: crate::collectors::netdev::NetdevArgs,
    /// Flags of the netstat collector.
    #[command(flatten)]
    pub netstat: crate::collectors::netstat::NetstatArgs,
    /// Flags of the vmstat collector.
    #[command(flatten)]
    pub vmstat: crate::collectors::vmstat::VmstatArgs,
    /// Flags of the textfile collector.
    #[command(flatten)]
    pub textfile: crate::collectors::textfile::TextfileArgs,
    /// Flags of the interrupts collector.
    #[command(flatten)]
    pub interrupts: crate::collectors::interrupts::InterruptsArgs,
    /// Flags of the arp collector.
    #[command(flatten)]
    pub arp: crate::collectors::arp::ArpArgs,
    /// Flags of the bcache collector.
    #[command(flatten)]
    pub bcache: crate::collectors::bcache::BcacheArgs,
    /// Flags of the hwmon collector.
    #[command(flatten)]
    pub hwmon: crate::collectors::hwmon::HwmonArgs,
    /// Flags of the ipvs collector.
    #[command(flatten)]
    pub ipvs: crate::collectors::ipvs::IpvsArgs,
    /// Flags of the netclass collector.
    #[command(flatten)]
    pub netclass: crate::collectors::netclass::NetclassArgs,
    /// Flags of the rapl collector.
    #[command(flatten)]
    pub rapl: crate::collectors::rapl::RaplArgs,
    /// Flags of the tapestats collector.
    #[command(flatten)]
    pub tapestats: crate::collectors::tapestats::TapestatsArgs,
    /// Flags of the systemd collector.
    #[command(flatten)]
    pub systemd: crate::collectors::systemd::SystemdArgs,
    /// Flags of the powersupplyclass collector.
    #[command(flatten)]
    pub powersupply: crate::collectors::powersupplyclass::PowerSupplyArgs,
}

impl Args {
    /// A path below `--path.procfs`.
    pub fn proc_path(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }

    /// A path below `--path.sysfs`.
    pub fn sys_path(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }

    /// `path` as seen from inside `--path.rootfs`.
    pub fn rootfs_path(&self, path: &Path) -> PathBuf {
        self.rootfs.join(path.strip_prefix("/").unwrap_or(path))
    }
}
