//! State every shard of a broker shares: topic configs, client groups,
//! consumer offsets and queue locks. This is control-plane data (changed by
//! admin calls, heartbeats and offset commits, read on every send and pull),
//! so it sits behind short-held mutexes instead of being sharded; the data
//! plane (queues, logs) is strictly per shard.
//!
//! Persistence: `topics.json`, `subscription_groups.json`,
//! `consumer_offsets.json` and `delay_offsets.json` under `<data>/config/`.
//! A change only marks its file dirty. One persister thread per broker
//! (`bolide-persist`) writes each dirty file at most every
//! [`PERSIST_INTERVAL`], from a snapshot cloned under the table's mutex:
//! temp file, fsync, rename, fsync of the directory, so a crash leaves the
//! old or the new file. No request waits for that write on an executor
//! thread; admin changes of topics and groups wait for it asynchronously
//! ([`BrokerShared::request_flush`]) and answer once it is on disk.
//!
//! What survives a crash: everything acknowledged more than ~1 s before it.
//! Changes acknowledged within the last ~1 s — auto-created topics and
//! groups, offset commits, delay progress — can be lost, as in RocketMQ,
//! which persists these periodically too (a lost offset commit re-delivers,
//! a lost delay offset re-delivers the last delayed messages: at least
//! once). A clean shutdown writes everything: the persister's last pass runs
//! when the last shard thread exits ([`BrokerShared::attach_shard_thread`])
//! or this state is dropped, and [`BrokerShared::flush_config`] forces one.
//!
//! NameServer registration handshake: every topic change takes the next
//! topic-config version ([`BrokerShared::topics_changed`]); the registrar
//! (`crate::register`) reads the version before it snapshots the topics,
//! so a registration the NameServers accepted covers every change up to
//! that version, and then publishes it ([`BrokerShared::topics_registered`]).
//! A request that must not answer before the NameServers route its change
//! awaits [`BrokerShared::wait_registered`] (bounded by the caller). Both
//! versions are [`VersionWatch`]es: they only grow, and a task on any
//! shard's thread can await them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bolide_proto::body::SubscriptionGroupConfig;
use bolide_proto::delay::DelayLevels;

use crate::clock::Clock;
use crate::config::BrokerConfig;
use crate::groups::Groups;
use crate::locks::QueueLocks;
use crate::offsets::OffsetTable;
use crate::replica::status::{MasterAddrs, ReplicationStatus};
use crate::subscription_groups::{GroupRefusal, SubscriptionGroups};
use crate::topics::TopicTable;

mod persister;
mod watch;

use persister::{Persister, ShardThreadToken, ShardThreads, SHARD_THREAD_TOKENS};

pub use watch::{Reached, VersionWatch};

/// Longest time a change waits before the persister writes it.
pub const PERSIST_INTERVAL: Duration = Duration::from_secs(1);
/// Longest [`BrokerShared::flush_config`] waits for the persister.
const FLUSH_WAIT: Duration = Duration::from_secs(30);
/// While writes keep failing, how often the persister says so again.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// One persisted file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigFile {
    Topics,
    SubscriptionGroups,
    Offsets,
    DelayOffsets,
}

const ALL_FILES: [ConfigFile; 4] = [
    ConfigFile::Topics,
    ConfigFile::SubscriptionGroups,
    ConfigFile::Offsets,
    ConfigFile::DelayOffsets,
];

