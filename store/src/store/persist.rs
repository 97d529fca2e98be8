//! Checkpoints: persist consume-queue tails and the key index, then replace
//! the checkpoint file (see `checkpoint.rs`). After one completes, recovery
//! of an unclean shutdown starts at its `dispatched` offset.

use std::rc::Rc;

use crate::checkpoint::Checkpoint;
use crate::cq::{file_path, queue_dir};
use crate::error::{Result, StoreError};
use crate::index::format::PAGE_BYTES;
use crate::io::{align_up, IoBuf, Storage, StorageFile};
use crate::layout::file_name;

use super::ShardStore;

impl<S: Storage> ShardStore<S> {
    /// Persists consume queues and the index, then the checkpoint. Only one
    /// runs at a time; a concurrent call returns at once.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.checkpointing.replace(true) {
            return Ok(());
        }
        let outcome = self.checkpoint_inner().await;
        self.checkpointing.set(false);
        outcome
    }

    async fn checkpoint_inner(&self) -> Result<()> {
        let dispatched = self.bufs.borrow().write_pos();
        self.dispatched_since_checkpoint.set(0);
        self.wait_durable(dispatched).await?;
        self.persist_queues().await?;
        self.persist_index().await?;
        let cp = Checkpoint {
            log_durable: self.flush.borrow().durable,
            dispatched,
            log_min: self.log_min.get(),
            written_ms: self.now_ms(),
        };
        self.write_checkpoint(&cp).await
    }

    pub(super) async fn persist_queues(&self) -> Result<()> {
        let mut dirty: Vec<(Rc<str>, u32)> = {
            let queues = self.queues.borrow();
            queues
                .iter()
                .flat_map(|(t, qs)| {
                    qs.iter()
                        .filter(|(_, q)| !q.tail.is_empty())
                        .map(move |(id, _)| (t.clone(), *id))
                })
                .collect()
        };
        // In a fixed order, not the map's: runs replay exactly (the
        // simulation), whatever is persisted when a crash comes.
        dirty.sort_unstable();
        for (topic, queue_id) in dirty {
            self.persist_queue(&topic, queue_id).await?;
        }
        Ok(())
    }

    async fn persist_queue(&self, topic: &str, queue_id: u32) -> Result<()> {
        let align = self.storage.alignment();
        let (n, writes, page) = {
            let queues = self.queues.borrow();
            let Some(q) = queues.get(topic).and_then(|t| t.get(&queue_id)) else {
                return Ok(());
            };
            let n = q.tail.len();
            let (writes, page) = q.plan_persist(n, self.config.cq_file_units, align);
            (n, writes, page)
        };
        let dir = queue_dir(&self.cq_root(), topic, queue_id);
        for w in writes {
            let path = file_path(&dir, w.file_first_unit);
            let is_new = w.pos == 0
                && !self
                    .storage
                    .exists(&path)
                    .await
                    .map_err(|e| StoreError::io("stat", &e))?;
            if is_new {
                self.storage
                    .create_dir_all(&dir)
                    .await
                    .map_err(|e| StoreError::io("creating a queue directory", &e))?;
            }
            let file = self.cq_file(&path, true).await?;
            let mut buf = self
                .storage
                .alloc_buf(align_up(w.bytes.len() as u64, align) as usize);
            buf.as_bytes_mut()[..w.bytes.len()].copy_from_slice(&w.bytes);
            file.write_at(Rc::new(buf), w.pos)
                .await
                .map_err(|e| StoreError::io("writing a consume queue", &e))?;
            file.sync()
                .await
                .map_err(|e| StoreError::io("syncing a consume queue", &e))?;
            if is_new {
                self.storage
                    .sync_dir(&dir)
                    .await
                    .map_err(|e| StoreError::io("syncing a queue directory", &e))?;
            }
        }
        let mut queues = self.queues.borrow_mut();
        if let Some(q) = queues.get_mut(topic).and_then(|t| t.get_mut(&queue_id)) {
            q.persisted_upto(n, page);
        }
        Ok(())
    }

    async fn persist_index(&self) -> Result<()> {
        let index_dir = self.dir.join("index");
        let full = std::mem::take(&mut self.index.borrow_mut().full);
        for (name, file) in full {
            let bytes = file.as_bytes();
            self.write_file_pages(&index_dir.join(file_name(name)), 0, bytes)
                .await?;
            self.index.borrow_mut().on_disk.insert(name, *file.header());
        }
        let dirty = {
            let mut index = self.index.borrow_mut();
            let Some((name, file)) = index.current.as_mut() else {
                return Ok(());
            };
            let pages = file.take_dirty_pages();
            let bytes = file.as_bytes();
            let runs: Vec<(usize, Vec<u8>)> = page_runs(&pages)
                .into_iter()
                .map(|(first, count)| {
                    (
                        first * PAGE_BYTES,
                        bytes[first * PAGE_BYTES..((first + count) * PAGE_BYTES).min(bytes.len())]
                            .to_vec(),
                    )
                })
                .collect();
            (*name, runs)
        };
        let path = index_dir.join(file_name(dirty.0));
        for (pos, bytes) in dirty.1 {
            self.write_file_pages(&path, pos as u64, &bytes).await?;
        }
        Ok(())
    }

    /// Writes `bytes` at `pos` (aligned) and syncs, creating the file if needed.
    async fn write_file_pages(&self, path: &std::path::Path, pos: u64, bytes: &[u8]) -> Result<()> {
        let align = self.storage.alignment();
        let file = self
            .storage
            .open(path, true)
            .await
            .map_err(|e| StoreError::io("opening an index file", &e))?;
        let mut buf = self
            .storage
            .alloc_buf(align_up(bytes.len() as u64, align) as usize);
        buf.as_bytes_mut()[..bytes.len()].copy_from_slice(bytes);
        file.write_at(Rc::new(buf), pos)
            .await
            .map_err(|e| StoreError::io("writing an index file", &e))?;
        file.sync()
            .await
            .map_err(|e| StoreError::io("syncing an index file", &e))?;
        if let Some(dir) = path.parent() {
            self.storage
                .sync_dir(dir)
                .await
                .map_err(|e| StoreError::io("syncing the index directory", &e))?;
        }
        Ok(())
    }

    pub(crate) async fn write_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        let tmp = self.dir.join("checkpoint.tmp");
        let dst = self.dir.join("checkpoint");
        let io = |what: &'static str| move |e: std::io::Error| StoreError::io(what, &e);
        let file = self
            .storage
            .open(&tmp, true)
            .await
            .map_err(io("creating checkpoint.tmp"))?;
        let mut buf = self.storage.alloc_buf(self.storage.alignment());
        let encoded = cp.encode();
        buf.as_bytes_mut()[..encoded.len()].copy_from_slice(&encoded);
        file.write_at(Rc::new(buf), 0)
            .await
            .map_err(io("writing checkpoint.tmp"))?;
        file.sync().await.map_err(io("syncing checkpoint.tmp"))?;
        drop(file);
        self.storage
            .rename(&tmp, &dst)
            .await
            .map_err(io("replacing the checkpoint"))?;
        self.storage
            .sync_dir(&self.dir)
            .await
            .map_err(io("syncing the shard directory"))
    }
}

/// Groups sorted page numbers into `(first, count)` runs.
fn page_runs(pages: &[usize]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &p in pages {
        match runs.last_mut() {
            Some((first, count)) if *first + *count == p => *count += 1,
            _ => runs.push((p, 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_runs_group_neighbours() {
        assert_eq!(
            super::page_runs(&[0, 1, 2, 5, 7, 8]),
            vec![(0, 3), (5, 1), (7, 2)]
        );
        assert!(super::page_runs(&[]).is_empty());
    }
}
