//! The commit log's in-memory write side: records are encoded straight into
//! aligned buffers ("chunks") that later go to disk whole.
//!
//! ```text
//!  segment:  |....durable....|page|page|....|
//!  chunk N:          [start=aligned ..records..|filler]      sealed, padded to a page
//!  chunk N+1:                                 [records ...)  active, on a fresh page
//! ```
//!
//! Invariants:
//! * every chunk starts at an aligned offset and lies within one segment;
//! * a record lies wholly in the chunk it was encoded into;
//! * a log that appends its own records seals a chunk with a *page filler*
//!   ([`page_filler_len`]) that pads it to a page boundary, so the next
//!   chunk shares no page with it: no write ever rewrites a page holding a
//!   record already written (and perhaps acknowledged), which a torn
//!   write could otherwise garble, and consecutive writes are independent.
//!   The cost is under a page of log space per seal (per flush round);
//! * a replica's log (replication, the tail ring's replay) follows its
//!   source's layout instead: it pads only where the source did, and
//!   otherwise seals by copying the partial last page into the next chunk,
//!   whose write then rewrites that page as it grows (O_DIRECT writes whole
//!   pages). So does the first chunk after a reopen, which starts with the
//!   recovered partial page;
//! * buffers are not zeroed when allocated (recycled I/O memory): records
//!   and fillers define every byte they reserve, and sealing zeroes the rest
//!   of the last page, so every byte written is defined;
//! * every record leaves room for an 8-byte filler before its segment's
//!   end; a record that does not fit is preceded by a segment-end filler
//!   and goes to the next segment.
//!
//! Written chunks stay in a bounded cache to serve recent reads.

use std::collections::VecDeque;
use std::rc::Rc;

use bolide_proto::message::{encode_blank, peek_head, RecordHead, BLANK_HEADER_BYTES};

use crate::io::{align_down, align_up, IoBuf, Storage};
use crate::layout::{page_filler_len, segment_base};

/// Smallest chunk allocated (sync mode seals one per group commit).
pub(crate) const MIN_CHUNK_BYTES: usize = 64 << 10;

/// A chunk that no longer takes appends.
#[derive(Debug)]
pub(crate) struct Sealed<B> {
    pub buf: Rc<B>,
    /// Absolute log offset of `buf[0]`; aligned.
    pub start: u64,
    /// Valid bytes from `start`.
    pub filled: usize,
    /// Memory held (buffer capacity before trimming).
    pub capacity: usize,
    /// Log offset where the next chunk starts (past a segment's end
    /// filler, the next segment's base): writing every chunk up to and
    /// including this one makes the log written up to here.
    pub end: u64,
}

impl<B: IoBuf> Sealed<B> {
    fn get(&self, pos: u64, len: usize) -> Option<&[u8]> {
        let from = pos.checked_sub(self.start)? as usize;
        (from + len <= self.filled).then(|| &self.buf.as_bytes()[from..from + len])
    }

    /// The chunk's bytes from `pos` on, if it holds `pos` and more.
    fn from(&self, pos: u64) -> Option<&[u8]> {
        let from = pos.checked_sub(self.start)? as usize;
        (from < self.filled).then(|| &self.buf.as_bytes()[from..self.filled])
    }
}

#[derive(Debug)]
struct Active<B> {
    buf: B,
    start: u64,
    filled: usize,
    /// `filled` when the chunk was created: bytes copied from the previous one.
    carried: usize,
}

/// Write buffers of one commit log.
pub(crate) struct WriteBuffers<S: Storage> {
    storage: S,
    segment_size_bytes: u64,
    buffer_bytes: usize,
    cache_limit_bytes: u64,
    active: Active<S::Buf>,
    sealed: VecDeque<Rc<Sealed<S::Buf>>>,
    /// Chunks handed to the writer and not yet written: still readable.
    writing: VecDeque<Rc<Sealed<S::Buf>>>,
    cached: VecDeque<Rc<Sealed<S::Buf>>>,
    cached_bytes: u64,
    write_pos: u64,
    last_sealed_bytes: usize,
}

