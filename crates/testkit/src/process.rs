//! Child processes that are killed when the test drops them, and required binaries.

use std::path::PathBuf;
use std::process::{Child, Command};

/// Finds `binary` on `PATH` (or at an absolute path), or panics naming the Debian package to install.
pub fn require_binary(binary: &str, debian_package: &str) -> PathBuf {
    let candidate = PathBuf::from(binary);
    if candidate.is_absolute() && candidate.exists() {
        return candidate;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(binary);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "required binary `{binary}` not found: install the Debian package `{debian_package}` \
         (the README's test command installs every test dependency)"
    )
}

/// A running child process, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    /// Spawns `cmd`, panicking with `name` if it cannot start.
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        match cmd.spawn() {
            Ok(child) => ChildGuard { child: Some(child), name: name.to_owned() },
            Err(e) => panic!("starting {name} ({cmd:?}): {e}"),
        }
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal by number (e.g. `libc`'s SIGSTOP = 19, SIGCONT = 18) using `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status();
        assert!(matches!(status, Ok(s) if s.success()), "kill -{signal} {} ({}) failed", self.pid(), self.name);
    }

    /// Kills the process now and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
