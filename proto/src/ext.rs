//! `extFields`: the per-request "custom header" of a command, and typed
//! access to its values.
//!
//! On the wire `extFields` is a JSON object (or the binary header's ext
//! block) of string keys to string values; Java parses `Integer`, `Long` and
//! `Boolean` fields from their string form, and the C++ client sends some of
//! them as JSON numbers, which the header decoder already turned into text.
//! [`ExtFields`] keeps insertion order (a small `Vec`: headers have a dozen
//! fields at most, so a linear scan beats hashing) and replaces on re-insert.
//! [`FieldValue`] parses one field, naming the field in every error.
//! Keys and values are small strings stored inline (no heap allocation up
//! to 23 bytes), which is almost every field of every request.

use smol_str::{SmolStr, ToSmolStr};

use crate::error::{ProtoError, Result};

/// Ordered `extFields` map (insertion order, unique keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtFields {
    entries: Vec<(SmolStr, SmolStr)>,
}

impl ExtFields {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        ExtFields {
            entries: Vec::with_capacity(n),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        // From the end: a key a peer repeated reads as its last value.
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, replacing an earlier value in place.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        self.insert_small(SmolStr::new(key), SmolStr::new(value));
    }

    fn insert_small(&mut self, key: SmolStr, value: SmolStr) {
        match self.entries.iter_mut().rev().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.entries.iter().rposition(|(k, _)| k == key)?;
        Some(self.entries.remove(index).1.into())
    }

    /// Fields in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Decoder insert, without a duplicate check (a quadratic scan on the
    /// hottest path): a repeated key stays twice and [`get`](Self::get)
    /// reads the last value, like a Java `HashMap` fed by a JSON parser.
    pub(crate) fn push_decoded(&mut self, key: SmolStr, value: SmolStr) {
        self.entries.push((key, value));
    }

    /// Reads and parses field `name` (see [`FieldValue`]).
    pub fn read<T: FieldValue>(&self, name: &'static str) -> Result<T> {
        T::read_field(self.get(name), name)
    }

    /// Writes `value` under `name` in its wire (string) form.
    pub fn write<T: FieldValue>(&mut self, name: &'static str, value: &T) {
        value.write_field(self, name);
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut ext = ExtFields::new();
        for (k, v) in iter {
            ext.insert(k, v);
        }
        ext
    }
}

/// A type one `extFields` value parses into.
///
/// Required types (`String`, integers, `bool`) fail with
/// [`ProtoError::MissingField`] when absent; `Option<T>` treats an absent
/// *or empty* value as `None` (the C++ client sends unused fields as `""`).
pub trait FieldValue: Sized {
    /// Parses the raw value of field `name` (`None` = absent).
    fn read_field(raw: Option<&str>, name: &'static str) -> Result<Self>;
    /// Stores the value's string form under `name` (`None` writes nothing).
    fn write_field(&self, ext: &mut ExtFields, name: &'static str);
}

fn required<'a>(raw: Option<&'a str>, name: &'static str) -> Result<&'a str> {
    raw.ok_or(ProtoError::MissingField(name))
}

fn bad(name: &'static str, kind: &str, raw: &str) -> ProtoError {
    /// Quoting a whole hostile value into an error would be unbounded.
    const MAX_QUOTED_CHARS: usize = 64;
    let shown: String = raw.chars().take(MAX_QUOTED_CHARS).collect();
    ProtoError::invalid(name, format!("expected {kind}, got {shown:?}"))
}

/// Parses a boolean the lenient way: `true`/`false`/`1`/`0`, any case.
pub fn parse_bool(raw: &str) -> Option<bool> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("true") || raw == "1" {
        Some(true)
    } else if raw.eq_ignore_ascii_case("false") || raw == "0" {
        Some(false)
    } else {
        None
    }
}

impl FieldValue for String {
    fn read_field(raw: Option<&str>, name: &'static str) -> Result<Self> {
        required(raw, name).map(str::to_owned)
    }
    fn write_field(&self, ext: &mut ExtFields, name: &'static str) {
        ext.insert(name, self.as_str());
    }
}

impl FieldValue for bool {
    fn read_field(raw: Option<&str>, name: &'static str) -> Result<Self> {
        let raw = required(raw, name)?;
        parse_bool(raw).ok_or_else(|| bad(name, "a boolean", raw))
    }
    fn write_field(&self, ext: &mut ExtFields, name: &'static str) {
        ext.insert(name, if *self { "true" } else { "false" });
    }
}

macro_rules! int_field {
    ($($ty:ty => $kind:literal),*) => {$(
        impl FieldValue for $ty {
            fn read_field(raw: Option<&str>, name: &'static str) -> Result<Self> {
                let raw = required(raw, name)?;
                raw.trim().parse().map_err(|_| bad(name, $kind, raw))
            }
            fn write_field(&self, ext: &mut ExtFields, name: &'static str) {
                ext.insert_small(SmolStr::new_static(name), self.to_smolstr());
            }
        }
    )*};
}

int_field!(i32 => "a 32-bit integer", i64 => "a 64-bit integer");

impl<T: FieldValue> FieldValue for Option<T> {
    fn read_field(raw: Option<&str>, name: &'static str) -> Result<Self> {
        match raw {
            None | Some("") => Ok(None),
            Some(raw) => T::read_field(Some(raw), name).map(Some),
        }
    }
    fn write_field(&self, ext: &mut ExtFields, name: &'static str) {
        if let Some(value) = self {
            value.write_field(ext, name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs.iter().copied().collect()
    }

    #[test]
    fn insert_replaces_in_place_and_keeps_order() {
        let mut e = ext(&[("a", "1"), ("b", "2")]);
        e.insert("a", "3");
        e.insert("c", "4");
        let got: Vec<_> = e.iter().collect();
        assert_eq!(got, [("a", "3"), ("b", "2"), ("c", "4")]);
        assert_eq!(e.remove("b").as_deref(), Some("2"));
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn booleans() {
        let cases = [
            ("true", Some(true)),
            ("TRUE", Some(true)),
            ("1", Some(true)),
            ("false", Some(false)),
            ("False", Some(false)),
            ("0", Some(false)),
            ("yes", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_bool(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn typed_reads() {
        let e = ext(&[
            ("n", "42"),
            ("neg", "-7"),
            ("big", "1700000000000"),
            ("s", ""),
            ("bad", "4x"),
        ]);
        assert_eq!(e.read::<i32>("n"), Ok(42));
        assert_eq!(e.read::<i32>("neg"), Ok(-7));
        assert_eq!(e.read::<i64>("big"), Ok(1_700_000_000_000));
        assert_eq!(e.read::<Option<i32>>("s"), Ok(None));
        assert_eq!(e.read::<Option<i32>>("none"), Ok(None));
        assert_eq!(
            e.read::<String>("none"),
            Err(ProtoError::MissingField("none"))
        );
        assert!(matches!(
            e.read::<i32>("big"),
            Err(ProtoError::Invalid { what: "big", .. })
        ));
        assert!(matches!(
            e.read::<Option<i64>>("bad"),
            Err(ProtoError::Invalid { what: "bad", .. })
        ));
    }

    #[test]
    fn writes_string_forms() {
        let mut e = ExtFields::new();
        e.write("i", &-3_i32);
        e.write("b", &true);
        e.write("o", &None::<i64>);
        e.write("s", &Some("x".to_owned()));
        let got: Vec<_> = e.iter().collect();
        assert_eq!(got, [("i", "-3"), ("b", "true"), ("s", "x")]);
    }
}
