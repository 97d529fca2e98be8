//! Rebalance allocation: which of a topic's queues this consumer pulls, given
//! every queue and every client id of its group (RocketMQ's
//! `AllocateMessageQueueStrategy`).
//!
//! Each strategy is a pure function of (group, this client id, all queues, all
//! client ids). Both lists are sorted and de-duplicated first, as RocketMQ's
//! `RebalanceImpl` sorts them, so clients that see the same sets in any order
//! compute the same partition, in which every queue has exactly one owner. A
//! client id missing from the list gets nothing (the broker has not seen its
//! heartbeat yet); neither does anyone when there are no queues.
//!
//! * [`allocate_averagely`] — contiguous blocks; the first `queues % clients`
//!   clients take one extra (8 queues / 3 clients → 3, 3, 2).
//! * [`allocate_averagely_by_circle`] — client *i* takes queues *i*, *i + n*, …
//! * [`allocate_consistent_hash`] — a hash ring with virtual nodes: a client
//!   joining or leaving moves only about `1 / clients` of the queues. It
//!   hashes with [`crate::hash::stable_hash64`] (FNV-1a based), so it does
//!   not agree with Java's MD5 ring.

use std::ops::Range;

use crate::hash::stable_hash64;
use crate::route::MessageQueue;

/// Virtual nodes per client on the consistent-hash ring (Java's default).
pub const DEFAULT_VIRTUAL_NODES: u32 = 10;
/// Upper bound on virtual nodes per client (bounds the ring's size).
pub const MAX_VIRTUAL_NODES: u32 = 1024;

/// An allocation strategy, for configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllocateStrategy {
    #[default]
    Averagely,
    AveragelyByCircle,
    /// `virtual_nodes` is clamped to `1..=MAX_VIRTUAL_NODES`.
    ConsistentHash {
        virtual_nodes: u32,
    },
}

impl AllocateStrategy {
    /// RocketMQ's name of the strategy.
    pub fn name(self) -> &'static str {
        match self {
            AllocateStrategy::Averagely => "AVG",
            AllocateStrategy::AveragelyByCircle => "AVG_BY_CIRCLE",
            AllocateStrategy::ConsistentHash { .. } => "CONSISTENT_HASH",
        }
    }

    /// The queues `current_client_id` owns under this strategy.
    pub fn allocate(
        self,
        consumer_group: &str,
        current_client_id: &str,
        mq_all: &[MessageQueue],
        client_ids: &[String],
    ) -> Vec<MessageQueue> {
        let Some(view) = GroupView::new(consumer_group, current_client_id, mq_all, client_ids)
        else {
            return Vec::new();
        };
        match self {
            AllocateStrategy::Averagely => view.averagely(),
            AllocateStrategy::AveragelyByCircle => view.by_circle(),
            AllocateStrategy::ConsistentHash { virtual_nodes } => {
                view.consistent_hash(virtual_nodes)
            }
        }
    }
}

/// RocketMQ `AllocateMessageQueueAveragely`.
pub fn allocate_averagely(
    consumer_group: &str,
    current_client_id: &str,
    mq_all: &[MessageQueue],
    client_ids: &[String],
) -> Vec<MessageQueue> {
    AllocateStrategy::Averagely.allocate(consumer_group, current_client_id, mq_all, client_ids)
}

/// RocketMQ `AllocateMessageQueueAveragelyByCircle`.
pub fn allocate_averagely_by_circle(
    consumer_group: &str,
    current_client_id: &str,
    mq_all: &[MessageQueue],
    client_ids: &[String],
) -> Vec<MessageQueue> {
    AllocateStrategy::AveragelyByCircle.allocate(
        consumer_group,
        current_client_id,
        mq_all,
        client_ids,
    )
}

/// A consistent-hash ring with [`DEFAULT_VIRTUAL_NODES`] per client.
pub fn allocate_consistent_hash(
    consumer_group: &str,
    current_client_id: &str,
    mq_all: &[MessageQueue],
    client_ids: &[String],
) -> Vec<MessageQueue> {
    let strategy = AllocateStrategy::ConsistentHash {
        virtual_nodes: DEFAULT_VIRTUAL_NODES,
    };
    strategy.allocate(consumer_group, current_client_id, mq_all, client_ids)
}

/// Sorted, de-duplicated inputs and this client's position among them.
struct GroupView<'a> {
    queues: Vec<&'a MessageQueue>,
    clients: Vec<&'a str>,
    index: usize,
}

