//! A fast path for reading `pipeline_metrics` lines: the report reads one
//! per stage × batch × worker, and serde's general parser is most of the
//! cost of writing a report after a run. This scanner reads a flat JSON
//! object of numbers and plain strings — what the engine writes — and gives
//! up (returns `None`) on anything else: escapes in a string it keeps,
//! nested values, bad syntax. The caller then parses the line with
//! serde_json, so the scanner decides speed, never meaning.

use std::borrow::Cow;

use super::rows::MetricLine;

/// A field's value, as far as the scanner reads it.
#[derive(Clone, Copy)]
enum Value<'a> {
    /// A string without escapes (UTF-8 not yet checked).
    Str(&'a [u8]),
    /// A string with escapes (not unescaped).
    Escaped,
    /// A non-negative integer.
    Int(u64),
    /// Any other number, `true`, `false` or `null`.
    Other,
}

/// The bytes that end a run of plain string characters.
const STOPS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The high bit of each byte of `w` (little-endian) that is a quote, a
/// backslash or below 0x20. Bits above the lowest may be false (a borrow
/// carries into the next byte), so only the lowest set bit is to be used.
#[inline]
fn stops_in(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    zero_in(w ^ (ONES * u64::from(b'"')))
        | zero_in(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// A string's raw bytes (between the quotes) and whether it had escapes.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let mut escaped = false;
        loop {
            // A quote, a backslash or a control character stops it. Eight
            // bytes at a time (most strings here are short keys, too short
            // for a vector search to pay for its setup), then byte by byte.
            while let Some(word) = b.get(i..i + 8) {
                let stops = stops_in(u64::from_le_bytes(word.try_into().unwrap_or([0; 8])));
                if stops != 0 {
                    i += stops.trailing_zeros() as usize / 8;
                    break;
                }
                i += 8;
            }
            while i < b.len() && !STOPS[usize::from(b[i])] {
                i += 1;
            }
            match *b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some((&b[start..i], escaped));
                }
                b'\\' => {
                    escaped = true;
                    match *b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let hex = b.get(i + 2..i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                // A control character: not allowed raw in a JSON string.
                _ => return None,
            }
        }
    }

    /// One or more digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    fn value(&mut self) -> Option<Value<'a>> {
        self.ws();
        match *self.b.get(self.i)? {
            b'"' => {
                let (raw, escaped) = self.string()?;
                if escaped {
                    Some(Value::Escaped)
                } else {
                    Some(Value::Str(raw))
                }
            }
            b'0'..=b'9' => {
                let start = self.i;
                let mut n: u64 = 0;
                while let Some(&c) = self.b.get(self.i) {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    // 19 digits always fit; longer numbers are read again below.
                    n = n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                    self.i += 1;
                }
                let (n, overflow) = if self.i - start <= 19 {
                    (n, false)
                } else {
                    let exact = self.b[start..self.i].iter().try_fold(0u64, |n, &c| {
                        n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
                    });
                    (exact.unwrap_or(0), exact.is_none())
                };
                let frac = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
                if frac {
                    // JSON's grammar: `.` and digits, then `e`, a sign and digits.
                    if self.b.get(self.i) == Some(&b'.') {
                        self.i += 1;
                        self.digits()?;
                    }
                    if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
                        self.i += 1;
                        if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                            self.i += 1;
                        }
                        self.digits()?;
                    }
                }
                // A leading zero followed by digits is not JSON.
                if self.b[start] == b'0' && self.i > start + 1 && self.b[start + 1].is_ascii_digit()
                {
                    return None;
                }
                Some(if frac || overflow {
                    Value::Other
                } else {
                    Value::Int(n)
                })
            }
            b'-' => {
                self.i += 1;
                match self.value()? {
                    Value::Int(_) | Value::Other => Some(Value::Other),
                    _ => None,
                }
            }
            b't' | b'f' | b'n' => {
                for word in [&b"true"[..], b"false", b"null"] {
                    if self.b[self.i..].starts_with(word) {
                        self.i += word.len();
                        return Some(Value::Other);
                    }
                }
                None
            }
            _ => None,
        }
    }
}

