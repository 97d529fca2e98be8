//! State every shard of a broker shares: topic configs, client groups,
//! consumer offsets and queue locks. This is control-plane data (changed by
//! admin calls, heartbeats and offset commits, read on every send and pull),
//! so it sits behind short-held mutexes instead of being sharded; the data
//! plane (queues, logs) is strictly per shard.
//!
//! Persistence: `<data>/config/topics.json` is rewritten when topics
//! change; `<data>/config/consumer_offsets.json` on an interval and at
//! shutdown. Both are replaced atomically (write temp file, fsync, rename).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use bolide_proto::delay::DelayLevels;

use crate::config::BrokerConfig;
use crate::groups::Groups;
use crate::locks::QueueLocks;
use crate::offsets::OffsetTable;
use crate::subscription_groups::SubscriptionGroups;
use crate::topics::TopicTable;

const TOPICS_FILE: &str = "topics.json";
const OFFSETS_FILE: &str = "consumer_offsets.json";
const DELAY_OFFSETS_FILE: &str = "delay_offsets.json";
const GROUPS_FILE: &str = "subscription_groups.json";

/// Shared, thread-safe broker state.
#[derive(Debug)]
pub struct BrokerShared {
    pub config: BrokerConfig,
    /// Parsed `message_delay_level`.
    pub delay_levels: DelayLevels,
    topics: Mutex<TopicTable>,
    groups: Mutex<Groups>,
    offsets: Mutex<OffsetTable>,
    locks: Mutex<QueueLocks>,
    subscription_groups: Mutex<SubscriptionGroups>,
    /// Delay level → next schedule-queue offset to deliver.
    delay_offsets: Mutex<BTreeMap<u32, u64>>,
    /// Topics changed since the last NameServer registration.
    pub topics_dirty: AtomicBool,
    offsets_dirty: AtomicBool,
    config_dir: PathBuf,
    /// Messages stored since start (runtime info).
    pub put_total: AtomicU64,
    /// Messages returned by pulls since start (runtime info).
    pub get_total: AtomicU64,
    /// Wall-clock ms at start.
    pub boot_timestamp_ms: i64,
    started: Instant,
}

