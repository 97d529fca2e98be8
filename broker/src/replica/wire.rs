//! The replication stream's frames, sans I/O.
//!
//! Every frame is a 4-byte big-endian length (of what follows), a kind
//! byte, then the kind's fields: big-endian integers, strings as a u16
//! length and UTF-8, byte runs as a u32 length and the bytes. The stream is
//! Bolide's own (RocketMQ's HA port speaks a different, unversioned
//! format): one connection per shard, opened by the slave.
//!
//! ```text
//! slave                                master (shard k)
//!   Hello{shard, log_end, epochs} ──▶
//!                                 ◀── Welcome{from, epochs} | Refuse{reason}
//!                                 ◀── Data{at, bytes}   (empty: heartbeat)
//!   Ack{end}                      ──▶
//! ```

use super::epochs::Epoch;

/// First bytes of a Hello: "BLRP".
pub const MAGIC: u32 = 0x424C_5250;
/// The stream version this build speaks.
pub const VERSION: u16 = 1;
/// Most log bytes one Data frame carries.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;
/// Longest frame accepted: a full chunk plus its fields.
pub const MAX_FRAME_BYTES: usize = MAX_CHUNK_BYTES + 64;
/// Most epochs a frame may list (one per master start; far above use).
pub const MAX_EPOCHS: usize = 4096;

const HELLO: u8 = 1;
const WELCOME: u8 = 2;
const REFUSE: u8 = 3;
const DATA: u8 = 4;
const ACK: u8 = 5;

/// One frame of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Slave to master, first: who it is and what its log holds.
    Hello {
        broker_name: String,
        shard: u16,
        shard_count: u16,
        log_end: u64,
        epochs: Vec<Epoch>,
    },
    /// Master to slave: the stream starts at `from`; a longer slave log is
    /// cut there first. `epochs` is the master's history, which the slave
    /// adopts.
    Welcome {
        from: u64,
        master_end: u64,
        epochs: Vec<Epoch>,
    },
    /// Master to slave: not served, and why; the master closes.
    Refuse { reason: String },
    /// Master to slave: the log's bytes at `at` (may end inside a record);
    /// empty as a heartbeat. `master_end` is the master's log end.
    Data {
        at: u64,
        master_end: u64,
        bytes: Vec<u8>,
    },
    /// Slave to master: the slave's log ends at `end`, everything below kept
    /// as its flush mode promises.
    Ack { end: u64 },
}

/// Why a buffer did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// More bytes are needed.
    Incomplete,
    /// The bytes are not a frame of this version; the connection is closed.
    Invalid(String),
}

