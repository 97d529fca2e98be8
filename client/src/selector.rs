//! Which publish queue a send goes to.
//!
//! [`QueueSelector::select`] walks the topic's publish queues round-robin
//! from a per-topic counter (seed it at random so producers spread), and takes
//! the first queue that passes the strictest test it can:
//!
//! 1. its broker is available in the [`FaultTable`] and is not the broker the
//!    previous attempt of this send used (a retry moves elsewhere);
//! 2. its broker is available (measured health beats mere avoidance);
//! 3. its broker is not the previous one;
//! 4. any queue — sending somewhere beats not sending.
//!
//! The counter advances once per call, as in RocketMQ. A producer that does
//! not want fault avoidance passes an empty table.
//!
//! [`select_by_key`] is for ordered sends: one sharding key always maps to
//! the same queue while the queue list is unchanged
//! ([`crate::hash::stable_hash64`] of the key, modulo the queue count).

use crate::fault::FaultTable;
use crate::hash::stable_hash64;
use crate::route::MessageQueue;

/// Round-robin position over one topic's publish queues.
#[derive(Debug, Clone, Default)]
pub struct QueueSelector {
    next: u32,
}

impl QueueSelector {
    /// Starts the round robin at `start` (a random number, ideally).
    pub fn new(start: u32) -> Self {
        QueueSelector { next: start }
    }

    /// The queue for the next send attempt; `None` only if `queues` is empty.
    /// `last_broker` is the broker the previous attempt of this send used.
    pub fn select<'q>(
        &mut self,
        queues: &'q [MessageQueue],
        faults: &FaultTable,
        last_broker: Option<&str>,
        now_ms: u64,
    ) -> Option<&'q MessageQueue> {
        if queues.is_empty() {
            return None;
        }
        let start = self.next as usize % queues.len();
        self.next = self.next.wrapping_add(1);
        let available = |q: &MessageQueue| faults.is_available(&q.broker_name, now_ms);
        let not_last = |q: &MessageQueue| last_broker != Some(q.broker_name.as_str());
        scan(queues, start, |q| available(q) && not_last(q))
            .or_else(|| scan(queues, start, available))
            .or_else(|| scan(queues, start, not_last))
            .or_else(|| queues.get(start))
    }
}

/// The first queue from `start` on (wrapping) that satisfies `accept`.
fn scan(
    queues: &[MessageQueue],
    start: usize,
    accept: impl Fn(&MessageQueue) -> bool,
) -> Option<&MessageQueue> {
    let n = queues.len();
    (0..n).map(|i| &queues[(start + i) % n]).find(|q| accept(q))
}

/// The queue for sharding key `key`; `None` only if `queues` is empty.
pub fn select_by_key<'q>(queues: &'q [MessageQueue], key: &str) -> Option<&'q MessageQueue> {
    let n = u64::try_from(queues.len()).ok().filter(|&n| n > 0)?;
    let index = usize::try_from(stable_hash64(key.as_bytes()) % n).ok()?;
    queues.get(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(brokers: &[(&str, u32)]) -> Vec<MessageQueue> {
        brokers
            .iter()
            .flat_map(|&(b, n)| (0..n).map(move |id| MessageQueue::new("T", b, id)))
            .collect()
    }

    fn label(q: Option<&MessageQueue>) -> String {
        q.map_or_else(
            || "-".into(),
            |q| format!("{}{}", q.broker_name, q.queue_id),
        )
    }

    /// Brokers isolated at time 0 (so unavailable at `NOW`).
    fn faults(down: &[&str]) -> FaultTable {
        let mut table = FaultTable::new();
        for broker in down {
            table.record_failure(broker, 1, 0);
        }
        table
    }

    const NOW: u64 = 1000;

    #[test]
    fn selection_table() {
        // (queues, down brokers, last broker, start, picks over successive calls)
        type Case<'a> = (
            &'a [(&'a str, u32)],
            &'a [&'a str],
            Option<&'a str>,
            u32,
            &'a [&'a str],
        );
        let cases: [Case; 8] = [
            (
                &[("a", 2), ("b", 2)],
                &[],
                None,
                0,
                &["a0", "a1", "b0", "b1", "a0"],
            ),
            (&[("a", 2), ("b", 2)], &[], None, 2, &["b0", "b1", "a0"]),
            (
                &[("a", 2), ("b", 2)],
                &["a"],
                None,
                0,
                &["b0", "b0", "b0", "b1", "b0"],
            ),
            (
                &[("a", 2), ("b", 2)],
                &[],
                Some("a"),
                0,
                &["b0", "b0", "b0", "b1"],
            ),
            (
                &[("a", 2), ("b", 2)],
                &["b"],
                Some("a"),
                0,
                &["a0", "a1", "a0"],
            ),
            (
                &[("a", 2), ("b", 2)],
                &["a", "b"],
                Some("a"),
                1,
                &["b0", "b0", "b1"],
            ),
            (&[("a", 2)], &["a"], Some("a"), 0, &["a0", "a1", "a0"]),
            (&[], &[], None, 0, &["-"]),
        ];
        for (layout, down, last, start, want) in cases {
            let all = queues(layout);
            let table = faults(down);
            let mut selector = QueueSelector::new(start);
            let got: Vec<String> = want
                .iter()
                .map(|_| label(selector.select(&all, &table, last, NOW)))
                .collect();
            assert_eq!(
                got, want,
                "{layout:?} down={down:?} last={last:?} start={start}"
            );
        }
    }

    #[test]
    fn recovered_broker_is_used_again() {
        let all = queues(&[("a", 1), ("b", 1)]);
        let table = faults(&["a"]);
        let mut selector = QueueSelector::new(0);
        assert_eq!(label(selector.select(&all, &table, None, NOW)), "b0");
        let later = 600_000;
        let mut selector = QueueSelector::new(0);
        assert_eq!(label(selector.select(&all, &table, None, later)), "a0");
    }

    #[test]
    fn counter_wraps_without_panicking() {
        let all = queues(&[("a", 3)]);
        let mut selector = QueueSelector::new(u32::MAX);
        for _ in 0..4 {
            assert!(selector
                .select(&all, &FaultTable::new(), None, NOW)
                .is_some());
        }
    }

    #[test]
    fn by_key_is_stable_and_spreads() {
        let all = queues(&[("a", 4), ("b", 4)]);
        let cases = ["order-1", "order-2", "", "用户-42"];
        for key in cases {
            let first = select_by_key(&all, key);
            assert!(first.is_some(), "{key:?}");
            assert_eq!(first, select_by_key(&all, key), "{key:?}");
            let want = stable_hash64(key.as_bytes()) % 8;
            assert_eq!(
                first.map(|q| all.iter().position(|x| x == q)),
                Some(Some(want as usize))
            );
        }
        let used: std::collections::BTreeSet<_> = (0..100)
            .filter_map(|i| select_by_key(&all, &format!("k{i}")))
            .collect();
        assert_eq!(used.len(), all.len(), "100 keys should reach all 8 queues");
        assert_eq!(select_by_key(&[], "k"), None);
    }
}
