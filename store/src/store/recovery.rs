//! Opening a shard: detect an unclean shutdown (abort marker), find the log
//! end, truncate a torn tail, load consume queues and the index, and
//! re-dispatch the records past the checkpoint.
//!
//! * Clean (no abort marker, valid checkpoint): the log ends at the
//!   checkpoint's `log_durable`; nothing is validated.
//! * Unclean: records are validated (layout, CRC, stored offset) from the
//!   checkpoint's `dispatched` on; the first invalid one ends the log and
//!   everything after it is truncated. Queue units at or past `dispatched`
//!   are dropped and rebuilt from the log, so work grows with the dirty
//!   tail, not with the data size.
//! * Pre-allocated space (sync mode, see `prealloc.rs`) is zeroes: a zero
//!   TOTALSIZE/magic is an invalid record head, so it ends the log like a
//!   torn tail, gets truncated (counted in `preallocated_bytes_released`,
//!   not as torn bytes) and segments past the end are deleted; the
//!   zero-fill is redone after the open.
//! * A new directory (no marker, checkpoint or log) is a clean start.
//!   A blank filler has to be a page filler (exactly
//!   [`page_filler_len`](crate::layout::page_filler_len) long) or end
//!   exactly at its segment's end.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use ahash::AHashMap;
use bolide_proto::consume_queue::CqUnit;
use bolide_proto::ids::{GlobalOffset, PhysicalOffset, ShardId};
use bolide_proto::message::{peek_head, property, RecordHead, RecordView};

use crate::checkpoint::Checkpoint;
use crate::config::StoreConfig;
use crate::cq::{decode_units, file_path, queue_dir, ConsumeQueue};
use crate::error::{Result, StoreError};
use crate::index::format::{IndexFile, IndexHeader, IndexLayout, HEADER_BYTES};
use crate::io::{align_down, Storage, StorageFile};
use crate::keyindex::KeyIndex;
use crate::layout::{page_filler_len, parse_file_name, segment_base, shard_dir};
use crate::log::buffer::WriteBuffers;

use super::flush::FlushState;
use super::notify::Notify;
use super::{queue_entry, ShardStore};

/// Bytes read per step while scanning the log.
const SCAN_WINDOW_BYTES: usize = 1 << 20;

/// What opening the store found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// No abort marker and a valid checkpoint: nothing was validated.
    pub clean: bool,
    pub checkpoint_found: bool,
    /// Where validation / re-dispatch started.
    pub scan_from: u64,
    /// The log end after recovery.
    pub log_end: u64,
    /// Bytes cut off the end of the log (torn or garbage tail).
    pub truncated_bytes: u64,
    /// Zeroes past the log end (sync mode's pre-allocation, the padding of
    /// the last page), cut at open; pre-allocation is redone afterwards.
    pub preallocated_bytes_released: u64,
    /// Bytes below the checkpoint's durable offset that failed validation
    /// (should be 0; non-zero means the disk lost acknowledged data).
    pub lost_durable_bytes: u64,
    pub records_redispatched: u64,
    pub cq_units_dropped: u64,
    /// Async mode: records appended back from the tail ring (acknowledged
    /// or not, they were in memory when the process died).
    pub records_from_tail: u64,
}

impl std::fmt::Display for RecoveryReport {
    /// One line for the operator: how the shard was found and what it cost.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.clean {
            return write!(f, "clean start, log ends at {}", self.log_end);
        }
        write!(
            f,
            "recovered after an unclean stop: scanned {} bytes from {}, re-dispatched {} records, \
             {} from the tail ring, cut {} torn bytes, log ends at {}",
            self.log_end.saturating_sub(self.scan_from),
            self.scan_from,
            self.records_redispatched,
            self.records_from_tail,
            self.truncated_bytes,
            self.log_end
        )?;
        if self.lost_durable_bytes > 0 {
            write!(f, "; {} DURABLE BYTES LOST", self.lost_durable_bytes)?;
        }
        Ok(())
    }
}

fn io_err(what: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::io(what, &e)
}

