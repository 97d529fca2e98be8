//! An in-memory disk that injects faults, for crash and error tests.
//!
//! Every file keeps two images: `current` (what reads see) and `durable`
//! (what survives a crash: the contents as of the last `sync`), plus the
//! writes and truncates issued since. [`MemStorage::crash`] builds a new
//! disk from the durable images with each un-synced operation either lost,
//! applied, or *torn* (a random subset of its 512-byte sectors lands, and a
//! landed sector may even hold garbage) — the failure modes of a real device
//! losing power with `O_DIRECT` writes in flight.
//!
//! [`MemStorage::kill`] models a process crash instead: everything written
//! survives (it was in the page cache), and so do the shared-memory tails
//! ([`Storage::map_tail`]), which a power loss drops.
//!
//! A write through a write-through handle (`open_write_through`) is
//! recorded in order with the others but always survives a crash whole.
//!
//! Other faults, switched on by tests at any time: failing writes, failing
//! syncs (and so failing write-through writes), and a capacity past which writes fail with `ENOSPC`.
//!
//! Simplification: directory operations (create, rename, remove) are durable
//! immediately, like a journaling file system after `sync_dir`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::time::{SharedClock, SystemClock};
use super::{check_aligned_write, DirEntry, DiskUsage, IoBuf, Storage, StorageFile, TailMemory};
use crate::config::IO_PAGE_BYTES;

/// Sector size of the simulated device: the unit a torn write tears at.
pub const SECTOR_BYTES: usize = 512;

/// What [`Storage::alloc_buf_unzeroed`] buffers hold here.
pub const UNZEROED_MARKER: u8 = 0xA5;

/// A heap buffer standing in for DMA memory.
#[derive(Debug, Clone)]
pub struct MemBuf(Vec<u8>);

impl IoBuf for MemBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
    fn trim_to(&mut self, len: usize) {
        self.0.truncate(len);
    }
}

/// Faults a test can switch on.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every write fails with `EIO`.
    pub fail_writes: bool,
    /// Every sync fails with `EIO`.
    pub fail_syncs: bool,
    /// Writes fail with `EIO` once this many more have succeeded.
    pub writes_before_failure: Option<u64>,
    /// Total bytes the disk holds; writes growing past it fail with `ENOSPC`.
    pub capacity_bytes: u64,
    /// Every write that grows a file fails with `ENOSPC` (a full disk whose
    /// usage figures lag, or a quota).
    pub no_space: bool,
    /// Each write completes (lands, or fails) after a seeded random delay
    /// of up to this many ms on the disk's clock, so writes in flight at
    /// once complete out of order.
    pub write_latency_ms: u64,
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        pos: u64,
        data: Vec<u8>,
        /// Written through a write-through handle: durable on completion.
        through: bool,
    },
    Truncate(u64),
    /// Grows the file to at least this length.
    Allocate(u64),
}

#[derive(Debug, Default, Clone)]
struct FileData {
    current: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<Op>,
    /// Writes issued to this file: with its path, what draws a write's
    /// latency, so latencies do not depend on the order of writes to
    /// different files.
    writes: u64,
}

type Files = BTreeMap<PathBuf, Rc<RefCell<FileData>>>;
type Tails = BTreeMap<PathBuf, Rc<RefCell<Vec<u8>>>>;

#[derive(Debug)]
struct MemFs {
    files: Files,
    dirs: BTreeSet<PathBuf>,
    faults: Faults,
    syncs: u64,
    /// `read_at` calls per path, kept when the file goes (tests bound the
    /// work of recovery with it).
    reads: BTreeMap<PathBuf, u64>,
    /// Shared-memory tails ([`Storage::map_tail`]): kept by
    /// [`MemStorage::kill`], lost by [`MemStorage::crash`].
    tails: Tails,
    /// Seeds write latencies ([`Faults::write_latency_ms`]).
    latency_seed: u64,
    /// Writes issued and not completed, and the most there ever were.
    writes_in_flight: (u64, u64),
}

