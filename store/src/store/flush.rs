//! Flushing the commit log: group commit, write-behind and syncs.
//!
//! Two offsets track the disk: `written` (log bytes below it were written,
//! maybe not yet durable) and `durable` (written *and* covered by a
//! completed fdatasync). `durable` only ever advances after a sync, or in
//! sync mode, where segments are opened write-through (`O_DSYNC`), as soon
//! as the write itself completes: a round is then one device request and
//! its fdatasync step has nothing left to do.
//!
//! A round seals its last chunk with a page filler (`log::buffer`), so the
//! next round's write never rewrites a page this one wrote: a torn or
//! failed write cannot damage a record an earlier round acknowledged.
//! In async and memory modes at most one task writes at a time
//! (`flushing`), one write in flight, so order on disk is order in the log.
//! Sync mode (below) lets rounds overlap instead.
//!
//! * A **round** (sync-mode group commit, async interval, checkpoint,
//!   close) seals the appended bytes, writes every sealed chunk, gives up
//!   the writer role and fdatasyncs every segment written since the last
//!   sync, so the next round's write overlaps this round's fdatasync.
//!   Whoever needs durability and finds no writer running and no sync in
//!   flight that covers its target leads the next round; everyone else
//!   waits and re-checks. So concurrent sync appends share one write +
//!   fdatasync, and a failed write or sync answers every waiter with its
//!   error and poisons the store (it refuses appends until reopened;
//!   recovery then decides what is on disk) — except a write that found
//!   the disk full: its chunk is kept, appends are refused (`stalled`) and
//!   maintenance retries it until space returns, so nothing appended is
//!   lost and no restart is needed. Chunks are moved to the read
//!   cache as soon as they are written and put back when their write fails,
//!   so appended records stay readable from memory either way.
//! * **Write-behind** (async mode) is done by one writer task: it writes
//!   the chunks that filled up, without sealing the active one, and syncs
//!   once `flush_trigger_bytes` are written but unsynced. It steps aside
//!   as soon as someone asks for a round. Async appenders wait for it when
//!   more than two write buffers are unwritten, so a disk slower than the
//!   CPU slows appenders instead of growing memory, and the executor gets
//!   to submit the I/O even when appenders never yield on their own.
//!
//! * **Overlapping rounds** (sync mode, not on a replica, whose rounds
//!   share pages): `flushing` covers only a round's sealing and hand-out,
//!   so up to [`MAX_ROUNDS_IN_FLIGHT`] rounds write at once; a waiter
//!   starts one beside those in flight only once a page of appends waits
//!   (else it joins the next, sharing its device flush).
//!   Writes complete in any order; `written` = `durable` advances over the
//!   gap-free prefix (`log::writes`), and a failed write holds it there
//!   until written again.
//! * **Pre-allocation** (sync mode, `prealloc.rs`): a background task keeps
//!   the log zero-filled ahead of the writes (the rest of the active
//!   segment, then the next segment, created ahead of time), so a round's
//!   write overwrites allocated blocks and its fdatasync commits data only.
//!   `write_chunk` claims its range first (waiting for an overlapping zero
//!   write) and kicks the task afterwards. A segment the task has not
//!   reached yet is created here on demand and appended to, as before.
//!
//! glommio hands queued I/O to the kernel only when it polls its rings,
//! which it does once no task is runnable (or on preemption). So after a
//! write completes, the writer queues the next one and lets the reactor
//! turn once before waking appenders: the device keeps working while they
//! fill the next buffer.

use std::rc::Rc;
use std::time::Duration;

use crate::config::{FlushMode, IO_PAGE_BYTES};
use crate::error::{Result, StoreError};
use crate::io::{IoBuf, Storage, StorageFile};
use crate::layout::{file_name, segment_base};
use crate::log::buffer::Sealed;
use crate::log::writes::WritesInFlight;

use super::ShardStore;

/// A pause just long enough that the executor polls its rings (and so
/// submits queued I/O) before the waiting task resumes.
const REACTOR_TURN: Duration = Duration::from_micros(20);