impl<S: Storage> ShardStore<S> {
    /// Opens (creating if needed) `<data_dir>/shard-<k>` and recovers it.
    pub async fn open(
        storage: S,
        config: StoreConfig,
        data_dir: &Path,
        shard: ShardId,
    ) -> Result<(Rc<Self>, RecoveryReport)> {
        config.validate()?;
        let dir = shard_dir(data_dir, shard.0);
        Self::open_dir(storage, config, dir, shard, None).await
    }

    /// Closes this store and opens its directory again with the log cut at
    /// `end` (a record boundary): records from `end` on are dropped from
    /// the log, the consume queues, the key index and the tail ring, as a
    /// slave does when its master's log turned out shorter. Appends and
    /// reads must go to the returned store.
    pub async fn reopen_truncated(&self, end: u64) -> Result<(Rc<Self>, RecoveryReport)> {
        if let Err(e) = self.close().await {
            // The open below validates the whole dirty tail anyway.
            tracing::warn!(shard = self.shard.0, "closing before a truncation: {e}");
        }
        let tail = self.dir.join("tail");
        if self.storage.exists(&tail).await.unwrap_or(true) {
            // Its records past `end` must not come back at the next crash.
            self.storage
                .remove_file(&tail)
                .await
                .map_err(io_err("removing the tail ring"))?;
        }
        let (storage, config) = (self.storage.clone(), self.config.clone());
        Self::open_dir(storage, config, self.dir.clone(), self.shard, Some(end)).await
    }

    async fn open_dir(
        storage: S,
        config: StoreConfig,
        dir: std::path::PathBuf,
        shard: ShardId,
        truncate_to: Option<u64>,
    ) -> Result<(Rc<Self>, RecoveryReport)> {
        for sub in ["commitlog", "consumequeue", "index"] {
            storage
                .create_dir_all(&dir.join(sub))
                .await
                .map_err(io_err("creating the shard directory"))?;
        }
        let abort = dir.join("abort");
        let unclean = truncate_to.is_some()
            || storage
                .exists(&abort)
                .await
                .map_err(io_err("checking the abort marker"))?;
        let checkpoint = read_checkpoint(&storage, &dir).await?;
        drop(
            storage
                .open(&abort, true)
                .await
                .map_err(io_err("creating the abort marker"))?,
        );
        storage
            .sync_dir(&dir)
            .await
            .map_err(io_err("syncing the shard directory"))?;
        let store = Rc::new(Self::empty(storage, config, dir, shard));
        let mut report = store.recover(checkpoint, unclean, truncate_to).await?;
        let replay = unclean && truncate_to.is_none();
        report.records_from_tail = store.open_tail(replay).await?;
        store.checkpoint().await?;
        store.preallocate_at_open().await;
        store.refresh_disk_usage();
        let used = store.disk_permille.get();
        if used >= store.config.disk_soft_watermark_permille {
            tracing::warn!(shard = shard.0, used_permille = used,
                soft = store.config.disk_soft_watermark_permille,
                hard = store.config.disk_hard_watermark_permille,
                "disk above the soft watermark: oldest segments will be deleted early, and sends are refused above the hard one");
        }
        store.start_maintenance();
        store.start_preallocator();
        tracing::info!(shard = shard.0, "store opened: {report}");
        Ok((store, report))
    }

    fn empty(storage: S, config: StoreConfig, dir: std::path::PathBuf, shard: ShardId) -> Self {
        let layout = IndexLayout {
            slot_count: config.index_slot_count,
            max_entries: config.index_max_entries,
        };
        let bufs = WriteBuffers::new(
            storage.clone(),
            config.segment_size_bytes,
            config.write_buffer_bytes,
            config.read_cache_bytes,
            0,
            &[],
        );
        ShardStore {
            shard,
            dir,
            bufs: RefCell::new(bufs),
            tail: RefCell::new(None),
            read_windows: RefCell::default(),
            segments: RefCell::new(BTreeMap::new()),
            flush: RefCell::new(FlushState::default()),
            flushed: Notify::default(),
            unsynced: RefCell::new(Vec::new()),
            writer_kick: Rc::new(Notify::default()),
            prealloc: RefCell::new(Default::default()),
            prealloc_kick: Rc::new(Notify::default()),
            zeroed_notify: Notify::default(),
            grown: Notify::default(),
            queues: RefCell::new(AHashMap::new()),
            cq_files: RefCell::new(AHashMap::new()),
            index: RefCell::new(KeyIndex::new(layout)),
            listener: RefCell::new(None),
            log_min: Cell::new(0),
            disk_permille: Cell::new(0),
            refusals: Default::default(),
            dispatched_since_checkpoint: Cell::new(0),
            checkpointing: Cell::new(false),
            closed: Cell::new(false),
            kick: Rc::new(Notify::default()),
            maintenance: RefCell::new(Vec::new()),
            storage,
            config,
        }
    }

