//! Store tests on the in-memory disk (and one on real files).

use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use bolide_proto::ids::{PhysicalOffset, ShardId};
use bolide_proto::message::{records, RecordView};
use bolide_proto::tags::tags_code;

use super::*;
use crate::io::dma::DmaStorage;
use crate::io::mem::MemStorage;
use crate::io::task::spawn_local;
use crate::io::time::ManualClock;
use crate::pull::GetStatus;
use crate::testutil::{msg, run, sleep_real};

pub(super) async fn open_mem(
    mem: &MemStorage,
    cfg: StoreConfig,
) -> (Rc<ShardStore<MemStorage>>, RecoveryReport) {
    ShardStore::open(mem.clone(), cfg, Path::new("/data"), ShardId(3))
        .await
        .unwrap()
}

pub(super) fn get<'a>(
    topic: &'a str,
    q: u32,
    offset: u64,
    tags: Option<&'a [i64]>,
) -> GetRequest<'a> {
    GetRequest {
        topic,
        queue_id: q,
        offset,
        max_count: 32,
        max_bytes: 1 << 20,
        tag_codes: tags,
        record_filter: None,
    }
}

/// Status of an unfiltered pull at `offset`.
async fn status_at<S: Storage>(
    store: &ShardStore<S>,
    topic: &str,
    queue_id: u32,
    offset: u64,
) -> GetStatus {
    store
        .get_messages(&get(topic, queue_id, offset, None))
        .await
        .unwrap()
        .status
}

#[test]
fn append_pull_lookup_and_clean_reopen() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let (store, report) = open_mem(&mem, StoreConfig::for_tests()).await;
        assert!(
            report.clean && report.log_end == 0,
            "a new directory starts clean"
        );
        let mut results = Vec::new();
        for i in 0..200u32 {
            let tag = if i % 2 == 0 { "even" } else { "odd" };
            let m = msg(
                "TopicA",
                i % 2,
                format!("body-{i}").as_bytes(),
                Some(tag),
                Some(&format!("k{i} common")),
            );
            results.push(store.append(m).await.unwrap());
        }
        assert_eq!(results[2].queue_offset.0, 1);
        assert_eq!(results[0].global_offset.shard(), ShardId(3));
        let batch: Vec<_> = (0..5).map(|i| msg("TopicB", 0, &[i], None, None)).collect();
        let b = store.append_batch(&batch).await.unwrap();
        assert_eq!(
            b.iter().map(|r| r.queue_offset.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        check_store(&store, &results).await;
        let r = store
            .get_messages(&get("TopicA", 0, 0, Some(&[tags_code(Some("odd"))])))
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetStatus::NoMatchedMessage, 100)
        );
        assert_eq!(
            status_at(&store, "TopicA", 0, 100).await,
            GetStatus::OffsetOverflowOne
        );
        assert_eq!(
            status_at(&store, "TopicA", 0, 101).await,
            GetStatus::OffsetOverflowBadly
        );
        assert_eq!(
            status_at(&store, "Nope", 0, 0).await,
            GetStatus::NoMatchedLogicQueue
        );
        let found = store
            .query_by_key("TopicA", "k7", 0, i64::MAX, 10)
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            store
                .query_by_key("TopicA", "common", 0, i64::MAX, 300)
                .await
                .unwrap()
                .len(),
            200
        );
        store.close().await.unwrap();
        assert!(matches!(
            store.append(msg("TopicA", 0, b"x", None, None)).await,
            Err(StoreError::Unavailable(_))
        ));
        let (again, report) = open_mem(&mem, StoreConfig::for_tests()).await;
        assert!(report.clean, "{report:?}");
        assert_eq!(
            report.records_redispatched, 0,
            "a clean reopen re-reads nothing (the index included)"
        );
        check_store(&again, &results).await;
        assert_eq!(
            again
                .query_by_key("TopicA", "k199", 0, i64::MAX, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let more = again
            .append(msg("TopicA", 0, b"after", None, None))
            .await
            .unwrap();
        assert_eq!(more.queue_offset.0, 100);
    });
}

