//! Metric names and HELP texts built from kernel field names (`node_vmstat_<field>`, `node_sockstat_<proto>_<field>`,
//! `node_netstat_<proto>_<field>`), made once per field instead of formatted on every scrape.
//!
//! A snapshot's family names are `Cow<'static, str>`, so a name made at run time would be allocated again for
//! every scrape. [`Interned`] makes each one once and keeps it for the rest of the process (`&'static`): the field
//! names of a kernel are a few hundred at most and do not change while it runs. At most [`Interned::CAPACITY`] are
//! kept (only garbage files name more); beyond that names are made per call, as owned strings.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

/// A metric name and its HELP text.
pub type NameHelp = (Cow<'static, str>, Cow<'static, str>);

/// Names and HELP texts made once per key; see the module documentation.
#[derive(Debug, Default)]
pub struct Interned {
    // foldhash: looked up for every selected field of every scrape; the keys come from kernel files.
    kept: Mutex<HashMap<String, (&'static str, &'static str), foldhash::fast::RandomState>>,
}

impl Interned {
    /// How many names are kept at most.
    pub const CAPACITY: usize = 1024;

    /// The name and HELP text for `key`, made by `make` the first time.
    pub fn get(&self, key: &str, make: impl FnOnce() -> (String, String)) -> NameHelp {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&(name, help)) = kept.get(key) {
            return (Cow::Borrowed(name), Cow::Borrowed(help));
        }
        let (name, help) = make();
        if kept.len() >= Self::CAPACITY {
            return (Cow::Owned(name), Cow::Owned(help));
        }
        // Kept for the rest of the process: bounded by CAPACITY, see above.
        let (name, help): (&'static str, &'static str) =
            (Box::leak(name.into_boxed_str()), Box::leak(help.into_boxed_str()));
        kept.insert(key.to_owned(), (name, help));
        (Cow::Borrowed(name), Cow::Borrowed(help))
    }

    /// How many names are kept.
    pub fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no name is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_and_bounded() {
        let names = Interned::default();
        let mut made = 0;
        for _ in 0..3 {
            let (n, h) = names.get("pgfault", || {
                made += 1;
                ("node_vmstat_pgfault".into(), "help".into())
            });
            assert!(matches!(n, Cow::Borrowed("node_vmstat_pgfault")) && matches!(h, Cow::Borrowed("help")));
        }
        assert_eq!(made, 1);
        for i in 0..Interned::CAPACITY + 5 {
            let (n, _) = names.get(&format!("k{i}"), || (format!("n{i}"), String::new()));
            assert_eq!(n, format!("n{i}"));
            assert_eq!(matches!(n, Cow::Owned(_)), i + 1 >= Interned::CAPACITY, "{i}");
        }
        assert_eq!(names.len(), Interned::CAPACITY);
    }
}
