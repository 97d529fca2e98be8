//! Appending raw log bytes: records that were already encoded, stamped and
//! stored elsewhere — by a master (replication: a slave's physical offsets
//! equal its master's) or by this shard before a crash (the tail ring).
//!
//! Each record must start where the log ends, carry that offset as its
//! stored physical offset, pass its CRC and be the next of its queue; it is
//! then copied into the write buffers (and the tail ring) unchanged and
//! dispatched like an append: consume-queue unit, key index, long polls.

use bolide_proto::message::{peek_head, RecordHead, RecordView};

use crate::error::{Result, StoreError};
use crate::io::{Storage, StorageFile};
use crate::layout::{page_filler_len, segment_base};
use crate::log::follow::{next_record, Next};

use super::ShardStore;

/// What [`ShardStore::append_raw`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAppend {
    pub records: u64,
    /// Bytes of the input consumed (records and fillers); the rest is an
    /// incomplete record to send again with more bytes.
    pub consumed_bytes: u64,
}

/// True when `head`, the bytes at log offset `pos`, is a page filler's.
fn is_page_filler(head: &[u8], pos: u64) -> bool {
    matches!(peek_head(head), Ok(RecordHead::Blank(len)) if Some(len as u64) == page_filler_len(pos))
}

impl<S: Storage> ShardStore<S> {
    /// Up to `max` log bytes from `from` (exactly as stored: records and
    /// fillers, never past one segment's end or the write position);
    /// empty at the log end. What a master streams to its slaves.
    pub async fn read_raw(&self, from: u64, max: usize) -> Result<Vec<u8>> {
        let end = self.bufs.borrow().write_pos();
        if from < self.log_min.get() || from > end {
            return Err(StoreError::MessageIllegal(format!(
                "offset {from} is outside the log [{}, {end}]",
                self.log_min.get()
            )));
        }
        let seg = self.config.segment_size_bytes;
        let limit = (segment_base(from, seg) + seg)
            .min(end)
            .min(from + max as u64);
        let want = (limit - from) as usize;
        if want == 0 {
            return Ok(Vec::new());
        }
        if let Some(bytes) = self.bufs.borrow().read_from(from) {
            return Ok(bytes[..bytes.len().min(want)].to_vec());
        }
        let written = self.flush.borrow().written;
        if from >= written {
            // Unwritten bytes are in memory, but for a filler's body: the
            // buffers keep only its header, and it runs to the segment's
            // end, so it is all that remains of this segment. Any bytes do
            // (readers skip a filler's body); zeros are what the disk holds.
            return Ok(vec![0; want]);
        }
        // Not in memory, so written: read no further than the write did.
        let want = want.min((written - from) as usize);
        let base = segment_base(from, seg);
        let file = self.segment_file(base, false).await?;
        let bytes = file
            .read_at(from - base, want)
            .await
            .map_err(|e| StoreError::io("reading a segment", &e))?;
        Ok(bytes.to_vec())
    }

    /// Resolves once the log has grown past `pos` (or the store closed).
    pub async fn wait_write_past(&self, pos: u64) {
        loop {
            let seen = self.grown.generation();
            if self.bufs.borrow().write_pos() > pos || self.closed.get() {
                return;
            }
            self.grown.wait_past(seen).await;
        }
    }

    /// Appends the records in `bytes`, the log's bytes from offset `at`,
    /// which must be where this log ends. Stops before an incomplete
    /// record (and after half the tail ring's size); a record that is not valid and next fails with `Corrupt`,
    /// after the valid ones before it were appended. Durability follows the
    /// flush mode, as for [`append`](Self::append): sync mode returns once
    /// the records are durable.
    pub async fn append_raw(&self, at: u64, bytes: &[u8]) -> Result<RawAppend> {
        // One call takes at most half the tail ring (the rest comes again).
        let bytes = &bytes[..bytes.len().min(self.config.tail_ring_bytes() / 2)];
        self.check_appendable()?;
        if self.config.flush_mode.writes_behind() {
            self.apply_backpressure(bytes.len() as u64).await?;
        }
        let end = self.bufs.borrow().write_pos();
        if at != end {
            return Err(StoreError::corrupt(
                "raw append",
                format!("bytes start at {at} but the log ends at {end}"),
            ));
        }
        let read = |pos: u64, len: usize| {
            let from = (pos - at) as usize;
            bytes.get(from..from + len).map(<[u8]>::to_vec)
        };
        let mut records = 0;
        let outcome = loop {
            let pos = self.bufs.borrow().write_pos();
            match next_record(
                read,
                pos,
                self.config.segment_size_bytes,
                self.config.max_message_bytes,
            ) {
                Next::Record { at, bytes } => match self.append_verified(at, &bytes) {
                    Ok(()) => records += 1,
                    Err(e) => break Err(e),
                },
                Next::Incomplete => {
                    // A page filler the source's log ends with (its last
                    // round's), so both logs end at the same offset.
                    let filler = page_filler_len(pos).filter(|len| {
                        read(pos, *len as usize).is_some_and(|b| is_page_filler(&b, pos))
                    });
                    if filler.is_some() {
                        self.pad_page_raw();
                    }
                    break Ok(());
                }
                Next::Invalid => {
                    break Err(StoreError::corrupt(
                        "raw append",
                        format!("no record at {pos}"),
                    ))
                }
            }
        };
        let consumed_bytes = self.bufs.borrow().write_pos() - at;
        self.after_raw_append().await?;
        outcome.map(|()| RawAppend {
            records,
            consumed_bytes,
        })
    }

