//! Test-only helpers for oxporter: real servers started on free loopback ports and stopped on drop, and checks of
//! exposition output with real tools.
//!
//! - [`textformat`]: a strict parser of the text exposition format 0.0.4, to compare two exporters' output.
//!
//! A missing server binary fails the test with a message naming the Debian package that provides it; nothing here
//! skips silently.

pub mod ports;
pub mod process;
pub mod textformat;

/// The reference data folder from `$OXPORTER_REFERENCE_DIR`, or `None` after printing the one allowed skip line.
pub fn reference_dir(test: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os("OXPORTER_REFERENCE_DIR") {
        Some(d) if !d.is_empty() => Some(std::path::PathBuf::from(d)),
        _ => {
            println!("SKIP {test}: OXPORTER_REFERENCE_DIR is not set (.ci/run sets it to ../shared/reference)");
            None
        }
    }
}
