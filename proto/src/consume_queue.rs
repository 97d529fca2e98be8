//! The 20-byte consume-queue unit: entry *i* of a (topic, queue) consume
//! queue describes logical offset *i* (remoting.md §6.1).
//!
//! ```text
//!  0        8        12               20
//!  +--------+--------+----------------+
//!  | phys   | size   | tags code      |
//!  | u64 BE | u32 BE | i64 BE         |
//!  +--------+--------+----------------+
//! ```
//!
//! `phys` is the record's offset in the owning shard's commit log. For the
//! delay topic the tags code holds the delivery timestamp instead.

use crate::error::{ProtoError, Result};
use crate::ids::PhysicalOffset;

/// Size of one unit on disk.
pub const CQ_UNIT_BYTES: usize = 20;

/// One consume-queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CqUnit {
    pub physical_offset: PhysicalOffset,
    pub size: u32,
    pub tags_code: i64,
}

impl CqUnit {
    pub fn encode(&self) -> [u8; CQ_UNIT_BYTES] {
        let mut out = [0u8; CQ_UNIT_BYTES];
        out[..8].copy_from_slice(&self.physical_offset.0.to_be_bytes());
        out[8..12].copy_from_slice(&self.size.to_be_bytes());
        out[12..].copy_from_slice(&self.tags_code.to_be_bytes());
        out
    }

    /// Decodes a unit; an all-zero unit (never written) is invalid.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let unit: &[u8; CQ_UNIT_BYTES] = buf
            .get(..CQ_UNIT_BYTES)
            .and_then(|b| b.try_into().ok())
            .ok_or(ProtoError::Incomplete {
            needed: CQ_UNIT_BYTES,
        })?;
        let mut phys = [0u8; 8];
        phys.copy_from_slice(&unit[..8]);
        let mut size = [0u8; 4];
        size.copy_from_slice(&unit[8..12]);
        let mut tags = [0u8; 8];
        tags.copy_from_slice(&unit[12..]);
        let decoded = CqUnit {
            physical_offset: PhysicalOffset(u64::from_be_bytes(phys)),
            size: u32::from_be_bytes(size),
            tags_code: i64::from_be_bytes(tags),
        };
        if decoded.size == 0 {
            return Err(ProtoError::invalid("consume queue unit", "zero size"));
        }
        Ok(decoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_round_trips_and_matches_layout() {
        let unit = CqUnit {
            physical_offset: PhysicalOffset(0x0102_0304_0506_0708),
            size: 0x0A0B_0C0D,
            tags_code: -2,
        };
        let bytes = unit.encode();
        assert_eq!(&bytes[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[8..12], &[0x0A, 0x0B, 0x0C, 0x0D]);
        assert_eq!(
            &bytes[12..],
            &[0xFF; 7].iter().chain(&[0xFE]).copied().collect::<Vec<_>>()[..]
        );
        assert_eq!(CqUnit::decode(&bytes).unwrap(), unit);
    }

    #[test]
    fn short_or_zero_units_do_not_decode() {
        assert!(CqUnit::decode(&[0u8; 19]).unwrap_err().is_incomplete());
        assert!(!CqUnit::decode(&[0u8; 20]).unwrap_err().is_incomplete());
    }
}