impl<S: Storage> std::fmt::Debug for WriteBuffers<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBuffers")
            .field("write_pos", &self.write_pos)
            .field("sealed", &self.sealed.len())
            .field("cached", &self.cached.len())
            .finish()
    }
}

impl<S: Storage> WriteBuffers<S> {
    /// Starts appending at `write_pos`; `tail` holds the on-disk bytes from
    /// the aligned start of its page up to `write_pos`.
    pub fn new(
        storage: S,
        segment_size_bytes: u64,
        buffer_bytes: usize,
        cache_limit_bytes: u64,
        write_pos: u64,
        tail: &[u8],
    ) -> Self {
        let align = storage.alignment();
        let start = align_down(write_pos, align);
        debug_assert_eq!((write_pos - start) as usize, tail.len());
        let mut buf = storage.alloc_buf_unzeroed(buffer_bytes.max(MIN_CHUNK_BYTES));
        buf.as_bytes_mut()[..tail.len()].copy_from_slice(tail);
        WriteBuffers {
            storage,
            segment_size_bytes,
            buffer_bytes,
            cache_limit_bytes,
            active: Active {
                buf,
                start,
                filled: tail.len(),
                carried: tail.len(),
            },
            sealed: VecDeque::new(),
            writing: VecDeque::new(),
            cached: VecDeque::new(),
            cached_bytes: 0,
            write_pos,
            last_sealed_bytes: buffer_bytes,
        }
    }

    /// Offset the next record will get.
    pub fn write_pos(&self) -> u64 {
        self.write_pos
    }

    /// Reserves `len` contiguous bytes for one record and returns its offset
    /// and the slice to encode into. Rolls to the next segment (writing a
    /// filler) when the record does not fit. When the active chunk is full
    /// it is sealed, with a page filler first when `pad` (see
    /// [`seal_all`](Self::seal_all)). `len + 8` must not exceed the segment
    /// size (checked by the caller's size limit).
    pub fn reserve(&mut self, len: usize, pad: bool) -> (u64, &mut [u8]) {
        self.roll_unless_fits(len);
        if self.active.filled + len > self.active.buf.len() {
            self.seal(pad);
            self.roll_unless_fits(len);
            self.grow_active(len);
        }
        let pos = self.write_pos;
        let from = self.active.filled;
        self.active.filled += len;
        self.write_pos += len as u64;
        (pos, &mut self.active.buf.as_bytes_mut()[from..from + len])
    }

    /// Rolls to the next segment when a record of `len` bytes (and room
    /// for the segment-end filler after it) does not fit in this one.
    fn roll_unless_fits(&mut self, len: usize) {
        let seg_end =
            segment_base(self.write_pos, self.segment_size_bytes) + self.segment_size_bytes;
        if self.write_pos + (len + BLANK_HEADER_BYTES) as u64 > seg_end {
            self.write_filler(seg_end);
        }
    }

    /// Pads the log to the next page boundary and seals, even when nothing
    /// was appended since the last seal: a replica reproducing the page
    /// filler its master wrote there.
    pub fn pad_page(&mut self) {
        self.write_page_filler();
        self.seal(false);
    }

    /// The filler headers from `from` up to `to`: what an append or a seal
    /// wrote between two records (a page filler, a segment-end filler, or
    /// both), for the tail ring, which needs them to follow the records.
    pub fn fillers_between(&self, from: u64, to: u64) -> Vec<(u64, [u8; BLANK_HEADER_BYTES])> {
        let mut fillers = Vec::new();
        let mut pos = from;
        while pos < to {
            let Some(head) = self.read(pos, BLANK_HEADER_BYTES) else {
                break;
            };
            let Ok(RecordHead::Blank(len)) = peek_head(head) else {
                break;
            };
            let mut copy = [0u8; BLANK_HEADER_BYTES];
            copy.copy_from_slice(head);
            fillers.push((pos, copy));
            pos += len as u64;
        }
        fillers
    }

