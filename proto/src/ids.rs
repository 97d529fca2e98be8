//! Newtypes that keep apart numbers that must never mix.
//!
//! * [`ShardId`] — a core's shard; each shard owns a commit log.
//! * [`QueueId`] — a queue within a topic (RocketMQ `queueId`).
//! * [`PhysicalOffset`] — a byte offset in *one shard's* commit log.
//! * [`QueueOffset`] — a logical index in one (topic, queue) consume queue.
//! * [`GlobalOffset`] — what clients see as the "commit log offset": a
//!   physical offset tagged with its shard, so an offset message id, a
//!   send-back or a view-by-id request routes to the right shard without a scan.
//!
//! `GlobalOffset` layout (an `i64` on the wire, so the sign bit stays clear):
//!
//! ```text
//!  bit 63   62 ........ 56   55 ............................. 0
//!  +-----+------------------+---------------------------------+
//!  |  0  | shard (7 bits)   | physical offset in shard (56 b) |
//!  +-----+------------------+---------------------------------+
//! ```
//!
//! 56 bits address 64 PiB per shard; 7 bits allow 128 shards (cores).

use std::fmt;

/// Number of bits of a [`GlobalOffset`] that carry the shard.
pub const SHARD_BITS: u32 = 7;
/// Bits of a [`GlobalOffset`] that carry the per-shard physical offset.
pub const PHYSICAL_BITS: u32 = 56;
/// Largest shard count a broker may run (one shard per core).
pub const MAX_SHARDS: u16 = 1 << SHARD_BITS;
/// Largest physical offset a shard may reach.
pub const MAX_PHYSICAL_OFFSET: u64 = (1 << PHYSICAL_BITS) - 1;

/// A shard (one per core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ShardId(pub u16);

/// A queue of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct QueueId(pub u32);

/// Byte offset in one shard's commit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PhysicalOffset(pub u64);

/// Logical index in one consume queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct QueueOffset(pub u64);

/// A physical offset tagged with its shard: the client-visible commit-log offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GlobalOffset(pub u64);

impl GlobalOffset {
    /// Tags `offset` with `shard`. Returns `None` if either is out of range.
    pub fn new(shard: ShardId, offset: PhysicalOffset) -> Option<Self> {
        if shard.0 >= MAX_SHARDS || offset.0 > MAX_PHYSICAL_OFFSET {
            return None;
        }
        Some(GlobalOffset(((shard.0 as u64) << PHYSICAL_BITS) | offset.0))
    }

    /// Interprets a client-supplied value; negative values are rejected.
    pub fn from_wire(value: i64) -> Option<Self> {
        u64::try_from(value).ok().map(GlobalOffset)
    }

    /// The shard that owns this offset.
    pub fn shard(self) -> ShardId {
        ShardId((self.0 >> PHYSICAL_BITS) as u16)
    }

    /// The offset within the shard's commit log.
    pub fn physical(self) -> PhysicalOffset {
        PhysicalOffset(self.0 & MAX_PHYSICAL_OFFSET)
    }
}

impl std::ops::Add<u64> for PhysicalOffset {
    type Output = PhysicalOffset;

    /// The offset `bytes` further on.
    fn add(self, bytes: u64) -> Self {
        PhysicalOffset(self.0 + bytes)
    }
}

impl QueueOffset {
    /// The next logical offset.
    pub fn next(self) -> Self {
        QueueOffset(self.0 + 1)
    }
}

macro_rules! display_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_inner!(ShardId, QueueId, PhysicalOffset, QueueOffset, GlobalOffset);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_offset_round_trips_shard_and_offset() {
        for (shard, off) in [(0, 0), (1, 12345), (127, MAX_PHYSICAL_OFFSET)] {
            let g = GlobalOffset::new(ShardId(shard), PhysicalOffset(off)).unwrap();
            assert_eq!(g.shard(), ShardId(shard));
            assert_eq!(g.physical(), PhysicalOffset(off));
            assert!(i64::try_from(g.0).is_ok(), "sign bit must stay clear");
        }
    }

    #[test]
    fn global_offset_rejects_out_of_range() {
        assert!(GlobalOffset::new(ShardId(128), PhysicalOffset(0)).is_none());
        assert!(GlobalOffset::new(ShardId(0), PhysicalOffset(MAX_PHYSICAL_OFFSET + 1)).is_none());
        assert!(GlobalOffset::from_wire(-1).is_none());
    }

    #[test]
    fn shard_zero_offsets_equal_physical_offsets() {
        // A single-shard broker's offsets look exactly like RocketMQ's.
        let g = GlobalOffset::new(ShardId(0), PhysicalOffset(4096)).unwrap();
        assert_eq!(g.0, 4096);
    }
}