    async fn after_raw_append(&self) -> Result<()> {
        if self.config.flush_mode.writes_behind() {
            if self.bufs.borrow().has_sealed() {
                self.writer_kick.notify_all();
            }
            return Ok(());
        }
        let end = self.bufs.borrow().write_pos();
        self.wait_durable(end).await
    }

    /// Checks one record found at `at` and appends it unchanged: buffers,
    /// tail ring, queue, index, long polls.
    pub(super) fn append_verified(&self, at: u64, bytes: &[u8]) -> Result<()> {
        let view = self.valid_record(bytes, at).ok_or_else(|| {
            StoreError::corrupt(
                "raw append",
                format!("record at {at} fails its CRC or offset"),
            )
        })?;
        if !self.is_next_in_queue(&view) {
            return Err(StoreError::corrupt(
                "raw append",
                format!(
                    "record at {at} is not next in {}/{}",
                    view.topic(),
                    view.queue_id()
                ),
            ));
        }
        {
            let end = self.write_offset().0;
            if page_filler_len(end).map(|len| end + len) == Some(at) {
                self.pad_page_raw();
            }
            let mut bufs = self.bufs.borrow_mut();
            let before = bufs.write_pos();
            let (reserved, slot) = bufs.reserve(bytes.len(), false);
            // `next_record` only follows the fillers the source's log wrote
            // by the same rules: a page filler (reproduced above) and/or a
            // segment-end filler (which `reserve` writes).
            assert_eq!(reserved, at, "raw append out of step with the log");
            slot.copy_from_slice(bytes);
            if let Some(tail) = self.tail.borrow_mut().as_mut() {
                tail.put(at, bytes);
                tail.put_fillers(&bufs, before, at);
            }
        }
        self.dispatch_recovered(&view, at, true)?;
        self.notify_raw(&view);
        self.grown.notify_all();
        Ok(())
    }

    /// Reproduces the page filler the source's log has at the write
    /// position.
    fn pad_page_raw(&self) {
        let mut bufs = self.bufs.borrow_mut();
        let before = bufs.write_pos();
        bufs.pad_page();
        if let Some(tail) = self.tail.borrow_mut().as_mut() {
            tail.put_fillers(&bufs, before, bufs.write_pos());
        }
    }

    fn is_next_in_queue(&self, view: &RecordView<'_>) -> bool {
        let queues = self.queues.borrow();
        let next = queues
            .get(view.topic())
            .and_then(|t| t.get(&view.queue_id()))
            .map_or(0, |q| q.max_offset());
        view.queue_offset().0 == next
    }