impl ConfigFile {
    fn name(self) -> &'static str {
        match self {
            ConfigFile::Topics => "topics.json",
            ConfigFile::SubscriptionGroups => "subscription_groups.json",
            ConfigFile::Offsets => "consumer_offsets.json",
            ConfigFile::DelayOffsets => "delay_offsets.json",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The persisted tables, shared with the persister thread.
#[derive(Debug)]
struct Tables {
    topics: Mutex<TopicTable>,
    subscription_groups: Mutex<SubscriptionGroups>,
    offsets: Mutex<OffsetTable>,
    /// Delay level → next schedule-queue offset to deliver.
    delay_offsets: Mutex<BTreeMap<u32, u64>>,
    /// [`ConfigFile::bit`]s of files changed since their last write.
    dirty: AtomicU8,
}

impl Tables {
    fn mark(&self, file: ConfigFile) {
        self.dirty.fetch_or(file.bit(), Ordering::AcqRel);
    }

    /// The file's bytes, and for topics the ones this write makes durable.
    /// The lock is held only to clone the table, so requests never wait
    /// for the encoding (or the write).
    fn encode(&self, file: ConfigFile) -> (Vec<u8>, BTreeSet<String>) {
        let bytes = match file {
            ConfigFile::Topics => {
                let (snapshot, made_durable) = {
                    let mut topics = lock(&self.topics);
                    let made_durable = topics.take_unpersisted();
                    (topics.clone(), made_durable)
                };
                return (snapshot.to_json(), made_durable);
            }
            ConfigFile::SubscriptionGroups => {
                let snapshot = lock(&self.subscription_groups).clone();
                snapshot.to_json()
            }
            ConfigFile::Offsets => {
                let snapshot = lock(&self.offsets).clone();
                snapshot.to_json()
            }
            ConfigFile::DelayOffsets => {
                let snapshot = lock(&self.delay_offsets).clone();
                // u32 keys and u64 values: serialization cannot fail.
                serde_json::to_vec(&snapshot).unwrap_or_default()
            }
        };
        (bytes, BTreeSet::new())
    }

    /// Writes every dirty file; a file that fails stays dirty for the next pass.
    fn flush_dirty(&self, dir: &Path) -> Result<(), String> {
        let dirty = self.dirty.swap(0, Ordering::AcqRel);
        let mut errors = Vec::new();
        for file in ALL_FILES.into_iter().filter(|f| dirty & f.bit() != 0) {
            let (bytes, made_durable) = self.encode(file);
            if let Err(e) = write_atomically(&dir.join(file.name()), &bytes) {
                lock(&self.topics).restore_unpersisted(made_durable);
                self.mark(file);
                errors.push(format!("cannot write {}: {e}", file.name()));
            }
        }
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors.join("; ")),
        }
    }
}

/// Shared, thread-safe broker state.
#[derive(Debug)]
pub struct BrokerShared {
    pub config: BrokerConfig,
    /// Parsed `message_delay_level`.
    pub delay_levels: DelayLevels,
    tables: Arc<Tables>,
    groups: Mutex<Groups>,
    locks: Mutex<QueueLocks>,
    /// Topic-config version: one more per change.
    topics_version: VersionWatch,
    /// The topic-config version the NameServers know (see `crate::register`
    /// for which NameServers count).
    registered_version: VersionWatch,
    config_dir: PathBuf,
    /// Messages stored since start (runtime info).
    pub put_total: AtomicU64,
    /// Messages returned by pulls since start (runtime info).
    pub get_total: AtomicU64,
    /// Wall-clock ms at start.
    pub boot_timestamp_ms: i64,
    shard_threads: Arc<ShardThreads>,
    persister: Persister,
    /// Replication as every shard reports it.
    pub replication: ReplicationStatus,
    /// Each shard's unresolved half messages (`crate::transaction`).
    pub transactions: crate::transaction::Books,
}

