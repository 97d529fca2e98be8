//! Polite spinning: a shard's thread stays awake for a short window after
//! its last request, so the next one is answered without parking and
//! waking (an io_uring wait, a cross-CPU memory barrier, an eventfd write by
//! whoever wakes it), yet without keeping a thread woken meanwhile (a
//! client reading its reply) off the CPU.
//!
//! glommio's own `spin_before_park` busy-polls. Where the shards have every
//! CPU to themselves that is fine; where clients share them, a client woken
//! by a reply finds its CPU held by a spinning shard and waits for the spin
//! to end: one send in flight to a 2-shard broker on 2 CPUs ran at 60% of
//! the rate of a 1-shard one. Here an idle turn gives the CPU away
//! (`sched_yield`), so the woken thread runs at once (one in flight at 2
//! shards went from 7.5-9.5k to 16-17k msg/s), while a busy shard keeps its
//! CPU: the spinner only yields when nothing arrived since its last turn.
//!
//! A thread that only yields is never woken when its work arrives: yielding
//! to a thread that computes (a CPU-bound neighbour, a load generator under
//! full load) hands it a whole scheduler slice, milliseconds, per yield.
//! With a `yes` beside it, one send in flight fell to 340 msg/s. So a yield
//! that kept the CPU away for long turns the spinner into a plain busy
//! poller, like glommio's, for a while (one in flight with a `yes` beside
//! it: 4.0-5.7k msg/s, against 3.6-5.3k with glommio's spin).
//!
//! It also stays awake while sync-mode sends wait for their round's write,
//! which outlasts the window on most disks: one sync sender went from
//! 2.3-4.4k to 4.0-4.5k sends/s.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, Handler};

/// What wakes the spinner: a count of arrivals (requests from clients,
/// parcels from other shards), and the spinner's waker while it sleeps.
#[derive(Default)]
pub struct Pulse {
    beats: Cell<u64>,
    sleeper: Cell<Option<Waker>>,
}

impl std::fmt::Debug for Pulse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pulse")
            .field("beats", &self.beats.get())
            .finish()
    }
}

impl Pulse {
    /// Something arrived: keep (or get) the thread awake.
    pub fn beat(&self) {
        self.beats.set(self.beats.get().wrapping_add(1));
        if let Some(waker) = self.sleeper.take() {
            waker.wake();
        }
    }

    /// Resolves with the count at the first beat after `seen`.
    fn after(&self, seen: u64) -> impl Future<Output = u64> + '_ {
        std::future::poll_fn(move |cx| {
            let beats = self.beats.get();
            if beats != seen {
                return Poll::Ready(beats);
            }
            self.sleeper.set(Some(cx.waker().clone()));
            Poll::Pending
        })
    }
}

/// How long glommio itself busy-polls before parking: it covers the gap
/// between the spinner's turns (one [`TURN`]), and is all that is left of
/// impolite spinning once a window ends.
pub const GLOMMIO_SPIN: Duration = Duration::from_micros(10);

/// A spinner's turn: it sleeps this long on a glommio timer between
/// turns, which hands the executor back to its loop to poll the rings and
/// channels (a task that merely yields would be run again at once).
const TURN: Duration = Duration::from_micros(1);

/// A yield that kept the CPU away this long went to a thread that wanted
/// the CPU for a whole slice, not to a client woken by a reply (tens of
/// us). Measured on the 2-vCPU test machine: yields to a `yes` took
/// 2.9-3.9 ms (p10-p90); the odd long yield without one, 0.9-2.6 ms, a
/// few per 5 s.
const LONG_YIELD: Duration = Duration::from_millis(2);

/// After a long yield the spinner busy-polls, like glommio's own spin, for
/// this long before it tries yielding again: a runnable thread that only
/// yields is never woken when its work arrives, so yielding to a thread
/// that computes costs a whole slice per yield. Beside one, a retry costs
/// a slice every 250 ms (about 1%).
const RUDE_FOR: Duration = Duration::from_millis(250);

/// Whether the spinner may yield: not for [`RUDE_FOR`] after a
/// [`LONG_YIELD`].
#[derive(Debug, Default)]
struct Manners {
    rude_until: Option<Instant>,
}

impl Manners {
    fn may_yield(&self, now: Instant) -> bool {
        self.rude_until.is_none_or(|t| now >= t)
    }

    /// A yield gave the CPU away for `took`.
    fn yielded(&mut self, took: Duration, now: Instant) {
        self.rude_until = (took >= LONG_YIELD).then(|| now + RUDE_FOR);
    }
}

