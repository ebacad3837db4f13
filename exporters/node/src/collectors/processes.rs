//! `processes` (opt-in): process and thread counts by state from `/proc/<pid>/stat` and `/proc/<pid>/task`, plus
//! the kernel's PID and thread limits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use super::entropy::parse_number;
use super::read_file;
use crate::args::Args;

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Processes { proc: args.procfs.clone() }))
}

struct Processes {
    proc: PathBuf,
}

/// The fields of `/proc/<pid>/stat` this collector needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// One-letter state (`R`, `S`, `D`, `Z`, `I`, …).
    pub state: String,
    /// Number of threads.
    pub num_threads: u64,
}

/// Parses `/proc/<pid>/stat`. The command name is in parentheses and may itself contain `)` and spaces, so the
/// fields are counted from the last `)`.
pub fn parse_stat(content: &str) -> Result<Stat, CollectError> {
    let bad = |what: &str| CollectError::Parse(format!("stat: {what}"));
    let close = content.rfind(')').ok_or_else(|| bad("no command name"))?;
    let rest: Vec<&str> = content[close + 1..].split_whitespace().collect();
    // After the name: state(3) ppid(4) … num_threads(20).
    let state = rest.first().ok_or_else(|| bad("no state"))?;
    let threads = rest.get(17).ok_or_else(|| bad("too few fields"))?;
    Ok(Stat { state: (*state).to_owned(), num_threads: threads.parse().map_err(|_| bad("invalid num_threads"))? })
}

/// Whether an error means the process went away while we looked (ENOENT, ESRCH).
fn vanished(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(3)
}

fn numeric_entries(dir: &Path) -> std::io::Result<Vec<u64>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect())
}

/// Reads a `stat` file into `buf` with plain read(2) calls: no size probe (procfs reports 0), no new allocation
/// per file, and no read for end-of-file after a short read (procfs produces a `stat` file whole and hands it out
/// in full to a large enough buffer). Hundreds of these run per scrape.
fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    buf.clear();
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(1024);
        }
        let start = buf.len();
        buf.resize(buf.capacity(), 0);
        let n = f.read(&mut buf[start..]);
        let got = *n.as_ref().unwrap_or(&0);
        buf.truncate(start + got);
        n?;
        // A stat line is a few hundred bytes; anything this long is not one.
        if got == 0 || start + got < buf.capacity() || buf.len() > 64 * 1024 {
            return Ok(());
        }
    }
}

fn read_stat(path: &Path, buf: &mut Vec<u8>) -> Result<Option<Stat>, CollectError> {
    match read_into(path, buf) {
        Ok(()) => parse_stat(&String::from_utf8_lossy(buf)).map(Some),
        Err(e) if vanished(&e) => Ok(None),
        Err(e) => Err(CollectError::io(path.display(), e)),
    }
}

/// Counts of processes and threads by state.
#[derive(Debug, Default, PartialEq)]
pub struct Counts {
    /// Number of processes.
    pub pids: u64,
    /// Sum of their thread counts.
    pub threads: u64,
    /// Processes by state.
    pub states: BTreeMap<String, u64>,
    /// Threads by state.
    pub thread_states: BTreeMap<String, u64>,
}

