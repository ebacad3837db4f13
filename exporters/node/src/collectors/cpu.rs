//! `cpu`: CPU time per CPU and mode from `/proc/stat`, and from `/proc/cpuinfo` and `/sys/devices/system/cpu`
//! the info, frequency, flag and bug metrics (behind `--collector.cpu.info`), isolated and online CPUs and
//! thermal throttle counters.
//!
//! As node_exporter does, the collector remembers the last values per CPU so a counter the kernel reports lower
//! than before (seen after CPU hotplug and with some hypervisors) never goes backwards; an idle counter that
//! drops by 3 s or more is taken as a reset of that CPU.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};
use regex::Regex;

use super::stat::{self, CpuTimes};
use super::{numbered_entries, parse_cpu_list, parse_go_uint, read_file, read_optional};
use crate::args::Args;

/// The `cpu` collector's own flags (node_exporter's names).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CpuArgs {
    /// Enables metric node_cpu_guest_seconds_total (default: enabled; --no-collector.cpu.guest disables).
    #[arg(
        id = "collector.cpu.guest",
        long = "collector.cpu.guest",
        overrides_with = "no-collector.cpu.guest",
        help_heading = "Collector cpu"
    )]
    cpu_guest: bool,
    #[arg(
        id = "no-collector.cpu.guest",
        long = "no-collector.cpu.guest",
        overrides_with = "collector.cpu.guest",
        hide = true
    )]
    no_cpu_guest: bool,
    /// Enables metric cpu_info (node_cpu_info, node_cpu_frequency_hertz).
    #[arg(
        id = "collector.cpu.info",
        long = "collector.cpu.info",
        overrides_with = "no-collector.cpu.info",
        help_heading = "Collector cpu"
    )]
    cpu_info: bool,
    #[arg(
        id = "no-collector.cpu.info",
        long = "no-collector.cpu.info",
        overrides_with = "collector.cpu.info",
        hide = true
    )]
    no_cpu_info: bool,
    /// Filter the `flags` field in cpuInfo with a value that must be a regular expression (implies
    /// --collector.cpu.info).
    #[arg(
        id = "collector.cpu.info.flags-include",
        long = "collector.cpu.info.flags-include",
        value_name = "REGEX",
        help_heading = "Collector cpu"
    )]
    pub cpu_flags_include: Option<String>,
    /// Filter the `bugs` field in cpuInfo with a value that must be a regular expression (implies
    /// --collector.cpu.info).
    #[arg(
        id = "collector.cpu.info.bugs-include",
        long = "collector.cpu.info.bugs-include",
        value_name = "REGEX",
        help_heading = "Collector cpu"
    )]
    pub cpu_bugs_include: Option<String>,
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    let a = &args.cpu;
    let compile = |flag: &str, v: &Option<String>| -> Result<Option<Regex>, BuildError> {
        match v.as_deref() {
            None | Some("") => Ok(None),
            Some(re) => Regex::new(re)
                .map(Some)
                .map_err(|e| format!("--collector.cpu.info.{flag}-include must be a regular expression: {e}").into()),
        }
    };
    let flags_include = compile("flags", &a.cpu_flags_include)?;
    let bugs_include = compile("bugs", &a.cpu_bugs_include)?;
    let mut info = a.cpu_info && !a.no_cpu_info;
    if !info && (flags_include.is_some() || bugs_include.is_some()) {
        info = true;
        tracing::info!(
            "--collector.cpu.info has been set to `true` because you set --collector.cpu.info.flags-include or \
             --collector.cpu.info.bugs-include"
        );
    }
    Ok(blocking(Cpu {
        stat: args.proc_path("stat"),
        cpuinfo: args.proc_path("cpuinfo"),
        cpu_dir: args.sys_path("devices/system/cpu"),
        guest: !a.no_cpu_guest,
        info,
        // The cpufreq collector owns node_cpu_frequency_hertz when it runs (node_exporter 1.9 and again since the
        // fix of the 1.10 regression that exported it twice).
        frequency: info && !args.enabled_collectors.contains(&"cpufreq"),
        flags_include,
        bugs_include,
        last: Mutex::new(BTreeMap::new()),
    }))
}

