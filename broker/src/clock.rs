//! The broker's one clock: every read of time on the request path, the
//! store's record timestamps and every timer of a shard's tasks go through
//! the [`Clock`] the runtime passes to each [`crate::shard::Shard`] and to
//! its store's disk, so a test or a simulation drives time by hand
//! ([`ManualClock`]). The clock is the store's time seam
//! ([`bolide_store::io::time`]), shared so both read the same time.

pub use bolide_store::io::time::{Clock, ManualClock, SharedClock, Sleep, SystemClock};