    /// `truncate_to` (with `unclean`) ends the log at most there.
    async fn recover(
        &self,
        cp: Option<Checkpoint>,
        unclean: bool,
        truncate_to: Option<u64>,
    ) -> Result<RecoveryReport> {
        let bases = self.list_segments().await?;
        let log_min = bases
            .first()
            .copied()
            .unwrap_or_else(|| cp.map_or(0, |c| c.log_durable));
        self.log_min.set(log_min);
        // A new directory (no marker, no checkpoint, no log) starts clean.
        let clean = !unclean && (cp.is_some() || bases.is_empty());
        let dispatched = cp.map_or(log_min, |c| c.dispatched.max(log_min));
        let dispatched = truncate_to.map_or(dispatched, |t| dispatched.min(t).max(log_min));
        let mut report = RecoveryReport {
            clean,
            checkpoint_found: cp.is_some(),
            scan_from: dispatched,
            ..Default::default()
        };
        let index_from = self.load_index(dispatched).await?.max(log_min);
        report.cq_units_dropped = self.load_queues(dispatched, !clean).await?;
        let limit = match clean {
            true => cp.map(|c| c.log_durable),
            false => truncate_to,
        };
        let scan_from = index_from.min(dispatched);
        let (end, redispatched) = self.scan_and_dispatch(scan_from, dispatched, limit).await?;
        if clean && limit.is_some_and(|l| l != end) {
            return Err(StoreError::corrupt(
                "commit log",
                format!("clean shutdown at {:?} but records end at {end}", limit),
            ));
        }
        report.records_redispatched = redispatched;
        report.log_end = end;
        let durable = cp.map_or(0, |c| c.log_durable);
        report.lost_durable_bytes = durable.min(limit.unwrap_or(u64::MAX)).saturating_sub(end);
        if report.lost_durable_bytes > 0 {
            tracing::error!(
                lost = report.lost_durable_bytes,
                "records below the durable checkpoint failed validation"
            );
        }
        let preallocated = self.zeroes_at(end).await?;
        let removed = self.truncate_log(end).await?;
        match preallocated {
            true => report.preallocated_bytes_released = removed,
            false => report.truncated_bytes = removed,
        }
        if !clean {
            self.sync_recovered(durable.min(end).max(log_min), end)
                .await?;
        }
        self.start_writing_at(end).await?;
        Ok(report)
    }

    /// After an unclean stop, the log past the last durable checkpoint may
    /// sit only in the page cache (a process crash leaves it there): it is
    /// fdatasynced before the store counts it durable. Otherwise a power
    /// loss later could leave a hole below a checkpoint that vouches for
    /// the bytes, with consume-queue entries pointing into it (found by the
    /// whole-system simulation: a kill, then a power loss).
    async fn sync_recovered(&self, from: u64, end: u64) -> Result<()> {
        let seg = self.config.segment_size_bytes;
        let mut base = segment_base(from, seg);
        while base < end {
            if self.segments.borrow().contains_key(&base) {
                let file = self.segment_file(base, false).await?;
                file.sync()
                    .await
                    .map_err(io_err("fdatasync of a recovered segment"))?;
            }
            base += seg;
        }
        Ok(())
    }

