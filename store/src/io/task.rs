//! Tasks: where the store meets its executor. The store's background work
//! (maintenance, the async-mode writer, segment pre-allocation) runs as
//! tasks spawned here, and its tests run their futures on an executor made
//! here. Everything else the store does goes through the other halves of
//! the seam: disks through [`Storage`](super::Storage), time (every sleep
//! and reading) through [`Clock`](super::time::Clock). So this module,
//! [`dma`](super::dma) and [`time`](super::time)'s system clock are the
//! only places that name the executor (glommio): one place to read for a
//! newcomer, and one to change for another runtime.
//!
//! The executor is single-threaded: tasks are not `Send` and run on the
//! thread that spawned them.

/// Starts `future` as a task of the current executor, polling it at once
/// (inside this call) up to its first wait. Dropping the returned task
/// cancels it, unless it was detached.
pub use glommio::spawn_local;

/// What detaching a task returns: a handle that can still cancel the task
/// or await its end.
pub use glommio::task::JoinHandle;

/// Runs the future `make` builds to completion on a new executor thread.
/// (`LocalExecutorBuilder::make().run()` on the test thread fails every
/// DMA read with EOPNOTSUPP on this kernel; a spawned executor works.)
#[cfg(test)]
pub(crate) fn run_on_new_executor<G, F>(make: G) -> F::Output
where
    G: FnOnce() -> F + Send + 'static,
    F: std::future::Future + 'static,
    F::Output: Send + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(make)
        .expect("spawn executor")
        .join()
        .expect("executor thread")
}