    /// Undoes the last [`reserve`](Self::reserve) of `len` bytes at `pos`
    /// (its encoding failed).
    pub fn unreserve(&mut self, pos: u64, len: usize) {
        if self.write_pos == pos + len as u64 && self.active.filled >= len {
            self.active.filled -= len;
            self.write_pos = pos;
            let filled = self.active.filled;
            self.active.buf.as_bytes_mut()[filled..filled + len].fill(0);
        }
    }

    /// Writes a segment-end filler header and moves to the next segment.
    fn write_filler(&mut self, seg_end: u64) {
        let filler_len = (seg_end - self.write_pos) as usize;
        self.grow_active(BLANK_HEADER_BYTES);
        let from = self.active.filled;
        encode_blank(
            filler_len,
            &mut self.active.buf.as_bytes_mut()[from..from + BLANK_HEADER_BYTES],
        );
        self.active.filled += BLANK_HEADER_BYTES;
        self.write_pos = seg_end;
        self.seal(false);
    }

    /// Pads the log to the next page boundary with a page filler
    /// ([`page_filler_len`]), body zeroed: every byte written is defined.
    fn write_page_filler(&mut self) {
        let Some(len) = page_filler_len(self.write_pos) else {
            return;
        };
        let len = len as usize;
        self.grow_active(len);
        let from = self.active.filled;
        let bytes = &mut self.active.buf.as_bytes_mut()[from..from + len];
        encode_blank(len, &mut bytes[..BLANK_HEADER_BYTES]);
        bytes[BLANK_HEADER_BYTES..].fill(0);
        self.active.filled += len;
        self.write_pos += len as u64;
    }

    /// Makes the active chunk hold `len` more bytes, moving what it holds
    /// into a bigger buffer if needed.
    fn grow_active(&mut self, len: usize) {
        if self.active.filled + len <= self.active.buf.len() {
            return;
        }
        let filled = self.active.filled;
        let cap = align_up((filled + len) as u64, self.storage.alignment()) as usize;
        let mut buf = self.storage.alloc_buf_unzeroed(cap.max(self.buffer_bytes));
        buf.as_bytes_mut()[..filled].copy_from_slice(&self.active.buf.as_bytes()[..filled]);
        self.active.buf = buf;
    }

    fn next_capacity(&self) -> usize {
        let want = (self.last_sealed_bytes * 2).next_power_of_two();
        want.clamp(MIN_CHUNK_BYTES, self.buffer_bytes.max(MIN_CHUNK_BYTES))
    }

    /// Seals the active chunk (if it holds new bytes), first padding it to
    /// a page boundary when `pad`, and starts a new one at the write
    /// position. Unless that is a page boundary (no pad, no segment roll),
    /// the new chunk starts with a copy of the partial last page, which its
    /// write then rewrites as it grows (O_DIRECT writes whole pages).
    fn seal(&mut self, pad: bool) {
        if self.active.filled == self.active.carried {
            return;
        }
        if pad {
            self.write_page_filler();
        }
        let align = self.storage.alignment();
        let mut buf = self.storage.alloc_buf_unzeroed(self.next_capacity());
        let (start, carried) = if self.write_pos % align as u64 == 0 {
            (self.write_pos, 0)
        } else {
            let tail_start = align_down(self.write_pos, align);
            let from = (tail_start - self.active.start) as usize;
            let tail = &self.active.buf.as_bytes()[from..self.active.filled];
            buf.as_bytes_mut()[..tail.len()].copy_from_slice(tail);
            (tail_start, tail.len())
        };
        let old = std::mem::replace(
            &mut self.active,
            Active {
                buf,
                start,
                filled: carried,
                carried,
            },
        );
        let mut old_buf = old.buf;
        let capacity = old_buf.len();
        let write_len = align_up(old.filled as u64, align) as usize;
        // The write covers the partial last page: define its tail.
        old_buf.as_bytes_mut()[old.filled..write_len].fill(0);
        old_buf.trim_to(write_len);
        self.last_sealed_bytes = old.filled - old.carried;
        self.sealed.push_back(Rc::new(Sealed {
            buf: Rc::new(old_buf),
            start: old.start,
            filled: old.filled,
            capacity,
            end: self.write_pos,
        }));
    }

