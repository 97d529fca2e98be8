//! One key-index file: a fixed-size hash table of chained entries, in the
//! spirit of RocketMQ's IndexFile, in Bolide's own documented format.
//!
//! ```text
//!  0                      HEADER_BYTES           + 4*slots            file_len
//!  +----------------------+-----------------------+-------------------------+
//!  | header               | slots: u32 each       | entries: ENTRY_BYTES    |
//!  +----------------------+-----------------------+-------------------------+
//!
//!  header: magic u32 | version u32 | slot_count u32 | max_entries u32 |
//!          entry_count u32 | reserved u32 | begin_ts_ms i64 | end_ts_ms i64 |
//!          begin_phys u64 | end_phys u64 | crc u32 | pad u32      (64 bytes)
//!  slot:   1-based number of the newest entry whose hash lands here; 0 = empty
//!  entry:  key_hash u32 | phys u64 | ts_delta_ms u32 | prev u32   (20 bytes)
//! ```
//!
//! All integers big-endian. `ts_delta_ms` is the store time minus
//! `begin_ts_ms`; a file whose span would overflow it is full. `prev` is the
//! 1-based number of the previous entry in the same slot's chain (0 ends it),
//! so a lookup reads one slot and then walks newest → oldest.
//!
//! The header CRC covers its first 56 bytes. Lookups match on the 32-bit key
//! hash only: results are *candidates* the caller confirms by reading the
//! record's keys. Keys are scoped by topic (`topic#key`).

use std::fmt;

/// Bytes of the file header.
pub const HEADER_BYTES: usize = 64;
/// Bytes of one entry.
pub const ENTRY_BYTES: usize = 20;
/// Bytes of one hash slot.
pub const SLOT_BYTES: usize = 4;
/// Granularity of dirty tracking; matches the DMA page the store writes.
pub const PAGE_BYTES: usize = 4096;
/// Identifies an index file ("BIX1").
pub const MAGIC: u32 = 0x4249_5831;
/// Format version of this layout.
pub const VERSION: u32 = 1;
/// Header bytes covered by the header CRC.
const HEADER_CRC_COVERS: usize = 56;

/// Why index bytes were rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexFormatError {
    /// Wrong magic/version, bad CRC, or sizes that disagree with the length.
    Corrupt(String),
}

impl fmt::Display for IndexFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexFormatError::Corrupt(why) => write!(f, "corrupt index file: {why}"),
        }
    }
}

impl std::error::Error for IndexFormatError {}

/// The file cannot take this entry; seal it and start a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexFull;

/// Sizes of an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexLayout {
    pub slot_count: u32,
    pub max_entries: u32,
}

impl IndexLayout {
    /// Defaults: 256 Ki slots and 1 Mi entries, ~21 MiB per file.
    pub const DEFAULT: IndexLayout = IndexLayout {
        slot_count: 1 << 18,
        max_entries: 1 << 20,
    };

    /// Total file size, rounded up to whole pages for direct I/O.
    pub fn file_len(&self) -> usize {
        let raw = self.entries_pos() + self.max_entries as usize * ENTRY_BYTES;
        raw.div_ceil(PAGE_BYTES) * PAGE_BYTES
    }

    fn entries_pos(&self) -> usize {
        HEADER_BYTES + self.slot_count as usize * SLOT_BYTES
    }

    /// Byte position of the slot for `hash`.
    pub fn slot_pos(&self, hash: u32) -> usize {
        HEADER_BYTES + (hash % self.slot_count) as usize * SLOT_BYTES
    }

    /// Byte position of the 1-based entry `number`.
    pub fn entry_pos(&self, number: u32) -> usize {
        self.entries_pos() + (number as usize - 1) * ENTRY_BYTES
    }
}