impl<'a> GroupView<'a> {
    fn new(
        group: &str,
        client: &str,
        mq_all: &'a [MessageQueue],
        client_ids: &'a [String],
    ) -> Option<Self> {
        let mut clients: Vec<&str> = client_ids.iter().map(String::as_str).collect();
        clients.sort_unstable();
        clients.dedup();
        let Ok(index) = clients.binary_search(&client) else {
            tracing::debug!(
                group,
                client,
                "client id not in the group's list: no queues"
            );
            return None;
        };
        let mut queues: Vec<&MessageQueue> = mq_all.iter().collect();
        queues.sort_unstable();
        queues.dedup();
        Some(GroupView {
            queues,
            clients,
            index,
        })
    }

    fn averagely(&self) -> Vec<MessageQueue> {
        let range = averagely_range(self.queues.len(), self.clients.len(), self.index);
        self.queues[range].iter().map(|q| (*q).clone()).collect()
    }

    fn by_circle(&self) -> Vec<MessageQueue> {
        let step = self.clients.len();
        self.queues
            .iter()
            .skip(self.index)
            .step_by(step)
            .map(|q| (*q).clone())
            .collect()
    }

    fn consistent_hash(&self, virtual_nodes: u32) -> Vec<MessageQueue> {
        let ring = hash_ring(&self.clients, virtual_nodes.clamp(1, MAX_VIRTUAL_NODES));
        self.queues
            .iter()
            .filter(|q| {
                ring_owner(&ring, stable_hash64(q.to_string().as_bytes())) == Some(self.index)
            })
            .map(|q| (*q).clone())
            .collect()
    }
}

/// Queue positions of client `index` of `clients`: a contiguous block, the
/// first `queues % clients` clients taking one extra queue.
fn averagely_range(queues: usize, clients: usize, index: usize) -> Range<usize> {
    debug_assert!(index < clients);
    let base = queues / clients;
    let extra = queues % clients;
    let start = index * base + index.min(extra);
    let len = base + usize::from(index < extra);
    debug_assert!(start + len <= queues);
    start..start + len
}

/// Ring points `(hash of "<client>-<n>", client index)`, sorted.
fn hash_ring(clients: &[&str], virtual_nodes: u32) -> Vec<(u64, usize)> {
    let mut ring = Vec::with_capacity(clients.len() * virtual_nodes as usize);
    for (index, client) in clients.iter().enumerate() {
        for node in 0..virtual_nodes {
            ring.push((stable_hash64(format!("{client}-{node}").as_bytes()), index));
        }
    }
    ring.sort_unstable();
    ring
}