struct Cpu {
    stat: PathBuf,
    cpuinfo: PathBuf,
    cpu_dir: PathBuf,
    guest: bool,
    info: bool,
    frequency: bool,
    flags_include: Option<Regex>,
    bugs_include: Option<Regex>,
    last: Mutex<BTreeMap<i64, CpuTimes>>,
}

impl BlockingCollector for Cpu {
    fn collect(&self, ctx: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        if self.info {
            self.collect_info(out)?;
        }
        self.collect_stat(ctx, out)?;
        self.collect_isolated(out)?;
        self.collect_throttles(out);
        self.collect_online(out);
        Ok(())
    }
}

impl Cpu {
    fn collect_info(&self, out: &mut Snapshot) -> Result<(), CollectError> {
        let cpus = parse_cpuinfo(&read_file(&self.cpuinfo)?)?;
        let fam = out.gauge("node_cpu_info", "CPU information from /proc/cpuinfo.");
        for c in &cpus {
            let cpu = c.processor.to_string();
            // Label names in sorted order, as client_golang writes them.
            fam.sample(
                &[
                    ("cachesize", &c.cache_size),
                    ("core", &c.core_id),
                    ("cpu", &cpu),
                    ("family", &c.cpu_family),
                    ("microcode", &c.microcode),
                    ("model", &c.model),
                    ("model_name", &c.model_name),
                    ("package", &c.physical_id),
                    ("stepping", &c.stepping),
                    ("vendor", &c.vendor_id),
                ],
                1.0,
            );
        }
        if self.frequency {
            let fam = out.gauge("node_cpu_frequency_hertz", "CPU frequency in hertz from /proc/cpuinfo.");
            for c in &cpus {
                let cpu = c.processor.to_string();
                fam.sample(&[("core", &c.core_id), ("cpu", &cpu), ("package", &c.physical_id)], c.mhz * 1e6);
            }
        }
        if let Some(first) = cpus.first() {
            if let Some(re) = &self.flags_include {
                let fam = out.gauge(
                    "node_cpu_flag_info",
                    "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.",
                );
                for f in first.flags.iter().filter(|f| re.is_match(f)) {
                    fam.sample(&[("flag", f)], 1.0);
                }
            }
            if let Some(re) = &self.bugs_include {
                let fam = out.gauge(
                    "node_cpu_bug_info",
                    "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.",
                );
                for b in first.bugs.iter().filter(|b| re.is_match(b)) {
                    fam.sample(&[("bug", b)], 1.0);
                }
            }
        }
        Ok(())
    }

    fn collect_stat(&self, ctx: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        // Shared with the `stat` collector: one read of /proc/stat per scrape.
        let st = stat::read_shared(&self.stat, ctx)?;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        merge_monotonic(&mut last, &st.cpus);
        let fam = out.counter("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.");
        for (id, t) in last.iter() {
            let cpu = id.to_string();
            for (mode, v) in [
                ("user", t.user),
                ("nice", t.nice),
                ("system", t.system),
                ("idle", t.idle),
                ("iowait", t.iowait),
                ("irq", t.irq),
                ("softirq", t.softirq),
                ("steal", t.steal),
            ] {
                fam.sample(&[("cpu", &cpu), ("mode", mode)], v);
            }
        }
        if self.guest {
            // Guest time is also counted in user and nice; node_exporter exposes it separately.
            let fam =
                out.counter("node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode.");
            for (id, t) in last.iter() {
                let cpu = id.to_string();
                fam.sample(&[("cpu", &cpu), ("mode", "user")], t.guest);
                fam.sample(&[("cpu", &cpu), ("mode", "nice")], t.guest_nice);
            }
        }
        Ok(())
    }