/// Sync mode: rounds whose writes may be in flight at once per shard. More
/// keep the device busier while appenders wait; each round still carries
/// every append that was ready when it sealed.
const MAX_ROUNDS_IN_FLIGHT: usize = 4;

/// Sync mode: unwritten bytes that start a round while another is in
/// flight (a page); less waits for that round and joins the next. With 64
/// senders of 1 KiB on a device flushing in ~40 us, starting at a page
/// carried 142-165k sends/s against 129-133k when a round waited for
/// 256 KiB: waiting for the round in flight costs more than a flush.
const OVERLAP_MIN_BYTES: u64 = IO_PAGE_BYTES as u64;

/// State shared by appenders and the flusher.
#[derive(Debug, Default)]
pub(crate) struct FlushState {
    /// Log bytes below this offset are written, perhaps not yet durable.
    pub written: u64,
    /// Log bytes below this offset are durable.
    pub durable: u64,
    /// A writer (round or write-behind) is running; in sync mode, a round
    /// is sealing and handing out its chunks.
    pub flushing: bool,
    /// Someone waits for a round: write-behind steps aside.
    pub round_wanted: bool,
    /// The highest `written` an in-flight round's fdatasync will cover.
    pub syncing_upto: u64,
    /// Set by the first failed write or sync; every later wait fails.
    pub failed: Option<StoreError>,
    /// A log write found the disk full. Its chunk stays in memory (and, in
    /// async mode, in the tail ring); appends and waits are refused until
    /// maintenance writes it out (`retry_stalled`), once space returns.
    pub stalled: Option<StoreError>,
    /// Sync mode: the writes of rounds in flight at once.
    pub writes: WritesInFlight,
}

impl FlushState {
    /// The error every wait answers right now, if any.
    fn refusal(&self) -> Option<StoreError> {
        self.failed.clone().or_else(|| self.stalled.clone())
    }
}

/// True for write errors that only mean "no space": nothing was lost, the
/// same write can succeed later.
pub(crate) fn is_out_of_space(e: &StoreError) -> bool {
    use std::io::ErrorKind::{QuotaExceeded, StorageFull};
    matches!(
        e,
        StoreError::Io {
            kind: StorageFull | QuotaExceeded,
            ..
        }
    )
}

impl<S: Storage> ShardStore<S> {
    /// Resolves once log bytes below `target` are durable, leading flush
    /// rounds as needed.
    pub(crate) async fn wait_durable(&self, target: u64) -> Result<()> {
        if self.rounds_overlap() {
            return self.wait_written_through(target).await;
        }
        loop {
            let seen = {
                let mut st = self.flush.borrow_mut();
                if let Some(e) = st.refusal() {
                    return Err(e);
                }
                if st.durable >= target {
                    return Ok(());
                }
                st.round_wanted |= st.flushing;
                (st.flushing || st.syncing_upto >= target).then(|| self.flushed.generation())
            };
            match seen {
                Some(generation) => self.flushed.wait_past(generation).await,
                None => self.lead_round().await,
            }
        }
    }

    /// Sync mode's [`wait_durable`](Self::wait_durable): a round holds the
    /// writer role only while it seals and hands out its chunks, so the
    /// next round can start while its writes are in flight.
    async fn wait_written_through(&self, target: u64) -> Result<()> {
        loop {
            let seen = {
                let st = self.flush.borrow();
                if let Some(e) = st.refusal() {
                    return Err(e);
                }
                if st.durable >= target {
                    return Ok(());
                }
                let in_flight = st.writes.in_flight();
                let pending =
                    self.bufs.borrow().write_pos() - st.writes.handed_out().max(st.written);
                let busy = st.flushing
                    || st.writes.covers(target)
                    || in_flight >= MAX_ROUNDS_IN_FLIGHT
                    || (in_flight > 0 && pending < OVERLAP_MIN_BYTES);
                busy.then(|| self.flushed.generation())
            };
            match seen {
                Some(generation) => self.flushed.wait_past(generation).await,
                None => self.lead_overlapping_round().await,
            }
        }
    }

