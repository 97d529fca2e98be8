//! The former serde_json visitor decoder, kept as a test oracle: the
//! hand-written decoder must agree with it on every input.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::codes::LanguageCode;
use crate::command::RemotingCommand;
use crate::error::{ProtoError, Result};
use crate::ext::ExtFields;

/// Parses a JSON header into a command with an empty body.
pub fn decode_with_serde(text: &[u8]) -> Result<RemotingCommand> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let header = HeaderDe::deserialize(&mut de).and_then(|h| de.end().map(|()| h));
    header
        .map(|h| h.0)
        .map_err(|e| ProtoError::invalid("json header", e.to_string()))
}

/// Newtype so the visitor can build a [`RemotingCommand`] directly.
struct HeaderDe(RemotingCommand);

impl<'de> Deserialize<'de> for HeaderDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = HeaderDe;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a RemotingCommand header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<HeaderDe, A::Error> {
        // Field defaults of the Java class, for members that are absent.
        let mut cmd = RemotingCommand {
            version: 0,
            ..RemotingCommand::default()
        };
        while let Some(key) = map.next_key::<HeaderKey>()? {
            match key {
                HeaderKey::Code => cmd.code = map.next_value::<LenientI32>()?.0,
                HeaderKey::Flag => cmd.flag = map.next_value::<LenientI32>()?.0,
                HeaderKey::Opaque => cmd.opaque = map.next_value::<LenientI32>()?.0,
                HeaderKey::Version => cmd.version = map.next_value::<LenientI32>()?.0,
                HeaderKey::Language => cmd.language = map.next_value::<Language>()?.0,
                HeaderKey::Remark => cmd.remark = map.next_value::<ScalarText>()?.0,
                HeaderKey::ExtFields => {
                    if let Some(ext) = map.next_value::<Option<ExtDe>>()? {
                        cmd.force_ext_fields = ext.0.is_empty();
                        cmd.ext_fields = ext.0;
                    }
                }
                HeaderKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(HeaderDe(cmd))
    }
}

/// The header members we read; anything else is skipped.
enum HeaderKey {
    Code,
    ExtFields,
    Flag,
    Language,
    Opaque,
    Remark,
    Version,
    Other,
}

impl<'de> Deserialize<'de> for HeaderKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_str(HeaderKeyVisitor)
    }
}

struct HeaderKeyVisitor;

impl Visitor<'_> for HeaderKeyVisitor {
    type Value = HeaderKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a header member name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> std::result::Result<HeaderKey, E> {
        Ok(match key {
            "code" => HeaderKey::Code,
            "extFields" => HeaderKey::ExtFields,
            "flag" => HeaderKey::Flag,
            "language" => HeaderKey::Language,
            "opaque" => HeaderKey::Opaque,
            "remark" => HeaderKey::Remark,
            "version" => HeaderKey::Version,
            _ => HeaderKey::Other,
        })
    }
}

/// An int32 given as a JSON number, a numeric string, or `null` (= 0).
struct LenientI32(i32);

impl<'de> Deserialize<'de> for LenientI32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(LenientI32Visitor)
    }
}

struct LenientI32Visitor;

impl Visitor<'_> for LenientI32Visitor {
    type Value = LenientI32;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a 32-bit integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<LenientI32, E> {
        i32::try_from(v)
            .map(LenientI32)
            .map_err(|_| E::custom(format_args!("{v} does not fit 32 bits")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<LenientI32, E> {
        i32::try_from(v)
            .map(LenientI32)
            .map_err(|_| E::custom(format_args!("{v} does not fit 32 bits")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<LenientI32, E> {
        v.trim()
            .parse()
            .map(LenientI32)
            .map_err(|_| E::custom("expected a 32-bit integer string"))
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<LenientI32, E> {
        Ok(LenientI32(0))
    }
}

/// `LanguageCode` as a name, a number, or `null` (= JAVA).
struct Language(LanguageCode);

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(LanguageVisitor)
    }
}

struct LanguageVisitor;

impl Visitor<'_> for LanguageVisitor {
    type Value = Language;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a language name or number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Language, E> {
        Ok(Language(LanguageCode::from_name(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Language, E> {
        Ok(Language(LanguageCode::from_i64(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Language, E> {
        Ok(Language(
            i64::try_from(v).map_or(LanguageCode::Other, LanguageCode::from_i64),
        ))
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Language, E> {
        Ok(Language(LanguageCode::Java))
    }
}

/// A scalar as text: strings as is, numbers in decimal, booleans as
/// `true`/`false`; `null` is `None`.
struct ScalarText(Option<String>);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(ScalarTextVisitor)
    }
}

struct ScalarTextVisitor;

impl Visitor<'_> for ScalarTextVisitor {
    type Value = ScalarText;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number, boolean or null")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<ScalarText, E> {
        Ok(ScalarText(Some(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<ScalarText, E> {
        Ok(ScalarText(Some(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<ScalarText, E> {
        Ok(ScalarText(Some(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<ScalarText, E> {
        Ok(ScalarText(Some(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<ScalarText, E> {
        Ok(ScalarText(Some(v.to_string())))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<ScalarText, E> {
        Ok(ScalarText(Some(String::from(if v {
            "true"
        } else {
            "false"
        }))))
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<ScalarText, E> {
        Ok(ScalarText(None))
    }
}

/// `extFields` object; `null` member values are dropped.
struct ExtDe(ExtFields);

impl<'de> Deserialize<'de> for ExtDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(ExtVisitor)
    }
}

struct ExtVisitor;

impl<'de> Visitor<'de> for ExtVisitor {
    type Value = ExtDe;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an extFields object of scalar values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<ExtDe, A::Error> {
        /// C++ adds 3 credential keys to a header of up to 14 fields.
        const TYPICAL_FIELDS: usize = 20;
        let mut ext = ExtFields::with_capacity(map.size_hint().unwrap_or(TYPICAL_FIELDS).min(64));
        while let Some(key) = map.next_key::<ScalarText>()?.and_then(|k| k.0) {
            if let Some(value) = map.next_value::<ScalarText>()?.0 {
                ext.push_decoded(&key, &value);
            }
        }
        Ok(ExtDe(ext))
    }
}