/// What the header says about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexHeader {
    pub layout: IndexLayout,
    pub entry_count: u32,
    /// Store time of the first entry (0 while empty).
    pub begin_ts_ms: i64,
    /// Store time of the newest entry.
    pub end_ts_ms: i64,
    /// Commit-log offset of the first entry.
    pub begin_phys: u64,
    /// Commit-log offset of the newest entry.
    pub end_phys: u64,
}

impl IndexHeader {
    fn empty(layout: IndexLayout) -> Self {
        IndexHeader {
            layout,
            entry_count: 0,
            begin_ts_ms: 0,
            end_ts_ms: 0,
            begin_phys: 0,
            end_phys: 0,
        }
    }

    fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        put(&mut b, 0, &MAGIC.to_be_bytes());
        put(&mut b, 4, &VERSION.to_be_bytes());
        put(&mut b, 8, &self.layout.slot_count.to_be_bytes());
        put(&mut b, 12, &self.layout.max_entries.to_be_bytes());
        put(&mut b, 16, &self.entry_count.to_be_bytes());
        put(&mut b, 24, &self.begin_ts_ms.to_be_bytes());
        put(&mut b, 32, &self.end_ts_ms.to_be_bytes());
        put(&mut b, 40, &self.begin_phys.to_be_bytes());
        put(&mut b, 48, &self.end_phys.to_be_bytes());
        let crc = crc32fast::hash(&b[..HEADER_CRC_COVERS]);
        put(&mut b, HEADER_CRC_COVERS, &crc.to_be_bytes());
        b
    }

    /// Decodes and checks a header (magic, version, CRC, sane sizes).
    pub fn decode(b: &[u8]) -> Result<Self, IndexFormatError> {
        let corrupt = |why: &str| IndexFormatError::Corrupt(why.to_owned());
        if b.len() < HEADER_BYTES {
            return Err(corrupt("short header"));
        }
        if u32_at(b, 0) != MAGIC || u32_at(b, 4) != VERSION {
            return Err(corrupt("bad magic or version"));
        }
        if crc32fast::hash(&b[..HEADER_CRC_COVERS]) != u32_at(b, HEADER_CRC_COVERS) {
            return Err(corrupt("header checksum mismatch"));
        }
        let layout = IndexLayout {
            slot_count: u32_at(b, 8),
            max_entries: u32_at(b, 12),
        };
        let entry_count = u32_at(b, 16);
        if layout.slot_count == 0 || entry_count > layout.max_entries {
            return Err(corrupt("impossible sizes"));
        }
        Ok(IndexHeader {
            layout,
            entry_count,
            begin_ts_ms: u64_at(b, 24) as i64,
            end_ts_ms: u64_at(b, 32) as i64,
            begin_phys: u64_at(b, 40),
            end_phys: u64_at(b, 48),
        })
    }
}

/// One decoded entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub key_hash: u32,
    pub phys: u64,
    pub ts_delta_ms: u32,
    pub prev: u32,
}

impl IndexEntry {
    fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut b = [0u8; ENTRY_BYTES];
        put(&mut b, 0, &self.key_hash.to_be_bytes());
        put(&mut b, 4, &self.phys.to_be_bytes());
        put(&mut b, 12, &self.ts_delta_ms.to_be_bytes());
        put(&mut b, 16, &self.prev.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= ENTRY_BYTES).then(|| IndexEntry {
            key_hash: u32_at(b, 0),
            phys: u64_at(b, 4),
            ts_delta_ms: u32_at(b, 12),
            prev: u32_at(b, 16),
        })
    }
}

/// Stable 32-bit hash (FNV-1a) of `topic#key`: stable across processes and
/// versions, which a seeded hasher would not be.
pub fn key_hash(topic: &str, key: &str) -> u32 {
    let bytes = topic
        .bytes()
        .chain(std::iter::once(b'#'))
        .chain(key.bytes());
    bolide_proto::hash::fnv1a32(bytes)
}

