//! The hand-written serde machinery behind the event's structs.
//!
//! `#[serde(flatten)]` would keep unknown keys, but it buffers every object
//! through serde's `Content` tree first, which costs more than the parse
//! itself. Instead [`wire_struct!`] generates, from a struct's list of known
//! fields, a map visitor that matches keys against the field names, parses
//! known values straight into the typed fields, and copies only unknown values
//! as raw text; and a serialiser that writes the known fields in declaration
//! order, then the unknown keys. In binary formats (bincode, which timely uses
//! between processes) both sides use a fixed tuple of all fields instead: such
//! formats cannot skip fields or carry raw JSON.
//!
//! How a value is read, whether it is written and how, is per type: [`Wire`].

pub(crate) use super::derive::{wire_name, wire_struct};

use std::fmt;
use std::marker::PhantomData;

use compact_str::CompactString;
use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

pub(crate) use super::unknown::{EXPLICIT, INT};

/// How a known field's value is read and written in JSON.
pub(crate) trait Wire: Sized {
    /// Reads the value; sets `*int` when a float was written as an integer.
    fn read<'de, D: Deserializer<'de>>(d: D, int: &mut bool) -> Result<Self, D::Error>;

    /// Whether the value is what an absent key gives (`None`, the default):
    /// such a field is written only when the input had it.
    fn is_absent(&self) -> bool;

    /// Writes the value; `int` as [`Wire::read`] reported it.
    fn write<S: Serializer>(&self, int: bool, s: S) -> Result<S::Ok, S::Error>;
}

/// Types whose absent value is their default and that serde reads as is.
macro_rules! plain_wire {
    ($($ty:ty => |$v:ident| $absent:expr;)*) => {$(
        impl $crate::dataflows::records::mable_event::wire::Wire for $ty {
            #[inline]
            fn read<'de, D>(d: D, _: &mut bool) -> Result<Self, D::Error>
            where
                D: serde::Deserializer<'de>,
            {
                <$ty as serde::Deserialize>::deserialize(d)
            }
            #[inline]
            fn is_absent(&self) -> bool {
                let $v = self;
                $absent
            }
            #[inline]
            fn write<S: serde::Serializer>(&self, _: bool, s: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(self, s)
            }
        }
    )*};
}
pub(crate) use plain_wire;

plain_wire! {
    CompactString => |v| v.is_empty();
    bool => |v| !*v;
    u32 => |v| *v == 0;
    i64 => |v| *v == 0;
}

impl<T: Serialize + for<'de> Deserialize<'de>> Wire for Vec<T> {
    #[inline]
    fn read<'de, D: Deserializer<'de>>(d: D, _: &mut bool) -> Result<Self, D::Error> {
        Vec::deserialize(d)
    }
    #[inline]
    fn is_absent(&self) -> bool {
        self.is_empty()
    }
    #[inline]
    fn write<S: Serializer>(&self, _: bool, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
}

/// Integers up to this magnitude are exact in an f64.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Floats remember whether they were written as integers: `"price": 100`
/// must come back as `100`, not `100.0` (a different `serde_json::Value`).
impl Wire for f64 {
    #[inline]
    fn read<'de, D: Deserializer<'de>>(d: D, int: &mut bool) -> Result<Self, D::Error> {
        struct V<'a>(&'a mut bool);
        impl Visitor<'_> for V<'_> {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            fn visit_u64<E>(self, v: u64) -> Result<f64, E> {
                *self.0 = true;
                Ok(v as f64)
            }
            fn visit_i64<E>(self, v: i64) -> Result<f64, E> {
                *self.0 = true;
                Ok(v as f64)
            }
        }
        d.deserialize_f64(V(int))
    }
    #[inline]
    fn is_absent(&self) -> bool {
        self.to_bits() == 0 // +0.0 only: a computed -0.0 is kept
    }
    #[inline]
    fn write<S: Serializer>(&self, int: bool, s: S) -> Result<S::Ok, S::Error> {
        let v = *self;
        if int && v.fract() == 0.0 && v.abs() <= EXACT_INT {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

impl<T: Wire> Wire for Box<T> {
    #[inline]
    fn read<'de, D: Deserializer<'de>>(d: D, int: &mut bool) -> Result<Self, D::Error> {
        T::read(d, int).map(Box::new)
    }
    #[inline]
    fn is_absent(&self) -> bool {
        (**self).is_absent()
    }
    #[inline]
    fn write<S: Serializer>(&self, int: bool, s: S) -> Result<S::Ok, S::Error> {
        (**self).write(int, s)
    }
}

/// `null` reads as `None`; a `None` is written as `null` only when the input
/// had `null` (the field's [`EXPLICIT`] flag), otherwise skipped.
impl<T: Wire> Wire for Option<T> {
    #[inline]
    fn read<'de, D: Deserializer<'de>>(d: D, int: &mut bool) -> Result<Self, D::Error> {
        struct V<'a, T>(&'a mut bool, PhantomData<T>);
        impl<'de, T: Wire> Visitor<'de> for V<'_, T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or null")
            }
            fn visit_none<E>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_unit<E>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
                T::read(d, self.0).map(Some)
            }
        }
        d.deserialize_option(V(int, PhantomData))
    }
    #[inline]
    fn is_absent(&self) -> bool {
        self.is_none()
    }
    #[inline]
    fn write<S: Serializer>(&self, int: bool, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Some(v) => v.write(int, s),
            None => s.serialize_none(),
        }
    }
}

/// Reads a known field's value and reports its [`EXPLICIT`] / [`INT`] flags.
pub(crate) struct FieldSeed<'a, T>(&'a mut u8, PhantomData<T>);

impl<'a, T> FieldSeed<'a, T> {
    #[inline]
    pub(crate) fn new(flags: &'a mut u8) -> Self {
        FieldSeed(flags, PhantomData)
    }
}

impl<'de, T: Wire> DeserializeSeed<'de> for FieldSeed<'_, T> {
    type Value = T;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        let mut int = false;
        let v = T::read(d, &mut int)?;
        *self.0 = if v.is_absent() { EXPLICIT } else { 0 } | if int { INT } else { 0 };
        Ok(v)
    }
}

/// Whether a known field with these flags is written.
#[inline]
pub(crate) fn is_written<T: Wire>(v: &T, flags: u8) -> bool {
    flags & EXPLICIT != 0 || !v.is_absent()
}

/// A known field's value as [`Wire::write`] writes it.
pub(crate) struct Written<'a, T>(pub &'a T, pub u8);

impl<T: Wire> Serialize for Written<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.write(self.1 & INT != 0, s)
    }
}

/// An object key: one of the struct's fields, or an unknown key to keep.
pub(crate) enum Key<F> {
    Known(F),
    Unknown(CompactString),
}

/// A struct's known fields, as a key lookup.
pub(crate) trait Fields: Sized {
    fn lookup(key: &str) -> Option<Self>;
}

/// Reads an object key, matching it against the struct's fields (statically
/// dispatched, so the match inlines as in serde's derive); known keys are
/// never copied.
pub(crate) struct KeySeed<F>(pub PhantomData<F>);

impl<'de, F: Fields> DeserializeSeed<'de> for KeySeed<F> {
    type Value = Key<F>;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key<F>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<F: Fields> Visitor<'_> for KeySeed<F> {
    type Value = Key<F>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    #[inline]
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<F>, E> {
        Ok(match F::lookup(key) {
            Some(f) => Key::Known(f),
            None => Key::Unknown(CompactString::from(key)),
        })
    }
}
