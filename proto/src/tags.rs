//! Tag hash codes, with Java `String.hashCode` semantics.
//!
//! A consume-queue unit stores the hash of a message's `TAGS` property so a
//! pull can filter without reading the commit log. Clients compute the same
//! hash for their subscription, so it must match Java bit for bit: iterate
//! UTF-16 code units, `h = 31 * h + unit` with 32-bit wrap-around, then widen
//! the signed result to 64 bits.

/// Java's `String.hashCode()` of `s`.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(unit as i32))
}

/// The consume-queue tags code for a message's `TAGS` value (0 without a tag).
pub fn tags_code(tags: Option<&str>) -> i64 {
    match tags {
        Some(t) if !t.is_empty() => java_string_hash(t) as i64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_string_hash_code() {
        // Values from remoting.md §6.5 (Java `String.hashCode`).
        let cases: &[(&str, i32)] = &[
            ("", 0),
            ("TagA", 2598919),
            ("TagB", 2598920),
            ("*", 42),
            ("TAG_FOO_BAR_BAZ_QUX", -1082522810),
            ("中文", 646394),
        ];
        for (s, want) in cases {
            assert_eq!(java_string_hash(s), *want, "hash of {s:?}");
        }
    }

    #[test]
    fn hashes_utf16_units_not_bytes() {
        // U+1F600 is a surrogate pair in UTF-16: 0xD83D 0xDE00.
        let want = (0xD83Di32).wrapping_mul(31).wrapping_add(0xDE00);
        assert_eq!(java_string_hash("\u{1F600}"), want);
    }

    #[test]
    fn tags_code_is_zero_without_tag() {
        assert_eq!(tags_code(None), 0);
        assert_eq!(tags_code(Some("")), 0);
        assert_eq!(tags_code(Some("TagA")), 2598919);
    }
}
