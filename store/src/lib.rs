//! # bolide-store — one shard's storage engine
//!
//! A [`store::ShardStore`] owns `<data>/shard-<k>/` and is driven by one
//! executor (shared as `Rc` by that shard's tasks):
//!
//! ```text
//! <data>/shard-<k>/
//!   abort                              exists while open; left by a crash
//!   tail                               async mode: the unwritten log tail,
//!                                      mapped shared (`log::tail`)
//!   checkpoint                         durable log offset, what queues/index cover (CRC)
//!   commitlog/<20-digit base offset>   segments of `segment_size_bytes`; records
//!                                      in the stored-record format (remoting.md §5),
//!                                      a blank filler pads each segment's end;
//!                                      in sync mode the space past the log end
//!                                      (and the next segment, created early)
//!                                      is pre-allocated: fallocated, zero-filled, synced
//!   consumequeue/<topic>/<qid>/<20-digit first unit * 20>   20-byte units (§6.1)
//!   index/<20-digit first phys>        key-index files (`index::format`)
//! ```
//!
//! Layers: [`io`] is the I/O seam (`O_DIRECT` files via io_uring, or an
//! in-memory disk that injects faults); `log::buffer`, `log::tail`,
//! `log::follow`, `cq`, [`pull`],
//! [`checkpoint`], [`retention`], [`layout`] and `index::format` are pure
//! logic tested without disks; [`store`] runs them against the I/O.
//!
//! Invariants: a record never spans segments; every write is page aligned
//! and the partial tail page is rewritten as it grows; log writes go out
//! in log order, one at a time, except sync mode's overlapping rounds,
//! whose writes may complete in any order and count only as a gap-free
//! prefix; [`store::ShardStore::durable_offset`] only
//! advances when an fdatasync issued after the covered writes completed
//! returns, or (sync mode, segments opened `O_DSYNC`) when the covering
//! write itself completes; an append reported durable (sync mode, or below
//! `durable_offset`) survives a crash; in async mode every appended byte
//! not yet written is also in the tail ring before the append returns, so
//! an answered append survives a process crash; a record appended in memory stays
//! readable from memory until it is written (even if its write failed and
//! poisoned the store); in sync mode a background task keeps the log
//! allocated and zero-filled `preallocate_ahead_bytes` past the highest
//! log write (whole aligned chunks, fdatasynced by the task), never
//! zeroing a page a log write covered or covers (overlapping log writes
//! wait for the zero write in flight), so group-commit writes flush data, not file-size
//! metadata; zeroes past the last valid record read as an invalid record
//! head, so recovery treats them as the end of the log and truncates them
//! (pre-created segments past the end are deleted); consume-queue unit *i* of a queue points at the
//! record whose QUEUEOFFSET is *i*, and retention deletes queue files only
//! wholly below the queue's minimum (never the last one); memory is
//! bounded by configuration (write buffers — in async mode at most two
//! unwritten —, read cache, queue tails until the next checkpoint, one
//! index file).

pub mod checkpoint;
pub mod config;
pub(crate) mod cq;
pub mod error;
pub mod index;
pub mod io;
pub(crate) mod keyindex;
pub mod layout;
pub(crate) mod log;
pub mod pull;
pub mod retention;
pub mod store;

#[cfg(test)]
pub(crate) mod testutil;

pub use config::{FlushMode, StoreConfig};
pub use error::{Result, StoreError};