    /// Leads a sync-mode round: seals, hands its chunks out, gives up the
    /// writer role, then writes them in order while later rounds may write
    /// theirs. `written` (= `durable`) advances over the gap-free prefix.
    async fn lead_overlapping_round(&self) {
        self.flush.borrow_mut().flushing = true;
        // Let appenders that are ready to run join this round.
        futures_lite::future::yield_now().await;
        self.seal_round();
        let mut chunks = std::collections::VecDeque::new();
        {
            let mut bufs = self.bufs.borrow_mut();
            let mut st = self.flush.borrow_mut();
            while let Some(chunk) = bufs.pop_sealed() {
                st.writes.submit(chunk.end);
                chunks.push_back(chunk);
            }
            st.flushing = false;
        }
        self.note_round_bytes(chunks.iter().map(|c| c.buf.len() as u64).sum());
        self.flushed.notify_all();
        while let Some(chunk) = chunks.pop_front() {
            if let Err(e) = self.write_chunk(&chunk).await {
                chunks.push_front(chunk);
                self.hand_back(chunks.into(), e);
                return;
            }
            let prefix = self.flush.borrow_mut().writes.complete(chunk.end);
            if let Some(written) = prefix {
                self.bufs.borrow_mut().mark_written_below(written);
                let mut st = self.flush.borrow_mut();
                st.written = st.written.max(written);
                st.durable = st.durable.max(written);
            }
            self.flushed.notify_all();
        }
    }

    /// A round's write failed: its unwritten chunks go back in line (they
    /// stay readable, and a stalled log writes them again), the log stalls
    /// or is poisoned, and every waiter hears it.
    fn hand_back(&self, chunks: Vec<Rc<Sealed<S::Buf>>>, e: StoreError) {
        {
            let mut st = self.flush.borrow_mut();
            for chunk in &chunks {
                st.writes.fail(chunk.end);
            }
        }
        self.bufs.borrow_mut().restore_unwritten(chunks);
        self.note_write_failure(e);
        self.flushed.notify_all();
    }

    /// Rounds may overlap: sync mode's write-through writes, on a log that
    /// pads every round to a page (not a replica's, see `log::buffer`).
    fn rounds_overlap(&self) -> bool {
        self.log_writes_through() && !self.config.replica
    }

    /// Resolves once log bytes below `target` are written (async-mode
    /// backpressure; the writer task writes). `target` must not pass
    /// [`WriteBuffers::active_start`](crate::log::buffer::WriteBuffers::active_start).
    pub(crate) async fn wait_written(&self, target: u64) -> Result<()> {
        loop {
            let generation = {
                let st = self.flush.borrow();
                if let Some(e) = st.refusal() {
                    return Err(e);
                }
                if st.written >= target {
                    return Ok(());
                }
                self.flushed.generation()
            };
            self.writer_kick.notify_all();
            self.flushed.wait_past(generation).await;
        }
    }

    /// Writes the chunks that filled up, unless a writer is already
    /// running; returns when none is left or a round is wanted.
    pub(crate) async fn write_behind(&self) {
        let idle = {
            let st = self.flush.borrow();
            !st.flushing && st.refusal().is_none()
        };
        if idle && self.bufs.borrow().has_sealed() {
            self.flush.borrow_mut().flushing = true;
            let outcome = self.write_sealed(u64::MAX, false).await;
            self.end_writing(outcome);
        }
    }

    /// Leads a round: its writes hold the writer role; its fdatasync does
    /// not, so the next round's writes overlap it.
    async fn lead_round(&self) {
        {
            let mut st = self.flush.borrow_mut();
            st.flushing = true;
            st.round_wanted = false;
        }
        if let Err(e) = self.round_writes().await {
            self.end_writing(Err(e));
            return;
        }
        let covered = {
            let mut st = self.flush.borrow_mut();
            st.syncing_upto = st.syncing_upto.max(st.written);
            st.written
        };
        let files = std::mem::take(&mut *self.unsynced.borrow_mut());
        self.end_writing(Ok(()));
        let synced = self.sync_files(covered, files).await;
        if let Err(e) = synced {
            // Another round may hold the writer role now: only poison.
            self.poison(e);
        }
        self.refresh_disk_usage();
        self.flushed.notify_all();
    }

