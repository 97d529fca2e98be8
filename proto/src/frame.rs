//! Framing: splitting a byte stream into [`RemotingCommand`]s and back
//! (remoting.md §1.2).
//!
//! ```text
//! | length L: i32 BE | type: u8 | header length H: u24 BE | header | body |
//!   L = 4 + H + body length; the whole frame is 4 + L bytes.
//! ```
//!
//! Decoding tells three outcomes apart:
//! * [`ProtoError::Incomplete`] — a prefix of a valid frame: read more;
//! * [`ProtoError::Invalid`] / [`ProtoError::TooLarge`] — the stream can
//!   never frame (negative or tiny length, header longer than the frame,
//!   unknown serialize type, frame over the cap): close the connection;
//! * a frame whose header does not parse: the bytes are consumed, so the
//!   stream stays in sync, and the header error is returned.
//!
//! The cap is checked as soon as the 4 length bytes arrive, so a peer
//! cannot make us buffer more than `max_frame_bytes`.

use bytes::{BufMut, Bytes, BytesMut};

use crate::binary_header::decode_binary_header;
use crate::codes::SerializeType;
use crate::command::RemotingCommand;
use crate::error::{ProtoError, Result};
use crate::json_header::{decode_json_header, encode_json_header};

/// Default cap on one frame, **including** the 4-byte length field: the
/// Java decoder's `frameMaxLength` (16 MiB), so every client's frames fit.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Size of the leading length field.
pub const LENGTH_FIELD_BYTES: usize = 4;

/// Size of the serialize-type + header-length word.
pub const HEADER_WORD_BYTES: usize = 4;

/// Bytes before the header: length field + header word.
pub const FRAME_PREFIX_BYTES: usize = LENGTH_FIELD_BYTES + HEADER_WORD_BYTES;

/// The header length is a 24-bit field.
pub const MAX_HEADER_BYTES: usize = 0x00FF_FFFF;

const _: () = assert!(MAX_FRAME_BYTES <= i32::MAX as usize);

/// What the first 8 bytes of a frame say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// Whole frame size including the length field.
    pub frame_bytes: usize,
    /// Header encoding.
    pub serialize_type: SerializeType,
    /// Header size.
    pub header_bytes: usize,
}

impl FrameHead {
    /// Body size implied by the frame and header sizes.
    pub fn body_bytes(&self) -> usize {
        self.frame_bytes - FRAME_PREFIX_BYTES - self.header_bytes
    }
}

/// Validates the frame at the start of `buf` and returns its geometry, or
/// `Incomplete` with the total number of bytes needed to go further.
pub fn check_frame(buf: &[u8], max_frame_bytes: usize) -> Result<FrameHead> {
    let length = read_i32(buf, 0).ok_or(ProtoError::Incomplete {
        needed: LENGTH_FIELD_BYTES,
    })?;
    let frame_bytes = frame_bytes_from_length(length, max_frame_bytes)?;
    let word = read_i32(buf, LENGTH_FIELD_BYTES).ok_or(ProtoError::Incomplete {
        needed: FRAME_PREFIX_BYTES,
    })?;
    let word = word as u32;
    let type_byte = (word >> 24) as u8;
    let serialize_type = SerializeType::from_byte(type_byte).ok_or_else(|| {
        ProtoError::invalid("frame", format!("unknown serialize type {type_byte}"))
    })?;
    let header_bytes = (word & 0x00FF_FFFF) as usize;
    if header_bytes > frame_bytes - FRAME_PREFIX_BYTES {
        return Err(ProtoError::invalid(
            "frame",
            format!("bad header length {header_bytes} for frame length {length}"),
        ));
    }
    if buf.len() < frame_bytes {
        return Err(ProtoError::Incomplete {
            needed: frame_bytes,
        });
    }
    Ok(FrameHead {
        frame_bytes,
        serialize_type,
        header_bytes,
    })
}

fn frame_bytes_from_length(length: i32, max_frame_bytes: usize) -> Result<usize> {
    let length = usize::try_from(length)
        .ok()
        .filter(|&l| l >= HEADER_WORD_BYTES)
        .ok_or_else(|| ProtoError::invalid("frame", format!("bad frame length {length}")))?;
    let frame_bytes = length + LENGTH_FIELD_BYTES;
    if frame_bytes > max_frame_bytes {
        return Err(ProtoError::TooLarge {
            what: "frame",
            size: frame_bytes,
            limit: max_frame_bytes,
        });
    }
    Ok(frame_bytes)
}

