//! A customer's clear values as the event's `cdas` holds them, read once in
//! the `hash_personal_data` stage and dropped there: only hashes (and
//! Google's clear address fields) go on.

use compact_str::CompactString;

use super::Cdas;
use super::normalise;

/// Clear text, lives only inside the hashing stage.
#[derive(Debug, Default)]
pub struct Customer {
    pub em: Vec<CompactString>,
    pub ph: Vec<CompactString>,
    pub first_name: Vec<CompactString>,
    pub ln: Vec<CompactString>,
    pub db: Vec<CompactString>,
    pub ge: Vec<CompactString>,
    pub street: Vec<CompactString>,
    pub ct: Vec<CompactString>,
    pub st: Vec<CompactString>,
    pub zip: Vec<CompactString>,
    pub cc: Vec<CompactString>,
    pub id: Vec<CompactString>,
    /// The event's country (the first `cc` that is a known code or name),
    /// alpha-2 lower case: what completes a national phone number and
    /// decides the US rules for `st` and `zp`.
    pub country: Option<String>,
}

/// A list field, taken out of `cdas`.
fn take(v: &mut Option<Vec<CompactString>>) -> Vec<CompactString> {
    v.take().unwrap_or_default()
}

/// An unknown `cdas` field (`ph`, `st`, `db`, `ge`): a string or a list of
/// strings; numbers are read as their text (a phone written as a number).
fn extra(cdas: &Cdas, key: &str) -> Vec<CompactString> {
    let Some(raw) = cdas.extra.get(key) else {
        return Vec::new();
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(CompactString::from(s.as_str())),
        serde_json::Value::Number(n) => Some(CompactString::from(n.to_string())),
        _ => None,
    };
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::Array(items)) => items.iter().filter_map(text).collect(),
        Ok(v) => text(&v).into_iter().collect(),
        Err(_) => Vec::new(),
    }
}

impl Customer {
    /// Moves the customer's values out of `cdas`.
    pub fn take(cdas: &mut Cdas) -> Customer {
        let mut c = Customer {
            ph: extra(cdas, "ph"),
            st: extra(cdas, "st"),
            db: extra(cdas, "db"),
            ge: extra(cdas, "ge"),
            em: take(&mut cdas.em),
            first_name: take(&mut cdas.r#fn),
            ln: take(&mut cdas.ln),
            street: take(&mut cdas.street),
            ct: take(&mut cdas.ct),
            zip: take(&mut cdas.zip),
            cc: take(&mut cdas.cc),
            id: take(&mut cdas.id),
            country: None,
        };
        c.country = c.cc.iter().find_map(|v| normalise::country(v));
        c
    }
}
