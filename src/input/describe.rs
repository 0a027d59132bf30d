//! Why a record could not be read, in words — without quoting personal data.
//!
//! serde_json's messages quote input values (`invalid type: string
//! "secret.person@example.com", expected a sequence`). For a dataflow whose
//! records carry personal data the reason names the field path, what was
//! expected and the JSON type found, and never a value: the record is
//! parsed again, on this error path only, through `serde_path_to_error` to
//! learn the path, and the message is rebuilt from serde's fixed wording.
//! Other dataflows keep serde's message (values help to find the record)
//! and get the field path too.
//!
//! What serde_json can put in a message, and what is kept for personal data:
//! syntax and end-of-input errors are fixed texts (kept, with the column);
//! `invalid type` / `invalid value` quote the value (rebuilt: expected type,
//! found type); `unknown variant` quotes the value (withheld); `unknown
//! field`, `missing field`, `duplicate field` quote a key (kept when it looks
//! like a field name); `invalid length` gives a count (kept); any other
//! custom message is withheld. Non-UTF-8 records are described by the byte
//! position only, never the bytes.

use serde::de::DeserializeOwned;

/// A readable reason for a record serde_json could not parse. `raw` is the
/// record's bytes; with `personal_data` no input value is quoted.
pub(crate) fn describe<R: DeserializeOwned>(
    e: &serde_json::Error,
    raw: &[u8],
    is_last_unterminated: bool,
    personal_data: bool,
) -> String {
    if let Err(u) = std::str::from_utf8(raw) {
        return format!(
            "not valid UTF-8 (byte {} of the record)",
            u.valid_up_to() + 1
        );
    }
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof if is_last_unterminated => format!(
            "truncated last line: the file ends in the middle of a JSON value ({})",
            strip_position(e)
        ),
        Category::Eof => format!("incomplete JSON value: {}", strip_position(e)),
        Category::Syntax => format!(
            "malformed JSON: {} at column {}",
            strip_position(e),
            e.column()
        ),
        Category::Data => {
            let message = strip_position(e);
            let message = if personal_data {
                without_values(&message)
            } else {
                message
            };
            match field_path::<R>(raw, personal_data) {
                Some(path) => format!(
                    "wrong field or type: field {path}: {message} at column {}",
                    e.column()
                ),
                None => format!("wrong field or type: {message} at column {}", e.column()),
            }
        }
        Category::Io => format!("read error: {e}"),
    }
}

/// serde_json appends "at line L column C"; for one-record parses the line is
/// meaningless, so the position is reported separately.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Where in the record the error is (`cdas.em[0]`), or `None` at the top.
fn field_path<R: DeserializeOwned>(raw: &[u8], personal_data: bool) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let err = serde_path_to_error::deserialize::<_, R>(&mut de).err()?;
    let mut path = String::new();
    for segment in err.path().iter() {
        use serde_path_to_error::Segment;
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !path.is_empty() {
                    path.push('.');
                }
                // A map's keys are input too: keep only what looks like a field name.
                if personal_data && !is_field_name(key) {
                    path.push('?');
                } else {
                    path.push_str(key);
                }
            }
            Segment::Unknown => path.push_str(".?"),
        }
    }
    (!path.is_empty()).then_some(path)
}

/// Letters, digits and underscores, not starting with a digit, at most 40.
fn is_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.len() <= 40
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// serde's message for a data error, rebuilt from its fixed wording so that
/// no input value survives.
fn without_values(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = split_expected(rest);
        return format!("expected {expected}, found {}", json_type(found));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (found, expected) = split_expected(rest);
        return format!("invalid value ({}), expected {expected}", json_type(found));
    }
    if message.starts_with("invalid length ") {
        return message.to_string(); // a count and a type, nothing of the input's
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (_, expected) = split_expected(rest);
        return format!("unknown variant, expected {expected}");
    }
    for prefix in ["unknown field ", "missing field ", "duplicate field "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let key = rest
                .strip_prefix('`')
                .and_then(|r| r.split('`').next())
                .unwrap_or("");
            let tail = rest.rfind(", expected ").map_or("", |i| &rest[i..]);
            return if is_field_name(key) {
                format!("{prefix}`{key}`{tail}")
            } else {
                format!("{}{tail}", prefix.trim_end())
            };
        }
    }
    "invalid value (the message would quote it)".to_string()
}