    fn poison(&self, e: StoreError) {
        tracing::error!(shard = self.shard.0, error = %e, "commit log flush failed; store poisoned");
        self.flush.borrow_mut().failed.get_or_insert(e);
    }

    /// Gives up the writer role; a failed write stalls the log when the
    /// disk is full and poisons the store otherwise.
    fn end_writing(&self, outcome: Result<()>) {
        self.flush.borrow_mut().flushing = false;
        if let Err(e) = outcome {
            self.note_write_failure(e);
        }
        self.flushed.notify_all();
    }

    /// A failed log write stalls the log when the disk is full and poisons
    /// the store otherwise.
    fn note_write_failure(&self, e: StoreError) {
        match e {
            e if is_out_of_space(&e) => {
                // Retried every tick while the disk stays full: log rarely.
                self.refusals.note(self.now_ms(), || {
                    tracing::error!(shard = self.shard.0, error = %e,
                        "commit log write found the disk full; appends refused until space returns");
                });
                self.flush.borrow_mut().stalled = Some(e);
            }
            e => self.poison(e),
        }
    }

    /// Maintenance: after a disk-full stall, tries the held writes again.
    /// Returns true once the log is writable again.
    pub(crate) async fn retry_stalled(&self) -> bool {
        if self.flush.borrow_mut().stalled.take().is_none() {
            return true;
        }
        let end = self.bufs.borrow().write_pos();
        match self.wait_durable(end).await {
            Ok(()) => {
                tracing::info!(
                    shard = self.shard.0,
                    "disk space returned; commit log writes resumed"
                );
                true
            }
            Err(_) => false,
        }
    }

    async fn round_writes(&self) -> Result<()> {
        // Let appenders that are ready to run join this round.
        futures_lite::future::yield_now().await;
        let upto = self.seal_round();
        self.write_sealed(upto, true).await
    }

    /// Seals everything appended for a round, padded to a page boundary
    /// unless the log copies a master's; returns the write position.
    fn seal_round(&self) -> u64 {
        let mut bufs = self.bufs.borrow_mut();
        let before = bufs.write_pos();
        let upto = bufs.seal_all(!self.config.replica);
        if let Some(tail) = self.tail.borrow_mut().as_mut() {
            tail.put_fillers(&bufs, before, upto);
        }
        upto
    }

    /// Writes sealed chunks in order until the log is written up to
    /// `limit` or no sealed chunk is left; write-behind (not `round`) also
    /// stops once a round is wanted and syncs whenever the trigger is
    /// reached.
    async fn write_sealed(&self, limit: u64, round: bool) -> Result<()> {
        let mut progressed = false;
        loop {
            {
                let st = self.flush.borrow();
                if st.written >= limit || (!round && st.round_wanted) {
                    return Ok(());
                }
            }
            let Some(chunk) = self.bufs.borrow_mut().pop_sealed() else {
                return Ok(());
            };
            let written = if progressed {
                // Wake waiters only once this write is with the kernel.
                let wake = async {
                    self.clock().sleep(REACTOR_TURN).await;
                    self.flushed.notify_all();
                };
                futures_lite::future::zip(self.write_chunk(&chunk), wake)
                    .await
                    .0
            } else {
                self.write_chunk(&chunk).await
            };
            if let Err(e) = written {
                self.bufs.borrow_mut().restore_unwritten(vec![chunk]);
                return Err(e);
            }
            let end = chunk.end;
            self.bufs.borrow_mut().mark_written(vec![chunk]);
            let unsynced = {
                let mut st = self.flush.borrow_mut();
                st.written = st.written.max(end);
                if self.log_writes_through() {
                    st.durable = st.durable.max(st.written);
                }
                st.written - st.durable
            };
            progressed = true;
            if !round && unsynced >= self.config.flush_trigger_bytes {
                self.sync_written().await?;
            }
        }
    }

