//! The JSON command header (serialize type 0), remoting.md §2.3–§2.5.
//!
//! Emission mimics Java/fastjson byte for byte: compact, members in
//! alphabetical order `code, extFields, flag, language, opaque, remark,
//! serializeTypeCurrentRPC, version`, numbers for the four ints, language
//! by name, every `extFields` value a JSON string, null members omitted:
//!
//! ```text
//! {"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}
//! ```
//!
//! Parsing accepts what every client sends: any member order, unknown
//! members, missing or `null` `remark`/`extFields`, `extFields` values as
//! strings, numbers (C++) or booleans (turned into their text), language
//! as a name or a number, trailing whitespace (C++ ends headers with `\n`).
//! A small hand-written parser walks the text once (about twice as fast as
//! the serde visitor it replaced, which stays as the test oracle in
//! `json_header/reference.rs`); strings without escapes are borrowed, so
//! the only allocations are the remark and long `extFields` strings.

use std::borrow::Cow;

use bytes::BufMut;

use crate::codes::LanguageCode;
use crate::command::RemotingCommand;
use crate::error::{ProtoError, Result};
use crate::ext::ExtFields;
use crate::json;

/// Appends the JSON header of `cmd` (without the body).
pub fn encode_json_header<B: BufMut>(cmd: &RemotingCommand, out: &mut B) {
    out.put_slice(b"{\"code\":");
    json::write_i64(out, i64::from(cmd.code));
    if cmd.emits_ext_fields() {
        out.put_slice(b",\"extFields\":{");
        for (i, (key, value)) in cmd.ext_fields.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            json::write_str(out, key, false);
            out.put_u8(b':');
            json::write_str(out, value, false);
        }
        out.put_u8(b'}');
    }
    out.put_slice(b",\"flag\":");
    json::write_i64(out, i64::from(cmd.flag));
    out.put_slice(b",\"language\":\"");
    out.put_slice(cmd.language.name().as_bytes());
    out.put_slice(b"\",\"opaque\":");
    json::write_i64(out, i64::from(cmd.opaque));
    if let Some(remark) = &cmd.remark {
        out.put_slice(b",\"remark\":");
        json::write_str(out, remark, false);
    }
    out.put_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    json::write_i64(out, i64::from(cmd.version));
    out.put_u8(b'}');
}

/// Parses a JSON header into a command with an empty body.
pub fn decode_json_header(text: &[u8]) -> Result<RemotingCommand> {
    let text = std::str::from_utf8(text)
        .map_err(|e| ProtoError::invalid("json header", format!("not UTF-8: {e}")))?;
    let mut p = Parser { s: text, i: 0 };
    let cmd = p.header()?;
    p.ws();
    if p.i != text.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(cmd)
}

/// Deepest nesting skipped inside an unknown member (as serde_json's limit).
const MAX_DEPTH: usize = 128;

/// A cursor over the header text. Every position it stops at is an ASCII
/// byte or the end, so slicing `s` there is always on a char boundary.
struct Parser<'a> {
    s: &'a str,
    i: usize,
}

/// A JSON value the header cares about, borrowed where no escape forced a copy.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    /// A number's text as written (validated JSON number grammar).
    Num(&'a str),
    Bool(bool),
    Null,
}

impl<'a> Parser<'a> {
    fn error(&self, what: &str) -> ProtoError {
        ProtoError::invalid("json header", format!("{what} at byte {}", self.i))
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        match self.eat(c) {
            true => Ok(()),
            false => Err(self.error(&format!("expected '{}'", c as char))),
        }
    }