/// The active, writable index file, held in memory.
#[derive(Debug)]
pub struct IndexFile {
    header: IndexHeader,
    buf: Vec<u8>,
    /// One bit per page of `buf` (a set lookup per entry was a hot spot).
    dirty_pages: Vec<u64>,
}

impl IndexFile {
    /// A new empty file.
    pub fn new(layout: IndexLayout) -> Self {
        let header = IndexHeader::empty(layout);
        let mut file = IndexFile {
            header,
            buf: vec![0u8; layout.file_len()],
            dirty_pages: page_bitmap(layout.file_len()),
        };
        file.write_header();
        file
    }

    /// Loads a file's bytes (e.g. the active file after a restart).
    pub fn from_bytes(buf: Vec<u8>) -> Result<Self, IndexFormatError> {
        let header = IndexHeader::decode(&buf)?;
        if buf.len() < header.layout.file_len() {
            return Err(IndexFormatError::Corrupt("shorter than its layout".into()));
        }
        let dirty_pages = page_bitmap(buf.len());
        Ok(IndexFile {
            header,
            buf,
            dirty_pages,
        })
    }

    pub fn header(&self) -> &IndexHeader {
        &self.header
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// True when no further entry fits.
    pub fn is_full(&self) -> bool {
        self.header.entry_count >= self.header.layout.max_entries
    }

    /// Adds `topic#key` → `phys`. Entries must come in commit-log order.
    pub fn put(
        &mut self,
        topic: &str,
        key: &str,
        phys: u64,
        store_ts_ms: i64,
    ) -> Result<(), IndexFull> {
        if self.is_full() {
            return Err(IndexFull);
        }
        let begin = if self.header.entry_count == 0 {
            store_ts_ms
        } else {
            self.header.begin_ts_ms
        };
        let delta =
            u32::try_from(store_ts_ms.saturating_sub(begin).max(0)).map_err(|_| IndexFull)?;
        let layout = self.header.layout;
        let hash = key_hash(topic, key);
        let slot_pos = layout.slot_pos(hash);
        let number = self.header.entry_count + 1;
        let entry = IndexEntry {
            key_hash: hash,
            phys,
            ts_delta_ms: delta,
            prev: u32_at(&self.buf, slot_pos),
        };
        self.write(layout.entry_pos(number), &entry.encode());
        self.write(slot_pos, &number.to_be_bytes());
        if self.header.entry_count == 0 {
            self.header.begin_ts_ms = store_ts_ms;
            self.header.begin_phys = phys;
        }
        self.header.entry_count = number;
        self.header.end_ts_ms = self.header.end_ts_ms.max(store_ts_ms);
        self.header.end_phys = phys;
        self.write_header();
        Ok(())
    }

    /// Candidate offsets for `topic#key` stored within `[begin, end]` ms, newest first.
    pub fn lookup(
        &self,
        topic: &str,
        key: &str,
        begin_ts_ms: i64,
        end_ts_ms: i64,
        max: usize,
    ) -> Vec<u64> {
        let mut walk = KeyLookup::new(self.header, topic, key, begin_ts_ms, end_ts_ms, max);
        while let Some((pos, len)) = walk.want() {
            walk.feed(self.buf.get(pos..pos + len).unwrap_or_default());
        }
        walk.into_results()
    }

    /// Page numbers (of [`PAGE_BYTES`]) changed since the last call.
    pub fn take_dirty_pages(&mut self) -> Vec<usize> {
        let mut pages = Vec::new();
        for (word_index, word) in self.dirty_pages.iter_mut().enumerate() {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                pages.push(word_index * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
        pages
    }

    fn write_header(&mut self) {
        let bytes = self.header.encode();
        self.write(0, &bytes);
    }

    fn mark_dirty(&mut self, page: usize) {
        if let Some(word) = self.dirty_pages.get_mut(page / 64) {
            *word |= 1 << (page % 64);
        }
    }

    fn write(&mut self, pos: usize, bytes: &[u8]) {
        self.buf[pos..pos + bytes.len()].copy_from_slice(bytes);
        self.mark_dirty(pos / PAGE_BYTES);
        self.mark_dirty((pos + bytes.len() - 1) / PAGE_BYTES);
    }
}

/// A sans-IO walk of one file's chain for a key: ask [`want`](Self::want)
/// which bytes to read, [`feed`](Self::feed) them, repeat until `None`.
/// Works on an in-memory file and on a sealed file read from disk alike.
#[derive(Debug)]
pub struct KeyLookup {
    header: IndexHeader,
    hash: u32,
    begin_ts_ms: i64,
    end_ts_ms: i64,
    max: usize,
    /// Next read: the slot, then entry numbers along the chain.
    next: Step,
    found: Vec<u64>,
    /// Bounds the walk even on a corrupt (cyclic) chain.
    steps_left: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Slot,
    Entry(u32),
    Done,
}

impl KeyLookup {
    pub fn new(
        header: IndexHeader,
        topic: &str,
        key: &str,
        begin_ts_ms: i64,
        end_ts_ms: i64,
        max: usize,
    ) -> Self {
        let overlaps = header.entry_count > 0
            && header.begin_ts_ms <= end_ts_ms
            && header.end_ts_ms >= begin_ts_ms;
        KeyLookup {
            header,
            hash: key_hash(topic, key),
            begin_ts_ms,
            end_ts_ms,
            max,
            next: if overlaps && max > 0 {
                Step::Slot
            } else {
                Step::Done
            },
            found: Vec::new(),
            steps_left: header.entry_count,
        }
    }

    /// The byte range to read next, or `None` when the walk is over.
    pub fn want(&self) -> Option<(usize, usize)> {
        match self.next {
            Step::Slot => Some((self.header.layout.slot_pos(self.hash), SLOT_BYTES)),
            Step::Entry(n) => Some((self.header.layout.entry_pos(n), ENTRY_BYTES)),
            Step::Done => None,
        }
    }

    /// Supplies the bytes of the last [`want`](Self::want).
    pub fn feed(&mut self, bytes: &[u8]) {
        self.next = match self.next {
            Step::Slot if bytes.len() >= SLOT_BYTES => self.follow(u32_at(bytes, 0)),
            Step::Entry(_) => match IndexEntry::decode(bytes) {
                Some(entry) => self.visit(entry),
                None => Step::Done,
            },
            _ => Step::Done,
        };
    }

    fn visit(&mut self, entry: IndexEntry) -> Step {
        let ts = self.header.begin_ts_ms + entry.ts_delta_ms as i64;
        if entry.key_hash == self.hash && ts >= self.begin_ts_ms && ts <= self.end_ts_ms {
            self.found.push(entry.phys);
            if self.found.len() >= self.max {
                return Step::Done;
            }
        }
        self.follow(entry.prev)
    }

    fn follow(&mut self, number: u32) -> Step {
        if number == 0 || number > self.header.entry_count || self.steps_left == 0 {
            return Step::Done;
        }
        self.steps_left -= 1;
        Step::Entry(number)
    }

    /// Candidate commit-log offsets, newest first.
    pub fn into_results(self) -> Vec<u64> {
        self.found
    }
}

/// A cleared bitmap with one bit per page of a `len`-byte file.
fn page_bitmap(len: usize) -> Vec<u64> {
    vec![0; len.div_ceil(PAGE_BYTES).div_ceil(64)]
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    (u32_at(b, at) as u64) << 32 | u32_at(b, at + 4) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: IndexLayout = IndexLayout {
        slot_count: 8,
        max_entries: 64,
    };

    #[test]
    fn finds_keys_newest_first_within_time_range() {
        let mut f = IndexFile::new(SMALL);
        f.put("T", "k1", 100, 1_000).unwrap();
        f.put("T", "k2", 200, 1_001).unwrap();
        f.put("T", "k1", 300, 1_002).unwrap();
        f.put("U", "k1", 400, 1_003).unwrap();
        assert_eq!(f.lookup("T", "k1", 0, i64::MAX, 10), [300, 100]);
        assert_eq!(f.lookup("T", "k1", 1_001, 1_005, 10), [300]);
        assert_eq!(f.lookup("T", "k1", 0, i64::MAX, 1), [300]);
        assert_eq!(f.lookup("U", "k1", 0, i64::MAX, 10), [400]);
        assert!(f
            .lookup("T", "nope", 0, i64::MAX, 10)
            .iter()
            .all(|p| *p != 100 && *p != 300));
        assert!(f.lookup("T", "k1", 2_000, 3_000, 10).is_empty());
    }

    #[test]
    fn many_keys_share_slots_without_losing_any() {
        let mut f = IndexFile::new(SMALL);
        for i in 0..64u64 {
            f.put("T", &format!("key-{i}"), i * 10, 5_000 + i as i64)
                .unwrap();
        }
        assert!(f.is_full());
        assert_eq!(f.put("T", "x", 1, 1), Err(IndexFull));
        for i in 0..64u64 {
            let found = f.lookup("T", &format!("key-{i}"), 0, i64::MAX, 100);
            assert!(found.contains(&(i * 10)), "key-{i} lost: {found:?}");
        }
    }

    #[test]
    fn survives_a_byte_round_trip_and_rejects_corruption() {
        let mut f = IndexFile::new(SMALL);
        f.put("T", "k", 42, 7).unwrap();
        let bytes = f.as_bytes().to_vec();
        let back = IndexFile::from_bytes(bytes.clone()).unwrap();
        assert_eq!(back.header(), f.header());
        assert_eq!(back.lookup("T", "k", 0, 10, 5), [42]);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(IndexFile::from_bytes(bad).is_err());
        assert!(IndexFile::from_bytes(bytes[..HEADER_BYTES - 1].to_vec()).is_err());
        assert!(IndexFile::from_bytes(vec![0u8; 4096]).is_err());
    }

    #[test]
    fn time_span_overflow_fills_the_file() {
        let mut f = IndexFile::new(SMALL);
        f.put("T", "a", 1, 0).unwrap();
        assert_eq!(f.put("T", "b", 2, u32::MAX as i64 + 1), Err(IndexFull));
    }

    #[test]
    fn dirty_pages_cover_header_slot_and_entry() {
        let layout = IndexLayout {
            slot_count: 4096,
            max_entries: 1024,
        };
        let mut f = IndexFile::new(layout);
        f.take_dirty_pages();
        f.put("T", "k", 1, 1).unwrap();
        let pages = f.take_dirty_pages();
        let hash = key_hash("T", "k");
        assert!(pages.contains(&0));
        assert!(pages.contains(&(layout.slot_pos(hash) / PAGE_BYTES)));
        assert!(pages.contains(&(layout.entry_pos(1) / PAGE_BYTES)));
        assert!(f.take_dirty_pages().is_empty());
    }

    #[test]
    fn cyclic_chain_terminates() {
        let mut f = IndexFile::new(SMALL);
        f.put("T", "k", 1, 1).unwrap();
        f.put("T", "k", 2, 2).unwrap();
        // Corrupt entry 1's `prev` to point at entry 2: a cycle.
        let pos = SMALL.entry_pos(1) + 16;
        f.buf[pos..pos + 4].copy_from_slice(&2u32.to_be_bytes());
        let found = f.lookup("T", "k", 0, 10, 100);
        assert!(found.len() <= 2);
    }

    #[test]
    fn file_len_is_page_aligned() {
        assert_eq!(SMALL.file_len() % PAGE_BYTES, 0);
        assert_eq!(IndexLayout::DEFAULT.file_len() % PAGE_BYTES, 0);
        assert!(IndexLayout::DEFAULT.file_len() < 24 << 20);
    }
}
