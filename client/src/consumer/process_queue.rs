//! The process queue: the messages of one assigned queue that were pulled
//! but are not yet acknowledged, and the offset math over them. Pure state;
//! the consumer's tasks drive it.
//!
//! Each cached message is either *waiting* (pulled, not yet handed to the
//! listener) or *taken* (handed out). A batch is taken in queue order; it is
//! then acknowledged ([`ProcessQueue::ack`]: removed) or given back
//! ([`ProcessQueue::give_back`]: waiting again, for an orderly retry).
//!
//! The offset a consumer may commit is the lowest offset still cached — the
//! first message not yet acknowledged — or, with nothing cached, one past
//! the highest offset ever cached. So with batches acknowledged out of order
//! a restart replays at most the in-flight window, never skips a message.
//!
//! [`FlowLimits`] decide when pulling pauses: too many cached messages or
//! bytes, or (concurrent consumption) a span between the lowest and highest
//! cached offsets wider than the limit, which a stuck message would cause.
//!
//! Invariants: `bytes` is the sum of the cached sizes; `max_seen` is at
//! least every cached offset; offsets only enter through [`put`](ProcessQueue::put),
//! and an offset already cached is not cached twice.

use std::collections::BTreeMap;

use bolide_proto::ids::QueueOffset;

struct Entry<M> {
    size_bytes: usize,
    /// `None` while taken.
    msg: Option<M>,
}

/// The cached messages of one queue; `M` is the message type.
pub struct ProcessQueue<M> {
    cached: BTreeMap<u64, Entry<M>>,
    bytes: usize,
    /// Highest offset ever cached.
    max_seen: Option<u64>,
}

impl<M> std::fmt::Debug for ProcessQueue<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessQueue")
            .field("count", &self.cached.len())
            .field("bytes", &self.bytes)
            .field("max_seen", &self.max_seen)
            .finish()
    }
}

impl<M> Default for ProcessQueue<M> {
    fn default() -> Self {
        ProcessQueue {
            cached: BTreeMap::new(),
            bytes: 0,
            max_seen: None,
        }
    }
}

impl<M> ProcessQueue<M> {
    /// Caches pulled messages: `(queue offset, size in bytes, message)`.
    /// Offsets already cached are ignored. Returns how many were added.
    pub fn put(&mut self, msgs: impl IntoIterator<Item = (QueueOffset, usize, M)>) -> usize {
        let mut added = 0;
        for (offset, size_bytes, msg) in msgs {
            if self.cached.contains_key(&offset.0) {
                continue;
            }
            let entry = Entry {
                size_bytes,
                msg: Some(msg),
            };
            self.cached.insert(offset.0, entry);
            self.bytes += size_bytes;
            self.max_seen = Some(self.max_seen.map_or(offset.0, |m| m.max(offset.0)));
            added += 1;
        }
        added
    }

    /// Hands out up to `max` waiting messages, lowest offsets first, that
    /// come before any taken one (so an orderly consumer never skips past
    /// a batch in flight).
    pub fn take(&mut self, max: usize) -> Vec<(QueueOffset, M)> {
        let mut batch = Vec::new();
        for (&offset, entry) in self.cached.iter_mut() {
            if batch.len() >= max {
                break;
            }
            match entry.msg.take() {
                Some(msg) => batch.push((QueueOffset(offset), msg)),
                None if batch.is_empty() => continue,
                None => break,
            }
        }
        batch
    }

    /// Gives taken messages back: they wait again (an orderly retry).
    pub fn give_back(&mut self, batch: Vec<(QueueOffset, M)>) {
        for (offset, msg) in batch {
            if let Some(entry) = self.cached.get_mut(&offset.0) {
                entry.msg = Some(msg);
            }
        }
    }

    /// Acknowledges `offsets` (consumed, or handed to the broker for a
    /// retry): they leave the cache. Returns the offset to commit, if any
    /// message was ever cached.
    pub fn ack(&mut self, offsets: impl IntoIterator<Item = QueueOffset>) -> Option<QueueOffset> {
        for offset in offsets {
            if let Some(entry) = self.cached.remove(&offset.0) {
                self.bytes -= entry.size_bytes;
            }
        }
        self.commit_offset()
    }

    /// The lowest cached offset, or one past the highest ever cached.
    pub fn commit_offset(&self) -> Option<QueueOffset> {
        match self.cached.keys().next() {
            Some(&first) => Some(QueueOffset(first)),
            None => self.max_seen.map(|m| QueueOffset(m + 1)),
        }
    }

    /// Number of cached messages (waiting and taken).
    pub fn count(&self) -> usize {
        self.cached.len()
    }

    /// Bytes of the cached messages.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.cached.is_empty()
    }

    /// Whether some message waits to be taken.
    pub fn has_waiting(&self) -> bool {
        self.cached.values().any(|e| e.msg.is_some())
    }

    /// Highest minus lowest cached offset (0 when empty).
    pub fn span(&self) -> u64 {
        match (self.cached.keys().next(), self.cached.keys().next_back()) {
            (Some(lo), Some(hi)) => hi - lo,
            _ => 0,
        }
    }

    /// Drops everything (the queue was reassigned or seeked).
    pub fn clear(&mut self) {
        self.cached.clear();
        self.bytes = 0;
        self.max_seen = None;
    }
}

