//! `selinux`: whether SELinux is enabled and its configured and current enforcement modes
//! (`node_selinux_enabled`, `node_selinux_config_mode`, `node_selinux_current_mode`).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;

/// The mode in `/etc/selinux/config` (`SELINUX=`): 1 enforcing, 0 permissive, -1 disabled or unset.
pub fn config_mode(config: &str) -> i64 {
    let value = config
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix("SELINUX="))
        .map(|v| v.trim().trim_matches('"'));
    match value {
        Some("enforcing") => 1,
        Some("permissive") => 0,
        _ => -1,
    }
}

/// The current mode from selinuxfs's `enforce` file: 1 enforcing, 0 permissive, -1 unreadable.
pub fn current_mode(enforce: Option<&str>) -> i64 {
    match enforce.map(str::trim) {
        Some("1") => 1,
        Some("0") => 0,
        _ => -1,
    }
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Selinux {
        selinuxfs: args.sys_path("fs/selinux"),
        attr_current: args.proc_path("self/attr/current"),
        config: args.rootfs_path(Path::new("/etc/selinux/config")),
    }))
}

struct Selinux {
    selinuxfs: PathBuf,
    attr_current: PathBuf,
    config: PathBuf,
}

impl BlockingCollector for Selinux {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let enforce = crate::sysfs::read_once(&self.selinuxfs.join("enforce"), 4096).ok();
        // As libselinux decides: a mounted selinuxfs, and a process context other than "kernel".
        let context = crate::sysfs::read_once(&self.attr_current, 4096).unwrap_or_default();
        let enabled = enforce.is_some() && context.trim_end_matches(['\0', '\n']) != "kernel";
        out.gauge("node_selinux_enabled", "SELinux is enabled, 1 is true, 0 is false")
            .sample(&[], if enabled { 1.0 } else { 0.0 });
        if !enabled {
            return Ok(());
        }
        let config = crate::sysfs::read_once(&self.config, 64 * 1024).unwrap_or_default();
        out.gauge("node_selinux_config_mode", "Configured SELinux enforcement mode")
            .sample(&[], config_mode(&config) as f64);
        out.gauge("node_selinux_current_mode", "Current SELinux enforcement mode")
            .sample(&[], current_mode(enforce.as_deref()) as f64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, render};

    #[test]
    fn modes() {
        assert_eq!(config_mode("# x\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"), 1);
        assert_eq!(config_mode("SELINUX=permissive"), 0);
        assert_eq!(config_mode("SELINUX=disabled"), -1);
        assert_eq!(config_mode(""), -1);
        assert_eq!(current_mode(Some("1\n")), 1);
        assert_eq!(current_mode(Some("0")), 0);
        assert_eq!(current_mode(None), -1);
    }

    #[test]
    fn fixture_tree() {
        let root = fixture("hardware");
        let c = Selinux {
            selinuxfs: root.join("sys/fs/selinux"),
            attr_current: root.join("proc/self/attr/current"),
            config: root.join("etc/selinux/config"),
        };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        for line in ["node_selinux_enabled 1", "node_selinux_config_mode 1", "node_selinux_current_mode 0"] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        let off = Selinux { selinuxfs: root.join("nope"), ..c };
        let mut out = Snapshot::new();
        off.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        assert!(text.contains("node_selinux_enabled 0") && !text.contains("config_mode"), "{text}");
    }
}
