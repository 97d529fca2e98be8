//! Segment pre-allocation (sync mode): a background task keeps the commit
//! log zero-filled ahead of the log writes, so a group-commit round
//! overwrites blocks that are already allocated and part of the file, and
//! its fdatasync flushes data only (appending to a growing file makes every
//! fdatasync also commit file size / extents to the file-system journal,
//! about doubling its latency on ext4).
//!
//! * The task zeroes, in aligned chunks of at most 64 KiB (and
//!   `write_buffer_bytes`), from the highest page any log write covered
//!   (`frontier`) up to `preallocate_ahead_bytes` past it: the rest of the
//!   active segment, then the next segment, which it creates (like
//!   RocketMQ's pre-allocated mapped files). It runs in batches: once less
//!   than half the window is left it refills the whole window, then
//!   fdatasyncs each file it extended, so the metadata commit happens off
//!   the append path, once per batch. While more than a quarter of the
//!   window is left a refill is paced by the log: it zeroes two bytes per
//!   log byte written, in chunks of at most 64 KiB (a burst of zero writes,
//!   or a large one, would sit in front of a round's write-through write
//!   on the device, which showed as millisecond p99s); below a quarter, or
//!   once the log has written nothing for a millisecond, it runs flat out.
//! * Large rounds (a sixteenth of a write buffer or more: batches, many
//!   senders) pay their own metadata commit once for many records,
//!   while zeroing ahead of them costs a completion, and on an idle
//!   executor a park and a wake, per 64 KiB zeroed: that halved durable
//!   batched throughput. While rounds are large, a refill earns no
//!   allowance and waits, idle or not ([`refill_paced`]); the writes
//!   overtake the zeroed window and append as without pre-allocation. The
//!   first small round ends it, and the refill starts flat out.
//! * Log writes go through write-through (`O_DSYNC`) handles; the task
//!   zeroes through a plain handle of its own, so a zero write is one
//!   ordinary write and its batch is made durable by one fdatasync.
//! * Before zeroing, the task allocates the window's blocks in one call
//!   (`StorageFile::allocate`, fallocate), so zero writes overwrite
//!   allocated blocks too. An extending write takes ext4's inode lock
//!   exclusively: io_uring hands it to a worker thread, and every log write
//!   to the same file that meets the held lock goes the same way. Zeroing
//!   by extending writes sent 39% of the log's writes to worker threads
//!   under 64 sync senders; allocating first, none.
//! * `open` fills the first window before returning (so the first appends
//!   already overwrite); 64 MiB by default, about 0.1 s.
//! * It never zeroes a page a log write covered or may be covering: it
//!   starts at or past `frontier`, and a log write whose range overlaps the
//!   zero write in flight waits for it (`write_chunk`). Single-threaded
//!   executor: the check and the claim happen without an await between.
//! * If the writer outruns it (or zeroing fails, e.g. `ENOSPC`), the writer
//!   just appends as before: pre-allocation is an optimisation only, and a
//!   failure is logged and disables it until the store is reopened. It
//!   zeroes nothing while the disk is above the soft watermark (checked
//!   before every chunk): pre-allocated space never pushes the disk toward
//!   the hard watermark, where sends are refused.
//! * Recovery: zeroes read as an invalid record head (TOTALSIZE 0, magic
//!   0), so zeroed space after the last valid record ends the log like any
//!   torn tail; recovery truncates it (counted in `truncated_bytes`) and
//!   deletes pre-created segments past the end, and the task fills them
//!   again after the reopen.

use std::rc::Rc;

use crate::config::{FlushMode, IO_PAGE_BYTES};
use crate::error::{Result, StoreError};
use crate::io::task::spawn_local;
use crate::io::{align_up, IoBuf, Storage, StorageFile};
use crate::layout::{file_name, segment_base};

use super::ShardStore;

/// Largest single zero write: short enough that a round queued behind it
/// on the device is not held up long.
const ZERO_CHUNK_BYTES: u64 = 64 << 10;

/// No log write for this long: the device is the refill's alone.
const IDLE_AFTER: std::time::Duration = std::time::Duration::from_millis(1);

/// Bytes a paced refill may zero per log byte written: more than one, so
/// the window grows back while the log advances.
const ZEROES_PER_LOG_BYTE: u64 = 2;

