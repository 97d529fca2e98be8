//! Rebalance decisions, pure: which queues to start and stop, where a newly
//! assigned queue starts, and the heartbeat that registers the consumer.
//!
//! The I/O around them (consumer ids, offset queries, pull loops) lives in
//! [`super::instance`] and the consumers.

use std::collections::BTreeSet;

use bolide_proto::body::{ConsumeType, ConsumerData, HeartbeatData, MessageModel};
use bolide_proto::ids::QueueOffset;

use super::config::ConsumeFrom;
use super::subscription::{is_retry_topic, Subscription};
use crate::rebalance::AllocateStrategy;
use crate::route::MessageQueue;

/// Queues to start and to stop for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    pub added: Vec<MessageQueue>,
    pub removed: Vec<MessageQueue>,
}

/// Compares the queues held (`current`, any topic) with those `wanted` for
/// `topic`; queues of other topics are left alone.
pub fn diff<'a>(
    topic: &str,
    current: impl IntoIterator<Item = &'a MessageQueue>,
    wanted: &[MessageQueue],
) -> Diff {
    let held: BTreeSet<&MessageQueue> = current.into_iter().filter(|q| q.topic == topic).collect();
    let wanted: BTreeSet<&MessageQueue> = wanted.iter().filter(|q| q.topic == topic).collect();
    Diff {
        added: wanted.difference(&held).map(|q| (*q).clone()).collect(),
        removed: held.difference(&wanted).map(|q| (*q).clone()).collect(),
    }
}

/// The queues this client owns: all of them when broadcasting, else its
/// share of the group's (`client_ids` as the broker reported them).
pub fn allocation(
    model: MessageModel,
    strategy: AllocateStrategy,
    group: &str,
    client_id: &str,
    all: &[MessageQueue],
    client_ids: &[String],
) -> Vec<MessageQueue> {
    match model {
        MessageModel::Broadcasting => all.to_vec(),
        MessageModel::Clustering => strategy.allocate(group, client_id, all, client_ids),
    }
}

/// Where a newly assigned queue starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPoint {
    At(QueueOffset),
    /// Ask the broker for the queue's max offset.
    MaxOffset,
    /// Ask the broker for the first offset stored at or after this time.
    Timestamp(i64),
}

/// RocketMQ's compute-pull-from-where (remoting.md §6.6): the stored offset
/// if there is one; retry topics from 0; else per `from`.
pub fn start_point(stored: Option<QueueOffset>, topic: &str, from: ConsumeFrom) -> StartPoint {
    if let Some(offset) = stored {
        return StartPoint::At(offset);
    }
    if is_retry_topic(topic) {
        return StartPoint::At(QueueOffset(0));
    }
    match from {
        ConsumeFrom::LastOffset => StartPoint::MaxOffset,
        ConsumeFrom::FirstOffset => StartPoint::At(QueueOffset(0)),
        ConsumeFrom::Timestamp(ms) => StartPoint::Timestamp(ms),
    }
}

/// What a heartbeat says about this consumer.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatInfo<'a> {
    pub client_id: &'a str,
    pub group: &'a str,
    pub consume_type: ConsumeType,
    pub model: MessageModel,
    pub from: ConsumeFrom,
}

/// The HEART_BEAT body: one consumer group with its subscriptions, no
/// producers.
pub fn heartbeat(info: HeartbeatInfo<'_>, subscriptions: &[Subscription]) -> HeartbeatData {
    HeartbeatData {
        client_id: info.client_id.to_owned(),
        consumer_data_set: vec![ConsumerData {
            consume_from_where: info.from.to_wire(),
            consume_type: info.consume_type,
            group_name: info.group.to_owned(),
            message_model: info.model,
            subscription_data_set: subscriptions.iter().map(Subscription::to_wire).collect(),
            unit_mode: false,
        }],
        heartbeat_fingerprint: 0,
        producer_data_set: Vec::new(),
        without_sub: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqs(topic: &str, ids: &[u32]) -> Vec<MessageQueue> {
        ids.iter()
            .map(|&i| MessageQueue::new(topic, "b", i))
            .collect()
    }

    fn ids(queues: &[MessageQueue]) -> Vec<u32> {
        queues.iter().map(|q| q.queue_id.0).collect()
    }

    #[test]
    fn diffs_one_topic() {
        // (held, wanted, added, removed)
        type Case = (
            &'static [u32],
            &'static [u32],
            &'static [u32],
            &'static [u32],
        );
        let cases: [Case; 4] = [
            (&[], &[0, 1], &[0, 1], &[]),
            (&[0, 1], &[1, 2], &[2], &[0]),
            (&[0, 1], &[], &[], &[0, 1]),
            (&[3], &[3], &[], &[]),
        ];
        for (held, wanted, added, removed) in cases {
            let mut current = mqs("T", held);
            current.extend(mqs("Other", &[0, 1]));
            let d = diff("T", &current, &mqs("T", wanted));
            assert_eq!(
                (ids(&d.added), ids(&d.removed)),
                (added.to_vec(), removed.to_vec())
            );
        }
    }

    #[test]
    fn allocation_by_model() {
        let all = mqs("T", &[0, 1, 2, 3]);
        let clients = vec!["a".to_owned(), "b".to_owned()];
        let alloc = |model, me| {
            ids(&allocation(
                model,
                AllocateStrategy::Averagely,
                "g",
                me,
                &all,
                &clients,
            ))
        };
        assert_eq!(alloc(MessageModel::Clustering, "a"), [0, 1]);
        assert_eq!(alloc(MessageModel::Clustering, "b"), [2, 3]);
        assert_eq!(alloc(MessageModel::Clustering, "zz"), Vec::<u32>::new());
        assert_eq!(alloc(MessageModel::Broadcasting, "zz"), [0, 1, 2, 3]);
    }

    #[test]
    fn start_points() {
        let q = QueueOffset;
        let cases = [
            (
                Some(q(7)),
                "T",
                ConsumeFrom::LastOffset,
                StartPoint::At(q(7)),
            ),
            (
                Some(q(7)),
                "%RETRY%g",
                ConsumeFrom::LastOffset,
                StartPoint::At(q(7)),
            ),
            (
                None,
                "%RETRY%g",
                ConsumeFrom::LastOffset,
                StartPoint::At(q(0)),
            ),
            (None, "T", ConsumeFrom::LastOffset, StartPoint::MaxOffset),
            (None, "T", ConsumeFrom::FirstOffset, StartPoint::At(q(0))),
            (
                None,
                "T",
                ConsumeFrom::Timestamp(9),
                StartPoint::Timestamp(9),
            ),
        ];
        for (stored, topic, from, want) in cases {
            assert_eq!(
                start_point(stored, topic, from),
                want,
                "{stored:?} {topic} {from:?}"
            );
        }
    }

    #[test]
    fn heartbeat_shape() {
        let info = HeartbeatInfo {
            client_id: "c",
            group: "g",
            consume_type: ConsumeType::Passively,
            model: MessageModel::Clustering,
            from: ConsumeFrom::LastOffset,
        };
        let subs = [
            Subscription::new("T", "TagA", 1),
            Subscription::new("%RETRY%g", "*", 1),
        ];
        let hb = heartbeat(info, &subs);
        assert_eq!(hb.client_id, "c");
        assert!(hb.producer_data_set.is_empty());
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.group_name, "g");
        let topics: Vec<_> = c
            .subscription_data_set
            .iter()
            .map(|s| s.topic.as_str())
            .collect();
        assert_eq!(topics, ["T", "%RETRY%g"]);
        assert_eq!(c.subscription_data_set[0].tags_set, ["TagA"]);
    }
}