/// Locks a mutex, recovering from poisoning: every critical section here
/// leaves the data consistent, so a panicking holder cannot corrupt it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads the persisted tables (missing files are empty tables).
fn load_tables(config: &BrokerConfig, dir: &Path) -> Result<Tables, String> {
    let b = &config.broker;
    let mut topics = TopicTable::new(
        &b.cluster_name,
        &b.broker_name,
        b.auto_create_topic,
        b.default_topic_queue_nums as i32,
        config.delay_levels().count() as i32,
    );
    let named = |file: ConfigFile| move |e: String| format!("{}: {e}", file.name());
    let read = |file: ConfigFile| read_optional(&dir.join(file.name()));
    if let Some(bytes) = read(ConfigFile::Topics)? {
        topics
            .load_json(&bytes)
            .map_err(named(ConfigFile::Topics))?;
    }
    let offsets = match read(ConfigFile::Offsets)? {
        Some(bytes) => OffsetTable::from_json(&bytes).map_err(named(ConfigFile::Offsets))?,
        None => OffsetTable::default(),
    };
    let max_groups = b.max_subscription_groups;
    let subscription_groups = match read(ConfigFile::SubscriptionGroups)? {
        Some(bytes) => SubscriptionGroups::from_json(&bytes, max_groups)
            .map_err(named(ConfigFile::SubscriptionGroups))?,
        None => SubscriptionGroups::new(max_groups),
    };
    let delay_offsets = match read(ConfigFile::DelayOffsets)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| e.to_string())
            .map_err(named(ConfigFile::DelayOffsets))?,
        None => BTreeMap::new(),
    };
    Ok(Tables {
        topics: Mutex::new(topics),
        subscription_groups: Mutex::new(subscription_groups),
        offsets: Mutex::new(offsets),
        delay_offsets: Mutex::new(delay_offsets),
        dirty: AtomicU8::new(0),
    })
}

impl BrokerShared {
    /// Loads persisted topics, groups and offsets from `<data>/config/` and
    /// starts the persister; `clock` gives the boot timestamp.
    pub fn load(config: BrokerConfig, clock: &dyn Clock) -> Result<Self, String> {
        let config_dir = config.store.data_dir.join("config");
        std::fs::create_dir_all(&config_dir)
            .map_err(|e| format!("cannot create {}: {e}", config_dir.display()))?;
        let tables = Arc::new(load_tables(&config, &config_dir)?);
        let replication = ReplicationStatus::new(config.shard_count());
        if !config.replication.role.is_master() {
            // A configured master replication address is known before any
            // registration answer names the master (crate::register).
            replication.set_master(MasterAddrs {
                broker_addr: String::new(),
                ha_addr: config.replication.master_addr.clone(),
            });
        }
        let persister = Persister::start(tables.clone(), config_dir.clone())?;
        let shard_threads = Arc::new(ShardThreads {
            alive: AtomicUsize::new(0),
            signal: persister.signal.clone(),
        });
        Ok(BrokerShared {
            delay_levels: config.delay_levels(),
            config,
            tables,
            groups: Mutex::new(Groups::default()),
            locks: Mutex::new(QueueLocks::default()),
            // Version 1 is the loaded topics, not yet registered (0).
            topics_version: VersionWatch::new(1),
            registered_version: VersionWatch::new(0),
            config_dir,
            put_total: AtomicU64::new(0),
            get_total: AtomicU64::new(0),
            boot_timestamp_ms: clock.now_ms(),
            shard_threads,
            persister,
            replication,
            transactions: Default::default(),
        })
    }

