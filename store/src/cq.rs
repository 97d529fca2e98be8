//! Consume queues: per (topic, queue id) an array of 20-byte units
//! ([`CqUnit`], remoting.md §6.1); unit *i* describes queue offset *i*.
//!
//! On disk: `consumequeue/<topic>/<qid>/<20-digit first unit * 20>`, each
//! file holding `cq_file_units` units back to back; the last page of the
//! last file is zero-padded (a zero unit marks the end, since a real unit
//! has a non-zero size).
//!
//! In memory a queue keeps only its bounds, the units not yet persisted
//! (`tail`, persisted at each checkpoint, so bounded by the checkpoint
//! interval) and the bytes of its partially written last page. This module
//! is pure: it plans reads and writes; the store executes them.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bolide_proto::consume_queue::{CqUnit, CQ_UNIT_BYTES};

use crate::layout::file_name;

/// One queue's state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConsumeQueue {
    /// First queue offset still present.
    pub min_offset: u64,
    /// Units `[.., persisted)` are on disk.
    pub persisted: u64,
    /// Units `[persisted, persisted + tail.len())`, not yet on disk.
    pub tail: VecDeque<CqUnit>,
    /// On-disk bytes from the aligned start of the page holding unit
    /// `persisted` up to that unit (empty when it starts a file or page).
    pub page: Vec<u8>,
}

/// An aligned write of one consume-queue file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CqWrite {
    pub file_first_unit: u64,
    pub pos: u64,
    /// Unpadded bytes (the caller pads to the alignment with zeros).
    pub bytes: Vec<u8>,
}

/// A read of persisted units from one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CqRead {
    pub file_first_unit: u64,
    pub pos: u64,
    pub units: u64,
}

impl ConsumeQueue {
    pub fn new(min_offset: u64, persisted: u64, page: Vec<u8>) -> Self {
        ConsumeQueue {
            min_offset,
            persisted,
            tail: VecDeque::new(),
            page,
        }
    }

    /// Next queue offset (RocketMQ `maxOffset`).
    pub fn max_offset(&self) -> u64 {
        self.persisted + self.tail.len() as u64
    }

    pub fn push(&mut self, unit: CqUnit) -> u64 {
        self.tail.push_back(unit);
        self.max_offset() - 1
    }

    /// Unit `offset` if it is still in memory.
    pub fn tail_unit(&self, offset: u64) -> Option<CqUnit> {
        let i = offset.checked_sub(self.persisted)?;
        self.tail.get(i as usize).copied()
    }

    /// Plans writing the first `n` tail units; returns the writes and the
    /// new partial page that [`persisted_upto`](Self::persisted_upto) installs.
    pub fn plan_persist(
        &self,
        n: usize,
        units_per_file: u64,
        align: usize,
    ) -> (Vec<CqWrite>, Vec<u8>) {
        let mut writes: Vec<CqWrite> = Vec::new();
        let mut page = self.page.clone();
        for (i, unit) in self.tail.iter().take(n).enumerate() {
            let index = self.persisted + i as u64;
            let file_first_unit = index - index % units_per_file;
            let byte = (index - file_first_unit) * CQ_UNIT_BYTES as u64;
            let same = writes
                .last()
                .is_some_and(|w| w.file_first_unit == file_first_unit);
            if !same {
                let pos = byte - page.len() as u64;
                debug_assert_eq!(pos % align as u64, 0);
                writes.push(CqWrite {
                    file_first_unit,
                    pos,
                    bytes: std::mem::take(&mut page),
                });
            }
            if let Some(w) = writes.last_mut() {
                w.bytes.extend_from_slice(&unit.encode());
            }
        }
        if let Some(w) = writes.last() {
            let end = w.pos + w.bytes.len() as u64;
            let keep = (end % align as u64) as usize;
            let next_index = self.persisted + n as u64;
            page = if next_index % units_per_file == 0 {
                Vec::new()
            } else {
                w.bytes[w.bytes.len() - keep..].to_vec()
            };
        }
        (writes, page)
    }

    /// Records that the first `n` tail units are durable.
    pub fn persisted_upto(&mut self, n: usize, page: Vec<u8>) {
        self.tail.drain(..n);
        self.persisted += n as u64;
        self.page = page;
    }