/// Per-queue caching limits that pause pulling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLimits {
    pub max_cached_msgs: usize,
    pub max_cached_bytes: usize,
    /// `None`: no span limit (orderly consumption, lite pull).
    pub max_span: Option<u64>,
}

impl Default for FlowLimits {
    /// RocketMQ's defaults: 1000 messages, 100 MiB, span 2000.
    fn default() -> Self {
        FlowLimits {
            max_cached_msgs: 1000,
            max_cached_bytes: 100 << 20,
            max_span: Some(2000),
        }
    }
}

/// Why pulling a queue pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    TooManyMsgs,
    TooManyBytes,
    SpanTooWide,
}

impl FlowLimits {
    /// Whether the next pull of a queue with this cache must wait.
    pub fn check<M>(&self, pq: &ProcessQueue<M>) -> Option<Pause> {
        if pq.count() >= self.max_cached_msgs {
            return Some(Pause::TooManyMsgs);
        }
        if pq.bytes() >= self.max_cached_bytes {
            return Some(Pause::TooManyBytes);
        }
        match self.max_span {
            Some(max) if pq.span() > max => Some(Pause::SpanTooWide),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(o: u64) -> QueueOffset {
        QueueOffset(o)
    }

    fn filled(offsets: &[u64]) -> ProcessQueue<u64> {
        let mut pq = ProcessQueue::default();
        pq.put(offsets.iter().map(|&o| (q(o), 10, o)));
        pq
    }

    #[test]
    fn commit_offset_is_first_unacked() {
        // (cached, acked in order, commit offset after each ack)
        type Case = (
            &'static [u64],
            &'static [&'static [u64]],
            &'static [Option<u64>],
        );
        let cases: &[Case] = &[
            (&[], &[&[]], &[None]),
            (
                &[5, 6, 7],
                &[&[5], &[6], &[7]],
                &[Some(6), Some(7), Some(8)],
            ),
            (
                &[5, 6, 7],
                &[&[7], &[6], &[5]],
                &[Some(5), Some(5), Some(8)],
            ),
            (&[5, 6, 7], &[&[6], &[5]], &[Some(5), Some(7)]),
            (&[5, 9], &[&[5, 9]], &[Some(10)]),
            (&[5], &[&[4, 100]], &[Some(5)]),
        ];
        for (cached, acks, want) in cases {
            let mut pq = filled(cached);
            for (ack, want) in acks.iter().zip(*want) {
                let got = pq.ack(ack.iter().map(|&o| q(o)));
                assert_eq!(got, want.map(q), "cached {cached:?}, ack {ack:?}");
            }
        }
    }

    #[test]
    fn take_hands_out_in_order_and_stops_at_taken() {
        let mut pq = filled(&[1, 2, 3, 4, 5]);
        let first: Vec<u64> = pq.take(2).into_iter().map(|(_, m)| m).collect();
        assert_eq!(first, [1, 2]);
        let second = pq.take(10);
        assert_eq!(
            second.iter().map(|(o, _)| o.0).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert!(pq.take(10).is_empty());
        assert!(!pq.has_waiting());
        // Give the first batch back: it comes out again, and nothing past
        // the still-taken second batch is handed out with it.
        pq.give_back(vec![(q(1), 1), (q(2), 2)]);
        pq.put([(q(6), 10, 6)]);
        let again: Vec<u64> = pq.take(10).into_iter().map(|(_, m)| m).collect();
        assert_eq!(again, [1, 2]);
        assert_eq!(pq.ack([q(1), q(2), q(3), q(4), q(5)]), Some(q(6)));
        assert_eq!(pq.take(10).len(), 1);
    }

    #[test]
    fn put_ignores_duplicates_and_tracks_bytes() {
        let mut pq = filled(&[1, 2]);
        assert_eq!(pq.put([(q(2), 10, 2), (q(3), 5, 3)]), 1);
        assert_eq!((pq.count(), pq.bytes(), pq.span()), (3, 25, 2));
        pq.ack([q(2)]);
        assert_eq!((pq.count(), pq.bytes()), (2, 15));
        pq.clear();
        assert_eq!((pq.count(), pq.bytes(), pq.commit_offset()), (0, 0, None));
    }

    #[test]
    fn flow_limits() {
        let limits = FlowLimits {
            max_cached_msgs: 3,
            max_cached_bytes: 25,
            max_span: Some(10),
        };
        let cases: [(&[u64], Option<Pause>); 5] = [
            (&[], None),
            (&[1, 2], None),
            (&[1, 2, 3], Some(Pause::TooManyMsgs)),
            (&[1, 12], Some(Pause::SpanTooWide)),
            (&[1, 11], None),
        ];
        for (offsets, want) in cases {
            assert_eq!(limits.check(&filled(offsets)), want, "{offsets:?}");
        }
        let mut pq = ProcessQueue::default();
        pq.put([(q(1), 30, ())]);
        assert_eq!(limits.check(&pq), Some(Pause::TooManyBytes));
        let no_span = FlowLimits {
            max_span: None,
            ..limits
        };
        assert_eq!(no_span.check(&filled(&[1, 100])), None);
    }
}
