//! The shipped build (`scripts/build-release`: static glibc, not position-independent) works: built here with the
//! same script and flags (in the dev profile, which builds faster than release and links the same way), the binary
//! has no dynamic loader, resolves `localhost` for its listen address without the shared glibc's NSS modules, and
//! serves `/metrics`, gzipped too. It was linked through `scripts/link-order-cc` with oxporter-node's link order
//! resolved against the objects (by name: a dev build's symbols carry other hashes than the list's release ones).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use oxporter_testkit::exporter::workspace_root;
use oxporter_testkit::http;
use oxporter_testkit::ports::{free_port, wait_for_port};
use oxporter_testkit::process::ChildGuard;

/// Builds oxporter-node with `scripts/build-release` in the dev profile and returns the binary.
fn build_static_node() -> PathBuf {
    let root = workspace_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/build-release"))
        .args(["-q", "-p", "oxporter-node"])
        .env("OXPORTER_PROFILE", "dev")
        .env_remove("OXPORTER_DYNAMIC")
        .current_dir(&root)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/build-release");
    assert!(out.status.success(), "scripts/build-release failed");
    let dir = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned();
    let bin = PathBuf::from(dir).join("oxporter-node");
    assert!(bin.is_file(), "scripts/build-release printed no binary directory: {}", bin.display());
    bin
}

/// The ELF program header types of the file at `path` (64-bit little-endian only, which is what we build here).
fn program_header_types(path: &std::path::Path) -> Vec<u32> {
    let elf = std::fs::read(path).expect("read the binary");
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF file");
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
    (0..phnum).map(|i| u32::from_le_bytes(elf[phoff + i * phentsize..][..4].try_into().unwrap())).collect()
}

#[test]
fn the_static_build_serves_and_resolves_localhost() {
    let bin = build_static_node();
    let deps = bin.parent().expect("binary directory").join("deps");
    let orders: Vec<_> = std::fs::read_dir(&deps)
        .expect("deps directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".link-order") && p.to_string_lossy().contains("oxporter_node-"))
        .collect();
    assert!(!orders.is_empty(), "no resolved link order beside the binary in {}", deps.display());
    for order in &orders {
        let text = std::fs::read_to_string(order).expect("read the resolved link order");
        assert!(text.lines().count() > 500, "{} resolved only {} symbols", order.display(), text.lines().count());
        assert!(text.contains("oxporter_core"), "{}", order.display());
    }
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    let types = program_header_types(&bin);
    assert!(!types.contains(&PT_INTERP), "{} asks for a dynamic loader: not static", bin.display());
    assert!(!types.contains(&PT_DYNAMIC), "{} has a dynamic section: not static", bin.display());

    let port = free_port();
    let mut cmd = Command::new(&bin);
    // `localhost` must resolve through /etc/hosts, with no NSS module loaded.
    cmd.args([
        &format!("--web.listen-address=localhost:{port}"),
        "--collector.disable-defaults",
        "--collector.loadavg",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    let _child = ChildGuard::spawn("oxporter-node (static)", &mut cmd);
    wait_for_port(port, Duration::from_secs(30), "the static oxporter-node");

    let url = format!("http://127.0.0.1:{port}/metrics");
    let plain = http::must_get(&url, &[]).text();
    assert!(plain.contains("\nnode_load1 "), "{plain}");
    let zipped = http::must_get(&url, &[("Accept-Encoding", "gzip")]);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(zipped.text().contains("\nnode_load1 "), "the gzipped body is not the metrics");
}