/// Every result is readable by offset and through its queue.
async fn check_store<S: Storage>(store: &ShardStore<S>, results: &[AppendResult]) {
    for r in results {
        let bytes = store.read_record(r.physical_offset).await.unwrap();
        let view = RecordView::parse(&bytes).unwrap();
        assert_eq!(view.queue_offset(), r.queue_offset);
        let (topic, q) = (view.topic().to_owned(), view.queue_id());
        let pulled = store
            .get_messages(&GetRequest {
                max_count: 1,
                ..get(&topic, q, r.queue_offset.0, None)
            })
            .await
            .unwrap();
        assert_eq!(pulled.status, GetStatus::Found);
        assert_eq!(pulled.messages, bytes);
    }
}

#[test]
fn time_search_and_earliest_time() {
    run(|| async {
        let clock = ManualClock::new(1000);
        let mem = MemStorage::new(1 << 30).with_clock(Arc::new(clock.clone()));
        let (store, _) = open_mem(&mem, StoreConfig::for_tests()).await;
        for i in 0..10 {
            if i > 0 {
                clock.advance(10);
            }
            store.append(msg("T", 0, b"x", None, None)).await.unwrap();
        }
        assert_eq!(store.earliest_store_time("T", 0).await.unwrap(), Some(1000));
        assert_eq!(
            store
                .search_offset_by_time("T", 0, 1035, false)
                .await
                .unwrap(),
            4
        );
        assert_eq!(
            store
                .search_offset_by_time("T", 0, 1035, true)
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            store.search_offset_by_time("T", 0, 0, false).await.unwrap(),
            0
        );
        assert_eq!(
            store
                .search_offset_by_time("T", 0, 99_999, false)
                .await
                .unwrap(),
            10
        );
    });
}

#[test]
fn sync_mode_group_commits_concurrent_appends() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let cfg = StoreConfig {
            flush_mode: FlushMode::Sync,
            ..StoreConfig::for_tests()
        };
        let (store, _) = open_mem(&mem, cfg).await;
        let before = mem.sync_count();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let s = store.clone();
                spawn_local(async move {
                    for j in 0..5u32 {
                        let r = s
                            .append(msg("G", i % 4, &j.to_be_bytes(), None, None))
                            .await
                            .unwrap();
                        assert!(s.durable_offset().0 >= r.physical_offset.0 + r.size_bytes as u64);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        let syncs = mem.sync_count() - before;
        assert!(syncs < 64, "320 sync appends took {syncs} fdatasyncs");
    });
}

#[test]
fn flush_errors_reach_appenders_and_poison_the_store() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let cfg = StoreConfig {
            flush_mode: FlushMode::Sync,
            ..StoreConfig::for_tests()
        };
        let (store, _) = open_mem(&mem, cfg).await;
        store.append(msg("T", 0, b"ok", None, None)).await.unwrap();
        mem.set_faults(|f| f.fail_syncs = true);
        let err = store
            .append(msg("T", 0, b"lost", None, None))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        mem.set_faults(|f| f.fail_syncs = false);
        assert!(matches!(
            store.append(msg("T", 0, b"x", None, None)).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(store.close().await.is_err());
        let (again, report) = open_mem(&mem, StoreConfig::for_tests()).await;
        assert!(!report.clean);
        assert_eq!(
            again.max_offset("T", 0),
            2,
            "the unacknowledged record may survive; never a corrupt one"
        );
    });
}