/// Locks a mutex, recovering from poisoning: every critical section here
/// leaves the data consistent, so a panicking holder cannot corrupt it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BrokerShared {
    /// Loads persisted topics and offsets from `<data>/config/`.
    pub fn load(config: BrokerConfig) -> Result<Self, String> {
        let config_dir = config.store.data_dir.join("config");
        std::fs::create_dir_all(&config_dir)
            .map_err(|e| format!("cannot create {}: {e}", config_dir.display()))?;
        let b = &config.broker;
        let mut topics = TopicTable::new(
            &b.cluster_name,
            &b.broker_name,
            b.auto_create_topic,
            b.default_topic_queue_nums as i32,
            config.delay_levels().count() as i32,
        );
        if let Some(bytes) = read_optional(&config_dir.join(TOPICS_FILE))? {
            topics
                .load_json(&bytes)
                .map_err(|e| format!("{}: {e}", TOPICS_FILE))?;
        }
        let offsets = match read_optional(&config_dir.join(OFFSETS_FILE))? {
            Some(bytes) => OffsetTable::from_json(&bytes)?,
            None => OffsetTable::default(),
        };
        let subscription_groups = match read_optional(&config_dir.join(GROUPS_FILE))? {
            Some(bytes) => {
                SubscriptionGroups::from_json(&bytes).map_err(|e| format!("{GROUPS_FILE}: {e}"))?
            }
            None => SubscriptionGroups::default(),
        };
        let delay_offsets = match read_optional(&config_dir.join(DELAY_OFFSETS_FILE))? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{DELAY_OFFSETS_FILE}: {e}"))?
            }
            None => BTreeMap::new(),
        };
        Ok(BrokerShared {
            delay_levels: config.delay_levels(),
            config,
            topics: Mutex::new(topics),
            groups: Mutex::new(Groups::default()),
            offsets: Mutex::new(offsets),
            locks: Mutex::new(QueueLocks::default()),
            subscription_groups: Mutex::new(subscription_groups),
            delay_offsets: Mutex::new(delay_offsets),
            topics_dirty: AtomicBool::new(true),
            offsets_dirty: AtomicBool::new(false),
            config_dir,
            put_total: AtomicU64::new(0),
            get_total: AtomicU64::new(0),
            boot_timestamp_ms: crate::shard::wall_clock_ms(),
            started: Instant::now(),
        })
    }

    /// Monotonic milliseconds since start, the same clock on every shard.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Where broker-wide files live.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    pub fn topics(&self) -> MutexGuard<'_, TopicTable> {
        lock(&self.topics)
    }

    pub fn groups(&self) -> MutexGuard<'_, Groups> {
        lock(&self.groups)
    }

    pub fn offsets(&self) -> MutexGuard<'_, OffsetTable> {
        lock(&self.offsets)
    }

    pub fn locks(&self) -> MutexGuard<'_, QueueLocks> {
        lock(&self.locks)
    }

    pub fn subscription_groups(&self) -> MutexGuard<'_, SubscriptionGroups> {
        lock(&self.subscription_groups)
    }

    /// A group's settings, auto-created when the config allows it.
    pub fn subscription_group(
        &self,
        group: &str,
    ) -> Option<bolide_proto::body::SubscriptionGroupConfig> {
        let auto = self.config.broker.auto_create_subscription_group;
        let found =
            self.subscription_groups()
                .find_or_create(group, auto, crate::shard::wall_clock_ms());
        let (config, created) = found?;
        if created {
            self.subscription_groups_changed();
        }
        Some(config)
    }

    /// Persists subscription groups after a change.
    pub fn subscription_groups_changed(&self) {
        let json = self.subscription_groups().to_json();
        if let Err(e) = write_atomically(&self.config_dir.join(GROUPS_FILE), &json) {
            tracing::error!(error = %e, "cannot persist subscription groups");
        }
    }

    /// Records a consumer offset commit.
    pub fn commit_offset(&self, group: &str, topic: &str, queue: u32, offset: u64) {
        if self.offsets().commit(group, topic, queue, offset) {
            self.offsets_dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Persists topics after a change and marks them for re-registration.
    pub fn topics_changed(&self) {
        self.topics_dirty.store(true, Ordering::Relaxed);
        let json = self.topics().to_json();
        if let Err(e) = write_atomically(&self.config_dir.join(TOPICS_FILE), &json) {
            tracing::error!(error = %e, "cannot persist topics");
        }
    }

    /// Next schedule-queue offset to deliver for a delay level.
    pub fn delay_offset(&self, level: u32) -> u64 {
        lock(&self.delay_offsets).get(&level).copied().unwrap_or(0)
    }

    pub fn set_delay_offset(&self, level: u32, offset: u64) {
        lock(&self.delay_offsets).insert(level, offset);
        self.offsets_dirty.store(true, Ordering::Relaxed);
    }

    /// Persists consumer and delay offsets if they changed.
    pub fn persist_offsets(&self) {
        if !self.offsets_dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let json = self.offsets().to_json();
        let delays = serde_json::to_vec(&*lock(&self.delay_offsets)).unwrap_or_default();
        let written = write_atomically(&self.config_dir.join(OFFSETS_FILE), &json)
            .and_then(|()| write_atomically(&self.config_dir.join(DELAY_OFFSETS_FILE), &delays));
        if let Err(e) = written {
            self.offsets_dirty.store(true, Ordering::Relaxed);
            tracing::error!(error = %e, "cannot persist consumer offsets");
        }
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Replaces `path` with `bytes` so a crash leaves the old or the new file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_offsets_survive_a_reload() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::default();
        config.store.data_dir = tmp.path().to_path_buf();
        let shared = BrokerShared::load(config.clone()).unwrap();
        shared.topics().for_send("T", "TBW102", 4, 1).unwrap();
        shared.topics_changed();
        shared.commit_offset("g", "T", 1, 42);
        shared.set_delay_offset(3, 9);
        shared.persist_offsets();
        let again = BrokerShared::load(config).unwrap();
        assert_eq!(again.topics().get("T").unwrap().write_queue_nums, 4);
        assert_eq!(again.offsets().query("g", "T", 1), Some(42));
        assert_eq!(again.delay_offset(3), 9);
    }

    #[test]
    fn corrupt_files_are_reported_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::default();
        config.store.data_dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(tmp.path().join("config")).unwrap();
        std::fs::write(tmp.path().join("config").join(TOPICS_FILE), b"{oops").unwrap();
        let err = BrokerShared::load(config).unwrap_err();
        assert!(err.contains("topics.json"), "{err}");
    }
}