    /// Where broker-wide files live.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    pub fn topics(&self) -> MutexGuard<'_, TopicTable> {
        lock(&self.tables.topics)
    }

    pub fn groups(&self) -> MutexGuard<'_, Groups> {
        lock(&self.groups)
    }

    pub fn offsets(&self) -> MutexGuard<'_, OffsetTable> {
        lock(&self.tables.offsets)
    }

    pub fn locks(&self) -> MutexGuard<'_, QueueLocks> {
        lock(&self.locks)
    }

    pub fn subscription_groups(&self) -> MutexGuard<'_, SubscriptionGroups> {
        lock(&self.tables.subscription_groups)
    }

    /// A group's settings, auto-created when the config allows it (and the
    /// group limit is not reached); `now_ms` is wall time.
    pub fn subscription_group(
        &self,
        group: &str,
        now_ms: i64,
    ) -> Result<SubscriptionGroupConfig, GroupRefusal> {
        let auto = self.config.broker.auto_create_subscription_group;
        let (config, created) = self
            .subscription_groups()
            .find_or_create(group, auto, now_ms)?;
        if created {
            self.subscription_groups_changed();
        }
        Ok(config)
    }

    /// Auto-creates (when allowed) every group a heartbeat names, or none
    /// when that would pass the group limit; `now_ms` is wall time.
    pub fn create_subscription_groups<'a>(
        &self,
        groups: impl IntoIterator<Item = &'a str>,
        now_ms: i64,
    ) -> Result<(), GroupRefusal> {
        if !self.config.broker.auto_create_subscription_group {
            return Ok(());
        }
        if self.subscription_groups().create_all(groups, now_ms)? > 0 {
            self.subscription_groups_changed();
        }
        Ok(())
    }

    /// Marks subscription groups for the persister.
    pub fn subscription_groups_changed(&self) {
        self.tables.mark(ConfigFile::SubscriptionGroups);
    }

    /// Records a consumer offset commit.
    pub fn commit_offset(&self, group: &str, topic: &str, queue: u32, offset: u64) {
        if self.offsets().commit(group, topic, queue, offset) {
            self.offsets_changed();
        }
    }

    /// Marks consumer offsets for the persister.
    pub fn offsets_changed(&self) {
        self.tables.mark(ConfigFile::Offsets);
    }

    /// Marks topics for the persister and for re-registration; call after
    /// the change is in the table.
    pub fn topics_changed(&self) {
        self.topics_changed_version();
    }

    /// [`Self::topics_changed`], returning the topic-config version that
    /// covers the change, for [`Self::wait_registered`].
    pub fn topics_changed_version(&self) -> u64 {
        self.tables.mark(ConfigFile::Topics);
        // After the table change: a registrar that reads this version (or
        // a later one) then snapshots a table that holds the change.
        self.topics_version.increment()
    }

    /// The current topic-config version.
    pub fn topics_version(&self) -> u64 {
        self.topics_version.get()
    }

    /// Completes once the topic-config version is at least `version`.
    pub fn wait_topics_version(&self, version: u64) -> Reached<'_> {
        self.topics_version.reached(version)
    }

    /// The registrar's word that the NameServers know every topic change
    /// up to `version`; wakes the requests waiting for it.
    pub fn topics_registered(&self, version: u64) {
        self.registered_version.raise_to(version);
    }

    /// The topic-config version the NameServers know.
    pub fn registered_version(&self) -> u64 {
        self.registered_version.get()
    }

    /// Completes once the NameServers know topic-config `version`. Not
    /// bounded: the caller puts a limit on it (a NameServer can hang).
    pub fn wait_registered(&self, version: u64) -> Reached<'_> {
        self.registered_version.reached(version)
    }

    /// Next schedule-queue offset to deliver for a delay level.
    pub fn delay_offset(&self, level: u32) -> u64 {
        lock(&self.tables.delay_offsets)
            .get(&level)
            .copied()
            .unwrap_or(0)
    }

    pub fn set_delay_offset(&self, level: u32, offset: u64) {
        lock(&self.tables.delay_offsets).insert(level, offset);
        self.tables.mark(ConfigFile::DelayOffsets);
    }

    /// Every delay level's next offset (GET_ALL_DELAY_OFFSET).
    pub fn delay_offsets(&self) -> BTreeMap<u32, u64> {
        lock(&self.tables.delay_offsets).clone()
    }

    /// Replaces the delay progress with the master's (a slave's metadata
    /// sync; a slave delivers nothing itself). Returns true if it changed.
    pub fn replace_delay_offsets(&self, offsets: BTreeMap<u32, u64>) -> bool {
        let mut mine = lock(&self.tables.delay_offsets);
        if *mine == offsets {
            return false;
        }
        *mine = offsets;
        self.tables.mark(ConfigFile::DelayOffsets);
        true
    }

    /// Asks the persister for a pass now, without waiting for it (the
    /// runtime's periodic and shutdown call; the last write at shutdown is
    /// the persister's final pass when this state is dropped).
    pub fn persist_offsets(&self) {
        self.request_flush();
    }

    /// Asks the persister to write every dirty file now; the ticket tells
    /// [`Self::flush_outcome`] which pass to wait for.
    pub fn request_flush(&self) -> u64 {
        let signal = &self.persister.signal;
        let mut state = lock(&signal.state);
        state.requested += 1;
        signal.changed.notify_all();
        state.requested
    }

    /// `None` while the pass for `ticket` is pending, then the outcome of
    /// the latest pass (an error names the files not written).
    pub fn flush_outcome(&self, ticket: u64) -> Option<Result<(), String>> {
        let state = lock(&self.persister.signal.state);
        match (state.completed >= ticket, state.exited) {
            (true, _) => Some(state.last.clone()),
            (false, true) => Some(Err("the config persister has stopped".into())),
            (false, false) => None,
        }
    }

    /// Writes every change now and waits for it (blocking: shutdown, tests).
    pub fn flush_config(&self) -> Result<(), String> {
        let ticket = self.request_flush();
        self.persister
            .signal
            .wait_until(|s| s.completed >= ticket || s.exited)?;
        match self.flush_outcome(ticket) {
            Some(outcome) => outcome,
            None => Err("the config persister has stopped".into()),
        }
    }

    /// Ties the persister's last pass to the calling shard thread: once
    /// every attached thread has exited (the broker stopped), the persister
    /// writes what is dirty and stops, before the last thread finishes, so
    /// joining the shard threads waits for it. Call once on each shard
    /// thread. Needed because this state is never dropped at shutdown: the
    /// executors' detached tasks keep it alive.
    pub fn attach_shard_thread(&self) {
        self.shard_threads.alive.fetch_add(1, Ordering::AcqRel);
        let token = ShardThreadToken(self.shard_threads.clone());
        SHARD_THREAD_TOKENS.with(|tokens| tokens.borrow_mut().push(token));
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
    use crate::clock::SystemClock;
    use bolide_transport::rt;
    use std::time::Instant;

    fn config(dir: &Path) -> BrokerConfig {
        let mut config = BrokerConfig::default();
        config.store.data_dir = dir.to_path_buf();
        config
    }

    #[test]
    fn topics_and_offsets_survive_a_reload() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap();
        shared.topics().for_send("T", "TBW102", 4, 1).unwrap();
        shared.topics_changed();
        shared.commit_offset("g", "T", 1, 42);
        shared.set_delay_offset(3, 9);
        shared.subscription_group("SG", 0).unwrap();
        shared.flush_config().unwrap();
        let again = BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap();
        assert_eq!(again.topics().get("T").unwrap().write_queue_nums, 4);
        assert_eq!(again.offsets().query("g", "T", 1), Some(42));
        assert_eq!(again.delay_offset(3), 9);
        assert!(again.subscription_groups().get("SG").is_some());
    }

    #[test]
    fn replaced_delay_offsets_are_persisted_only_when_they_change() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap();
        shared.set_delay_offset(1, 4);
        shared.flush_config().unwrap();
        assert!(!shared.replace_delay_offsets([(1, 4)].into()));
        assert_eq!(shared.tables.dirty.load(Ordering::Acquire), 0);
        assert!(shared.replace_delay_offsets([(2, 9)].into()));
        assert_eq!(shared.delay_offsets(), [(2, 9)].into());
        drop(shared);
        let again = BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap();
        assert_eq!((again.delay_offset(1), again.delay_offset(2)), (0, 9));
    }

    #[test]
    fn a_slave_knows_its_configured_master_address_from_the_start() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = config(tmp.path());
        c.broker.broker_id = 1;
        c.replication.role = crate::config::Role::Slave;
        c.replication.master_addr = "127.0.0.1:10912".into();
        let shared = BrokerShared::load(c, &SystemClock::new()).unwrap();
        assert_eq!(shared.replication.master().ha_addr, "127.0.0.1:10912");
        assert_eq!(shared.replication.master().broker_addr, "");
    }

    #[test]
    fn changes_are_written_by_the_persister_and_by_the_last_pass_at_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let offsets = tmp.path().join("config").join("consumer_offsets.json");
        let shared = BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap();
        shared.commit_offset("g", "T", 0, 1);
        let ticket = shared.request_flush();
        let deadline = Instant::now() + FLUSH_WAIT;
        while shared.flush_outcome(ticket).is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(shared.flush_outcome(ticket), Some(Ok(())));
        assert!(offsets.exists());
        shared.commit_offset("g", "T", 0, 2);
        drop(shared);
        let again = BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap();
        assert_eq!(again.offsets().query("g", "T", 0), Some(2));
    }

    #[test]
    fn the_last_shard_thread_to_exit_makes_the_last_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = Arc::new(BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap());
        // Like the runtime's shards: all attached before any exits.
        let started = Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = (0..2u32)
            .map(|queue| {
                let (shared, started) = (shared.clone(), started.clone());
                std::thread::spawn(move || {
                    shared.attach_shard_thread();
                    started.wait();
                    shared.commit_offset("g", "T", queue, 5);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Written by the time the threads are joined, though the state lives on.
        let offsets = tmp.path().join("config").join("consumer_offsets.json");
        let written = OffsetTable::from_json(&std::fs::read(offsets).unwrap()).unwrap();
        assert_eq!(written.query("g", "T", 0), Some(5));
        assert_eq!(written.query("g", "T", 1), Some(5));
        assert!(shared.flush_config().is_err(), "the persister has stopped");
    }

    #[test]
    fn a_failed_write_is_reported_and_retried() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap();
        let dir = tmp.path().join("config");
        // A directory where the temp file would go makes the write fail.
        std::fs::create_dir(dir.join("topics.tmp")).unwrap();
        shared.topics().for_send("T", "TBW102", 4, 1).unwrap();
        shared.topics_changed();
        let err = shared.flush_config().unwrap_err();
        assert!(err.contains("topics.json"), "{err}");
        assert!(shared.topics().is_unpersisted("T"));
        std::fs::remove_dir(dir.join("topics.tmp")).unwrap();
        shared.flush_config().unwrap();
        assert!(!shared.topics().is_unpersisted("T"));
        assert!(
            dir.join("topics.json").exists(),
            "still dirty, so written later"
        );
    }

    #[test]
    fn corrupt_files_are_reported_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("config")).unwrap();
        std::fs::write(tmp.path().join("config").join("topics.json"), b"{oops").unwrap();
        let err = BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap_err();
        assert!(err.contains("topics.json"), "{err}");
    }

    /// The runtime's case: the registrar raises on shard 0's thread, the
    /// request waits on another shard's executor, which sleeps in io_uring
    /// meanwhile and must be roused.
    #[test]
    fn registration_wakes_a_request_parked_on_a_sleeping_executor() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = Arc::new(BrokerShared::load(config(tmp.path()), &SystemClock::new()).unwrap());
        let version = shared.topics_changed_version();
        assert_eq!(version, 2, "version 1 is the loaded topics");
        let waiter = {
            let shared = shared.clone();
            rt::spawn_executor(move || async move {
                let reached = async {
                    shared.wait_registered(version).await;
                    true
                };
                let bound = async {
                    rt::sleep(Duration::from_secs(30)).await;
                    false
                };
                futures_lite::future::or(reached, bound).await
            })
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while shared.registered_version.waiting() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Short of the target: woken, it looks and waits again.
        shared.topics_registered(version - 1);
        shared.topics_registered(version);
        assert!(waiter.join(), "woken by the registration");
        assert_eq!(shared.registered_version(), version);
    }
}