#[test]
fn records_of_a_failed_fresh_segment_stay_readable_from_memory() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let cfg = StoreConfig::for_tests();
        let (store, _) = open_mem(&mem, cfg.clone()).await;
        let mut results = Vec::new();
        for i in 0..40u32 {
            let m = msg("F", i % 2, &[i as u8; 900], Some("t"), None);
            results.push(store.append(m).await.unwrap());
        }
        store.wait_durable(store.write_offset().0).await.unwrap();
        mem.set_faults(|f| f.fail_writes = true);
        // Roll into a fresh segment whose first write fails.
        let mut i = 40u32;
        while store.write_offset().0 < cfg.segment_size_bytes + (8 << 10) {
            let m = msg("F", i % 2, &[i as u8; 900], Some("t"), None);
            match store.append(m).await {
                Ok(r) => results.push(r),
                Err(_) => break,
            }
            i += 1;
        }
        let err = store.wait_durable(store.write_offset().0).await;
        assert!(err.is_err() && store.is_poisoned());
        assert!(results.last().unwrap().physical_offset.0 >= cfg.segment_size_bytes);
        let fresh = Path::new("/data/shard-3/commitlog")
            .join(crate::layout::file_name(cfg.segment_size_bytes));
        assert!(
            mem.file_bytes(&fresh).unwrap_or_default().is_empty(),
            "nothing reached the fresh segment: reads below come from memory"
        );
        check_store(&store, &results).await;
        assert!(matches!(
            store.append(msg("F", 0, b"x", None, None)).await,
            Err(StoreError::Unavailable(_))
        ));
    });
}

#[test]
fn hard_watermark_refuses_appends_with_disk_full() {
    run(|| async {
        let mem = MemStorage::new(4 << 20);
        let cfg = StoreConfig {
            disk_hard_watermark_permille: 100,
            disk_soft_watermark_permille: 100,
            retention_hours: 1_000_000,
            ..StoreConfig::for_tests()
        };
        let (store, _) = open_mem(&mem, cfg).await;
        let mut full = None;
        for i in 0..2000u32 {
            match store
                .append(msg("T", 0, &[0u8; 1000], None, Some(&i.to_string())))
                .await
            {
                Ok(_) => {}
                Err(e) => {
                    full = Some(e);
                    break;
                }
            }
            if i % 50 == 0 {
                store.checkpoint().await.unwrap();
            }
        }
        assert!(
            matches!(full, Some(StoreError::DiskFull { .. })),
            "{full:?}"
        );
        let deleted = store.enforce_retention().await.unwrap();
        assert!(!deleted.is_empty());
        let min = store.min_offset("T", 0);
        assert!(min > 0);
        let r = store.get_messages(&get("T", 0, 0, None)).await.unwrap();
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetStatus::OffsetTooSmall, min)
        );
        assert_eq!(status_at(&store, "T", 0, min).await, GetStatus::Found);
    });
}

/// Names of a queue's files on the in-memory disk.
async fn cq_files(mem: &MemStorage, topic: &str, queue_id: u32) -> Vec<u64> {
    let dir = Path::new("/data/shard-3/consumequeue")
        .join(topic)
        .join(queue_id.to_string());
    mem.list_dir(&dir)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| crate::layout::parse_file_name(&e.name))
        .collect()
}

