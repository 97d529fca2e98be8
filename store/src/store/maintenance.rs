//! Background work of a shard: the async-mode writer task (write-behind,
//! see `flush.rs`), interval flushes, periodic checkpoints, retention; and
//! clean close.

use std::rc::Rc;
use std::time::Duration;

use bolide_proto::message::RecordView;

use bolide_proto::consume_queue::CQ_UNIT_BYTES;

use crate::cq::{file_path, files_below, queue_dir};
use crate::error::{Result, StoreError};
use crate::io::task::spawn_local;
use crate::io::Storage;
use crate::layout::{file_name, parse_file_name, segment_base};
use crate::retention::{plan_deletions, SegmentInfo};

use super::ShardStore;

impl<S: Storage> ShardStore<S> {
    pub(super) fn start_maintenance(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let kick = self.kick.clone();
        let c = &self.config;
        // At least every second: a disk-full stall is retried on the tick.
        let mut tick_ms = c
            .checkpoint_interval_ms
            .min(c.retention_check_interval_ms)
            .min(1000);
        if c.flush_mode.writes_behind() {
            tick_ms = tick_ms.min(c.flush_interval_ms);
        }
        let task = spawn_local(async move {
            let mut last = Deadlines::default();
            loop {
                let seen = kick.generation();
                let Some(sleep) = weak
                    .upgrade()
                    .map(|s| s.clock().sleep(Duration::from_millis(tick_ms)))
                else {
                    return;
                };
                futures_lite::future::or(sleep, kick.wait_past(seen)).await;
                let Some(store) = weak.upgrade() else { return };
                if store.closed.get() {
                    return;
                }
                store.maintenance_step(&mut last).await;
            }
        })
        .detach();
        self.maintenance.borrow_mut().push(task);
        if c.flush_mode.writes_behind() {
            self.start_writer();
        }
    }

    /// The async-mode writer task: write-behind whenever a chunk fills up.
    fn start_writer(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let kick = self.writer_kick.clone();
        let task = spawn_local(async move {
            loop {
                let seen = kick.generation();
                {
                    let Some(store) = weak.upgrade() else { return };
                    if store.closed.get() {
                        return;
                    }
                    store.write_behind().await;
                }
                kick.wait_past(seen).await;
            }
        })
        .detach();
        self.maintenance.borrow_mut().push(task);
    }

    async fn maintenance_step(&self, last: &mut Deadlines) {
        let now_ms = self.clock().monotonic_ms() as i64;
        // Refused appends write nothing, so nothing else would notice
        // that space came back.
        self.refresh_disk_usage();
        if self.flush.borrow().stalled.is_some() {
            // Retention may be what frees the space.
            if let Err(e) = self.enforce_retention().await {
                tracing::error!(error = %e, "retention failed");
            }
            self.refresh_disk_usage();
            if !self.retry_stalled().await {
                return;
            }
        }
        let write_pos = self.bufs.borrow().write_pos();
        let flush_due = now_ms - last.flush_ms >= self.config.flush_interval_ms as i64;
        if self.config.flush_mode.writes_behind()
            && flush_due
            && write_pos > self.flush.borrow().durable
        {
            last.flush_ms = now_ms;
            // Errors poison the store and reach appenders; nothing to add here.
            let _ = self.wait_durable(write_pos).await;
        }
        let due = now_ms - last.checkpoint_ms >= self.config.checkpoint_interval_ms as i64
            || self.dispatched_since_checkpoint.get() >= self.config.checkpoint_trigger_bytes;
        if due && !self.is_poisoned() {
            last.checkpoint_ms = now_ms;
            if let Err(e) = self.checkpoint().await {
                tracing::error!(error = %e, "checkpoint failed");
            }
        }
        if now_ms - last.retention_ms >= self.config.retention_check_interval_ms as i64 {
            last.retention_ms = now_ms;
            if let Err(e) = self.enforce_retention().await {
                tracing::error!(error = %e, "retention failed");
            }
        }
    }

    /// Deletes expired segments, and oldest ones while disk usage is above
    /// the soft watermark; queues and the index forget what went.
    pub async fn enforce_retention(&self) -> Result<Vec<u64>> {
        self.refresh_disk_usage();
        let usage = self
            .storage
            .disk_usage(&self.dir)
            .map_err(|e| StoreError::io("disk usage", &e))?;
        let infos = self.segment_infos().await?;
        let plan = plan_deletions(
            &infos,
            self.now_ms(),
            self.config.retention_ms(),
            usage,
            self.config.disk_soft_watermark_permille,
        );
        let Some(&newest_deleted) = plan.last() else {
            return Ok(plan);
        };
        let new_min = newest_deleted + self.config.segment_size_bytes;
        self.log_min.set(new_min);
        self.bufs.borrow_mut().forget_below(new_min);
        self.read_windows.borrow_mut().forget_below(new_min);
        for base in &plan {
            self.segments.borrow_mut().remove(base);
            let path = self.log_dir().join(file_name(*base));
            self.storage
                .remove_file(&path)
                .await
                .map_err(|e| StoreError::io("deleting a segment", &e))?;
        }
        self.storage
            .sync_dir(&self.log_dir())
            .await
            .map_err(|e| StoreError::io("syncing the commit log directory", &e))?;
        self.forget_deleted().await?;
        self.refresh_disk_usage();
        tracing::info!(deleted = plan.len(), new_min, "retention deleted segments");
        Ok(plan)
    }

