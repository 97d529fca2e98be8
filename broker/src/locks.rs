//! Queue locks for orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ): a
//! queue is consumed by one client of a group at a time. A lock expires
//! after [`LOCK_EXPIRY_MS`] unless renewed (clients re-lock every 20 s).

use std::collections::HashMap;

use bolide_proto::body::MessageQueue;

/// Lock lifetime without renewal (RocketMQ `rebalanceLockMaxLiveTime`).
pub const LOCK_EXPIRY_MS: u64 = 60_000;

type LockKey = (String, String, String, i32);

fn key(group: &str, mq: &MessageQueue) -> LockKey {
    (
        group.to_owned(),
        mq.topic.clone(),
        mq.broker_name.clone(),
        mq.queue_id,
    )
}

/// All queue locks of a broker.
#[derive(Debug, Default)]
pub struct QueueLocks {
    /// (group, topic, broker, queue) → (client id, last renewal).
    held: HashMap<LockKey, (String, u64)>,
}

impl QueueLocks {
    /// Locks (or renews) what it can of `mqs` for `client`; returns the
    /// queues `client` now holds.
    pub fn lock(
        &mut self,
        group: &str,
        client: &str,
        mqs: &[MessageQueue],
        now_ms: u64,
    ) -> Vec<MessageQueue> {
        let mut locked = Vec::new();
        for mq in mqs {
            let slot = self
                .held
                .entry(key(group, mq))
                .or_insert_with(|| (client.to_owned(), now_ms));
            let expired = now_ms.saturating_sub(slot.1) > LOCK_EXPIRY_MS;
            if slot.0 == client || expired {
                *slot = (client.to_owned(), now_ms);
                locked.push(mq.clone());
            }
        }
        locked
    }

    /// Releases the queues of `mqs` that `client` holds.
    pub fn unlock(&mut self, group: &str, client: &str, mqs: &[MessageQueue]) {
        for mq in mqs {
            let k = key(group, mq);
            if self
                .held
                .get(&k)
                .is_some_and(|(holder, _)| holder == client)
            {
                self.held.remove(&k);
            }
        }
    }

    /// Releases everything `client` holds (it disconnected).
    pub fn release_client(&mut self, client: &str) {
        self.held.retain(|_, (holder, _)| holder != client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(q: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "b".into(),
            queue_id: q,
            topic: "T".into(),
        }
    }

    #[test]
    fn one_client_per_queue_until_expiry() {
        let mut l = QueueLocks::default();
        assert_eq!(l.lock("G", "c1", &[mq(0), mq(1)], 0), [mq(0), mq(1)]);
        assert_eq!(l.lock("G", "c2", &[mq(1), mq(2)], 10), [mq(2)]);
        assert_eq!(
            l.lock("H", "c2", &[mq(1)], 10),
            [mq(1)],
            "groups lock independently"
        );
        assert_eq!(l.lock("G", "c1", &[mq(1)], 30_000), [mq(1)], "renewal");
        assert!(l.lock("G", "c2", &[mq(1)], 60_000).is_empty());
        assert_eq!(
            l.lock("G", "c2", &[mq(1)], 90_001),
            [mq(1)],
            "expired lock is taken over"
        );
    }

    #[test]
    fn unlock_and_release() {
        let mut l = QueueLocks::default();
        l.lock("G", "c1", &[mq(0), mq(1)], 0);
        l.unlock("G", "c2", &[mq(0)]);
        assert!(
            l.lock("G", "c2", &[mq(0)], 1).is_empty(),
            "only the holder unlocks"
        );
        l.unlock("G", "c1", &[mq(0)]);
        assert_eq!(l.lock("G", "c2", &[mq(0)], 2), [mq(0)]);
        l.release_client("c1");
        assert_eq!(l.lock("G", "c2", &[mq(1)], 3), [mq(1)]);
    }
}