#[test]
fn retention_deletes_queue_files_below_the_minimum() {
    run(|| async {
        let clock = ManualClock::new(1_000);
        let mem = MemStorage::new(1 << 30).with_clock(Arc::new(clock.clone()));
        // Only explicit checkpoints (a concurrent one returns at once).
        let cfg = StoreConfig {
            retention_hours: 1,
            checkpoint_interval_ms: 3_600_000,
            checkpoint_trigger_bytes: 1 << 40,
            ..StoreConfig::for_tests()
        };
        let (store, _) = open_mem(&mem, cfg.clone()).await;
        for i in 0..600u32 {
            store
                .append(msg("R", 0, &[i as u8; 900], None, None))
                .await
                .unwrap();
        }
        store.checkpoint().await.unwrap();
        let unit_bytes = bolide_proto::consume_queue::CQ_UNIT_BYTES as u64;
        let file_bytes = cfg.cq_file_units * unit_bytes;
        assert_eq!(cq_files(&mem, "R", 0).await.len(), 10);
        // Wall time only: the maintenance task's retention must not run first.
        clock.jump_wall(2 * 3_600_000);
        assert!(!store.enforce_retention().await.unwrap().is_empty());
        let min = store.min_offset("R", 0);
        assert!(min > 2 * cfg.cq_file_units, "min {min}");
        let files = cq_files(&mem, "R", 0).await;
        assert!(files.len() < 10);
        assert!(
            files
                .iter()
                .all(|f| f / unit_bytes + cfg.cq_file_units > min),
            "{files:?} with min {min}"
        );
        assert_eq!(files[0] / file_bytes, min / cfg.cq_file_units);
        assert_eq!(status_at(&store, "R", 0, min).await, GetStatus::Found);
        assert_eq!(
            status_at(&store, "R", 0, 0).await,
            GetStatus::OffsetTooSmall
        );
        store.close().await.unwrap();
        let (again, report) = open_mem(&mem, cfg).await;
        assert!(report.clean);
        assert_eq!(again.queue_bounds("R", 0), Some((min, 600)));
        let more = again.append(msg("R", 0, b"x", None, None)).await.unwrap();
        assert_eq!(more.queue_offset.0, 600);
    });
}

/// Size of commit-log segment `base` on the in-memory disk, if present.
async fn segment_len(mem: &MemStorage, base: u64) -> Option<u64> {
    let path = Path::new("/data/shard-3/commitlog").join(crate::layout::file_name(base));
    let file = mem.open(&path, false).await.ok()?;
    Some(crate::io::StorageFile::size(&file).await.unwrap())
}

#[test]
fn sync_mode_preallocates_segments_and_recovers_past_zeros() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let cfg = StoreConfig {
            flush_mode: FlushMode::Sync,
            ..StoreConfig::for_tests()
        };
        let seg = cfg.segment_size_bytes;
        let (store, _) = open_mem(&mem, cfg.clone()).await;
        let mut results = Vec::new();
        // One at a time: each is a round of its own, padded to a page.
        let n = (seg / 4096 + seg / 8192) as u32;
        for i in 0..n {
            let r = store
                .append(msg("P", i % 2, &[i as u8; 900], None, None))
                .await
                .unwrap();
            results.push(r);
        }
        let end = store.write_offset().0;
        assert!(end > seg && end < 2 * seg, "{end}");
        // Let the zeroing task catch up: the active segment and the next
        // one are fully allocated before appends reach them.
        for _ in 0..50 {
            if segment_len(&mem, 2 * seg).await == Some(seg) {
                break;
            }
            sleep_real(std::time::Duration::from_millis(2)).await;
        }
        assert_eq!(segment_len(&mem, 0).await, Some(seg));
        assert_eq!(segment_len(&mem, seg).await, Some(seg));
        assert_eq!(segment_len(&mem, 2 * seg).await, Some(seg));
        drop(store);
        for seed in 0..8 {
            let disk = mem.crash(seed);
            let (again, report) = open_mem(&disk, cfg.clone()).await;
            assert!(!report.clean);
            assert_eq!(report.log_end, end, "seed {seed}");
            assert_eq!(report.lost_durable_bytes, 0);
            // The zeroed rest of the last segment (and the pre-created next
            // one) ended the log and were cut off, but were never torn.
            assert!(report.preallocated_bytes_released > 0, "seed {seed}");
            assert_eq!(report.truncated_bytes, 0, "seed {seed}");
            check_store(&again, &results).await;
            let more = again.append(msg("P", 0, b"x", None, None)).await.unwrap();
            assert_eq!(more.physical_offset.0, end);
            again.close().await.unwrap();
        }
    });
}

/// Log bytes zero-filled ahead of the highest log write.
fn zeroed_ahead<S: Storage>(store: &ShardStore<S>) -> u64 {
    let p = store.prealloc.borrow();
    p.zeroed.saturating_sub(p.frontier)
}

