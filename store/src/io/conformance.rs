//! One conformance suite for every [`Storage`]: the contract in `io/mod.rs`.

use std::io;
use std::path::Path;
use std::rc::Rc;

use super::dma::DmaStorage;
use super::mem::MemStorage;
use super::task::spawn_local;
use super::{IoBuf, Storage, StorageFile};
use crate::testutil::run;

fn filled<S: Storage>(s: &S, len: usize, byte: u8) -> Rc<S::Buf> {
    let mut buf = s.alloc_buf(len);
    assert!(
        buf.as_bytes().iter().all(|b| *b == 0),
        "buffers start zeroed"
    );
    buf.as_bytes_mut().fill(byte);
    Rc::new(buf)
}

async fn conformance<S: Storage>(s: S, root: &Path) {
    let a = s.alignment();
    assert!(a.is_power_of_two() && a >= 512);
    let dir = root.join("d/e");
    s.create_dir_all(&dir).await.unwrap();
    assert!(s.exists(&dir).await.unwrap());
    let path = dir.join("f");
    let err = s.open(&path, false).await.err().map(|e| e.kind());
    assert_eq!(err, Some(io::ErrorKind::NotFound));

    let f = s.open(&path, true).await.unwrap();
    assert_eq!(f.size().await.unwrap(), 0);
    f.write_at(filled(&s, 2 * a, 7), 0).await.unwrap();
    f.write_at(filled(&s, a, 9), a as u64).await.unwrap();
    f.sync().await.unwrap();
    assert_eq!(f.size().await.unwrap(), 2 * a as u64);
    let r = f.read_at(a as u64 - 3, 6).await.unwrap();
    assert_eq!(&r[..], &[7, 7, 7, 9, 9, 9]);
    let short = f.read_at(2 * a as u64 - 2, 100).await.unwrap();
    assert_eq!(short.len(), 2, "reads stop at end of file");
    assert!(f.read_at(4 * a as u64, 10).await.unwrap().is_empty());

    let unaligned = f.write_at(filled(&s, a, 1), 3).await;
    assert!(unaligned.is_err(), "unaligned position is rejected");
    let mut odd = s.alloc_buf(a);
    odd.trim_to(a - 1);
    assert!(
        f.write_at(Rc::new(odd), 0).await.is_err(),
        "unaligned length is rejected"
    );

    let through = s.open_write_through(&path, false).await.unwrap();
    through.write_at(filled(&s, a, 5), 0).await.unwrap();
    assert_eq!(
        &f.read_at(0, 2).await.unwrap()[..],
        &[5, 5],
        "both handles see one file"
    );
    through.write_at(filled(&s, a, 7), 0).await.unwrap();
    drop(through);
    let mut recycled = s.alloc_buf_unzeroed(a);
    assert_eq!(recycled.len(), a);
    recycled.as_bytes_mut().fill(7);
    f.write_at(Rc::new(recycled), 0).await.unwrap();

    f.truncate(a as u64 + 5).await.unwrap();
    assert_eq!(f.size().await.unwrap(), a as u64 + 5);
    drop(f);

    let g = s.open(&path, false).await.unwrap();
    assert_eq!(&g.read_at(a as u64, 10).await.unwrap()[..], &[9; 5]);
    drop(g);

    let other = dir.join("g");
    drop(s.open(&other, true).await.unwrap());
    s.create_dir_all(&dir.join("sub")).await.unwrap();
    let names: Vec<_> = s
        .list_dir(&dir)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.is_dir))
        .collect();
    assert_eq!(
        names,
        vec![
            ("f".into(), false),
            ("g".into(), false),
            ("sub".into(), true)
        ]
    );

    s.rename(&other, &path).await.unwrap();
    assert!(!s.exists(&other).await.unwrap());
    let replaced = s.open(&path, false).await.unwrap();
    assert_eq!(
        replaced.size().await.unwrap(),
        0,
        "rename replaces the target"
    );
    s.sync_dir(&dir).await.unwrap();
    s.remove_file(&path).await.unwrap();
    assert!(!s.exists(&path).await.unwrap());
    assert_eq!(
        s.list_dir(&root.join("nope")).await.err().map(|e| e.kind()),
        Some(io::ErrorKind::NotFound)
    );

    writes_in_flight_at_once(&s, &dir).await;
    allocation_grows_with_zeros(&s, &dir).await;
    s.remove_dir_all(&root.join("d")).await.unwrap();
    assert!(!s.exists(&dir).await.unwrap());
    let usage = s.disk_usage(root).unwrap();
    assert!(usage.capacity_bytes > 0 && usage.used_bytes <= usage.capacity_bytes);
    tail_conformance(&s, root).await;
}