    fn collect_isolated(&self, out: &mut Snapshot) -> Result<(), CollectError> {
        let path = self.cpu_dir.join("isolated");
        let Some(content) = read_optional(&path)? else {
            return Ok(());
        };
        let cpus = parse_cpu_list(&content).map_err(|e| CollectError::Parse(format!("{}: {e}", path.display())))?;
        let fam = out.gauge(
            "node_cpu_isolated",
            "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
        );
        for cpu in cpus {
            fam.sample(&[("cpu", &cpu.to_string())], 1.0);
        }
        Ok(())
    }

    /// Thermal throttle counts: per core once per (package, core), per package once. CPUs without topology files
    /// are skipped, as are missing counters (most virtual machines and non-Intel CPUs have none).
    fn collect_throttles(&self, out: &mut Snapshot) {
        let mut packages: BTreeMap<u64, u64> = BTreeMap::new();
        let mut cores: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        for (_, dir) in numbered_entries(&self.cpu_dir, "cpu") {
            let (Some(package), Some(core)) =
                (read_uint(&dir.join("topology/physical_package_id")), read_uint(&dir.join("topology/core_id")))
            else {
                continue;
            };
            // A counter missing on one CPU may still be found on a sibling of the same core or package.
            if let Entry::Vacant(slot) = cores.entry((package, core))
                && let Some(n) = read_uint(&dir.join("thermal_throttle/core_throttle_count"))
            {
                slot.insert(n);
            }
            if let Entry::Vacant(slot) = packages.entry(package)
                && let Some(n) = read_uint(&dir.join("thermal_throttle/package_throttle_count"))
            {
                slot.insert(n);
            }
        }
        if !packages.is_empty() {
            let fam =
                out.counter("node_cpu_package_throttles_total", "Number of times this CPU package has been throttled.");
            for (package, count) in &packages {
                fam.sample(&[("package", &package.to_string())], *count as f64);
            }
        }
        if !cores.is_empty() {
            let fam = out.counter("node_cpu_core_throttles_total", "Number of times this CPU core has been throttled.");
            for ((package, core), count) in &cores {
                fam.sample(&[("core", &core.to_string()), ("package", &package.to_string())], *count as f64);
            }
        }
    }

    /// `node_cpu_online`: only when the first CPU directory has an `online` file (node_exporter's test; on x86
    /// `cpu0` usually has none, so most machines export nothing here).
    fn collect_online(&self, out: &mut Snapshot) {
        let cpus = numbered_entries(&self.cpu_dir, "cpu");
        let Some((_, first)) = cpus.first() else {
            return;
        };
        if !first.join("online").exists() {
            return;
        }
        let fam = out.gauge("node_cpu_online", "CPUs that are online and being scheduled.");
        for (name, dir) in &cpus {
            let online = read_optional(&dir.join("online")).ok().flatten().is_some_and(|s| s.trim() == "1");
            fam.sample(&[("cpu", name.trim_start_matches("cpu"))], if online { 1.0 } else { 0.0 });
        }
    }
}

/// A sysfs file holding one unsigned decimal, `None` if missing or malformed.
fn read_uint(path: &std::path::Path) -> Option<u64> {
    read_optional(path).ok()??.trim().parse().ok()
}

