//! [`VersionWatch`]: a counter that only grows and that a task on any
//! shard's thread can await (the topic-config and registered versions of
//! [`super::BrokerShared`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use super::lock;

/// A counter that only grows and that tasks on any thread can await.
///
/// Waiters leave a std [`Waker`]; a raise on another shard's thread wakes
/// them there (the runtime queues a foreign wake to the waiter's executor and
/// rouses it if it sleeps), so nobody polls and no executor thread blocks
/// beyond the short waiter-list lock. Each pending [`Reached`] holds one
/// entry, removed when it completes or is dropped, so the list is bounded
/// by the waiting tasks even when waits time out.
#[derive(Debug, Default)]
pub struct VersionWatch {
    value: AtomicU64,
    waiters: Mutex<Waiters>,
}

#[derive(Debug, Default)]
struct Waiters {
    next_id: u64,
    /// (waiter id, its latest waker).
    wakers: Vec<(u64, Waker)>,
}

impl VersionWatch {
    pub fn new(value: u64) -> VersionWatch {
        VersionWatch {
            value: AtomicU64::new(value),
            waiters: Mutex::default(),
        }
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// Adds one; returns the new value.
    pub fn increment(&self) -> u64 {
        let value = self.value.fetch_add(1, Ordering::AcqRel) + 1;
        self.wake_all();
        value
    }

    /// Raises the value to `value` (a lower one leaves it as it is).
    pub fn raise_to(&self, value: u64) {
        if self.value.fetch_max(value, Ordering::AcqRel) < value {
            self.wake_all();
        }
    }

    /// Completes once the value is at least `target`.
    pub fn reached(&self, target: u64) -> Reached<'_> {
        Reached {
            watch: self,
            target,
            id: None,
        }
    }

    /// Wakes every waiter; they re-check the value and register again if
    /// still short. Wakers are woken outside the lock.
    fn wake_all(&self) {
        let wakers = std::mem::take(&mut lock(&self.waiters).wakers);
        for (_, waker) in wakers {
            waker.wake();
        }
    }
}

/// The future of [`VersionWatch::reached`].
#[derive(Debug)]
pub struct Reached<'a> {
    watch: &'a VersionWatch,
    target: u64,
    /// Set once this waiter has left a waker.
    id: Option<u64>,
}

impl Reached<'_> {
    fn forget_waker(&mut self) {
        if let Some(id) = self.id.take() {
            lock(&self.watch.waiters).wakers.retain(|(w, _)| *w != id);
        }
    }
}

impl Future for Reached<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.watch.get() >= self.target {
            self.forget_waker();
            return Poll::Ready(());
        }
        {
            let mut waiters = lock(&self.watch.waiters);
            let id = *self.id.get_or_insert_with(|| {
                waiters.next_id += 1;
                waiters.next_id
            });
            // A wake took this entry out, or an earlier poll left it.
            match waiters.wakers.iter_mut().find(|(w, _)| *w == id) {
                Some((_, waker)) => waker.clone_from(cx.waker()),
                None => waiters.wakers.push((id, cx.waker().clone())),
            }
        }
        // A raise between the first check and leaving the waker took the
        // list before the waker was in it: look again, now that it is.
        if self.watch.get() >= self.target {
            self.forget_waker();
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Reached<'_> {
    fn drop(&mut self) {
        self.forget_waker();
    }
}

#[cfg(test)]
impl VersionWatch {
    /// Waiters that left a waker.
    pub(super) fn waiting(&self) -> usize {
        lock(&self.waiters).wakers.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// Counts its wakes.
    struct CountingWaker(AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_watch_completes_at_its_target_and_keeps_one_waker_per_waiter() {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let wakes = || counter.0.load(Ordering::SeqCst);
        let watch = VersionWatch::new(1);
        assert!(Pin::new(&mut watch.reached(1)).poll(&mut cx).is_ready());
        assert_eq!(watch.waiting(), 0, "ready at once leaves no waker");
        let mut wait = watch.reached(3);
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        assert_eq!(watch.waiting(), 1, "polled twice, registered once");
        assert_eq!(watch.increment(), 2);
        assert_eq!((wakes(), watch.waiting()), (1, 0), "woken, short of 3");
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        watch.raise_to(1);
        assert_eq!((watch.get(), wakes()), (2, 1), "never lowered, no wake");
        watch.raise_to(5);
        assert_eq!(wakes(), 2);
        assert!(Pin::new(&mut wait).poll(&mut cx).is_ready());
        assert_eq!(watch.waiting(), 0);
        let mut abandoned = watch.reached(9);
        assert!(Pin::new(&mut abandoned).poll(&mut cx).is_pending());
        drop(abandoned);
        assert_eq!(
            watch.waiting(),
            0,
            "a dropped wait (a timeout) leaves nothing"
        );
    }

    #[test]
    fn a_watch_wakes_a_waiter_on_another_thread() {
        let watch = Arc::new(VersionWatch::new(0));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let waiter = {
            let watch = watch.clone();
            std::thread::spawn(move || {
                futures_lite::future::block_on(watch.reached(2));
                done_tx.send(()).unwrap();
            })
        };
        watch.increment();
        watch.increment();
        // Bounded, not timed: a lost wake hangs, and this turns that into a failure.
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("woken");
        waiter.join().unwrap();
        assert_eq!(watch.waiting(), 0);
    }
}
