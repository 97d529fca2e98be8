//! Small JSON helpers shared by the header and body codecs.
//!
//! * Emission: compact, fastjson-like string escaping (`\"`, `\\`, short
//!   escapes for `\b \t \n \f \r`, `\u00XX` uppercase for other control
//!   characters; optionally every non-ASCII char as `\uXXXX`, which is what
//!   fastjson's `BrowserCompatible` feature does for standard route JSON).
//! * Parsing: [`quote_numeric_keys`] turns fastjson's non-standard
//!   unquoted numeric object keys (`{0:"ip:port"}`) into standard JSON so
//!   `serde_json` can read either form.

use std::borrow::Cow;

use bytes::BufMut;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// A byte a JSON string cannot hold as it is: a quote, a backslash or a
/// control character. (Branch-free, so a scan over many bytes vectorises.)
pub(crate) fn must_escape(c: u8) -> bool {
    (c < 0x20) | (c == b'"') | (c == b'\\')
}

/// Appends `s` as a JSON string literal (with the quotes).
pub fn write_str<B: BufMut>(out: &mut B, s: &str, ascii_only: bool) {
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    // Almost every value needs no escape: check all bytes without an early
    // exit (the compiler vectorises that) and copy them whole.
    let limit = if ascii_only { 0x80 } else { 0x100 };
    let needs_escape = bytes.iter().fold(false, |any, &b| {
        any | must_escape(b) | (u16::from(b) >= limit)
    });
    if !needs_escape {
        out.put_slice(bytes);
        out.put_u8(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let inside_escaped_char = i < start;
        let plain = !must_escape(b) && (b < 0x80 || !ascii_only);
        if inside_escaped_char || plain {
            continue;
        }
        out.put_slice(&bytes[start..i]);
        if b < 0x80 {
            write_ascii_escape(out, b);
            start = i + 1;
        } else {
            // Only reached when ascii_only, always at a char boundary: the
            // bytes of every earlier non-ASCII char were skipped above.
            let ch = s[i..].chars().next().unwrap_or('\u{FFFD}');
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write_unicode_escape(out, *unit);
            }
            start = i + ch.len_utf8();
        }
    }
    if start < bytes.len() {
        out.put_slice(&bytes[start..]);
    }
    out.put_u8(b'"');
}

fn write_ascii_escape<B: BufMut>(out: &mut B, b: u8) {
    let short = match b {
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        0x08 => Some(b'b'),
        0x09 => Some(b't'),
        0x0A => Some(b'n'),
        0x0C => Some(b'f'),
        0x0D => Some(b'r'),
        _ => None,
    };
    match short {
        Some(c) => out.put_slice(&[b'\\', c]),
        None => write_unicode_escape(out, u16::from(b)),
    }
}

fn write_unicode_escape<B: BufMut>(out: &mut B, unit: u16) {
    let nibble = |shift: u16| HEX_UPPER[usize::from((unit >> shift) & 0xF)];
    out.put_slice(&[b'\\', b'u', nibble(12), nibble(8), nibble(4), nibble(0)]);
}

/// Appends the decimal form of `v`.
pub fn write_i64<B: BufMut>(out: &mut B, v: i64) {
    out.put_slice(decimal(v, &mut [0; 20]).as_bytes());
}

/// The decimal form of `v` (what `to_string` gives, without its formatting
/// machinery), written at the end of `buf`: 20 bytes hold any `i64`.
pub(crate) fn decimal(v: i64, buf: &mut [u8; 20]) -> &str {
    let mut pos = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    std::str::from_utf8(&buf[pos..]).expect("ASCII digits")
}

/// Appends `"key":` (key is trusted ASCII, no escaping).
pub fn write_key<B: BufMut>(out: &mut B, key: &str) {
    out.put_u8(b'"');
    out.put_slice(key.as_bytes());
    out.put_slice(b"\":");
}

