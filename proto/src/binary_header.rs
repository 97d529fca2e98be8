//! The ROCKETMQ binary command header (serialize type 1), remoting.md §2.6.
//!
//! ```text
//! offset size field
//!  0     2    code            i16 (codes > 32767 cannot be represented)
//!  2     1    language        LanguageCode byte
//!  3     2    version         i16
//!  5     4    opaque          i32
//!  9     4    flag            i32
//! 13     4    remarkLength    i32, 0 = none
//! 17     R    remark          UTF-8
//!  …     4    extLength       i32 byte length of the ext block, 0 = none
//!  …     E    ext block       { keyLen i16, key, valLen i32, value }*
//! ```
//!
//! Bolide only *decodes* this form from peers (Java/Go may send it); its own
//! commands always use JSON because the C++ client cannot read binary
//! headers. The encoder exists for tests and for a client that opts in.

use bytes::BufMut;

use crate::codes::LanguageCode;
use crate::command::RemotingCommand;
use crate::error::{ProtoError, Result};
use crate::ext::ExtFields;

/// Bytes of the fixed part before the remark (`calTotalLen`).
pub const BINARY_HEADER_FIXED_BYTES: usize = 21;

const WHAT: &str = "binary header";

/// Parses a binary header into a command with an empty body.
pub fn decode_binary_header(bytes: &[u8]) -> Result<RemotingCommand> {
    let mut r = Reader { bytes, pos: 0 };
    let code = i32::from(r.i16()?);
    let language = LanguageCode::from_byte(r.u8()?);
    let version = i32::from(r.i16()?);
    let opaque = r.i32()?;
    let flag = r.i32()?;
    let remark_len = r.len_i32("remark length")?;
    let remark = r.text(remark_len)?;
    let ext_len = r.len_i32("ext length")?;
    let ext_fields = decode_ext_block(r.take(ext_len)?)?;
    // Like Java, bytes after the ext block (inside the header length) are
    // ignored rather than rejected.
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark: (!remark.is_empty()).then_some(remark),
        ext_fields,
        force_ext_fields: false,
        body: bytes::Bytes::new(),
    })
}

fn decode_ext_block(block: &[u8]) -> Result<ExtFields> {
    let mut r = Reader {
        bytes: block,
        pos: 0,
    };
    let mut ext = ExtFields::new();
    while r.pos < block.len() {
        let key_len = usize::try_from(r.i16()?)
            .map_err(|_| ProtoError::invalid(WHAT, "negative ext key length"))?;
        let key = r.str(key_len)?;
        let value_len = r.len_i32("ext value length")?;
        let value = r.str(value_len)?;
        ext.push_decoded(key, value);
    }
    Ok(ext)
}

/// Appends the binary header of `cmd`. Fails when `code`/`version` do not
/// fit 16 bits or a string is longer than its length field allows.
pub fn encode_binary_header<B: BufMut>(cmd: &RemotingCommand, out: &mut B) -> Result<()> {
    let code = i16::try_from(cmd.code)
        .map_err(|_| ProtoError::invalid(WHAT, format!("code {} does not fit i16", cmd.code)))?;
    let version = i16::try_from(cmd.version).map_err(|_| {
        ProtoError::invalid(WHAT, format!("version {} does not fit i16", cmd.version))
    })?;
    let remark = cmd.remark.as_deref().unwrap_or("");
    let ext_len = ext_block_len(&cmd.ext_fields)?;
    out.put_i16(code);
    out.put_u8(cmd.language.as_byte());
    out.put_i16(version);
    out.put_i32(cmd.opaque);
    out.put_i32(cmd.flag);
    out.put_i32(len_i32(remark.len())?);
    out.put_slice(remark.as_bytes());
    out.put_i32(ext_len);
    for (key, value) in cmd.ext_fields.iter() {
        let key_len = i16::try_from(key.len())
            .map_err(|_| ProtoError::invalid(WHAT, "ext key longer than i16::MAX"))?;
        out.put_i16(key_len);
        out.put_slice(key.as_bytes());
        out.put_i32(len_i32(value.len())?);
        out.put_slice(value.as_bytes());
    }
    Ok(())
}

fn ext_block_len(ext: &ExtFields) -> Result<i32> {
    let total: usize = ext.iter().map(|(k, v)| 2 + k.len() + 4 + v.len()).sum();
    len_i32(total)
}

fn len_i32(len: usize) -> Result<i32> {
    i32::try_from(len).map_err(|_| ProtoError::TooLarge {
        what: WHAT,
        size: len,
        limit: i32::MAX as usize,
    })
}

/// Bounds-checked big-endian cursor: every read fails instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| {
            ProtoError::invalid(
                WHAT,
                format!("field of {n} bytes at {} overruns the header", self.pos),
            )
        })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn len_i32(&mut self, what: &str) -> Result<usize> {
        let len = self.i32()?;
        usize::try_from(len)
            .map_err(|_| ProtoError::invalid(WHAT, format!("negative {what} {len}")))
    }

    fn text(&mut self, n: usize) -> Result<String> {
        self.str(n).map(str::to_owned)
    }

    fn str(&mut self, n: usize) -> Result<&'a str> {
        std::str::from_utf8(self.take(n)?)
            .map_err(|_| ProtoError::invalid(WHAT, "string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cmd = RemotingCommand::request(105)
            .with_opaque(1)
            .with_remark("hi")
            .with_ext("topic", "TopicTest")
            .with_ext("k", "");
        let mut out = Vec::new();
        encode_binary_header(&cmd, &mut out).unwrap();
        assert_eq!(decode_binary_header(&out).unwrap(), cmd);
    }

    #[test]
    fn route_request_is_41_bytes() {
        let cmd = RemotingCommand::request(105)
            .with_opaque(1)
            .with_ext("topic", "TopicTest");
        let mut out = Vec::new();
        encode_binary_header(&cmd, &mut out).unwrap();
        assert_eq!(out.len(), 41);
        assert_eq!(&out[..5], &[0, 105, 0, 0x01, 0xDF]);
    }

    #[test]
    fn rejects_bad_input() {
        let good = {
            let cmd = RemotingCommand::request(1).with_ext("a", "b");
            let mut out = Vec::new();
            encode_binary_header(&cmd, &mut out).unwrap();
            out
        };
        let mut negative_remark = good.clone();
        negative_remark[13..17].copy_from_slice(&(-1i32).to_be_bytes());
        let mut long_ext = good.clone();
        long_ext[17..21].copy_from_slice(&1000i32.to_be_bytes());
        let cases: [&[u8]; 4] = [&[], &good[..20], &negative_remark, &long_ext];
        for bytes in cases {
            assert!(decode_binary_header(bytes).is_err(), "{bytes:?}");
        }
        assert!(encode_binary_header(&RemotingCommand::request(200_050), &mut Vec::new()).is_err());
    }
}
