//! [`ClientRuntime`]: the client's own glommio executor on a background
//! thread, so the client is usable from a plain `fn main()` or a tokio
//! program without the caller touching glommio.
//!
//! ```text
//!  caller threads                         runtime thread (glommio LocalExecutor)
//!  ──────────────                         ─────────────────────────────────────
//!  rt.call(|| async {..}) ──push job──▶ Mutex<VecDeque<Job>>
//!        │  (1 byte, only if no wake-up     │
//!        │   is already owed) ──UnixStream──▶ serve loop: read ≥1 byte, clear the
//!        │                                   "wake owed" flag, drain the queue,
//!        ▼                                   spawn each job's future locally
//!  Pending<T> ◀── Slot (Mutex + Waker + Condvar) ◀── the task completes it
//! ```
//!
//! A job is a `Send` closure that builds a (possibly `!Send`) future on the
//! executor, where `Rc`-based client objects live. Its result comes back
//! through a [`Pending`], a runtime-agnostic one-shot that is both awaitable
//! (any executor: tokio, `futures_lite::future::block_on`, …) and blockable
//! ([`Pending::wait`]).
//!
//! Objects that must stay on the executor between calls (a producer, a
//! consumer) are kept there with [`LocalHandle`]: a `Send + Sync` handle to an
//! `Rc<T>` parked in the runtime thread's registry; [`LocalHandle::call`]
//! runs a job with it.
//!
//! Invariants:
//! * the wake-up socket never holds more than a few bytes: a byte is written
//!   only when the "wake owed" flag flips from false to true, and the
//!   executor clears the flag before each drain, so a job pushed after the
//!   clear always gets its own byte;
//! * every job either runs or is dropped, and dropping it cancels its
//!   [`Pending`] (the result is [`Canceled`]) — a waiter never hangs on a
//!   stopped runtime;
//! * dropping the last [`ClientRuntime`] clone stops the executor and joins
//!   its thread (unless the drop happens on that thread itself). Tasks still
//!   running are dropped, canceling their results.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::marker::PhantomData;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use futures_lite::io::AsyncReadExt;

use crate::error::ClientError;

/// Bytes read from the wake-up socket per read (any number of owed wake-ups
/// collapse into one drain).
const WAKE_READ_BYTES: usize = 64;

/// The job was dropped before it produced a result: the runtime stopped, or
/// the object a [`LocalHandle`] named is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client runtime stopped before the call completed")]
pub struct Canceled;

impl From<Canceled> for ClientError {
    fn from(_: Canceled) -> Self {
        ClientError::Stopped
    }
}

/// Why [`Pending::wait_timeout`] returned without a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("timed out")]
    Timeout,
    #[error(transparent)]
    Canceled(#[from] Canceled),
}

// ---------------------------------------------------------------------------
// One-shot result slot
// ---------------------------------------------------------------------------

struct SlotState<T> {
    value: Option<T>,
    /// Set once: by `complete` or by the completer's drop.
    done: bool,
    waker: Option<Waker>,
}

struct Slot<T> {
    state: Mutex<SlotState<T>>,
    ready: Condvar,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // A panic while holding this lock cannot leave the state torn (each
        // critical section is a few assignments), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the outcome (`None` = canceled) and wakes both kinds of waiter.
    fn finish(&self, value: Option<T>) {
        let waker = {
            let mut state = self.lock();
            if state.done {
                return;
            }
            state.value = value;
            state.done = true;
            state.waker.take()
        };
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The sending half of a [`Pending`]: completes it once; dropping it
/// without completing cancels it.
pub struct Completer<T> {
    slot: Arc<Slot<T>>,
}

impl<T> fmt::Debug for Completer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Completer")
    }
}

impl<T> Completer<T> {
    /// Delivers `value` to the [`Pending`].
    pub fn complete(self, value: T) {
        self.slot.finish(Some(value));
    }
}

impl<T: Send + 'static> Completer<T> {
    /// A closure that cancels the [`Pending`] unless already completed.
    fn canceler(&self) -> Box<dyn FnOnce()> {
        let slot = self.slot.clone();
        Box::new(move || slot.finish(None))
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.slot.finish(None);
    }
}

