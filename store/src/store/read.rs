//! Reads: by physical offset, pulls by queue offset, offset/time lookups and
//! key queries. Recent bytes come from the write buffers and the read cache;
//! older ones from direct reads of the segment (contiguous records in one read).

use std::rc::Rc;

use bolide_proto::consume_queue::{CqUnit, CQ_UNIT_BYTES};
use bolide_proto::ids::PhysicalOffset;
use bolide_proto::message::{peek_head, Properties, RecordHead, RecordView};

use crate::cq::{decode_units, file_path, queue_dir};
use crate::error::{Result, StoreError};
use crate::io::{Storage, StorageFile};
use crate::layout::segment_base;
use crate::log::windows::window_for;
use crate::pull::{classify, scan_units, GetStatus};

use super::ShardStore;

/// A pull from one queue.
#[derive(Debug, Clone, Copy)]
pub struct GetRequest<'a> {
    pub topic: &'a str,
    pub queue_id: u32,
    pub offset: u64,
    pub max_count: u32,
    pub max_bytes: u32,
    /// Accept only units whose tags code is in this list.
    pub tag_codes: Option<&'a [i64]>,
    /// Accept only records whose properties pass (read from the log).
    pub record_filter: Option<RecordFilter<'a>>,
}

/// A test on a record's properties (the broker's SQL92 filter). Records
/// that fail it are skipped like tag mismatches: the next offset moves
/// past them and they do not count against the pull's limits.
#[derive(Clone, Copy)]
pub struct RecordFilter<'a>(pub &'a dyn Fn(Properties<'_>) -> bool);

impl std::fmt::Debug for RecordFilter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordFilter")
    }
}

/// The answer to a pull (remoting.md §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetResult {
    pub status: GetStatus,
    pub next_begin_offset: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    /// Stored records back to back: the PULL response body.
    pub messages: Vec<u8>,
    pub message_count: usize,
}

