//! The systemd units in `deploy/systemd/`, checked as installed by `deploy/install.sh`: `systemd-analyze verify`
//! accepts them without a single warning, `systemd-analyze security` rates them well, and each keeps the contract
//! install.sh, the docs and the Ansible role rely on. Needs no running systemd: both verbs work offline on a
//! directory tree (Debian package `systemd`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use oxporter_testkit::process::require_binary;

/// Highest overall exposure `systemd-analyze security` may report, in its tenths (30 = "3.0"). oxporter-node scores
/// 2.1; the rest is what it must keep to read /proc and /sys and serve HTTP.
const MAX_EXPOSURE: u32 = 30;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn units() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(repo().join("deploy/systemd"))
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let file = path.file_name()?.to_str()?.to_owned();
            let name = file.strip_prefix("oxporter-")?.strip_suffix(".service")?.to_owned();
            Some((name, fs::read_to_string(&path).ok()?))
        })
        .collect();
    out.sort();
    assert!(out.iter().any(|(n, _)| n == "node"), "deploy/systemd/oxporter-node.service is missing");
    out
}

/// Values of `key` in the unit (comments skipped), in order.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .collect()
}

/// A file-system root with the exporters installed by install.sh (stand-in binaries) and systemd's own units, so
/// that `--root` resolves `multi-user.target`, `network-online.target` and the binaries.
fn installed_root(tmp: &Path) -> PathBuf {
    let bins = tmp.join("bin");
    fs::create_dir_all(&bins).unwrap();
    for (name, _) in units() {
        let p = bins.join(format!("oxporter-{name}"));
        fs::write(&p, format!("#!/bin/sh\necho 'oxporter-{name} 0.0.0-test'\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let root = tmp.join("root");
    let out = Command::new(require_binary("bash", "bash"))
        .arg(repo().join("deploy/install.sh"))
        .args(["install", "all", "--from", bins.to_str().unwrap(), "--destdir", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "install.sh: {}", String::from_utf8_lossy(&out.stderr));

    let system_units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("multi-user.target").exists())
        .expect("systemd's unit directory (Debian package `systemd`)");
    let dest = root.join("usr/lib/systemd/system");
    fs::create_dir_all(&dest).unwrap();
    for e in fs::read_dir(system_units).unwrap() {
        let e = e.unwrap();
        let meta = fs::metadata(e.path());
        // Plain unit files are enough for verify; symlinked aliases and .wants/ directories are not needed.
        if matches!(meta, Ok(m) if m.is_file()) && e.file_type().unwrap().is_file() {
            fs::copy(e.path(), dest.join(e.file_name())).unwrap();
        }
    }
    root
}

#[test]
fn units_verify_without_warnings_and_rate_well() {
    let analyze = require_binary("systemd-analyze", "systemd");
    let tmp = tempfile::tempdir().unwrap();
    let root = installed_root(tmp.path());
    for (name, _) in units() {
        let svc = format!("oxporter-{name}.service");
        let out = Command::new(&analyze)
            .args(["verify", "--man=no", "--root"])
            .arg(&root)
            .arg(format!("/etc/systemd/system/{svc}"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // verify exits 0 even for unknown keys or bad values; it only warns. Any warning is a failure here.
        assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify {svc}:\n{stderr}");

        let out = Command::new(&analyze)
            .args(["security", "--offline=yes", &format!("--threshold={MAX_EXPOSURE}"), "--root"])
            .arg(&root)
            .arg(&svc)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let overall = stdout.lines().find(|l| l.contains("Overall exposure level")).unwrap_or("(no overall line)");
        assert!(
            out.status.success(),
            "{svc}: {overall}: above {}.{} \n{stdout}{}",
            MAX_EXPOSURE / 10,
            MAX_EXPOSURE % 10,
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{svc}: {overall}");
    }
}

/// What install.sh, the Ansible role and docs/deploy.md rely on, for every exporter's unit.
#[test]
fn units_keep_the_common_contract() {
    for (name, unit) in units() {
        let svc = format!("oxporter-{name}");
        let one = |key: &str| -> &str {
            let v = values(&unit, key);
            assert_eq!(v.len(), 1, "{svc}: expected exactly one {key}=, found {v:?}");
            v[0]
        };
        assert_eq!(one("User"), "oxporter", "{svc}");
        assert_eq!(one("Group"), "oxporter", "{svc}");
        assert_eq!(one("ExecStart"), format!("/usr/local/bin/{svc} $ARGS"), "{svc}: install.sh rewrites this prefix");
        assert_eq!(one("EnvironmentFile"), format!("-/etc/default/{svc}"), "{svc}");
        assert_eq!(one("Restart"), "on-failure", "{svc}");
        assert_eq!(one("NoNewPrivileges"), "yes", "{svc}");
        assert_eq!(one("ProtectSystem"), "strict", "{svc}");
        assert!(["read-only", "yes", "tmpfs"].contains(&one("ProtectHome")), "{svc}");
        assert_eq!(one("CapabilityBoundingSet"), "", "{svc}: no capabilities");
        assert_eq!(one("PrivateTmp"), "yes", "{svc}");
        assert_eq!(one("WantedBy"), "multi-user.target", "{svc}");
        assert!(!values(&unit, "SystemCallFilter").is_empty(), "{svc}: no system call filter");
    }
}

/// oxporter-node must still see what node_exporter users expect; these directives would hide it.
#[test]
fn node_unit_hides_nothing_the_collectors_read() {
    let unit = fs::read_to_string(repo().join("deploy/systemd/oxporter-node.service")).unwrap();
    let forbidden = [
        ("ProtectClock", "yes", "forbids adjtimex(2): the timex collector and the clock alerts break"),
        ("ProtectProc", "invisible", "hides /proc/1/mountinfo (every file system looks read-only) and processes"),
        ("ProtectProc", "noaccess", "hides /proc/1/mountinfo and other processes"),
        ("ProcSubset", "pid", "hides /proc/meminfo, /proc/stat, /proc/net"),
        ("ProtectHome", "yes", "statfs() of a separate /home reports the wrong size"),
        ("ProtectHome", "tmpfs", "statfs() of a separate /home reports the wrong size"),
        ("PrivateNetwork", "yes", "netdev/netclass would see only a loopback device"),
        ("ProtectHostname", "yes", "node_uname_info would not follow a host rename"),
    ];
    for (key, value, why) in forbidden {
        assert!(!values(&unit, key).contains(&value), "{key}={value} in oxporter-node.service: {why}");
    }
    // The system call filter must re-allow adjtimex after removing @privileged (which contains @clock).
    let filters = values(&unit, "SystemCallFilter");
    let removes_privileged = filters.iter().position(|f| f.starts_with('~') && f.contains("@privileged"));
    let allows_adjtimex = filters.iter().rposition(|f| !f.starts_with('~') && f.split(' ').any(|s| s == "adjtimex"));
    match (removes_privileged, allows_adjtimex) {
        (Some(r), Some(a)) => assert!(a > r, "adjtimex is allowed before ~@privileged removes it again"),
        (None, Some(_)) => {}
        (_, None) => panic!("SystemCallFilter does not allow adjtimex: the timex collector would fail"),
    }
    let families = values(&unit, "RestrictAddressFamilies").join(" ");
    for family in ["AF_INET", "AF_INET6", "AF_UNIX"] {
        assert!(families.split(' ').any(|f| f == family), "RestrictAddressFamilies lacks {family}");
    }
    let ro = values(&unit, "ReadOnlyPaths").join(" ");
    for path in ["/proc", "/sys", "-/var/lib/oxporter/textfile"] {
        assert!(ro.split(' ').any(|p| p == path), "ReadOnlyPaths lacks {path}");
    }
}

/// The variables systemd's `EnvironmentFile=` sets from `text`: `KEY=value` lines, comments and blank lines skipped,
/// one pair of surrounding double quotes removed (enough for the files in deploy/default/).
fn environment_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            (k.trim().to_owned(), v.to_owned())
        })
        .collect()
}

/// oxporter-redis's password comes from the environment file (root-only) or a password file it names, never from
/// the command line: the unit and the shipped flags file say so, and the binary started the way systemd starts it
/// (ARGS split at whitespace, the file's variables in the environment) reaches a Redis that requires a password,
/// with the password nowhere in its command line, its log or its metrics.
#[test]
fn redis_unit_takes_the_password_from_the_environment_file_only() {
    use oxporter_testkit::redis::RedisServer;

    let unit = fs::read_to_string(repo().join("deploy/systemd/oxporter-redis.service")).unwrap();
    assert_eq!(values(&unit, "ExecStart"), ["/usr/local/bin/oxporter-redis $ARGS"], "flags only through $ARGS");
    assert_eq!(values(&unit, "EnvironmentFile"), ["-/etc/default/oxporter-redis"]);
    let families = values(&unit, "RestrictAddressFamilies").join(" ");
    for family in ["AF_INET", "AF_INET6", "AF_UNIX"] {
        assert!(
            families.split(' ').any(|f| f == family),
            "RestrictAddressFamilies lacks {family} (unix:// needs AF_UNIX)"
        );
    }
    assert!(
        !values(&unit, "ProcSubset").contains(&"pid"),
        "ProcSubset=pid hides /proc/stat (process_start_time_seconds)"
    );

    let shipped = fs::read_to_string(repo().join("deploy/default/oxporter-redis")).unwrap();
    let vars = environment_file(&shipped);
    let args = &vars.iter().find(|(k, _)| k == "ARGS").expect("ARGS in deploy/default/oxporter-redis").1;
    assert!(!args.contains("password"), "a password flag in the shipped ARGS: {args}");
    assert!(
        vars.iter().all(|(k, _)| k == "ARGS"),
        "only ARGS is set by default (secrets are commented examples): {vars:?}"
    );
    for var in ["REDIS_PASSWORD=", "REDIS_PASSWORD_FILE=", "REDIS_USER="] {
        assert!(shipped.lines().any(|l| l.starts_with(&format!("#{var}"))), "no commented example of {var}");
    }

    // As installed, then edited the way the comments in the file say.
    let tmp = tempfile::tempdir().unwrap();
    let root = installed_root(tmp.path());
    let env_path = root.join("etc/default/oxporter-redis");
    assert_eq!(fs::metadata(&env_path).unwrap().permissions().mode() & 0o777, 0o600, "the file holds the password");
    let secret = "s3cret-in-env-file";
    let redis = RedisServer::start_with(&["--requirepass", secret]);
    let edited = shipped
        .replace("ARGS=\"--redis.addr=redis://localhost:6379\"", &format!("ARGS=\"--redis.addr={}\"", redis.url()))
        .replace("#REDIS_PASSWORD=\n", &format!("REDIS_PASSWORD={secret}\n"));
    fs::write(&env_path, &edited).unwrap();
    let vars = environment_file(&fs::read_to_string(&env_path).unwrap());
    let args = vars.iter().find(|(k, _)| k == "ARGS").unwrap().1.clone();
    assert!(vars.iter().any(|(k, v)| k == "REDIS_PASSWORD" && v == secret), "{vars:?}");

    let mut builder =
        oxporter_testkit::exporter::exporter("oxporter-redis", "oxporter-redis").args(args.split_whitespace());
    for (k, v) in vars.iter().filter(|(k, _)| k != "ARGS") {
        builder = builder.env(k, v);
    }
    let exporter = builder.start();
    let body = exporter.scrape();
    assert!(body.lines().any(|l| l == "redis_up 1"), "the password from the environment file was not used:\n{body}");
    let cmdline = fs::read(format!("/proc/{}/cmdline", exporter.pid())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(secret), "the password is on the command line");
    assert!(!body.contains(secret) && !exporter.log().contains(secret), "the password leaked");
}
