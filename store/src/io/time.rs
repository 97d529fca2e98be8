//! Time, the other half of the seam: what a clock reads and how long a
//! task sleeps. Everything the store and the broker do with time goes
//! through a [`Clock`], so the same code runs on the operating system's
//! clocks and glommio timers ([`SystemClock`]) and on a clock that moves
//! only when told ([`ManualClock`]), which is what makes a simulation
//! reproducible from its seed.
//!
//! A clock gives two readings, kept apart because they answer different
//! questions:
//! * [`Clock::now_ms`] — wall time, milliseconds since the Unix epoch: what
//!   records, table versions, message keys and the wire carry. It may jump
//!   (NTP steps the system clock).
//! * [`Clock::monotonic_ms`] — milliseconds that never go back, from an
//!   arbitrary origin: deadlines, expiry and periodic jobs, which a
//!   wall-clock step must not cut short or stretch.
//!
//! [`Clock::sleep`] waits on the monotonic reading. A sleep shorter than a
//! millisecond is "let the executor run a turn": on the system clock a
//! glommio timer of that length (so io_uring submits what is queued), on a
//! manual clock one yield.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A sleep in progress (not `Send`: it belongs to its executor).
pub type Sleep = Pin<Box<dyn Future<Output = ()>>>;

/// A source of time and timers (see the module docs).
pub trait Clock: Send + Sync + Debug {
    /// Wall-clock milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Milliseconds that never decrease, from an arbitrary origin.
    fn monotonic_ms(&self) -> u64;
    /// Completes once `duration` has passed on this clock. Must be awaited
    /// inside a glommio executor for the system clock.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// One clock shared by every shard of a process.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clocks and glommio's timers.
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

    /// A [`SystemClock`] ready to share.
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

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(glommio::timer::sleep(duration))
    }
}

/// A clock that moves only when told ([`ManualClock::advance`]); both
/// readings advance together, and sleeps due by then wake.
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    wall_ms: AtomicI64,
    monotonic_ms: AtomicU64,
    /// Sleeps not yet due: (deadline, waker).
    sleepers: Mutex<Vec<(u64, Waker)>>,
}

impl ManualClock {
    /// A clock reading `wall_ms` (and monotonic 0).
    pub fn new(wall_ms: i64) -> Self {
        ManualClock {
            state: Arc::new(ManualState {
                wall_ms: AtomicI64::new(wall_ms),
                monotonic_ms: AtomicU64::new(0),
                sleepers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Moves both readings forward by `ms` and wakes the sleeps now due.
    pub fn advance(&self, ms: u64) {
        self.state.wall_ms.fetch_add(ms as i64, Ordering::SeqCst);
        let now = self.state.monotonic_ms.fetch_add(ms, Ordering::SeqCst) + ms;
        let due: Vec<Waker> = {
            let mut sleepers = lock(&self.state.sleepers);
            let (due, waiting) = sleepers.drain(..).partition(|(at, _)| *at <= now);
            *sleepers = waiting;
            due.into_iter().map(|(_, waker)| waker).collect()
        };
        due.into_iter().for_each(Waker::wake);
    }

    /// Moves only the wall reading, as an NTP step does: no sleep wakes.
    pub fn jump_wall(&self, ms: i64) {
        self.state.wall_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sleeps waiting for the clock to move.
    pub fn sleepers(&self) -> usize {
        lock(&self.state.sleepers).len()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.state.wall_ms.load(Ordering::SeqCst)
    }

    fn monotonic_ms(&self) -> u64 {
        self.state.monotonic_ms.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let deadline = self.monotonic_ms() + duration.as_millis() as u64;
        Box::pin(ManualSleep {
            state: self.state.clone(),
            deadline,
            polled: false,
        })
    }
}

/// A sleep on a [`ManualClock`]: due at `deadline`, and never ready on its
/// first poll, so even a zero sleep lets the other tasks run.
struct ManualSleep {
    state: Arc<ManualState>,
    deadline: u64,
    polled: bool,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let first = !std::mem::replace(&mut self.polled, true);
        let due = self.state.monotonic_ms.load(Ordering::SeqCst) >= self.deadline;
        if due && !first {
            return Poll::Ready(());
        }
        if due {
            cx.waker().wake_by_ref();
        } else {
            lock(&self.state.sleepers).push((self.deadline, cx.waker().clone()));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!((clock.now_ms(), clock.monotonic_ms()), (1_000, 0));
        clock.advance(250);
        assert_eq!((clock.now_ms(), clock.monotonic_ms()), (1_250, 250));
    }

    #[test]
    fn the_system_clock_reads_the_epoch_and_never_goes_back() {
        let clock = SystemClock::new();
        // 2020-01-01 in ms: any sane system clock is past it.
        assert!(clock.now_ms() > 1_577_836_800_000);
        let first = clock.monotonic_ms();
        assert!(clock.monotonic_ms() >= first);
    }

    #[test]
    fn manual_sleeps_wake_when_the_clock_reaches_them() {
        crate::testutil::run(|| async {
            let clock = ManualClock::new(0);
            let woke = Rc::new(Cell::new(0u32));
            for ms in [0u64, 5, 10] {
                let (clock, woke) = (clock.clone(), woke.clone());
                crate::io::task::spawn_local(async move {
                    clock.sleep(Duration::from_millis(ms)).await;
                    woke.set(woke.get() + 1);
                })
                .detach();
            }
            // A zero sleep needs no time, only a turn.
            futures_lite::future::yield_now().await;
            futures_lite::future::yield_now().await;
            assert_eq!((woke.get(), clock.sleepers()), (1, 2));
            clock.advance(4);
            futures_lite::future::yield_now().await;
            assert_eq!(woke.get(), 1);
            clock.advance(1);
            futures_lite::future::yield_now().await;
            assert_eq!((woke.get(), clock.sleepers()), (2, 1));
            clock.advance(100);
            futures_lite::future::yield_now().await;
            assert_eq!((woke.get(), clock.sleepers()), (3, 0));
        });
    }
}
