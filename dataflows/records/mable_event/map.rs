//! [`StrMap`]: the open-ended objects of an event (cookies, query parameters,
//! click ids), whose keys are data rather than schema.

use std::fmt;

use compact_str::CompactString;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::Extra;
use super::wire::plain_wire;

/// A JSON object of string values, in input order.
///
/// A `Vec` rather than a hash map: these objects have a handful of keys, read
/// in order and rarely looked up, and a `Vec` of inline [`CompactString`]s
/// costs one allocation where a map costs one per entry plus its table.
/// Values that are not strings (a tracker that sends `"n": 3`) are not an
/// error: they are kept in [`extra`](StrMap::extra) and written after the
/// string entries, so the only change a round trip can make is that order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StrMap {
    /// The string-valued keys, in input order; a repeated key appears twice.
    pub entries: Vec<(CompactString, CompactString)>,
    /// Keys whose values are not strings, as raw JSON.
    pub extra: Extra,
}

impl StrMap {
    /// The string value of `key`; the last one when it is repeated, as
    /// `serde_json::Value` would see it.
    pub fn get(&self, key: &str) -> Option<&str> {
        let found = self.entries.iter().rev().find(|(k, _)| k == key);
        found.map(|(_, v)| v.as_str())
    }
}

impl Serialize for StrMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            let mut t = s.serialize_tuple(2)?;
            t.serialize_element(&self.entries)?;
            t.serialize_element(&self.extra)?;
            return t.end();
        }
        let len = self.entries.len() + self.extra.unknown().len();
        let mut m = s.serialize_map(Some(len))?;
        for (k, v) in &self.entries {
            m.serialize_entry(k.as_str(), v.as_str())?;
        }
        self.extra.write_unknown(&mut m)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for StrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrMap, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(4));
                let mut others = Vec::new();
                while let Some(k) = map.next_key::<CompactString>()? {
                    match map.next_value_seed(StrOrRaw)? {
                        Ok(v) => entries.push((k, v)),
                        Err(raw) => others.push((k, raw)),
                    }
                }
                let mut extra = Extra::default();
                extra.set_unknown(others);
                Ok(StrMap { entries, extra })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrMap, A::Error> {
                let short = |n| de::Error::invalid_length(n, &"entries and extra");
                let entries = seq.next_element()?.ok_or_else(|| short(0))?;
                let extra = seq.next_element()?.ok_or_else(|| short(1))?;
                Ok(StrMap { entries, extra })
            }
        }
        if d.is_human_readable() {
            d.deserialize_map(V)
        } else {
            d.deserialize_tuple(2, V)
        }
    }
}

plain_wire! {
    StrMap => |v| v.entries.is_empty() && v.extra.is_empty();
}

/// A map value: a string (the fast path, no copy beyond the string itself),
/// or any other JSON value, kept as raw JSON re-serialised from its
/// `serde_json::Value` (same value; the text may be normalised).
struct StrOrRaw;

type Val = Result<CompactString, Box<RawValue>>;

fn raw<E: de::Error>(v: Value) -> Result<Val, E> {
    serde_json::value::to_raw_value(&v)
        .map(Err)
        .map_err(E::custom)
}

impl<'de> DeserializeSeed<'de> for StrOrRaw {
    type Value = Val;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrOrRaw {
    type Value = Val;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val, E> {
        Ok(Ok(CompactString::from(v)))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Val, E> {
        Ok(Ok(CompactString::from(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val, E> {
        raw(Value::from(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val, E> {
        raw(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val, E> {
        raw(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val, E> {
        raw(Value::from(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val, E> {
        raw(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Val, E> {
        raw(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Val, A::Error> {
        raw(Value::deserialize(MapAccessDeserializer::new(map))?)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Val, A::Error> {
        raw(Value::deserialize(SeqAccessDeserializer::new(seq))?)
    }
}
