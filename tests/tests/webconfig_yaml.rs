//! core's web config YAML-subset parser against a full YAML parser (serde-saphyr): on real-world shaped files and
//! on pseudo-random token soup, whatever ours accepts, serde-saphyr accepts too and reads as the same value. (Ours
//! refuses more: multi-line plain scalars, anchors, tags and the like; docs/web-config.md.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use oxporter_core::webconfig::fuzzing::parse_yaml_as;
use serde_json::Value;

fn theirs(text: &str) -> Result<Option<Value>, String> {
    serde_saphyr::from_str::<Option<Value>>(text).map_err(|e| e.to_string())
}

fn ours(text: &str) -> Result<Option<Value>, String> {
    parse_yaml_as::<Option<Value>>(text)
}

#[test]
fn real_files_read_the_same() {
    let files = [
        "",
        "---\n# only a comment\n...\n",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: \
         RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  client_allowed_sans: [a.example, 127.0.0.1]\n  \
         min_version: TLS12\n  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n    - \
         TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n  curve_preferences: [X25519, CurveP256]\n  \
         prefer_server_cipher_suites: false\n",
        "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: \
         \"default-src 'self'\"\n    X-XSS-Protection: '1; mode=block'\n    Strict-Transport-Security: \
         max-age=31536000   # one year\n",
        "basic_auth_users:\n  alice: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG\n  \"1234\": \
         $2y$04$abc\n  5678: x\n",
        "rate_limit: {interval: 1s, burst: 5}\nhttp_server_config: {headers: {X-Frame-Options: sameorigin}}\n",
        "tls_server_config:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n    MIIBszCCAVmgAwIBAgIUeT0=\n    \
         -----END CERTIFICATE-----\n  key: |-\n      -----BEGIN PRIVATE KEY-----\n      MIGHAgEAMBMGByqGSM49\n\n      \
         -----END PRIVATE KEY-----\n  client_ca: >\n    folded\n    text\n\n    kept\n",
        "list:\n- a: 1\n  b: [x, 'y', \"z\\tq\"]\n- - nested\n  - items\n-\n- ~\n- null\n- ''\n- 0x1f\n- 1.5e3\n- yes\n",
        "a:\r\n  b: 1\r\n",
        "k: [\n  one,   # first\n  two\n]\n",
    ];
    for text in files {
        let want = theirs(text).unwrap_or_else(|e| panic!("serde-saphyr refused {text:?}: {e}"));
        let got = ours(text).unwrap_or_else(|e| panic!("we refused {text:?}: {e}"));
        assert_eq!(got, want, "{text:?}");
    }
}

#[test]
fn token_soup_reads_the_same_or_is_refused() {
    let tokens = &[
        "a",
        "b",
        "1",
        "x y",
        ": ",
        "- ",
        "\n",
        "\n  ",
        "\n    ",
        "  ",
        " #c",
        "'q''s'",
        "\"d\\tq\"",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "|",
        "|-",
        ">",
        "~",
        "\n- ",
        "k: ",
        "\n  k: ",
        "\nj: ",
        "true",
        "no",
        "0x1f",
        "1.5",
    ];
    let mut agreed = 0;
    for seed in 1..6u64 {
        for text in oxporter_core::testing::token_soup(seed * 104_729, 20_000, 30, tokens) {
            if let Ok(got) = ours(&text) {
                let want = theirs(&text).unwrap_or_else(|e| panic!("we accepted {text:?}, serde-saphyr did not: {e}"));
                assert_eq!(got, want, "{text:?}");
                agreed += 1;
            }
        }
    }
    assert!(agreed > 10_000, "too few accepted inputs to compare: {agreed}");
}
