//! Typed request and response headers: views of a command's `extFields`
//! (remoting.md §4).
//!
//! Each header struct implements [`CommandHeader`]; fields are read by
//! their wire name with [`crate::ext::FieldValue`], so a missing required
//! field fails with [`crate::ProtoError::MissingField`] and a malformed one
//! with [`crate::ProtoError::Invalid`] naming the field. Optional fields are
//! `Option<T>`; an empty string counts as absent. Unknown keys (`ns`,
//! `bname`, C++ `AccessKey`…) are ignored. Encoding writes every present
//! field as a string, as Java does.
//!
//! One file per request family: [`send`], [`pull`], [`offset`],
//! [`client`], [`transaction`], [`query`], [`admin`], [`namesrv`].

use crate::error::Result;
use crate::ext::ExtFields;

pub mod admin;
pub mod client;
pub mod namesrv;
pub mod offset;
pub mod pull;
pub mod query;
pub mod send;
pub mod transaction;

pub use admin::*;
pub use client::*;
pub use namesrv::*;
pub use offset::*;
pub use pull::*;
pub use query::*;
pub use send::*;
pub use transaction::*;

/// A typed view of `extFields`.
pub trait CommandHeader: Sized {
    /// Parses the header, failing on a missing or malformed field.
    fn from_ext(ext: &ExtFields) -> Result<Self>;
    /// Writes every present field in its string form.
    fn to_ext(&self, ext: &mut ExtFields);

    /// The header as a fresh `ExtFields`.
    fn to_ext_fields(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        self.to_ext(&mut ext);
        ext
    }
}

/// Declares a header struct whose fields map 1:1 to `extFields` keys:
/// `field: Type = "wireName"`. Derives `Debug, Clone, PartialEq, Eq,
/// Default` and implements [`CommandHeader`].
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::header::CommandHeader for $name {
            #[allow(unused_variables)]
            fn from_ext(ext: &$crate::ext::ExtFields) -> $crate::error::Result<Self> {
                Ok($name { $( $field: ext.read($wire)?, )* })
            }

            #[allow(unused_variables)]
            fn to_ext(&self, ext: &mut $crate::ext::ExtFields) {
                $( ext.write($wire, &self.$field); )*
            }
        }
    };
}
pub(crate) use command_header;

#[cfg(test)]
pub(crate) mod test_util {
    use super::CommandHeader;
    use crate::ext::ExtFields;

    /// `ExtFields` from literal pairs.
    pub fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs.iter().copied().collect()
    }

    /// Asserts `h` survives to_ext → from_ext.
    pub fn assert_round_trip<H: CommandHeader + PartialEq + std::fmt::Debug>(h: &H) {
        let back = H::from_ext(&h.to_ext_fields()).expect("round trip");
        assert_eq!(&back, h);
    }
}
