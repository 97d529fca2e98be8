//! Flushing the commit log: group commit and write-behind.
//!
//! One flush round seals the appended bytes, writes every pending chunk
//! (O_DIRECT, whole pages, in order) and fdatasyncs each touched segment
//! once. Whoever needs durability and finds no round running leads the next
//! one; everyone else waits for the round to finish and re-checks. So many
//! concurrent sync appends share one write + fdatasync, and a failed round
//! answers every waiter with its error and poisons the store (it refuses
//! appends until reopened; recovery then decides what is on disk).

use std::rc::Rc;

use crate::error::{Result, StoreError};
use crate::io::{Storage, StorageFile};
use crate::layout::{file_name, segment_base};

use super::ShardStore;

/// State shared by appenders and the flusher.
#[derive(Debug, Default)]
pub(crate) struct FlushState {
    /// Log bytes below this offset are durable.
    pub durable: u64,
    /// A round is in flight.
    pub flushing: bool,
    /// Set by the first failed round; every later durability wait fails.
    pub failed: Option<StoreError>,
}

impl<S: Storage> ShardStore<S> {
    /// Resolves once log bytes below `target` are durable, leading flush
    /// rounds as needed.
    pub(crate) async fn wait_durable(&self, target: u64) -> Result<()> {
        loop {
            let seen = {
                let st = self.flush.borrow();
                if let Some(e) = &st.failed {
                    return Err(e.clone());
                }
                if st.durable >= target {
                    return Ok(());
                }
                st.flushing.then(|| self.flushed.generation())
            };
            match seen {
                Some(generation) => self.flushed.wait_past(generation).await,
                None => self.lead_flush_round().await,
            }
        }
    }

    async fn lead_flush_round(&self) {
        self.flush.borrow_mut().flushing = true;
        // Let appenders that are ready to run join this round.
        futures_lite::future::yield_now().await;
        let outcome = self.flush_round().await;
        {
            let mut st = self.flush.borrow_mut();
            st.flushing = false;
            match outcome {
                Ok(upto) => st.durable = st.durable.max(upto),
                Err(e) => {
                    tracing::error!(shard = self.shard.0, error = %e, "commit log flush failed; store poisoned");
                    st.failed.get_or_insert(e);
                }
            }
        }
        self.flushed.notify_all();
    }

    async fn flush_round(&self) -> Result<u64> {
        let (chunks, upto) = self.bufs.borrow_mut().take_for_flush();
        let mut touched: Vec<Rc<S::File>> = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let base = segment_base(chunk.start, self.config.segment_size_bytes);
            let written = async {
                let file = self.segment_file(base, true).await?;
                file.write_at(chunk.buf.clone(), chunk.start - base)
                    .await
                    .map_err(|e| {
                        StoreError::io(format!("writing segment {}", file_name(base)), &e)
                    })?;
                if !touched.iter().any(|f| Rc::ptr_eq(f, &file)) {
                    touched.push(file);
                }
                Ok::<(), StoreError>(())
            }
            .await;
            if let Err(e) = written {
                self.bufs
                    .borrow_mut()
                    .restore_unwritten(chunks[i..].to_vec());
                return Err(e);
            }
        }
        for file in &touched {
            file.sync()
                .await
                .map_err(|e| StoreError::io("fdatasync of a segment", &e))?;
        }
        self.bufs.borrow_mut().mark_written(chunks);
        self.refresh_disk_usage();
        Ok(upto)
    }

    /// The open file of the segment at `base`; with `create`, creates it
    /// (and makes its directory entry durable) when missing.
    pub(crate) async fn segment_file(&self, base: u64, create: bool) -> Result<Rc<S::File>> {
        let known = self.segments.borrow().get(&base).cloned();
        if let Some(Some(file)) = known {
            return Ok(file);
        }
        if known.is_none() && !create {
            return Err(StoreError::corrupt(
                "commit log",
                format!("no segment {}", file_name(base)),
            ));
        }
        let path = self.log_dir().join(file_name(base));
        let file = self
            .storage
            .open(&path, known.is_none())
            .await
            .map_err(|e| StoreError::io(format!("opening {}", path.display()), &e))?;
        if known.is_none() {
            self.storage
                .sync_dir(&self.log_dir())
                .await
                .map_err(|e| StoreError::io("syncing the commit log directory", &e))?;
        }
        let file = Rc::new(file);
        self.segments.borrow_mut().insert(base, Some(file.clone()));
        Ok(file)
    }

    /// Re-reads disk usage from the I/O layer.
    pub(crate) fn refresh_disk_usage(&self) {
        match self.storage.disk_usage(&self.dir) {
            Ok(u) => self.disk_permille.set(u.used_permille()),
            Err(e) => tracing::warn!(error = %e, "disk usage unavailable"),
        }
    }
}