impl Frame {
    /// Appends the frame's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match self {
            Frame::Hello {
                broker_name,
                shard,
                shard_count,
                log_end,
                epochs,
            } => {
                out.push(HELLO);
                out.extend_from_slice(&MAGIC.to_be_bytes());
                out.extend_from_slice(&VERSION.to_be_bytes());
                put_str(out, broker_name);
                out.extend_from_slice(&shard.to_be_bytes());
                out.extend_from_slice(&shard_count.to_be_bytes());
                out.extend_from_slice(&log_end.to_be_bytes());
                put_epochs(out, epochs);
            }
            Frame::Welcome {
                from,
                master_end,
                epochs,
            } => {
                out.push(WELCOME);
                out.extend_from_slice(&from.to_be_bytes());
                out.extend_from_slice(&master_end.to_be_bytes());
                put_epochs(out, epochs);
            }
            Frame::Refuse { reason } => {
                out.push(REFUSE);
                put_str(out, reason);
            }
            Frame::Data {
                at,
                master_end,
                bytes,
            } => {
                out.push(DATA);
                out.extend_from_slice(&at.to_be_bytes());
                out.extend_from_slice(&master_end.to_be_bytes());
                out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
            Frame::Ack { end } => {
                out.push(ACK);
                out.extend_from_slice(&end.to_be_bytes());
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The frame at the start of `buf` and the bytes it took.
    pub fn decode(buf: &[u8]) -> Result<(Frame, usize), DecodeError> {
        let Some(len) = buf.get(..4) else {
            return Err(DecodeError::Incomplete);
        };
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        if len == 0 || len > MAX_FRAME_BYTES {
            return Err(invalid(format!("frame length {len}")));
        }
        let Some(body) = buf.get(4..4 + len) else {
            return Err(DecodeError::Incomplete);
        };
        let mut r = Reader { buf: &body[1..] };
        let frame = match body[0] {
            HELLO => r.hello()?,
            WELCOME => Frame::Welcome {
                from: r.u64()?,
                master_end: r.u64()?,
                epochs: r.epochs()?,
            },
            REFUSE => Frame::Refuse {
                reason: r.string()?,
            },
            DATA => Frame::Data {
                at: r.u64()?,
                master_end: r.u64()?,
                bytes: r.bytes()?,
            },
            ACK => Frame::Ack { end: r.u64()? },
            kind => return Err(invalid(format!("unknown frame kind {kind}"))),
        };
        if !r.buf.is_empty() {
            return Err(invalid(format!("{} bytes after a frame", r.buf.len())));
        }
        Ok((frame, 4 + len))
    }
}

fn invalid(why: impl Into<String>) -> DecodeError {
    DecodeError::Invalid(why.into())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn put_epochs(out: &mut Vec<u8>, epochs: &[Epoch]) {
    let epochs = &epochs[epochs.len().saturating_sub(MAX_EPOCHS)..];
    out.extend_from_slice(&(epochs.len() as u16).to_be_bytes());
    for e in epochs {
        out.extend_from_slice(&e.epoch.to_be_bytes());
        out.extend_from_slice(&e.start.to_be_bytes());
    }
}

/// Reads fields off a complete frame; running out is invalid, not
/// incomplete (the length said the frame was whole).
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(invalid("frame shorter than its fields"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2")))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.u16()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| invalid("string is not UTF-8"))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.u32()? as usize;
        if len > MAX_CHUNK_BYTES {
            return Err(invalid(format!("chunk of {len} bytes")));
        }
        Ok(self.take(len)?.to_vec())
    }

    fn epochs(&mut self) -> Result<Vec<Epoch>, DecodeError> {
        let n = self.u16()? as usize;
        if n > MAX_EPOCHS {
            return Err(invalid(format!("{n} epochs")));
        }
        let mut epochs = Vec::with_capacity(n);
        for _ in 0..n {
            epochs.push(Epoch {
                epoch: self.u64()?,
                start: self.u64()?,
            });
        }
        Ok(epochs)
    }

    fn hello(&mut self) -> Result<Frame, DecodeError> {
        let (magic, version) = (self.u32()?, self.u16()?);
        if magic != MAGIC {
            return Err(invalid("not a Bolide replication stream"));
        }
        if version != VERSION {
            return Err(invalid(format!(
                "replication stream version {version}; this broker speaks {VERSION}"
            )));
        }
        Ok(Frame::Hello {
            broker_name: self.string()?,
            shard: self.u16()?,
            shard_count: self.u16()?,
            log_end: self.u64()?,
            epochs: self.epochs()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Frame> {
        let epochs = vec![
            Epoch { epoch: 7, start: 0 },
            Epoch {
                epoch: 9,
                start: 4096,
            },
        ];
        vec![
            Frame::Hello {
                broker_name: "broker-a".into(),
                shard: 1,
                shard_count: 2,
                log_end: 123,
                epochs: epochs.clone(),
            },
            Frame::Welcome {
                from: 100,
                master_end: 5000,
                epochs,
            },
            Frame::Refuse {
                reason: "shard count 2, not 4".into(),
            },
            Frame::Data {
                at: 1 << 40,
                master_end: (1 << 40) + 3,
                bytes: vec![1, 2, 3],
            },
            Frame::Data {
                at: 5,
                master_end: 5,
                bytes: vec![],
            },
            Frame::Ack { end: u64::MAX },
        ]
    }

    #[test]
    fn frames_round_trip_and_report_their_length() {
        let mut stream = Vec::new();
        for f in samples() {
            f.encode(&mut stream);
        }
        let mut at = 0;
        for f in samples() {
            let (got, used) = Frame::decode(&stream[at..]).unwrap();
            assert_eq!(got, f);
            at += used;
        }
        assert_eq!(at, stream.len());
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for f in samples() {
            let mut bytes = Vec::new();
            f.encode(&mut bytes);
            for cut in 0..bytes.len() {
                assert_eq!(
                    Frame::decode(&bytes[..cut]),
                    Err(DecodeError::Incomplete),
                    "{f:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_hello_pins_magic_and_version() {
        let mut bytes = Vec::new();
        samples()[0].encode(&mut bytes);
        assert_eq!(&bytes[4..11], &[1, 0x42, 0x4C, 0x52, 0x50, 0, 1]);
        let mut other = bytes.clone();
        other[10] = 2;
        let err = Frame::decode(&other).unwrap_err();
        assert!(matches!(err, DecodeError::Invalid(ref e) if e.contains("version 2")));
        bytes[5] = b'X';
        assert!(matches!(
            Frame::decode(&bytes),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn bad_frames_are_invalid_not_incomplete() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0, 0, 0, 0],
            vec![0xFF, 0, 0, 0, 1],
            vec![0, 0, 0, 1, 99],
            vec![0, 0, 0, 2, ACK, 0],
            vec![0, 0, 0, 10, ACK, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            // A Data frame whose chunk claims more than the frame holds.
            [&[0, 0, 0, 21, DATA][..], &[0; 16], &[0, 0, 0, 9]].concat(),
        ];
        for bytes in cases {
            assert!(
                matches!(Frame::decode(&bytes), Err(DecodeError::Invalid(_))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 8 * 8)) as u8).collect();
            if len >= 4 {
                bytes[..4].copy_from_slice(&((len as u32).saturating_sub(4)).to_be_bytes());
            }
            let _ = Frame::decode(&bytes);
        }
    }
}
