//! The async mode's tail ring at open (`log::tail`): map `<shard>/tail`,
//! and after an unclean shutdown append back the records it holds past
//! the log's valid end, so a process crash undoes no acknowledged append.
//!
//! Replayed records go through the write buffers at the offsets they had
//! (their stored physical offset is checked) and are dispatched like
//! recovered ones; the open's checkpoint then writes and syncs them.

use crate::error::{Result, StoreError};
use crate::io::{Storage, TailMemory};
use crate::log::tail::TailRing;

use super::ShardStore;

impl<S: Storage> ShardStore<S> {
    /// Maps the tail ring (async mode) and, after an unclean shutdown,
    /// replays it — in every mode: a ring left by an async-mode run is
    /// replayed even if the mode changed since (then written, synced and
    /// removed). Returns the records replayed.
    pub(super) async fn open_tail(&self, unclean: bool) -> Result<u64> {
        let path = self.dir.join("tail");
        let keeps = self.config.flush_mode.keeps_tail();
        let left = self
            .storage
            .exists(&path)
            .await
            .map_err(|e| StoreError::io("stat", &e))?;
        if !keeps && !left {
            return Ok(0);
        }
        let want = self.config.tail_ring_bytes();
        let mut ring = self.map_tail(&path, want).await?;
        let replayed = match unclean {
            true => self.replay_tail(&ring)?,
            false => 0,
        };
        if !keeps || ring.capacity() != want as u64 {
            // A config change resized or retired it: what it held must be
            // on disk before its bytes move or go.
            let end = self.bufs.borrow().write_pos();
            self.wait_durable(end).await?;
            drop(ring);
            self.storage
                .remove_file(&path)
                .await
                .map_err(|e| StoreError::io("removing the old tail ring", &e))?;
            if !keeps {
                return Ok(replayed);
            }
            ring = self.map_tail(&path, want).await?;
        }
        *self.tail.borrow_mut() = Some(ring);
        if replayed > 0 {
            tracing::info!(
                shard = self.shard.0,
                records = replayed,
                "recovered unwritten records from the tail ring"
            );
        }
        Ok(replayed)
    }

    async fn map_tail(&self, path: &std::path::Path, len: usize) -> Result<TailRing<S::Tail>> {
        let mem = self
            .storage
            .map_tail(path, len)
            .await
            .map_err(|e| StoreError::io("mapping the tail ring", &e))?;
        if mem.is_empty() {
            return Err(StoreError::corrupt("tail ring", "the file is empty"));
        }
        Ok(TailRing::new(mem))
    }