    /// Plans reading units `[from, from + count)` that are on disk.
    pub fn plan_read(&self, from: u64, count: u64, units_per_file: u64) -> Vec<CqRead> {
        let end = (from + count).min(self.persisted);
        let mut reads = Vec::new();
        let mut i = from;
        while i < end {
            let file_first_unit = i - i % units_per_file;
            let stop = end.min(file_first_unit + units_per_file);
            reads.push(CqRead {
                file_first_unit,
                pos: (i - file_first_unit) * CQ_UNIT_BYTES as u64,
                units: stop - i,
            });
            i = stop;
        }
        reads
    }
}

/// First units of the files (named by first unit, `units_per_file` each)
/// to delete once the queue starts at `min_offset`: those lying wholly
/// below it, except one that holds unit `persisted - 1` (the last file
/// stays, so a reopen still finds the queue's end).
pub(crate) fn files_below(
    files: &[u64],
    min_offset: u64,
    persisted: u64,
    units_per_file: u64,
) -> Vec<u64> {
    files
        .iter()
        .copied()
        .filter(|f| f + units_per_file <= min_offset && f + units_per_file < persisted)
        .collect()
}

/// Directory of a queue's files.
pub(crate) fn queue_dir(root: &Path, topic: &str, queue_id: u32) -> PathBuf {
    root.join(topic).join(queue_id.to_string())
}

/// Path of the file starting at unit `file_first_unit`.
pub(crate) fn file_path(dir: &Path, file_first_unit: u64) -> PathBuf {
    dir.join(file_name(file_first_unit * CQ_UNIT_BYTES as u64))
}

/// Decodes back-to-back units, stopping at the first invalid (zero) one.
pub(crate) fn decode_units(bytes: &[u8]) -> Vec<CqUnit> {
    bytes
        .chunks_exact(CQ_UNIT_BYTES)
        .map_while(|c| CqUnit::decode(c).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolide_proto::ids::PhysicalOffset;

    fn unit(i: u64) -> CqUnit {
        CqUnit {
            physical_offset: PhysicalOffset(i * 100),
            size: 100,
            tags_code: i as i64,
        }
    }

    #[test]
    fn persist_plans_rewrite_the_partial_page_and_split_files() {
        let mut q = ConsumeQueue::new(0, 0, Vec::new());
        for i in 0..10 {
            assert_eq!(q.push(unit(i)), i);
        }
        // 4 units per file, 64-byte pages (3 units and 4 bytes).
        let (writes, page) = q.plan_persist(6, 4, 64);
        assert_eq!(writes.len(), 2);
        assert_eq!(
            (
                writes[0].file_first_unit,
                writes[0].pos,
                writes[0].bytes.len()
            ),
            (0, 0, 80)
        );
        assert_eq!(
            (
                writes[1].file_first_unit,
                writes[1].pos,
                writes[1].bytes.len()
            ),
            (4, 0, 40)
        );
        assert_eq!(page.len(), 40);
        q.persisted_upto(6, page);
        assert_eq!((q.persisted, q.max_offset()), (6, 10));
        let (writes, _) = q.plan_persist(1, 4, 64);
        assert_eq!(
            (
                writes[0].file_first_unit,
                writes[0].pos,
                writes[0].bytes.len()
            ),
            (4, 0, 60)
        );
        assert_eq!(
            decode_units(&writes[0].bytes),
            vec![unit(4), unit(5), unit(6)]
        );
    }

    #[test]
    fn read_plans_stop_at_persisted_and_split_files() {
        let q = ConsumeQueue::new(0, 10, Vec::new());
        let reads = q.plan_read(2, 20, 4);
        let got: Vec<_> = reads
            .iter()
            .map(|r| (r.file_first_unit, r.pos, r.units))
            .collect();
        assert_eq!(got, vec![(0, 40, 2), (4, 0, 4), (8, 0, 2)]);
    }

    #[test]
    fn files_wholly_below_the_minimum_go_except_the_last() {
        let files = [0, 4, 8, 12];
        assert_eq!(files_below(&files, 9, 14, 4), vec![0, 4]);
        assert_eq!(files_below(&files, 16, 16, 4), vec![0, 4, 8]);
        assert!(files_below(&files, 3, 14, 4).is_empty());
    }

    #[test]
    fn zero_units_end_a_file() {
        let mut bytes = unit(1).encode().to_vec();
        bytes.extend_from_slice(&[0; 40]);
        assert_eq!(decode_units(&bytes), vec![unit(1)]);
    }
}