fn read_i32(buf: &[u8], at: usize) -> Option<i32> {
    let bytes = buf.get(at..at + 4)?;
    Some(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Decodes one frame from the front of `buf`, copying the body.
///
/// `Ok(None)` means "need more bytes"; otherwise the command and the
/// number of bytes it used.
pub fn decode_frame(
    buf: &[u8],
    max_frame_bytes: usize,
) -> Result<Option<(RemotingCommand, usize)>> {
    let head = match check_frame(buf, max_frame_bytes) {
        Ok(head) => head,
        Err(ProtoError::Incomplete { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let frame = &buf[..head.frame_bytes];
    let mut cmd = decode_header(head, frame)?;
    cmd.body = Bytes::copy_from_slice(&frame[FRAME_PREFIX_BYTES + head.header_bytes..]);
    Ok(Some((cmd, head.frame_bytes)))
}

/// Decodes one frame from a read buffer without copying the body: the
/// frame is split off `buf` and the body shares its memory.
///
/// `Ok(None)` leaves `buf` untouched. A frame whose header fails to parse
/// is still consumed (see the module docs).
pub fn decode_frame_buf(
    buf: &mut BytesMut,
    max_frame_bytes: usize,
) -> Result<Option<RemotingCommand>> {
    let head = match check_frame(buf, max_frame_bytes) {
        Ok(head) => head,
        // No reserve here: a peer announcing a 16 MiB frame must not make
        // us allocate it before sending it. Growth is the caller's policy.
        Err(ProtoError::Incomplete { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let frame = buf.split_to(head.frame_bytes).freeze();
    let mut cmd = decode_header(head, &frame)?;
    cmd.body = frame.slice(FRAME_PREFIX_BYTES + head.header_bytes..);
    Ok(Some(cmd))
}

fn decode_header(head: FrameHead, frame: &[u8]) -> Result<RemotingCommand> {
    let header = &frame[FRAME_PREFIX_BYTES..FRAME_PREFIX_BYTES + head.header_bytes];
    match head.serialize_type {
        SerializeType::Json => decode_json_header(header),
        SerializeType::RocketMq => decode_binary_header(header),
    }
}

/// Appends the whole frame of `cmd` (JSON header) to `dst`.
pub fn encode_frame(
    cmd: &RemotingCommand,
    dst: &mut BytesMut,
    max_frame_bytes: usize,
) -> Result<()> {
    encode_frame_head(cmd, dst, max_frame_bytes)?;
    dst.put_slice(&cmd.body);
    Ok(())
}

/// Appends everything of the frame but the body: length, header word and
/// JSON header, with the length counting `cmd.body`. A transport can then
/// write the body from its own buffer (vectored write, no copy).
///
/// On error `dst` is left as it was.
pub fn encode_frame_head(
    cmd: &RemotingCommand,
    dst: &mut BytesMut,
    max_frame_bytes: usize,
) -> Result<()> {
    let start = dst.len();
    dst.put_bytes(0, FRAME_PREFIX_BYTES);
    encode_json_header(cmd, dst);
    let header_bytes = dst.len() - start - FRAME_PREFIX_BYTES;
    let frame_bytes = dst.len() - start + cmd.body.len();
    if let Err(e) = check_encoded_sizes(header_bytes, frame_bytes, max_frame_bytes) {
        dst.truncate(start);
        return Err(e);
    }
    // Both casts are in range: checked above against limits below i32::MAX.
    let length = (frame_bytes - LENGTH_FIELD_BYTES) as u32;
    let word = (u32::from(SerializeType::Json.as_byte()) << 24) | header_bytes as u32;
    dst[start..start + 4].copy_from_slice(&length.to_be_bytes());
    dst[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
    Ok(())
}

fn check_encoded_sizes(
    header_bytes: usize,
    frame_bytes: usize,
    max_frame_bytes: usize,
) -> Result<()> {
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ProtoError::TooLarge {
            what: "header",
            size: header_bytes,
            limit: MAX_HEADER_BYTES,
        });
    }
    let limit = max_frame_bytes.min(i32::MAX as usize);
    if frame_bytes > limit {
        return Err(ProtoError::TooLarge {
            what: "frame",
            size: frame_bytes,
            limit,
        });
    }
    Ok(())
}

impl RemotingCommand {
    /// Appends this command's frame with the default cap
    /// ([`MAX_FRAME_BYTES`]).
    pub fn encode(&self, dst: &mut BytesMut) -> Result<()> {
        encode_frame(self, dst, MAX_FRAME_BYTES)
    }

    /// This command's frame as a new buffer.
    pub fn to_frame(&self) -> Result<Bytes> {
        let mut dst = BytesMut::with_capacity(256 + self.body.len());
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(length: i32, word: u32, rest: &[u8]) -> Vec<u8> {
        let mut out = length.to_be_bytes().to_vec();
        out.extend_from_slice(&word.to_be_bytes());
        out.extend_from_slice(rest);
        out
    }

    #[test]
    fn check_outcomes() {
        let header = br#"{"code":1}"#;
        let good = frame(4 + 10 + 3, 10, &[header.as_slice(), b"abc"].concat());
        struct Case {
            name: &'static str,
            buf: Vec<u8>,
            max: usize,
            want: std::result::Result<usize, &'static str>,
        }
        let cases = [
            Case {
                name: "empty",
                buf: vec![],
                max: MAX_FRAME_BYTES,
                want: Err("incomplete 4"),
            },
            Case {
                name: "3 bytes",
                buf: good[..3].to_vec(),
                max: MAX_FRAME_BYTES,
                want: Err("incomplete 4"),
            },
            Case {
                name: "length only",
                buf: good[..4].to_vec(),
                max: MAX_FRAME_BYTES,
                want: Err("incomplete 8"),
            },
            Case {
                name: "partial",
                buf: good[..20].to_vec(),
                max: MAX_FRAME_BYTES,
                want: Err("incomplete 21"),
            },
            Case {
                name: "whole",
                buf: good.clone(),
                max: MAX_FRAME_BYTES,
                want: Ok(21),
            },
            Case {
                name: "exact cap",
                buf: good.clone(),
                max: 21,
                want: Ok(21),
            },
            Case {
                name: "over cap",
                buf: good[..4].to_vec(),
                max: 20,
                want: Err("too large"),
            },
            Case {
                name: "negative",
                buf: frame(-1, 0, &[]),
                max: MAX_FRAME_BYTES,
                want: Err("invalid"),
            },
            Case {
                name: "tiny",
                buf: frame(3, 0, &[]),
                max: MAX_FRAME_BYTES,
                want: Err("invalid"),
            },
            Case {
                name: "header > length-4",
                buf: frame(8, 5, &[0; 4]),
                max: MAX_FRAME_BYTES,
                want: Err("invalid"),
            },
            Case {
                name: "type 2",
                buf: frame(4, 0x0200_0000, &[]),
                max: MAX_FRAME_BYTES,
                want: Err("invalid"),
            },
        ];
        for case in cases {
            let got = match check_frame(&case.buf, case.max) {
                Ok(head) => Ok(head.frame_bytes),
                Err(ProtoError::Incomplete { needed: 4 }) => Err("incomplete 4"),
                Err(ProtoError::Incomplete { needed: 8 }) => Err("incomplete 8"),
                Err(ProtoError::Incomplete { needed: 21 }) => Err("incomplete 21"),
                Err(ProtoError::TooLarge { .. }) => Err("too large"),
                Err(ProtoError::Invalid { .. }) => Err("invalid"),
                Err(e) => panic!("{}: unexpected {e}", case.name),
            };
            assert_eq!(got, case.want, "{}", case.name);
        }
    }

    #[test]
    fn encode_decode_round_trip_both_apis() {
        let cmd = RemotingCommand::request(11)
            .with_opaque(9)
            .with_ext("topic", "T")
            .with_body(&b"payload"[..]);
        let mut buf = BytesMut::new();
        cmd.encode(&mut buf).unwrap();
        cmd.encode(&mut buf).unwrap();
        let one = buf.len() / 2;

        let (decoded, used) = decode_frame(&buf, MAX_FRAME_BYTES).unwrap().unwrap();
        assert_eq!((decoded, used), (cmd.clone(), one));
        assert!(decode_frame(&buf[..one - 1], MAX_FRAME_BYTES)
            .unwrap()
            .is_none());

        let mut partial = BytesMut::from(&buf[..one + 3]);
        assert_eq!(
            decode_frame_buf(&mut partial, MAX_FRAME_BYTES).unwrap(),
            Some(cmd.clone())
        );
        assert_eq!(
            decode_frame_buf(&mut partial, MAX_FRAME_BYTES).unwrap(),
            None
        );
        assert_eq!(partial.len(), 3);
    }

    #[test]
    fn bad_header_consumes_the_frame() {
        let mut buf = BytesMut::from(&frame(4 + 2, 2, b"{x")[..]);
        buf.extend_from_slice(&RemotingCommand::request(1).to_frame().unwrap());
        assert!(decode_frame_buf(&mut buf, MAX_FRAME_BYTES).is_err());
        let next = decode_frame_buf(&mut buf, MAX_FRAME_BYTES)
            .unwrap()
            .unwrap();
        assert_eq!(next.code, 1);
        assert!(buf.is_empty());
    }

    #[test]
    fn encode_respects_the_cap_and_leaves_dst_alone() {
        let cmd = RemotingCommand::request(1).with_body(vec![0u8; 1000]);
        let mut dst = BytesMut::from(&b"keep"[..]);
        let err = encode_frame(&cmd, &mut dst, 500).unwrap_err();
        assert!(matches!(err, ProtoError::TooLarge { what: "frame", .. }));
        assert_eq!(&dst[..], b"keep");
    }
}