/// Several write-through writes to disjoint pages may be in flight at
/// once (sync mode's overlapping rounds); each lands whole.
async fn writes_in_flight_at_once<S: Storage>(s: &S, dir: &Path) {
    let a = s.alignment();
    let f = s.open_write_through(&dir.join("w"), true).await.unwrap();
    let w = |i: u8| f.write_at(filled(s, a, i + 1), i as u64 * a as u64);
    use futures_lite::future::zip;
    let ((r0, r1), (r2, r3)) = zip(zip(w(0), w(1)), zip(w(2), w(3))).await;
    for r in [r0, r1, r2, r3] {
        r.unwrap();
    }
    for i in 0..4u8 {
        let got = f.read_at(i as u64 * a as u64, a).await.unwrap();
        assert!(got.iter().all(|b| *b == i + 1), "page {i}");
    }
}

/// Allocation grows a file with zeros, keeps what it held, never shrinks
/// it, and the allocated space takes writes like any other.
async fn allocation_grows_with_zeros<S: Storage>(s: &S, dir: &Path) {
    let a = s.alignment() as u64;
    let f = s.open(&dir.join("allocated"), true).await.unwrap();
    f.write_at(filled(s, a as usize, 3), 0).await.unwrap();
    f.allocate(4 * a).await.unwrap();
    assert_eq!(f.size().await.unwrap(), 4 * a);
    assert!(f
        .read_at(0, a as usize)
        .await
        .unwrap()
        .iter()
        .all(|b| *b == 3));
    let rest = f.read_at(a, 3 * a as usize).await.unwrap();
    assert!(rest.len() == 3 * a as usize && rest.iter().all(|b| *b == 0));
    f.allocate(a).await.unwrap();
    assert_eq!(f.size().await.unwrap(), 4 * a, "allocation never shrinks");
    f.write_at(filled(s, a as usize, 8), 2 * a).await.unwrap();
    f.sync().await.unwrap();
    assert_eq!(f.size().await.unwrap(), 4 * a);
    assert_eq!(&f.read_at(2 * a, 2).await.unwrap()[..], &[8, 8]);
}

/// A mapped tail is zero-filled when new, and a second mapping (the next
/// process) sees what the first wrote, at the first one's length.
async fn tail_conformance<S: Storage>(s: &S, root: &Path) {
    use super::TailMemory;
    let path = root.join("tail");
    let mut tail = s.map_tail(&path, 8192).await.unwrap();
    assert_eq!(tail.len(), 8192);
    assert!(s.exists(&path).await.unwrap());
    let mut seen = [1u8; 16];
    tail.read(8176, &mut seen);
    assert_eq!(seen, [0u8; 16]);
    tail.write(4000, b"outlives the process");
    drop(tail);
    let again = s.map_tail(&path, 4096).await.unwrap();
    assert_eq!(again.len(), 8192, "an existing tail keeps its length");
    let mut got = [0u8; 20];
    again.read(4000, &mut got);
    assert_eq!(&got, b"outlives the process");
    drop(again);
    s.remove_file(&path).await.unwrap();
    assert_eq!(s.map_tail(&path, 4096).await.unwrap().len(), 4096);
    assert!(s
        .map_tail(&root.join("no/such/dir/tail"), 4096)
        .await
        .is_err());
}

#[test]
fn dma_storage_conforms() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    run(move || async move { conformance(DmaStorage::new(), &root).await });
}

#[test]
fn mem_storage_conforms() {
    run(|| async { conformance(MemStorage::new(1 << 30), Path::new("/mem")).await });
}

#[test]
fn mem_crash_keeps_synced_and_may_tear_unsynced() {
    run(|| async {
        let s = MemStorage::new(1 << 30);
        let root = Path::new("/m");
        s.create_dir_all(root).await.unwrap();
        let f = s.open(&root.join("f"), true).await.unwrap();
        f.write_at(filled(&s, 4096, 1), 0).await.unwrap();
        f.sync().await.unwrap();
        f.write_at(filled(&s, 4096, 2), 4096).await.unwrap();
        let mut saw_lost = false;
        let mut saw_kept = false;
        for seed in 0..64 {
            let after = s.crash(seed);
            let bytes = after.file_bytes(&root.join("f")).unwrap();
            assert_eq!(
                &bytes[..4096],
                &[1; 4096][..],
                "synced data survives (seed {seed})"
            );
            saw_lost |= bytes.len() == 4096;
            saw_kept |= bytes.len() == 8192 && bytes[4096..].iter().all(|b| *b == 2);
        }
        assert!(saw_lost && saw_kept);
    });
}