impl<S: Storage> ShardStore<S> {
    /// `(min, max)` of a queue, `None` if it does not exist.
    pub fn queue_bounds(&self, topic: &str, queue_id: u32) -> Option<(u64, u64)> {
        let queues = self.queues.borrow();
        queues
            .get(topic)?
            .get(&queue_id)
            .map(|q| (q.min_offset, q.max_offset()))
    }
    pub fn min_offset(&self, topic: &str, queue_id: u32) -> u64 {
        self.queue_bounds(topic, queue_id).map_or(0, |b| b.0)
    }
    pub fn max_offset(&self, topic: &str, queue_id: u32) -> u64 {
        self.queue_bounds(topic, queue_id).map_or(0, |b| b.1)
    }
    /// Up to `max` consume-queue units from `from`: fewer at the queue's
    /// end, none below its minimum (the caller moves up to it).
    pub async fn queue_units(
        &self,
        topic: &str,
        queue_id: u32,
        from: u64,
        max: u64,
    ) -> Result<Vec<CqUnit>> {
        match self.queue_bounds(topic, queue_id) {
            Some((min, end)) if from >= min && from < end => {
                self.read_units(topic, queue_id, from, max.min(end - from))
                    .await
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Every (topic, queue id) with a consume queue.
    pub fn queues(&self) -> Vec<(String, u32)> {
        let queues = self.queues.borrow();
        queues
            .iter()
            .flat_map(|(t, qs)| qs.keys().map(move |q| (t.to_string(), *q)))
            .collect()
    }

    /// `len` log bytes at `pos`: from the write buffers, a read-ahead
    /// window, or a direct read of the window around them.
    pub(crate) async fn read_log(&self, pos: u64, len: usize) -> Result<Vec<u8>> {
        if let Some(bytes) = self.bufs.borrow().read(pos, len) {
            return Ok(bytes.to_vec());
        }
        if let Some(bytes) = self.read_windows.borrow_mut().get(pos, len) {
            return Ok(bytes.to_vec());
        }
        if pos < self.log_min.get() || pos + len as u64 > self.bufs.borrow().write_pos() {
            return Err(StoreError::corrupt(
                "log read",
                format!("{len} bytes at {pos} outside the log"),
            ));
        }
        let base = segment_base(pos, self.config.segment_size_bytes);
        // Bytes not in the write buffers are written; the window stops at
        // the written offset (the page beyond is still growing) and the
        // segment's end.
        let limit = self
            .flush
            .borrow()
            .written
            .min(base + self.config.segment_size_bytes);
        let (start, span) = match pos + len as u64 <= limit {
            true => window_for(pos, len, base.max(self.log_min.get()), limit),
            false => (pos, len),
        };
        let file = self.segment_file(base, false).await?;
        let bytes = file
            .read_at(start - base, span)
            .await
            .map_err(|e| StoreError::io("reading a segment", &e))?;
        if bytes.len() != span {
            return Err(StoreError::corrupt(
                "segment",
                format!("short read at {start}"),
            ));
        }
        let from = (pos - start) as usize;
        let record = bytes[from..from + len].to_vec();
        if span > len {
            self.read_windows.borrow_mut().insert(start, bytes.to_vec());
        }
        Ok(record)
    }

    /// The record at `offset`, validated (layout and CRC).
    pub async fn read_record(&self, offset: PhysicalOffset) -> Result<Vec<u8>> {
        let pos = offset.0;
        if pos < self.log_min.get() || pos >= self.bufs.borrow().write_pos() {
            return Err(StoreError::MessageIllegal(format!(
                "offset {pos} is not in the log"
            )));
        }
        let head = self.read_log(pos, 8).await?;
        let len = match peek_head(&head) {
            Ok(RecordHead::Message(len)) => len,
            _ => {
                return Err(StoreError::MessageIllegal(format!(
                    "no record starts at {pos}"
                )))
            }
        };
        let bytes = self.read_log(pos, len).await?;
        self.check_record(&bytes, pos)?;
        Ok(bytes)
    }

    fn check_record(&self, bytes: &[u8], pos: u64) -> Result<()> {
        let view = RecordView::parse(bytes)
            .map_err(|e| StoreError::corrupt(format!("record at {pos}"), e.to_string()))?;
        if !view.crc_ok() || view.physical_offset().physical().0 != pos {
            return Err(StoreError::corrupt(
                format!("record at {pos}"),
                "CRC or offset mismatch",
            ));
        }
        Ok(())
    }

    /// Units `[from, from + count)` of a queue (fewer if it ends sooner).
    pub(crate) async fn read_units(
        &self,
        topic: &str,
        queue_id: u32,
        from: u64,
        count: u64,
    ) -> Result<Vec<CqUnit>> {
        let (reads, tail) = {
            let queues = self.queues.borrow();
            let Some(q) = queues.get(topic).and_then(|t| t.get(&queue_id)) else {
                return Ok(Vec::new());
            };
            let end = (from + count).min(q.max_offset());
            let tail: Vec<CqUnit> = (from.max(q.persisted)..end)
                .filter_map(|i| q.tail_unit(i))
                .collect();
            (q.plan_read(from, count, self.config.cq_file_units), tail)
        };
        let dir = queue_dir(&self.cq_root(), topic, queue_id);
        let mut units = Vec::new();
        for r in reads {
            let file = self
                .cq_file(&file_path(&dir, r.file_first_unit), false)
                .await?;
            let bytes = file
                .read_at(r.pos, (r.units as usize) * CQ_UNIT_BYTES)
                .await
                .map_err(|e| StoreError::io("reading a consume queue", &e))?;
            let got = decode_units(&bytes);
            if got.len() as u64 != r.units {
                return Err(StoreError::corrupt(
                    format!("consume queue {topic}/{queue_id}"),
                    "missing units",
                ));
            }
            units.extend(got);
        }
        units.extend(tail);
        Ok(units)
    }

    /// An open consume-queue file (handles are cached, boundedly).
    pub(crate) async fn cq_file(
        &self,
        path: &std::path::Path,
        create: bool,
    ) -> Result<Rc<S::File>> {
        if let Some(f) = self.cq_files.borrow().get(path) {
            return Ok(f.clone());
        }
        let file = self
            .storage
            .open(path, create)
            .await
            .map_err(|e| StoreError::io(format!("opening {}", path.display()), &e))?;
        let file = Rc::new(file);
        let mut cache = self.cq_files.borrow_mut();
        if cache.len() >= MAX_OPEN_CQ_FILES {
            cache.clear();
        }
        cache.insert(path.to_path_buf(), file.clone());
        Ok(file)
    }

    /// Serves a pull: scans units from the request offset, applies the tag
    /// filter and limits, and returns the matching records' bytes.
    pub async fn get_messages(&self, req: &GetRequest<'_>) -> Result<GetResult> {
        let bounds = self.queue_bounds(req.topic, req.queue_id);
        let (min, max) = bounds.unwrap_or((0, 0));
        let mut result = GetResult {
            status: GetStatus::NoMatchedLogicQueue,
            next_begin_offset: 0,
            min_offset: min,
            max_offset: max,
            messages: Vec::new(),
            message_count: 0,
        };
        if let Some((status, next)) = classify(bounds, req.offset) {
            result.status = status;
            result.next_begin_offset = next;
            return Ok(result);
        }
        let filtered = req.tag_codes.is_some() || req.record_filter.is_some();
        let scan = scan_units(req.offset, max, req.max_count.max(1), filtered);
        let mut units = self
            .read_units(req.topic, req.queue_id, req.offset, scan)
            .await?;
        let visible = self.visible_end();
        if let Some(hidden) = units
            .iter()
            .position(|u| u.physical_offset.0 + u.size as u64 > visible)
        {
            units.truncate(hidden);
            if units.is_empty() {
                // Not durable yet: as if the queue ended here.
                result.status = GetStatus::OffsetOverflowOne;
                (result.next_begin_offset, result.max_offset) = (req.offset, req.offset);
                return Ok(result);
            }
        }
        let (count, next, removed) = match req.record_filter {
            None => {
                let (picks, next, removed) = self.pick_units(req, &units);
                for (i, u) in &picks {
                    let bytes = self.read_log(u.physical_offset.0, u.size as usize).await?;
                    self.check_pulled(&bytes, u, req, *i)?;
                    result.messages.extend_from_slice(&bytes);
                }
                (picks.len(), next, removed)
            }
            Some(filter) => {
                self.read_matching(req, &units, filter, &mut result.messages)
                    .await?
            }
        };
        result.message_count = count;
        result.next_begin_offset = next;
        result.status = match (count == 0, removed) {
            (false, _) => GetStatus::Found,
            (true, true) => GetStatus::MessageWasRemoving,
            (true, false) => GetStatus::NoMatchedMessage,
        };
        Ok(result)
    }

    /// Chooses units under the count/byte limits and filter. Returns the
    /// picks (with queue offsets), the next begin offset and whether some
    /// unit pointed at deleted log.
    fn pick_units(
        &self,
        req: &GetRequest<'_>,
        units: &[CqUnit],
    ) -> (Vec<(u64, CqUnit)>, u64, bool) {
        let log_min = self.log_min.get();
        let (mut picks, mut bytes, mut next, mut removed) = (Vec::new(), 0u64, req.offset, false);
        for (i, u) in units.iter().enumerate() {
            let offset = req.offset + i as u64;
            if picks.len() >= req.max_count.max(1) as usize {
                break;
            }
            if !picks.is_empty() && bytes + u.size as u64 > req.max_bytes as u64 {
                break;
            }
            next = offset + 1;
            if u.physical_offset.0 < log_min {
                removed = true;
                continue;
            }
            if req
                .tag_codes
                .is_some_and(|codes| !codes.contains(&u.tags_code))
            {
                continue;
            }
            bytes += u.size as u64;
            picks.push((offset, *u));
        }
        (picks, next, removed)
    }

    /// [`Self::pick_units`] for a pull with a record filter: each candidate
    /// is read to test its properties, so the limits count only the
    /// records that pass. Appends them to `out`; returns their count, the
    /// next begin offset and whether some unit pointed at deleted log.
    async fn read_matching(
        &self,
        req: &GetRequest<'_>,
        units: &[CqUnit],
        filter: RecordFilter<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(usize, u64, bool)> {
        let log_min = self.log_min.get();
        let (mut count, mut next, mut removed) = (0usize, req.offset, false);
        for (i, u) in units.iter().enumerate() {
            let offset = req.offset + i as u64;
            let full = count > 0 && out.len() as u64 + u.size as u64 > req.max_bytes as u64;
            if count >= req.max_count.max(1) as usize || full {
                break;
            }
            next = offset + 1;
            if u.physical_offset.0 < log_min {
                removed = true;
                continue;
            }
            if req.tag_codes.is_some_and(|c| !c.contains(&u.tags_code)) {
                continue;
            }
            let bytes = self.read_log(u.physical_offset.0, u.size as usize).await?;
            self.check_pulled(&bytes, u, req, offset)?;
            let view = RecordView::parse(&bytes)
                .map_err(|e| StoreError::corrupt("pulled record", e.to_string()))?;
            if (filter.0)(view.properties()) {
                out.extend_from_slice(&bytes);
                count += 1;
            }
        }
        Ok((count, next, removed))
    }

    fn check_pulled(
        &self,
        bytes: &[u8],
        u: &CqUnit,
        req: &GetRequest<'_>,
        offset: u64,
    ) -> Result<()> {
        self.check_record(bytes, u.physical_offset.0)?;
        let view = RecordView::parse(bytes)
            .map_err(|e| StoreError::corrupt("pulled record", e.to_string()))?;
        if view.topic() != req.topic
            || view.queue_id() != req.queue_id
            || view.queue_offset().0 != offset
        {
            return Err(StoreError::corrupt(
                "consume queue",
                format!(
                    "{}/{} unit {offset} points at another record",
                    req.topic, req.queue_id
                ),
            ));
        }
        Ok(())
    }

    /// Store timestamp of the record behind queue offset `offset`.
    async fn store_time_at(&self, topic: &str, queue_id: u32, offset: u64) -> Result<Option<i64>> {
        let Some(u) = self.read_units(topic, queue_id, offset, 1).await?.pop() else {
            return Ok(None);
        };
        if u.physical_offset.0 < self.log_min.get() {
            return Ok(None);
        }
        let bytes = self.read_log(u.physical_offset.0, u.size as usize).await?;
        let view =
            RecordView::parse(&bytes).map_err(|e| StoreError::corrupt("record", e.to_string()))?;
        Ok(Some(view.store_timestamp()))
    }

    /// Store time of the oldest message of a queue.
    pub async fn earliest_store_time(&self, topic: &str, queue_id: u32) -> Result<Option<i64>> {
        let Some((min, max)) = self.queue_bounds(topic, queue_id) else {
            return Ok(None);
        };
        if min >= max {
            return Ok(None);
        }
        self.store_time_at(topic, queue_id, min).await
    }

    /// The first queue offset stored at or after `timestamp_ms` (`upper`:
    /// the last one at or before it). Clamps to `[min, max]`.
    pub async fn search_offset_by_time(
        &self,
        topic: &str,
        queue_id: u32,
        timestamp_ms: i64,
        upper: bool,
    ) -> Result<u64> {
        let Some((min, max)) = self.queue_bounds(topic, queue_id) else {
            return Ok(0);
        };
        let (mut lo, mut hi) = (min, max);
        // Invariant: offsets < lo are "before", >= hi are "after" the boundary.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ts = self
                .store_time_at(topic, queue_id, mid)
                .await?
                .unwrap_or(i64::MIN);
            let before = if upper {
                ts <= timestamp_ms
            } else {
                ts < timestamp_ms
            };
            if before {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(if upper {
            lo.saturating_sub(1).max(min)
        } else {
            lo
        })
    }
}

/// Bound on cached consume-queue file handles.
const MAX_OPEN_CQ_FILES: usize = 512;