    async fn segment_infos(&self) -> Result<Vec<SegmentInfo>> {
        // Segments past the active one are pre-allocated, never retired.
        let active = segment_base(
            self.bufs.borrow().write_pos(),
            self.config.segment_size_bytes,
        );
        let bases: Vec<u64> = self
            .segments
            .borrow()
            .keys()
            .copied()
            .filter(|b| *b <= active)
            .collect();
        let mut infos = Vec::new();
        for pair in bases.windows(2) {
            // The first record of the next segment bounds this one's newest.
            let newest_ms = self.first_record_time(pair[1]).await;
            infos.push(SegmentInfo {
                base: pair[0],
                size_bytes: self.config.segment_size_bytes,
                newest_ms,
            });
        }
        Ok(infos)
    }

    async fn first_record_time(&self, base: u64) -> Option<i64> {
        if base >= self.bufs.borrow().write_pos() {
            return None;
        }
        let head = self.read_log(base, 8).await.ok()?;
        let len = u32::from_be_bytes(head[..4].try_into().ok()?) as usize;
        let bytes = self.read_log(base, len).await.ok()?;
        RecordView::parse(&bytes).ok().map(|v| v.store_timestamp())
    }

    /// Moves queue minimums past deleted log, deletes queue files wholly
    /// below them and drops expired index files.
    async fn forget_deleted(&self) -> Result<()> {
        let mut queues: Vec<(String, u32, u64, u64)> = {
            let q = self.queues.borrow();
            q.iter()
                .flat_map(|(t, qs)| {
                    qs.iter()
                        .map(move |(id, q)| (t.to_string(), *id, q.min_offset, q.max_offset()))
                })
                .collect()
        };
        queues.sort_unstable();
        for (topic, id, min, max) in queues {
            let new_min = self.first_live_offset(&topic, id, min, max).await?;
            let persisted = {
                let mut queues = self.queues.borrow_mut();
                let Some(q) = queues.get_mut(topic.as_str()).and_then(|t| t.get_mut(&id)) else {
                    continue;
                };
                q.min_offset = q.min_offset.max(new_min);
                q.persisted
            };
            self.delete_queue_files_below(&topic, id, new_min, persisted)
                .await?;
        }
        let dead = self.index.borrow_mut().expire_below(self.log_min.get());
        for name in dead {
            let path = self.dir.join("index").join(file_name(name));
            self.storage
                .remove_file(&path)
                .await
                .map_err(|e| StoreError::io("deleting an index file", &e))?;
        }
        Ok(())
    }

    /// Deletes a queue's files that lie wholly below `min_offset` (never
    /// its last one).
    async fn delete_queue_files_below(
        &self,
        topic: &str,
        queue_id: u32,
        min_offset: u64,
        persisted: u64,
    ) -> Result<()> {
        let upf = self.config.cq_file_units;
        let dir = queue_dir(&self.cq_root(), topic, queue_id);
        let files: Vec<u64> = match self.storage.list_dir(&dir).await {
            Ok(entries) => entries
                .iter()
                .filter_map(|e| parse_file_name(&e.name))
                .filter(|b| b % (upf * CQ_UNIT_BYTES as u64) == 0)
                .map(|b| b / CQ_UNIT_BYTES as u64)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io("listing a consume queue", &e)),
        };
        for first_unit in files_below(&files, min_offset, persisted, upf) {
            let path = file_path(&dir, first_unit);
            self.cq_files.borrow_mut().remove(&path);
            self.storage
                .remove_file(&path)
                .await
                .map_err(|e| StoreError::io("deleting a consume-queue file", &e))?;
        }
        Ok(())
    }

    /// Flushes, checkpoints and removes the abort marker. Appends fail
    /// afterwards. A poisoned store keeps its marker, so the next open
    /// validates the log.
    pub async fn close(&self) -> Result<()> {
        if self.closed.replace(true) {
            return Ok(());
        }
        self.grown.notify_all();
        self.kick.notify_all();
        self.writer_kick.notify_all();
        self.prealloc_kick.notify_all();
        let tasks = std::mem::take(&mut *self.maintenance.borrow_mut());
        for task in tasks {
            task.await;
        }
        if let Some(e) = self.flush.borrow().failed.clone() {
            return Err(e);
        }
        self.checkpoint().await?;
        let abort = self.dir.join("abort");
        self.storage
            .remove_file(&abort)
            .await
            .map_err(|e| StoreError::io("removing the abort marker", &e))?;
        self.storage
            .sync_dir(&self.dir)
            .await
            .map_err(|e| StoreError::io("syncing the shard directory", &e))?;
        self.segments.borrow_mut().clear();
        self.cq_files.borrow_mut().clear();
        Ok(())
    }
}

/// When the maintenance task last did each job (monotonic ms).
#[derive(Debug, Default)]
struct Deadlines {
    flush_ms: i64,
    checkpoint_ms: i64,
    retention_ms: i64,
}