/// A result that will arrive from another thread: `.await` it on any
/// executor, or block on it with [`Pending::wait`].
#[must_use = "a Pending does nothing unless awaited or waited on"]
pub struct Pending<T> {
    slot: Arc<Slot<T>>,
}

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("done", &self.slot.lock().done)
            .finish()
    }
}

/// A connected [`Pending`] / [`Completer`] pair.
pub fn oneshot<T>() -> (Completer<T>, Pending<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotState {
            value: None,
            done: false,
            waker: None,
        }),
        ready: Condvar::new(),
    });
    (Completer { slot: slot.clone() }, Pending { slot })
}

impl<T> Pending<T> {
    /// Whether the outcome is in (a `wait` would not block).
    pub fn is_ready(&self) -> bool {
        self.slot.lock().done
    }

    /// Blocks the calling thread until the outcome is in.
    pub fn wait(self) -> Result<T, Canceled> {
        let mut state = self.slot.lock();
        while !state.done {
            state = self
                .slot
                .ready
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        state.value.take().ok_or(Canceled)
    }

    /// Blocks at most `timeout`; on [`WaitError::Timeout`] the call keeps
    /// running and its result is discarded.
    pub fn wait_timeout(self, timeout: Duration) -> Result<T, WaitError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.slot.lock();
        while !state.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WaitError::Timeout);
            }
            state = self
                .slot
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(state.value.take().ok_or(Canceled)?)
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        if state.done {
            return Poll::Ready(state.value.take().ok_or(Canceled));
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// A [`Pending`] whose job returns `Result<T, E>`, flattened so that
/// cancellation becomes an `E` too.
#[must_use = "a TryPending does nothing unless awaited or waited on"]
pub struct TryPending<T, E> {
    inner: Pending<Result<T, E>>,
}

impl<T, E> fmt::Debug for TryPending<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TryPending").field(&self.inner).finish()
    }
}

impl<T, E: From<Canceled>> TryPending<T, E> {
    /// Wraps a pending `Result`.
    pub fn new(inner: Pending<Result<T, E>>) -> Self {
        TryPending { inner }
    }

    pub fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// Blocks the calling thread until the outcome is in.
    pub fn wait(self) -> Result<T, E> {
        self.inner.wait()?
    }

    /// Blocks at most `timeout`; `None` if the outcome is not in by then.
    pub fn wait_timeout(self, timeout: Duration) -> Option<Result<T, E>> {
        match self.inner.wait_timeout(timeout) {
            Ok(result) => Some(result),
            Err(WaitError::Canceled(c)) => Some(Err(c.into())),
            Err(WaitError::Timeout) => None,
        }
    }
}