/// The in-memory disk; clones share it. Its clock is the system's unless
/// a test or simulation gives it one ([`MemStorage::with_clock`]); a crashed
/// disk keeps its clock.
#[derive(Debug, Clone)]
pub struct MemStorage {
    fs: Rc<RefCell<MemFs>>,
    clock: SharedClock,
}

/// A deterministic pseudo-random generator (SplitMix64) for fault choices.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

impl MemStorage {
    /// An empty disk of `capacity_bytes`.
    pub fn new(capacity_bytes: u64) -> Self {
        let faults = Faults {
            capacity_bytes,
            ..Faults::default()
        };
        MemStorage {
            fs: Rc::new(RefCell::new(MemFs {
                files: BTreeMap::new(),
                dirs: BTreeSet::new(),
                faults,
                syncs: 0,
                reads: BTreeMap::new(),
                tails: BTreeMap::new(),
                latency_seed: 0x5eed,
                writes_in_flight: (0, 0),
            })),
            clock: SystemClock::shared(),
        }
    }

    /// This disk on `clock` (see [`Storage::clock`]).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Device cache flushes so far: syncs plus write-through writes
    /// (group-commit tests count them).
    pub fn sync_count(&self) -> u64 {
        self.fs.borrow().syncs
    }

    /// Seeds the write latencies ([`Faults::write_latency_ms`]).
    pub fn seed_latency(&self, seed: u64) {
        self.fs.borrow_mut().latency_seed = seed;
    }

    /// The most writes that were ever in flight at once.
    pub fn max_writes_in_flight(&self) -> u64 {
        self.fs.borrow().writes_in_flight.1
    }

    /// Changes the injected faults.
    pub fn set_faults(&self, update: impl FnOnce(&mut Faults)) {
        update(&mut self.fs.borrow_mut().faults);
    }

    /// Bytes currently stored.
    pub fn used_bytes(&self) -> u64 {
        self.fs.borrow().used_bytes()
    }

    /// Simulates power loss: a new disk holding what survived, chosen by
    /// `seed`. The old disk (and every handle on it) should be dropped.
    pub fn crash(&self, seed: u64) -> MemStorage {
        let mut rng = SplitMix(seed);
        let fs = self.fs.borrow();
        let mut files = BTreeMap::new();
        for (path, data) in &fs.files {
            let image = surviving_image(&data.borrow(), &mut rng);
            let file = FileData {
                current: image.clone(),
                durable: image,
                unsynced: Vec::new(),
                writes: data.borrow().writes,
            };
            files.insert(path.clone(), Rc::new(RefCell::new(file)));
        }
        fs.after_crash(files, BTreeMap::new())
            .with_clock(self.clock.clone())
    }

    /// Simulates a process crash (`kill -9`): a new disk holding everything
    /// written so far, synced or not (the page cache outlives the process),
    /// and every shared-memory tail. Like after [`crash`](Self::crash), the
    /// old disk and its handles should be dropped.
    pub fn kill(&self) -> MemStorage {
        let fs = self.fs.borrow();
        let deep = |d: &Rc<RefCell<FileData>>| Rc::new(RefCell::new(d.borrow().clone()));
        let files = fs.files.iter().map(|(p, d)| (p.clone(), deep(d))).collect();
        let copy = |t: &Rc<RefCell<Vec<u8>>>| Rc::new(RefCell::new(t.borrow().clone()));
        let tails = fs.tails.iter().map(|(p, t)| (p.clone(), copy(t))).collect();
        fs.after_crash(files, tails).with_clock(self.clock.clone())
    }

    /// Test helper: reads of the files below `dir` so far.
    pub fn reads_below(&self, dir: &Path) -> u64 {
        let fs = self.fs.borrow();
        fs.reads
            .iter()
            .filter(|(p, _)| p.starts_with(dir))
            .map(|(_, n)| n)
            .sum()
    }

