use super::*;

fn s(t: &str) -> Node {
    Node::Scalar { text: t.to_owned(), plain: true }
}

fn q(t: &str) -> Node {
    Node::Scalar { text: t.to_owned(), plain: false }
}

fn map(entries: &[(&str, Node)]) -> Node {
    Node::Map(entries.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
}

fn ok(text: &str) -> Node {
    parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn err(text: &str) -> SyntaxError {
    match parse(text) {
        Ok(n) => panic!("{text:?} parsed as {n:?}"),
        Err(e) => e,
    }
}

#[test]
fn empty_documents_are_null() {
    for text in ["", "\n", "  \n# c\n", "---\n", "--- # c\n", "---\n...\n", "...\n", "\u{feff}"] {
        assert_eq!(ok(text), Node::Null, "{text:?}");
    }
}

#[test]
fn block_mappings_any_indentation() {
    let want = map(&[("a", map(&[("b", s("1")), ("c", s("x y"))])), ("d", s("2"))]);
    assert_eq!(ok("a:\n  b: 1\n  c: x y\nd: 2\n"), want);
    assert_eq!(ok("a:\n    b: 1\n    c: x y   # comment\n\n# full line\nd: 2"), want);
    assert_eq!(ok("---\na:\n b: 1\n c: x y\nd: 2\n...\n"), want);
    assert_eq!(ok("a:\r\n  b: 1\r\n  c: x y\r\nd: 2\r\n"), want);
    assert_eq!(ok("k:\nj: ~\nl: null\n"), map(&[("k", Node::Null), ("j", Node::Null), ("l", Node::Null)]));
    assert_eq!(ok("'a b': 1\n\"c\\td\": 2\n"), map(&[("a b", s("1")), ("c\td", s("2"))]));
    assert_eq!(ok("a: x#y\nb: http://h:9/p\n"), map(&[("a", s("x#y")), ("b", s("http://h:9/p"))]));
    assert_eq!(ok("key:\n  just a scalar\n"), map(&[("key", s("just a scalar"))]));
}

#[test]
fn block_sequences() {
    let want = map(&[("l", Node::Seq(vec![s("a"), s("b")])), ("m", s("1"))]);
    assert_eq!(ok("l:\n  - a\n  - b\nm: 1\n"), want);
    assert_eq!(ok("l:\n- a\n-   b  # c\nm: 1\n"), want);
    assert_eq!(
        ok("- a: 1\n  b: 2\n- c: 3\n-\n  - x\n- - y\n  - z\n-\n"),
        Node::Seq(vec![
            map(&[("a", s("1")), ("b", s("2"))]),
            map(&[("c", s("3"))]),
            Node::Seq(vec![s("x")]),
            Node::Seq(vec![s("y"), s("z")]),
            Node::Null,
        ])
    );
    assert_eq!(ok("a:\n  - b: 1\n    c: 2\n"), map(&[("a", Node::Seq(vec![map(&[("b", s("1")), ("c", s("2"))])]))]));
}

#[test]
fn flow_collections() {
    assert_eq!(ok("[a, 'b', \"c\", [d], {e: f}]"), {
        Node::Seq(vec![s("a"), q("b"), q("c"), Node::Seq(vec![s("d")]), map(&[("e", s("f"))])])
    });
    assert_eq!(ok("k: []\nj: {}\n"), map(&[("k", Node::Seq(vec![])), ("j", Node::Map(vec![]))]));
    assert_eq!(ok("k: [a, b,]\n"), map(&[("k", Node::Seq(vec![s("a"), s("b")]))]));
    assert_eq!(ok("k: [\n  a,  # one\n  b\n]\n"), map(&[("k", Node::Seq(vec![s("a"), s("b")]))]));
    assert_eq!(ok("{a: 1, b: , c, \"d\": x:y}"), {
        map(&[("a", s("1")), ("b", Node::Null), ("c", Node::Null), ("d", s("x:y"))])
    });
    assert_eq!(ok("h: {X-Frame-Options: deny}\n"), map(&[("h", map(&[("X-Frame-Options", s("deny"))]))]));
}

#[test]
fn quoted_scalars() {
    assert_eq!(ok("'it''s # not a comment'"), q("it's # not a comment"));
    assert_eq!(ok(r#""a\n\t\"\\\x41\u00e9\U0001F600\/""#), q("a\n\t\"\\Aé😀/"));
    assert_eq!(ok("\"one\n  two\n\n  three\""), q("one two\nthree"));
    assert_eq!(ok("'one\n  two'"), q("one two"));
    assert_eq!(ok("\"a \\\n   b\""), q("a b"));
    assert_eq!(ok("k: \"\"\n"), map(&[("k", q(""))]));
    for bad in ["\"abc", "'abc", "\"\\q\"", "\"\\x4\"", "\"\\uD800\"", "k: 'a' b\n"] {
        err(bad);
    }
}

#[test]
fn block_scalars() {
    let pem = "k: |\n  -----BEGIN X-----\n  AAAA\n  -----END X-----\nj: 1\n";
    assert_eq!(ok(pem), map(&[("k", q("-----BEGIN X-----\nAAAA\n-----END X-----\n")), ("j", s("1"))]));
    assert_eq!(ok("k: |-\n  a\n  b\n\n"), map(&[("k", q("a\nb"))]));
    assert_eq!(ok("k: |+\n  a\n\n\nj: 1\n"), map(&[("k", q("a\n\n\n")), ("j", s("1"))]));
    assert_eq!(ok("k: >\n  a\n  b\n\n  c\n    more\n  d\n"), map(&[("k", q("a b\nc\n  more\nd\n"))]));
    assert_eq!(ok("k: >-\n a\n b\n"), map(&[("k", q("a b"))]));
    assert_eq!(ok("k: |2\n    two extra\n  none\n"), map(&[("k", q("  two extra\nnone\n"))]));
    assert_eq!(ok("k: | # c\n  a\n"), map(&[("k", q("a\n"))]));
    assert_eq!(ok("k: |\nj: 1\n"), map(&[("k", q("")), ("j", s("1"))]));
    assert_eq!(ok("- |\n  a\n- b\n"), Node::Seq(vec![q("a\n"), s("b")]));
    assert_eq!(ok("k: |\n  a\n  # not a comment\n"), map(&[("k", q("a\n# not a comment\n"))]));
    assert_eq!(ok("k: |\n  no newline at the end"), map(&[("k", q("no newline at the end\n"))]));
    err("k: |x\n  a\n");
    err("k: [|\n a]\n");
}

#[test]
fn unsupported_constructs_name_the_line() {
    for (text, line, words) in [
        ("a: 1\nb: &x 2\n", 2, "anchors"),
        ("a: 1\nb: *x\n", 2, "aliases"),
        ("a: !!str 1\n", 1, "tags"),
        ("%YAML 1.2\n---\na: 1\n", 1, "directives"),
        ("a: 1\n---\nb: 2\n", 2, "several documents"),
        ("? a\n: 1\n", 1, "complex keys"),
        ("a:\n\tb: 1\n", 2, "tabs"),
        ("a: 1\n  b: 2\n", 2, "indentation"),
        ("a: b: c\n", 1, "quote"),
        ("a: 1\na: 2\n", 2, "duplicate key"),
        ("a: {b: 1, b: 2}\n", 1, "duplicate key"),
        ("a:\n  - 1\n  b: 2\n", 3, "indentation"),
        ("a: [1, 2\n", 1, "unclosed"),
        ("a: [b: 1]\n", 1, "not supported"),
        ("a: - b\n", 1, "list item"),
        ("just text\nb: 1\n", 2, "unexpected"),
        ("a: {[b]: 1}\n", 1, "strings"),
        ("a: x\n  continued\n", 2, "indentation"),
        ("a: ]x\n", 1, "cannot start"),
        ("a:\n  - ,\n", 2, "cannot start"),
        ("~: 1\n", 1, "strings"),
        ("a: {~: 1}\n", 1, "strings"),
        ("k: |\n    \n  a\n", 3, "more spaces"),
    ] {
        let e = err(text);
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.to_string().contains(words), "{text:?}: {e}");
    }
}

#[test]
fn nesting_is_bounded() {
    let deep = "[".repeat(100_000);
    assert!(err(&deep).msg.contains("nested too deeply"));
    let deep = "{a: ".repeat(100_000);
    assert!(err(&deep).msg.contains("nested too deeply"));
    let deep = "- ".repeat(100_000);
    assert!(err(&deep).msg.contains("nested too deeply"));
    let mut deep = String::new();
    for i in 0..200 {
        deep.push_str(&" ".repeat(i));
        deep.push_str("k:\n");
    }
    assert!(err(&deep).msg.contains("nested too deeply"));
    let ok_depth = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    ok(&ok_depth);
}

#[test]
fn typing_follows_the_requested_type() {
    use serde::Deserialize;
    #[derive(Deserialize, Debug, PartialEq)]
    struct T {
        s: String,
        b: bool,
        i: i64,
        u: u8,
        f: f64,
        o: Option<String>,
    }
    let t = T::deserialize(ok("s: 0123\nb: yes\ni: -0x10\nu: 255\nf: 1.5e3\no: ~\n")).expect("typed");
    assert_eq!(t, T { s: "0123".into(), b: true, i: -16, u: 255, f: 1500.0, o: None });
    assert!(T::deserialize(ok("s: a\nb: 'true'\ni: 1\nu: 1\nf: 1\no: x\n")).is_err(), "a quoted bool is a string");
    assert!(T::deserialize(ok("s: a\nb: true\ni: 1\nu: 256\nf: 1\no: x\n")).is_err());
    let e = T::deserialize(ok("s: a\nb: true\ni: 1\nu: 1\nf: 1\no: [x]\nz: 1\n")).expect_err("bad");
    assert!(e.to_string().starts_with("o: "), "{e}");
    let e = Vec::<BTreeMapOfI>::deserialize(ok("- {a: 1}\n- {a: x}\n")).expect_err("bad");
    assert_eq!(e.path(), "[1].a", "{e}");
}

type BTreeMapOfI = std::collections::BTreeMap<String, i64>;

/// The fuzz target's function (`crates/core/fuzz/fuzz_targets/yaml.rs`) over garbage and truncations, so CI covers
/// it without nightly.
#[test]
fn garbage_never_panics() {
    let valid = "---\ntls_server_config:\n  cert: |\n    -----BEGIN X-----\n    AAAA\n  key: >-\n    b\n\
                 \x20 cipher_suites: [A, 'B', \"C\\x41\"]\n  x:\n  - a: 1\n    b: {c: [d, e], f: ~}\n  - - g\n...\n";
    for end in 0..=valid.len() {
        if valid.is_char_boundary(end) {
            let _ = crate::webconfig::fuzzing::parse_yaml(&valid[..end]);
            let _ = crate::webconfig::fuzzing::parse_config(&valid[..end]);
        }
    }
    let tokens = &[
        "a", "1", ":", ": ", "- ", "-", "\n", "\n  ", "  ", " ", "\t", "#", "'", "''", "\"", "\\", "\\x", "\\u", "[",
        "]", "{", "}", ",", "|", ">", "|-", ">+", "|2", "&", "*", "!", "?", "%", "---", "...", "\r", "é", "~",
    ];
    for text in crate::testing::token_soup(7, 20_000, 40, tokens) {
        let _ = crate::webconfig::fuzzing::parse_yaml(&text);
        let _ = crate::webconfig::fuzzing::parse_config(&text);
    }
}
