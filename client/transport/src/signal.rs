//! Waiting for Ctrl-C / SIGTERM in a server binary.
//!
//! [`block_termination_signals`] must run first in `main`, before any thread
//! starts, so every thread inherits the blocked mask and the signals queue
//! up for [`wait_for_termination`] instead of killing the process mid-write.

use std::mem::MaybeUninit;

fn termination_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset only touches it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
        libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
        set.assume_init()
    }
}

/// Blocks SIGINT and SIGTERM in this thread and all threads it starts later.
pub fn block_termination_signals() {
    let set = termination_set();
    // SAFETY: a valid, initialised set; a null old-set pointer is allowed.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits until SIGINT or SIGTERM arrives; returns the signal number.
pub fn wait_for_termination() -> i32 {
    let set = termination_set();
    let mut signal = 0;
    // SAFETY: a valid set and a valid out-pointer.
    unsafe {
        libc::sigwait(&set, &mut signal);
    }
    signal
}
