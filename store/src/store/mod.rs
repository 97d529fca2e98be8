//! [`ShardStore`]: one shard's storage engine, owned by one executor
//! thread and shared as `Rc` by that shard's tasks.
//!
//! Append path: validate → (async mode: wait while more than two write
//! buffers are unwritten or too much is not durable) → reserve bytes in the
//! write buffer and encode the record straight into it → async mode: copy
//! it to the tail ring (`log::tail`) → dispatch (consume-queue unit,
//! key-index entries, listener) → sync mode: wait for the group commit
//! covering the record; async and memory modes: wake the writer task once
//! a buffer filled up (see `flush.rs`). No `RefCell` borrow is ever held
//! across an `.await`.

mod flush;
mod maintenance;
mod notify;
mod persist;
mod prealloc;
mod query;
mod raw;
mod read;
mod recovery;
mod tail;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ahash::AHashMap;
use bolide_proto::consume_queue::CqUnit;
use bolide_proto::delay::SCHEDULE_TOPIC;
use bolide_proto::ids::{GlobalOffset, PhysicalOffset, QueueOffset, ShardId};
use bolide_proto::message::{property, AppendStamp, NewMessage, Properties, BLANK_HEADER_BYTES};
use bolide_proto::tags::tags_code;

use crate::config::{FlushMode, StoreConfig, IO_PAGE_BYTES};
use crate::cq::ConsumeQueue;
use crate::error::{Result, StoreError};
use crate::io::{task, Storage};
use crate::keyindex::KeyIndex;
use crate::layout::topic_is_valid;
use crate::log::buffer::{WriteBuffers, MIN_CHUNK_BYTES};
use crate::log::tail::TailRing;
use crate::log::windows::ReadWindows;

use flush::FlushState;
use prealloc::Prealloc;

pub use notify::Notify;
pub use raw::RawAppend;
pub use read::{GetRequest, GetResult, RecordFilter};
pub use recovery::RecoveryReport;

/// Where and when a record was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Shard-tagged offset, as written into the record and seen by clients.
    pub global_offset: GlobalOffset,
    pub physical_offset: PhysicalOffset,
    pub queue_offset: QueueOffset,
    pub size_bytes: u32,
    pub store_timestamp_ms: i64,
}

/// A record just made visible in a consume queue (for long polling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched<'a> {
    pub topic: Rc<str>,
    pub queue_id: u32,
    pub queue_offset: u64,
    pub tags_code: i64,
    /// The record's properties (property filters of parked pulls).
    pub properties: &'a str,
}

/// Called for every dispatched record.
pub type DispatchListener = Box<dyn Fn(&Dispatched<'_>)>;

type Queues = AHashMap<Rc<str>, AHashMap<u32, ConsumeQueue>>;

/// One shard's store. Create with [`ShardStore::open`].
pub struct ShardStore<S: Storage> {
    config: StoreConfig,
    shard: ShardId,
    dir: PathBuf,
    storage: S,
    bufs: RefCell<WriteBuffers<S>>,
    /// Async mode: a copy of the unwritten log that outlives the process.
    tail: RefCell<Option<TailRing<S::Tail>>>,
    /// Recently read stretches of written log (`log::windows`).
    read_windows: RefCell<ReadWindows>,
    segments: RefCell<BTreeMap<u64, Option<Rc<S::File>>>>,
    flush: RefCell<FlushState>,
    flushed: Notify,
    /// Segments written since their last fdatasync.
    unsynced: RefCell<Vec<Rc<S::File>>>,
    /// Wakes the async-mode writer task (a chunk filled up).
    writer_kick: Rc<Notify>,
    /// Sync-mode zero-fill ahead of the log writes (`prealloc.rs`).
    prealloc: RefCell<Prealloc>,
    /// Wakes the pre-allocation task (the log frontier moved).
    prealloc_kick: Rc<Notify>,
    /// A zero write finished (log writes overlapping it wait for this).
    zeroed_notify: Notify,
    /// Woken whenever the log grows (and at close): replication streams wait on it.
    grown: Notify,
    queues: RefCell<Queues>,
    cq_files: RefCell<AHashMap<PathBuf, Rc<S::File>>>,
    index: RefCell<KeyIndex>,
    listener: RefCell<Option<DispatchListener>>,
    log_min: Cell<u64>,
    disk_permille: Cell<u32>,
    /// Rate-limits the log line of refused appends.
    refusals: RateLimit,
    dispatched_since_checkpoint: Cell<u64>,
    checkpointing: Cell<bool>,
    closed: Cell<bool>,
    kick: Rc<Notify>,
    maintenance: RefCell<Vec<task::JoinHandle<()>>>,
}

impl<S: Storage> std::fmt::Debug for ShardStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardStore")
            .field("shard", &self.shard)
            .field("dir", &self.dir)
            .field("write_pos", &self.bufs.borrow().write_pos())
            .field("durable", &self.flush.borrow().durable)
            .finish()
    }
}