/// A round of at least this share of a write buffer (256 KiB of the
/// default 4 MiB) is large: see the module docs.
const LARGE_ROUND_BUFFER_SHARE: u64 = 16;
/// ... and never fewer pages than this.
const LARGE_ROUND_MIN_PAGES: u64 = 4;

/// Zero-fill bookkeeping shared by the log writer and the zeroing task.
#[derive(Debug, Default)]
pub(crate) struct Prealloc {
    /// Log bytes below this offset were zeroed (or written by the log).
    pub zeroed: u64,
    /// Page-aligned end of the highest log write issued.
    pub frontier: u64,
    /// The zero write in flight, `[start, end)` in log offsets.
    pub zeroing: Option<(u64, u64)>,
    /// Zeroing failed once; it stays off until reopen.
    pub disabled: bool,
    /// A refill is under way (it continues at the next kick).
    pub refilling: bool,
    /// Bytes a paced refill may zero before the log writes more.
    pub allowance: u64,
    /// The last sync-mode round was large (see the module docs).
    pub streaming: bool,
}

/// Whether a refill zeroes its next chunk only against allowance (else it
/// runs flat out): unless `forced` (at open), always while rounds are
/// large (`streaming`, which earns no allowance); otherwise unless the log
/// is `idle` or at most a quarter of the `ahead` window is `left`.
fn refill_paced(forced: bool, idle: bool, streaming: bool, left: u64, ahead: u64) -> bool {
    !forced && (streaming || (!idle && left > ahead / 4))
}

/// What the zeroing task keeps between chunks: one zero buffer, a plain
/// handle on the segment it is filling, and how far into that segment
/// blocks are allocated.
struct ZeroFill<S: Storage> {
    zeros: Option<Rc<S::Buf>>,
    file: Option<(u64, Rc<S::File>)>,
    allocated: u64,
}

impl<S: Storage> Default for ZeroFill<S> {
    fn default() -> Self {
        Self {
            zeros: None,
            file: None,
            allocated: 0,
        }
    }
}

/// Segment bytes to allocate before zeroing `[start, end)` of a segment
/// (offsets within it) whose first `allocated` bytes are allocated: none
/// while the chunk is inside, else a whole window `ahead` from `start`,
/// capped at the segment's size `seg`, so one allocation serves many
/// chunks.
fn allocation_for(start: u64, end: u64, allocated: u64, ahead: u64, seg: u64) -> Option<u64> {
    (end > allocated).then(|| (start + ahead).max(end).min(seg))
}

impl<S: Storage> ShardStore<S> {
    /// Positions pre-allocation at a recovered log end `end`.
    pub(super) fn prealloc_start_at(&self, end: u64) {
        let page = align_up(end, self.storage.alignment());
        let mut p = self.prealloc.borrow_mut();
        p.zeroed = page;
        p.frontier = page;
        p.zeroing = None;
    }

    /// Called before a log write of `[start, end)`: waits for an
    /// overlapping zero write, then claims the range.
    pub(super) async fn claim_for_log_write(&self, start: u64, end: u64) {
        loop {
            let seen = self.zeroed_notify.generation();
            let busy = self
                .prealloc
                .borrow()
                .zeroing
                .is_some_and(|(s, e)| s < end && start < e);
            if !busy {
                break;
            }
            self.zeroed_notify.wait_past(seen).await;
        }
        let mut p = self.prealloc.borrow_mut();
        p.frontier = p.frontier.max(end);
        if !p.streaming {
            p.allowance += (end - start) * ZEROES_PER_LOG_BYTE;
        }
    }

    /// A sync-mode round of `bytes` is being written: a large one makes
    /// the log stream (see the module docs), a small one ends it. Judged
    /// per round, not per write, as a round's writes end at buffer
    /// boundaries and its last one may be short.
    pub(super) fn note_round_bytes(&self, bytes: u64) {
        let large = bytes >= self.large_round_bytes();
        self.prealloc.borrow_mut().streaming = large;
    }

    /// A round at least this long amortises its own metadata commit
    /// (never one of a few pages: a round of one small record is a page).
    fn large_round_bytes(&self) -> u64 {
        let share = self.config.write_buffer_bytes as u64 / LARGE_ROUND_BUFFER_SHARE;
        share.max(LARGE_ROUND_MIN_PAGES * IO_PAGE_BYTES as u64)
    }