/// Rewrites unquoted numeric object keys (`{0:"a",-1:"b"}`) as quoted
/// ones. Input that has none is returned borrowed and untouched.
///
/// A bare numeric token directly after `{` or `,` (whitespace allowed)
/// and directly before `:` can only be an object key: in standard JSON
/// keys are strings and array elements are never followed by `:`. Text
/// inside string literals is skipped, escapes included.
pub fn quote_numeric_keys(text: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    let mut after_separator = false;
    while i < text.len() {
        let b = text[i];
        match b {
            b'"' => {
                i = skip_string(text, i);
                after_separator = false;
                continue;
            }
            b'{' | b',' => after_separator = true,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'-' | b'0'..=b'9' if after_separator => {
                let end = numeric_key_end(text, i);
                if let Some(end) = end {
                    let buf = out.get_or_insert_with(|| Vec::with_capacity(text.len() + 16));
                    buf.extend_from_slice(&text[copied..i]);
                    buf.push(b'"');
                    buf.extend_from_slice(&text[i..end]);
                    buf.push(b'"');
                    copied = end;
                    i = end;
                }
                after_separator = false;
                continue;
            }
            _ => after_separator = false,
        }
        i += 1;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.extend_from_slice(&text[copied..]);
            Cow::Owned(buf)
        }
    }
}

/// Index just past the string literal starting at `start` (a `"`).
fn skip_string(text: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

/// If `text[start..]` is `-?digits` followed by optional whitespace and a
/// `:`, the end index of the number.
fn numeric_key_end(text: &[u8], start: usize) -> Option<usize> {
    let mut end = start;
    if text.get(end) == Some(&b'-') {
        end += 1;
    }
    let digits_start = end;
    while text.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    if end == digits_start {
        return None;
    }
    let mut j = end;
    while text.get(j).is_some_and(|c| c.is_ascii_whitespace()) {
        j += 1;
    }
    (text.get(j) == Some(&b':')).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str, ascii_only: bool) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s, ascii_only);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn string_escaping() {
        let cases = [
            ("plain", false, r#""plain""#),
            ("a\"b\\c", false, r#""a\"b\\c""#),
            ("K\u{1}v\u{2}", false, r#""K\u0001v\u0002""#),
            ("\n\t\r\u{8}\u{c}\u{1a}", false, r#""\n\t\r\b\f\u001A""#),
            ("中文", false, "\"中文\""),
            ("中文x", true, r#""\u4E2D\u6587x""#),
            ("a😀b", true, r#""a\uD83D\uDE00b""#),
        ];
        for (input, ascii, want) in cases {
            let got = escaped(input, ascii);
            assert_eq!(got, want, "{input:?}");
            let back: String = serde_json::from_str(&got).unwrap();
            assert_eq!(back, input);
        }
    }

    #[test]
    fn integers() {
        for v in [0, 7, -7, 479, i64::MAX, i64::MIN, i64::from(i32::MIN)] {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn numeric_keys_get_quoted() {
        let cases: [(&str, &str); 6] = [
            (r#"{0:"a:1",1:"b"}"#, r#"{"0":"a:1","1":"b"}"#),
            (r#"{ -1 : "x" }"#, r#"{ "-1" : "x" }"#),
            (r#"{"s":"{0:1}","n":[1,2]}"#, r#"{"s":"{0:1}","n":[1,2]}"#),
            (
                r#"{"e":"q\"{0:","m":{7:"z"}}"#,
                r#"{"e":"q\"{0:","m":{"7":"z"}}"#,
            ),
            (r#"[0,1,{2:3}]"#, r#"[0,1,{"2":3}]"#),
            (r#"{"0":"already"}"#, r#"{"0":"already"}"#),
        ];
        for (input, want) in cases {
            let got = quote_numeric_keys(input.as_bytes());
            assert_eq!(std::str::from_utf8(&got).unwrap(), want, "{input}");
        }
        assert!(matches!(quote_numeric_keys(b"{\"a\":1}"), Cow::Borrowed(_)));
    }
}
