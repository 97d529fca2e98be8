//! Real files: glommio `DmaFile` (`O_DIRECT`, io_uring). Buffers are glommio
//! DMA buffers, so a record encoded into one goes to the device without a
//! copy. Directory operations are rare (segment roll, checkpoint, retention)
//! and use `std::fs`; disk usage comes from `statvfs(2)`. The async-mode
//! tail ([`MappedTail`]) is a `MAP_SHARED` mapping of a small file.

use std::cell::Cell;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use glommio::io::{DmaBuffer, DmaFile, OpenOptions, ReadResult};

use super::time::{SharedClock, SystemClock};
use super::{check_aligned_write, DirEntry, DiskUsage, IoBuf, Storage, StorageFile, TailMemory};
use crate::config::IO_PAGE_BYTES;

impl IoBuf for DmaBuffer {
    fn as_bytes(&self) -> &[u8] {
        DmaBuffer::as_bytes(self)
    }
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        DmaBuffer::as_bytes_mut(self)
    }
    fn trim_to(&mut self, len: usize) {
        self.trim_to_size(len);
    }
}

/// Files on a real disk through `O_DIRECT`, on the system clock. Must be
/// used inside a glommio executor.
#[derive(Debug, Clone)]
pub struct DmaStorage {
    probed: Rc<Cell<bool>>,
    clock: SharedClock,
}

impl Default for DmaStorage {
    fn default() -> Self {
        DmaStorage {
            probed: Rc::default(),
            clock: SystemClock::shared(),
        }
    }
}

impl DmaStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// glommio 0.9 decides once per device and process whether reads may
    /// use the io_uring poll ring, by reading the first block of the first
    /// file opened there. If that file is empty the probe "succeeds", every
    /// later read goes to the poll ring and fails with `EOPNOTSUPP` on
    /// devices without poll queues. So before the first real open we open
    /// a one-block file beside it, which makes the probe see real data.
    async fn probe_once(&self, path: &Path) -> io::Result<()> {
        if self.probed.get() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let probe = dir.join(".iopoll-probe");
        std::fs::write(&probe, vec![0u8; IO_PAGE_BYTES])?;
        let opened = DmaFile::open(&probe).await.map_err(to_io);
        let _ = std::fs::remove_file(&probe);
        opened?.close().await.map_err(to_io)?;
        self.probed.set(true);
        Ok(())
    }

    async fn open_with_flags(
        &self,
        path: &Path,
        create: bool,
        flags: i32,
    ) -> io::Result<DmaStorageFile> {
        let path = &std::path::absolute(path)?;
        self.probe_once(path).await?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .custom_flags(flags)
            .dma_open(path)
            .await
            .map_err(to_io)?;
        Ok(DmaStorageFile { file })
    }
}

/// An open `O_DIRECT` file.
#[derive(Debug)]
pub struct DmaStorageFile {
    file: DmaFile,
}

fn to_io<T>(e: glommio::GlommioError<T>) -> io::Error {
    io::Error::from(e)
}

impl Storage for DmaStorage {
    type Buf = DmaBuffer;
    type File = DmaStorageFile;
    type Tail = MappedTail;

    fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn alignment(&self) -> usize {
        IO_PAGE_BYTES
    }

    /// From the executor's registered I/O memory while it lasts (recycled,
    /// no page faults, fixed-buffer writes), then from the heap.
    fn alloc_buf(&self, len: usize) -> DmaBuffer {
        let mut buf = glommio::allocate_dma_buffer(len);
        buf.as_bytes_mut().fill(0);
        buf
    }

    fn alloc_buf_unzeroed(&self, len: usize) -> DmaBuffer {
        glommio::allocate_dma_buffer(len)
    }

    async fn open(&self, path: &Path, create: bool) -> io::Result<DmaStorageFile> {
        self.open_with_flags(path, create, 0).await
    }

    async fn open_write_through(&self, path: &Path, create: bool) -> io::Result<DmaStorageFile> {
        self.open_with_flags(path, create, libc::O_DSYNC).await
    }

    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    async fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    async fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            out.push(DirEntry {
                name: entry.file_name().to_string_lossy().into_owned(),
                is_dir: entry.file_type()?.is_dir(),
            });
        }
        out.sort();
        Ok(out)
    }

    async fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        // glommio opens directories with `openat(-1, ...)`, which fails
        // with EBADF for a relative path (such as the default `./data`).
        let path = std::path::absolute(path)?;
        let dir = glommio::io::Directory::open(&path).await.map_err(to_io)?;
        dir.sync().await.map_err(to_io)?;
        dir.close().await.map_err(to_io)
    }

    fn disk_usage(&self, path: &Path) -> io::Result<DiskUsage> {
        statvfs_usage(path)
    }

    async fn map_tail(&self, path: &Path, len: usize) -> io::Result<MappedTail> {
        MappedTail::open(path, len)
    }
}

