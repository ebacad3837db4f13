//! `deploy/install.sh` run for real: into a temporary DESTDIR (so no root and no systemd are needed), with stand-in
//! binaries for every exporter that has a unit in `deploy/systemd/`. Checks the files it lays down, that running it
//! again changes nothing, that your settings survive, that `remove` takes away what `install` put there, and that bad
//! input stops it before it changes anything.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use oxporter_e2e::files_below;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use oxporter_testkit::process::require_binary;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Every exporter with a unit file, as install.sh sees them.
fn exporters() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join("deploy/systemd"))
        .expect("deploy/systemd")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_prefix("oxporter-")?.strip_suffix(".service")?.to_owned())
        })
        .collect();
    names.sort();
    assert!(names.contains(&"node".to_owned()), "deploy/systemd/oxporter-node.service is missing");
    names
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "install.sh failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

fn install_sh(args: &[&str]) -> Run {
    let bash = require_binary("bash", "bash");
    let out = Command::new(bash)
        .arg(repo().join("deploy/install.sh"))
        .args(args)
        // The caller's environment must not steer it: only the arguments count.
        .env_remove("DESTDIR")
        .env_remove("PREFIX")
        .output()
        .expect("run install.sh");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A directory of stand-in binaries `oxporter-<name>` that answer `--version`.
fn fake_binaries(dir: &Path, version: &str) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    for name in exporters() {
        let path = bin.join(format!("oxporter-{name}"));
        fs::write(&path, format!("#!/bin/sh\necho 'oxporter-{name} {version}'\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

/// Every file (not directory) below `root`, relative to it.
fn line_for<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?} in:\n{out}"))
}

#[test]
fn install_is_idempotent_and_remove_takes_it_all_away() {
    let tmp = tempfile::tempdir().unwrap();
    let bins = fake_binaries(tmp.path(), "0.0.0-test");
    let root = tmp.path().join("root");
    let (bins_s, root_s) = (bins.to_str().unwrap(), root.to_str().unwrap());

    // First install: everything is laid down, and it says what it skipped and why.
    let first = install_sh(&["install", "all", "--from", bins_s, "--destdir", root_s]);
    first.ok();
    assert!(line_for(&first.stdout, "creating user oxporter").trim_start().starts_with("skipped"));
    assert!(line_for(&first.stdout, "systemctl daemon-reload").contains("DESTDIR is set"), "{}", first.stdout);
    for name in exporters() {
        let svc = format!("oxporter-{name}");
        let bin = root.join("usr/local/bin").join(&svc);
        assert_eq!(fs::read(&bin).unwrap(), fs::read(bins.join(&svc)).unwrap());
        assert_eq!(mode(&bin), 0o755);
        let unit = root.join(format!("etc/systemd/system/{svc}.service"));
        assert_eq!(
            fs::read_to_string(&unit).unwrap(),
            fs::read_to_string(repo().join(format!("deploy/systemd/{svc}.service"))).unwrap(),
            "with the default prefix the unit is installed unchanged"
        );
        assert_eq!(mode(&unit), 0o644);
        let default = repo().join("deploy/default").join(&svc);
        if default.exists() {
            let env = root.join("etc/default").join(&svc);
            assert_eq!(fs::read(&env).unwrap(), fs::read(&default).unwrap());
            assert_eq!(mode(&env), 0o600, "may hold secrets; only systemd (root) reads it");
        }
    }
    let textfile = root.join("var/lib/oxporter/textfile");
    assert!(textfile.is_dir(), "node's textfile directory");
    assert_eq!(mode(&textfile), 0o755);

    // Second install: nothing changes, and it says so.
    let before = files_below(&root);
    let second = install_sh(&["install", "all", "--from", bins_s, "--destdir", root_s]);
    second.ok();
    for verb in ["installed", "updated", "created"] {
        assert!(
            !second.stdout.lines().any(|l| l.trim_start().starts_with(verb)),
            "{verb} on rerun:\n{}",
            second.stdout
        );
    }
    assert!(line_for(&second.stdout, "usr/local/bin/oxporter-node").trim_start().starts_with("unchanged"));
    assert!(line_for(&second.stdout, "etc/default/oxporter-node").trim_start().starts_with("kept"));
    assert_eq!(files_below(&root), before);

    // Your settings survive a reinstall; a new binary replaces the old one.
    let env = root.join("etc/default/oxporter-node");
    fs::write(&env, "ARGS=\"--collector.textfile.directory=/var/lib/oxporter/textfile\"\n").unwrap();
    let new_bins = fake_binaries(&tmp.path().join("v2"), "0.0.1-test");
    let third = install_sh(&["install", "node", "--from", new_bins.to_str().unwrap(), "--destdir", root_s]);
    third.ok();
    assert!(
        line_for(&third.stdout, "usr/local/bin/oxporter-node").trim_start().starts_with("updated"),
        "{}",
        third.stdout
    );
    assert!(fs::read_to_string(root.join("usr/local/bin/oxporter-node")).unwrap().contains("0.0.1-test"));
    assert!(fs::read_to_string(&env).unwrap().contains("textfile.directory"), "settings overwritten");

    // A textfile written by some job is not thrown away by a plain remove.
    fs::write(textfile.join("backup.prom"), "backup_last_success 1\n").unwrap();
    let removed = install_sh(&["remove", "node", "--destdir", root_s]);
    removed.ok();
    assert!(!root.join("usr/local/bin/oxporter-node").exists());
    assert!(!root.join("etc/systemd/system/oxporter-node.service").exists());
    assert!(line_for(&removed.stdout, "etc/default/oxporter-node").trim_start().starts_with("kept"));
    assert!(env.exists(), "a changed env file is kept without --purge");
    assert!(textfile.join("backup.prom").exists(), "a non-empty textfile directory is kept without --purge");
    assert!(line_for(&removed.stdout, "systemctl disable").trim_start().starts_with("skipped"));

    // --purge takes the rest; the other exporters' files are untouched.
    install_sh(&["remove", "node", "--purge", "--destdir", root_s]).ok();
    assert!(!env.exists());
    assert!(!root.join("var/lib/oxporter").exists(), "textfile directory and its empty parent removed");
    let again = install_sh(&["remove", "node", "--destdir", root_s]);
    again.ok();
    assert!(again.stdout.contains("not installed: nothing to remove"), "{}", again.stdout);

    // Removing everything leaves no file behind.
    install_sh(&["remove", "all", "--destdir", root_s]).ok();
    assert_eq!(files_below(&root), Vec::<String>::new());
}

#[test]
fn prefix_moves_the_binary_and_the_units_exec_start() {
    let tmp = tempfile::tempdir().unwrap();
    let bins = fake_binaries(tmp.path(), "0.0.0-test");
    let root = tmp.path().join("root");
    install_sh(&[
        "install",
        "node",
        "--from",
        bins.join("oxporter-node").to_str().unwrap(),
        "--destdir",
        root.to_str().unwrap(),
        "--prefix",
        "/opt/oxporter",
    ])
    .ok();
    assert!(root.join("opt/oxporter/bin/oxporter-node").is_file());
    assert!(!root.join("usr/local/bin/oxporter-node").exists());
    let unit = fs::read_to_string(root.join("etc/systemd/system/oxporter-node.service")).unwrap();
    let source = fs::read_to_string(repo().join("deploy/systemd/oxporter-node.service")).unwrap();
    let exec: Vec<&str> = unit.lines().filter(|l| l.starts_with("ExecStart=")).collect();
    assert_eq!(exec, ["ExecStart=/opt/oxporter/bin/oxporter-node $ARGS"]);
    // Nothing else of the unit changed.
    let strip = |s: &str| s.lines().filter(|l| !l.starts_with("ExecStart=")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&unit), strip(&source));
    install_sh(&["remove", "node", "--destdir", root.to_str().unwrap(), "--prefix", "/opt/oxporter"]).ok();
    assert_eq!(files_below(&root), Vec::<String>::new());
}

#[test]
fn bad_input_stops_it_before_it_changes_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let root_s = root.to_str().unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let broken = tmp.path().join("broken");
    fs::create_dir_all(&broken).unwrap();
    let bin = broken.join("oxporter-node");
    fs::write(&bin, "#!/bin/sh\necho 'cannot execute binary file: Exec format error' >&2\nexit 126\n").unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();

    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage"),
        (&["upgrade", "node"], "unknown action 'upgrade'"),
        (&["install"], "name an exporter"),
        (&["install", "nosuch", "--destdir", root_s], "unknown exporter 'nosuch'"),
        (&["install", "node", "--bogus", "--destdir", root_s], "unknown option '--bogus'"),
        (&["install", "node", "--from", empty.to_str().unwrap(), "--destdir", root_s], "is not an executable file"),
        (&["install", "node", "--from", broken.to_str().unwrap(), "--destdir", root_s], "--version failed"),
        (&["install", "node", "--prefix", "relative/dir", "--destdir", root_s], "absolute path"),
    ];
    for (args, message) in cases {
        let run = install_sh(args);
        assert_ne!(run.code, Some(0), "{args:?} succeeded:\n{}", run.stdout);
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.contains(message), "{args:?}: expected {message:?} in:\n{all}");
        let left = if root.exists() { files_below(&root) } else { Vec::new() };
        assert_eq!(left, Vec::<String>::new(), "{args:?} left files behind");
    }
}
