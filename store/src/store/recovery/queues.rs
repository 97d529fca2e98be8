//! Loading consume queues and index files at open.

use bolide_proto::consume_queue::{CqUnit, CQ_UNIT_BYTES};
use bolide_proto::message::RecordView;

use super::*;

impl<S: Storage> ShardStore<S> {
    /// Loads every queue; with `validate`, drops units at or past
    /// `dispatched` (they are rebuilt) and units that do not point at their
    /// record. Work per queue is logarithmic in its length plus the garbage
    /// at its tail, so recovery time follows the dirty tail, not the data.
    /// Returns the number of units dropped.
    pub(super) async fn load_queues(&self, dispatched: u64, validate: bool) -> Result<u64> {
        let root = self.cq_root();
        let mut dropped = 0;
        for topic in self
            .storage
            .list_dir(&root)
            .await
            .map_err(io_err("listing consume queues"))?
        {
            let topic_dir = root.join(&topic.name);
            for qid in self
                .storage
                .list_dir(&topic_dir)
                .await
                .map_err(io_err("listing consume queues"))?
            {
                let Ok(queue_id) = qid.name.parse::<u32>() else {
                    continue;
                };
                dropped += self
                    .load_queue(&topic.name, queue_id, dispatched, validate)
                    .await?;
            }
        }
        Ok(dropped)
    }

    async fn load_queue(
        &self,
        topic: &str,
        queue_id: u32,
        dispatched: u64,
        validate: bool,
    ) -> Result<u64> {
        let dir = queue_dir(&self.cq_root(), topic, queue_id);
        let upf = self.config.cq_file_units;
        let files: Vec<u64> = self
            .storage
            .list_dir(&dir)
            .await
            .map_err(io_err("listing a consume queue"))?
            .iter()
            .filter_map(|e| parse_file_name(&e.name))
            .filter(|b| b % (upf * CQ_UNIT_BYTES as u64) == 0)
            .map(|b| b / CQ_UNIT_BYTES as u64)
            .collect();
        let (Some(&first), Some(&last)) = (files.first(), files.last()) else {
            return Ok(0);
        };
        let total = last + self.count_units(&file_path(&dir, last)).await?;
        {
            let mut queues = self.queues.borrow_mut();
            let q = queue_entry(&mut queues, topic, queue_id);
            *q = ConsumeQueue::new(first, total, Vec::new());
        }
        let mut count = match validate {
            true => {
                self.first_undispatched(topic, queue_id, first, total, dispatched)
                    .await
            }
            false => total,
        };
        // Units just below are normally sound; torn pages of the tail may
        // hold garbage, which fails the record check and is cut too.
        while validate
            && count > first
            && !self
                .unit_is_sound(topic, queue_id, count - 1, dispatched)
                .await?
        {
            count -= 1;
        }
        self.cut_queue(topic, queue_id, &dir, count).await?;
        let min = self
            .first_live_offset(topic, queue_id, first, count)
            .await?;
        if let Some(q) = self
            .queues
            .borrow_mut()
            .get_mut(topic)
            .and_then(|t| t.get_mut(&queue_id))
        {
            q.min_offset = min;
        }
        Ok(total - count)
    }

    /// Units in a file: the valid ones before the first zero unit.
    async fn count_units(&self, path: &Path) -> Result<u64> {
        let file = self
            .storage
            .open(path, false)
            .await
            .map_err(io_err("opening a consume queue"))?;
        let size = file
            .size()
            .await
            .map_err(io_err("sizing a consume queue"))?;
        let align = self.storage.alignment() as u64;
        let unit = CQ_UNIT_BYTES as u64;
        // Start at a unit boundary within the last page.
        let start = (size.saturating_sub(align) / unit) * unit;
        let bytes = file
            .read_at(start, (size - start) as usize)
            .await
            .map_err(io_err("reading a consume queue"))?;
        Ok(start / unit + decode_units(&bytes).len() as u64)
    }

