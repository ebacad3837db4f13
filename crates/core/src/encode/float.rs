//! Float formatting identical to Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which the Go exporters use, so our
//! output can be compared byte for byte with theirs.

use std::fmt::Write;

/// Appends `v` as Go's `%g` with shortest precision writes it (`1e+06`, `123456`, `1.5e-05`, `+Inf`, `NaN`).
pub fn write_go_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Most samples are whole numbers below a million (counts, bytes of small things, ids): Go writes those as
    // plain integers, and so can we without going through the float formatter.
    if v.fract() == 0.0 && v.abs() < 1e6 {
        if v < 0.0 {
            out.push('-');
        }
        write_u64(out, v.abs() as u64);
        return;
    }
    // Larger whole numbers up to 2^53 (byte and packet counters): every such integer is exactly a double and the
    // next one is a different double, so its digits without trailing zeros are the shortest form, written with an
    // exponent as Go writes numbers of a million and more ("1.073741824e+09"), without the float formatter.
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        if v < 0.0 {
            out.push('-');
        }
        let mut digits = [0u8; 20];
        let all = u64_digits(&mut digits, v.abs() as u64);
        let exp = all.len() - 1;
        let kept = all.trim_end_matches('0');
        out.push_str(kept.get(..1).unwrap_or("0"));
        if kept.len() > 1 {
            out.push('.');
            out.push_str(kept.get(1..).unwrap_or_default());
        }
        out.push_str(if exp < 10 { "e+0" } else { "e+" });
        write_u64(out, exp as u64);
        return;
    }
    write_general(out, v);
}

/// [`write_go_float`] for any finite, non-zero `v`, through Rust's shortest round-trip formatting.
fn write_general(out: &mut String, v: f64) {
    // Rust's `{:e}` gives the shortest round-trip digits, as Go's does: "d.ddde[-]x". At most 24 bytes for an f64,
    // so a buffer on the stack does.
    let mut buf = StackBuf::default();
    if write!(buf, "{:e}", v.abs()).is_err() {
        // Cannot happen for a finite f64; fall back to the allocating path rather than writing nothing.
        let _ = write!(out, "{v}");
        return;
    }
    let text = buf.as_str();
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if v.is_sign_negative() {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(mantissa);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        write_u64(out, u64::from(e));
        return;
    }
    // `{:e}` writes one digit before the point: "1.25" has the digits "125".
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let nd = (int.len() + frac.len()) as i32;
    let dp = exp + 1; // position of the decimal point relative to the digits
    if dp <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-dp) as usize));
        out.push_str(int);
        out.push_str(frac);
    } else if dp >= nd {
        out.push_str(int);
        out.push_str(frac);
        out.extend(std::iter::repeat_n('0', (dp - nd) as usize));
    } else {
        let split = (dp as usize).saturating_sub(int.len()).min(frac.len());
        out.push_str(int);
        out.push_str(frac.get(..split).unwrap_or_default());
        out.push('.');
        out.push_str(frac.get(split..).unwrap_or_default());
    }
}

/// A small formatting buffer on the stack.
struct StackBuf {
    bytes: [u8; 40],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> Self {
        StackBuf { bytes: [0; 40], len: 0 }
    }
}

impl StackBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends `v` as client_golang writes floats in OpenMetrics: like [`write_go_float`], with `.0` added to integral
/// values so they read as floats.
pub fn write_om_float(out: &mut String, v: f64) {
    let start = out.len();
    write_go_float(out, v);
    if v.is_finite() && !out[start..].contains(['e', '.']) {
        out.push_str(".0");
    }
}

/// Appends an unsigned integer.
pub fn write_u64(out: &mut String, v: u64) {
    let mut buf = [0u8; 20];
    // ASCII digits, pushed as chars: no UTF-8 check of the buffer (one per sample value was 0.5 % of a scrape).
    out.extend(digit_bytes(&mut buf, v).iter().map(|&d| char::from(d)));
}

