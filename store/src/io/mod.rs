//! The I/O seam: everything the store does to a disk goes through
//! [`Storage`] and [`StorageFile`], so the same engine runs on real files
//! ([`dma::DmaStorage`]: `O_DIRECT` via io_uring) and on a fault-injecting
//! in-memory disk ([`mem::MemStorage`]) in crash tests.
//!
//! Contract (checked by one conformance suite run on both implementations):
//!
//! * Writes take an aligned buffer ([`IoBuf`], allocated by the storage so the
//!   DMA implementation can hand real DMA memory to the kernel) and must start
//!   at a multiple of [`Storage::alignment`] and be a multiple of it long.
//!   Records are encoded straight into such buffers: no copy on the append path.
//! * Reads may be unaligned and return fewer bytes at end of file.
//! * Only [`StorageFile::sync`] makes file contents durable, except for
//!   handles opened with [`Storage::open_write_through`]: a write through
//!   one is durable once it completes (`O_DSYNC`). Directory
//!   operations (create, rename, remove) are durable once
//!   [`Storage::sync_dir`] returns.
//! * [`Storage::map_tail`] gives memory backed by a shared file mapping:
//!   bytes copied there outlive the process (they sit in the kernel's page
//!   cache) but not a power loss or an OS crash. The async flush mode keeps
//!   the log's unwritten tail there (`log::tail`).
//! * Errors are plain `io::Error`s; the store adds context.
//! * Time comes with the disk ([`Storage::clock`], [`time`]): the real disk
//!   runs on the system clock, the in-memory one on whatever clock its test
//!   or simulation gives it.
//! * Tasks are spawned through `task`. It, [`dma`] and the system clock
//!   of [`time`] are the only code that names the executor.
//!
//! The executor is single-threaded: nothing here is `Send`.

use std::io;
use std::ops::Deref;
use std::path::Path;
use std::rc::Rc;

pub mod dma;
pub mod mem;
pub(crate) mod task;
pub mod time;

#[cfg(test)]
mod conformance;

/// An aligned, fixed-capacity byte buffer owned by the storage layer.
pub trait IoBuf: 'static {
    fn as_bytes(&self) -> &[u8];
    fn as_bytes_mut(&mut self) -> &mut [u8];
    /// Shortens the buffer to `len` bytes (what a write will cover).
    fn trim_to(&mut self, len: usize);
    fn len(&self) -> usize {
        self.as_bytes().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Space of the device holding the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskUsage {
    pub capacity_bytes: u64,
    pub used_bytes: u64,
}

impl DiskUsage {
    /// Used space in per mille of capacity (1000 when capacity is unknown).
    pub fn used_permille(&self) -> u32 {
        if self.capacity_bytes == 0 {
            return 1000;
        }
        ((self.used_bytes as u128 * 1000) / self.capacity_bytes as u128).min(1000) as u32
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
}

/// Memory that outlives the process that wrote it (see [`Storage::map_tail`]).
pub trait TailMemory: 'static {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies `bytes` in at `pos` (`pos + bytes.len() <= len()`).
    fn write(&mut self, pos: usize, bytes: &[u8]);
    /// Copies `out.len()` bytes out from `pos` (`pos + out.len() <= len()`).
    fn read(&self, pos: usize, out: &mut [u8]);
}

/// A directory tree of files with aligned writes.
#[allow(async_fn_in_trait)] // single-threaded executor: futures need not be Send
pub trait Storage: Clone + 'static {
    type Buf: IoBuf;
    type File: StorageFile<Buf = Self::Buf>;
    type Tail: TailMemory;

    /// The clock of this environment: record timestamps, periodic jobs and
    /// every sleep of the store's tasks.
    fn clock(&self) -> &time::SharedClock;
    /// Write position and length granularity.
    fn alignment(&self) -> usize;
    /// A zero-filled buffer of `len` bytes (`len` a multiple of the alignment).
    fn alloc_buf(&self, len: usize) -> Self::Buf;
    /// A buffer of `len` bytes whose contents are unspecified (recycled
    /// memory), for callers that define every byte they write: the commit
    /// log's write buffers, which are filled for every 4 KiB of appends.
    fn alloc_buf_unzeroed(&self, len: usize) -> Self::Buf;
    /// Opens a file for reading and writing; `NotFound` when missing and
    /// `create` is false.
    async fn open(&self, path: &Path, create: bool) -> io::Result<Self::File>;
    /// Like [`open`](Storage::open), but each write through the returned
    /// handle is durable when it completes (`O_DSYNC`: the device does the
    /// write and its cache flush in one request, cheaper than a write plus
    /// an fdatasync). Other handles on the file are unaffected.
    async fn open_write_through(&self, path: &Path, create: bool) -> io::Result<Self::File>;
    async fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything below it.
    async fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Atomically replaces `to` with `from`.
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    async fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Entries of a directory, sorted by name; `NotFound` when missing.
    async fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    async fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Makes earlier creates/renames/removes in `path` durable.
    async fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Capacity and use of the device holding `path`.
    fn disk_usage(&self, path: &Path) -> io::Result<DiskUsage>;
    /// Maps the file at `path` as shared memory: writes to it survive the
    /// process, not the machine. A missing file is created zero-filled
    /// with `len` bytes; an existing one keeps its length (it may hold
    /// what a crashed process left).
    async fn map_tail(&self, path: &Path, len: usize) -> io::Result<Self::Tail>;
}

/// An open file.
#[allow(async_fn_in_trait)]
pub trait StorageFile: 'static {
    type Buf: IoBuf;
    type ReadBuf: Deref<Target = [u8]>;

    /// Writes the whole of `buf` at `pos`; a short write is an error.
    async fn write_at(&self, buf: Rc<Self::Buf>, pos: u64) -> io::Result<()>;
    /// Reads up to `len` bytes at `pos` (fewer at end of file).
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Self::ReadBuf>;
    /// fdatasync: earlier writes are durable once this returns Ok.
    async fn sync(&self) -> io::Result<()>;
    async fn size(&self) -> io::Result<u64>;
    async fn truncate(&self, len: u64) -> io::Result<()>;
    /// Reserves blocks for `[0, len)` and grows the file to at least `len`
    /// (bytes not written read as zeros; never shrinks). Durable once
    /// synced. Writes there then overwrite allocated blocks instead of
    /// extending the file: on ext4 an extending `O_DIRECT` write takes the
    /// inode lock exclusively, so io_uring cannot issue it (or any write to
    /// the same file while it runs) inline and hands it to a worker thread.
    async fn allocate(&self, len: u64) -> io::Result<()>;
}

/// Rounds `v` down to a multiple of `align` (a power of two).
pub fn align_down(v: u64, align: usize) -> u64 {
    v & !(align as u64 - 1)
}

/// Rounds `v` up to a multiple of `align` (a power of two).
pub fn align_up(v: u64, align: usize) -> u64 {
    align_down(v + align as u64 - 1, align)
}

/// Checks the write contract; both implementations call it.
pub(crate) fn check_aligned_write(len: usize, pos: u64, align: usize) -> io::Result<()> {
    if pos % align as u64 != 0 || len % align != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unaligned write: {len} bytes at {pos} (alignment {align})"),
        ));
    }
    Ok(())
}
