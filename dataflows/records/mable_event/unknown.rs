//! [`Extra`]: what a typed struct of the event does not model, kept so that
//! parse → serialise gives back the input.

use std::fmt;

use compact_str::CompactString;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeTuple, Serializer};
use serde_json::value::RawValue;

/// One key the struct does not model, with its value's JSON text as read.
pub type UnknownField = (CompactString, Box<RawValue>);

/// The part of an object its struct's typed fields do not capture.
///
/// Tracking payloads grow keys faster than this crate's types do, and a
/// pipeline that forwards events must not strip what it does not understand.
/// So every struct of [`MableEvent`](crate::dataflows::records::MableEvent) carries one:
///
/// * **Unknown keys**, in input order, with their values as raw JSON text
///   (neither parsed nor re-formatted, so numbers such as
///   `12345678901234567890` and escapes come back byte for byte). They are
///   written after the known fields. Duplicate unknown keys are kept, all of
///   them.
/// * **How known keys were written**, where the typed value cannot tell: a
///   key that was present with `null` (an `Option` field that is `None`) or
///   with its type's default (`"srw": 0`, `"is_backend": false`, `[]`), and a
///   float field written as an integer (`"price": 100`, which must not come
///   back as `100.0`).
///
/// Equality compares all of it, raw text included: two events are equal when
/// they serialise the same way, so `{"x":1}` and `{"x":1.0}` in an unknown key
/// make different events.
///
/// The unknown keys cost nothing (no allocation, 16 bytes together with the
/// flags) when there are none, which is the common case.
#[derive(Clone, Default)]
pub struct Extra {
    // Boxed: 8 bytes in every struct instead of 24, and unknown keys are rare.
    #[allow(clippy::box_collection)]
    unknown: Option<Box<Vec<UnknownField>>>,
    /// Bit `i`: known field `i` was present although its value reads as absent.
    explicit: u16,
    /// Bit `i`: known float field `i` was written as an integer.
    ints: u16,
}

/// Field flag: the key was present with `null` or its default value.
pub(crate) const EXPLICIT: u8 = 1;
/// Field flag: the float was written as an integer.
pub(crate) const INT: u8 = 2;

impl Extra {
    /// The unknown keys, in input order.
    pub fn unknown(&self) -> &[UnknownField] {
        self.unknown.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The value of unknown key `key`; the last one when it is repeated, as
    /// `serde_json::Value` would see it.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        let found = self.unknown().iter().rev().find(|(k, _)| k == key);
        found.map(|(_, v)| &**v)
    }

    /// Adds an unknown key, written after the known fields and the unknown
    /// keys already present. A key that a typed field models would be written
    /// twice, and the output would then fail to parse: set the field instead.
    pub fn push(&mut self, key: impl Into<CompactString>, value: Box<RawValue>) {
        self.unknown
            .get_or_insert_with(Default::default)
            .push((key.into(), value));
    }

    /// Removes every occurrence of unknown key `key`, returning the last.
    pub fn remove(&mut self, key: &str) -> Option<Box<RawValue>> {
        let list = self.unknown.as_mut()?;
        let mut last = None;
        list.retain_mut(|(k, v)| {
            if k != key {
                return true;
            }
            last = Some(std::mem::take(v));
            false
        });
        if list.is_empty() {
            self.unknown = None;
        }
        last
    }

    /// Forgets the unknown keys and how known keys were written, so the struct
    /// serialises from its typed fields alone.
    pub fn clear(&mut self) {
        *self = Extra::default();
    }

    /// Whether there is nothing beyond the typed fields.
    pub fn is_empty(&self) -> bool {
        self.unknown.is_none() && self.explicit == 0 && self.ints == 0
    }

    /// The [`EXPLICIT`] / [`INT`] flags of known field `i`.
    #[inline]
    pub(crate) fn flags(&self, i: u8) -> u8 {
        (((self.explicit >> i) & 1) as u8 * EXPLICIT) | (((self.ints >> i) & 1) as u8 * INT)
    }

    #[inline]
    pub(crate) fn set_flags(&mut self, i: u8, flags: u8) {
        self.explicit |= u16::from(flags & EXPLICIT != 0) << i;
        self.ints |= u16::from(flags & INT != 0) << i;
    }

    /// Installs the unknown keys collected while parsing.
    #[inline]
    pub(crate) fn set_unknown(&mut self, unknown: Vec<UnknownField>) {
        if !unknown.is_empty() {
            self.unknown = Some(Box::new(unknown));
        }
    }

    /// Writes the unknown keys into the object being serialised.
    #[inline]
    pub(crate) fn write_unknown<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for (k, v) in self.unknown() {
            map.serialize_entry(k.as_str(), v)?;
        }
        Ok(())
    }
}

impl PartialEq for Extra {
    fn eq(&self, other: &Self) -> bool {
        self.explicit == other.explicit
            && self.ints == other.ints
            && self.unknown().len() == other.unknown().len()
            && (self.unknown().iter())
                .zip(other.unknown())
                .all(|((k, v), (k2, v2))| k == k2 && v.get() == v2.get())
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Extra");
        if !self.unknown().is_empty() {
            d.field("unknown", &self.unknown());
        }
        if self.explicit != 0 {
            d.field("explicit", &format_args!("{:#b}", self.explicit));
        }
        if self.ints != 0 {
            d.field("ints", &format_args!("{:#b}", self.ints));
        }
        d.finish()
    }
}

/// In JSON: an object of the unknown keys (the flags only mean something next
/// to the struct's own fields). In binary formats (bincode, between timely
/// processes): flags and unknown keys, so that nothing is lost on the way.
impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let mut m = s.serialize_map(Some(self.unknown().len()))?;
            self.write_unknown(&mut m)?;
            return m.end();
        }
        struct Texts<'a>(&'a [UnknownField]);
        impl Serialize for Texts<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|(k, v)| (k.as_str(), v.get())))
            }
        }
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element(&self.explicit)?;
        t.serialize_element(&self.ints)?;
        t.serialize_element(&Texts(self.unknown()))?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Extra;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of unknown keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extra, A::Error> {
                let mut unknown = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    unknown.push(entry);
                }
                let mut extra = Extra::default();
                extra.set_unknown(unknown);
                Ok(extra)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Extra, A::Error> {
                let missing = |n| de::Error::invalid_length(n, &"flags and unknown keys");
                let explicit = seq.next_element()?.ok_or_else(|| missing(0))?;
                let ints = seq.next_element()?.ok_or_else(|| missing(1))?;
                let texts: Vec<(CompactString, String)> =
                    seq.next_element()?.ok_or_else(|| missing(2))?;
                let mut unknown = Vec::with_capacity(texts.len());
                for (k, text) in texts {
                    unknown.push((k, RawValue::from_string(text).map_err(de::Error::custom)?));
                }
                let mut extra = Extra {
                    explicit,
                    ints,
                    ..Extra::default()
                };
                extra.set_unknown(unknown);
                Ok(extra)
            }
        }
        if d.is_human_readable() {
            d.deserialize_map(V)
        } else {
            d.deserialize_tuple(3, V)
        }
    }
}
