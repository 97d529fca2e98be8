//! Store configuration: every limit of one shard's storage engine, with
//! defaults and a [`StoreConfig::validate`] that names the bad field.
//!
//! The broker wraps this in its serde config; this crate stays serde-free.

use std::time::Duration;

use bolide_proto::delay::DelayLevels;

use crate::error::{Result, StoreError};

/// When an append is answered relative to durability, and so what an
/// acknowledged record survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Answer once the record is in memory *and* copied to the shard's
    /// tail ring (`log::tail`: a shared file mapping that outlives the
    /// process), then write behind as in [`FlushMode::Memory`]. Survives a
    /// process crash (`kill -9`, OOM kill, panic): reopening takes the
    /// unwritten records back from the ring. A power loss or OS crash may
    /// lose what was not yet fdatasynced (at most `flush_interval_ms` or
    /// `flush_trigger_bytes` worth), as RocketMQ's async flush.
    Async,
    /// Answer once the record's bytes are durable. Concurrent appends share
    /// one write (group commit) through an `O_DSYNC` handle, so the write
    /// is durable when it completes. Survives process crash and power loss.
    Sync,
    /// Answer once the record is in memory (opt-in). A writer task writes
    /// each write buffer as it fills (whole buffers, no fdatasync per
    /// write) and fdatasyncs once `flush_trigger_bytes` are written but
    /// unsynced; the rest is written and synced every `flush_interval_ms`.
    /// A process crash loses what was not yet written (up to
    /// `max_unflushed_bytes`).
    Memory,
}

impl FlushMode {
    /// Appends are answered before they are written (a writer task writes
    /// behind them).
    pub fn writes_behind(self) -> bool {
        matches!(self, FlushMode::Async | FlushMode::Memory)
    }

    /// Appends are copied to the tail ring before they are answered.
    pub fn keeps_tail(self) -> bool {
        self == FlushMode::Async
    }
}

/// I/O page size the store aligns every write to. 4 KiB covers every
/// device's logical block size (512 or 4096) for `O_DIRECT`.
pub const IO_PAGE_BYTES: usize = 4096;

/// Configuration of one shard's store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// Size of one commit-log segment; a multiple of [`IO_PAGE_BYTES`].
    pub segment_size_bytes: u64,
    /// Sync mode: how far past the last log write a background task keeps
    /// the commit log zero-filled (the rest of the active segment, then the
    /// next segment, created ahead of time), so group-commit writes
    /// overwrite allocated blocks and each fdatasync flushes data only, not
    /// file-size/extent metadata. 0 disables it. Async mode never
    /// pre-allocates (its fdatasyncs are rare; zeroing would double traffic).
    pub preallocate_ahead_bytes: u64,
    /// Largest encoded record accepted (RocketMQ `maxMessageSize`).
    pub max_message_bytes: usize,
    pub flush_mode: FlushMode,
    /// Async mode: longest time appended bytes stay un-synced.
    pub flush_interval_ms: u64,
    /// Async mode: written but unsynced bytes that trigger an fdatasync.
    pub flush_trigger_bytes: u64,
    /// Appends wait once this many bytes are appended but not yet durable
    /// (backpressure for async mode).
    pub max_unflushed_bytes: u64,
    /// Size of one write buffer (records are encoded straight into it) and
    /// of the log's largest writes. Async appends also wait while more than
    /// two buffers' worth is unwritten.
    pub write_buffer_bytes: usize,
    /// Flushed write buffers kept in memory to serve recent reads.
    pub read_cache_bytes: u64,
    /// Entries per consume-queue file.
    pub cq_file_units: u64,
    /// Interval of checkpoints (consume queues + index persisted, checkpoint
    /// file replaced). Bounds recovery work and in-memory queue tails.
    pub checkpoint_interval_ms: u64,
    /// Log bytes dispatched since the last checkpoint that force one early.
    pub checkpoint_trigger_bytes: u64,
    /// Segments whose newest record is older than this are deleted.
    pub retention_hours: u64,
    /// Interval of the retention check.
    pub retention_check_interval_ms: u64,
    /// Disk usage (per mille of capacity) above which the oldest segments
    /// are deleted regardless of age.
    pub disk_soft_watermark_permille: u32,
    /// Disk usage above which appends are refused with `DiskFull`.
    pub disk_hard_watermark_permille: u32,
    /// Hash slots of one key-index file.
    pub index_slot_count: u32,
    /// Entries of one key-index file.
    pub index_max_entries: u32,
    /// Delay levels: units of the schedule topic carry store time + the
    /// delay of their level as tag code (their delivery time).
    pub delay_levels: DelayLevels,
    /// The log copies a master's (a replication slave): its layout, page
    /// fillers included, is the master's, so it never pads on its own and
    /// consecutive writes may share a page (see `log::buffer`).
    pub replica: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            segment_size_bytes: 1 << 30,
            preallocate_ahead_bytes: 64 << 20,
            max_message_bytes: 4 << 20,
            flush_mode: FlushMode::Async,
            flush_interval_ms: 500,
            flush_trigger_bytes: 16 << 20,
            max_unflushed_bytes: 64 << 20,
            write_buffer_bytes: 4 << 20,
            read_cache_bytes: 256 << 20,
            cq_file_units: 300_000,
            checkpoint_interval_ms: 10_000,
            checkpoint_trigger_bytes: 256 << 20,
            retention_hours: 72,
            retention_check_interval_ms: 10_000,
            disk_soft_watermark_permille: 750,
            disk_hard_watermark_permille: 900,
            index_slot_count: 1 << 18,
            index_max_entries: 1 << 20,
            delay_levels: DelayLevels::default(),
            replica: false,
        }
    }
}

