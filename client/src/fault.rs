//! Latency-based fault avoidance for sends (RocketMQ's `MQFaultStrategy` and
//! `LatencyFaultToleranceImpl`).
//!
//! After every send the producer records, per broker name, how long it took;
//! a slow send makes the broker unavailable for a while, by the table below
//! (the largest threshold the latency reaches wins). A failed send counts as
//! [`ISOLATION_LATENCY_MS`], which isolates the broker for the longest time.
//! A later fast send makes it available again at once. Brokers never recorded
//! are available.
//!
//! ```text
//! latency ≥ ms       0   50   100    550   1000   2000   3000   15000
//! unavailable ms     0    0     0  30000  60000 120000 180000  600000
//! ```
//!
//! Time is passed in (`now_ms`, any monotonic millisecond clock), so the
//! table is a plain value that tests drive without sleeping. It tracks at
//! most [`MAX_TRACKED_BROKERS`] brokers.

use std::collections::HashMap;

/// Send-latency thresholds, ascending (RocketMQ `latencyMax`).
pub const LATENCY_MAX_MS: [u64; 7] = [50, 100, 550, 1000, 2000, 3000, 15000];
/// How long a broker is avoided once a send reaches the matching threshold
/// (RocketMQ `notAvailableDuration`).
pub const NOT_AVAILABLE_DURATION_MS: [u64; 7] = [0, 0, 30_000, 60_000, 120_000, 180_000, 600_000];
/// The latency a failed send is charged with (RocketMQ 4.x: 30 s), which maps
/// to the longest isolation.
pub const ISOLATION_LATENCY_MS: u64 = 30_000;
/// Brokers tracked at most; beyond it the least informative entry goes.
pub const MAX_TRACKED_BROKERS: usize = 1024;

/// How long to avoid a broker whose send took `latency_ms`.
pub fn not_available_duration_ms(latency_ms: u64) -> u64 {
    LATENCY_MAX_MS
        .iter()
        .zip(NOT_AVAILABLE_DURATION_MS)
        .rev()
        .find(|&(&threshold, _)| latency_ms >= threshold)
        .map_or(0, |(_, duration)| duration)
}

/// What the table knows about one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultItem {
    /// Latency of the last recorded send.
    pub latency_ms: u64,
    /// The broker is available from this instant on.
    pub available_at_ms: u64,
}

/// Per-broker-name send latencies and the instants they become usable again.
#[derive(Debug, Clone, Default)]
pub struct FaultTable {
    items: HashMap<String, FaultItem>,
}

impl FaultTable {
    pub fn new() -> Self {
        FaultTable::default()
    }

    /// Records a completed send to `broker` that took `latency_ms`.
    pub fn record_latency(&mut self, broker: &str, latency_ms: u64, now_ms: u64) {
        self.record(
            broker,
            latency_ms,
            not_available_duration_ms(latency_ms),
            now_ms,
        );
    }

    /// Records a failed send to `broker` after `latency_ms`: isolates it.
    pub fn record_failure(&mut self, broker: &str, latency_ms: u64, now_ms: u64) {
        let duration_ms = not_available_duration_ms(ISOLATION_LATENCY_MS);
        self.record(broker, latency_ms, duration_ms, now_ms);
    }

    fn record(&mut self, broker: &str, latency_ms: u64, duration_ms: u64, now_ms: u64) {
        let item = FaultItem {
            latency_ms,
            available_at_ms: now_ms.saturating_add(duration_ms),
        };
        if let Some(existing) = self.items.get_mut(broker) {
            *existing = item;
            return;
        }
        if self.items.len() >= MAX_TRACKED_BROKERS {
            self.make_room(now_ms);
        }
        self.items.insert(broker.to_owned(), item);
        debug_assert!(self.items.len() <= MAX_TRACKED_BROKERS);
    }

    /// Drops every available entry (they only say "fine"); if none is, the
    /// one that becomes available soonest.
    fn make_room(&mut self, now_ms: u64) {
        self.items.retain(|_, item| item.available_at_ms > now_ms);
        if self.items.len() < MAX_TRACKED_BROKERS {
            return;
        }
        let soonest = self
            .items
            .iter()
            .min_by(|a, b| (a.1.available_at_ms, a.0).cmp(&(b.1.available_at_ms, b.0)))
            .map(|(name, _)| name.clone());
        if let Some(name) = soonest {
            self.items.remove(&name);
        }
    }

