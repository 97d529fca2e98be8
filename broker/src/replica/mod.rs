//! Master-slave replication of every shard's commit log.
//!
//! Shard k of a slave connects to shard k of its master (the master's
//! replication port + k), says where its log ends and which epochs it holds,
//! and the master streams raw log bytes from the point where the two logs
//! agree; the slave appends them unchanged (`ShardStore::append_raw`, so
//! its physical offsets equal the master's), rebuilds its consume queues and
//! key index from them, and acknowledges its new log end. A sync master
//! answers a send once an acknowledgement covers it.
//!
//! * `wire`: the stream's frames (pure); `link`: frames over a socket.
//! * `epochs`: which master start wrote which stretch of the log, and where
//!   a slave's log and its master's part (pure, table-tested).
//! * `master`: the listener, one stream per slave, the sync-master waits.
//! * `slave`: following the master, cutting a log the master no longer has.
//! * `follow`: a slave copying its master's topics, groups and offsets.
//! * `status`: what admin tools and the registrar see.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bolide_store::io::Storage;

use crate::shard::Shard;

pub mod epochs;
pub mod follow;
pub mod link;
pub mod master;
pub mod slave;
pub mod status;
pub mod wire;

use epochs::Epochs;
use master::Tracker;

/// One shard's replication state.
#[derive(Debug)]
pub struct ShardReplica {
    /// Master: the connected slaves and what they confirmed.
    pub tracker: Tracker,
    /// Which master start wrote which part of this shard's log.
    pub epochs: RefCell<Epochs>,
    /// `<shard-dir>/epochs`; none for a shard over in-memory storage.
    path: Option<PathBuf>,
}

impl ShardReplica {
    /// Loads the shard's epochs; a master begins a new one at `log_end`
    /// and saves it before it serves (blocking: called before the shard
    /// takes requests).
    pub fn open(shard_dir: &Path, master: bool, log_end: u64, now_ms: i64) -> Result<Self, String> {
        let path = shard_dir.join("epochs");
        let mut epochs = match std::fs::read_to_string(&path) {
            Ok(text) => Epochs::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Epochs::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if master {
            epochs.begin(log_end, now_ms.max(0) as u64);
            save(&path, &epochs).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(ShardReplica {
            tracker: Tracker::default(),
            epochs: RefCell::new(epochs),
            path: Some(path),
        })
    }

    /// A shard's replication state kept in memory only (a master over the
    /// in-memory storage in tests), starting one epoch at `log_end`.
    pub fn in_memory(log_end: u64, now_ms: i64) -> Self {
        let mut epochs = Epochs::default();
        epochs.begin(log_end, now_ms.max(0) as u64);
        ShardReplica {
            tracker: Tracker::default(),
            epochs: RefCell::new(epochs),
            path: None,
        }
    }

    /// A slave agreed with its master that the stream starts at `from`,
    /// under the master's history `epochs`: cut a longer log there, and
    /// adopt the history.
    async fn agree<S: Storage>(
        &self,
        shard: &Rc<Shard<S>>,
        from: u64,
        epochs: Epochs,
    ) -> io::Result<()> {
        let end = shard.store().write_offset().0;
        if from > end {
            return Err(io::Error::other(format!(
                "the master resumes at {from}, past this slave's log end {end}"
            )));
        }
        if from < end {
            tracing::warn!(
                shard = shard.id.0,
                from,
                end,
                "the master's log is shorter than this slave's: cutting the slave's log to match"
            );
            shard
                .truncate_store(from)
                .await
                .map_err(|e| io::Error::other(format!("cutting the log to {from}: {e}")))?;
        }
        if *self.epochs.borrow() != epochs {
            if let Some(path) = self.path.clone() {
                let copy = epochs.clone();
                shard.off_executor(move || save(&path, &copy)).await?;
            }
            *self.epochs.borrow_mut() = epochs;
        }
        Ok(())
    }
}

/// Writes the epochs file: temp, fsync, rename.
fn save(path: &Path, epochs: &Epochs) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(epochs.render().as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