/// Splits serde's "<unexpected>, expected <what>" at the last ", expected "
/// (a quoted value may contain those words, serde's expectations do not).
fn split_expected(rest: &str) -> (&str, &str) {
    match rest.rfind(", expected ") {
        Some(i) => (&rest[..i], &rest[i + ", expected ".len()..]),
        None => (rest, "something else"),
    }
}

/// The JSON type of serde's `Unexpected` text (`string "…"`, ``integer `5` ``),
/// from a fixed list, so nothing after the type word is ever kept.
fn json_type(unexpected: &str) -> &'static str {
    const TYPES: &[(&str, &str)] = &[
        ("string", "a string"),
        ("integer", "an integer"),
        ("floating point", "a number with a fraction"),
        ("boolean", "a boolean"),
        ("null", "null"),
        ("unit", "null"),
        ("map", "an object"),
        ("sequence", "an array"),
        ("character", "a string"),
    ];
    TYPES
        .iter()
        .find(|(word, _)| unexpected.starts_with(word))
        .map_or("another type", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record shaped like a shop event with personal data, defined here so
    /// the engine's tests need no content type.
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Event {
        eid: String,
        en: String,
        ts: i64,
        #[serde(default)]
        cdas: Option<Personal>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Personal {
        em: Option<Vec<String>>,
        zip: Option<Vec<String>>,
    }

    fn reason<R: DeserializeOwned>(json: &str, personal: bool) -> String {
        let e = serde_json::from_str::<R>(json).err().expect("a bad record");
        describe::<R>(&e, json.as_bytes(), false, personal)
    }

    #[test]
    fn wrong_types_name_path_expected_and_found_but_not_the_value() {
        let json = r#"{"eid":"e","en":"x","ts":1,"cdas":{"em":"secret.person@example.com"}}"#;
        let r = reason::<Event>(json, true);
        assert!(!r.contains("secret"), "{r}");
        assert!(
            r.contains("field cdas.em: expected a sequence, found a string"),
            "{r}"
        );
        let json = r#"{"eid":"e","en":"x","ts":1,"cdas":{"zip":[4915112345678]}}"#;
        let r = reason::<Event>(json, true);
        assert!(!r.contains("4915112345678"), "{r}");
        assert!(r.contains("field cdas.zip[0]:"), "{r}");
        assert!(r.contains("found an integer"), "{r}");
    }

    #[test]
    fn other_dataflows_keep_the_value_and_gain_the_path() {
        let json = r#"{"eid":"e","en":"x","ts":"yesterday"}"#;
        let r = reason::<Event>(json, false);
        assert!(
            r.contains("field ts: invalid type: string \"yesterday\""),
            "{r}"
        );
    }

    #[test]
    fn key_messages_keep_field_names_only() {
        assert_eq!(
            without_values("duplicate field `em`"),
            "duplicate field `em`"
        );
        assert_eq!(without_values("missing field `eid`"), "missing field `eid`");
        assert_eq!(
            without_values("unknown field `a@b.c`, expected `x` or `y`"),
            "unknown field, expected `x` or `y`"
        );
        assert_eq!(
            without_values("unknown variant `Jane Doe`, expected `a` or `b`"),
            "unknown variant, expected `a` or `b`"
        );
        assert_eq!(
            without_values("invalid value: string \"x, expected y\", expected a date"),
            "invalid value (a string), expected a date"
        );
        assert!(!without_values("anything custom: Jane Doe").contains("Jane"));
    }
}
