//! Exporters' text exposition output (format 0.0.4) parsed strictly, for comparing two exporters in tests.
//!
//! A thin layer over [`oxporter_core::textparse`] in [`Mode::Strict`]: besides malformed lines it rejects, with the
//! line number, what an exporter must never write (a family split in two, a TYPE after its samples, a second HELP or
//! TYPE, duplicate series or label names, …; the full list is in the core module's documentation).

use oxporter_core::textparse::{self, Mode};

pub use oxporter_core::MetricType;
pub use oxporter_core::textparse::{Error as ParseError, Family, Sample};

/// Parses a whole exposition strictly.
pub fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    textparse::parse(text, Mode::Strict)
}

/// Parses strictly, panicking with the error and the offending line (for tests).
pub fn must_parse(text: &str, what: &str) -> Vec<Family> {
    match parse(text) {
        Ok(f) => f,
        Err(e) => {
            let line = text.split('\n').nth(e.line.saturating_sub(1)).unwrap_or_default();
            panic!("{what}: invalid text exposition: {e}\n  {line:?}")
        }
    }
}

/// The family called `name`.
pub fn find<'a>(families: &'a [Family], name: &str) -> Option<&'a Family> {
    families.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_layer() {
        let f = must_parse("# TYPE a counter\na{x=\"1\"} 2\n# TYPE b gauge\nb 1\n", "valid");
        let a = find(&f, "a").expect("a");
        assert_eq!(a.metric_type, MetricType::Counter);
        assert_eq!(a.label_names().into_iter().collect::<Vec<_>>(), ["x"]);
        assert_eq!(a.samples[0].label("x"), Some("1"));
        assert!(find(&f, "c").is_none());
        // Strict: a duplicate series is refused (the lenient mode would accept it).
        let e = parse("a 1\na 1\n").expect_err("duplicate");
        assert_eq!(e.line, 2);
    }

    #[test]
    #[should_panic(expected = "bad: invalid text exposition: text format parsing error in line 2")]
    fn must_parse_names_what_and_line() {
        must_parse("a 1\na 1\n", "bad");
    }
}
