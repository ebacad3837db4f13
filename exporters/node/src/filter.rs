//! node_exporter's include/exclude name filters (`--collector.<name>.device-exclude` and friends).
//!
//! node_exporter compiles Go RE2 regexps and matches them unanchored; the `regex` crate has the same syntax for
//! everything these flags use and the same unanchored `is_match`.

use std::collections::HashMap;
use std::sync::Mutex;

use oxporter_core::collector::BuildError;
use regex::Regex;

/// A name filter: a name is ignored when it matches `exclude` or, with `include` set, does not match `include`.
/// The answers are remembered ([`Remembered`]): devices, mount points and fs types are asked about on every scrape.
#[derive(Debug, Default)]
pub struct NameFilter {
    exclude: Option<Remembered>,
    include: Option<Remembered>,
}

impl NameFilter {
    /// A filter from the two patterns; an empty pattern means "not set", as in node_exporter.
    pub fn new(exclude: &str, include: &str) -> Result<Self, BuildError> {
        let compile = |p: &str| -> Result<Option<Remembered>, BuildError> {
            if p.is_empty() {
                Ok(None)
            } else {
                Regex::new(p).map(|re| Some(re.into())).map_err(|e| format!("invalid regexp {p:?}: {e}").into())
            }
        };
        Ok(NameFilter { exclude: compile(exclude)?, include: compile(include)? })
    }

    /// A filter that lets everything through.
    pub fn none() -> Self {
        NameFilter::default()
    }

    /// Whether `name` is filtered out.
    pub fn ignored(&self, name: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(name))
            || self.include.as_ref().is_some_and(|r| !r.is_match(name))
    }
}

/// Resolves an exclude/include flag pair the way node_exporter does for diskstats and filesystem:
///
/// - a deprecated alias of the exclude flag (e.g. `--collector.diskstats.ignored-devices`) replaces the exclude
///   default, but giving both is an error;
/// - giving only the include flag drops the default exclude ("assuming include is desired");
/// - giving both the exclude and the include flag is an error.
///
/// `exclude` is `None` when the flag was not given, so the default applies.
pub fn exclude_include(
    flag: &str,
    exclude: Option<&str>,
    default_exclude: &str,
    include: Option<&str>,
    deprecated: Option<(&str, &str)>,
) -> Result<NameFilter, BuildError> {
    let mut exclude_value = exclude.map(str::to_owned);
    if let Some((old_flag, old)) = deprecated.filter(|(_, v)| !v.is_empty()) {
        if exclude.is_some() {
            return Err(format!("--{old_flag} and --{flag}-exclude are mutually exclusive").into());
        }
        tracing::warn!("--{old_flag} is DEPRECATED and will be removed in 2.0.0, use --{flag}-exclude");
        exclude_value = Some(old.to_owned());
    }
    let include = include.unwrap_or("");
    let exclude = match exclude_value {
        Some(v) => v,
        None if !include.is_empty() => String::new(),
        None => default_exclude.to_owned(),
    };
    if !exclude.is_empty() && !include.is_empty() {
        return Err(format!("--{flag}-exclude and --{flag}-include are mutually exclusive").into());
    }
    NameFilter::new(&exclude, include)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_and_include() {
        let f = NameFilter::new("^loop", "").expect("valid");
        assert!(f.ignored("loop0"));
        assert!(!f.ignored("sda"));
        let f = NameFilter::new("", "^sd").expect("valid");
        assert!(f.ignored("loop0"));
        assert!(!f.ignored("sda"));
        assert!(!NameFilter::none().ignored("anything"));
        assert!(NameFilter::new("(", "").is_err());
    }

    #[test]
    fn flag_resolution() {
        let d = "^loop";
        // Default applies when nothing is given.
        assert!(exclude_include("x", None, d, None, None).expect("ok").ignored("loop1"));
        // Include alone drops the default exclude.
        let f = exclude_include("x", None, d, Some("^loop"), None).expect("ok");
        assert!(!f.ignored("loop1"));
        assert!(f.ignored("sda"));
        // Both given: error.
        assert!(exclude_include("x", Some("a"), d, Some("b"), None).is_err());
        // Deprecated alias replaces the default, and conflicts with the new flag.
        let f = exclude_include("x", None, d, None, Some(("old", "^sd"))).expect("ok");
        assert!(f.ignored("sda") && !f.ignored("loop1"));
        assert!(exclude_include("x", Some("a"), d, None, Some(("old", "^sd"))).is_err());
        // An explicitly empty exclude disables filtering.
        assert!(!exclude_include("x", Some(""), d, None, None).expect("ok").ignored("loop1"));
    }
}

/// A field-name regexp (`--collector.netstat.fields`, `--collector.vmstat.fields`) that remembers its answers.
///
/// Those collectors match some 500 kernel field names against their pattern on every scrape, and the names do not
/// change while the host runs: asking the regexp once per name takes the matching out of the scrape. At most
/// [`Remembered::CAPACITY`] names are remembered (garbage files could name millions); beyond that it just matches.
#[derive(Debug)]
pub struct Remembered {
    re: Regex,
    // foldhash rather than SipHash: some 600 lookups a scrape, and the names (bounded in number) come from the
    // kernel's files, not from the network.
    answers: Mutex<HashMap<String, bool, foldhash::fast::RandomState>>,
}

impl Remembered {
    /// How many names are remembered at most.
    pub const CAPACITY: usize = 4096;

    /// Whether the regexp matches `name` (unanchored, as Go's `MatchString`).
    pub fn is_match(&self, name: &str) -> bool {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&m) = answers.get(name) {
            return m;
        }
        let m = self.re.is_match(name);
        if answers.len() < Self::CAPACITY {
            answers.insert(name.to_owned(), m);
        }
        m
    }
}

impl From<Regex> for Remembered {
    fn from(re: Regex) -> Self {
        Remembered { re, answers: Mutex::new(HashMap::default()) }
    }
}

#[cfg(test)]
mod remembered_tests {
    use super::*;

    #[test]
    fn remembers_answers_within_bounds() {
        let r = Remembered::from(Regex::new("^(Tcp_|Udp_)").expect("valid"));
        for _ in 0..2 {
            assert!(r.is_match("Tcp_InSegs") && !r.is_match("Ip_Forwarding") && r.is_match("Udp_InErrors"));
        }
        for i in 0..Remembered::CAPACITY + 10 {
            assert!(!r.is_match(&format!("x{i}")));
        }
        assert_eq!(r.answers.lock().expect("lock").len(), Remembered::CAPACITY);
        assert!(r.is_match("Tcp_OutSegs"), "still answers past capacity");
    }
}