    pub(super) fn start_preallocator(self: &Rc<Self>) {
        if self.config.flush_mode != FlushMode::Sync || self.config.preallocate_ahead_bytes == 0 {
            return;
        }
        let weak = Rc::downgrade(self);
        let kick = self.prealloc_kick.clone();
        let clock = self.clock().clone();
        let task = spawn_local(async move {
            let mut fill = ZeroFill::default();
            let mut idle = false;
            loop {
                let seen = kick.generation();
                let paced_out = {
                    let Some(store) = weak.upgrade() else { return };
                    let zeroed = store.zero_ahead(&mut fill, false, idle).await;
                    if let Err(e) = &zeroed {
                        tracing::warn!(shard = store.shard.0, error = %e,
                            "segment pre-allocation failed; appends extend segments instead");
                        store.prealloc.borrow_mut().disabled = true;
                    }
                    if store.closed.get() || store.prealloc.borrow().disabled {
                        return;
                    }
                    zeroed.unwrap_or(false)
                };
                let kicked = async {
                    kick.wait_past(seen).await;
                    true
                };
                // Only a refill waiting for its allowance also wakes when
                // the log goes quiet.
                let quiet = async {
                    match paced_out {
                        true => clock.sleep(IDLE_AFTER).await,
                        false => std::future::pending().await,
                    }
                    false
                };
                idle = !futures_lite::future::or(kicked, quiet).await;
            }
        })
        .detach();
        self.maintenance.borrow_mut().push(task);
    }

    /// At open (sync mode): zero-fills the window ahead of the log end
    /// before the first append, so appends start on allocated blocks.
    pub(super) async fn preallocate_at_open(&self) {
        if self.config.flush_mode != FlushMode::Sync || self.config.preallocate_ahead_bytes == 0 {
            return;
        }
        let mut fill = ZeroFill::default();
        if let Err(e) = self.zero_ahead(&mut fill, true, false).await {
            tracing::warn!(shard = self.shard.0, error = %e,
                "segment pre-allocation failed; appends extend segments instead");
            self.prealloc.borrow_mut().disabled = true;
        }
    }

    /// Zeroes chunks until the log is zero-filled `preallocate_ahead_bytes`
    /// past the frontier. Unless `force`, a refill starts only once less
    /// than half of that is left, and is paced while more than a quarter
    /// is left: it zeroes only what the log writes since allow (the task
    /// is kicked after every log write), so a round never queues behind a
    /// burst of zero writes, unless the log is `idle`. fdatasyncs a file
    /// when its segment is full or the refill is done. Returns true when
    /// the refill stopped for want of allowance.
    async fn zero_ahead(&self, fill: &mut ZeroFill<S>, force: bool, idle: bool) -> Result<bool> {
        let seg = self.config.segment_size_bytes;
        let ahead = self.config.preallocate_ahead_bytes;
        let chunk = (self.config.write_buffer_bytes as u64).min(ZERO_CHUNK_BYTES);
        {
            let mut p = self.prealloc.borrow_mut();
            let left = p.zeroed.max(p.frontier) - p.frontier;
            if !force && !p.refilling && left >= ahead / 2 {
                return Ok(false);
            }
            if !p.refilling {
                p.allowance = 0;
            }
            p.refilling = true;
        }
        loop {
            let (start, end) = {
                let mut p = self.prealloc.borrow_mut();
                let start = p.zeroed.max(p.frontier);
                if self.closed.get() || p.disabled || self.is_poisoned() {
                    return Ok(false);
                }
                if self.above_soft_watermark() {
                    // Space is for records: appends extend segments instead.
                    p.refilling = false;
                    return Ok(false);
                }
                if start >= p.frontier + ahead {
                    p.refilling = false;
                    return Ok(false);
                }
                let end = (start + chunk).min(segment_base(start, seg) + seg);
                let paced = refill_paced(force, idle, p.streaming, start - p.frontier, ahead);
                if paced && p.allowance < end - start {
                    return Ok(true);
                }
                p.allowance = p.allowance.saturating_sub(end - start);
                p.zeroing = Some((start, end));
                (start, end)
            };
            let outcome = self.zero_range(start, end, fill).await;
            self.prealloc.borrow_mut().zeroing = None;
            self.zeroed_notify.notify_all();
            let file = outcome?;
            let done = {
                let mut p = self.prealloc.borrow_mut();
                p.zeroed = p.zeroed.max(end);
                p.zeroed.saturating_sub(p.frontier) >= ahead
            };
            if done || end % seg == 0 {
                file.sync()
                    .await
                    .map_err(|e| StoreError::io("fdatasync of a pre-allocated segment", &e))?;
            }
            if done {
                self.prealloc.borrow_mut().refilling = false;
                return Ok(false);
            }
        }
    }

