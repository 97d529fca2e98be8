//! Message ids.
//!
//! * **Offset message id** (the broker's `msgId` in a send response, and what
//!   clients compute from a pulled record): uppercase hex of store-host IP
//!   (4 or 16 bytes) + port (int32) + commit-log offset (int64) — 32 hex chars
//!   for IPv4, 56 for IPv6. Bolide's commit-log offset is a [`GlobalOffset`],
//!   so the id also names the shard that holds the message.
//! * **Unique key** (`UNIQ_KEY` property, the id users see): 32 uppercase hex
//!   chars, opaque to the broker. Producers normally set it; the broker makes
//!   one when a send arrives without it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{ProtoError, Result};
use crate::ids::GlobalOffset;

/// A decoded offset message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetMsgId {
    pub store_host: SocketAddr,
    pub offset: GlobalOffset,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xF) as usize] as char);
    }
}

fn unhex(text: &str) -> Result<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err(ProtoError::invalid(
            "message id",
            "odd number of hex digits",
        ));
    }
    bytes
        .chunks(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(ProtoError::invalid("message id", "not hex")),
        })
        .collect()
}

impl OffsetMsgId {
    /// Uppercase hex form.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(56);
        match self.store_host.ip() {
            IpAddr::V4(ip) => push_hex(&mut out, &ip.octets()),
            IpAddr::V6(ip) => push_hex(&mut out, &ip.octets()),
        }
        push_hex(&mut out, &(self.store_host.port() as u32).to_be_bytes());
        push_hex(&mut out, &self.offset.0.to_be_bytes());
        out
    }

    /// Parses the hex form (either case).
    pub fn decode(text: &str) -> Result<Self> {
        let bytes = unhex(text)?;
        let ip_len = match bytes.len() {
            16 => 4,
            28 => 16,
            n => return Err(ProtoError::invalid("message id", format!("{n} bytes"))),
        };
        let ip = if ip_len == 4 {
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
        } else {
            let mut o = [0u8; 16];
            o.copy_from_slice(&bytes[..16]);
            IpAddr::V6(Ipv6Addr::from(o))
        };
        let port = u32::from_be_bytes(bytes[ip_len..ip_len + 4].try_into().unwrap_or_default());
        let port = u16::try_from(port).map_err(|_| ProtoError::invalid("message id", "port"))?;
        let raw = i64::from_be_bytes(bytes[ip_len + 4..].try_into().unwrap_or_default());
        let offset = GlobalOffset::from_wire(raw)
            .ok_or_else(|| ProtoError::invalid("message id", "negative offset"))?;
        Ok(OffsetMsgId {
            store_host: SocketAddr::new(ip, port),
            offset,
        })
    }
}

/// Makes unique keys: a fixed 10-byte prefix (IPv4 address, process id,
/// a per-generator salt) followed by 4 bytes of milliseconds since the
/// generator's epoch and a 2-byte counter — the shape of Java's ids.
#[derive(Debug)]
pub struct UniqueKeyGenerator {
    prefix: String,
    epoch_ms: i64,
    counter: u16,
}

impl UniqueKeyGenerator {
    /// `ip` and `salt` distinguish generators across hosts and instances;
    /// `now_ms` is the wall clock at creation.
    pub fn new(ip: Ipv4Addr, pid: u32, salt: u32, now_ms: i64) -> Self {
        let mut prefix = String::with_capacity(20);
        push_hex(&mut prefix, &ip.octets());
        push_hex(&mut prefix, &(pid as u16).to_be_bytes());
        push_hex(&mut prefix, &salt.to_be_bytes());
        UniqueKeyGenerator {
            prefix,
            epoch_ms: now_ms,
            counter: 0,
        }
    }

    /// The next key at wall-clock `now_ms`.
    pub fn next(&mut self, now_ms: i64) -> String {
        // Re-base the epoch before the 32-bit millisecond field overflows
        // (~24 days), as Java does at each month start.
        if now_ms - self.epoch_ms >= i32::MAX as i64 {
            self.epoch_ms = now_ms;
        }
        let elapsed = (now_ms - self.epoch_ms).max(0) as u32;
        self.counter = self.counter.wrapping_add(1);
        let mut key = String::with_capacity(32);
        key.push_str(&self.prefix);
        push_hex(&mut key, &elapsed.to_be_bytes());
        push_hex(&mut key, &self.counter.to_be_bytes());
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{PhysicalOffset, ShardId};

    #[test]
    fn offset_msg_id_matches_reference_example() {
        // remoting.md §2.3: "0A02DFA500002A9F0000000163E60ADB" is
        // 10.2.223.165:10911, offset 0x163E60ADB.
        let id = OffsetMsgId::decode("0A02DFA500002A9F0000000163E60ADB").unwrap();
        assert_eq!(id.store_host, "10.2.223.165:10911".parse().unwrap());
        assert_eq!(id.offset, GlobalOffset(0x1_63E6_0ADB));
        assert_eq!(id.encode(), "0A02DFA500002A9F0000000163E60ADB");
    }

    #[test]
    fn offset_msg_id_carries_the_shard() {
        let offset = GlobalOffset::new(ShardId(3), PhysicalOffset(777)).unwrap();
        let id = OffsetMsgId {
            store_host: "[::1]:10911".parse().unwrap(),
            offset,
        };
        let text = id.encode();
        assert_eq!(text.len(), 56);
        let back = OffsetMsgId::decode(&text.to_lowercase()).unwrap();
        assert_eq!(back, id);
        assert_eq!(back.offset.shard(), ShardId(3));
    }

    #[test]
    fn offset_msg_id_rejects_garbage() {
        for bad in [
            "",
            "0A",
            "ZZ02DFA500002A9F0000000163E60ADB",
            "0A02DFA500002A9F800000000000000",
        ] {
            assert!(OffsetMsgId::decode(bad).is_err(), "{bad:?}");
        }
        // Negative offset (sign bit set).
        assert!(OffsetMsgId::decode("0A02DFA500002A9F8000000000000000").is_err());
    }

    #[test]
    fn unique_keys_are_32_hex_and_distinct() {
        let mut g = UniqueKeyGenerator::new(Ipv4Addr::LOCALHOST, 42, 7, 1_000);
        let a = g.next(1_000);
        let b = g.next(1_000);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(a.starts_with("7F000001002A00000007"));
    }
}