    /// Calls `member` for each `"name": value` of an object, leaving the
    /// cursor at the value; `member` must consume it.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> Result<()>) -> Result<()> {
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name"));
            }
            let name = self.string()?;
            self.expect(b':')?;
            self.ws();
            member(self, &name)?;
            if self.eat(b',') {
                continue;
            }
            return self.expect(b'}');
        }
    }

    fn header(&mut self) -> Result<RemotingCommand> {
        // Field defaults of the Java class, for members that are absent.
        let mut cmd = RemotingCommand {
            version: 0,
            ..RemotingCommand::default()
        };
        self.ws();
        self.object(|p, name| {
            match name {
                "code" => cmd.code = p.lenient_i32()?,
                "flag" => cmd.flag = p.lenient_i32()?,
                "opaque" => cmd.opaque = p.lenient_i32()?,
                "version" => cmd.version = p.lenient_i32()?,
                "language" => cmd.language = p.language()?,
                "remark" => cmd.remark = p.scalar_text()?.map(Cow::into_owned),
                "extFields" => {
                    if let Some(ext) = p.ext_fields()? {
                        cmd.force_ext_fields = ext.is_empty();
                        cmd.ext_fields = ext;
                    }
                }
                _ => p.skip_value(0)?,
            }
            Ok(())
        })?;
        Ok(cmd)
    }

    /// `extFields`: an object of scalars (`null` values dropped), or `null`.
    fn ext_fields(&mut self) -> Result<Option<ExtFields>> {
        if self.peek() == Some(b'n') {
            self.literal("null")?;
            return Ok(None);
        }
        /// C++ adds 3 credential keys to a header of up to 14 fields.
        const TYPICAL_FIELDS: usize = 20;
        let mut ext = ExtFields::with_capacity(TYPICAL_FIELDS);
        self.object(|p, name| ext.push_decoded_with(name, |out| p.scalar_text_into(out)))?;
        Ok(Some(ext))
    }

    /// An int32 given as a JSON number, a numeric string, or `null` (= 0).
    fn lenient_i32(&mut self) -> Result<i32> {
        match self.scalar()? {
            Scalar::Num(n) if is_integer(n) => n
                .parse::<i32>()
                .map_err(|_| self.error(&format!("{n} is not a 32-bit integer"))),
            Scalar::Num(n) => Err(self.error(&format!("{n} is not an integer"))),
            Scalar::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| self.error("expected a 32-bit integer string")),
            Scalar::Null => Ok(0),
            Scalar::Bool(_) => Err(self.error("expected a 32-bit integer")),
        }
    }

    /// `LanguageCode` as a name, a number, or `null` (= JAVA).
    fn language(&mut self) -> Result<LanguageCode> {
        match self.scalar()? {
            Scalar::Str(s) => Ok(LanguageCode::from_name(&s)),
            Scalar::Num(n) if is_integer(n) => match n.parse::<i64>() {
                Ok(v) => Ok(LanguageCode::from_i64(v)),
                Err(_) if n.parse::<u64>().is_ok() => Ok(LanguageCode::Other),
                Err(_) => Err(self.error("language number out of range")),
            },
            Scalar::Null => Ok(LanguageCode::Java),
            _ => Err(self.error("expected a language name or number")),
        }
    }

    /// A scalar as text: strings as is, numbers in decimal, booleans as
    /// `true`/`false`; `null` is `None`.
    fn scalar_text(&mut self) -> Result<Option<Cow<'a, str>>> {
        Ok(match self.scalar()? {
            Scalar::Str(s) => Some(s),
            Scalar::Num(n) => {
                Some(number_text(n).ok_or_else(|| self.error("number out of range"))?)
            }
            Scalar::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Scalar::Null => None,
        })
    }

    /// [`scalar_text`](Self::scalar_text) appended to `out`, a string
    /// unescaped straight into it; `false` (nothing appended) for `null`.
    fn scalar_text_into(&mut self, out: &mut String) -> Result<bool> {
        if self.peek() == Some(b'"') {
            self.string_into(out)?;
            return Ok(true);
        }
        let text = self.scalar_text()?;
        out.push_str(text.as_deref().unwrap_or_default());
        Ok(text.is_some())
    }

    fn scalar(&mut self) -> Result<Scalar<'a>> {
        match self.peek() {
            Some(b'"') => Ok(Scalar::Str(self.string()?)),
            Some(b'-' | b'0'..=b'9') => Ok(Scalar::Num(self.number()?)),
            Some(b't') => self.literal("true").map(|()| Scalar::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Scalar::Bool(false)),
            Some(b'n') => self.literal("null").map(|()| Scalar::Null),
            _ => Err(self.error("expected a string, number, boolean or null")),
        }
    }

    fn literal(&mut self, word: &str) -> Result<()> {
        match self.s[self.i..].starts_with(word) {
            true => {
                self.i += word.len();
                Ok(())
            }
            false => Err(self.error(&format!("expected {word}"))),
        }
    }

    /// A number in JSON grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Result<&'a str> {
        let start = self.i;
        let b = self.s.as_bytes();
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        if !digits(&mut i) || (b[int_start] == b'0' && i - int_start > 1) {
            self.i = i;
            return Err(self.error("malformed number"));
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                self.i = i;
                return Err(self.error("malformed number"));
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                self.i = i;
                return Err(self.error("malformed number"));
            }
        }
        self.i = i;
        Ok(&self.s[start..i])
    }

    /// A string at the cursor (which is on its opening quote), borrowed
    /// unless it holds escapes.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        let quote = self.i;
        self.i += 1;
        let start = self.i;
        self.plain_run();
        if self.string_stop()? == b'"' {
            return Ok(Cow::Borrowed(&self.s[start..self.i - 1]));
        }
        // Escaped (rare outside values): read it again, unescaping.
        self.i = quote;
        let mut out = String::new();
        self.string_into(&mut out)?;
        Ok(Cow::Owned(out))
    }

    /// A string at the cursor (on its opening quote), appended to `out`
    /// unescaped.
    fn string_into(&mut self, out: &mut String) -> Result<()> {
        self.i += 1;
        loop {
            let run = self.i;
            self.plain_run();
            out.push_str(&self.s[run..self.i]);
            if self.string_stop()? == b'"' {
                return Ok(());
            }
            self.escape(out)?;
        }
    }

    /// Moves past the bytes a string holds as they are (anything but a
    /// quote, a backslash or a control character), eight at a time.
    fn plain_run(&mut self) {
        let b = self.s.as_bytes();
        while let Some(word) = b.get(self.i..self.i + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            let stops = string_stops(word);
            if stops != 0 {
                self.i += (stops.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while b.get(self.i).is_some_and(|&c| !json::must_escape(c)) {
            self.i += 1;
        }
    }

    /// After a plain run: consumes and returns the closing quote or the
    /// backslash of an escape.
    fn string_stop(&mut self) -> Result<u8> {
        match self.peek() {
            Some(c @ (b'"' | b'\\')) => {
                self.i += 1;
                Ok(c)
            }
            Some(_) => Err(self.error("control character in string")),
            None => Err(self.error("unterminated string")),
        }
    }

    /// One escape after its backslash.
    fn escape(&mut self, out: &mut String) -> Result<()> {
        let c = self
            .peek()
            .ok_or_else(|| self.error("unterminated escape"))?;
        self.i += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        if !self.s[self.i..].starts_with("\\u") {
                            return Err(self.error("lone leading surrogate"));
                        }
                        self.i += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error("bad trailing surrogate"));
                        }
                        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        char::from_u32(code).ok_or_else(|| self.error("bad surrogate pair"))?
                    }
                    0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate")),
                    _ => char::from_u32(unit).ok_or_else(|| self.error("bad escape"))?,
                }
            }
            _ => return Err(self.error("bad escape")),
        };
        out.push(ch);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.s.as_bytes().get(self.i..self.i + 4);
        let value = digits.and_then(|d| {
            d.iter()
                .try_fold(0u32, |v, &c| Some(v << 4 | char::from(c).to_digit(16)?))
        });
        let value = value.ok_or_else(|| self.error("bad \\u escape"))?;
        self.i += 4;
        Ok(value)
    }

    /// Skips any value (members the header does not use): strings are
    /// checked for syntax only, not decoded.
    fn skip_value(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.ws();
        let (open, close) = match self.peek() {
            Some(b'"') => return self.skip_string(),
            Some(b'{') => (b'{', b'}'),
            Some(b'[') => (b'[', b']'),
            _ => return self.scalar().map(drop),
        };
        self.i += 1;
        if self.eat(close) {
            return Ok(());
        }
        loop {
            if open == b'{' {
                self.ws();
                if self.peek() != Some(b'"') {
                    return Err(self.error("expected a member name"));
                }
                self.skip_string()?;
                self.expect(b':')?;
            }
            self.skip_value(depth + 1)?;
            if self.eat(b',') {
                continue;
            }
            return self.expect(close);
        }
    }

    /// Skips a string, checking escapes for syntax only.
    fn skip_string(&mut self) -> Result<()> {
        self.i += 1;
        loop {
            self.plain_run();
            if self.string_stop()? == b'"' {
                return Ok(());
            }
            match self.peek() {
                Some(b'u') => {
                    self.i += 1;
                    self.hex4()?;
                }
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                _ => return Err(self.error("bad escape")),
            }
        }
    }
}