/// A file mapped `MAP_SHARED`: stores into it land in the page cache at
/// once, so they outlive the process; the kernel writes them back lazily
/// (a few MiB every few seconds at most), which nobody waits for.
#[derive(Debug)]
pub struct MappedTail {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl MappedTail {
    /// Opened once per shard at start-up: the blocking calls are fine here.
    fn open(path: &Path, len: usize) -> io::Result<MappedTail> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut size = file.metadata()?.len() as usize;
        if size == 0 {
            file.set_len(len as u64)?;
            size = len;
        }
        // SAFETY: a fresh shared mapping of an open file descriptor; the
        // kernel picks the address. The mapping stays valid after `file`
        // is closed, until `Drop` unmaps it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = std::ptr::NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(MappedTail { ptr, len: size })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl TailMemory for MappedTail {
    fn len(&self) -> usize {
        self.len
    }
    fn write(&mut self, pos: usize, bytes: &[u8]) {
        assert!(pos + bytes.len() <= self.len, "tail write out of range");
        // SAFETY: in range (checked above); `&mut self` makes this the only
        // access through this mapping, and no other process maps the file
        // (the data directory is locked).
        let to = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(pos), bytes.len()) };
        to.copy_from_slice(bytes);
    }
    fn read(&self, pos: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.bytes()[pos..pos + out.len()]);
    }
}

impl Drop for MappedTail {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `open`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

fn statvfs_usage(path: &Path) -> io::Result<DiskUsage> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `st` points to
    // writable memory of the right type; statvfs only writes into it.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised the struct.
    let st = unsafe { st.assume_init() };
    Ok(usage_from_statvfs(
        st.f_blocks,
        st.f_bfree,
        st.f_bavail,
        st.f_frsize,
    ))
}

/// Disk usage as `df` reports it: used = blocks in use; capacity = used +
/// what we may still allocate. Blocks reserved for root that we cannot use
/// count for neither side (a disk whose reserve is large would otherwise
/// look full and retention would delete data early).
fn usage_from_statvfs(blocks: u64, free: u64, available: u64, block_bytes: u64) -> DiskUsage {
    let used_bytes = blocks.saturating_sub(free) * block_bytes;
    DiskUsage {
        capacity_bytes: used_bytes + available * block_bytes,
        used_bytes,
    }
}

impl StorageFile for DmaStorageFile {
    type Buf = DmaBuffer;
    type ReadBuf = ReadResult;

    async fn write_at(&self, buf: Rc<DmaBuffer>, pos: u64) -> io::Result<()> {
        check_aligned_write(buf.len(), pos, IO_PAGE_BYTES)?;
        let want = buf.len();
        let written = self.file.write_rc_at(buf, pos).await.map_err(to_io)?;
        if written != want {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {want} bytes at {pos}"),
            ));
        }
        Ok(())
    }

    /// Unaligned read done as an aligned one: glommio 0.9's own `read_at`
    /// returns `min(read, len)` bytes counted from the aligned start, so near
    /// end of file it hands back bytes past EOF.
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<ReadResult> {
        let align = self.file.alignment();
        let start = pos & !(align - 1);
        let skip = (pos - start) as usize;
        let span = (skip + len).next_multiple_of(align as usize);
        let read = self
            .file
            .read_at_aligned(start, span)
            .await
            .map_err(to_io)?;
        let available = read.len().saturating_sub(skip).min(len);
        let sliced = ReadResult::slice(&read, skip.min(read.len()), available);
        sliced.ok_or_else(|| io::Error::other("read slice out of range"))
    }

    async fn sync(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(to_io)
    }

    async fn size(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(to_io)
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len).await.map_err(to_io)
    }

    /// `fallocate` mode 0: unwritten extents, the size grows.
    async fn allocate(&self, len: u64) -> io::Result<()> {
        self.file.pre_allocate(len, false).await.map_err(to_io)
    }
}

#[cfg(test)]
mod tests {
    use super::usage_from_statvfs;

    #[test]
    fn usage_is_what_df_shows() {
        // 1000 blocks, 200 in use, 800 free of which 100 usable by us.
        let u = usage_from_statvfs(1000, 800, 100, 4096);
        assert_eq!(u.used_bytes, 200 * 4096);
        assert_eq!(u.capacity_bytes, 300 * 4096);
        assert_eq!(
            u.used_permille(),
            666,
            "the reserve counts for neither side"
        );
        assert_eq!(usage_from_statvfs(1000, 800, 0, 4096).used_permille(), 1000);
        assert_eq!(
            usage_from_statvfs(1000, 1000, 1000, 4096).used_permille(),
            0
        );
    }
}
