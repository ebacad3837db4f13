//! `deploy/ansible/`: the example playbook passes `ansible-playbook --syntax-check`, and the `oxporter` role run for
//! real against this machine (connection local, every path below a temporary `oxporter_root`, no user and no
//! systemd) lays down the same unit install.sh does, an environment file with the flags and safely quoted secrets,
//! changes nothing the second time, and `oxporter_state=absent` removes it all.
//! Needs `ansible-playbook` (pip package `ansible-core`; the README's test command installs it).

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

/// Runs ansible-playbook; returns stdout, failing the test on a non-zero exit.
fn ansible(tmp: &Path, args: &[&str]) -> String {
    let bin = require_binary("ansible-playbook", "ansible-core");
    let out = Command::new(bin)
        .args(args)
        // The module runs under the same Python as ansible-playbook (no interpreter discovery surprises).
        .args(["-e", "ansible_python_interpreter={{ ansible_playbook_python }}"])
        .env("ANSIBLE_ROLES_PATH", repo().join("deploy/ansible/roles"))
        .env("ANSIBLE_HOME", tmp.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", tmp.join("ansible-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        // Modules are piped to Python instead of copied to a temporary file first: a third faster.
        .env("ANSIBLE_PIPELINING", "1")
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false")
        .current_dir(tmp)
        .output()
        .expect("run ansible-playbook");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ansible-playbook {args:?}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// `changed=N` of the play recap.
fn changed(stdout: &str) -> u32 {
    let recap = stdout.lines().rev().find(|l| l.contains("changed=")).expect("no PLAY RECAP");
    let n = recap.split("changed=").nth(1).unwrap().split_whitespace().next().unwrap();
    n.parse().unwrap()
}

#[test]
fn example_playbook_passes_syntax_check() {
    let tmp = tempfile::tempdir().unwrap();
    let inventory = tmp.path().join("inventory.ini");
    fs::write(&inventory, "localhost ansible_connection=local\n[redis]\nlocalhost\n").unwrap();
    let playbook = repo().join("deploy/ansible/playbook.yml");
    let out = ansible(tmp.path(), &["--syntax-check", "-i", inventory.to_str().unwrap(), playbook.to_str().unwrap()]);
    assert!(out.contains("playbook:"), "{out}");
}

#[test]
fn role_installs_the_hardened_unit_and_removes_it_again() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let binary = tmp.path().join("oxporter-node");
    fs::write(&binary, "#!/bin/sh\necho 'oxporter-node 0.0.0-test'\n").unwrap();
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    let play = tmp.path().join("play.yml");
    fs::write(
        &play,
        format!(
            r#"- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: oxporter
      vars:
        oxporter_exporter: node
        oxporter_root: "{root}"
        oxporter_binary_src: "{binary}"
        oxporter_prefix: /opt/oxporter
        oxporter_manage_user: false
        oxporter_manage_service: false
        oxporter_args: ["--collector.systemd", "--collector.textfile.directory=/var/lib/oxporter/textfile"]
        oxporter_environment:
          API_TOKEN: 'say "hi" \ bye'
"#,
            root = root.display(),
            binary = binary.display()
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["-i", "localhost,", play.to_str().unwrap()];
        args.extend_from_slice(extra);
        ansible(tmp.path(), &args)
    };

    let first = run(&[]);
    assert!(changed(&first) > 0, "{first}");
    assert_eq!(
        files_below(&root),
        ["etc/default/oxporter-node", "etc/systemd/system/oxporter-node.service", "opt/oxporter/bin/oxporter-node"]
    );
    assert_eq!(fs::read(root.join("opt/oxporter/bin/oxporter-node")).unwrap(), fs::read(&binary).unwrap());
    assert!(root.join("var/lib/oxporter/textfile").is_dir());

    // The unit is deploy/systemd's, below an "Ansible managed" header, with ExecStart following the prefix.
    let unit = fs::read_to_string(root.join("etc/systemd/system/oxporter-node.service")).unwrap();
    let source = fs::read_to_string(repo().join("deploy/systemd/oxporter-node.service")).unwrap();
    let body = unit.split_once("\n\n").map(|(_, b)| b).expect("header, blank line, unit");
    let expected = source.replace("ExecStart=/usr/local/bin/", "ExecStart=/opt/oxporter/bin/");
    assert_eq!(body.trim_end(), expected.trim_end());
    assert!(unit.starts_with('#') && unit.contains("Ansible managed"), "{unit}");

    // Flags on one ARGS line; secrets quoted the way systemd's EnvironmentFile= reads them; root-only.
    let env_path = root.join("etc/default/oxporter-node");
    let env = fs::read_to_string(&env_path).unwrap();
    assert!(
        env.lines()
            .any(|l| l == r#"ARGS="--collector.systemd --collector.textfile.directory=/var/lib/oxporter/textfile""#),
        "{env}"
    );
    assert!(env.lines().any(|l| l == r#"API_TOKEN="say \"hi\" \\ bye""#), "{env}");
    assert_eq!(fs::metadata(&env_path).unwrap().permissions().mode() & 0o777, 0o600);

    let second = run(&[]);
    assert_eq!(changed(&second), 0, "second run changed something:\n{second}");

    run(&["-e", "oxporter_state=absent"]);
    assert_eq!(files_below(&root), Vec::<String>::new());
    assert!(!root.join("var/lib/oxporter/textfile").exists(), "empty textfile directory left behind");
}

#[test]
fn role_refuses_flags_systemd_would_split() {
    let tmp = tempfile::tempdir().unwrap();
    let play = tmp.path().join("play.yml");
    fs::write(
        &play,
        format!(
            "- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles:\n    - role: oxporter\n      vars:\n        \
             oxporter_root: \"{}\"\n        oxporter_manage_user: false\n        oxporter_manage_service: false\n        \
             oxporter_args: [\"--collector.filesystem.mount-points-exclude=^/(a b)$\"]\n",
            tmp.path().join("root").display()
        ),
    )
    .unwrap();
    let bin = require_binary("ansible-playbook", "ansible-core");
    let out = Command::new(bin)
        .args([
            "-i",
            "localhost,",
            play.to_str().unwrap(),
            "-e",
            "ansible_python_interpreter={{ ansible_playbook_python }}",
        ])
        .env("ANSIBLE_ROLES_PATH", repo().join("deploy/ansible/roles"))
        .env("ANSIBLE_HOME", tmp.path().join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", tmp.path().join("ansible-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a flag with a space was accepted:\n{stdout}");
    assert!(stdout.contains("must not contain whitespace"), "{stdout}");
    assert!(!tmp.path().join("root").exists(), "files were written before the check");
}