    /// Appends the ring's records from the log end on, while each is valid
    /// and next in its queue.
    fn replay_tail(&self, ring: &TailRing<S::Tail>) -> Result<u64> {
        let mut count = 0;
        while let Some((at, bytes)) =
            ring.record_at(self.write_offset().0, self.config.segment_size_bytes)
        {
            if let Err(e) = self.append_verified(at, &bytes) {
                // Stale or torn bytes end the replay, as a torn tail ends the log.
                tracing::debug!(offset = at, error = %e, "tail ring replay ends");
                return Ok(count);
            }
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::rc::Rc;

    use bolide_proto::ids::ShardId;
    use bolide_proto::message::RecordView;

    use super::super::AppendResult;
    use super::*;
    use crate::config::{FlushMode, StoreConfig};
    use crate::io::mem::MemStorage;
    use crate::testutil::{msg, run};

    async fn open(mem: &MemStorage, cfg: StoreConfig) -> (Rc<ShardStore<MemStorage>>, u64) {
        let (store, report) = ShardStore::open(mem.clone(), cfg, Path::new("/d"), ShardId(1))
            .await
            .unwrap();
        (store, report.records_from_tail)
    }

    async fn append_n(store: &ShardStore<MemStorage>, n: usize, len: usize) -> Vec<AppendResult> {
        let mut acked = Vec::new();
        for i in 0..n {
            let body = vec![i as u8; len];
            let m = msg(
                &format!("T{}", i % 2),
                (i % 3) as u32,
                &body,
                Some("t"),
                None,
            );
            acked.push(store.append(m).await.unwrap());
        }
        acked
    }

    async fn assert_readable(store: &ShardStore<MemStorage>, acked: &[AppendResult]) {
        for r in acked {
            let bytes = store.read_record(r.physical_offset).await.unwrap();
            let view = RecordView::parse(&bytes).unwrap();
            assert_eq!(view.queue_offset(), r.queue_offset);
        }
    }

    /// The disk left by a process crash after 40 unwritten async appends.
    async fn killed_after_appends() -> (MemStorage, Vec<AppendResult>) {
        let mem = MemStorage::new(1 << 30);
        let (store, _) = open(&mem, async_cfg()).await;
        let acked = append_n(&store, 40, 700).await;
        (mem.kill(), acked)
    }

    fn async_cfg() -> StoreConfig {
        StoreConfig {
            flush_interval_ms: 3_600_000,
            flush_trigger_bytes: 1 << 30,
            ..StoreConfig::for_tests()
        }
    }

    #[test]
    fn a_process_crash_keeps_every_acknowledged_append() {
        run(|| async {
            let mem = MemStorage::new(1 << 30);
            let (store, _) = open(&mem, async_cfg()).await;
            // Crosses several 64 KiB segments (fillers in the ring).
            let acked = append_n(&store, 150, 1500).await;
            assert!(store.durable_offset().0 < acked.last().unwrap().physical_offset.0);
            let disk = mem.kill();
            drop(store);
            let (again, from_tail) = open(&disk, async_cfg()).await;
            assert!(from_tail > 0, "something was unwritten at the kill");
            assert_readable(&again, &acked).await;
            // Queues continue where the acknowledged appends left off.
            let next = again
                .append(msg("T0", 0, b"next", None, None))
                .await
                .unwrap();
            let t0_q0 = (0..acked.len()).filter(|i| i % 6 == 0);
            assert_eq!(next.queue_offset.0, t0_q0.count() as u64);
        });
    }

    #[test]
    fn acknowledged_appends_survive_a_failed_write_and_a_kill() {
        run(|| async {
            let mem = MemStorage::new(1 << 30);
            let (store, _) = open(&mem, async_cfg()).await;
            mem.set_faults(|f| f.fail_writes = true);
            let mut acked = Vec::new();
            for i in 0..200u32 {
                match store.append(msg("T", 0, &[i as u8; 900], None, None)).await {
                    Ok(r) => acked.push(r),
                    Err(_) => break,
                }
            }
            assert!(store.is_poisoned(), "the writer hit the failing disk");
            let disk = mem.kill();
            drop(store);
            let (again, _) = open(&disk, async_cfg()).await;
            assert_readable(&again, &acked).await;
        });
    }

    #[test]
    fn memory_mode_keeps_no_tail_and_power_loss_drops_it() {
        run(|| async {
            let mem = MemStorage::new(1 << 30);
            let cfg = StoreConfig {
                flush_mode: FlushMode::Memory,
                ..async_cfg()
            };
            let (store, _) = open(&mem, cfg.clone()).await;
            append_n(&store, 20, 100).await;
            drop(store);
            let (_, from_tail) = open(&mem.kill(), cfg).await;
            assert_eq!(from_tail, 0);
            let (store, _) = open(&mem, async_cfg()).await;
            append_n(&store, 20, 100).await;
            drop(store);
            let (_, from_tail) = open(&mem.crash(7), async_cfg()).await;
            assert_eq!(from_tail, 0, "a power loss takes the ring with it");
        });
    }

    #[test]
    fn a_resized_ring_is_replayed_first() {
        run(|| async {
            let (disk, acked) = killed_after_appends().await;
            let bigger = StoreConfig {
                write_buffer_bytes: 64 << 10,
                ..async_cfg()
            };
            let (again, from_tail) = open(&disk, bigger.clone()).await;
            assert!(from_tail > 0);
            assert_readable(&again, &acked).await;
            let more = append_n(&again, 10, 700).await;
            let disk = disk.kill();
            drop(again);
            let (last, _) = open(&disk, bigger).await;
            assert_readable(&last, &acked).await;
            assert_readable(&last, &more).await;
        });
    }

    #[test]
    fn a_ring_left_by_async_mode_is_replayed_in_sync_mode_then_removed() {
        run(|| async {
            let (disk, acked) = killed_after_appends().await;
            let sync = StoreConfig {
                flush_mode: FlushMode::Sync,
                ..async_cfg()
            };
            let (again, from_tail) = open(&disk, sync.clone()).await;
            assert!(from_tail > 0);
            assert_readable(&again, &acked).await;
            let tail = Path::new("/d/shard-1/tail");
            assert!(
                !disk.exists(tail).await.unwrap(),
                "the retired ring is removed"
            );
            again.close().await.unwrap();
        });
    }

    #[test]
    fn a_clean_close_replays_nothing() {
        run(|| async {
            let mem = MemStorage::new(1 << 30);
            let (store, _) = open(&mem, async_cfg()).await;
            let acked = append_n(&store, 30, 300).await;
            store.close().await.unwrap();
            drop(store);
            let (again, from_tail) = open(&mem, async_cfg()).await;
            assert_eq!(from_tail, 0);
            assert_readable(&again, &acked).await;
        });
    }
}
