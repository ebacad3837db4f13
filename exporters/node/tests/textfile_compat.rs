//! The textfile collector's parser side by side with node_exporter's: Debian's `prometheus-node-exporter` (1.5) and
//! `oxporter-node` read the same directory of odd but plausible `*.prom` files (each probing one quirk of Go's
//! `expfmt.TextParser`), and must accept the same files and export the same families from them: names, types,
//! HELP, series and values.
//!
//! Not covered here, on purpose: inputs on which node_exporter 1.5 fails beyond parsing (a `gauge_histogram` TYPE
//! makes it panic; name collisions between files or families fail its gathering), see `docs/compatibility.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use oxporter_testkit::ports::{free_port, wait_for_port};
use oxporter_testkit::process::{ChildGuard, require_binary};
use oxporter_testkit::textformat::{self, Family};

/// `(file name without .prom, contents)`. Every metric name starts with `t_`.
const FILES: &[(&str, &str)] = &[
    // Accepted by Go's parser.
    ("plain", "# HELP t_plain A plain gauge.\n# TYPE t_plain gauge\nt_plain{a=\"1\"} 1\nt_plain{a=\"2\"} 2\n"),
    ("blank_brace", "t_bb {a=\"1\"} 1\n"),
    ("brace_no_blank", "t_bnb{a=\"1\"}1\n"),
    ("label_blanks", "t_lb{ a = \"1\" , b=\"2\" ,} \t 2\n"),
    ("label_escapes", "t_le{a=\"x\\\"y\\\\z\\n\",t=\"a\tb\",u=\"\u{e9}\"} 1\n"),
    ("empty_labels", "t_el{} 1\n"),
    ("leading_blanks", "   t_lead 1\n\n  \n"),
    ("tab_sep", "t_tab\t1\n"),
    ("colon_name", "t:colon 1\n"),
    ("help_empty", "# HELP t_he\n# HELP t_he2 \nt_he 1\nt_he2 1\n"),
    ("help_lead", "# HELP t_hl    lead\nt_hl 1\n"),
    ("help_trailing_tab", "# HELP t_ht a\t\nt_ht 1\n"),
    ("help_escapes", "# HELP t_hesc a\\nb\\\\c \"q\"\nt_hesc 1\n"),
    ("help_after_samples", "t_has 1\n# HELP t_has h\n"),
    ("help_second_after_empty", "# HELP t_hte \n# HELP t_hte real\nt_hte 1\n"),
    ("hash_no_space", "#HELP t_hns x\nt_hns 1\n"),
    ("type_empty", "# TYPE t_te\nt_te 1\n"),
    ("type_upper", "# TYPE t_tu GAUGE\nt_tu 1\n"),
    ("type_mixed", "# TYPE t_tm Counter\nt_tm 1\n"),
    ("type_tabs", "# TYPE\tt_tt\tgauge\nt_tt 1\n"),
    ("free_comments", "#\n# just a comment\nt_fc 1\n# HELP\n# TYPE  \n"),
    ("split_family", "t_sf{a=\"1\"} 1\nt_sf_other 1\nt_sf{a=\"2\"} 1\n"),
    ("values", "t_v1 +1.5\nt_v2 .5\nt_v3 1E3\nt_v4 +inf\nt_v5 -Infinity\nt_v6 NAN\nt_v7 1e-400\nt_v8 nan\n"),
    (
        "histogram",
        "# TYPE t_h histogram\nt_h_bucket{le=\"0.5\"} 1\nt_h_bucket{le=\"+Inf\"} 2\nt_h_sum 3\nt_h_count 2\n",
    ),
    ("bucket_no_le", "# TYPE t_bn histogram\nt_bn_bucket 1\nt_bn_count 1\nt_bn_sum 1\n"),
    ("bucket_plain_sample", "# TYPE t_bp histogram\nt_bp 5\nt_bp_count 1\n"),
    ("bucket_le_twice", "# TYPE t_dl histogram\nt_dl_bucket{le=\"1\",le=\"2\"} 1\n"),
    ("bucket_le_inf", "# TYPE t_li histogram\nt_li_bucket{le=\"inf\"} 1\nt_li_count 1\n"),
    ("help_of_bucket", "# TYPE t_bh histogram\n# HELP t_bh_bucket hh\nt_bh_bucket{le=\"1\"} 1\n"),
    ("summary", "# TYPE t_s summary\nt_s{quantile=\"0.5\"} 1\nt_s{quantile=\"0.9\"} 2\nt_s_sum 3\nt_s_count 4\n"),
    ("summary_no_quantile", "# TYPE t_sq summary\nt_sq 1\nt_sq_count 1\nt_sq_sum 1\n"),
    ("summary_quantile_twice", "# TYPE t_dq summary\nt_dq{quantile=\"1\",quantile=\"2\"} 1\n"),
    ("help_of_summary_count", "# TYPE t_ta summary\n# HELP t_ta_count foo\nt_ta_count 1\n"),
    ("summary_bucket", "# TYPE t_sb summary\nt_sb_bucket 1\n"),
    ("quantile_on_gauge", "# TYPE t_qg gauge\nt_qg{quantile=\"x\"} 1\n"),
    ("last_line_blanks", "t_llb 1\n   "),
    ("empty", ""),
    // Refused by Go's parser (the whole file is skipped).
    ("crlf", "t_crlf 1\r\n"),
    ("blank_cr", "\r\nt_bc 1\n"),
    ("no_final_newline", "t_nfn 1"),
    ("comment_no_final_newline", "t_cnfn 1\n# foo"),
    ("trailing_blank", "t_tb 1 \n"),
    ("trailing_blank_ts", "t_tbts 1 123 \n"),
    ("type_trailing_blank", "# TYPE t_ttb gauge \nt_ttb 1\n"),
    ("type_after_samples", "t_tas 1\n# TYPE t_tas gauge\n"),
    ("type_twice", "# TYPE t_tt2 untyped\n# TYPE t_tt2 untyped\nt_tt2 1\n"),
    ("type_of_summary_count", "# TYPE t_tc summary\n# TYPE t_tc_count gauge\nt_tc_count 1\n"),
    ("help_twice", "# HELP t_ht2 a\n# HELP t_ht2 b\nt_ht2 1\n"),
    ("help_bad_escape", "# HELP t_hb a\\qb\nt_hb 1\n"),
    ("help_trailing_backslash", "# HELP t_hbs a\\\nt_hbs 1\n"),
    ("help_bad_name", "# HELP 9t x\nt_hbn 1\n"),
    ("help_name_junk", "# HELP t_hnj-x x\nt_hnj 1\n"),
    ("label_twice", "t_dlab{a=\"1\",a=\"2\"} 1\n"),
    ("label_reserved", "t_nn{__name__=\"y\"} 1\n"),
    ("label_bad_escape", "t_bel{a=\"\\t\"} 1\n"),
    ("label_unterminated", "t_lu{a=\"x} 1\n"),
    ("label_no_comma", "t_lnc{a=\"1\" b=\"2\"} 1\n"),
    ("label_leading_comma", "t_lc{,a=\"1\"} 1\n"),
    ("label_name_digit", "t_ld{1a=\"1\"} 1\n"),
    ("no_value", "t_nv{a=\"1\"}\n"),
    ("no_value_blank", "t_nvb{a=\"1\"} \n"),
    ("value_plus_nan", "t_pn +NaN\n"),
    ("value_hex", "t_hx 0x10\n"),
    ("value_hex_float", "t_hf 0x1p4\n"),
    ("value_underscore", "t_us 1_000\n"),
    ("value_overflow", "t_of 1e400\n"),
    ("le_invalid", "# TYPE t_bl histogram\nt_bl_bucket{le=\"abc\"} 1\n"),
    ("le_overflow", "# TYPE t_lo histogram\nt_lo_bucket{le=\"1e400\"} 1\n"),
    ("le_on_sum", "# TYPE t_ls histogram\nt_ls_sum{le=\"x\"} 1\n"),
    ("quantile_invalid", "# TYPE t_qb summary\nt_qb{quantile=\"x\"} 1\n"),
    ("timestamp_float", "t_tf 1 1.5\n"),
    ("value_then_labels", "t_vtb 1 {a=\"1\"}\n"),
    // Parsed by both, then refused for carrying timestamps.
    ("timestamp", "t_ts 1 123\n"),
    ("timestamp_plus", "t_tp 1 +5\n"),
    ("name_dash", "t_nd-1 2\n"),
];

