//! Writing SVG: a string builder with the few shapes the report draws, and
//! its colour scale. SVG is written inline in the page (no `xmlns` needed,
//! no external reference of any kind).

use std::fmt::Write;

use super::format::esc;

/// An SVG element being written.
pub struct Svg {
    out: String,
}

impl Svg {
    /// Opens `<svg>` with a viewBox of `w` × `h` and extra attributes.
    pub fn new(w: f64, h: f64, attrs: &str) -> Svg {
        let mut out = String::with_capacity(4096);
        let _ = write!(
            out,
            r#"<svg viewBox="0 0 {} {}" width="{}" height="{}" {attrs}>"#,
            n(w),
            n(h),
            n(w),
            n(h)
        );
        Svg { out }
    }

    /// Raw markup (already escaped).
    pub fn raw(&mut self, s: &str) -> &mut Self {
        self.out.push_str(s);
        self
    }

    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, attrs: &str) -> &mut Self {
        let _ = write!(
            self.out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" {attrs}/>"#,
            n(x),
            n(y),
            n(w.max(0.0)),
            n(h.max(0.0))
        );
        self
    }

    /// A rectangle with a hover title.
    pub fn rect_titled(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        attrs: &str,
        title: &str,
    ) -> &mut Self {
        let _ = write!(
            self.out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" {attrs}><title>{}</title></rect>"#,
            n(x),
            n(y),
            n(w.max(0.0)),
            n(h.max(0.0)),
            esc(title)
        );
        self
    }

    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, attrs: &str) -> &mut Self {
        let _ = write!(
            self.out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" {attrs}/>"#,
            n(x1),
            n(y1),
            n(x2),
            n(y2)
        );
        self
    }

    /// Text at (x, y), escaped.
    pub fn text(&mut self, x: f64, y: f64, attrs: &str, text: &str) -> &mut Self {
        let _ = write!(
            self.out,
            r#"<text x="{}" y="{}" {attrs}>{}</text>"#,
            n(x),
            n(y),
            esc(text)
        );
        self
    }

    pub fn path(&mut self, d: &str, attrs: &str) -> &mut Self {
        let _ = write!(self.out, r#"<path d="{d}" {attrs}/>"#);
        self
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// A coordinate, to a tenth of a pixel, without trailing zeros. It is
/// written as integer tenths: a report writes thousands of coordinates, and
/// float formatting (with an allocation each) was a tenth of its cost.
pub fn n(v: f64) -> Coord {
    // `as` saturates, and NaN becomes 0: no SVG attribute gets "NaN".
    Coord((v * 10.0).round() as i64)
}

/// A coordinate in tenths (see [`n`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coord(i64);

impl std::fmt::Display for Coord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.0.unsigned_abs();
        if self.0 < 0 {
            f.write_str("-")?;
        }
        f.write_str(itoa::Buffer::new().format(a / 10))?;
        if !a.is_multiple_of(10) {
            f.write_str(".")?;
            f.write_str(itoa::Buffer::new().format(a % 10))?;
        }
        Ok(())
    }
}

/// The heat colour of `t` in 0..=1 (pale yellow → orange → deep red), and
/// whether text on it should be white.
pub fn heat(t: f64) -> (String, bool) {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [255.0, 247.0, 236.0]),
        (0.25, [253.0, 212.0, 158.0]),
        (0.5, [252.0, 141.0, 89.0]),
        (0.75, [215.0, 48.0, 31.0]),
        (1.0, [127.0, 0.0, 0.0]),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let i = STOPS
        .iter()
        .position(|(at, _)| *at >= t)
        .unwrap_or(STOPS.len() - 1)
        .max(1);
    let (a, ca) = STOPS[i - 1];
    let (b, cb) = STOPS[i];
    let f = if b > a { (t - a) / (b - a) } else { 0.0 };
    let c: Vec<u8> = (0..3)
        .map(|k| (ca[k] + (cb[k] - ca[k]) * f).round() as u8)
        .collect();
    (format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]), t > 0.6)
}

/// Colours for stages in the waterfall, by index (a qualitative palette).
pub const STAGE_COLOURS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_runs_from_pale_to_dark() {
        assert_eq!(heat(0.0).0, "#fff7ec");
        assert_eq!(heat(1.0).0, "#7f0000");
        assert_eq!(heat(0.5).0, "#fc8d59");
        assert!(!heat(0.1).1);
        assert!(heat(0.9).1);
        assert_eq!(heat(f64::NAN).0, "#fff7ec");
    }

    #[test]
    fn coordinates_are_short() {
        assert_eq!(n(3.0).to_string(), "3");
        assert_eq!(n(12.3456).to_string(), "12.3");
        assert_eq!(n(-0.04).to_string(), "0");
        assert_eq!(n(-0.5).to_string(), "-0.5");
        assert_eq!(n(-12.25).to_string(), "-12.3");
        assert_eq!(n(0.05).to_string(), "0.1");
        assert_eq!(n(f64::NAN).to_string(), "0");
        // The same text as formatting the rounded float, over a range.
        for i in -20_000..20_000 {
            let v = f64::from(i) * 0.0137;
            let r = (v * 10.0).round() / 10.0;
            let old = if r == r.trunc() {
                format!("{}", r as i64)
            } else {
                format!("{r:.1}")
            };
            let old = if old == "-0" { "0".to_string() } else { old };
            assert_eq!(n(v).to_string(), old, "{v}");
        }
    }
}