impl<T, E: From<Canceled>> Future for TryPending<T, E> {
    type Output = Result<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(c)) => Poll::Ready(Err(c.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

// ---------------------------------------------------------------------------
// Job queue and wake-up
// ---------------------------------------------------------------------------

/// Runs on the executor; typically spawns a local task.
type Job = Box<dyn FnOnce() + Send>;

struct Queue {
    jobs: VecDeque<Job>,
    /// The executor is gone: new jobs are dropped (canceled) at once.
    closed: bool,
}

/// What callers and the executor share.
struct Shared {
    queue: Mutex<Queue>,
    /// A wake-up byte is owed or in flight.
    wake_owed: AtomicBool,
    stop: AtomicBool,
    /// The callers' end of the wake-up socket (non-blocking).
    waker: std::os::unix::net::UnixStream,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("stop", &self.stop.load(Ordering::Relaxed))
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job` and wakes the executor if no wake-up is owed yet.
    fn submit(&self, job: Job) {
        {
            let mut queue = self.lock();
            if queue.closed {
                drop(queue);
                drop(job); // cancels its Pending
                return;
            }
            queue.jobs.push_back(job);
        }
        if !self.wake_owed.swap(true, Ordering::AcqRel) {
            self.ring();
        }
    }

    /// Writes one wake-up byte. `WouldBlock` means bytes are already queued,
    /// which is as good; other errors mean the executor end is gone.
    fn ring(&self) {
        if let Err(e) = (&self.waker).write(&[1]) {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                tracing::debug!(error = %e, "client runtime wake-up failed");
            }
        }
    }

    /// Takes every queued job (the executor side).
    fn take_jobs(&self) -> VecDeque<Job> {
        std::mem::take(&mut self.lock().jobs)
    }

    /// Refuses further jobs and drops the queued ones (canceling them).
    fn close(&self) {
        let jobs = {
            let mut queue = self.lock();
            queue.closed = true;
            std::mem::take(&mut queue.jobs)
        };
        drop(jobs);
    }
}

thread_local! {
    /// The runtime this thread executes, if it is a runtime thread.
    static CURRENT: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
    /// Objects parked by [`LocalHandle::register`], by id.
    static REGISTRY: RefCell<HashMap<u64, Rc<dyn Any>>> = RefCell::new(HashMap::new());
    /// Cancelers of the calls still running, by id. glommio does not drop
    /// the tasks left when an executor ends, so their completers would
    /// never drop: the serve loop cancels these instead.
    static INFLIGHT: RefCell<HashMap<u64, Box<dyn FnOnce()>>> = RefCell::new(HashMap::new());
}

static NEXT_CALL_ID: AtomicU64 = AtomicU64::new(1);

/// Spawns `future` on the current executor; its output completes
/// `completer`, or the serve loop cancels it at shutdown.
fn spawn_call<T: Send + 'static>(
    future: impl Future<Output = T> + 'static,
    completer: Completer<T>,
) {
    let id = NEXT_CALL_ID.fetch_add(1, Ordering::Relaxed);
    INFLIGHT.with(|f| f.borrow_mut().insert(id, completer.canceler()));
    glommio::spawn_local(async move {
        let value = future.await;
        INFLIGHT.with(|f| f.borrow_mut().remove(&id));
        completer.complete(value);
    })
    .detach();
}

/// Cancels every call still running (the executor is ending).
fn cancel_inflight() {
    let cancelers: Vec<_> = INFLIGHT.with(|f| f.borrow_mut().drain().map(|(_, c)| c).collect());
    for cancel in cancelers {
        cancel();
    }
}

/// The executor's loop: wait for a wake-up byte, drain the queue, repeat.
async fn serve(shared: Arc<Shared>, mut wakeups: glommio::net::UnixStream) {
    let mut buf = [0u8; WAKE_READ_BYTES];
    loop {
        shared.wake_owed.store(false, Ordering::Release);
        for job in shared.take_jobs() {
            job();
        }
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        match wakeups.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    shared.close();
    cancel_inflight();
    let objects: Vec<_> = REGISTRY.with(|r| r.borrow_mut().drain().collect());
    drop(objects);
}

// ---------------------------------------------------------------------------
// ClientRuntime
// ---------------------------------------------------------------------------

/// Owns the executor thread; stops and joins it when dropped.
struct Owner {
    shared: Arc<Shared>,
    thread: Option<glommio::ExecutorJoinHandle<()>>,
    thread_id: Option<ThreadId>,
    name: String,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.ring();
        let Some(thread) = self.thread.take() else {
            return;
        };
        if Some(std::thread::current().id()) == self.thread_id {
            // Dropped by one of its own jobs: the loop ends after this drain.
            return;
        }
        if thread.join().is_err() {
            tracing::warn!(name = %self.name, "client runtime thread panicked");
        }
        self.shared.close();
    }
}

/// A handle to the client's executor thread. Cheap to clone; the thread
/// stops when the last clone is dropped.
#[derive(Clone)]
pub struct ClientRuntime {
    owner: Arc<Owner>,
}

impl fmt::Debug for ClientRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRuntime")
            .field("name", &self.owner.name)
            .finish()
    }
}

impl ClientRuntime {
    /// Starts the executor thread, named `name`.
    pub fn start(name: &str) -> std::io::Result<ClientRuntime> {
        let (callers_end, executor_end) = std::os::unix::net::UnixStream::pair()?;
        callers_end.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            wake_owed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            waker: callers_end,
        });
        let executor_fd = executor_end.into_raw_fd();
        let (id_tx, id_rx) = std::sync::mpsc::channel();
        let for_thread = shared.clone();
        let thread = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .name(name)
            .spawn(move || async move {
                // SAFETY: `executor_fd` came from `into_raw_fd` of a socket
                // we own and nothing else uses or closes it.
                let wakeups = unsafe { glommio::net::UnixStream::from_raw_fd(executor_fd) };
                let _ = id_tx.send(std::thread::current().id());
                CURRENT.with(|c| *c.borrow_mut() = Some(for_thread.clone()));
                serve(for_thread, wakeups).await;
            })
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let thread_id = id_rx.recv().ok();
        Ok(ClientRuntime {
            owner: Arc::new(Owner {
                shared,
                thread: Some(thread),
                thread_id,
                name: name.to_owned(),
            }),
        })
    }

    /// The name given at start.
    pub fn name(&self) -> &str {
        &self.owner.name
    }

    /// Runs `make()` on the executor and spawns the future it returns; the
    /// future's output arrives in the returned [`Pending`].
    pub fn call<F, Fut, T>(&self, make: F) -> Pending<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        call_on(&self.owner.shared, make)
    }

    /// [`ClientRuntime::call`] for a fallible job; cancellation becomes `E`.
    pub fn try_call<F, Fut, T, E>(&self, make: F) -> TryPending<T, E>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: Send + 'static,
        E: From<Canceled> + Send + 'static,
    {
        TryPending::new(self.call(make))
    }

    /// Builds an object on the executor (`make` returns a future of it) and
    /// parks it there; the handle reaches it from any thread.
    pub fn install<F, Fut, T, E>(&self, make: F) -> TryPending<LocalHandle<T>, E>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rc<T>, E>> + 'static,
        T: 'static,
        E: From<Canceled> + Send + 'static,
    {
        self.try_call(move || async move {
            let object = make().await?;
            LocalHandle::register(object).ok_or_else(|| E::from(Canceled))
        })
    }
}

fn call_on<F, Fut, T>(shared: &Shared, make: F) -> Pending<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (completer, pending) = oneshot();
    shared.submit(Box::new(move || {
        spawn_call(make(), completer);
    }));
    pending
}

// ---------------------------------------------------------------------------
// LocalHandle
// ---------------------------------------------------------------------------

static NEXT_LOCAL_ID: AtomicU64 = AtomicU64::new(1);

/// A `Send + Sync` handle to an `Rc<T>` that lives on a runtime thread.
/// Dropping the handle removes the object from the thread (its own `Drop`
/// runs there).
pub struct LocalHandle<T> {
    id: u64,
    shared: Arc<Shared>,
    _object: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for LocalHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHandle").field("id", &self.id).finish()
    }
}

impl<T: 'static> LocalHandle<T> {
    /// Parks `object` on the current runtime thread. `None` when called
    /// outside a [`ClientRuntime`]'s thread.
    pub fn register(object: Rc<T>) -> Option<LocalHandle<T>> {
        let shared = CURRENT.with(|c| c.borrow().clone())?;
        let id = NEXT_LOCAL_ID.fetch_add(1, Ordering::Relaxed);
        REGISTRY.with(|r| r.borrow_mut().insert(id, object as Rc<dyn Any>));
        Some(LocalHandle {
            id,
            shared,
            _object: PhantomData,
        })
    }

    /// Runs `make(object)` on the runtime thread; canceled if the runtime
    /// stopped.
    pub fn call<F, Fut, R>(&self, make: F) -> Pending<R>
    where
        F: FnOnce(Rc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let id = self.id;
        let (completer, pending) = oneshot();
        self.shared.submit(Box::new(move || {
            let Some(object) = lookup::<T>(id) else {
                return; // completer dropped: canceled
            };
            spawn_call(make(object), completer);
        }));
        pending
    }

    /// [`LocalHandle::call`] for a fallible job; cancellation becomes `E`.
    pub fn try_call<F, Fut, R, E>(&self, make: F) -> TryPending<R, E>
    where
        F: FnOnce(Rc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, E>> + 'static,
        R: Send + 'static,
        E: From<Canceled> + Send + 'static,
    {
        TryPending::new(self.call(make))
    }
}

impl<T> Drop for LocalHandle<T> {
    fn drop(&mut self) {
        let id = self.id;
        self.shared.submit(Box::new(move || {
            let removed = REGISTRY.with(|r| r.borrow_mut().remove(&id));
            drop(removed);
        }));
    }
}

fn lookup<T: 'static>(id: u64) -> Option<Rc<T>> {
    let object = REGISTRY.with(|r| r.borrow().get(&id).cloned())?;
    object.downcast::<T>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn many_calls_from_many_threads() {
        let rt = ClientRuntime::start("rt-test").unwrap();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let rt = rt.clone();
                std::thread::spawn(move || {
                    let pending: Vec<_> = (0..500u64)
                        .map(|i| {
                            rt.call(move || async move {
                                if i % 7 == 0 {
                                    glommio::yield_if_needed().await;
                                }
                                t * 1000 + i
                            })
                        })
                        .collect();
                    for (i, p) in pending.into_iter().enumerate() {
                        assert_eq!(p.wait(), Ok(t * 1000 + i as u64));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn sequential_round_trips() {
        // Each call waits for the previous one: exercises the wake-up path
        // from an idle executor every time.
        let rt = ClientRuntime::start("rt-seq").unwrap();
        for i in 0..2000u32 {
            assert_eq!(rt.call(move || async move { i + 1 }).wait(), Ok(i + 1));
        }
    }

    #[test]
    fn awaitable_from_another_executor() {
        let rt = ClientRuntime::start("rt-await").unwrap();
        let got = futures_lite::future::block_on(async {
            let a = rt.call(|| async {
                glommio::timer::sleep(Duration::from_millis(5)).await;
                40
            });
            let b = rt.call(|| async { 2 });
            a.await.unwrap() + b.await.unwrap()
        });
        assert_eq!(got, 42);
    }

    #[test]
    fn try_call_flattens_and_wait_timeout_times_out() {
        let rt = ClientRuntime::start("rt-try").unwrap();
        let ok: Result<u8, ClientError> = rt.try_call(|| async { Ok(7) }).wait();
        assert_eq!(ok.unwrap(), 7);
        let slow = rt.call(|| async {
            glommio::timer::sleep(Duration::from_secs(5)).await;
        });
        assert_eq!(
            slow.wait_timeout(Duration::from_millis(20)),
            Err(WaitError::Timeout)
        );
    }

    #[test]
    fn calls_after_stop_are_canceled() {
        let rt = ClientRuntime::start("rt-stop").unwrap();
        let shared = rt.owner.shared.clone();
        let running = rt.call(|| async {
            glommio::timer::sleep(Duration::from_secs(60)).await;
        });
        drop(rt);
        assert_eq!(running.wait(), Err(Canceled));
        assert_eq!(call_on(&shared, || async { 1 }).wait(), Err(Canceled));
    }

    #[test]
    fn local_handles_reach_their_object() {
        struct Counter(Cell<u32>);
        let rt = ClientRuntime::start("rt-local").unwrap();
        let handle: LocalHandle<Counter> = rt
            .install(|| async { Ok::<_, ClientError>(Rc::new(Counter(Cell::new(0)))) })
            .wait()
            .unwrap();
        for want in 1..=3 {
            let got = handle
                .call(|c| async move {
                    c.0.set(c.0.get() + 1);
                    c.0.get()
                })
                .wait();
            assert_eq!(got, Ok(want));
        }
        assert!(
            LocalHandle::register(Rc::new(1u8)).is_none(),
            "not a runtime thread"
        );
        let id = handle.id;
        drop(handle);
        let gone = rt.call(move || async move { lookup::<Counter>(id).is_none() });
        assert_eq!(gone.wait(), Ok(true));
    }
}