/// Walks a procfs tree.
pub fn count(proc: &Path) -> Result<Counts, CollectError> {
    let mut c = Counts::default();
    let pids = numeric_entries(proc)
        .map_err(|e| CollectError::io(format!("unable to list all processes in {}", proc.display()), e))?;
    let mut buf = Vec::with_capacity(1024);
    for pid in pids {
        let dir = proc.join(pid.to_string());
        let Some(stat) = read_stat(&dir.join("stat"), &mut buf)? else { continue };
        c.pids += 1;
        *c.states.entry(stat.state.clone()).or_default() += 1;
        c.threads += stat.num_threads;
        // A single-threaded process's one thread is the process itself, whose state we have: no need to list its
        // task directory (most processes, and every kernel thread, are single-threaded).
        if stat.num_threads <= 1 {
            *c.thread_states.entry(stat.state.clone()).or_default() += 1;
            continue;
        }
        let tids = match numeric_entries(&dir.join("task")) {
            Ok(t) => t,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(CollectError::io(format!("unable to list all threads for pid {pid}"), e)),
        };
        for tid in tids {
            if tid == pid {
                *c.thread_states.entry(stat.state.clone()).or_default() += 1;
                continue;
            }
            if let Some(t) = read_stat(&dir.join("task").join(tid.to_string()).join("stat"), &mut buf)? {
                *c.thread_states.entry(t.state).or_default() += 1;
            }
        }
    }
    Ok(c)
}

impl BlockingCollector for Processes {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let c = count(&self.proc)?;
        out.gauge("node_processes_threads", "Allocated threads in system").sample(&[], c.threads as f64);
        let max_threads =
            parse_number(&read_file(&self.proc.join("sys/kernel/threads-max"))?).map_err(CollectError::Parse)?;
        out.gauge("node_processes_max_threads", "Limit of threads in the system").sample(&[], max_threads);
        let fam = out.gauge("node_processes_state", "Number of processes in each state.");
        for (state, n) in &c.states {
            fam.sample(&[("state", state)], *n as f64);
        }
        let fam = out.gauge("node_processes_threads_state", "Number of threads in each state.");
        for (state, n) in &c.thread_states {
            fam.sample(&[("thread_state", state)], *n as f64);
        }
        let pid_max = parse_number(&read_file(&self.proc.join("sys/kernel/pid_max"))?).map_err(CollectError::Parse)?;
        out.gauge("node_processes_pids", "Number of PIDs").sample(&[], c.pids as f64);
        out.gauge("node_processes_max_processes", "Number of max PIDs limit").sample(&[], pid_max);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let s = parse_stat("1 (systemd) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 5 1 2\n").expect("parses");
        assert_eq!(s, Stat { state: "S".into(), num_threads: 1 });
        let s = parse_stat("42 (a) b) (c) R 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 7 0 1 1 1\n").expect("odd comm");
        assert_eq!(s, Stat { state: "R".into(), num_threads: 7 });
        for bad in ["", "1 (x", "1 (x) S 1 2", "1 (x) S 0 1 1 0 -1 4 1 2 3 4 5 6 7 8 20 0 many 0"] {
            assert!(parse_stat(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn walks_a_fake_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        let stat =
            |state: &str, threads: u32| format!("1 (x) {state} 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 {threads} 0 1 1 1\n");
        for (pid, state, threads, tids) in [(1u32, "S", 2u32, vec![(1u32, "S"), (5, "R")]), (7, "Z", 1, vec![(7, "Z")])]
        {
            std::fs::create_dir_all(p.join(format!("{pid}/task"))).expect("mkdir");
            std::fs::write(p.join(format!("{pid}/stat")), stat(state, threads)).expect("write");
            for (tid, ts) in tids {
                std::fs::create_dir_all(p.join(format!("{pid}/task/{tid}"))).expect("mkdir");
                std::fs::write(p.join(format!("{pid}/task/{tid}/stat")), stat(ts, 1)).expect("write");
            }
        }
        // A process that vanished between listing and reading.
        std::fs::create_dir_all(p.join("99")).expect("mkdir");
        std::fs::create_dir_all(p.join("self")).expect("mkdir");
        let c = count(p).expect("counts");
        assert_eq!(c.pids, 2);
        assert_eq!(c.threads, 3);
        assert_eq!(c.states.get("S"), Some(&1));
        assert_eq!(c.states.get("Z"), Some(&1));
        assert_eq!(c.thread_states.get("R"), Some(&1));
        assert_eq!(c.thread_states.get("S"), Some(&1));
    }
}