    fn notify_raw(&self, view: &RecordView<'_>) {
        let props = view.properties();
        let tags = props.get(bolide_proto::message::property::TAGS);
        let code = self.unit_tags_code(
            view.topic(),
            view.queue_id(),
            props,
            tags,
            view.store_timestamp(),
        );
        self.notify_listener(
            view.topic(),
            view.queue_id(),
            &[(view.queue_offset().0, code, props.as_str())],
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::rc::Rc;

    use bolide_proto::ids::{PhysicalOffset, ShardId};

    use super::super::AppendResult;
    use super::*;
    use crate::config::StoreConfig;
    use crate::io::mem::MemStorage;
    use crate::layout::file_name;
    use crate::testutil::{msg, run};

    const SHARD: ShardId = ShardId(1);

    /// A master's store at `/m`, a replica's elsewhere.
    async fn open(mem: &MemStorage, dir: &str) -> Rc<ShardStore<MemStorage>> {
        let cfg = StoreConfig {
            replica: dir != "/m",
            ..StoreConfig::for_tests()
        };
        ShardStore::open(mem.clone(), cfg, Path::new(dir), SHARD)
            .await
            .unwrap()
            .0
    }

    /// A closed store's log as one byte stream, offset 0 on.
    fn log_bytes(mem: &MemStorage, dir: &str, end: u64) -> Vec<u8> {
        let seg = StoreConfig::for_tests().segment_size_bytes;
        let mut out = vec![0u8; end as usize];
        for base in (0..end).step_by(seg as usize) {
            let path = Path::new(dir)
                .join("shard-1/commitlog")
                .join(file_name(base));
            let file = mem.file_bytes(&path).unwrap();
            let len = file.len().min((end - base) as usize);
            out[base as usize..base as usize + len].copy_from_slice(&file[..len]);
        }
        out
    }

    /// A master with records across several segments, closed; its
    /// appends and log.
    async fn master() -> (Vec<AppendResult>, Vec<u8>, Vec<Vec<u8>>) {
        let mem = MemStorage::new(1 << 30);
        let store = open(&mem, "/m").await;
        let mut acked = Vec::new();
        for i in 0..200u32 {
            let m = msg(
                &format!("T{}", i % 3),
                i % 4,
                &vec![i as u8; 100 + i as usize * 7],
                Some("t"),
                Some(&format!("k{i}")),
            );
            acked.push(store.append(m).await.unwrap());
        }
        let mut records = Vec::new();
        for r in &acked {
            records.push(store.read_record(r.physical_offset).await.unwrap());
        }
        let end = store.write_offset().0;
        store.close().await.unwrap();
        (acked, log_bytes(&mem, "/m", end), records)
    }

    #[test]
    fn a_replica_fed_raw_bytes_in_pieces_holds_the_same_log_and_queues() {
        run(|| async {
            let (acked, log, records) = master().await;
            let mem = MemStorage::new(1 << 30);
            let replica = open(&mem, "/r").await;
            let (mut off, mut end) = (0usize, 0usize);
            while off < log.len() {
                end = (end + 1000).min(log.len()).max(off);
                let took = replica
                    .append_raw(off as u64, &log[off..end])
                    .await
                    .unwrap();
                off += took.consumed_bytes as usize;
            }
            assert_eq!(replica.write_offset().0, log.len() as u64);
            for (r, bytes) in acked.iter().zip(&records) {
                assert_eq!(
                    &replica.read_record(r.physical_offset).await.unwrap(),
                    bytes
                );
            }
            assert_eq!(replica.queue_bounds("T1", 1), Some((0, 17)));
            let found = replica
                .query_by_key("T2", "k5", 0, i64::MAX, 10)
                .await
                .unwrap();
            assert_eq!(found.len(), 1, "the key index follows");
            replica.close().await.unwrap();
            let again = open(&mem, "/r").await;
            assert_eq!(again.write_offset().0, log.len() as u64);
        });
    }

    #[test]
    fn a_corrupt_record_is_refused_after_the_valid_ones_before_it() {
        run(|| async {
            let (acked, mut log, _) = master().await;
            // Flip a byte of record 10's body (170 bytes of 10): its CRC fails.
            let bad = acked[10].physical_offset.0 as usize;
            let size = acked[10].size_bytes as usize;
            let body = log[bad..bad + size]
                .windows(170)
                .position(|w| w.iter().all(|b| *b == 10));
            log[bad + body.unwrap() + 85] ^= 0xFF;
            let replica = open(&MemStorage::new(1 << 30), "/r").await;
            let mut off = 0;
            let err = loop {
                assert!(off < log.len() as u64, "the corrupt record was taken");
                match replica.append_raw(off, &log[off as usize..]).await {
                    Ok(took) => off += took.consumed_bytes,
                    Err(e) => break e,
                }
            };
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
            assert_eq!(replica.write_offset(), PhysicalOffset(bad as u64));
            let err = replica.append_raw(5, &log[5..]).await.unwrap_err();
            assert!(err.to_string().contains("log ends at"), "{err}");
        });
    }

    /// Streams a live store's log into a replica the way a master does:
    /// `read_raw` pieces (memory and disk) appended with `append_raw`.
    /// Bytes not yet taken (a record's start, or a filler whose record is
    /// in the next piece) are kept and completed by the next read.
    async fn stream(from: &ShardStore<MemStorage>, to: &ShardStore<MemStorage>, max: usize) {
        let mut pending = Vec::new();
        loop {
            let at = to.write_offset().0;
            let bytes = from.read_raw(at + pending.len() as u64, max).await.unwrap();
            if bytes.is_empty() {
                return;
            }
            assert!(bytes.len() <= max);
            pending.extend_from_slice(&bytes);
            let took = to.append_raw(at, &pending).await.unwrap();
            pending.drain(..took.consumed_bytes as usize);
        }
    }

    #[test]
    fn read_raw_streams_a_live_log_into_an_identical_replica() {
        run(|| async {
            let mem = MemStorage::new(1 << 30);
            let master = open(&mem, "/m").await;
            let replica = open(&MemStorage::new(1 << 30), "/r").await;
            let seg = master.config().segment_size_bytes;
            for round in 0..4u32 {
                for i in 0..150u32 {
                    let body = vec![i as u8; 200 + (i * 13 % 700) as usize];
                    master
                        .append(msg("T", i % 2, &body, None, None))
                        .await
                        .unwrap();
                }
                stream(&master, &replica, 4096 + round as usize * 50_000).await;
                assert_eq!(replica.write_offset(), master.write_offset());
            }
            assert!(
                master.write_offset().0 > seg,
                "the stream crossed a segment"
            );
            let end = master.write_offset().0;
            let tail = master.read_raw(end, 100).await.unwrap();
            assert!(tail.is_empty(), "nothing past the end");
            assert!(master.read_raw(end + 1, 100).await.is_err());
            assert_eq!(replica.queue_bounds("T", 1), master.queue_bounds("T", 1));
            let (a, b) = (master.read_raw(0, 1 << 20), replica.read_raw(0, 1 << 20));
            assert_eq!(a.await.unwrap(), b.await.unwrap());
        });
    }

    /// Appends `log` from `at` to its end (one call takes at most half the
    /// tail ring).
    async fn feed(replica: &ShardStore<MemStorage>, mut at: u64, log: &[u8]) {
        while at < log.len() as u64 {
            let took = replica.append_raw(at, &log[at as usize..]).await.unwrap();
            assert!(took.consumed_bytes > 0);
            at += took.consumed_bytes;
        }
    }

    #[test]
    fn a_fillers_unwritten_body_reads_as_zeros() {
        run(|| async {
            let store = open(&MemStorage::new(1 << 30), "/f").await;
            let seg = store.config().segment_size_bytes;
            let mut last_end = 0;
            while store.write_offset().0 < seg {
                let r = store
                    .append(msg("T", 0, &[7; 3000], None, None))
                    .await
                    .unwrap();
                if r.physical_offset.0 < seg {
                    last_end = r.physical_offset.0 + r.size_bytes as u64;
                }
            }
            // The record that did not fit left a filler from `last_end`.
            let head = store.read_raw(last_end, 1 << 20).await.unwrap();
            assert!(!head.is_empty() && head.len() as u64 <= seg - last_end);
            let body_at = last_end + head.len() as u64;
            if body_at < seg {
                let body = store.read_raw(body_at, 1 << 20).await.unwrap();
                assert_eq!(body.len() as u64, seg - body_at, "to the segment's end");
                assert!(body.iter().all(|b| *b == 0));
            }
            let next = store.read_raw(seg, 100).await.unwrap();
            assert_eq!(next.len(), 100, "then the next segment's first record");
        });
    }

    #[test]
    fn a_truncated_replica_drops_the_tail_everywhere_and_takes_it_again() {
        run(|| async {
            let (acked, log, records) = master().await;
            let mem = MemStorage::new(1 << 30);
            let replica = open(&mem, "/r").await;
            feed(&replica, 0, &log).await;
            let cut = acked[120].physical_offset.0;
            let (replica, report) = replica.reopen_truncated(cut).await.unwrap();
            assert_eq!(report.log_end, cut);
            assert_eq!(replica.write_offset().0, cut);
            assert!(replica
                .read_record(acked[150].physical_offset)
                .await
                .is_err());
            let kept = acked[..120].iter().filter(|r| r.queue_offset.0 > 0);
            assert!(kept.count() > 0);
            // Record 121 is T1 queue 1: 120 / 12 = 10 of its records stay.
            let found = replica.query_by_key("T1", "k121", 0, i64::MAX, 10);
            assert!(found.await.unwrap().is_empty(), "the key index forgot it");
            assert_eq!(replica.queue_bounds("T0", 0).unwrap().1, 10);
            // A crash right after must not bring the cut records back.
            let replica = open(&mem.kill(), "/r").await;
            assert_eq!(replica.write_offset().0, cut);
            feed(&replica, cut, &log).await;
            for (r, bytes) in acked.iter().zip(&records) {
                assert_eq!(
                    &replica.read_record(r.physical_offset).await.unwrap(),
                    bytes
                );
            }
            assert_eq!(replica.queue_bounds("T0", 0).unwrap().1, 17);
        });
    }
}
