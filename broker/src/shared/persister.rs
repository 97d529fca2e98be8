//! The config persister: one thread that writes the dirty control-plane
//! files (topics, groups, offsets, delay offsets) every
//! [`super::PERSIST_INTERVAL`] or on request, off every executor, and makes
//! a last pass once the broker's shard threads have exited.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{lock, Tables, FAILURE_LOG_INTERVAL, FLUSH_WAIT, PERSIST_INTERVAL};

/// Flush requests and their progress, shared by requesters and the thread.
#[derive(Debug)]
pub(super) struct FlushState {
    /// Last ticket handed out.
    pub(super) requested: u64,
    /// Every ticket up to this one has had its pass.
    pub(super) completed: u64,
    /// Outcome of the last pass.
    pub(super) last: Result<(), String>,
    pub(super) stop: bool,
    /// The thread has made its last pass and returned.
    pub(super) exited: bool,
}

impl Default for FlushState {
    fn default() -> Self {
        FlushState {
            requested: 0,
            completed: 0,
            last: Ok(()),
            stop: false,
            exited: false,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Signal {
    pub(super) state: Mutex<FlushState>,
    pub(super) changed: Condvar,
}

impl Signal {
    /// Waits until a flush is asked for, the interval passes, or stop;
    /// returns the ticket the coming pass satisfies and whether to stop.
    pub(super) fn wait_for_work(&self, interval: Duration) -> (u64, bool) {
        let deadline = Instant::now() + interval;
        let mut state = lock(&self.state);
        loop {
            let now = Instant::now();
            if state.stop || state.requested > state.completed || now >= deadline {
                return (state.requested, state.stop);
            }
            state = match self.changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    pub(super) fn complete(&self, ticket: u64, outcome: Result<(), String>, exited: bool) {
        let mut state = lock(&self.state);
        state.completed = state.completed.max(ticket);
        state.last = outcome;
        state.exited = exited;
        self.changed.notify_all();
    }

    /// Waits (blocking, at most [`FLUSH_WAIT`]) until `done` holds.
    pub(super) fn wait_until(&self, done: impl Fn(&FlushState) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + FLUSH_WAIT;
        let mut state = lock(&self.state);
        while !done(&state) {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("config not persisted within {FLUSH_WAIT:?}"));
            }
            state = match self.changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state.last.clone()
    }

    /// Tells the persister to make its last pass and waits for it.
    pub(super) fn stop_and_wait(&self) -> Result<(), String> {
        lock(&self.state).stop = true;
        self.changed.notify_all();
        self.wait_until(|s| s.exited)
    }
}

/// The persister thread: a pass every [`PERSIST_INTERVAL`] or on request,
/// and a last one when stopped.
pub(super) fn persist_loop(tables: Arc<Tables>, dir: PathBuf, signal: Arc<Signal>) {
    let mut failing_since: Option<Instant> = None;
    let mut last_logged = Instant::now();
    loop {
        let (ticket, stop) = signal.wait_for_work(PERSIST_INTERVAL);
        let outcome = tables.flush_dirty(&dir);
        match (&outcome, failing_since) {
            (Err(e), None) => {
                tracing::error!(error = %e, "cannot persist broker config; will retry every second");
                (failing_since, last_logged) = (Some(Instant::now()), Instant::now());
            }
            (Err(e), Some(since)) if last_logged.elapsed() >= FAILURE_LOG_INTERVAL => {
                tracing::error!(error = %e, failing_for = ?since.elapsed(), "still cannot persist broker config");
                last_logged = Instant::now();
            }
            (Ok(()), Some(since)) => {
                tracing::info!(failed_for = ?since.elapsed(), "broker config persisted again");
                failing_since = None;
            }
            _ => {}
        }
        signal.complete(ticket, outcome, stop);
        if stop {
            return;
        }
    }
}

/// The running persister; dropping it runs the last pass and joins it.
#[derive(Debug)]
pub(super) struct Persister {
    pub(super) signal: Arc<Signal>,
    pub(super) thread: Option<JoinHandle<()>>,
}

impl Persister {
    pub(super) fn start(tables: Arc<Tables>, dir: PathBuf) -> Result<Self, String> {
        let signal = Arc::new(Signal::default());
        let thread_signal = signal.clone();
        let thread = std::thread::Builder::new()
            .name("bolide-persist".into())
            .spawn(move || persist_loop(tables, dir, thread_signal))
            .map_err(|e| format!("cannot start the config persister thread: {e}"))?;
        Ok(Persister {
            signal,
            thread: Some(thread),
        })
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        lock(&self.signal.state).stop = true;
        self.signal.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The shard threads attached by [`BrokerShared::attach_shard_thread`].
#[derive(Debug)]
pub(super) struct ShardThreads {
    pub(super) alive: AtomicUsize,
    pub(super) signal: Arc<Signal>,
}

/// Lives in a shard thread's thread-locals, so it is dropped when the
/// thread exits — before joining that thread returns.
#[derive(Debug)]
pub(super) struct ShardThreadToken(pub(super) Arc<ShardThreads>);

impl Drop for ShardThreadToken {
    fn drop(&mut self) {
        if self.0.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Err(e) = self.0.signal.stop_and_wait() {
                tracing::error!(error = %e, "broker config not fully persisted at shutdown");
            }
        }
    }
}

thread_local! {
    pub(super) static SHARD_THREAD_TOKENS: RefCell<Vec<ShardThreadToken>> = const { RefCell::new(Vec::new()) };
}
