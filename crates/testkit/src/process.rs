//! Child processes that are killed when the test drops them, and required binaries.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

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

    /// Waits up to `timeout` for the process to exit by itself; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => return Some(status),
                Some(Ok(None)) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                _ => return None,
            }
        }
    }

    /// The process's name as given to [`ChildGuard::spawn`].
    pub fn name(&self) -> &str {
        &self.name
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

/// Runs `cmd` to completion with stdout and stderr captured, killing it and panicking with `what` and
/// what it printed if it runs longer than `timeout`. For binaries that are expected to exit by themselves
/// (`--version`, bad flags).
pub fn run_with_timeout(what: &str, cmd: &mut Command, timeout: Duration) -> Output {
    let dir = crate::tempdir("run");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let open = |p: &std::path::Path| match std::fs::File::create(p) {
        Ok(f) => f,
        Err(e) => panic!("creating {}: {e}", p.display()),
    };
    cmd.stdin(Stdio::null()).stdout(open(&out_path)).stderr(open(&err_path));
    let mut guard = ChildGuard::spawn(what, cmd);
    let status = guard.wait_timeout(timeout);
    let stdout = std::fs::read(&out_path).unwrap_or_default();
    let stderr = std::fs::read(&err_path).unwrap_or_default();
    match status {
        Some(status) => Output { status, stdout, stderr },
        None => panic!(
            "{what} ({cmd:?}) still running after {timeout:?}; it printed:\n{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}
