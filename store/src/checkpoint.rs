//! The checkpoint file: what is durable and what the derived structures
//! cover, so recovery starts there instead of at the beginning of the log.
//!
//! ```text
//!  0      4        8             16                 24           32           40     44
//!  | magic | version | log_durable | dispatched       | log_min    | written_ms | crc  | zero pad to 4096
//!    u32     u32       u64           u64                u64          i64          u32
//! ```
//!
//! Big-endian; the CRC32 covers bytes `0..40`. `dispatched`: consume queues
//! and the key index are persisted for every record below it (and the log is
//! durable up to it). Written to `checkpoint.tmp`, synced, renamed over
//! `checkpoint`, directory synced: a crash leaves the old or the new file.

/// "BCKP".
pub const MAGIC: u32 = 0x4243_4B50;
pub const VERSION: u32 = 1;
/// Encoded size before padding.
pub const ENCODED_BYTES: usize = 44;

/// Checkpoint contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    pub log_durable: u64,
    pub dispatched: u64,
    pub log_min: u64,
    pub written_ms: i64,
}

impl Checkpoint {
    pub fn encode(&self) -> [u8; ENCODED_BYTES] {
        let mut b = [0u8; ENCODED_BYTES];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&VERSION.to_be_bytes());
        b[8..16].copy_from_slice(&self.log_durable.to_be_bytes());
        b[16..24].copy_from_slice(&self.dispatched.to_be_bytes());
        b[24..32].copy_from_slice(&self.log_min.to_be_bytes());
        b[32..40].copy_from_slice(&self.written_ms.to_be_bytes());
        let crc = crc32fast::hash(&b[..40]);
        b[40..44].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// `None` when the bytes are not a valid checkpoint.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let b = b.get(..ENCODED_BYTES)?;
        let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or_default());
        let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap_or_default());
        if u32_at(0) != MAGIC || u32_at(4) != VERSION || u32_at(40) != crc32fast::hash(&b[..40]) {
            return None;
        }
        let cp = Checkpoint {
            log_durable: u64_at(8),
            dispatched: u64_at(16),
            log_min: u64_at(24),
            written_ms: u64_at(32) as i64,
        };
        (cp.dispatched <= cp.log_durable && cp.log_min <= cp.log_durable).then_some(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let cp = Checkpoint {
            log_durable: 500,
            dispatched: 400,
            log_min: 100,
            written_ms: 7,
        };
        let bytes = cp.encode();
        assert_eq!(Checkpoint::decode(&bytes), Some(cp));
        for i in 0..ENCODED_BYTES {
            let mut bad = bytes;
            bad[i] ^= 0x40;
            assert_eq!(Checkpoint::decode(&bad), None, "flipped byte {i}");
        }
        assert_eq!(Checkpoint::decode(&bytes[..10]), None);
        let inconsistent = Checkpoint {
            dispatched: 600,
            ..cp
        };
        assert_eq!(Checkpoint::decode(&inconsistent.encode()), None);
    }
}