    /// Test helper: the current bytes of a file.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let fs = self.fs.borrow();
        fs.files.get(path).map(|f| f.borrow().current.clone())
    }

    /// Test helper: overwrites bytes of a file (durably), e.g. to corrupt it.
    pub fn poke(&self, path: &Path, pos: usize, bytes: &[u8]) {
        let fs = self.fs.borrow();
        if let Some(f) = fs.files.get(path) {
            let mut f = f.borrow_mut();
            let f = &mut *f;
            for img in [&mut f.current, &mut f.durable] {
                if img.len() < pos + bytes.len() {
                    img.resize(pos + bytes.len(), 0);
                }
                img[pos..pos + bytes.len()].copy_from_slice(bytes);
            }
        }
    }
}

impl MemStorage {
    fn open_handle(&self, path: &Path, create: bool, write_through: bool) -> io::Result<MemFile> {
        let mut fs = self.fs.borrow_mut();
        let parent_ok = path.parent().is_none_or(|p| fs.dirs.contains(p));
        let data = match fs.files.get(path) {
            Some(d) => d.clone(),
            None if create && parent_ok => {
                let d = Rc::new(RefCell::new(FileData::default()));
                fs.files.insert(path.to_path_buf(), d.clone());
                d
            }
            None => return Err(not_found(path)),
        };
        Ok(MemFile {
            fs: self.fs.clone(),
            path: path.to_path_buf(),
            data,
            write_through,
            clock: self.clock.clone(),
        })
    }
}

fn surviving_image(data: &FileData, rng: &mut SplitMix) -> Vec<u8> {
    let mut image = data.durable.clone();
    for op in &data.unsynced {
        match (op, rng.below(10)) {
            (
                Op::Write {
                    pos,
                    data,
                    through: true,
                },
                _,
            ) => apply_write(&mut image, *pos, data),
            (_, 0..=2) => {} // lost
            (Op::Truncate(len), _) => image.resize(*len as usize, 0),
            (Op::Allocate(len), _) => grow(&mut image, *len),
            (Op::Write { pos, data, .. }, 3..=5) => apply_torn(&mut image, *pos, data, rng),
            (Op::Write { pos, data, .. }, _) => apply_write(&mut image, *pos, data),
        }
    }
    image
}

fn apply_write(image: &mut Vec<u8>, pos: u64, data: &[u8]) {
    grow(image, pos + data.len() as u64);
    let pos = pos as usize;
    image[pos..pos + data.len()].copy_from_slice(data);
}

fn grow(image: &mut Vec<u8>, len: u64) {
    if image.len() < len as usize {
        image.resize(len as usize, 0);
    }
}

fn apply_torn(image: &mut Vec<u8>, pos: u64, data: &[u8], rng: &mut SplitMix) {
    for (i, sector) in data.chunks(SECTOR_BYTES).enumerate() {
        let at = pos + (i * SECTOR_BYTES) as u64;
        match rng.below(8) {
            0..=3 => apply_write(image, at, sector),
            4 => {
                let garbage: Vec<u8> = (0..sector.len()).map(|_| rng.next_u64() as u8).collect();
                apply_write(image, at, &garbage);
            }
            _ => {}
        }
    }
}

impl MemFs {
    /// A new disk of the same size and directories holding `files` and
    /// `tails`, with no faults switched on (the crash ended them).
    fn after_crash(&self, files: Files, tails: Tails) -> MemStorage {
        MemStorage {
            fs: Rc::new(RefCell::new(MemFs {
                files,
                dirs: self.dirs.clone(),
                faults: Faults {
                    capacity_bytes: self.faults.capacity_bytes,
                    ..Faults::default()
                },
                syncs: 0,
                reads: BTreeMap::new(),
                tails,
                latency_seed: self.latency_seed ^ 0x9e37,
                writes_in_flight: (0, 0),
            })),
            clock: SystemClock::shared(),
        }
    }

    fn used_bytes(&self) -> u64 {
        self.files
            .values()
            .map(|f| f.borrow().current.len() as u64)
            .sum()
    }

    fn check_write(&mut self, growth: u64) -> io::Result<()> {
        let faults = &mut self.faults;
        if faults.fail_writes {
            return Err(io::Error::other("injected write failure"));
        }
        if let Some(left) = faults.writes_before_failure.as_mut() {
            if *left == 0 {
                return Err(io::Error::other("injected write failure"));
            }
            *left -= 1;
        }
        self.check_space(growth)
    }

