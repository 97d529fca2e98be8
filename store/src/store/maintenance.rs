//! Background work of a shard: write-behind flushing (async mode),
//! periodic checkpoints, retention; and clean close.

use std::rc::Rc;
use std::time::Duration;

use bolide_proto::message::RecordView;

use crate::config::FlushMode;
use crate::error::{Result, StoreError};
use crate::io::Storage;
use crate::layout::file_name;
use crate::retention::{plan_deletions, SegmentInfo};

use super::ShardStore;

impl<S: Storage> ShardStore<S> {
    pub(super) fn start_maintenance(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let kick = self.kick.clone();
        let c = &self.config;
        let mut tick_ms = c.checkpoint_interval_ms.min(c.retention_check_interval_ms);
        if c.flush_mode == FlushMode::Async {
            tick_ms = tick_ms.min(c.flush_interval_ms);
        }
        let task = glommio::spawn_local(async move {
            let (mut last_checkpoint, mut last_retention) = (0i64, 0i64);
            loop {
                let seen = kick.generation();
                let sleep = glommio::timer::sleep(Duration::from_millis(tick_ms));
                futures_lite::future::or(sleep, kick.wait_past(seen)).await;
                let Some(store) = weak.upgrade() else { return };
                if store.closed.get() {
                    return;
                }
                store
                    .maintenance_step(&mut last_checkpoint, &mut last_retention)
                    .await;
            }
        })
        .detach();
        *self.maintenance.borrow_mut() = Some(task);
    }

    async fn maintenance_step(&self, last_checkpoint: &mut i64, last_retention: &mut i64) {
        let now_ms = monotonic_ms();
        let write_pos = self.bufs.borrow().write_pos();
        if self.config.flush_mode == FlushMode::Async && write_pos > self.flush.borrow().durable {
            // Errors poison the store and reach appenders; nothing to add here.
            let _ = self.wait_durable(write_pos).await;
        }
        let due = now_ms - *last_checkpoint >= self.config.checkpoint_interval_ms as i64
            || self.dispatched_since_checkpoint.get() >= self.config.checkpoint_trigger_bytes;
        if due && !self.is_poisoned() {
            *last_checkpoint = now_ms;
            if let Err(e) = self.checkpoint().await {
                tracing::error!(error = %e, "checkpoint failed");
            }
        }
        if now_ms - *last_retention >= self.config.retention_check_interval_ms as i64 {
            *last_retention = now_ms;
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
        let bases: Vec<u64> = self.segments.borrow().keys().copied().collect();
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

    /// Moves queue minimums past deleted log and drops expired index files.
    async fn forget_deleted(&self) -> Result<()> {
        let queues: Vec<(String, u32, u64, u64)> = {
            let q = self.queues.borrow();
            q.iter()
                .flat_map(|(t, qs)| {
                    qs.iter()
                        .map(move |(id, q)| (t.to_string(), *id, q.min_offset, q.max_offset()))
                })
                .collect()
        };
        for (topic, id, min, max) in queues {
            let new_min = self.first_live_offset(&topic, id, min, max).await?;
            if let Some(q) = self
                .queues
                .borrow_mut()
                .get_mut(topic.as_str())
                .and_then(|t| t.get_mut(&id))
            {
                q.min_offset = q.min_offset.max(new_min);
            }
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

    /// Flushes, checkpoints and removes the abort marker. Appends fail
    /// afterwards. A poisoned store keeps its marker, so the next open
    /// validates the log.
    pub async fn close(&self) -> Result<()> {
        if self.closed.replace(true) {
            return Ok(());
        }
        self.kick.notify_all();
        let task = self.maintenance.borrow_mut().take();
        if let Some(task) = task {
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

fn monotonic_ms() -> i64 {
    thread_local! {
        static START: std::time::Instant = std::time::Instant::now();
    }
    START.with(|s| s.elapsed().as_millis() as i64)
}