fn bad(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Config {
        field,
        reason: reason.into(),
    }
}

impl StoreConfig {
    /// Size of the async-mode tail ring: room for everything appended but
    /// not yet written, which backpressure keeps below two write buffers
    /// past the active one, plus one largest batch of records.
    pub fn tail_ring_bytes(&self) -> usize {
        4 * self.write_buffer_bytes + 2 * self.max_message_bytes
    }

    /// Memory the shard's executor should set aside for I/O buffers
    /// (its `io_memory`): the read cache, four write buffers (the
    /// active one, two waiting and one being written), one largest record
    /// and 8 MiB for direct reads. Write buffers come from there and return
    /// there, so steady appends touch no fresh pages (a page fault per 4 KiB
    /// cost about a fifth of the append CPU). Past it, buffers come from the
    /// heap and everything still works.
    pub fn io_memory_bytes(&self) -> usize {
        self.read_cache_bytes as usize
            + 4 * self.write_buffer_bytes
            + self.max_message_bytes
            + (8 << 20)
    }

    /// Memory one shard holds for as long as it runs, with this config:
    /// its I/O memory, the tail ring (async mode), the current key-index
    /// file (kept whole in memory) and 8 MiB for queue tails, maps and the
    /// executor. The broker checks shards x this against its budget.
    pub fn shard_memory_bytes(&self) -> usize {
        let layout = crate::index::format::IndexLayout {
            slot_count: self.index_slot_count,
            max_entries: self.index_max_entries,
        };
        let tail = match self.flush_mode.keeps_tail() {
            true => self.tail_ring_bytes(),
            false => 0,
        };
        self.io_memory_bytes() + tail + layout.file_len() + (8 << 20)
    }