/// Takes the new per-CPU times into `last` without letting a counter go backwards: a lower value keeps the old
/// one, unless idle dropped by 3 s or more (a CPU that was unplugged and came back), which resets that CPU. CPUs
/// no longer listed (offline) are forgotten.
pub fn merge_monotonic(last: &mut BTreeMap<i64, CpuTimes>, new: &BTreeMap<i64, CpuTimes>) {
    const JUMP_BACK_SECONDS: f64 = 3.0;
    for (id, n) in new {
        let mut cur = last.get(id).copied().unwrap_or_default();
        if cur.idle - n.idle >= JUMP_BACK_SECONDS {
            tracing::debug!(cpu = id, old = cur.idle, new = n.idle, "CPU idle counter jumped backwards; resetting");
            cur = CpuTimes::default();
        }
        let keep_max = |old: &mut f64, new: f64| {
            if new >= *old {
                *old = new;
            }
        };
        keep_max(&mut cur.user, n.user);
        keep_max(&mut cur.nice, n.nice);
        keep_max(&mut cur.system, n.system);
        keep_max(&mut cur.idle, n.idle);
        keep_max(&mut cur.iowait, n.iowait);
        keep_max(&mut cur.irq, n.irq);
        keep_max(&mut cur.softirq, n.softirq);
        keep_max(&mut cur.steal, n.steal);
        keep_max(&mut cur.guest, n.guest);
        keep_max(&mut cur.guest_nice, n.guest_nice);
        last.insert(*id, cur);
    }
    let online: BTreeSet<&i64> = new.keys().collect();
    last.retain(|id, _| online.contains(id));
}

/// One processor of `/proc/cpuinfo`: the fields node_exporter exports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuInfo {
    /// `processor`.
    pub processor: u32,
    /// `vendor_id` (or `vendor`).
    pub vendor_id: String,
    /// `cpu family`.
    pub cpu_family: String,
    /// `model`.
    pub model: String,
    /// `model name`.
    pub model_name: String,
    /// `stepping`.
    pub stepping: String,
    /// `microcode`.
    pub microcode: String,
    /// `cpu MHz`.
    pub mhz: f64,
    /// `cache size`, e.g. `1024 KB`.
    pub cache_size: String,
    /// `physical id` (the package).
    pub physical_id: String,
    /// `core id`.
    pub core_id: String,
    /// `flags`.
    pub flags: Vec<String>,
    /// `bugs`.
    pub bugs: Vec<String>,
}