/// The high bit of each byte of `word` (little-endian) that a string
/// cannot hold as it is ([`json::must_escape`]). Only the lowest set bit
/// is exact (a borrow can flag bytes above a real stop), which is all a
/// scan for the first stop needs.
fn string_stops(word: u64) -> u64 {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS;
    below(word, 0x20)
        | below(word ^ (ONES * u64::from(b'"')), 1)
        | below(word ^ (ONES * u64::from(b'\\')), 1)
}

/// Integers as JSON parsers type them: no fraction or exponent, and not
/// `-0` (a float, so that its sign survives).
fn is_integer(number: &str) -> bool {
    !number.contains(['.', 'e', 'E']) && number != "-0"
}

/// A number's text as JSON parsers hand numbers over: integers in decimal
/// (as i64 or u64 when they fit), others through f64; `None` when not
/// finite. An integer that fits is already in that form (the JSON grammar
/// has no leading zeros or plus signs, and `-0` is not an integer here).
fn number_text(n: &str) -> Option<Cow<'_, str>> {
    if is_integer(n) && (n.parse::<i64>().is_ok() || n.parse::<u64>().is_ok()) {
        return Some(Cow::Borrowed(n));
    }
    n.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| Cow::Owned(v.to_string()))
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(text: &str) -> RemotingCommand {
        decode_json_header(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn encodes_like_fastjson() {
        let cmd = RemotingCommand::request(105)
            .with_opaque(1)
            .with_ext("topic", "TopicTest");
        let mut out = Vec::new();
        encode_json_header(&cmd, &mut out);
        let want = r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        assert_eq!(std::str::from_utf8(&out).unwrap(), want);
        assert_eq!(out.len(), 131);
    }

    #[test]
    fn encodes_remark_and_forced_empty_ext() {
        let mut rsp = RemotingCommand::response(19, "NO_MESSAGE".to_owned()).with_opaque(-5);
        rsp.force_ext_fields = true;
        rsp.version = 401;
        let mut out = Vec::new();
        encode_json_header(&rsp, &mut out);
        let want = r#"{"code":19,"extFields":{},"flag":1,"language":"JAVA","opaque":-5,"remark":"NO_MESSAGE","serializeTypeCurrentRPC":"JSON","version":401}"#;
        assert_eq!(std::str::from_utf8(&out).unwrap(), want);
    }

    #[test]
    fn decodes_tolerantly() {
        struct Case {
            text: &'static str,
            code: i32,
            language: LanguageCode,
            remark: Option<&'static str>,
            ext: &'static [(&'static str, &'static str)],
        }
        let cases = [
            Case {
                text: "{\"code\":34,\"extFields\":{\"AccessKey\":\"\",\"OnsChannel\":\"\",\"Signature\":\"\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":3,\"remark\":\"\",\"version\":333}\n",
                code: 34,
                language: LanguageCode::Cpp,
                remark: Some(""),
                ext: &[("AccessKey", ""), ("OnsChannel", ""), ("Signature", "")],
            },
            Case {
                text: r#"{"code":0,"flag":1,"language":"JAVA","opaque":0,"serializeTypeCurrentRPC":"JSON","version":403}"#,
                code: 0,
                language: LanguageCode::Java,
                remark: None,
                ext: &[],
            },
            Case {
                text: r#"{"code":"11","language":9,"remark":null,"extFields":null,"future":[1,{"x":2}]}"#,
                code: 11,
                language: LanguageCode::Go,
                remark: None,
                ext: &[],
            },
            Case {
                text: r#" {"extFields":{"queueId":0,"big":1700000000000,"neg":-1,"f":1.5,"b":true,"n":null,"s":"x"},"code":11,"language":"KOTLIN"} "#,
                code: 11,
                language: LanguageCode::Other,
                remark: None,
                ext: &[("queueId", "0"), ("big", "1700000000000"), ("neg", "-1"), ("f", "1.5"), ("b", "true"), ("s", "x")],
            },
        ];
        for case in cases {
            let cmd = decode(case.text);
            assert_eq!(cmd.code, case.code, "{}", case.text);
            assert_eq!(cmd.language, case.language, "{}", case.text);
            assert_eq!(cmd.remark.as_deref(), case.remark, "{}", case.text);
            let ext: Vec<_> = cmd.ext_fields.iter().collect();
            assert_eq!(ext, case.ext, "{}", case.text);
        }
    }

    /// JSON string literals: plain, escaped (surrogate pairs, a lone
    /// surrogate) and multi-byte UTF-8.
    fn json_string() -> impl Strategy<Value = String> + Clone {
        prop_oneof![
            "[a-zA-Z0-9 _%|.:-]{0,30}",
            Just("A\\u00e9\\\"q\\n\\ud83d\\ude00/x\\/".to_owned()),
            Just("\\ud83d".to_owned()),
            Just("中文 ünï".to_owned()),
        ]
        .prop_map(|s| format!("\"{s}\""))
    }

    /// JSON scalars: strings, numbers of every width and odd form, and the
    /// literals.
    fn json_scalar() -> impl Strategy<Value = String> + Clone {
        let number = prop_oneof![
            any::<i32>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            Just("1.5".to_owned()),
            Just("-0".to_owned()),
            Just("1e3".to_owned()),
            Just("2.50E-3".to_owned()),
            Just("01".to_owned()),
            Just("1e400".to_owned()),
            Just("99999999999999999999".to_owned()),
        ];
        prop_oneof![
            json_string(),
            number,
            Just("true".to_owned()),
            Just("false".to_owned()),
            Just("null".to_owned()),
        ]
    }

    /// JSON-ish header texts: known and unknown members with every kind of
    /// value, escapes, odd numbers, whitespace, and sometimes a cut or a
    /// flipped byte.
    fn headerish() -> impl Strategy<Value = Vec<u8>> {
        let string = json_string();
        let scalar = json_scalar();
        let value = prop_oneof![
            4 => scalar.clone(),
            1 => proptest::collection::vec(scalar.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            1 => proptest::collection::vec((string.clone(), scalar.clone()), 0..3)
                .prop_map(|v| format!("{{{}}}", v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(","))),
        ];
        let key = prop_oneof![
            Just("code"),
            Just("flag"),
            Just("opaque"),
            Just("version"),
            Just("language"),
            Just("remark"),
            Just("extFields"),
            Just("serializeTypeCurrentRPC"),
            Just("other"),
        ];
        let member = (
            key,
            value,
            proptest::collection::vec((string, scalar), 0..4),
            0..3u8,
        )
            .prop_map(|(k, v, ext, ws)| {
                let pad = [" ", "\n", "\t"][ws as usize];
                match k {
                    "extFields" => format!(
                        "\"extFields\"{pad}:{pad}{{{}}}",
                        ext.into_iter()
                            .map(|(k, v)| format!("{k}:{v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    _ => format!("\"{k}\":{pad}{v}"),
                }
            });
        (
            proptest::collection::vec(member, 0..8),
            any::<u16>(),
            any::<u8>(),
            0..4u8,
        )
            .prop_map(|(members, at, byte, damage)| {
                let mut text = format!("{{{}}}", members.join(",")).into_bytes();
                let at = at as usize % (text.len() + 1);
                match damage {
                    0 => text.truncate(at),
                    1 if at < text.len() => text[at] = byte,
                    _ => {}
                }
                text
            })
    }

    proptest! {
        /// The hand-written decoder agrees with the serde visitor it replaced.
        #[test]
        fn agrees_with_the_serde_decoder(text in headerish()) {
            // Unlike serde, which skipped unknown members' bytes unchecked,
            // a header that is not UTF-8 anywhere is refused.
            if std::str::from_utf8(&text).is_err() {
                prop_assert!(decode_json_header(&text).is_err());
                return Ok(());
            }
            let fast = decode_json_header(&text);
            let oracle = reference::decode_with_serde(&text);
            match (fast, oracle) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", String::from_utf8_lossy(&text)),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "{}: fast {:?} vs serde {:?}", String::from_utf8_lossy(&text), a, b),
            }
        }
    }

    proptest! {
        /// The word scan finds the first quote, backslash or control byte
        /// of any eight bytes (UTF-8 continuation bytes included).
        #[test]
        fn string_stops_finds_the_first_stop(bytes in any::<[u8; 8]>(), stop in 0..9usize, kind in 0..3u8) {
            let mut bytes = bytes;
            if stop < 8 {
                bytes[stop] = [b'"', b'\\', 0x1f][kind as usize];
            }
            let first = bytes.iter().position(|&c| json::must_escape(c));
            let stops = string_stops(u64::from_le_bytes(bytes));
            prop_assert_eq!((stops != 0).then(|| stops.trailing_zeros() as usize / 8), first);
        }
    }

    #[test]
    fn a_header_of_numbers_that_decode_long_is_refused() {
        let members: Vec<_> = (0..60_000).map(|i| format!("\"{i}\":1e308")).collect();
        let text = format!("{{\"code\":10,\"extFields\":{{{}}}}}", members.join(","));
        let err = decode_json_header(text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("once decoded"), "{err}");
    }

    #[test]
    fn rejects_garbage() {
        let cases = [
            "",
            "[]",
            "{\"code\":1",
            "{\"code\":99999999999}",
            "{\"code\":1.5}",
            "{\"extFields\":{\"a\":[1]}}",
            "{\"extFields\":\"x\"}",
            "{} trailing",
        ];
        for text in cases {
            let err = decode_json_header(text.as_bytes()).unwrap_err();
            assert!(matches!(err, ProtoError::Invalid { .. }), "{text}: {err}");
        }
    }
}