#[test]
fn mem_crash_keeps_write_through_writes_whole_and_in_order() {
    run(|| async {
        let s = MemStorage::new(1 << 30);
        let root = Path::new("/m");
        s.create_dir_all(root).await.unwrap();
        let path = root.join("f");
        let plain = s.open(&path, true).await.unwrap();
        let through = s.open_write_through(&path, false).await.unwrap();
        plain.write_at(filled(&s, 8192, 9), 0).await.unwrap();
        through.write_at(filled(&s, 4096, 1), 0).await.unwrap();
        plain.write_at(filled(&s, 4096, 3), 8192).await.unwrap();
        for seed in 0..64 {
            let bytes = s.crash(seed).file_bytes(&path).unwrap();
            assert!(
                bytes.len() >= 4096 && bytes[..4096].iter().all(|b| *b == 1),
                "a completed write-through write survives whole, over the older unsynced write (seed {seed})"
            );
        }
    });
}

#[test]
fn mem_faults_fail_writes_syncs_and_full_disk() {
    run(|| async {
        let s = MemStorage::new(8192);
        let root = Path::new("/m");
        s.create_dir_all(root).await.unwrap();
        let f = s.open(&root.join("f"), true).await.unwrap();
        f.write_at(filled(&s, 8192, 1), 0).await.unwrap();
        let full = f.write_at(filled(&s, 4096, 1), 8192).await.unwrap_err();
        assert_eq!(full.raw_os_error(), Some(libc::ENOSPC));
        f.write_at(filled(&s, 4096, 3), 0).await.unwrap(); // overwrite needs no space
        s.set_faults(|x| x.fail_syncs = true);
        assert!(f.sync().await.is_err());
        s.set_faults(|x| {
            x.fail_syncs = false;
            x.writes_before_failure = Some(1);
        });
        f.write_at(filled(&s, 4096, 3), 0).await.unwrap();
        assert!(f.write_at(filled(&s, 4096, 3), 0).await.is_err());
    });
}

/// Allocation fails only for want of space; synced, it survives a crash;
/// unsynced, the file keeps its old size or gets the new one, zeros.
#[test]
fn mem_allocation_is_refused_only_when_full_and_survives_once_synced() {
    run(|| async {
        let s = MemStorage::new(8 * 4096);
        let root = Path::new("/m");
        s.create_dir_all(root).await.unwrap();
        let path = root.join("f");
        let f = s.open(&path, true).await.unwrap();
        s.set_faults(|x| x.fail_writes = true);
        f.allocate(4 * 4096).await.unwrap();
        s.set_faults(|x| x.fail_writes = false);
        let full = f.allocate(9 * 4096).await.unwrap_err();
        assert_eq!(full.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(
            f.size().await.unwrap(),
            4 * 4096,
            "a refused allocation changes nothing"
        );
        for seed in 0..32 {
            let len = s.crash(seed).file_bytes(&path).unwrap().len();
            assert!(len == 0 || len == 4 * 4096, "seed {seed}: {len}");
        }
        f.sync().await.unwrap();
        for seed in 0..8 {
            let bytes = s.crash(seed).file_bytes(&path).unwrap();
            assert_eq!(bytes, vec![0; 4 * 4096], "seed {seed}");
        }
    });
}

/// With write latency, writes in flight complete out of order, and one
/// that fails in the middle leaves the others landed.
#[test]
fn mem_writes_in_flight_complete_out_of_order_and_one_may_fail_alone() {
    run(|| async {
        let s = MemStorage::new(1 << 30);
        let root = Path::new("/m");
        s.create_dir_all(root).await.unwrap();
        let f = Rc::new(s.open_write_through(&root.join("f"), true).await.unwrap());
        s.seed_latency(7);
        // The third write to complete fails, and every one after it.
        s.set_faults(|x| {
            x.write_latency_ms = 5;
            x.writes_before_failure = Some(2);
        });
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..6u8)
            .map(|i| {
                let (f, s, order) = (f.clone(), s.clone(), order.clone());
                spawn_local(async move {
                    let r = f.write_at(filled(&s, 4096, i + 1), i as u64 * 4096).await;
                    order.borrow_mut().push(i);
                    r
                })
            })
            .collect();
        let mut failed = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            if t.await.is_err() {
                failed.push(i as u8);
            }
        }
        let order = order.borrow().clone();
        assert_ne!(order, (0..6).collect::<Vec<_>>(), "completed out of order");
        assert_eq!(failed.len(), 4, "all after the first two completions fail");
        assert!(order[2..].iter().all(|i| failed.contains(i)));
        assert!(s.max_writes_in_flight() > 1);
        let bytes = s.crash(1).file_bytes(&root.join("f")).unwrap();
        for i in order.iter().take(2) {
            let at = *i as usize * 4096;
            assert!(
                bytes[at..at + 4096].iter().all(|b| *b == i + 1),
                "write {i} landed whole"
            );
        }
    });
}
