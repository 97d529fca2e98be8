//! The async mode's crash-safe tail: a copy of every appended byte of the
//! commit log that may not be written yet, kept in memory that outlives
//! the process ([`TailMemory`], a shared file mapping).
//!
//! ```text
//!  log:   ...written......|....appended, not yet written....|  write_pos
//!  ring:  log offset o lives at o % capacity
//! ```
//!
//! Appends copy each record (and each filler header) here
//! before they are answered, so a `kill -9` cannot undo an acknowledged
//! send: reopening finds the log's valid end on disk and takes the records
//! from there on out of the ring ([`TailRing::record_at`]).
//!
//! Invariants: the store never lets `write_pos - written` exceed the
//! capacity (its backpressure), so every unwritten byte is still in the
//! ring; a record read back is only trusted once it parses, its CRC holds
//! and its stored physical offset is the one asked for (stale bytes from an
//! earlier lap of the ring fail that check); a filler is only skipped by
//! the rules it was written by (`log::follow`).

use crate::io::{Storage, TailMemory};
use crate::log::buffer::WriteBuffers;
use crate::log::follow::{next_record, Next};

/// A ring over [`TailMemory`] addressed by log offset.
#[derive(Debug)]
pub(crate) struct TailRing<T: TailMemory> {
    mem: T,
}

impl<T: TailMemory> TailRing<T> {
    pub fn new(mem: T) -> Self {
        assert!(!mem.is_empty(), "an empty tail ring");
        TailRing { mem }
    }

    pub fn capacity(&self) -> u64 {
        self.mem.len() as u64
    }

    /// Copies `bytes`, the log's bytes at `pos`, in (wrapping around).
    pub fn put(&mut self, pos: u64, bytes: &[u8]) {
        let mut done = 0;
        while done < bytes.len() {
            let at = ((pos + done as u64) % self.capacity()) as usize;
            let n = (bytes.len() - done).min(self.mem.len() - at);
            self.mem.write(at, &bytes[done..done + n]);
            done += n;
        }
    }

    /// Records a filler of `len` bytes at `pos`.
    #[cfg(test)]
    pub fn put_filler(&mut self, pos: u64, len: u64) {
        use bolide_proto::message::{encode_blank, BLANK_HEADER_BYTES};
        let mut head = [0u8; BLANK_HEADER_BYTES];
        encode_blank(len as usize, &mut head);
        self.put(pos, &head);
    }

    /// Copies in the filler headers `bufs` holds from `from` up to `to`
    /// (what an append or a seal wrote between two records): replay needs
    /// them to follow the records.
    pub fn put_fillers<S: Storage>(&mut self, bufs: &WriteBuffers<S>, from: u64, to: u64) {
        for (pos, head) in bufs.fillers_between(from, to) {
            self.put(pos, &head);
        }
    }

    /// The `len` bytes held for log offset `pos` (wrapping around).
    pub fn get(&self, pos: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        let mut done = 0;
        while done < len {
            let at = ((pos + done as u64) % self.capacity()) as usize;
            let n = (len - done).min(self.mem.len() - at);
            self.mem.read(at, &mut out[done..done + n]);
            done += n;
        }
        out
    }

