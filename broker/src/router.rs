//! Which shard owns a queue. A pure function every shard computes alike, so
//! a request arriving on any core knows where its queue lives without asking.
//!
//! `shard_for(topic, queue) = (fnv1a(topic) + queue) mod shards`: a topic's
//! consecutive queues land on consecutive shards, spreading one topic's load
//! over every core, and different topics start at different shards.

use bolide_proto::ids::{QueueId, ShardId};

/// Stable across cores, processes and versions.
fn fnv1a(bytes: &[u8]) -> u32 {
    bolide_proto::hash::fnv1a32(bytes.iter().copied())
}

/// The shard owning `(topic, queue)` on a broker with `shard_count` shards.
pub fn shard_for(topic: &str, queue: QueueId, shard_count: u16) -> ShardId {
    debug_assert!(shard_count > 0);
    let n = shard_count.max(1) as u64;
    ShardId(((fnv1a(topic.as_bytes()) as u64 + queue.0 as u64) % n) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_owns_everything() {
        for q in 0..16 {
            assert_eq!(shard_for("T", QueueId(q), 1), ShardId(0));
        }
    }

    #[test]
    fn a_topics_queues_spread_evenly() {
        let mut per_shard = [0; 4];
        for q in 0..16 {
            per_shard[shard_for("TopicTest", QueueId(q), 4).0 as usize] += 1;
        }
        assert_eq!(per_shard, [4, 4, 4, 4]);
    }

    #[test]
    fn stable_across_calls_and_in_range() {
        for topic in ["a", "TopicTest", "%RETRY%g", "中文"] {
            for q in 0..8 {
                let s = shard_for(topic, QueueId(q), 3);
                assert!(s.0 < 3);
                assert_eq!(s, shard_for(topic, QueueId(q), 3));
            }
        }
        // Pinned value: changing the function would move data between shards.
        assert_eq!(fnv1a(b"TopicTest"), 0x9bb6_8d60);
    }
}