    /// A small configuration for tests: 64 KiB segments, short intervals.
    pub fn for_tests() -> Self {
        StoreConfig {
            segment_size_bytes: 64 << 10,
            preallocate_ahead_bytes: 128 << 10,
            max_message_bytes: 16 << 10,
            flush_interval_ms: 5,
            flush_trigger_bytes: 16 << 10,
            max_unflushed_bytes: 256 << 10,
            write_buffer_bytes: 32 << 10,
            read_cache_bytes: 128 << 10,
            cq_file_units: 64,
            checkpoint_interval_ms: 50,
            checkpoint_trigger_bytes: 64 << 10,
            retention_check_interval_ms: 3_600_000,
            index_slot_count: 64,
            index_max_entries: 256,
            ..StoreConfig::default()
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let page = IO_PAGE_BYTES as u64;
        if self.segment_size_bytes < 4 * page || self.segment_size_bytes % page != 0 {
            return Err(bad(
                "segment_size_bytes",
                "must be a multiple of 4096 and >= 16384",
            ));
        }
        if self.segment_size_bytes > 1 << 40 {
            return Err(bad("segment_size_bytes", "must be <= 1 TiB"));
        }
        if self.max_message_bytes < bolide_proto::message::MIN_RECORD_BYTES
            || self.max_message_bytes as u64 + 8 > self.segment_size_bytes
        {
            return Err(bad(
                "max_message_bytes",
                "must fit a segment with its end filler",
            ));
        }
        if self.max_message_bytes > bolide_proto::message::MAX_RECORD_BYTES {
            return Err(bad("max_message_bytes", "above the record format's limit"));
        }
        if self.write_buffer_bytes < IO_PAGE_BYTES || self.write_buffer_bytes % IO_PAGE_BYTES != 0 {
            return Err(bad(
                "write_buffer_bytes",
                "must be a positive multiple of 4096",
            ));
        }
        if self.flush_interval_ms == 0 {
            return Err(bad("flush_interval_ms", "must be > 0"));
        }
        if self.max_unflushed_bytes < self.max_message_bytes as u64 * 2 {
            return Err(bad(
                "max_unflushed_bytes",
                "must be >= 2 x max_message_bytes",
            ));
        }
        if self.cq_file_units == 0 || self.cq_file_units > 1 << 30 {
            return Err(bad("cq_file_units", "must be in 1..=2^30"));
        }
        if self.checkpoint_interval_ms == 0 {
            return Err(bad("checkpoint_interval_ms", "must be > 0"));
        }
        if self.retention_check_interval_ms == 0 {
            return Err(bad("retention_check_interval_ms", "must be > 0"));
        }
        self.validate_watermarks()?;
        if self.index_slot_count == 0 || self.index_max_entries == 0 {
            return Err(bad("index_slot_count", "index sizes must be > 0"));
        }
        Ok(())
    }

    fn validate_watermarks(&self) -> Result<()> {
        if self.disk_hard_watermark_permille == 0 || self.disk_hard_watermark_permille > 1000 {
            return Err(bad("disk_hard_watermark_permille", "must be in 1..=1000"));
        }
        if self.disk_soft_watermark_permille > self.disk_hard_watermark_permille {
            return Err(bad(
                "disk_soft_watermark_permille",
                "must be <= the hard watermark",
            ));
        }
        Ok(())
    }

    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    pub fn retention_ms(&self) -> i64 {
        (self.retention_hours as i64).saturating_mul(3_600_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_test_config_are_valid() {
        StoreConfig::default().validate().unwrap();
        StoreConfig::for_tests().validate().unwrap();
    }

    #[test]
    fn validate_names_the_bad_field() {
        type Case = (fn(&mut StoreConfig), &'static str);
        let cases: Vec<Case> = vec![
            (|c| c.segment_size_bytes = 5000, "segment_size_bytes"),
            (|c| c.max_message_bytes = 10, "max_message_bytes"),
            (|c| c.write_buffer_bytes = 100, "write_buffer_bytes"),
            (|c| c.flush_interval_ms = 0, "flush_interval_ms"),
            (|c| c.cq_file_units = 0, "cq_file_units"),
            (
                |c| c.disk_hard_watermark_permille = 1001,
                "disk_hard_watermark_permille",
            ),
            (
                |c| c.disk_soft_watermark_permille = 999,
                "disk_soft_watermark_permille",
            ),
        ];
        for (mutate, field) in cases {
            let mut c = StoreConfig::default();
            mutate(&mut c);
            match c.validate() {
                Err(StoreError::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