    /// Re-reads disk usage (one statvfs per zero chunk) and compares it
    /// with the soft watermark, above which retention starts deleting.
    fn above_soft_watermark(&self) -> bool {
        self.refresh_disk_usage();
        self.disk_permille.get() >= self.config.disk_soft_watermark_permille
    }

    async fn zero_range(
        &self,
        start: u64,
        end: u64,
        fill: &mut ZeroFill<S>,
    ) -> Result<Rc<S::File>> {
        let base = segment_base(start, self.config.segment_size_bytes);
        let seg = self.config.segment_size_bytes;
        let file = match &fill.file {
            Some((b, f)) if *b == base => f.clone(),
            _ => {
                // Creates (durably) and registers the segment for the log.
                self.segment_file(base, true).await?;
                let path = self.log_dir().join(file_name(base));
                let plain = self
                    .storage
                    .open(&path, false)
                    .await
                    .map_err(|e| StoreError::io(format!("opening {}", path.display()), &e))?;
                let plain = Rc::new(plain);
                fill.file = Some((base, plain.clone()));
                fill.allocated = 0;
                plain
            }
        };
        let ahead = self.config.preallocate_ahead_bytes;
        if let Some(len) = allocation_for(start - base, end - base, fill.allocated, ahead, seg) {
            file.allocate(len).await.map_err(|e| {
                StoreError::io(format!("allocating segment {}", file_name(base)), &e)
            })?;
            fill.allocated = len;
        }
        let len = (end - start) as usize;
        let full_chunk = (self.config.write_buffer_bytes as u64).min(ZERO_CHUNK_BYTES);
        let buf = match &fill.zeros {
            Some(b) if b.len() == len => b.clone(),
            _ => {
                let b = Rc::new(self.storage.alloc_buf(len));
                if len as u64 == full_chunk {
                    fill.zeros = Some(b.clone());
                }
                b
            }
        };
        file.write_at(buf, start - base)
            .await
            .map_err(|e| StoreError::io(format!("zero-filling segment {}", file_name(base)), &e))?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::{allocation_for, refill_paced};

    #[test]
    fn a_window_is_allocated_once_per_window_and_never_past_the_segment() {
        let (ahead, seg) = (64 << 20, 1 << 30);
        // (start, end, allocated) -> allocate up to
        let cases = [
            ((0, 65536, 0), Some(ahead)),
            ((65536, 131072, ahead), None),
            ((ahead - 65536, ahead, ahead), None),
            ((ahead, ahead + 65536, ahead), Some(2 * ahead)),
            // A refill that starts later than the allocation reached.
            ((3 * ahead, 3 * ahead + 4096, ahead), Some(4 * ahead)),
            ((seg - 65536, seg, seg - 65536), Some(seg)),
        ];
        for ((start, end, allocated), want) in cases {
            assert_eq!(
                allocation_for(start, end, allocated, ahead, seg),
                want,
                "start {start} end {end} allocated {allocated}"
            );
        }
        // A window smaller than a chunk still covers the chunk.
        assert_eq!(allocation_for(0, 8192, 0, 4096, seg), Some(8192));
    }

    #[test]
    fn a_refill_is_paced_under_large_rounds_and_else_unless_forced_idle_or_short() {
        let ahead = 64 << 20;
        // (forced, idle, streaming, left) -> paced
        let cases = [
            ((false, false, false, ahead / 2), true),
            ((false, false, false, ahead / 4 + 1), true),
            ((false, false, false, ahead / 4), false),
            ((false, false, false, 0), false),
            ((false, false, true, ahead / 2), true),
            // Large writes: paced even with little left, and when idle,
            // so zeroing never competes with them; they overtake it.
            ((false, false, true, 0), true),
            ((false, true, true, 0), true),
            ((false, true, false, ahead / 2), false),
            ((true, false, true, ahead / 2), false),
        ];
        for ((forced, idle, streaming, left), paced) in cases {
            assert_eq!(
                refill_paced(forced, idle, streaming, left, ahead),
                paced,
                "forced {forced} idle {idle} streaming {streaming} left {left}"
            );
        }
    }
}
