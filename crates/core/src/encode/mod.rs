//! Exposition: turning a sorted list of families into bytes, and choosing the format from `Accept`.
//!
//! Encoding is pure: it takes families that are already in memory and never does I/O.

pub mod deflate;
pub mod float;
pub mod openmetrics;
pub mod text;

use crate::model::MetricFamily;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4, the default.
    Text004,
    /// OpenMetrics 1.0.0.
    OpenMetrics100,
    /// OpenMetrics 0.0.1 (same body as 1.0.0; only the content type differs).
    OpenMetrics001,
}

impl Format {
    /// The `Content-Type` header value for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics100 => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::OpenMetrics001 => "application/openmetrics-text; version=0.0.1; charset=utf-8",
        }
    }

    /// Picks the format for an `Accept` header value, as the Go exporters do: the acceptable media range with the
    /// highest `q` wins (earlier wins ties); OpenMetrics only when asked for, text 0.0.4 otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text004;
        };
        let mut best: Option<(f32, Format)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            let mut version = None;
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "q" => q = v.trim().parse().unwrap_or(0.0),
                        "version" => version = Some(v.trim().trim_matches('"').to_owned()),
                        _ => {}
                    }
                }
            }
            if q <= 0.0 {
                continue;
            }
            let format = match (media.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0")) => Format::OpenMetrics100,
                ("application/openmetrics-text", Some("0.0.1")) => Format::OpenMetrics001,
                ("text/plain" | "text/*" | "*/*", None | Some("0.0.4")) => Format::Text004,
                _ => continue,
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Text004, |(_, f)| f)
    }
}

/// Encodes sorted families in `format`.
pub fn encode(format: Format, families: &[MetricFamily]) -> String {
    let mut out = String::with_capacity(families.len() * 256);
    match format {
        Format::Text004 => text::encode(&mut out, families),
        Format::OpenMetrics100 | Format::OpenMetrics001 => openmetrics::encode(&mut out, families),
    }
    out
}

/// [`encode`] for families gathered from several places (a shared scrape result and the exporter's own
/// metrics), so none has to be cloned into one list first. `families` must already be sorted by name.
pub fn encode_refs(format: Format, families: &[&MetricFamily]) -> String {
    let mut out = String::with_capacity(families.len() * 256);
    let iter = families.iter().copied();
    match format {
        Format::Text004 => text::encode(&mut out, iter),
        Format::OpenMetrics100 | Format::OpenMetrics001 => openmetrics::encode(&mut out, iter),
    }
    out
}

/// Whether an `Accept-Encoding` header value accepts gzip.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|e| {
            let mut parts = e.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let q_zero = parts.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
            coding.eq_ignore_ascii_case("gzip") && !q_zero
        })
    })
}

/// The gzip header (RFC 1952): deflate, no flags, no time, XFL 4 (fastest compression), OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff];

/// Gzips `body` with [`deflate::compress`] (fast, and its state is about 9 KiB instead of a general
/// compressor's 300 KiB). Never fails; the `Result` is kept for callers written against a fallible compressor.
pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() / 4 + 64);
    out.extend_from_slice(&GZIP_HEADER);
    deflate::compress(body, &mut out);
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    // ISIZE: the length modulo 2^32.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(Format::negotiate(None), Format::Text004);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text004);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text004);
        assert_eq!(Format::negotiate(Some("application/json")), Format::Text004);
        // What Prometheus 2.x sends.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                    text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics100);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5")),
            Format::Text004
        );
        assert_eq!(Format::negotiate(Some("application/openmetrics-text; version=0.0.1")), Format::OpenMetrics001);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;q=0,text/plain;q=0.1")), Format::Text004);
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let unzip = |z: &[u8]| {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(z).read_to_end(&mut out).expect("valid gzip");
            out
        };
        // Empty, small (written with deflate's fixed code), and large (with the exposition code).
        let big: Vec<u8> =
            (0..300_000u32).flat_map(|i| format!("metric_{} {}\n", i % 97, i * 7).into_bytes()).collect();
        for body in [&b""[..], b"up 1\n", &big, b"up 1\n", &big] {
            let z = gzip(body).expect("gzip");
            assert_eq!(z[..10], GZIP_HEADER);
            assert_eq!(unzip(&z), body);
        }
    }

    #[test]
    fn gzip_acceptance() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=1.0, *;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(None));
        assert!(!accepts_gzip(Some("identity")));
    }
}
