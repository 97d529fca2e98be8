//! The broker's one clock: every read of time on the request path, and the
//! store's record timestamps, go through the [`Clock`] the runtime passes to
//! each [`crate::shard::Shard`] when it builds it, so a test or a simulation
//! can drive time by hand ([`ManualClock`]).
//!
//! A clock gives two readings, kept apart because they answer different
//! questions:
//! * [`Clock::now_ms`] — wall time, milliseconds since the Unix epoch: what
//!   records, table versions, message keys and the wire carry. It may jump
//!   (NTP steps the system clock).
//! * [`Clock::monotonic_ms`] — milliseconds that never go back, from an
//!   arbitrary origin: deadlines and expiry (long polls, client heartbeats,
//!   queue locks, registration schedules), which a wall-clock step must not
//!   cut short or stretch.
//!
//! Timers (`glommio::timer`) are not clock reads and stay with the executor.

use std::fmt::Debug;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of time (see the module docs for the two readings).
pub trait Clock: Send + Sync + Debug {
    /// Wall-clock milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Milliseconds that never decrease, from an arbitrary origin.
    fn monotonic_ms(&self) -> u64;
}

/// One clock shared by every shard of a broker.
pub type SharedClock = Arc<dyn Clock>;

/// The clock in the form [`bolide_store::store::ShardStore::set_clock`]
/// takes: the store stamps records with the broker's wall time.
pub fn store_clock(clock: &SharedClock) -> Rc<dyn Fn() -> i64> {
    let clock = clock.clone();
    Rc::new(move || clock.now_ms())
}

/// The operating system's clocks.
#[derive(Debug)]
pub struct SystemClock {
    started: Instant,
}

impl SystemClock {
    /// A system clock whose monotonic reading starts at 0 now.
    pub fn new() -> Self {
        SystemClock {
            started: Instant::now(),
        }
    }

    /// A [`SystemClock`] ready to share between shards.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock::new())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    fn monotonic_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// A clock that moves only when told: both readings advance together.
#[derive(Debug)]
pub struct ManualClock {
    wall_ms: AtomicI64,
    monotonic_ms: AtomicU64,
}

impl ManualClock {
    /// A clock reading `wall_ms` (and monotonic 0).
    pub fn new(wall_ms: i64) -> Self {
        ManualClock {
            wall_ms: AtomicI64::new(wall_ms),
            monotonic_ms: AtomicU64::new(0),
        }
    }

    /// Moves both readings forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.wall_ms.fetch_add(ms as i64, Ordering::SeqCst);
        self.monotonic_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.wall_ms.load(Ordering::SeqCst)
    }

    fn monotonic_ms(&self) -> u64 {
        self.monotonic_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!((clock.now_ms(), clock.monotonic_ms()), (1_000, 0));
        clock.advance(250);
        assert_eq!((clock.now_ms(), clock.monotonic_ms()), (1_250, 250));
    }

    #[test]
    fn the_store_reads_the_same_clock() {
        let manual = Arc::new(ManualClock::new(7));
        let shared: SharedClock = manual.clone();
        let store_now = store_clock(&shared);
        manual.advance(3);
        assert_eq!(store_now(), 10);
    }

    #[test]
    fn the_system_clock_reads_the_epoch_and_never_goes_back() {
        let clock = SystemClock::new();
        // 2020-01-01 in ms: any sane system clock is past it.
        assert!(clock.now_ms() > 1_577_836_800_000);
        let first = clock.monotonic_ms();
        assert!(clock.monotonic_ms() >= first);
    }
}