    /// `ENOSPC` when a file may not grow by `growth` bytes.
    fn check_space(&self, growth: u64) -> io::Result<()> {
        let full = self.used_bytes() + growth > self.faults.capacity_bytes;
        if growth > 0 && (self.faults.no_space || full) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }
}

/// FNV-1a of a path: the same in every process (unlike std's hasher).
fn path_hash(path: &Path) -> u64 {
    let bytes = path.as_os_str().as_encoded_bytes();
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

/// An open in-memory file.
#[derive(Debug)]
pub struct MemFile {
    fs: Rc<RefCell<MemFs>>,
    path: PathBuf,
    data: Rc<RefCell<FileData>>,
    write_through: bool,
    clock: SharedClock,
}

/// An in-memory shared tail; see [`MemStorage::kill`].
#[derive(Debug)]
pub struct MemTail(Rc<RefCell<Vec<u8>>>);

impl TailMemory for MemTail {
    fn len(&self) -> usize {
        self.0.borrow().len()
    }
    fn write(&mut self, pos: usize, bytes: &[u8]) {
        self.0.borrow_mut()[pos..pos + bytes.len()].copy_from_slice(bytes);
    }
    fn read(&self, pos: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.0.borrow()[pos..pos + out.len()]);
    }
}

impl Storage for MemStorage {
    type Buf = MemBuf;
    type File = MemFile;
    type Tail = MemTail;

    async fn map_tail(&self, path: &Path, len: usize) -> io::Result<MemTail> {
        let mut fs = self.fs.borrow_mut();
        if !path.parent().is_none_or(|p| fs.dirs.contains(p)) {
            return Err(not_found(path));
        }
        let tail = fs
            .tails
            .entry(path.to_path_buf())
            .or_insert_with(|| Rc::new(RefCell::new(vec![0; len])));
        Ok(MemTail(tail.clone()))
    }

    fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn alignment(&self) -> usize {
        IO_PAGE_BYTES
    }

    fn alloc_buf(&self, len: usize) -> MemBuf {
        MemBuf(vec![0; len])
    }

    /// Filled with a marker byte, so a byte the store forgot to define
    /// shows up in crash and recovery tests.
    fn alloc_buf_unzeroed(&self, len: usize) -> MemBuf {
        MemBuf(vec![UNZEROED_MARKER; len])
    }

    async fn open(&self, path: &Path, create: bool) -> io::Result<MemFile> {
        self.open_handle(path, create, false)
    }

    async fn open_write_through(&self, path: &Path, create: bool) -> io::Result<MemFile> {
        self.open_handle(path, create, true)
    }

    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut fs = self.fs.borrow_mut();
        let file = fs.files.remove(path).map(|_| ());
        file.or_else(|| fs.tails.remove(path).map(|_| ()))
            .ok_or_else(|| not_found(path))
    }

    async fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut fs = self.fs.borrow_mut();
        if !fs.dirs.contains(path) {
            return Err(not_found(path));
        }
        fs.files.retain(|p, _| !p.starts_with(path));
        fs.dirs.retain(|p| !p.starts_with(path));
        Ok(())
    }

    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut fs = self.fs.borrow_mut();
        let data = fs.files.remove(from).ok_or_else(|| not_found(from))?;
        fs.files.insert(to.to_path_buf(), data);
        Ok(())
    }

    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut fs = self.fs.borrow_mut();
        for dir in path.ancestors() {
            if !dir.as_os_str().is_empty() {
                fs.dirs.insert(dir.to_path_buf());
            }
        }
        Ok(())
    }

    async fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let fs = self.fs.borrow();
        if !fs.dirs.contains(path) {
            return Err(not_found(path));
        }
        let child = |p: &Path| {
            (p.parent() == Some(path))
                .then(|| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .flatten()
        };
        let mut out: Vec<DirEntry> = fs
            .dirs
            .iter()
            .filter_map(|d| child(d).map(|name| DirEntry { name, is_dir: true }))
            .chain(fs.files.keys().filter_map(|f| {
                child(f).map(|name| DirEntry {
                    name,
                    is_dir: false,
                })
            }))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn exists(&self, path: &Path) -> io::Result<bool> {
        let fs = self.fs.borrow();
        Ok(fs.files.contains_key(path) || fs.dirs.contains(path) || fs.tails.contains_key(path))
    }

    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        match self.fs.borrow().dirs.contains(path) {
            true => Ok(()),
            false => Err(not_found(path)),
        }
    }

    fn disk_usage(&self, _path: &Path) -> io::Result<DiskUsage> {
        let fs = self.fs.borrow();
        Ok(DiskUsage {
            capacity_bytes: fs.faults.capacity_bytes,
            used_bytes: fs.used_bytes(),
        })
    }
}

