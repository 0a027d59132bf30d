//! How numbers read in the report: counts with thousands separators, times
//! with three significant digits, and HTML-escaped text.

use std::borrow::Cow;

/// `1234567` → `1,234,567`.
///
/// ```
/// assert_eq!(mable_pipeline::report::format::count(1234567), "1,234,567");
/// assert_eq!(mable_pipeline::report::format::count(12), "12");
/// ```
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A signed count: `-1,234`.
pub fn signed(n: i64) -> String {
    if n < 0 {
        format!("-{}", count(n.unsigned_abs()))
    } else {
        count(n as u64)
    }
}

/// Milliseconds with about three significant digits: `0.042 ms`, `4.21 ms`,
/// `42.1 ms`, `421 ms`, `4.21 s`.
///
/// ```
/// use mable_pipeline::report::format::ms;
/// assert_eq!(ms(0.0421), "0.042 ms");
/// assert_eq!(ms(42.12), "42.1 ms");
/// assert_eq!(ms(4212.0), "4.21 s");
/// ```
pub fn ms(ms: f64) -> String {
    let a = ms.abs();
    if a >= 10_000.0 {
        format!("{:.1} s", ms / 1e3)
    } else if a >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if a >= 100.0 {
        format!("{ms:.0} ms")
    } else if a >= 10.0 {
        format!("{ms:.1} ms")
    } else if a >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// Nanoseconds, read as [`ms`].
pub fn ns(ns: u64) -> String {
    ms(ns as f64 / 1e6)
}

/// A share: `34 %`, `0.4 %`.
pub fn pct(share: f64) -> String {
    let p = share * 100.0;
    if p != 0.0 && p.abs() < 1.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

/// A signed relative change: `+12 %`, `−3.4 %`.
pub fn change(rel: f64) -> String {
    let p = rel * 100.0;
    let sign = if p < 0.0 { "−" } else { "+" };
    if p.abs() < 10.0 {
        format!("{sign}{:.1} %", p.abs())
    } else {
        format!("{sign}{:.0} %", p.abs())
    }
}

/// Records per second: `3.35 M/s`.
pub fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M records/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k records/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} records/s")
    }
}

/// Text made safe for HTML, in element content and quoted attributes.
pub fn esc(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(500676), "500,676");
        assert_eq!(signed(-1234), "-1,234");
        assert_eq!(ms(0.0), "0.000 ms");
        assert_eq!(ms(4.212), "4.21 ms");
        assert_eq!(ms(421.2), "421 ms");
        assert_eq!(ms(12345.0), "12.3 s");
        assert_eq!(pct(0.341), "34 %");
        assert_eq!(pct(0.004), "0.4 %");
        assert_eq!(change(-0.034), "−3.4 %");
        assert_eq!(change(0.25), "+25 %");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