#[test]
fn large_writes_overtake_preallocation_and_a_small_one_resumes_it() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let cfg = StoreConfig {
            flush_mode: FlushMode::Sync,
            ..StoreConfig::for_tests()
        };
        let window = cfg.preallocate_ahead_bytes;
        let (store, _) = open_mem(&mem, cfg.clone()).await;
        assert!(zeroed_ahead(&store) >= window, "open fills the window");
        // Batches of 20 x 900 B: each round one write of 18 KiB or more.
        let mut results = Vec::new();
        while store.write_offset().0 < 3 * window {
            let batch: Vec<_> = (0..20u32)
                .map(|i| msg("L", 1, &[i as u8; 900], None, None))
                .collect();
            results.extend(store.append_batch(&batch).await.unwrap());
            // Idle time does not bring zeroing back while writes are large.
            sleep_real(std::time::Duration::from_millis(2)).await;
        }
        assert_eq!(zeroed_ahead(&store), 0, "large writes overtook the window");
        // One small append, a small round: the refill starts again.
        results.push(
            store
                .append(msg("L", 0, b"small", None, None))
                .await
                .unwrap(),
        );
        for _ in 0..100 {
            if zeroed_ahead(&store) >= window {
                break;
            }
            sleep_real(std::time::Duration::from_millis(2)).await;
        }
        let ahead = zeroed_ahead(&store);
        assert!(ahead >= window, "a small write resumes zeroing: {ahead}");
        // What the large writes appended past the zeroes survives a crash.
        let end = store.write_offset().0;
        drop(store);
        for seed in 0..4 {
            let (again, report) = open_mem(&mem.crash(seed), cfg.clone()).await;
            assert_eq!(report.log_end, end, "seed {seed}");
            assert_eq!(report.lost_durable_bytes, 0, "seed {seed}");
            check_store(&again, &results).await;
            again.close().await.unwrap();
        }
    });
}

#[test]
fn recovery_truncates_garbage_tail_and_rebuilds_queues() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let (store, _) = open_mem(&mem, StoreConfig::for_tests()).await;
        let mut results = Vec::new();
        for i in 0..30u32 {
            results.push(
                store
                    .append(msg("T", i % 3, &[i as u8; 300], None, None))
                    .await
                    .unwrap(),
            );
        }
        store.wait_durable(store.write_offset().0).await.unwrap();
        let end = store.write_offset().0;
        drop(store);
        let disk = mem.crash(1);
        disk.poke(
            &Path::new("/data/shard-3/commitlog").join(crate::layout::file_name(0)),
            end as usize,
            &[0xAB; 700],
        );
        let (again, report) = open_mem(&disk, StoreConfig::for_tests()).await;
        assert!(!report.clean);
        assert_eq!(report.log_end, end);
        assert!(report.truncated_bytes > 0);
        check_store(&again, &results).await;
    });
}

#[test]
fn dma_store_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_path_buf();
    run(move || async move {
        let cfg = StoreConfig {
            flush_mode: FlushMode::Sync,
            ..StoreConfig::for_tests()
        };
        let (store, _) = ShardStore::open(DmaStorage::new(), cfg.clone(), &data, ShardId(0))
            .await
            .unwrap();
        let mut results = Vec::new();
        for i in 0..300u32 {
            results.push(
                store
                    .append(msg("D", i % 2, &[i as u8; 700], Some("t"), None))
                    .await
                    .unwrap(),
            );
        }
        check_store(&store, &results).await;
        store.close().await.unwrap();
        let (again, report) = ShardStore::open(DmaStorage::new(), cfg, &data, ShardId(0))
            .await
            .unwrap();
        assert!(report.clean);
        check_store(&again, &results).await;
        assert_eq!(
            again
                .read_record(PhysicalOffset(results[5].physical_offset.0))
                .await
                .unwrap()
                .len(),
            results[5].size_bytes as usize
        );
        again.close().await.unwrap();
    });
}