    /// Whether sends to `broker` may go ahead at `now_ms`.
    pub fn is_available(&self, broker: &str, now_ms: u64) -> bool {
        self.items
            .get(broker)
            .is_none_or(|item| now_ms >= item.available_at_ms)
    }

    /// What the table holds for `broker`.
    pub fn item(&self, broker: &str) -> Option<FaultItem> {
        self.items.get(broker).copied()
    }

    /// Forgets `broker` (e.g. it left the route).
    pub fn remove(&mut self, broker: &str) {
        self.items.remove(broker);
    }

    /// Number of brokers tracked.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_table() {
        let cases = [
            (0, 0),
            (49, 0),
            (50, 0),
            (549, 0),
            (550, 30_000),
            (999, 30_000),
            (1000, 60_000),
            (1999, 60_000),
            (2000, 120_000),
            (3000, 180_000),
            (14_999, 180_000),
            (15_000, 600_000),
            (ISOLATION_LATENCY_MS, 600_000),
            (u64::MAX, 600_000),
        ];
        for (latency, want) in cases {
            assert_eq!(
                not_available_duration_ms(latency),
                want,
                "latency {latency}"
            );
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Event {
        /// (broker, latency, now)
        Sent(&'static str, u64, u64),
        Failed(&'static str, u64, u64),
    }
    use Event::*;

    #[test]
    fn availability_over_time() {
        // (events, broker asked about, now, available?)
        let cases: [(&[Event], &str, u64, bool); 10] = [
            (&[], "a", 0, true),
            (&[Sent("a", 20, 1000)], "a", 1000, true),
            (&[Sent("a", 600, 1000)], "a", 1000, false),
            (&[Sent("a", 600, 1000)], "a", 30_999, false),
            (&[Sent("a", 600, 1000)], "a", 31_000, true),
            (&[Sent("a", 600, 1000)], "b", 1000, true),
            (&[Failed("a", 5, 1000)], "a", 600_999, false),
            (&[Failed("a", 5, 1000)], "a", 601_000, true),
            (
                &[Failed("a", 5, 1000), Sent("a", 10, 2000)],
                "a",
                2000,
                true,
            ),
            (
                &[Sent("a", 10, 1000), Sent("a", 2500, 2000)],
                "a",
                100_000,
                false,
            ),
        ];
        for (events, broker, now, want) in cases {
            let mut table = FaultTable::new();
            for event in events {
                match *event {
                    Sent(b, latency, at) => table.record_latency(b, latency, at),
                    Failed(b, latency, at) => table.record_failure(b, latency, at),
                }
            }
            assert_eq!(
                table.is_available(broker, now),
                want,
                "{events:?} {broker}@{now}"
            );
        }
    }

    #[test]
    fn item_keeps_last_latency() {
        let mut table = FaultTable::new();
        table.record_failure("a", 7, 100);
        let want = FaultItem {
            latency_ms: 7,
            available_at_ms: 600_100,
        };
        assert_eq!(table.item("a"), Some(want));
        table.remove("a");
        assert_eq!(table.item("a"), None);
        assert!(table.is_empty());
    }

    #[test]
    fn size_is_bounded() {
        let mut table = FaultTable::new();
        for i in 0..MAX_TRACKED_BROKERS {
            table.record_failure(&format!("b{i}"), 1, i as u64);
        }
        assert_eq!(table.len(), MAX_TRACKED_BROKERS);
        // All isolated: the one available soonest (b0) goes.
        table.record_failure("new", 1, 2000);
        assert_eq!(table.len(), MAX_TRACKED_BROKERS);
        assert_eq!(table.item("b0"), None);
        assert!(!table.is_available("new", 2000));
        // Once all have recovered, they all go to make room.
        table.record_latency("newer", 1, 10_000_000);
        assert_eq!(table.len(), 1);
    }
}