impl StorageFile for MemFile {
    type Buf = MemBuf;
    type ReadBuf = Vec<u8>;

    async fn write_at(&self, buf: Rc<MemBuf>, pos: u64) -> io::Result<()> {
        check_aligned_write(buf.len(), pos, IO_PAGE_BYTES)?;
        let latency_ms = {
            let mut fs = self.fs.borrow_mut();
            let (now, most) = &mut fs.writes_in_flight;
            *now += 1;
            *most = (*most).max(*now);
            let mut data = self.data.borrow_mut();
            data.writes += 1;
            let draw = fs.latency_seed ^ path_hash(&self.path) ^ data.writes.rotate_left(32) ^ pos;
            SplitMix(draw).below(fs.faults.write_latency_ms + 1)
        };
        if latency_ms > 0 {
            self.clock.sleep(Duration::from_millis(latency_ms)).await;
        }
        self.fs.borrow_mut().writes_in_flight.0 -= 1;
        let end = pos + buf.len() as u64;
        let growth = end.saturating_sub(self.data.borrow().current.len() as u64);
        // A write-through write is a write plus a cache flush: the flush
        // counts as a sync, and when it fails the data may or may not land.
        let flush_failed = {
            let mut fs = self.fs.borrow_mut();
            fs.check_write(growth)?;
            if self.write_through && !fs.faults.fail_syncs {
                fs.syncs += 1;
            }
            self.write_through && fs.faults.fail_syncs
        };
        let mut data = self.data.borrow_mut();
        apply_write(&mut data.current, pos, buf.as_bytes());
        data.unsynced.push(Op::Write {
            pos,
            data: buf.as_bytes().to_vec(),
            through: self.write_through && !flush_failed,
        });
        if flush_failed {
            return Err(io::Error::other(
                "injected flush failure on a write-through write",
            ));
        }
        Ok(())
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        *self
            .fs
            .borrow_mut()
            .reads
            .entry(self.path.clone())
            .or_default() += 1;
        let data = self.data.borrow();
        let start = (pos as usize).min(data.current.len());
        let end = (start + len).min(data.current.len());
        Ok(data.current[start..end].to_vec())
    }

    async fn sync(&self) -> io::Result<()> {
        {
            let mut fs = self.fs.borrow_mut();
            if fs.faults.fail_syncs {
                return Err(io::Error::other("injected sync failure"));
            }
            fs.syncs += 1;
        }
        let mut data = self.data.borrow_mut();
        data.durable = data.current.clone();
        data.unsynced.clear();
        Ok(())
    }

    async fn size(&self) -> io::Result<u64> {
        Ok(self.data.borrow().current.len() as u64)
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        let mut data = self.data.borrow_mut();
        data.current.resize(len as usize, 0);
        data.unsynced.push(Op::Truncate(len));
        Ok(())
    }

    /// Fails only for want of space (`ENOSPC`, as fallocate does); the
    /// injected write failures are the device's, which allocation does
    /// not reach.
    async fn allocate(&self, len: u64) -> io::Result<()> {
        let growth = len.saturating_sub(self.data.borrow().current.len() as u64);
        self.fs.borrow().check_space(growth)?;
        let mut data = self.data.borrow_mut();
        grow(&mut data.current, len);
        data.unsynced.push(Op::Allocate(len));
        Ok(())
    }
}