    /// Seals what was appended and hands every unwritten chunk to the
    /// flusher, in order. Returns them with the log offset they cover up to.
    #[cfg(test)]
    pub fn take_for_flush(&mut self, pad: bool) -> (Vec<Rc<Sealed<S::Buf>>>, u64) {
        let upto = self.seal_all(pad);
        (self.sealed.drain(..).collect(), upto)
    }

    /// Seals the active chunk (if it holds new bytes), so every appended
    /// byte is in a sealed chunk; returns the write position. With `pad`,
    /// a page filler first ends the chunk on a page boundary, so the next
    /// chunk shares no page with it: its write cannot tear a record this
    /// one holds, and both may be in flight at once. A log that copies a
    /// master's (replication) never pads on its own: its fillers, like its
    /// offsets, are the master's.
    pub fn seal_all(&mut self, pad: bool) -> u64 {
        self.seal(pad);
        self.write_pos
    }

    /// The oldest sealed, unwritten chunk (chunks are written in order),
    /// for the writer; it stays readable until written or restored.
    pub fn pop_sealed(&mut self) -> Option<Rc<Sealed<S::Buf>>> {
        let chunk = self.sealed.pop_front()?;
        self.writing.push_back(chunk.clone());
        Some(chunk)
    }

    fn done_writing(&mut self, chunk: &Rc<Sealed<S::Buf>>) {
        self.writing.retain(|c| !Rc::ptr_eq(c, chunk));
    }

    /// True when a sealed chunk waits to be written.
    pub fn has_sealed(&self) -> bool {
        !self.sealed.is_empty()
    }

    /// Start of the active chunk: writing every sealed chunk makes the log
    /// written at least up to here.
    pub fn active_start(&self) -> u64 {
        self.active.start
    }

    /// Puts chunks back in line, in log order, after a failed write (they
    /// stay readable, and are written again once the disk has room).
    pub fn restore_unwritten(&mut self, chunks: Vec<Rc<Sealed<S::Buf>>>) {
        for c in chunks {
            self.done_writing(&c);
            let at = self.sealed.partition_point(|s| s.end < c.end);
            self.sealed.insert(at, c);
        }
    }

    /// Moves the chunks in the write that end at or below `written` into
    /// the read cache: the log is written up to there.
    pub fn mark_written_below(&mut self, written: u64) {
        let done: Vec<_> = self
            .writing
            .iter()
            .filter(|c| c.end <= written)
            .cloned()
            .collect();
        self.mark_written(done);
    }

    /// Moves written chunks into the read cache, evicting the oldest.
    pub fn mark_written(&mut self, chunks: Vec<Rc<Sealed<S::Buf>>>) {
        for c in chunks {
            self.done_writing(&c);
            self.cached_bytes += c.capacity as u64;
            self.cached.push_back(c);
        }
        while self.cached_bytes > self.cache_limit_bytes {
            match self.cached.pop_front() {
                Some(c) => self.cached_bytes -= c.capacity as u64,
                None => break,
            }
        }
    }

    /// Bytes held by the read cache.
    #[cfg(test)]
    pub fn cached_bytes(&self) -> u64 {
        self.cached_bytes
    }

    /// `len` bytes at `pos` if memory still holds them.
    pub fn read(&self, pos: u64, len: usize) -> Option<&[u8]> {
        let a = &self.active;
        if let Some(from) = pos.checked_sub(a.start) {
            let from = from as usize;
            if from + len <= a.filled {
                return Some(&a.buf.as_bytes()[from..from + len]);
            }
        }
        let newest_first = self
            .unwritten_newest_first()
            .chain(self.cached.iter().rev());
        newest_first
            .filter(|c| c.start <= pos)
            .find_map(|c| c.get(pos, len))
    }

