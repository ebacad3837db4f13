//! `bonding`: configured and active slaves of bonding interfaces from `/sys/class/net` (`node_bonding_slaves`,
//! `node_bonding_active`).

use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::read_file;
use crate::args::Args;

/// `(master, slaves, active slaves)` for every bond in `bonding_masters`.
pub fn read_bonding(class_net: &Path) -> Result<Vec<(String, u64, u64)>, CollectError> {
    let masters = read_file(&class_net.join("bonding_masters"))?;
    let mut out = Vec::new();
    for master in masters.split_whitespace() {
        let slaves_path = class_net.join(master).join("bonding/slaves");
        let slaves =
            crate::sysfs::read_once(&slaves_path, 64 * 1024).map_err(|e| CollectError::io(slaves_path.display(), e))?;
        let (mut total, mut up) = (0, 0);
        for slave in slaves.split_whitespace() {
            let status =
                |prefix: &str| class_net.join(master).join(format!("{prefix}{slave}/bonding_slave/mii_status"));
            // Older kernels name the link "slave_<if>" instead of "lower_<if>".
            let state = match crate::sysfs::read_once(&status("lower_"), 4096) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::sysfs::read_once(&status("slave_"), 4096),
                other => other,
            }
            .map_err(|e| CollectError::io(status("lower_").display(), e))?;
            total += 1;
            if state.trim() == "up" {
                up += 1;
            }
        }
        out.push((master.to_owned(), total, up));
    }
    Ok(out)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Bonding { dir: args.sys_path("class/net") }))
}

struct Bonding {
    dir: PathBuf,
}

impl BlockingCollector for Bonding {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        for (master, slaves, active) in read_bonding(&self.dir)? {
            let labels = [("master", master.as_str())];
            out.gauge("node_bonding_slaves", "Number of configured slaves per bonding interface.")
                .sample(&labels, slaves as f64);
            out.gauge("node_bonding_active", "Number of active slaves per bonding interface.")
                .sample(&labels, active as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::fixture;

    #[test]
    fn fixture_tree() {
        let bonds = read_bonding(&fixture("hardware/sys/class/net")).expect("readable");
        assert_eq!(bonds, vec![("bond0".to_owned(), 2, 1)]);
        assert!(read_bonding(&fixture("nope")).is_err_and(|e| e.is_no_data()));
    }
}