/// Parses `/proc/cpuinfo` in the x86 layout (one `key : value` block per processor, each starting with
/// `processor`), with the rules of the procfs library node_exporter uses: the first non-empty line must be a
/// `processor` line, values are what follows the first `": "`, and a malformed number in a field it parses
/// numerically is an error.
pub fn parse_cpuinfo(content: &str) -> Result<Vec<CpuInfo>, CollectError> {
    let err = |msg: String| CollectError::Parse(format!("/proc/cpuinfo: {msg}"));
    let mut lines = content.lines().skip_while(|l| l.trim().is_empty());
    let first = lines.next().unwrap_or_default();
    if !first.starts_with("processor") || !first.contains(':') {
        return Err(err(format!("cannot parse line {first:?}")));
    }
    let processor = |v: Option<&str>| {
        v.and_then(parse_go_uint)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| err(format!("invalid processor number {:?}", v.unwrap_or_default())))
    };
    let mut cpus =
        vec![CpuInfo { processor: processor(first.split_once(": ").map(|(_, v)| v))?, ..CpuInfo::default() }];
    for line in lines {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let key = key.trim();
        let uint = |v: &str| parse_go_uint(v).ok_or_else(|| err(format!("invalid {key} value {v:?}")));
        let float = |v: &str| v.parse::<f64>().map_err(|_| err(format!("invalid {key} value {v:?}")));
        if key == "processor" {
            cpus.push(CpuInfo { processor: processor(Some(value))?, ..CpuInfo::default() });
            continue;
        }
        let Some(cpu) = cpus.last_mut() else { continue };
        match key {
            "vendor" | "vendor_id" => cpu.vendor_id = value.to_owned(),
            "cpu family" => cpu.cpu_family = value.to_owned(),
            "model" => cpu.model = value.to_owned(),
            "model name" => cpu.model_name = value.to_owned(),
            "stepping" => cpu.stepping = value.to_owned(),
            "microcode" => cpu.microcode = value.to_owned(),
            "cpu MHz" => cpu.mhz = float(value)?,
            "cache size" => cpu.cache_size = value.to_owned(),
            "physical id" => cpu.physical_id = value.to_owned(),
            "core id" => cpu.core_id = value.to_owned(),
            "flags" => cpu.flags = value.split_whitespace().map(str::to_owned).collect(),
            "bugs" => cpu.bugs = value.split_whitespace().map(str::to_owned).collect(),
            // Not exported, but procfs parses them as numbers and fails the read on garbage.
            "siblings" | "cpu cores" | "cpuid level" | "clflush size" | "cache_alignment" => {
                uint(value)?;
            }
            "bogomips" => {
                float(value)?;
            }
            _ => {}
        }
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
stepping\t: 1
microcode\t: 0x1000065
cpu MHz\t\t: 2596.124
cache size\t: 1024 KB
physical id\t: 0
siblings\t: 2
core id\t\t: 0
cpu cores\t: 2
flags\t\t: fpu vme de sse sse2
bugs\t\t: spectre_v1 spectre_v2
bogomips\t: 5192.24
power management:

processor\t: 1
vendor_id\t: AuthenticAMD
cpu MHz\t\t: 2600
physical id\t: 0
core id\t\t: 1
bugs\t\t:
";

    #[test]
    fn parses_cpuinfo() {
        let cpus = parse_cpuinfo(CPUINFO).expect("valid");
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].processor, 0);
        assert_eq!(cpus[0].vendor_id, "AuthenticAMD");
        assert_eq!(cpus[0].cpu_family, "26");
        assert_eq!(cpus[0].model, "2");
        assert_eq!(cpus[0].model_name, "AMD EPYC");
        assert_eq!(cpus[0].microcode, "0x1000065");
        assert_eq!(cpus[0].mhz, 2596.124);
        assert_eq!(cpus[0].cache_size, "1024 KB");
        assert_eq!(cpus[0].flags, ["fpu", "vme", "de", "sse", "sse2"]);
        assert_eq!(cpus[0].bugs, ["spectre_v1", "spectre_v2"]);
        assert_eq!((cpus[1].processor, cpus[1].core_id.as_str(), cpus[1].mhz), (1, "1", 2600.0));
        // "bugs\t\t:" has no ": " separator: an empty list, as in procfs.
        assert!(cpus[1].bugs.is_empty());
    }

    #[test]
    fn cpuinfo_garbage_is_an_error() {
        for bad in [
            "",
            "\n\n",
            "vendor_id : x\nprocessor : 0\n",
            "processor : x\n",
            "processor\n",
            "processor : 0\nprocessor : -1\n",
            "processor : 99999999999\n",
            "processor : 0\ncpu MHz : fast\n",
            "processor : 0\nsiblings : many\n",
            "processor : 0\nbogomips : ?\n",
        ] {
            assert!(parse_cpuinfo(bad).is_err(), "{bad:?} should be rejected");
        }
        crate::collectors::testutil::never_panics(b"processor:0123 cpuMHzflgs\n\t.x", |s| {
            let _ = parse_cpuinfo(s);
        });
    }

    fn times(idle: f64, user: f64) -> CpuTimes {
        CpuTimes { idle, user, ..CpuTimes::default() }
    }

    #[test]
    fn counters_never_go_backwards_but_reset_on_idle_jump() {
        let mut last = BTreeMap::new();
        merge_monotonic(&mut last, &BTreeMap::from([(0, times(100.0, 50.0)), (1, times(100.0, 50.0))]));
        // user drops a little: keep the old value; idle drops by less than 3 s: keep too.
        merge_monotonic(&mut last, &BTreeMap::from([(0, times(99.0, 49.0)), (1, times(101.0, 51.0))]));
        assert_eq!(last[&0], times(100.0, 50.0));
        assert_eq!(last[&1], times(101.0, 51.0));
        // idle drops by 3 s or more: the CPU was replugged, take the new values.
        merge_monotonic(&mut last, &BTreeMap::from([(0, times(10.0, 5.0))]));
        assert_eq!(last[&0], times(10.0, 5.0));
        // CPU 1 went offline: forgotten.
        assert!(!last.contains_key(&1));
    }
}