/// A `pipeline_metrics` line, if it is a flat object with every column the
/// report needs and no escapes in the strings it keeps.
pub fn metric_line(line: &[u8]) -> Option<MetricLine<'_>> {
    // serde rejects a line that is not UTF-8 anywhere, in a string the
    // report skips too. The engine writes ASCII, checked a word at a time.
    if !line.is_ascii() {
        std::str::from_utf8(line).ok()?;
    }
    let mut c = Cursor { b: line, i: 0 };
    c.eat(b'{')?;
    let mut path: Option<&str> = None;
    let mut kind: Option<&str> = None;
    let mut nums = [None::<u64>; 9];
    c.ws();
    if c.b.get(c.i) == Some(&b'}') {
        return None;
    }
    loop {
        let (key, escaped) = c.string()?;
        if escaped {
            return None;
        }
        c.eat(b':')?;
        let value = c.value()?;
        // A key twice is an error to serde: leave such a line to it.
        let slot = match key {
            b"stage_path" | b"stage_kind" => {
                let (Value::Str(s), None) = (value, if key == b"stage_path" { path } else { kind })
                else {
                    return None;
                };
                let s = std::str::from_utf8(s).ok()?;
                if key == b"stage_path" {
                    path = Some(s);
                } else {
                    kind = Some(s);
                }
                None
            }
            b"operator_id" => Some(0),
            b"batch_id" => Some(1),
            b"input_count" => Some(2),
            b"output_count" => Some(3),
            b"busy_ns" => Some(4),
            b"start_us" => Some(5),
            b"end_us" => Some(6),
            b"worker_id" => Some(7),
            b"process_id" => Some(8),
            _ => None,
        };
        if let Some(slot) = slot {
            match value {
                Value::Int(n) if nums[slot].is_none() => nums[slot] = Some(n),
                _ => return None,
            }
        }
        c.ws();
        match c.b.get(c.i)? {
            b',' => c.i += 1,
            b'}' => {
                c.i += 1;
                break;
            }
            _ => return None,
        }
    }
    c.ws();
    if c.i != line.len() {
        return None;
    }
    let small = |n: Option<u64>| n.and_then(|n| u32::try_from(n).ok());
    Some(MetricLine {
        stage_path: Cow::Borrowed(path?),
        stage_kind: Cow::Borrowed(kind.unwrap_or("")),
        operator_id: nums[0].unwrap_or(0),
        batch_id: small(nums[1])?,
        input_count: nums[2]?,
        output_count: nums[3]?,
        busy_ns: nums[4]?,
        start_us: nums[5].unwrap_or(0),
        end_us: nums[6].unwrap_or(0),
        worker_id: small(nums[7])?,
        process_id: small(nums[8]).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(line: &str) {
        let fast = metric_line(line.as_bytes());
        let slow: Option<MetricLine> = serde_json::from_str(line).ok();
        match (fast, slow) {
            (Some(f), Some(s)) => {
                assert_eq!(
                    (
                        f.stage_path,
                        f.stage_kind,
                        f.operator_id,
                        f.batch_id,
                        f.input_count
                    ),
                    (
                        s.stage_path,
                        s.stage_kind,
                        s.operator_id,
                        s.batch_id,
                        s.input_count
                    ),
                    "{line}"
                );
                assert_eq!(
                    (
                        f.output_count,
                        f.busy_ns,
                        f.start_us,
                        f.end_us,
                        f.worker_id,
                        f.process_id
                    ),
                    (
                        s.output_count,
                        s.busy_ns,
                        s.start_us,
                        s.end_us,
                        s.worker_id,
                        s.process_id
                    ),
                    "{line}"
                );
            }
            // The scanner may give up where serde reads the line: it falls back.
            (None, _) => {}
            (Some(f), None) => panic!("the scanner read what serde rejects: {line} → {f:?}"),
        }
    }

    #[test]
    fn the_scanner_agrees_with_serde() {
        let real = r#"{"stage_name":"stamp","batch_id":0,"input_count":2695,"output_count":2695,"duration_ms":0.016384,"worker_id":1,"timestamp":1796104862,"run_id":"1796104862-fe456f70","dataflow":"mable_event","stage_path":"stamp","stage_kind":"map","operator_id":5,"process_id":0,"busy_ns":16384,"start_us":1796104862294759,"end_us":1796104862294776,"insert_id":"1796104862-fe456f70-p0-000000"}"#;
        assert!(metric_line(real.as_bytes()).is_some());
        same(real);
        for line in [
            r#"{"stage_path":"a/then/b","batch_id":1,"input_count":0,"output_count":0,"busy_ns":0,"worker_id":3}"#,
            r#" { "stage_path" : "x" , "batch_id" : 2 , "input_count":1,"output_count":2,"busy_ns":3,"worker_id":0 , "extra": -1.5e3, "b": true, "n": null } "#,
            r#"{"stage_path":"x","batch_id":4294967296,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0}"#,
            r#"{"stage_path":"x\"y","batch_id":1,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0,"nested":{"a":1}}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":3}"#,
            r#"{"stage_path":"x","batch_id":01,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":-1,"output_count":2,"busy_ns":3,"worker_id":0}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1.0,"output_count":2,"busy_ns":3,"worker_id":0}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0} trailing"#,
            r#"{"stage_path":"é","batch_id":1,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0,"s":"a\\b"}"#,
            r#"{}"#,
            r#"{"stage_path":"x",}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0,"s":"\q"}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0,"s":"\u00e9"}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":18446744073709551615,"worker_id":0}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":18446744073709551616,"worker_id":0}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":28446744073709551615,"worker_id":0}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":9999999999999999999,"worker_id":0}"#,
            r#"{"stage_path":"x","batch_id":1,"input_count":1,"output_count":2,"busy_ns":123456789012345678901234,"worker_id":0}"#,
            r#"{"stage_path":"a\u0001b","batch_id":1,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0}"#,
            "{\"stage_path\":\"a\u{1}b\",\"batch_id\":1,\"input_count\":1,\"output_count\":2,\"busy_ns\":3,\"worker_id\":0}",
            "{\"stage_path\":\"abcdefgh\u{1f}ijk\",\"batch_id\":1,\"input_count\":1,\"output_count\":2,\"busy_ns\":3,\"worker_id\":0}",
            r#"{"stage_path":"x","batch_id":1,"batch_id":2,"input_count":1,"output_count":2,"busy_ns":3,"worker_id":0}"#,
        ] {
            same(line);
        }
    }

    proptest::proptest! {
        // 2,000 cases: a few milliseconds, and enough to have found two
        // ways the scanner was laxer than serde (bytes that are not UTF-8 in
        // a skipped string; `0..5` and `0.-5` read as numbers). Failures are
        // not saved to a file: the top level of the tree is fixed.
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]
        /// Lines near the engine's, with bytes changed, put in or taken out
        /// (quotes, backslashes, control bytes, digits, UTF-8 among them):
        /// the scanner never reads one differently from serde.
        #[test]
        fn the_scanner_agrees_with_serde_on_damaged_lines(
            edits in proptest::collection::vec(
                (0usize..400, 0u8..4, proptest::sample::select(vec![
                    b'"', b'\\', b'\n', 0x01, 0x1f, b' ', b'0', b'9', b'-', b'.', b'e',
                    b'u', b'{', b'}', b',', b':', 0xc3, 0xa9, 0xff, b'a',
                ])),
                0..4,
            ),
            digits in 0usize..24,
        ) {
            let mut line = format!(
                r#"{{"stage_name":"stamp\u00e9","batch_id":0,"input_count":2695,"output_count":2695,"duration_ms":0.016384,"worker_id":1,"timestamp":1796104862,"run_id":"1796104862-fe456f70","dataflow":"mable_event","stage_path":"stamp","stage_kind":"map","operator_id":5,"process_id":0,"busy_ns":{},"start_us":1796104862294759,"end_us":1796104862294776,"insert_id":"1796104862-fe456f70-p0-000000"}}"#,
                &"18446744073709551615123"[..digits.max(1)]
            )
            .into_bytes();
            for (at, how, byte) in edits {
                let at = at % (line.len() + 1);
                match how {
                    0 if at < line.len() => line[at] = byte,
                    1 => line.insert(at, byte),
                    2 if at < line.len() => {
                        line.remove(at);
                    }
                    _ => {}
                }
            }
            if let Ok(text) = std::str::from_utf8(&line) {
                same(text);
            } else {
                // Not UTF-8: serde rejects it, and so must the scanner.
                let fast = metric_line(&line);
                proptest::prop_assert!(
                    fast.is_none() || serde_json::from_slice::<MetricLine>(&line).is_ok()
                );
            }
        }
    }
}