/// An unclean restart finds the consume-queue units written after the
/// last checkpoint by binary search, not unit by unit: its reads of the
/// queue files stay logarithmic however long that tail is.
#[test]
fn unclean_recovery_cuts_queue_tails_in_few_reads() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let cfg = StoreConfig {
            checkpoint_interval_ms: 3_600_000,
            checkpoint_trigger_bytes: 1 << 30,
            segment_size_bytes: 4 << 20,
            ..StoreConfig::for_tests()
        };
        let (store, _) = open_mem(&mem, cfg.clone()).await;
        let mut results = Vec::new();
        for i in 0..3000u32 {
            results.push(
                store
                    .append(msg("Q", 0, &i.to_be_bytes(), None, None))
                    .await
                    .unwrap(),
            );
        }
        store.checkpoint().await.unwrap();
        for i in 0..1000u32 {
            results.push(
                store
                    .append(msg("Q", 0, &i.to_le_bytes(), None, None))
                    .await
                    .unwrap(),
            );
        }
        // Queue files reach disk past the checkpoint (a checkpoint that
        // died before replacing the checkpoint file).
        store.wait_durable(store.write_offset().0).await.unwrap();
        store.persist_queues().await.unwrap();
        drop(store);
        let disk = mem.crash(7);
        let cq_dir = Path::new("/data/shard-3/consumequeue");
        let before = disk.reads_below(cq_dir);
        let (again, report) = open_mem(&disk, cfg).await;
        let reads = disk.reads_below(cq_dir) - before;
        assert!(!report.clean);
        assert_eq!(report.cq_units_dropped, 1000);
        assert!(reads < 64, "recovery read the queue {reads} times");
        assert_eq!(again.max_offset("Q", 0), 4000);
        check_store(&again, &results).await;
    });
}

/// Schedule-topic units carry the delivery time (store time + the delay
/// of the level) as tag code, also when recovery rebuilds them.
#[test]
fn schedule_units_carry_delivery_time_across_recovery() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let cfg = StoreConfig {
            delay_levels: bolide_proto::delay::DelayLevels::parse("1s 2s 7s").unwrap(),
            ..StoreConfig::for_tests()
        };
        let (store, _) = open_mem(&mem, cfg.clone()).await;
        let topic = bolide_proto::delay::SCHEDULE_TOPIC;
        let mut delayed = msg(topic, 2, b"later", Some("TagA"), None);
        let mut props = bolide_proto::message::PropertiesBuilder::from_properties(
            bolide_proto::message::Properties(&delayed.properties),
        );
        props.set("DELAY", "3").unwrap();
        delayed.properties = props.build();
        let r = store.append(delayed).await.unwrap();
        let plain = store
            .append(msg("Plain", 0, b"now", Some("TagA"), None))
            .await
            .unwrap();
        let due = r.store_timestamp_ms + 7_000;
        let units = store.queue_units(topic, 2, 0, 10).await.unwrap();
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].tags_code, due);
        let plain_units = store.queue_units("Plain", 0, 0, 10).await.unwrap();
        assert_eq!(plain_units[0].tags_code, tags_code(Some("TagA")));
        assert_eq!(plain_units[0].physical_offset, plain.physical_offset);
        assert!(store.queue_units(topic, 2, 1, 10).await.unwrap().is_empty());
        store.wait_durable(store.write_offset().0).await.unwrap();
        drop(store);
        let (again, report) = open_mem(&mem.crash(3), cfg).await;
        assert!(!report.clean);
        assert!(report.records_redispatched >= 1);
        let units = again.queue_units(topic, 2, 0, 10).await.unwrap();
        assert_eq!(units[0].tags_code, due, "rebuilt from the record");
    });
}