/// Keeps the executor awake for `window` after each beat, and for as long
/// as `waiting` says requests wait on I/O (a sync round's write: its
/// completion is answered at once rather than after a wake-up); sleeps
/// (lets glommio park) otherwise. Runs forever; a zero window returns at
/// once.
pub async fn spin(pulse: Rc<Pulse>, window: Duration, waiting: impl Fn() -> bool) {
    if window.is_zero() {
        return;
    }
    let mut manners = Manners::default();
    let mut seen = pulse.beats.get();
    loop {
        seen = pulse.after(seen).await;
        let mut last = Instant::now();
        loop {
            let now = Instant::now();
            let beats = pulse.beats.get();
            if beats != seen {
                seen = beats;
                last = now;
            } else if now - last >= window && !waiting() {
                break;
            } else if manners.may_yield(now) {
                std::thread::yield_now();
                let back = Instant::now();
                manners.yielded(back - now, back);
            }
            glommio::timer::sleep(TURN).await;
        }
    }
}

/// A connection handler that beats the pulse on every request.
pub struct Beating<H> {
    pub handler: Rc<H>,
    pub pulse: Rc<Pulse>,
}

impl<H: Handler> Handler for Beating<H> {
    fn handle(
        self: Rc<Self>,
        conn: Connection,
        request: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> {
        self.pulse.beat();
        self.handler.clone().handle(conn, request)
    }

    fn on_close(&self, conn: &Connection) {
        self.handler.on_close(conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Wake};

    #[test]
    fn a_beat_wakes_the_sleeping_spinner_once() {
        let pulse = Pulse::default();
        let woken = Arc::new(Count::default());
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut after = std::pin::pin!(pulse.after(0));
        assert!(after.as_mut().poll(&mut cx).is_pending());
        pulse.beat();
        pulse.beat();
        assert_eq!(
            woken.0.load(Ordering::Relaxed),
            1,
            "the second beat finds no sleeper"
        );
        assert_eq!(after.as_mut().poll(&mut cx), Poll::Ready(2));
    }

    #[test]
    fn beats_missed_while_awake_are_seen_at_once() {
        let pulse = Pulse::default();
        pulse.beat();
        let waker = Waker::from(Arc::new(Count::default()));
        let mut cx = Context::from_waker(&waker);
        let mut after = std::pin::pin!(pulse.after(0));
        assert_eq!(after.as_mut().poll(&mut cx), Poll::Ready(1));
    }

    #[test]
    fn a_long_yield_stops_yielding_for_a_while() {
        let t0 = Instant::now();
        let mut m = Manners::default();
        assert!(m.may_yield(t0));
        m.yielded(Duration::from_micros(30), t0);
        assert!(m.may_yield(t0), "a woken client ran: still polite");
        m.yielded(LONG_YIELD, t0);
        assert!(
            !m.may_yield(t0 + RUDE_FOR / 2),
            "a computing thread took it"
        );
        assert!(m.may_yield(t0 + RUDE_FOR), "tries again later");
        m.yielded(Duration::from_micros(30), t0 + RUDE_FOR);
        assert!(m.may_yield(t0 + RUDE_FOR), "and stays polite if it may");
    }

    /// Runs `body` on an executor beside a spinner over a fresh pulse,
    /// with `window` and a switchable "requests wait on I/O".
    fn with_spinner(window: Duration, body: impl AsyncFnOnce(Probe)) {
        let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .unwrap();
        ex.run(async {
            let probe = Probe {
                pulse: Rc::new(Pulse::default()),
                waiting: Rc::new(Cell::new(false)),
            };
            let waiting = probe.waiting.clone();
            let spinner = spin(probe.pulse.clone(), window, move || waiting.get());
            glommio::spawn_local(spinner).detach();
            body(probe).await;
        });
    }

    struct Probe {
        pulse: Rc<Pulse>,
        waiting: Rc<Cell<bool>>,
    }

    impl Probe {
        fn sleeping(&self) -> bool {
            let waker = self.pulse.sleeper.take();
            let asleep = waker.is_some();
            self.pulse.sleeper.set(waker);
            asleep
        }
    }

    async fn pause(d: Duration) {
        glommio::timer::sleep(d).await;
    }

    // The pauses before "asleep" checks are generous: a loaded test
    // machine may not run this thread for a while.

    #[test]
    fn the_spinner_goes_back_to_sleep_a_window_after_the_last_beat() {
        let window = Duration::from_millis(100);
        with_spinner(window, async |probe| {
            pause(Duration::from_millis(1)).await;
            assert!(probe.sleeping(), "asleep before the first beat");
            probe.pulse.beat();
            pause(Duration::from_millis(1)).await;
            assert!(!probe.sleeping(), "awake within the window of the beat");
            pause(window * 10).await;
            assert!(
                probe.sleeping(),
                "asleep once a window passed without a beat"
            );
        });
    }

    #[test]
    fn the_spinner_stays_awake_while_requests_wait_on_io() {
        let window = Duration::from_millis(1);
        with_spinner(window, async |probe| {
            probe.waiting.set(true);
            probe.pulse.beat();
            pause(window * 50).await;
            assert!(!probe.sleeping(), "awake past the window while waiting");
            probe.waiting.set(false);
            pause(window * 1000).await;
            assert!(probe.sleeping(), "asleep once nothing waits");
        });
    }

    #[derive(Default)]
    struct Count(AtomicU32);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}
