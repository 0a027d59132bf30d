//! [`wire_struct!`]: a struct of the event, with serde impls that keep what
//! its fields do not model. See `wire.rs` for why they are hand-written.

/// A field's name on the wire: its identifier, or the literal given for
/// identifiers that cannot be one (`r#fn` is `"fn"`).
macro_rules! wire_name {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident, $wire:literal) => {
        $wire
    };
}
pub(crate) use wire_name;

/// Defines a struct of the event with its known fields (in wire order), an
/// `extra: Extra` field for everything else, and its serde impls (see the
/// module docs). `required: [..]` fields must be present and are always
/// written; the others are written when set or when the input had them.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty $(= $wire:literal)?,
            )*
        }
        $(required: [$($req:ident),*])?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Unknown keys and how the known ones were written, so that the
            /// struct serialises back to its input: see [`Extra`](crate::dataflows::records::Extra).
            pub extra: $crate::dataflows::records::Extra,
        }

        const _: () = {
            use $crate::dataflows::records::mable_event::wire as w;
            use serde::de::{self, MapAccess, SeqAccess, Visitor};
            use serde::ser::{SerializeMap, SerializeTuple};
            use std::fmt::Formatter;
            use std::marker::PhantomData;

            #[allow(non_camel_case_types)]
            #[derive(Clone, Copy)]
            #[repr(u8)]
            enum Field { $($field),* }

            const NAMES: &[&str] = &[$(w::wire_name!($field $(, $wire)?)),*];
            const LEN: usize = NAMES.len();
            const _: () = assert!(LEN <= 16, "Extra has 16 flag bits");
            const REQUIRED: u16 = 0 $($(| 1 << Field::$req as u16)*)?;

            #[inline]
            fn is_required(i: u8) -> bool {
                (REQUIRED >> i) & 1 != 0
            }

            impl w::Fields for Field {
                #[inline]
                fn lookup(key: &str) -> Option<Field> {
                    match key {
                        $( w::wire_name!($field $(, $wire)?) => Some(Field::$field), )*
                        _ => None,
                    }
                }
            }

            impl w::Wire for $name {
                #[inline]
                fn read<'de, D>(d: D, _: &mut bool) -> Result<Self, D::Error>
                where
                    D: serde::Deserializer<'de>,
                {
                    <$name as serde::Deserialize>::deserialize(d)
                }
                #[inline]
                fn is_absent(&self) -> bool {
                    *self == Self::default()
                }
                #[inline]
                fn write<S: serde::Serializer>(&self, _: bool, s: S) -> Result<S::Ok, S::Error> {
                    serde::Serialize::serialize(self, s)
                }
            }

            impl serde::Serialize for $name {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    if !s.is_human_readable() {
                        let mut t = s.serialize_tuple(LEN + 1)?;
                        $( t.serialize_element(&self.$field)?; )*
                        t.serialize_element(&self.extra)?;
                        return t.end();
                    }
                    let mut m = s.serialize_map(None)?;
                    $(
                        let i = Field::$field as u8;
                        let flags = self.extra.flags(i);
                        if is_required(i) || w::is_written(&self.$field, flags) {
                            m.serialize_entry(NAMES[i as usize], &w::Written(&self.$field, flags))?;
                        }
                    )*
                    self.extra.write_unknown(&mut m)?;
                    m.end()
                }
            }

            impl<'de> serde::Deserialize<'de> for $name {
                #[inline]
                fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    struct V;
                    impl<'de> Visitor<'de> for V {
                        type Value = $name;

                        fn expecting(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
                            f.write_str(concat!("a ", stringify!($name), " object"))
                        }

                        #[inline]
                        fn visit_map<A>(self, mut map: A) -> Result<$name, A::Error>
                        where
                            A: MapAccess<'de>,
                        {
                            let mut out = $name::default();
                            let mut seen = 0u16;
                            let mut unknown = Vec::new();
                            let keys = || w::KeySeed::<Field>(PhantomData);
                            while let Some(key) = map.next_key_seed(keys())? {
                                let f = match key {
                                    w::Key::Known(f) => f,
                                    w::Key::Unknown(k) => {
                                        unknown.push((k, map.next_value()?));
                                        continue;
                                    }
                                };
                                let i = f as u8;
                                if seen & (1 << i) != 0 {
                                    return Err(de::Error::duplicate_field(NAMES[i as usize]));
                                }
                                seen |= 1 << i;
                                let mut flags = 0u8;
                                match f {
                                    $( Field::$field => {
                                        let seed = w::FieldSeed::<$ty>::new(&mut flags);
                                        out.$field = map.next_value_seed(seed)?;
                                    } )*
                                }
                                if is_required(i) {
                                    flags &= !w::EXPLICIT; // always written
                                }
                                out.extra.set_flags(i, flags);
                            }
                            let missing = REQUIRED & !seen;
                            if missing != 0 {
                                let first = missing.trailing_zeros() as usize;
                                return Err(de::Error::missing_field(NAMES[first]));
                            }
                            out.extra.set_unknown(unknown);
                            Ok(out)
                        }

                        fn visit_seq<A>(self, mut seq: A) -> Result<$name, A::Error>
                        where
                            A: SeqAccess<'de>,
                        {
                            let what = concat!("the fields of ", stringify!($name));
                            let short = |n| de::Error::invalid_length(n, &what);
                            let mut n = 0;
                            $(
                                let $field = seq.next_element()?.ok_or_else(|| short(n))?;
                                n += 1;
                            )*
                            let extra = seq.next_element()?.ok_or_else(|| short(n))?;
                            Ok($name { $($field,)* extra })
                        }
                    }
                    if d.is_human_readable() {
                        d.deserialize_map(V)
                    } else {
                        d.deserialize_tuple(LEN + 1, V)
                    }
                }
            }
        };
    };
}
pub(crate) use wire_struct;