/// The client at the first ring point at or after `key_hash`, wrapping.
fn ring_owner(ring: &[(u64, usize)], key_hash: u64) -> Option<usize> {
    let at = ring.partition_point(|&(point, _)| point < key_hash);
    ring.get(at).or(ring.first()).map(|&(_, index)| index)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    type AllocateFn = fn(&str, &str, &[MessageQueue], &[String]) -> Vec<MessageQueue>;
    /// (brokers and their queue counts, client count, each client's queues)
    type LayoutCase = (
        &'static [(&'static str, u32)],
        usize,
        [&'static [&'static str]; 3],
    );

    const STRATEGIES: [(&str, AllocateFn); 3] = [
        ("averagely", allocate_averagely),
        ("by circle", allocate_averagely_by_circle),
        ("consistent hash", allocate_consistent_hash),
    ];

    fn queues(brokers: &[(&str, u32)]) -> Vec<MessageQueue> {
        brokers
            .iter()
            .flat_map(|&(b, n)| (0..n).map(move |id| MessageQueue::new("T", b, id)))
            .collect()
    }

    fn clients(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}@{i}")).collect()
    }

    fn labels(queues: &[MessageQueue]) -> Vec<String> {
        queues
            .iter()
            .map(|q| format!("{}{}", q.broker_name, q.queue_id))
            .collect()
    }

    #[test]
    fn every_queue_has_exactly_one_owner() {
        let layouts: [(&[(&str, u32)], usize); 7] = [
            (&[("a", 8)], 3),
            (&[("a", 2)], 3),
            (&[("a", 4), ("b", 4)], 1),
            (&[("a", 16), ("b", 16)], 5),
            (&[("a", 3)], 3),
            (&[], 2),
            (&[("a", 1), ("b", 7), ("c", 2)], 4),
        ];
        for (name, allocate) in STRATEGIES {
            for (layout, n) in layouts {
                let all = queues(layout);
                let cids = clients(n);
                let mut owners: BTreeMap<MessageQueue, usize> = BTreeMap::new();
                for cid in &cids {
                    for q in allocate("G", cid, &all, &cids) {
                        *owners.entry(q).or_default() += 1;
                    }
                }
                assert_eq!(
                    owners.len(),
                    all.len(),
                    "{name} {layout:?}/{n}: every queue owned"
                );
                assert!(
                    owners.values().all(|&c| c == 1),
                    "{name} {layout:?}/{n}: owned once"
                );
            }
        }
    }

    #[test]
    fn input_order_and_duplicates_do_not_matter() {
        let all = queues(&[("a", 5), ("b", 6)]);
        let cids = clients(4);
        let mut shuffled_queues = all.clone();
        shuffled_queues.reverse();
        shuffled_queues.push(all[3].clone());
        let mut shuffled_clients = cids.clone();
        shuffled_clients.rotate_left(3);
        shuffled_clients.push(cids[1].clone());
        for (name, allocate) in STRATEGIES {
            for cid in &cids {
                let a = allocate("G", cid, &all, &cids);
                let b = allocate("G", cid, &shuffled_queues, &shuffled_clients);
                assert_eq!(a, b, "{name} {cid}");
                assert_eq!(
                    a,
                    allocate("G", cid, &all, &cids),
                    "{name} {cid}: deterministic"
                );
            }
        }
    }

    #[test]
    fn unknown_client_gets_nothing() {
        let all = queues(&[("a", 8)]);
        for (name, allocate) in STRATEGIES {
            assert!(
                allocate("G", "stranger", &all, &clients(3)).is_empty(),
                "{name}"
            );
            assert!(allocate("G", "stranger", &all, &[]).is_empty(), "{name}");
        }
    }

    #[test]
    fn averagely_layouts() {
        let cases: [LayoutCase; 4] = [
            (
                &[("a", 8)],
                3,
                [&["a0", "a1", "a2"], &["a3", "a4", "a5"], &["a6", "a7"]],
            ),
            (&[("a", 2)], 3, [&["a0"], &["a1"], &[]]),
            (&[("a", 3)], 3, [&["a0"], &["a1"], &["a2"]]),
            (&[("b", 2), ("a", 2)], 3, [&["a0", "a1"], &["b0"], &["b1"]]),
        ];
        for (layout, n, want) in cases {
            let all = queues(layout);
            let cids = clients(n);
            for (cid, want) in cids.iter().zip(want) {
                assert_eq!(
                    labels(&allocate_averagely("G", cid, &all, &cids)),
                    want,
                    "{layout:?} {cid}"
                );
            }
        }
    }

    #[test]
    fn by_circle_layouts() {
        let cases: [LayoutCase; 2] = [
            (
                &[("a", 8)],
                3,
                [&["a0", "a3", "a6"], &["a1", "a4", "a7"], &["a2", "a5"]],
            ),
            (&[("a", 2)], 3, [&["a0"], &["a1"], &[]]),
        ];
        for (layout, n, want) in cases {
            let all = queues(layout);
            let cids = clients(n);
            for (cid, want) in cids.iter().zip(want) {
                let got = allocate_averagely_by_circle("G", cid, &all, &cids);
                assert_eq!(labels(&got), want, "{layout:?} {cid}");
            }
        }
    }

    #[test]
    fn consistent_hash_moves_few_queues_when_a_client_joins() {
        let all = queues(&[("a", 64), ("b", 64)]);
        let before = clients(4);
        let after = clients(5);
        let owner =
            |cids: &[String], strategy: AllocateStrategy| -> BTreeMap<MessageQueue, String> {
                cids.iter()
                    .flat_map(|c| {
                        strategy
                            .allocate("G", c, &all, cids)
                            .into_iter()
                            .map(move |q| (q, c.clone()))
                    })
                    .collect()
            };
        let strategy = AllocateStrategy::ConsistentHash { virtual_nodes: 100 };
        let (old, new) = (owner(&before, strategy), owner(&after, strategy));
        let moved = all.iter().filter(|q| old[q] != new[q]).count();
        // Only queues taken by the newcomer move (ideally 1/5 of 128).
        assert!(all.iter().all(|q| old[q] == new[q] || new[q] == after[4]));
        assert!(moved > 0 && moved < all.len() / 2, "moved {moved}");
    }

    #[test]
    fn averagely_range_table() {
        // (queues, clients, index) → range
        let cases = [
            ((8, 3, 0), 0..3),
            ((8, 3, 1), 3..6),
            ((8, 3, 2), 6..8),
            ((2, 3, 2), 2..2),
            ((0, 1, 0), 0..0),
            ((10, 4, 3), 8..10),
        ];
        for ((q, c, i), want) in cases {
            assert_eq!(averagely_range(q, c, i), want, "{q}/{c}/{i}");
        }
    }

    #[test]
    fn strategy_names() {
        let cases = [
            (AllocateStrategy::Averagely, "AVG"),
            (AllocateStrategy::AveragelyByCircle, "AVG_BY_CIRCLE"),
            (
                AllocateStrategy::ConsistentHash { virtual_nodes: 0 },
                "CONSISTENT_HASH",
            ),
        ];
        for (strategy, name) in cases {
            assert_eq!(strategy.name(), name);
        }
    }
}
