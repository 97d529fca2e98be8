//! Read-ahead windows: the last few stretches of written log read from
//! disk, kept so neighbouring records come from memory.
//!
//! A pull serves consecutive records of one queue, which lie scattered
//! among the other queues' records in the log, and each queue has its own
//! consumer reading the same region at about the same time. Reading one
//! aligned window (`WINDOW_BYTES`) for the first miss and serving the rest
//! from it turns a direct read per message into one per window, as the
//! page cache does for RocketMQ's mapped files.
//!
//! Only written log lies in a window (the caller caps it at the written
//! offset), and written log never changes, so a window never goes stale;
//! retention drops those below the new log start.

use std::collections::VecDeque;

/// Size and alignment of one window.
pub(crate) const WINDOW_BYTES: u64 = 256 << 10;

/// Windows kept (least recently read first out).
pub(crate) const MAX_WINDOWS: usize = 16;

/// The cached windows, most recently used last.
#[derive(Debug, Default)]
pub(crate) struct ReadWindows {
    windows: VecDeque<(u64, Vec<u8>)>,
}

/// The stretch to read for `len` bytes at `pos`: the aligned window
/// around them, cut at `floor` (the segment's start, or the log's when
/// that comes later) and `limit` (the written offset, or the segment end
/// when that comes first), and never shorter than the request.
pub(crate) fn window_for(pos: u64, len: usize, floor: u64, limit: u64) -> (u64, usize) {
    let aligned = pos - pos % WINDOW_BYTES;
    let start = aligned.max(floor).min(pos);
    let end = (aligned + WINDOW_BYTES).min(limit).max(pos + len as u64);
    (start, (end - start) as usize)
}

impl ReadWindows {
    /// `len` bytes at `pos` if one window holds them all.
    pub fn get(&mut self, pos: u64, len: usize) -> Option<&[u8]> {
        let at = self.windows.iter().rposition(|(start, bytes)| {
            *start <= pos && pos + len as u64 <= *start + bytes.len() as u64
        })?;
        // Move to the back: recently read windows stay longest.
        let hit = self.windows.remove(at)?;
        self.windows.push_back(hit);
        let (start, bytes) = self.windows.back()?;
        let from = (pos - start) as usize;
        Some(&bytes[from..from + len])
    }

    /// Keeps `bytes`, read at `start`, evicting the least recently used.
    pub fn insert(&mut self, start: u64, bytes: Vec<u8>) {
        self.windows.retain(|(s, _)| *s != start);
        if self.windows.len() >= MAX_WINDOWS {
            self.windows.pop_front();
        }
        self.windows.push_back((start, bytes));
    }

    /// Drops windows reaching below `pos` (retention deleted that log).
    pub fn forget_below(&mut self, pos: u64) {
        self.windows.retain(|(start, _)| *start >= pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_capped_and_cover_the_request() {
        let w = WINDOW_BYTES;
        assert_eq!(window_for(10, 100, 0, u64::MAX), (0, w as usize));
        assert_eq!(window_for(w + 5, 10, 0, u64::MAX), (w, w as usize));
        assert_eq!(
            window_for(w + 5, 10, 0, w + 500),
            (w, 500),
            "cut at the limit"
        );
        assert_eq!(
            window_for(w + 5, 10, w + 3, u64::MAX),
            (w + 3, w as usize - 3),
            "cut at the floor"
        );
        assert_eq!(
            window_for(w - 10, 100, 0, u64::MAX),
            (0, w as usize + 90),
            "a record crossing the window end is read whole"
        );
    }

    #[test]
    fn serves_hits_and_evicts_least_recently_used() {
        let mut c = ReadWindows::default();
        c.insert(0, (0..=255).collect());
        assert_eq!(c.get(10, 3).unwrap(), &[10, 11, 12]);
        assert!(c.get(250, 10).is_none(), "past the window end");
        for i in 1..MAX_WINDOWS as u64 {
            c.insert(i * 1000, vec![i as u8; 10]);
        }
        assert!(c.get(0, 1).is_some(), "touched: now most recent");
        c.insert(99_000, vec![9; 10]);
        assert!(c.get(1000, 1).is_none(), "the least recently used went");
        assert!(c.get(0, 1).is_some());
        c.forget_below(2000);
        assert!(c.get(0, 1).is_none());
        assert_eq!(c.get(2000, 2).unwrap(), &[2, 2]);
    }
}
