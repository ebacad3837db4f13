//! The node exporter's collectors, one per file, declared in [`COLLECTORS`].

use std::path::Path;

use oxporter_core::CollectError;
use oxporter_core::collector::CollectorSpec;

use crate::args::Args;

pub mod loadavg;

/// Every collector oxporter-node has: the one place a collector is registered.
pub const COLLECTORS: &[CollectorSpec<Args>] = &[CollectorSpec {
    name: "loadavg",
    default_enabled: true,
    description: "Exposes load average.",
    build: loadavg::build,
}];

/// Reads a whole file, mapping errors to [`CollectError`] with the path. A missing file is "no data" (the host
/// lacks what the collector reads), anything else an I/O error.
pub fn read_file(path: &Path) -> Result<String, CollectError> {
    // Kernel files are small; cap reads so a huge or endless file cannot exhaust memory.
    const MAX: u64 = 16 * 1024 * 1024;
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CollectError::NoData(format!("{} does not exist", path.display())),
        _ => CollectError::io(path.display(), e),
    })?;
    let mut s = String::new();
    f.take(MAX).read_to_string(&mut s).map_err(|e| CollectError::io(path.display(), e))?;
    Ok(s)
}