    /// The bytes from `pos` to the end of the chunk holding them, if
    /// memory holds `pos` (and it is below the write position).
    pub fn read_from(&self, pos: u64) -> Option<&[u8]> {
        let a = &self.active;
        if let Some(from) = pos.checked_sub(a.start) {
            let from = from as usize;
            if from < a.filled {
                return Some(&a.buf.as_bytes()[from..a.filled]);
            }
        }
        let newest_first = self
            .unwritten_newest_first()
            .chain(self.cached.iter().rev());
        newest_first
            .filter(|c| c.start <= pos)
            .find_map(|c| c.from(pos))
    }

    /// Sealed and in-write chunks, newest first.
    fn unwritten_newest_first(&self) -> impl Iterator<Item = &Rc<Sealed<S::Buf>>> {
        self.sealed.iter().rev().chain(self.writing.iter().rev())
    }

    /// Drops cached chunks below `pos` (retention deleted their segments).
    pub fn forget_below(&mut self, pos: u64) {
        while let Some(c) = self.cached.front() {
            if c.start + c.filled as u64 > pos {
                break;
            }
            self.cached_bytes -= c.capacity as u64;
            self.cached.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::mem::MemStorage;

    fn bufs(seg: u64, buffer: usize) -> WriteBuffers<MemStorage> {
        WriteBuffers::new(MemStorage::new(1 << 30), seg, buffer, 1 << 20, 0, &[])
    }

    #[test]
    fn records_are_contiguous_and_readable() {
        let mut b = bufs(1 << 20, 64 << 10);
        let mut offsets = Vec::new();
        for i in 0..100u8 {
            let (pos, slot) = b.reserve(1000, false);
            slot.fill(i);
            offsets.push(pos);
        }
        assert_eq!(offsets[1], 1000);
        for (i, pos) in offsets.iter().enumerate() {
            assert_eq!(b.read(*pos, 1000).unwrap(), &[i as u8; 1000][..]);
        }
    }

    #[test]
    fn a_chunk_being_written_stays_readable() {
        let mut b = bufs(1 << 20, 64 << 10);
        b.reserve(5000, false).1.fill(7);
        b.seal_all(false);
        b.reserve(100, false).1.fill(8);
        let chunk = b.pop_sealed().expect("a sealed chunk");
        assert_eq!(
            b.read(0, 5000).map(|s| s[4999]),
            Some(7),
            "while in the write"
        );
        assert_eq!(b.read_from(10).map(<[u8]>::len), Some(4990));
        b.restore_unwritten(vec![chunk]);
        let chunk = b.pop_sealed().expect("back in line");
        b.mark_written(vec![chunk]);
        assert_eq!(
            b.read(0, 5000).map(|s| s[0]),
            Some(7),
            "then from the cache"
        );
        assert_eq!(b.read_from(5000).map(<[u8]>::len), Some(100));
    }

    #[test]
    fn flush_seals_and_carries_the_partial_page() {
        let mut b = bufs(1 << 20, 64 << 10);
        b.reserve(5000, false).1.fill(1);
        let (chunks, upto) = b.take_for_flush(false);
        assert_eq!((chunks.len(), upto), (1, 5000));
        assert_eq!(chunks[0].buf.len(), 8192, "written length is page aligned");
        b.mark_written(chunks);
        b.reserve(100, false).1.fill(2);
        let (chunks, upto) = b.take_for_flush(false);
        assert_eq!(upto, 5100);
        assert_eq!(chunks[0].start, 4096, "the tail page is rewritten");
        assert_eq!(&chunks[0].buf.as_bytes()[..904], &[1; 904][..]);
        assert_eq!(&chunks[0].buf.as_bytes()[904..1004], &[2; 100][..]);
        assert!(
            chunks[0].buf.as_bytes()[1004..].iter().all(|x| *x == 0),
            "the rest of the last page is zeroed, not left as recycled memory"
        );
        let (none, _) = b.take_for_flush(false);
        assert!(none.is_empty(), "nothing new, nothing to write");
    }

    #[test]
    fn a_padded_seal_ends_on_a_page_and_the_next_chunk_shares_none() {
        let mut b = bufs(1 << 20, 64 << 10);
        b.reserve(5000, true).1.fill(1);
        let (chunks, upto) = b.take_for_flush(true);
        assert_eq!(upto, 8192, "padded to the page end");
        assert_eq!(chunks[0].buf.len(), 8192);
        assert_eq!(
            bolide_proto::message::peek_head(&chunks[0].buf.as_bytes()[5000..]).unwrap(),
            bolide_proto::message::RecordHead::Blank(3192)
        );
        assert!(chunks[0].buf.as_bytes()[5008..].iter().all(|x| *x == 0));
        b.mark_written(chunks);
        let (pos, _) = b.reserve(100, true);
        assert_eq!(pos, 8192);
        let (chunks, _) = b.take_for_flush(true);
        assert_eq!(chunks[0].start, 8192, "no page is written twice");
        // A gap too small for a filler header runs on to the next page.
        b.reserve(4096 - 4, true);
        let (chunks, upto) = b.take_for_flush(true);
        assert_eq!((chunks[0].start, upto), (3 * 4096, 5 * 4096));
    }

    #[test]
    fn a_full_chunk_sealed_with_pad_starts_the_next_on_a_fresh_page() {
        let mut b = bufs(1 << 20, 64 << 10);
        let mut positions = Vec::new();
        for _ in 0..70 {
            positions.push(b.reserve(1000, true).0);
        }
        assert_eq!(positions[65], 64 << 10, "the 66th did not fit: padded");
        let (chunks, _) = b.take_for_flush(true);
        for pair in chunks.windows(2) {
            assert!(pair[0].start + pair[0].buf.len() as u64 <= pair[1].start);
        }
    }

    #[test]
    fn record_that_does_not_fit_rolls_to_next_segment_after_a_filler() {
        let seg = 16 << 10;
        let mut b = bufs(seg, 64 << 10);
        let (p1, _) = b.reserve(10_000, false);
        let (p2, _) = b.reserve(10_000, false);
        assert_eq!((p1, p2), (0, seg));
        let filler = b.read(10_000, 8).unwrap();
        assert_eq!(
            bolide_proto::message::peek_head(filler).unwrap(),
            bolide_proto::message::RecordHead::Blank(seg as usize - 10_000)
        );
        let (chunks, _) = b.take_for_flush(false);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].start, seg);
        assert!(chunks.iter().all(
            |c| segment_base(c.start, seg) == segment_base(c.start + c.filled as u64 - 1, seg)
        ));
    }

    #[test]
    fn large_records_get_a_big_enough_chunk_and_cache_is_bounded() {
        let mut b = WriteBuffers::new(MemStorage::new(1 << 30), 1 << 30, 8192, 200 << 10, 0, &[]);
        for _ in 0..10 {
            b.reserve(100 << 10, false).1.fill(3);
            let (c, _) = b.take_for_flush(false);
            b.mark_written(c);
        }
        assert!(b.cached_bytes() <= 200 << 10);
        assert!(b.read(0, 10).is_none(), "evicted");
        assert!(b.read(9 * (100 << 10), 100 << 10).is_some());
    }

    #[test]
    fn resumes_from_a_tail_page() {
        let tail = vec![9u8; 100];
        let mut b = WriteBuffers::new(
            MemStorage::new(1 << 30),
            1 << 20,
            8192,
            1 << 20,
            4096 + 100,
            &tail,
        );
        let (pos, _) = b.reserve(10, false);
        assert_eq!(pos, 4196);
        let (chunks, _) = b.take_for_flush(false);
        assert_eq!(chunks[0].start, 4096);
        assert_eq!(&chunks[0].buf.as_bytes()[..100], &tail[..]);
    }
}