    async fn write_chunk(&self, chunk: &Sealed<S::Buf>) -> Result<()> {
        let base = segment_base(chunk.start, self.config.segment_size_bytes);
        let end = chunk.start + chunk.buf.len() as u64;
        self.claim_for_log_write(chunk.start, end).await;
        let file = self.segment_file(base, true).await?;
        let written = file.write_at(chunk.buf.clone(), chunk.start - base).await;
        self.prealloc_kick.notify_all();
        written.map_err(|e| StoreError::io(format!("writing segment {}", file_name(base)), &e))?;
        if self.log_writes_through() {
            return Ok(());
        }
        let mut unsynced = self.unsynced.borrow_mut();
        if !unsynced.iter().any(|f| Rc::ptr_eq(f, &file)) {
            unsynced.push(file);
        }
        Ok(())
    }

    /// fdatasyncs every segment written since the last sync; then what was
    /// written before the syncs started is durable.
    async fn sync_written(&self) -> Result<()> {
        let covered = self.flush.borrow().written;
        let files = std::mem::take(&mut *self.unsynced.borrow_mut());
        self.sync_files(covered, files).await
    }

    /// fdatasyncs `files` (every segment written before `covered` was
    /// read and not yet synced), then makes `covered` durable. With no
    /// files, syncs already in flight cover everything written
    /// (`syncing_upto`), so `durable` is left to them.
    async fn sync_files(&self, covered: u64, files: Vec<Rc<S::File>>) -> Result<()> {
        for (i, file) in files.iter().enumerate() {
            if let Err(e) = file.sync().await {
                self.unsynced
                    .borrow_mut()
                    .extend(files[i..].iter().cloned());
                return Err(StoreError::io("fdatasync of a segment", &e));
            }
        }
        let mut st = self.flush.borrow_mut();
        if !files.is_empty() && st.failed.is_none() {
            st.durable = st.durable.max(covered);
        }
        Ok(())
    }

    /// The open file of the segment at `base`; with `create`, creates it
    /// (and makes its directory entry durable) when missing. Segments are
    /// created by the first log write or zero-fill (`prealloc.rs`) that
    /// reaches them, whichever comes first; a pre-allocated one is already
    /// `segment_size_bytes` long (zeroes past the log end).
    pub(crate) async fn segment_file(&self, base: u64, create: bool) -> Result<Rc<S::File>> {
        let known = self.segments.borrow().get(&base).cloned();
        if let Some(Some(file)) = known {
            return Ok(file);
        }
        if known.is_none() && !create {
            return Err(StoreError::corrupt(
                "commit log",
                format!("no segment {}", file_name(base)),
            ));
        }
        let path = self.log_dir().join(file_name(base));
        let create = known.is_none();
        let opened = if self.log_writes_through() {
            self.storage.open_write_through(&path, create).await
        } else {
            self.storage.open(&path, create).await
        };
        let file = opened.map_err(|e| StoreError::io(format!("opening {}", path.display()), &e))?;
        if known.is_none() {
            self.storage
                .sync_dir(&self.log_dir())
                .await
                .map_err(|e| StoreError::io("syncing the commit log directory", &e))?;
        }
        let file = Rc::new(file);
        self.segments.borrow_mut().insert(base, Some(file.clone()));
        Ok(file)
    }

    /// Sync mode writes the log through `O_DSYNC` handles: a completed
    /// write is durable, so a round is one device request (write plus cache
    /// flush) instead of a write, a reactor turn and an fdatasync.
    pub(crate) fn log_writes_through(&self) -> bool {
        self.config.flush_mode == FlushMode::Sync
    }

    /// Re-reads disk usage from the I/O layer.
    pub(crate) fn refresh_disk_usage(&self) {
        match self.storage.disk_usage(&self.dir) {
            Ok(u) => self.disk_permille.set(u.used_permille()),
            Err(e) => tracing::warn!(error = %e, "disk usage unavailable"),
        }
    }
}