/// The decimal digits of `v` as ASCII bytes, written at the end of `buf`.
fn digit_bytes(buf: &mut [u8; 20], mut v: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The decimal digits of `v` as text, written at the end of `buf`.
fn u64_digits(buf: &mut [u8; 20], v: u64) -> &str {
    // ASCII digits only, so never the empty fallback.
    std::str::from_utf8(digit_bytes(buf, v)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: f64) -> String {
        let mut s = String::new();
        write_go_float(&mut s, v);
        s
    }

    #[test]
    fn whole_numbers_match_the_general_path() {
        let general = |v: f64| {
            let mut s = String::new();
            write_general(&mut s, v);
            s
        };
        let mut next = crate::testing::xorshift(0x9E37_79B9_7F4A_7C15);
        let mut cases = vec![1e6, 1e7, 1_234_567.0, 1_073_741_824.0, 9_007_199_254_740_991.0, 1e15, 999_999_999.0];
        for k in 6..16 {
            cases.push(10f64.powi(k));
            cases.push(10f64.powi(k) - 1.0);
            cases.push(10f64.powi(k) + 1.0);
        }
        for _ in 0..100_000 {
            // Integers of every length from 7 to 16 digits, below 2^53.
            let x = next();
            let v = (x >> (11 + x % 30)) as f64;
            if v >= 1e6 {
                cases.push(v);
            }
        }
        for v in cases {
            assert_eq!(g(v), general(v), "{v}");
            assert_eq!(g(-v), format!("-{}", general(v)), "{v}");
        }
        // 2^53 and beyond go the general way.
        assert_eq!(g(9_007_199_254_740_992.0), "9.007199254740992e+15");
        assert_eq!(g(1e21), "1e+21");
    }

    #[test]
    fn matches_go_formatting() {
        // Expected values are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints.
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (123456.0, "123456"),
            (1_000_000.0, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (25_066_070_016.0, "2.5066070016e+10"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000015, "1.5e-05"),
            (0.5, "0.5"),
            (3.25159, "3.25159"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (12.5, "12.5"),
            (999999.0, "999999"),
            (100.25, "100.25"),
            (-123456.0, "-123456"),
            (-999999.0, "-999999"),
            (-1_000_000.0, "-1e+06"),
            (-0.0, "-0"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (123456.5, "123456.5"),
            (0.000123, "0.000123"),
            (1.0e-7, "1e-07"),
            (-1.5e-10, "-1.5e-10"),
            (4503599627370497.0, "4.503599627370497e+15"),
            (18446744073709551615.0, "1.8446744073709552e+19"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(g(*v), *want, "formatting {v}");
        }
    }

    /// The straightforward version (two allocations per value), kept to check the fast one against.
    fn reference(v: f64) -> String {
        let mut out = String::new();
        if v.is_nan() || v.is_infinite() || v == 0.0 {
            write_go_float(&mut out, v);
            return out;
        }
        let buf = format!("{:e}", v.abs());
        let (mantissa, exp) = buf.split_once('e').unwrap_or((&buf, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        if v.is_sign_negative() {
            out.push('-');
        }
        if !(-4..6).contains(&exp) {
            out.push_str(&format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs()));
            return out;
        }
        let (dp, nd) = (exp + 1, digits.len() as i32);
        if dp <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-dp) as usize));
            out.push_str(&digits);
        } else if dp >= nd {
            out.push_str(&digits);
            out.push_str(&"0".repeat((dp - nd) as usize));
        } else {
            out.push_str(&digits[..dp as usize]);
            out.push('.');
            out.push_str(&digits[dp as usize..]);
        }
        out
    }

    #[test]
    fn fast_paths_agree_with_the_reference() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..50_000 {
            let r = next();
            let candidates = [
                f64::from_bits(r),
                (r % 2_000_000) as f64 - 1_000_000.0,
                (r % 4_000_000) as f64 / 4.0 - 500_000.0,
                (r % 1000) as f64 * 10f64.powi((r >> 20) as i32 % 30 - 15),
            ];
            for v in candidates {
                assert_eq!(g(v), reference(v), "bits {:#x}", v.to_bits());
            }
        }
    }

    #[test]
    fn integers() {
        for v in [0u64, 7, 10, 99, 100, 123_456_789, u64::MAX] {
            let mut s = String::new();
            write_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }

    #[test]
    fn openmetrics_floats_have_a_point() {
        let mut s = String::new();
        write_om_float(&mut s, 1.0);
        assert_eq!(s, "1.0");
        s.clear();
        write_om_float(&mut s, 1e6);
        assert_eq!(s, "1e+06");
        s.clear();
        write_om_float(&mut s, f64::INFINITY);
        assert_eq!(s, "+Inf");
    }
}
