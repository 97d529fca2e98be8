//! Which commit-log writes are in flight, and how far the log is written.
//!
//! Sync mode lets a flush round write while earlier rounds' writes are
//! still in flight (their chunks share no page, see `log::buffer`), so
//! writes complete in any order. The log counts as written only up to the
//! end of the gap-free prefix of completed writes: a record is durable
//! once every byte before it is, never because a later write landed first.
//! A failed write holds the prefix where it is until it is handed out
//! again and completes. Pure bookkeeping, keyed by each chunk's end offset
//! (unique and increasing in log order).

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    InFlight,
    Done,
    Failed,
}

/// The writes handed to the device and not yet part of the written prefix.
#[derive(Debug, Default)]
pub(crate) struct WritesInFlight {
    writes: BTreeMap<u64, Write>,
}

impl WritesInFlight {
    /// A chunk ending at `end` goes to the device (again, after a failure).
    pub fn submit(&mut self, end: u64) {
        self.writes.insert(end, Write::InFlight);
    }

    /// The write of the chunk ending at `end` completed. Returns the new end
    /// of the written prefix when it advanced.
    pub fn complete(&mut self, end: u64) -> Option<u64> {
        let state = self.writes.get_mut(&end);
        debug_assert_eq!(state.as_deref(), Some(&Write::InFlight), "{end}");
        if let Some(state) = state {
            *state = Write::Done;
        }
        let mut prefix = None;
        while let Some(entry) = self.writes.first_entry() {
            if *entry.get() != Write::Done {
                break;
            }
            prefix = Some(entry.remove_entry().0);
        }
        prefix
    }

    /// The write of the chunk ending at `end` failed (or was never made):
    /// nothing at or past it counts as written until it completes.
    pub fn fail(&mut self, end: u64) {
        self.writes.insert(end, Write::Failed);
    }

    /// Writes handed to the device and not completed.
    pub fn in_flight(&self) -> usize {
        self.writes
            .values()
            .filter(|w| **w == Write::InFlight)
            .count()
    }

    /// The end of the last chunk handed out and not yet in the prefix (0
    /// when none is).
    pub fn handed_out(&self) -> u64 {
        self.writes.last_key_value().map_or(0, |(end, _)| *end)
    }

    /// True when the writes handed out reach `target` and none failed, so
    /// waiting for them makes the log written up to `target`.
    pub fn covers(&self, target: u64) -> bool {
        let failed = self.writes.values().any(|w| *w == Write::Failed);
        !failed
            && self
                .writes
                .last_key_value()
                .is_some_and(|(end, _)| *end >= target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_advances_only_over_completed_writes_in_log_order() {
        let mut w = WritesInFlight::default();
        for end in [100, 200, 300] {
            w.submit(end);
        }
        assert_eq!(w.in_flight(), 3);
        assert!(w.covers(300) && !w.covers(301));
        assert_eq!(w.handed_out(), 300);
        assert_eq!(w.complete(200), None, "100 is still in flight");
        assert_eq!(w.complete(300), None);
        assert_eq!(w.complete(100), Some(300), "then all three at once");
        assert_eq!(w.in_flight(), 0);
        assert!(!w.covers(1), "nothing left to wait for");
    }

    #[test]
    fn a_failed_write_holds_the_prefix_until_it_is_written_again() {
        let mut w = WritesInFlight::default();
        for end in [100, 200, 300] {
            w.submit(end);
        }
        assert_eq!(w.complete(100), Some(100));
        w.fail(200);
        assert!(!w.covers(150), "a failed write covers nothing");
        assert_eq!(w.complete(300), None, "done, but past the hole");
        assert_eq!(w.in_flight(), 0);
        w.submit(200);
        assert!(w.covers(300));
        assert_eq!(w.complete(200), Some(300));
    }

    #[test]
    fn table_of_completion_orders() {
        // Every order of three completions ends with the whole prefix, and
        // never reports a prefix past a write still in flight.
        let orders = [
            [1, 2, 3],
            [1, 3, 2],
            [2, 1, 3],
            [2, 3, 1],
            [3, 1, 2],
            [3, 2, 1],
        ];
        for order in orders {
            let mut w = WritesInFlight::default();
            for end in [1, 2, 3] {
                w.submit(end);
            }
            let mut done = [false; 4];
            let mut written = 0;
            for end in order {
                done[end as usize] = true;
                if let Some(p) = w.complete(end) {
                    written = p;
                }
                let expect = (1..=3)
                    .take_while(|e| done[*e as usize])
                    .last()
                    .unwrap_or(0);
                assert_eq!(written, expect, "{order:?}");
            }
            assert_eq!(written, 3);
        }
    }
}
