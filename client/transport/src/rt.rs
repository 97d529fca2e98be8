//! The runtime seam: the executor primitives the NameServer, the broker and
//! the transport itself use, in one place. glommio is named here (and where
//! a binary starts its executors: the broker's and the client's
//! `runtime.rs`), so a newcomer finds the runtime in one module and a swap
//! of runtime touches this one.
//!
//! What is here:
//! * tasks: [`spawn_local`], [`Task`], [`JoinHandle`], [`yield_if_needed`],
//!   and [`spawn_blocking`] for CPU work off the executor. A spawned task
//!   is polled at once, inside `spawn_local`, up to its first wait; a task
//!   meant to run after the ones ready now yields first;
//! * real-time waits: [`sleep`], [`timeout`]. Protocol time (heartbeats,
//!   expiry, retry pacing) goes through a `Clock` (`bolide_store::io::time`)
//!   where one is at hand, so a simulation can drive it; these are for
//!   waits on things outside that clock — sockets, other threads;
//! * channels and sync between the tasks of one executor:
//!   [`local_channel`], [`Semaphore`];
//! * sockets: [`TcpListener`], [`TcpStream`];
//! * executors: [`new_executor`] for a thread that becomes one, and
//!   [`spawn_executor`] / [`run_on_new_executor`] for a thread of its own;
//!   [`allowed_cpus`], the CPUs a runtime may bind its executors to
//!   (glommio spins before parking only on a bound executor).
//!
//! The executor is single-threaded: tasks, channels and sockets belong to
//! the executor that created them (`Rc`, not `Send`).

use std::future::Future;
use std::io;

pub use glommio::channels::local_channel;
pub use glommio::net::{TcpListener, TcpStream};
pub use glommio::sync::Semaphore;
pub use glommio::task::JoinHandle;
pub use glommio::timer::{sleep, timeout};
pub use glommio::{spawn_local, yield_if_needed, LocalExecutor, Task};

/// Runs `work` on the executor's blocking-thread pool and completes with
/// its result, so the executor keeps serving other tasks meanwhile. The
/// work starts when this is called, not when the future is first polled.
pub fn spawn_blocking<F, R>(work: F) -> impl Future<Output = R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    glommio::executor().spawn_blocking(work)
}

/// An executor for the calling thread, named `name`; [`LocalExecutor::run`]
/// runs a future on it to completion.
pub fn new_executor(name: &str) -> io::Result<LocalExecutor> {
    glommio::LocalExecutorBuilder::default()
        .name(name)
        .make()
        .map_err(|e| io::Error::other(e.to_string()))
}

/// An executor thread started by [`spawn_executor`].
#[derive(Debug)]
pub struct ExecutorThread<T: Send + 'static>(glommio::ExecutorJoinHandle<T>);

impl<T: Send + 'static> ExecutorThread<T> {
    /// Waits for the thread's future to complete; its output. Panics if
    /// the future did.
    pub fn join(self) -> T {
        self.0.join().expect("executor thread")
    }
}

/// Starts a new thread running an executor that runs the future `make`
/// builds. Panics if the thread cannot start.
pub fn spawn_executor<G, F>(make: G) -> ExecutorThread<F::Output>
where
    G: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    let thread = glommio::LocalExecutorBuilder::default()
        .spawn(make)
        .expect("spawn executor");
    ExecutorThread(thread)
}

/// Runs the future `make` builds to completion on a new executor thread
/// (tests, tools); its output.
pub fn run_on_new_executor<G, F>(make: G) -> F::Output
where
    G: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    spawn_executor(make).join()
}

/// The CPUs the calling thread may run on (a container's or `taskset`'s
/// set, not every online CPU); empty if the kernel does not say.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bit set the kernel fills; its size is passed.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        set
    };
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the set's size in bits.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_may_run_on_some_cpu() {
        let allowed = allowed_cpus();
        assert!(!allowed.is_empty());
        assert!(allowed.windows(2).all(|w| w[0] < w[1]), "{allowed:?}");
    }
}
