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
//! All keys and values of a map live in one string, so decoding a header
//! costs one allocation however many fields it has.

use std::fmt;

use crate::error::{ProtoError, Result};

/// Ordered `extFields` map (insertion order, unique keys).
#[derive(Clone, Default)]
pub struct ExtFields {
    /// Every field's key followed by its value, back to back. A replaced
    /// value's old bytes stay behind, unreferenced.
    text: String,
    /// Per field: where its key starts in `text`, where its value starts
    /// (the key's end), and where the value ends.
    fields: Vec<[u32; 3]>,
}

impl ExtFields {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        /// Bytes of a typical key and value together.
        const TYPICAL_FIELD_BYTES: usize = 24;
        ExtFields {
            text: String::with_capacity(n * TYPICAL_FIELD_BYTES),
            fields: Vec::with_capacity(n),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        // From the end: a key a peer repeated reads as its last value.
        self.position(key).map(|i| self.value_at(i))
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, replacing an earlier value in place.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let key = key.as_ref();
        let start = self.push_key(key);
        self.text.push_str(value.as_ref());
        self.end_field(start, key.len());
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.position(key)?;
        let value = self.value_at(index).to_owned();
        self.fields.remove(index);
        Some(value)
    }

    /// Fields in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|&[key, value, end]| (self.slice(key, value), self.slice(value, end)))
    }

    /// Decoder insert, without a duplicate check (a quadratic scan on the
    /// hottest path): a repeated key stays twice and [`get`](Self::get)
    /// reads the last value, like a Java `HashMap` fed by a JSON parser.
    pub(crate) fn push_decoded(&mut self, key: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(key);
        self.text.push_str(value);
        self.fields.push(offsets(start, key.len(), self.text.len()));
    }

    /// [`push_decoded`](Self::push_decoded) for a decoder that writes the
    /// value itself (unescaping it straight into place): `write` appends
    /// it to the string it is given, or returns `false` to drop the field.
    pub(crate) fn push_decoded_with(
        &mut self,
        key: &str,
        write: impl FnOnce(&mut String) -> Result<bool>,
    ) -> Result<()> {
        let start = self.push_key(key);
        if !write(&mut self.text)? {
            self.text.truncate(start);
            return Ok(());
        }
        // Only a JSON number can decode longer than it is written (1e308
        // becomes 309 digits): a cap keeps a hostile header's memory bounded.
        if self.text.len() > MAX_DECODED_BYTES {
            return Err(ProtoError::invalid(
                "extFields",
                format!("more than {MAX_DECODED_BYTES} bytes once decoded"),
            ));
        }
        self.fields.push(offsets(start, key.len(), self.text.len()));
        Ok(())
    }

    /// Reads and parses field `name` (see [`FieldValue`]).
    pub fn read<T: FieldValue>(&self, name: &'static str) -> Result<T> {
        T::read_field(self.get(name), name)
    }

    /// Writes `value` under `name` in its wire (string) form.
    pub fn write<T: FieldValue>(&mut self, name: &'static str, value: &T) {
        value.write_field(self, name);
    }

    fn position(&self, key: &str) -> Option<usize> {
        let text = self.text.as_bytes();
        self.fields
            .iter()
            .rposition(|&[start, value, _]| text[start as usize..value as usize] == *key.as_bytes())
    }

    fn value_at(&self, index: usize) -> &str {
        let [_, value, end] = self.fields[index];
        self.slice(value, end)
    }

    fn slice(&self, from: u32, to: u32) -> &str {
        &self.text[from as usize..to as usize]
    }

    /// Appends `key` as the start of a field whose value the caller
    /// appends next; returns where the field starts.
    fn push_key(&mut self, key: &str) -> usize {
        let start = self.text.len();
        self.text.push_str(key);
        start
    }

    /// Records the field that starts at `start` and ends at the text's end:
    /// in place of an earlier field of the same key, or as a new one.
    fn end_field(&mut self, start: usize, key_len: usize) {
        let field = offsets(start, key_len, self.text.len());
        let key = &self.text[start..start + key_len];
        match self.position(key) {
            Some(index) => self.fields[index] = field,
            None => self.fields.push(field),
        }
    }
}

/// Most text a decoded header's fields may hold: that of the largest header.
const MAX_DECODED_BYTES: usize = crate::frame::MAX_HEADER_BYTES;

/// A field's offsets. Every offset is below the length of a decoded frame
/// or of a header built in memory, both far below 4 GiB.
fn offsets(start: usize, key_len: usize, end: usize) -> [u32; 3] {
    let at = |n: usize| u32::try_from(n).expect("extFields text under 4 GiB");
    [at(start), at(start + key_len), at(end)]
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
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
                let start = ext.push_key(name);
                ext.text.push_str(crate::json::decimal(i64::from(*self), &mut [0; 20]));
                ext.end_field(start, name.len());
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
    fn replacing_a_value_keeps_the_others_and_compares_by_content() {
        let mut e = ext(&[("key", "short"), ("other", "x")]);
        e.insert("key", "a much longer value than before");
        e.insert("key", "");
        assert_eq!(e, ext(&[("key", ""), ("other", "x")]));
        assert_eq!(format!("{e:?}"), r#"{"key": "", "other": "x"}"#);
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for n in [0, 7, -1, 10, -10, i64::MAX, i64::MIN, 1_700_000_000_123] {
            let mut e = ExtFields::new();
            e.write("n", &n);
            assert_eq!(e.get("n"), Some(n.to_string().as_str()));
        }
        let mut e = ExtFields::new();
        e.write("n", &i32::MIN);
        assert_eq!(e.get("n"), Some("-2147483648"));
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
