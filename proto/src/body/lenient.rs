//! Tolerant field deserializers for bodies written by different clients.
//!
//! * [`null_default`]: `null` → `Default` (absent keys are handled by
//!   `#[serde(default)]` on the struct).
//! * [`int`]: a JSON number or a numeric string (C++ sends `subVersion`
//!   as a string), `null` → 0.
//! * [`int_vec`]: an array of such numbers.
//! * [`boolean`]: `true`/`false`, `"true"`/`"false"`, `0`/`1`, `null`.
//! * `name_or_ordinal_enum!`: enums written by Java name or C++ ordinal.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

/// `null` → `T::default()`.
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An integer type the lenient visitors can produce.
pub trait LenientInt: Sized + Default + std::str::FromStr {
    fn from_i64(v: i64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
}

impl LenientInt for i32 {
    fn from_i64(v: i64) -> Option<Self> {
        i32::try_from(v).ok()
    }
    fn from_u64(v: u64) -> Option<Self> {
        i32::try_from(v).ok()
    }
}

impl LenientInt for i64 {
    fn from_i64(v: i64) -> Option<Self> {
        Some(v)
    }
    fn from_u64(v: u64) -> Option<Self> {
        i64::try_from(v).ok()
    }
}

struct IntVisitor<T>(PhantomData<T>);

impl<T: LenientInt> Visitor<'_> for IntVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer or a numeric string")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::from_i64(v).ok_or_else(|| E::custom(format_args!("{v} out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_u64(v).ok_or_else(|| E::custom(format_args!("{v} out of range")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom("expected a numeric string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
}

/// A number or numeric string (`null` → 0).
pub fn int<'de, D: Deserializer<'de>, T: LenientInt>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(IntVisitor(PhantomData))
}

/// Newtype so sequences can hold lenient ints.
struct Int<T>(T);

impl<'de, T: LenientInt> Deserialize<'de> for Int<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int(d).map(Int)
    }
}

struct IntVecVisitor<T>(PhantomData<T>);

impl<'de, T: LenientInt> Visitor<'de> for IntVecVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of integers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        /// Bound the pre-allocation a hostile size hint could ask for.
        const MAX_PREALLOC: usize = 1024;
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PREALLOC));
        while let Some(Int(v)) = seq.next_element::<Int<T>>()? {
            out.push(v);
        }
        Ok(out)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
}

/// An array of numbers or numeric strings (`null` → empty).
pub fn int_vec<'de, D: Deserializer<'de>, T: LenientInt>(d: D) -> Result<Vec<T>, D::Error> {
    d.deserialize_any(IntVecVisitor(PhantomData))
}

struct BoolVisitor;

impl Visitor<'_> for BoolVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a boolean")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        Ok(v != 0)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        Ok(v != 0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        crate::ext::parse_bool(v).ok_or_else(|| E::custom("expected a boolean string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// A boolean, boolean string or 0/1 (`null` → false).
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(BoolVisitor)
}

/// Declares a fieldless enum serialized by its Java name and deserialized
/// from that name or its ordinal (C++ writes ordinals).
macro_rules! name_or_ordinal_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = ($ordinal:literal, $wire:literal) ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $( $(#[$vmeta])* $variant ),* }

        impl $name {
            /// The Java enum name.
            pub fn name(self) -> &'static str {
                match self { $( $name::$variant => $wire ),* }
            }

            /// The Java ordinal.
            pub fn ordinal(self) -> i64 {
                match self { $( $name::$variant => $ordinal ),* }
            }

            /// From the Java name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $( $wire => Some($name::$variant), )* _ => None }
            }

            /// From the Java ordinal.
            pub fn from_ordinal(ordinal: i64) -> Option<Self> {
                match ordinal { $( $ordinal => Some($name::$variant), )* _ => None }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " name or ordinal"))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<$name, E> {
                        $name::from_name(v)
                            .or_else(|| v.trim().parse().ok().and_then($name::from_ordinal))
                            .ok_or_else(|| E::unknown_variant(v, &[$($wire),*]))
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<$name, E> {
                        $name::from_ordinal(v)
                            .ok_or_else(|| E::custom(format_args!("unknown ordinal {v}")))
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<$name, E> {
                        i64::try_from(v).ok().and_then($name::from_ordinal)
                            .ok_or_else(|| E::custom(format_args!("unknown ordinal {v}")))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}
pub(crate) use name_or_ordinal_enum;