    /// First queue offset in `[first, total)` whose unit points at or past
    /// `dispatched`: those units are rebuilt from the log. Units are in log
    /// order, so a binary search finds it in a few reads however long the
    /// tail is; an unreadable unit counts as past.
    async fn first_undispatched(
        &self,
        topic: &str,
        queue_id: u32,
        first: u64,
        total: u64,
        dispatched: u64,
    ) -> u64 {
        let (mut lo, mut hi) = (first, total);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let unit = self.read_units(topic, queue_id, mid, 1).await;
            let past = match unit.map(|mut v| v.pop()) {
                Ok(Some(u)) => u.physical_offset.0 >= dispatched,
                _ => true,
            };
            if past {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    async fn unit_is_sound(
        &self,
        topic: &str,
        queue_id: u32,
        offset: u64,
        dispatched: u64,
    ) -> Result<bool> {
        let units = self.read_units(topic, queue_id, offset, 1).await;
        let Some(u) = units.ok().and_then(|mut v| v.pop()) else {
            return Ok(false);
        };
        if u.physical_offset.0 >= dispatched {
            return Ok(false);
        }
        if u.physical_offset.0 < self.log_min.get() {
            return Ok(true);
        }
        Ok(self.unit_matches_record(&u, topic, queue_id, offset).await)
    }

    async fn unit_matches_record(
        &self,
        u: &CqUnit,
        topic: &str,
        queue_id: u32,
        offset: u64,
    ) -> bool {
        let Ok(bytes) = self
            .read_segment_raw(u.physical_offset.0, u.size as usize)
            .await
        else {
            return false;
        };
        match RecordView::parse(&bytes) {
            Ok(v) => {
                v.crc_ok()
                    && v.topic() == topic
                    && v.queue_id() == queue_id
                    && v.queue_offset().0 == offset
            }
            Err(_) => false,
        }
    }

    /// Makes the queue end at `count` on disk and in memory.
    async fn cut_queue(&self, topic: &str, queue_id: u32, dir: &Path, count: u64) -> Result<()> {
        let upf = self.config.cq_file_units;
        let align = self.storage.alignment() as u64;
        let file_first = count - count % upf;
        let within = (count - file_first) * CQ_UNIT_BYTES as u64;
        let path = file_path(dir, file_first);
        let mut page = Vec::new();
        if self.storage.exists(&path).await.map_err(io_err("stat"))? {
            let file = self.cq_file(&path, false).await?;
            file.truncate(within)
                .await
                .map_err(io_err("truncating a consume queue"))?;
            file.sync()
                .await
                .map_err(io_err("syncing a consume queue"))?;
            let page_start = align_down(within, align as usize);
            page = file
                .read_at(page_start, (within - page_start) as usize)
                .await
                .map_err(io_err("reading a consume queue"))?
                .to_vec();
        }
        for e in self
            .storage
            .list_dir(dir)
            .await
            .map_err(io_err("listing a consume queue"))?
        {
            if parse_file_name(&e.name).is_some_and(|b| b / CQ_UNIT_BYTES as u64 > file_first) {
                self.cq_files.borrow_mut().clear();
                self.storage
                    .remove_file(&dir.join(&e.name))
                    .await
                    .map_err(io_err("removing a consume queue file"))?;
            }
        }
        let mut queues = self.queues.borrow_mut();
        if let Some(q) = queues.get_mut(topic).and_then(|t| t.get_mut(&queue_id)) {
            let min = q.min_offset.min(count);
            *q = ConsumeQueue::new(min, count, page);
        }
        Ok(())
    }

    /// First queue offset in `[first, count)` whose unit points at or past
    /// the log start (binary search: units are in log order).
    pub(crate) async fn first_live_offset(
        &self,
        topic: &str,
        queue_id: u32,
        first: u64,
        count: u64,
    ) -> Result<u64> {
        let log_min = self.log_min.get();
        let (mut lo, mut hi) = (first, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let unit = self.read_units(topic, queue_id, mid, 1).await?.pop();
            match unit {
                Some(u) if u.physical_offset.0 >= log_min => hi = mid,
                _ => lo = mid + 1,
            }
        }
        Ok(lo)
    }

    /// Loads index files; returns where re-indexing must start (`dispatched`,
    /// or earlier when the current file was unreadable).
    pub(super) async fn load_index(&self, dispatched: u64) -> Result<u64> {
        let dir = self.dir.join("index");
        let names: Vec<u64> = self
            .storage
            .list_dir(&dir)
            .await
            .map_err(io_err("listing the index"))?
            .iter()
            .filter_map(|e| parse_file_name(&e.name))
            .collect();
        let Some((&last, older)) = names.split_last() else {
            return Ok(dispatched);
        };
        for name in older {
            let path = dir.join(crate::layout::file_name(*name));
            let file = self
                .storage
                .open(&path, false)
                .await
                .map_err(io_err("opening an index file"))?;
            let head = file
                .read_at(0, HEADER_BYTES)
                .await
                .map_err(io_err("reading an index file"))?;
            match IndexHeader::decode(&head) {
                Ok(h) => drop(self.index.borrow_mut().on_disk.insert(*name, h)),
                Err(e) => tracing::warn!(file = name, error = %e, "dropping unreadable index file"),
            }
        }
        let path = dir.join(crate::layout::file_name(last));
        let file = self
            .storage
            .open(&path, false)
            .await
            .map_err(io_err("opening an index file"))?;
        let len = self.index.borrow().layout.file_len();
        let mut bytes = file
            .read_at(0, len)
            .await
            .map_err(io_err("reading an index file"))?
            .to_vec();
        // Checkpoints write only the pages that changed, so the file ends
        // at the last page an entry reached; the rest reads as zeroes.
        if bytes.len() >= HEADER_BYTES {
            bytes.resize(bytes.len().max(len), 0);
        }
        match IndexFile::from_bytes(bytes) {
            Ok(f) if f.header().layout == self.index.borrow().layout => {
                self.index.borrow_mut().current = Some((last, f));
                Ok(dispatched)
            }
            _ => {
                tracing::warn!(
                    file = last,
                    "current index file unreadable; rebuilding it from the log"
                );
                drop(file);
                self.storage
                    .remove_file(&path)
                    .await
                    .map_err(io_err("removing an index file"))?;
                Ok(last.min(dispatched))
            }
        }
    }
}