/// Records evicted from memory are read back a window at a time: a pull
/// of 32 scattered records costs a couple of disk reads, not 32.
#[test]
fn pulls_of_evicted_records_read_whole_windows() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let cfg = StoreConfig {
            segment_size_bytes: 4 << 20,
            read_cache_bytes: 64 << 10,
            ..StoreConfig::for_tests()
        };
        let (store, _) = open_mem(&mem, cfg).await;
        let mut results = Vec::new();
        for i in 0..2000u32 {
            results.push(
                store
                    .append(msg("W", i % 8, &[i as u8; 100], None, None))
                    .await
                    .unwrap(),
            );
        }
        store.wait_durable(store.write_offset().0).await.unwrap();
        let log_dir = Path::new("/data/shard-3/commitlog");
        let before = mem.reads_below(log_dir);
        let got = store
            .get_messages(&GetRequest {
                max_count: 32,
                ..get("W", 3, 0, None)
            })
            .await
            .unwrap();
        assert_eq!(got.status, GetStatus::Found);
        assert_eq!(got.message_count, 32);
        let reads = mem.reads_below(log_dir) - before;
        assert!(reads <= 2, "32 records took {reads} disk reads");
        for (n, r) in records(&got.messages).enumerate() {
            let r = r.unwrap();
            assert_eq!((r.queue_id(), r.queue_offset().0), (3, n as u64));
        }
        check_store(&store, &results).await;
    });
}

#[test]
fn record_filters_skip_records_and_count_only_matches() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let (store, _) = open_mem(&mem, StoreConfig::for_tests()).await;
        for i in 0..100u32 {
            let tag = format!("t{}", i % 10);
            store
                .append(msg("F", 0, &[i as u8], Some(&tag), None))
                .await
                .unwrap();
        }
        let t3 = |p: bolide_proto::message::Properties<'_>| p.get("TAGS") == Some("t3");
        let pull = |offset, max_count| GetRequest {
            max_count,
            record_filter: Some(RecordFilter(&t3)),
            ..get("F", 0, offset, None)
        };
        let offsets = |r: &GetResult| -> Vec<u64> {
            records(&r.messages)
                .map(|rec| rec.unwrap().queue_offset().0)
                .collect()
        };
        let r = store.get_messages(&pull(0, 2)).await.unwrap();
        assert_eq!(
            (r.status, r.message_count, r.next_begin_offset),
            (GetStatus::Found, 2, 14)
        );
        assert_eq!(offsets(&r), [3, 13]);
        let r = store.get_messages(&pull(14, 32)).await.unwrap();
        assert_eq!(offsets(&r), [23, 33, 43, 53, 63, 73, 83, 93]);
        assert_eq!(
            r.next_begin_offset, 100,
            "the misses after the last match are passed too"
        );
        let r = store.get_messages(&pull(94, 32)).await.unwrap();
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetStatus::NoMatchedMessage, 100)
        );
    });
}

#[test]
fn sync_mode_readers_see_only_durable_records() {
    run(|| async {
        let mem = MemStorage::new(1 << 30);
        let cfg = StoreConfig {
            flush_mode: FlushMode::Sync,
            ..StoreConfig::for_tests()
        };
        let (store, _) = open_mem(&mem, cfg).await;
        store
            .append(msg("V", 0, b"durable", None, None))
            .await
            .unwrap();
        mem.set_faults(|f| f.fail_writes = true);
        assert!(store
            .append(msg("V", 0, b"not yet", None, None))
            .await
            .is_err());
        // Dispatched, so its queue offset is taken, but not durable.
        assert_eq!(store.queue_bounds("V", 0), Some((0, 2)));
        let got = store.get_messages(&get("V", 0, 0, None)).await.unwrap();
        assert_eq!(
            (got.status, got.message_count, got.next_begin_offset),
            (GetStatus::Found, 1, 1)
        );
        let got = store.get_messages(&get("V", 0, 1, None)).await.unwrap();
        assert_eq!(
            (got.status, got.next_begin_offset),
            (GetStatus::OffsetOverflowOne, 1)
        );
    });
}
