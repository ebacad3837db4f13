// Records the git revision and rustc version for `--version` and `<ns>_exporter_build_info`.
use std::process::Command;

/// The trimmed stdout of a command that succeeded, if any.
fn output(program: &str, args: &[&str]) -> Option<String> {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
}

fn main() {
    let revision = output("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let branch = output("git", &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = output(&rustc, &["--version"]).unwrap_or_else(|| "rustc unknown".into());
    println!("cargo:rustc-env=OXPORTER_GIT_REVISION={revision}");
    println!("cargo:rustc-env=OXPORTER_GIT_BRANCH={branch}");
    println!("cargo:rustc-env=OXPORTER_RUSTC_VERSION={rustc_version}");
    println!("cargo:rerun-if-changed=build.rs");
    // Rebuild when HEAD moves: HEAD itself (branch switch) and the ref it points to (new commit). `--git-path`
    // resolves both in linked worktrees too, where refs live in the main repository's folder; a file that does
    // not exist (a packed ref) must not be named, or cargo would consider the build script stale on every build.
    let git_path = |p: &str| {
        output("git", &["rev-parse", "--git-path", p]).filter(|s| !s.is_empty() && std::path::Path::new(s).exists())
    };
    if let Some(head) = git_path("HEAD") {
        println!("cargo:rerun-if-changed={head}");
        if let Ok(content) = std::fs::read_to_string(&head)
            && let Some(r) = content.trim().strip_prefix("ref: ")
        {
            for p in [git_path(r), git_path("packed-refs")].into_iter().flatten() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
}