impl<S: Storage> ShardStore<S> {
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }
    pub fn shard(&self) -> ShardId {
        self.shard
    }
    pub(crate) fn log_dir(&self) -> PathBuf {
        self.dir.join("commitlog")
    }
    pub(crate) fn cq_root(&self) -> PathBuf {
        self.dir.join("consumequeue")
    }
    /// The shard directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub(crate) fn now_ms(&self) -> i64 {
        self.storage.clock().now_ms()
    }

    /// The clock of the store's disk ([`Storage::clock`]).
    pub(crate) fn clock(&self) -> &crate::io::time::SharedClock {
        self.storage.clock()
    }

    /// Installs the hook called for every dispatched record (long polling).
    pub fn set_dispatch_listener(&self, listener: DispatchListener) {
        *self.listener.borrow_mut() = Some(listener);
    }

    /// Offset the next record will get.
    pub fn write_offset(&self) -> PhysicalOffset {
        PhysicalOffset(self.bufs.borrow().write_pos())
    }
    /// Log bytes below this offset are durable.
    pub fn durable_offset(&self) -> PhysicalOffset {
        PhysicalOffset(self.flush.borrow().durable)
    }
    /// Sync mode: log writes handed to the device and not yet completed,
    /// which acknowledgements wait for (0 in the other modes).
    pub fn log_writes_in_flight(&self) -> usize {
        self.flush.borrow().writes.in_flight()
    }
    /// Oldest physical offset still stored.
    pub fn min_log_offset(&self) -> PhysicalOffset {
        PhysicalOffset(self.log_min.get())
    }

    /// Appends one message.
    pub async fn append(&self, msg: NewMessage) -> Result<AppendResult> {
        let mut results = self.append_batch(std::slice::from_ref(&msg)).await?;
        results
            .pop()
            .ok_or_else(|| StoreError::MessageIllegal("empty batch".into()))
    }

    /// Appends messages of one topic and queue with consecutive queue
    /// offsets, as one unit: all are encoded before any wait.
    pub async fn append_batch(&self, msgs: &[NewMessage]) -> Result<Vec<AppendResult>> {
        self.check_appendable()?;
        let batch_bytes = self.validate_batch(msgs)?;
        if self.config.flush_mode.writes_behind() {
            self.apply_backpressure(batch_bytes).await?;
        }
        let (results, tags_codes) = self.append_in_memory(msgs)?;
        match self.config.flush_mode {
            FlushMode::Sync => {
                let end = self.bufs.borrow().write_pos();
                self.wait_durable(end).await?;
                // Long polls wake once readers may see the records.
                self.notify_appended(msgs, &results, &tags_codes);
            }
            FlushMode::Async | FlushMode::Memory => {
                self.notify_appended(msgs, &results, &tags_codes);
                if self.bufs.borrow().has_sealed() {
                    self.writer_kick.notify_all();
                }
            }
        }
        Ok(results)
    }

    /// Async and memory modes: waits while more than two write buffers
    /// are unwritten or more than `max_unflushed_bytes` are not durable;
    /// async mode also until the tail ring has room for `batch_bytes`
    /// more unwritten bytes.
    async fn apply_backpressure(&self, batch_bytes: u64) -> Result<()> {
        let (write_pos, active_start) = {
            let bufs = self.bufs.borrow();
            (bufs.write_pos(), bufs.active_start())
        };
        let (written, durable) = {
            let st = self.flush.borrow();
            (st.written, st.durable)
        };
        let unwritten_limit = 2 * self.config.write_buffer_bytes as u64;
        if write_pos - written > unwritten_limit {
            let target = (write_pos - unwritten_limit).min(active_start);
            self.wait_written(target).await?;
            self.check_appendable()?;
        }
        let backlog_limit = self.config.max_unflushed_bytes;
        if write_pos - durable > backlog_limit {
            self.wait_durable(write_pos - backlog_limit / 2).await?;
            self.check_appendable()?;
        }
        self.make_tail_room(batch_bytes).await
    }

    /// Async mode: writes the log out (a round) until the tail ring can
    /// take `batch_bytes` more without overwriting unwritten bytes. Rare:
    /// the ring holds four write buffers.
    async fn make_tail_room(&self, batch_bytes: u64) -> Result<()> {
        let Some(capacity) = self.tail.borrow().as_ref().map(|t| t.capacity()) else {
            return Ok(());
        };
        if batch_bytes > capacity {
            return Err(StoreError::MessageIllegal(format!(
                "batch of {batch_bytes} bytes exceeds the tail ring ({capacity})"
            )));
        }
        loop {
            let write_pos = self.bufs.borrow().write_pos();
            if write_pos + batch_bytes - self.flush.borrow().written <= capacity {
                return Ok(());
            }
            self.wait_durable(write_pos).await?;
            self.check_appendable()?;
        }
    }

    fn check_appendable(&self) -> Result<()> {
        if self.closed.get() {
            return Err(StoreError::Unavailable("store is closed".into()));
        }
        let st = self.flush.borrow();
        if let Some(e) = &st.failed {
            return Err(StoreError::Unavailable(format!(
                "an earlier flush failed: {e}"
            )));
        }
        let used = self.disk_permille.get();
        let limit = self.config.disk_hard_watermark_permille;
        if used >= limit || st.stalled.is_some() {
            let e = StoreError::DiskFull {
                used_permille: used,
                limit_permille: limit,
            };
            self.refusals.note(self.now_ms(), || {
                tracing::warn!(shard = self.shard.0, error = %e, "appends refused: disk full");
            });
            return Err(e);
        }
        Ok(())
    }

    /// Checks every message; returns the batch's encoded size.
    fn validate_batch(&self, msgs: &[NewMessage]) -> Result<u64> {
        let first = msgs
            .first()
            .ok_or_else(|| StoreError::MessageIllegal("empty batch".into()))?;
        if !topic_is_valid(&first.topic) {
            return Err(StoreError::MessageIllegal(format!(
                "bad topic name {:?}",
                first.topic
            )));
        }
        for m in msgs {
            if m.topic != first.topic || m.queue_id != first.queue_id {
                return Err(StoreError::MessageIllegal(
                    "batch mixes topics or queues".into(),
                ));
            }
            m.validate()
                .map_err(|e| StoreError::MessageIllegal(e.to_string()))?;
            if m.encoded_len() > self.config.max_message_bytes {
                let (len, max) = (m.encoded_len(), self.config.max_message_bytes);
                return Err(StoreError::MessageIllegal(format!(
                    "record of {len} bytes exceeds {max}"
                )));
            }
        }
        // A segment-end filler per record at most (a batch may roll
        // segments), and a page filler per chunk sealed, the round's too.
        let bytes: usize = msgs
            .iter()
            .map(|m| m.encoded_len() + BLANK_HEADER_BYTES)
            .sum();
        let seals = 2 + bytes / MIN_CHUNK_BYTES;
        Ok((bytes + seals * (IO_PAGE_BYTES + BLANK_HEADER_BYTES)) as u64)
    }

    /// The tag code of a unit (on append and on recovery's re-dispatch):
    /// the hash of `tags`, or for the schedule topic the delivery time
    /// (see `bolide_proto::delay`).
    pub(crate) fn unit_tags_code(
        &self,
        topic: &str,
        queue_id: u32,
        props: Properties<'_>,
        tags: Option<&str>,
        store_ms: i64,
    ) -> i64 {
        match topic == SCHEDULE_TOPIC {
            true => self
                .config
                .delay_levels
                .deliver_at_ms(props, queue_id, store_ms),
            false => tags_code(tags),
        }
    }

    /// Encodes and dispatches; no await, so the batch is contiguous in the
    /// log and in its queue.
    fn append_in_memory(&self, msgs: &[NewMessage]) -> Result<(Vec<AppendResult>, Vec<i64>)> {
        let now = self.now_ms();
        let mut results = Vec::with_capacity(msgs.len());
        let mut tags_codes = Vec::with_capacity(msgs.len());
        {
            let mut bufs = self.bufs.borrow_mut();
            let mut queues = self.queues.borrow_mut();
            let mut index = self.index.borrow_mut();
            let mut tail = self.tail.borrow_mut();
            let queue = queue_entry(&mut queues, &msgs[0].topic, msgs[0].queue_id);
            for m in msgs {
                let len = m.encoded_len();
                let queue_offset = QueueOffset(queue.max_offset());
                let before = bufs.write_pos();
                let (pos, slot) = bufs.reserve(len, !self.config.replica);
                let global =
                    GlobalOffset::new(self.shard, PhysicalOffset(pos)).ok_or_else(|| {
                        StoreError::Unavailable("physical offset space exhausted".into())
                    })?;
                let stamp = AppendStamp {
                    queue_offset,
                    physical_offset: global,
                    store_timestamp: now,
                };
                if let Err(e) = m.encode_into(stamp, slot) {
                    bufs.unreserve(pos, len);
                    return Err(StoreError::MessageIllegal(e.to_string()));
                }
                if let Some(tail) = tail.as_mut() {
                    tail.put(pos, slot);
                    tail.put_fillers(&bufs, before, pos);
                }
                // Read the few properties dispatch needs from the message
                // itself, in one pass: it was just encoded from them.
                let [tags, keys, uniq] = Properties(&m.properties).get_many([
                    property::TAGS,
                    property::KEYS,
                    property::UNIQ_KEY,
                ]);
                let props = Properties(&m.properties);
                let tags = self.unit_tags_code(&m.topic, m.queue_id, props, tags, now);
                queue.push(CqUnit {
                    physical_offset: PhysicalOffset(pos),
                    size: len as u32,
                    tags_code: tags,
                });
                index.add_keys(&m.topic, keys, uniq, pos, now);
                tags_codes.push(tags);
                results.push(AppendResult {
                    global_offset: global,
                    physical_offset: PhysicalOffset(pos),
                    queue_offset,
                    size_bytes: len as u32,
                    store_timestamp_ms: now,
                });
            }
        }
        let bytes: u64 = results.iter().map(|r| r.size_bytes as u64).sum();
        let dispatched = self.dispatched_since_checkpoint.get() + bytes;
        self.dispatched_since_checkpoint.set(dispatched);
        if dispatched >= self.config.checkpoint_trigger_bytes {
            self.kick.notify_all();
        }
        self.grown.notify_all();
        Ok((results, tags_codes))
    }

    /// Tells the dispatch listener (long polling) about appended records.
    fn notify_appended(&self, msgs: &[NewMessage], results: &[AppendResult], tags_codes: &[i64]) {
        let events: Vec<(u64, i64, &str)> = (msgs.iter().zip(results).zip(tags_codes))
            .map(|((m, r), tags)| (r.queue_offset.0, *tags, m.properties.as_str()))
            .collect();
        self.notify_listener(&msgs[0].topic, msgs[0].queue_id, &events);
    }

    /// The end of the log readers may see. In sync mode only what is
    /// durable: a record a crash can still take back is never handed to a
    /// consumer, who could otherwise commit past a position that is then
    /// reused (found by the simulation). The other modes answer before
    /// durability, and promise accordingly less (see [`FlushMode`]).
    pub(crate) fn visible_end(&self) -> u64 {
        match self.config.flush_mode {
            FlushMode::Sync => self.flush.borrow().durable,
            FlushMode::Async | FlushMode::Memory => u64::MAX,
        }
    }

    fn notify_listener(&self, topic: &str, queue_id: u32, events: &[(u64, i64, &str)]) {
        let listener = self.listener.borrow();
        let Some(listener) = listener.as_ref() else {
            return;
        };
        let topic: Rc<str> = Rc::from(topic);
        for (queue_offset, tags_code, properties) in events {
            listener(&Dispatched {
                topic: topic.clone(),
                queue_id,
                queue_offset: *queue_offset,
                tags_code: *tags_code,
                properties,
            });
        }
    }

    /// True once [`close`](Self::close) began.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// True when an earlier flush failed (appends are refused).
    pub fn is_poisoned(&self) -> bool {
        self.flush.borrow().failed.is_some()
    }
}

/// Lets a log line through at most once per `LOG_EVERY_MS`, so a refused
/// stream of appends cannot flood the log.
#[derive(Debug, Default)]
pub(crate) struct RateLimit {
    last_ms: Cell<Option<i64>>,
}

impl RateLimit {
    const LOG_EVERY_MS: i64 = 10_000;

    pub(crate) fn note(&self, now_ms: i64, log: impl FnOnce()) {
        let due = self
            .last_ms
            .get()
            .is_none_or(|t| now_ms - t >= Self::LOG_EVERY_MS);
        if due {
            self.last_ms.set(Some(now_ms));
            log();
        }
    }
}

/// The queue for (`topic`, `queue_id`), created empty if missing.
fn queue_entry<'a>(queues: &'a mut Queues, topic: &str, queue_id: u32) -> &'a mut ConsumeQueue {
    if !queues.contains_key(topic) {
        queues.insert(Rc::from(topic), AHashMap::new());
    }
    let per_topic = queues.get_mut(topic).expect("inserted above");
    per_topic
        .entry(queue_id)
        .or_insert_with(|| ConsumeQueue::new(0, 0, Vec::new()))
}

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod disk_tests;
#[cfg(test)]
mod tests;
