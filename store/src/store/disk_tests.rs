//! A full disk: pre-allocation stays below the soft watermark, and a log
//! write that finds no space stalls the log instead of poisoning it — no
//! appended record is lost, and appends resume by themselves once space
//! returns.

use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use bolide_proto::ids::ShardId;

use super::*;
use crate::io::mem::MemStorage;
use crate::testutil::{msg, run, sleep_real};

async fn open_mem(mem: &MemStorage, cfg: StoreConfig) -> Rc<ShardStore<MemStorage>> {
    ShardStore::open(mem.clone(), cfg, Path::new("/data"), ShardId(0))
        .await
        .unwrap()
        .0
}

/// Appends until the first refusal; returns what was acknowledged.
async fn append_until_refused(store: &ShardStore<MemStorage>) -> (Vec<AppendResult>, StoreError) {
    let mut acked = Vec::new();
    for i in 0..100_000u32 {
        match store
            .append(msg("D", i % 2, &[i as u8; 700], None, None))
            .await
        {
            Ok(r) => acked.push(r),
            Err(e) => return (acked, e),
        }
    }
    panic!("the disk never filled");
}

async fn assert_all_readable(store: &ShardStore<MemStorage>, acked: &[AppendResult]) {
    for r in acked {
        let bytes = store.read_record(r.physical_offset).await.unwrap();
        let view = bolide_proto::message::RecordView::parse(&bytes).unwrap();
        assert_eq!(view.queue_offset(), r.queue_offset);
    }
}

fn no_watermarks(mode: FlushMode) -> StoreConfig {
    StoreConfig {
        flush_mode: mode,
        disk_soft_watermark_permille: 1000,
        disk_hard_watermark_permille: 1000,
        retention_hours: 1_000_000,
        // Log writes themselves grow the files and meet ENOSPC.
        preallocate_ahead_bytes: 0,
        ..StoreConfig::for_tests()
    }
}

fn enospc_stalls_and_resumes(mode: FlushMode) {
    run(move || async move {
        let mem = MemStorage::new(1 << 30);
        let store = open_mem(&mem, no_watermarks(mode)).await;
        for i in 0..100u32 {
            let m = msg("D", 0, &[i as u8; 700], None, None);
            store.append(m).await.unwrap();
        }
        // From here every write that grows a file fails with ENOSPC.
        mem.set_faults(|f| f.no_space = true);
        let (acked, refusal) = append_until_refused(&store).await;
        assert!(
            matches!(refusal, StoreError::Io { .. } | StoreError::DiskFull { .. }),
            "{refusal:?}"
        );
        assert!(!store.is_poisoned(), "a full disk only stalls the log");
        assert!(matches!(
            store.append(msg("D", 0, b"x", None, None)).await,
            Err(StoreError::DiskFull { .. })
        ));
        assert_all_readable(&store, &acked).await;
        mem.set_faults(|f| f.no_space = false);
        let mut resumed = None;
        for _ in 0..300 {
            sleep_real(Duration::from_millis(10)).await;
            if let Ok(r) = store.append(msg("D", 0, b"after", None, None)).await {
                resumed = Some(r);
                break;
            }
        }
        assert!(resumed.is_some(), "appends resume once space returns");
        store.close().await.unwrap();
        let again = open_mem(&mem, no_watermarks(mode)).await;
        assert_all_readable(&again, &acked).await;
    });
}

#[test]
fn enospc_in_async_mode_stalls_loses_nothing_and_resumes() {
    enospc_stalls_and_resumes(FlushMode::Async);
}

#[test]
fn enospc_in_sync_mode_stalls_loses_nothing_and_resumes() {
    enospc_stalls_and_resumes(FlushMode::Sync);
}

#[test]
fn preallocation_stops_at_the_soft_watermark() {
    run(|| async {
        let capacity = 1u64 << 20;
        let mem = MemStorage::new(capacity);
        let cfg = StoreConfig {
            flush_mode: FlushMode::Sync,
            preallocate_ahead_bytes: 512 << 10,
            disk_soft_watermark_permille: 300,
            disk_hard_watermark_permille: 900,
            ..StoreConfig::for_tests()
        };
        let chunk = cfg.write_buffer_bytes as u64;
        let store = open_mem(&mem, cfg).await;
        for i in 0..20u32 {
            store
                .append(msg("P", 0, &[i as u8; 500], None, None))
                .await
                .unwrap();
        }
        let soft_bytes = capacity * 300 / 1000;
        assert!(
            mem.used_bytes() <= soft_bytes + chunk,
            "pre-allocation took {} of {capacity} bytes",
            mem.used_bytes()
        );
        store.close().await.unwrap();
    });
}