    async fn list_segments(&self) -> Result<Vec<u64>> {
        let entries = self
            .storage
            .list_dir(&self.log_dir())
            .await
            .map_err(io_err("listing the commit log"))?;
        let bases: Vec<u64> = entries
            .iter()
            .filter(|e| !e.is_dir)
            .filter_map(|e| parse_file_name(&e.name))
            .collect();
        let mut segments = self.segments.borrow_mut();
        for b in &bases {
            if b % self.config.segment_size_bytes != 0 {
                return Err(StoreError::corrupt(
                    "commit log",
                    format!("segment {b} is not aligned to the segment size"),
                ));
            }
            segments.insert(*b, None);
        }
        Ok(bases)
    }

    /// Reads validated records from `from` and dispatches them (queues from
    /// `cq_from`, the index from `from`). Returns the log end and the count.
    async fn scan_and_dispatch(
        &self,
        from: u64,
        cq_from: u64,
        limit: Option<u64>,
    ) -> Result<(u64, u64)> {
        let seg = self.config.segment_size_bytes;
        let (mut pos, mut window, mut window_start, mut count) = (from, Vec::new(), from, 0u64);
        loop {
            if limit.is_some_and(|l| pos >= l)
                || !self.segments.borrow().contains_key(&segment_base(pos, seg))
            {
                return Ok((pos, count));
            }
            let seg_end = segment_base(pos, seg) + seg;
            let rel = ((pos - window_start) as usize).min(window.len());
            let need = match peek_head(&window[rel..]) {
                Err(e) if e.is_incomplete() => 8,
                Err(_) => return Ok((pos, count)),
                Ok(RecordHead::Blank(len) | RecordHead::Message(len))
                    if limit.is_some_and(|l| pos + len as u64 > l) =>
                {
                    return Ok((pos, count))
                }
                Ok(RecordHead::Blank(len)) if Some(len as u64) == page_filler_len(pos) => {
                    pos += len as u64;
                    continue;
                }
                Ok(RecordHead::Blank(len)) if pos + len as u64 == seg_end => {
                    pos = seg_end;
                    continue;
                }
                Ok(RecordHead::Blank(_)) => return Ok((pos, count)),
                Ok(RecordHead::Message(len)) if pos + len as u64 + 8 > seg_end => {
                    return Ok((pos, count))
                }
                Ok(RecordHead::Message(len)) => len,
            };
            if window.len() - rel < need {
                let want = need.max(SCAN_WINDOW_BYTES).min((seg_end - pos) as usize);
                window = self.read_segment_raw(pos, want).await?;
                window_start = pos;
                if window.len() < need {
                    return Ok((pos, count));
                }
                continue;
            }
            let Some(view) = self.valid_record(&window[rel..rel + need], pos) else {
                return Ok((pos, count));
            };
            self.dispatch_recovered(&view, pos, pos >= cq_from)?;
            count += 1;
            pos += need as u64;
        }
    }