/// An exporter on a free port reading `dir`.
fn start(name: &str, bin: &Path, dir: &Path) -> (ChildGuard, u16) {
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!("--collector.textfile.directory={}", dir.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = ChildGuard::spawn(name, &mut cmd);
    wait_for_port(port, Duration::from_secs(20), name);
    (child, port)
}

fn scrape(port: u16, name: &str) -> Vec<Family> {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let resp = oxporter_testkit::http::get_with_timeout(
        &url,
        &[("Accept", "text/plain;version=0.0.4")],
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("scraping {name}: {e}"));
    assert_eq!(resp.status, 200, "{name}: {}", resp.text());
    textformat::must_parse(&resp.text(), name)
}

/// What is compared: the files read, the error flag, and every `t_*` family as sorted text lines.
fn summary(fams: &[Family]) -> (Vec<String>, Option<f64>, BTreeMap<String, Vec<String>>) {
    let mut files: Vec<String> = textformat::find(fams, "node_textfile_mtime_seconds")
        .map(|f| f.samples.iter().filter_map(|s| s.label("file")).map(|p| p.rsplit('/').next().unwrap().to_owned()))
        .into_iter()
        .flatten()
        .collect();
    files.sort();
    let error = textformat::find(fams, "node_textfile_scrape_error").map(|f| f.samples[0].value);
    let families = fams
        .iter()
        .filter(|f| f.name.starts_with("t_") || f.name.starts_with("t:"))
        .map(|f| {
            let mut lines = vec![format!("type {}", f.metric_type), format!("help {:?}", f.help)];
            let mut samples: Vec<String> =
                f.samples.iter().map(|s| format!("{}{:?} {:?}", s.name, s.label_key(), s.value.to_bits())).collect();
            samples.sort();
            lines.extend(samples);
            (f.name.clone(), lines)
        })
        .collect();
    (files, error, families)
}

#[test]
fn same_files_and_families_as_node_exporter() {
    let anchor_bin = require_binary("prometheus-node-exporter", "prometheus-node-exporter");
    let ours_bin = Path::new(env!("CARGO_BIN_EXE_oxporter-node"));
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in FILES {
        std::fs::write(dir.path().join(format!("{name}.prom")), text).expect("write");
    }
    let (_anchor, anchor_port) = start("node_exporter", &anchor_bin, dir.path());
    let (_ours, ours_port) = start("oxporter-node", ours_bin, dir.path());
    let (a_files, a_error, a_fams) = summary(&scrape(anchor_port, "node_exporter"));
    let (o_files, o_error, o_fams) = summary(&scrape(ours_port, "oxporter-node"));

    // The table is what we think it is: node_exporter accepts the first group and refuses the rest.
    assert!(a_files.len() > 30 && a_files.len() < FILES.len() - 30, "node_exporter read {a_files:?}");
    assert_eq!(a_error, Some(1.0));
    assert_eq!(o_files, a_files, "files read: ours (left) and node_exporter's (right) differ");
    assert_eq!(o_error, a_error);
    println!("both read {} of {} files and export {} t_* families", a_files.len(), FILES.len(), a_fams.len());
    let mut problems = Vec::new();
    for name in a_fams.keys().chain(o_fams.keys()).collect::<std::collections::BTreeSet<_>>() {
        match (a_fams.get(name), o_fams.get(name)) {
            (Some(a), Some(o)) if a == o => {}
            (a, o) => problems.push(format!("{name}:\n  node_exporter: {a:?}\n  oxporter-node: {o:?}")),
        }
    }
    assert!(problems.is_empty(), "families differ:\n{}", problems.join("\n"));
}