    /// The record that follows log offset `pos` (see `log::follow`), or
    /// `None` when the ring holds none there.
    pub fn record_at(&self, pos: u64, segment_size: u64) -> Option<(u64, Vec<u8>)> {
        let read = |p: u64, len: usize| Some(self.get(p, len));
        match next_record(read, pos, segment_size, self.mem.len()) {
            Next::Record { at, bytes } => Some((at, bytes)),
            Next::Incomplete | Next::Invalid => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::msg;
    use bolide_proto::ids::{GlobalOffset, PhysicalOffset, QueueOffset, ShardId};
    use bolide_proto::message::AppendStamp;

    #[derive(Debug)]
    struct VecTail(Vec<u8>);

    impl TailMemory for VecTail {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn write(&mut self, pos: usize, bytes: &[u8]) {
            self.0[pos..pos + bytes.len()].copy_from_slice(bytes);
        }
        fn read(&self, pos: usize, out: &mut [u8]) {
            out.copy_from_slice(&self.0[pos..pos + out.len()]);
        }
    }

    fn record(pos: u64, body_len: usize) -> Vec<u8> {
        let msg = msg("T", 0, &vec![7u8; body_len], None, None);
        let mut out = vec![0u8; msg.encoded_len()];
        let stamp = AppendStamp {
            queue_offset: QueueOffset(0),
            physical_offset: GlobalOffset::new(ShardId(0), PhysicalOffset(pos)).unwrap(),
            store_timestamp: 1,
        };
        msg.encode_into(stamp, &mut out).unwrap();
        out
    }

    #[test]
    fn bytes_wrap_around_the_ring() {
        let mut ring = TailRing::new(VecTail(vec![0; 100]));
        let bytes: Vec<u8> = (0..60).collect();
        ring.put(70, &bytes);
        assert_eq!(ring.get(70, 60), bytes);
        assert_eq!(ring.get(100, 30), bytes[30..].to_vec());
    }

    #[test]
    fn a_record_is_found_where_it_was_put() {
        let mut ring = TailRing::new(VecTail(vec![0; 4096]));
        let rec = record(5000, 40);
        ring.put(5000, &rec);
        assert_eq!(ring.record_at(5000, 1 << 20), Some((5000, rec)));
        assert_eq!(ring.record_at(5000 + 8, 1 << 20), None, "no head there");
    }

    #[test]
    fn a_filler_leads_to_the_next_segment_only_when_the_record_did_not_fit() {
        let seg = 4096;
        let rec = record(seg, 100);
        let mut ring = TailRing::new(VecTail(vec![0; 2 * seg as usize]));
        // Rolled over: 50 bytes left cannot take the record and a filler.
        ring.put_filler(seg - 50, 50);
        ring.put(seg, &rec);
        assert_eq!(ring.record_at(seg - 50, seg), Some((seg, rec.clone())));
        // A filler with room for the record before it is not what the
        // append would have done: stale bytes.
        let seg2 = 2 * seg;
        let rec2 = record(seg2, 100);
        let mut ring = TailRing::new(VecTail(vec![0; 2 * seg2 as usize]));
        ring.put_filler(seg2 - 6000, 6000);
        ring.put(seg2, &rec2);
        assert_eq!(ring.record_at(seg2 - 6000, seg2), None);
        // A filler that does not end its segment is garbage.
        let mut ring = TailRing::new(VecTail(vec![0; 2 * seg as usize]));
        ring.put_filler(seg - 50, 40);
        assert_eq!(ring.record_at(seg - 50, seg), None);
    }

    #[test]
    fn a_page_filler_leads_to_the_next_page_and_on_past_a_segment_filler() {
        let seg = 4 * 4096;
        let mut ring = TailRing::new(VecTail(vec![0; 2 * seg as usize]));
        let rec = record(4096, 100);
        ring.put_filler(1000, 3096);
        ring.put(4096, &rec);
        assert_eq!(ring.record_at(1000, seg), Some((4096, rec)));
        // A page filler, then a segment-end filler: the record did not fit
        // in the segment's last page.
        let big = record(seg, 4000);
        ring.put_filler(seg - 4096 - 500, 500);
        ring.put_filler(seg - 4096, 4096);
        ring.put(seg, &big);
        assert_eq!(ring.record_at(seg - 4096 - 500, seg), Some((seg, big)));
        // A blank one byte off the page filler's length is stale bytes.
        ring.put_filler(1000, 3095);
        assert_eq!(ring.record_at(1000, seg), None);
    }

    #[test]
    fn zeroes_are_no_record() {
        let ring = TailRing::new(VecTail(vec![0; 4096]));
        assert_eq!(ring.record_at(0, 1 << 20), None);
    }
}