    pub(super) fn valid_record<'a>(&self, bytes: &'a [u8], pos: u64) -> Option<RecordView<'a>> {
        let view = RecordView::parse(bytes).ok()?;
        let expected = GlobalOffset::new(self.shard, PhysicalOffset(pos))?;
        (view.crc_ok() && view.physical_offset() == expected).then_some(view)
    }

    async fn read_segment_raw(&self, pos: u64, len: usize) -> Result<Vec<u8>> {
        let base = segment_base(pos, self.config.segment_size_bytes);
        let file = self.segment_file(base, false).await?;
        let bytes = file
            .read_at(pos - base, len)
            .await
            .map_err(io_err("reading a segment"))?;
        Ok(bytes.to_vec())
    }

    pub(super) fn dispatch_recovered(
        &self,
        view: &RecordView<'_>,
        pos: u64,
        to_queue: bool,
    ) -> Result<()> {
        self.index.borrow_mut().add_record(view, pos);
        if !to_queue {
            return Ok(());
        }
        let mut queues = self.queues.borrow_mut();
        let q = queue_entry(&mut queues, view.topic(), view.queue_id());
        let offset = view.queue_offset().0;
        if offset != q.max_offset() {
            let detail = format!(
                "record at {pos} has queue offset {offset}, queue expects {}",
                q.max_offset()
            );
            return Err(StoreError::corrupt(
                format!("consume queue {}/{}", view.topic(), view.queue_id()),
                detail,
            ));
        }
        let props = view.properties();
        let tags = self.unit_tags_code(
            view.topic(),
            view.queue_id(),
            props,
            props.get(property::TAGS),
            view.store_timestamp(),
        );
        q.push(CqUnit {
            physical_offset: PhysicalOffset(pos),
            size: view.total_size() as u32,
            tags_code: tags,
        });
        Ok(())
    }

    /// True when the log has nothing but zeroes (pre-allocated space) or
    /// nothing at all at `end`, i.e. no torn record to cut.
    async fn zeroes_at(&self, end: u64) -> Result<bool> {
        let seg = self.config.segment_size_bytes;
        if !self.segments.borrow().contains_key(&segment_base(end, seg)) {
            return Ok(true);
        }
        let len = (segment_base(end, seg) + seg - end).min(8) as usize;
        let head = self.read_segment_raw(end, len).await?;
        Ok(head.iter().all(|b| *b == 0))
    }

    /// Cuts everything at and after `end`; returns the bytes removed.
    async fn truncate_log(&self, end: u64) -> Result<u64> {
        let seg = self.config.segment_size_bytes;
        let bases: Vec<u64> = self
            .segments
            .borrow()
            .keys()
            .copied()
            .filter(|b| b + seg > end)
            .collect();
        let mut removed = 0;
        for base in bases {
            let file = self.segment_file(base, false).await?;
            let size = file.size().await.map_err(io_err("sizing a segment"))?;
            let keep = end.saturating_sub(base);
            if size > keep {
                removed += size - keep;
                file.truncate(keep)
                    .await
                    .map_err(io_err("truncating a segment"))?;
                file.sync()
                    .await
                    .map_err(io_err("syncing a truncated segment"))?;
            }
            if keep == 0 && base > self.log_min.get() {
                drop(file);
                self.segments.borrow_mut().remove(&base);
                let path = self.log_dir().join(crate::layout::file_name(base));
                self.storage
                    .remove_file(&path)
                    .await
                    .map_err(io_err("removing an empty segment"))?;
            }
        }
        self.storage
            .sync_dir(&self.log_dir())
            .await
            .map_err(io_err("syncing the commit log directory"))?;
        Ok(removed)
    }

    /// Positions the write buffers at `end`, loading its partial page.
    async fn start_writing_at(&self, end: u64) -> Result<()> {
        let align = self.storage.alignment();
        let page_start = align_down(end, align);
        let tail = if page_start < end {
            self.read_segment_raw(page_start, (end - page_start) as usize)
                .await?
        } else {
            Vec::new()
        };
        if tail.len() as u64 != end - page_start {
            return Err(StoreError::corrupt(
                "commit log",
                "tail page shorter than the log end",
            ));
        }
        let c = &self.config;
        *self.bufs.borrow_mut() = WriteBuffers::new(
            self.storage.clone(),
            c.segment_size_bytes,
            c.write_buffer_bytes,
            c.read_cache_bytes,
            end,
            &tail,
        );
        {
            let mut st = self.flush.borrow_mut();
            st.written = end;
            st.durable = end;
        }
        self.prealloc_start_at(end);
        if self.segments.borrow().is_empty() {
            self.log_min.set(end);
        }
        Ok(())
    }
}

async fn read_checkpoint<S: Storage>(storage: &S, dir: &Path) -> Result<Option<Checkpoint>> {
    let path = dir.join("checkpoint");
    let file = match storage.open(&path, false).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("opening the checkpoint", &e)),
    };
    let bytes = file
        .read_at(0, crate::checkpoint::ENCODED_BYTES)
        .await
        .map_err(io_err("reading the checkpoint"))?;
    let cp = Checkpoint::decode(&bytes);
    if cp.is_none() {
        tracing::warn!("checkpoint unreadable; recovering from the oldest segment");
    }
    Ok(cp)
}

mod queues;
