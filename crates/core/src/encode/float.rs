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
    // Rust's `{:e}` gives the shortest round-trip digits, as Go's does: "d.ddde[-]x".
    let mut buf = String::with_capacity(32);
    let _ = write!(buf, "{:e}", v.abs());
    let (mantissa, exp) = buf.split_once('e').unwrap_or((&buf, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if v.is_sign_negative() {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(mantissa);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.abs());
        return;
    }
    let dp = exp + 1; // position of the decimal point relative to the digits
    let nd = digits.len() as i32;
    if dp <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-dp) as usize));
        out.push_str(&digits);
    } else if dp >= nd {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (dp - nd) as usize));
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
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
    let _ = write!(out, "{v}");
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
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(g(*v), *want, "formatting {v}");
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
