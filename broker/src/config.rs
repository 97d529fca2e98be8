//! Broker configuration: `broker.toml` (serde, every key optional, unknown
//! keys rejected by name) plus command-line overrides. The annotated
//! `deploy/broker.toml` is embedded as the documented default, and a test
//! keeps it equal to [`BrokerConfig::default`].

use std::path::PathBuf;

use bolide_proto::delay::{DelayLevels, DEFAULT_DELAY_LEVELS};
use bolide_store::config::{FlushMode, StoreConfig};
use serde::Deserialize;

/// The annotated default configuration file.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../deploy/broker.toml");

/// Whole broker configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    pub broker: BrokerSection,
    pub store: StoreSection,
    pub replication: ReplicationSection,
    pub transaction: TransactionSection,
}

/// `[broker]`: identity, network, behaviour.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSection {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_id: u64,
    pub listen_host: String,
    pub listen_port: u16,
    pub vip_port: bool,
    pub advertised_host: String,
    pub namesrv_addrs: Vec<String>,
    pub register_interval_ms: u64,
    pub shards: usize,
    pub auto_create_topic: bool,
    pub auto_create_subscription_group: bool,
    /// Serve SQL92 subscriptions (RocketMQ's `enablePropertyFilter`, off
    /// by default there too): each pull then reads every candidate record.
    pub enable_property_filter: bool,
    pub default_topic_queue_nums: u32,
    pub max_message_bytes: usize,
    pub max_frame_bytes: usize,
    pub max_long_poll_ms: u64,
    /// How long an idle shard stays awake after its last request (and
    /// while sync-mode sends wait for their write), us, yielding its CPU to
    /// a client woken meanwhile (see `runtime::spin`); 0 sleeps at once.
    pub spin_before_park_us: u64,
    pub message_delay_level: String,
    /// Memory all shards together may hold (0: three quarters of the
    /// machine's RAM). Startup refuses a shard count that does not fit.
    pub memory_budget_bytes: u64,
    /// A connection that completes no frame for this long is closed, ms.
    pub idle_timeout_ms: u64,
    /// Connections served at once by the whole broker (split evenly over
    /// the shards); more are closed at accept, logged.
    pub max_connections: usize,
    /// Most consumer groups (and, separately, producer groups) one
    /// heartbeat may name; a larger heartbeat is refused whole.
    pub max_groups_per_heartbeat: usize,
    /// Most subscriptions one heartbeat may carry over all its groups.
    pub max_subscriptions_per_heartbeat: usize,
    /// Most subscription groups the broker keeps, and most consumer groups
    /// with live members at once.
    pub max_subscription_groups: usize,
}

impl Default for BrokerSection {
    fn default() -> Self {
        BrokerSection {
            cluster_name: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_id: 0,
            listen_host: "0.0.0.0".into(),
            listen_port: 10911,
            vip_port: true,
            advertised_host: "127.0.0.1".into(),
            namesrv_addrs: vec!["127.0.0.1:9876".into()],
            register_interval_ms: 30_000,
            shards: 0,
            auto_create_topic: true,
            auto_create_subscription_group: true,
            enable_property_filter: false,
            default_topic_queue_nums: 8,
            max_message_bytes: 4 << 20,
            max_frame_bytes: 16 << 20,
            max_long_poll_ms: 30_000,
            spin_before_park_us: 100,
            message_delay_level: DEFAULT_DELAY_LEVELS.into(),
            memory_budget_bytes: 0,
            idle_timeout_ms: 120_000,
            max_connections: 10_000,
            max_groups_per_heartbeat: crate::groups::MAX_GROUPS_PER_HEARTBEAT,
            max_subscriptions_per_heartbeat: crate::groups::MAX_SUBSCRIPTIONS_PER_CLIENT,
            max_subscription_groups: crate::subscription_groups::MAX_SUBSCRIPTION_GROUPS,
        }
    }
}

/// How sends are acknowledged relative to durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlushModeName {
    Async,
    Sync,
    Memory,
}

/// A broker's part in its broker group (RocketMQ's `brokerRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Answers sends at once; slaves follow.
    AsyncMaster,
    /// Answers a send once a slave holds it (or with FLUSH_SLAVE_TIMEOUT /
    /// SLAVE_NOT_AVAILABLE; the message is stored on the master either way).
    SyncMaster,
    /// Follows a master: refuses sends, serves reads.
    Slave,
}

impl Role {
    pub fn is_master(self) -> bool {
        self != Role::Slave
    }

    /// RocketMQ's name, as admin tools print it.
    pub fn rocketmq_name(self) -> &'static str {
        match self {
            Role::AsyncMaster => "ASYNC_MASTER",
            Role::SyncMaster => "SYNC_MASTER",
            Role::Slave => "SLAVE",
        }
    }
}

/// `[transaction]`: the transaction checker (`crate::transaction`), with
/// RocketMQ's `transactionCheckInterval`, `transactionTimeOut` and
/// `transactionCheckMax`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransactionSection {
    /// How often each shard looks for half messages to check, ms.
    pub check_interval_ms: u64,
    /// Age (from the producer's born time) before a half message's first
    /// check, ms; a message's `CHECK_IMMUNITY_TIME_IN_SECONDS` overrides it.
    pub timeout_ms: u64,
    /// Checks before an unresolved half message is discarded.
    pub check_max: u32,
}

impl Default for TransactionSection {
    fn default() -> Self {
        TransactionSection {
            check_interval_ms: 60_000,
            timeout_ms: 6_000,
            check_max: 15,
        }
    }
}

impl TransactionSection {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=3_600_000).contains(&self.check_interval_ms) {
            return Err(bad("transaction.check_interval_ms", "must be 10..=3600000"));
        }
        if self.timeout_ms > 86_400_000 {
            return Err(bad("transaction.timeout_ms", "must be 0..=86400000"));
        }
        if !(1..=1000).contains(&self.check_max) {
            return Err(bad("transaction.check_max", "must be 1..=1000"));
        }
        Ok(())
    }
}

/// `[replication]`: master-slave replication of every shard's log.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationSection {
    pub role: Role,
    /// Shard k's replication port is `listen_port + k`; 0 = the broker's
    /// `listen_port + 1` (RocketMQ's haListenPort).
    pub listen_port: u16,
    /// A slave's master: `ip:port` of the master's replication port; empty
    /// = the address the NameServer names at registration.
    pub master_addr: String,
    /// A sync master waits this long for a slave before answering
    /// FLUSH_SLAVE_TIMEOUT, ms.
    pub sync_timeout_ms: u64,
    /// How often a slave copies topics, subscription groups, consumer and
    /// delay offsets from its master, ms.
    pub metadata_sync_interval_ms: u64,
}

impl Default for ReplicationSection {
    fn default() -> Self {
        ReplicationSection {
            role: Role::AsyncMaster,
            listen_port: 0,
            master_addr: String::new(),
            sync_timeout_ms: 2_000,
            metadata_sync_interval_ms: 10_000,
        }
    }
}

/// `[store]`: where and how data is kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    pub data_dir: PathBuf,
    pub segment_size_bytes: u64,
    pub flush_mode: FlushModeName,
    pub flush_interval_ms: u64,
    pub read_cache_bytes: u64,
    pub retention_hours: u64,
    pub disk_soft_watermark_permille: u32,
    pub disk_hard_watermark_permille: u32,
}

impl Default for StoreSection {
    fn default() -> Self {
        let store = StoreConfig::default();
        StoreSection {
            data_dir: PathBuf::from("./data"),
            segment_size_bytes: store.segment_size_bytes,
            flush_mode: FlushModeName::Async,
            flush_interval_ms: store.flush_interval_ms,
            read_cache_bytes: store.read_cache_bytes,
            retention_hours: store.retention_hours,
            disk_soft_watermark_permille: store.disk_soft_watermark_permille,
            disk_hard_watermark_permille: store.disk_hard_watermark_permille,
        }
    }
}

/// Physical memory of this machine (0 if unknown, which refuses every
/// shard count unless `memory_budget_bytes` is set).
pub fn machine_memory_bytes() -> u64 {
    // SAFETY: sysconf only reads system values.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages.max(0) as u64).saturating_mul(page.max(0) as u64)
}

/// A configuration problem, naming what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn bad(key: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("config key `{key}`: {why}"))
}

/// Largest value of a group or subscription limit: far above what real
/// clients need, low enough that a typo cannot switch a limit off.
pub const MAX_GROUP_LIMIT: usize = 1_000_000;

impl BrokerConfig {
    /// Parses a `broker.toml` text; unknown keys and bad values name the key.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: BrokerConfig =
            toml::from_str(text).map_err(|e| ConfigError(format!("broker config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_identity()?;
        self.validate_network()?;
        self.validate_broker_limits()?;
        self.validate_group_limits()?;
        self.validate_replication()?;
        self.transaction.validate()?;
        self.store_config()
            .validate()
            .map_err(|e| bad("store", e))?;
        self.check_memory(machine_memory_bytes())
    }

    /// Cluster and broker names: RocketMQ's character set.
    fn validate_identity(&self) -> Result<(), ConfigError> {
        let b = &self.broker;
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 127
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_%|".contains(c))
        };
        if !name_ok(&b.cluster_name) {
            return Err(bad("broker.cluster_name", "use 1-127 of [A-Za-z0-9-_%|]"));
        }
        if !name_ok(&b.broker_name) {
            return Err(bad("broker.broker_name", "use 1-127 of [A-Za-z0-9-_%|]"));
        }
        Ok(())
    }

    /// Addresses and ports.
    fn validate_network(&self) -> Result<(), ConfigError> {
        let b = &self.broker;
        if b.listen_host.parse::<std::net::IpAddr>().is_err() {
            return Err(bad("broker.listen_host", "must be an IP address"));
        }
        if b.vip_port && b.listen_port < 3 {
            return Err(bad(
                "broker.listen_port",
                "must be >= 3 when vip_port is on (port - 2 is also used)",
            ));
        }
        if b.advertised_host.parse::<std::net::IpAddr>().is_err() {
            return Err(bad(
                "broker.advertised_host",
                "must be an IP address clients can reach",
            ));
        }
        for addr in &b.namesrv_addrs {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(bad(
                    "broker.namesrv_addrs",
                    format!("{addr:?} is not ip:port"),
                ));
            }
        }
        Ok(())
    }

    /// Shards, queues, sizes, intervals and connections.
    fn validate_broker_limits(&self) -> Result<(), ConfigError> {
        let b = &self.broker;
        if b.shards > bolide_proto::ids::MAX_SHARDS as usize {
            return Err(bad(
                "broker.shards",
                format!("at most {}", bolide_proto::ids::MAX_SHARDS),
            ));
        }
        if b.default_topic_queue_nums == 0 || b.default_topic_queue_nums > 1024 {
            return Err(bad("broker.default_topic_queue_nums", "must be 1..=1024"));
        }
        if b.max_message_bytes == 0 || b.max_message_bytes >= b.max_frame_bytes {
            return Err(bad(
                "broker.max_message_bytes",
                "must be > 0 and below max_frame_bytes",
            ));
        }
        DelayLevels::parse(&b.message_delay_level)
            .map_err(|e| bad("broker.message_delay_level", e))?;
        if b.register_interval_ms < 1_000 {
            return Err(bad("broker.register_interval_ms", "must be >= 1000"));
        }
        if b.idle_timeout_ms < 1_000 {
            return Err(bad("broker.idle_timeout_ms", "must be >= 1000"));
        }
        if b.max_connections < self.shard_count() {
            return Err(bad("broker.max_connections", "must be >= the shard count"));
        }
        Ok(())
    }

    /// Role, broker id and the replication ports agree.
    fn validate_replication(&self) -> Result<(), ConfigError> {
        let (b, r) = (&self.broker, &self.replication);
        match (r.role.is_master(), b.broker_id) {
            (true, 0) | (false, 1..) => {}
            (true, _) => return Err(bad("broker.broker_id", "a master's broker_id is 0")),
            (false, _) => {
                return Err(bad(
                    "broker.broker_id",
                    "a slave's broker_id is 1 or more (0 is the master)",
                ))
            }
        }
        let last = self.replication_port() as usize + self.shard_count() - 1;
        if last > u16::MAX as usize {
            return Err(bad(
                "replication.listen_port",
                "the last shard's port (listen_port + shards - 1) is above 65535",
            ));
        }
        if !r.master_addr.is_empty() && r.master_addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad(
                "replication.master_addr",
                format!("{:?} is not ip:port", r.master_addr),
            ));
        }
        if r.sync_timeout_ms == 0 || r.sync_timeout_ms > 60_000 {
            return Err(bad("replication.sync_timeout_ms", "must be 1..=60000"));
        }
        if r.metadata_sync_interval_ms < 100 {
            return Err(bad(
                "replication.metadata_sync_interval_ms",
                "must be >= 100",
            ));
        }
        Ok(())
    }

    /// The replication port of shard 0 (shard k listens on this + k).
    pub fn replication_port(&self) -> u16 {
        match self.replication.listen_port {
            0 => self.broker.listen_port.wrapping_add(1),
            p => p,
        }
    }

    /// The heartbeat and group limits: 0 would refuse every consumer.
    fn validate_group_limits(&self) -> Result<(), ConfigError> {
        let b = &self.broker;
        for (key, value) in [
            (
                "broker.max_groups_per_heartbeat",
                b.max_groups_per_heartbeat,
            ),
            (
                "broker.max_subscriptions_per_heartbeat",
                b.max_subscriptions_per_heartbeat,
            ),
            ("broker.max_subscription_groups", b.max_subscription_groups),
        ] {
            if value == 0 || value > MAX_GROUP_LIMIT {
                return Err(bad(key, format!("must be 1..={MAX_GROUP_LIMIT}")));
            }
        }
        Ok(())
    }

    /// Refuses a shard count whose memory does not fit the budget (the
    /// configured one, or three quarters of `machine_bytes`): each shard
    /// holds its I/O memory, tail ring and key index from the start.
    pub fn check_memory(&self, machine_bytes: u64) -> Result<(), ConfigError> {
        let budget = match self.broker.memory_budget_bytes {
            0 => machine_bytes / 4 * 3,
            n => n,
        };
        let per_shard = self.store_config().shard_memory_bytes() as u64;
        let shards = self.shard_count() as u64;
        if shards * per_shard <= budget {
            return Ok(());
        }
        let mib = |b: u64| b >> 20;
        Err(bad(
            "broker.shards",
            format!(
                "{shards} shards need {} MiB ({} MiB each: store.read_cache_bytes, write \
                 buffers, tail ring, key index), above the memory budget of {} MiB \
                 (broker.memory_budget_bytes; by default 3/4 of this machine's {} MiB): \
                 run fewer shards or lower store.read_cache_bytes",
                mib(shards * per_shard),
                mib(per_shard),
                mib(budget),
                mib(machine_bytes)
            ),
        ))
    }

    /// The delay-level table (the default one if the key does not parse;
    /// `validate` refuses that).
    pub fn delay_levels(&self) -> DelayLevels {
        DelayLevels::parse(&self.broker.message_delay_level).unwrap_or_default()
    }

    /// The store configuration each shard opens with.
    pub fn store_config(&self) -> StoreConfig {
        let s = &self.store;
        StoreConfig {
            segment_size_bytes: s.segment_size_bytes,
            max_message_bytes: self.broker.max_message_bytes + 64 * 1024,
            flush_mode: match s.flush_mode {
                FlushModeName::Async => FlushMode::Async,
                FlushModeName::Sync => FlushMode::Sync,
                FlushModeName::Memory => FlushMode::Memory,
            },
            flush_interval_ms: s.flush_interval_ms,
            read_cache_bytes: s.read_cache_bytes,
            retention_hours: s.retention_hours,
            disk_soft_watermark_permille: s.disk_soft_watermark_permille,
            disk_hard_watermark_permille: s.disk_hard_watermark_permille,
            delay_levels: self.delay_levels(),
            replica: !self.replication.role.is_master(),
            ..StoreConfig::default()
        }
    }

    /// Shards to run: the configured count, or one per CPU.
    pub fn shard_count(&self) -> usize {
        match self.broker.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_file_equals_default() {
        assert_eq!(
            BrokerConfig::from_toml(DEFAULT_CONFIG_TOML).unwrap(),
            BrokerConfig::default()
        );
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(
            BrokerConfig::from_toml("").unwrap(),
            BrokerConfig::default()
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = BrokerConfig::from_toml("[broker]\nlisten_prot = 1\n").unwrap_err();
        assert!(err.0.contains("listen_prot"), "{err}");
        let err = BrokerConfig::from_toml("[stor]\n").unwrap_err();
        assert!(err.0.contains("stor"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "[broker]\nadvertised_host = \"localhost\"\n",
                "advertised_host",
            ),
            ("[broker]\nnamesrv_addrs = [\"nope\"]\n", "namesrv_addrs"),
            ("[broker]\nbroker_name = \"a b\"\n", "broker_name"),
            (
                "[broker]\ndefault_topic_queue_nums = 0\n",
                "default_topic_queue_nums",
            ),
            ("[store]\nflush_mode = \"sometimes\"\n", "flush_mode"),
            (
                "[broker]\nmessage_delay_level = \"1s 5x\"\n",
                "message_delay_level",
            ),
            ("[store]\nsegment_size_bytes = 1000\n", "segment_size_bytes"),
            (
                "[broker]\nmax_groups_per_heartbeat = 0\n",
                "broker.max_groups_per_heartbeat",
            ),
            (
                "[broker]\nmax_subscriptions_per_heartbeat = 1000001\n",
                "broker.max_subscriptions_per_heartbeat",
            ),
            (
                "[broker]\nmax_subscription_groups = 0\n",
                "broker.max_subscription_groups",
            ),
        ];
        for (text, key) in cases {
            let err = BrokerConfig::from_toml(text).unwrap_err();
            assert!(err.0.contains(key), "{text:?} -> {err}");
        }
    }

    #[test]
    fn transaction_keys_are_validated() {
        let ok = BrokerConfig::from_toml("[transaction]\ncheck_interval_ms = 50\ntimeout_ms = 0\n");
        assert_eq!(ok.unwrap().transaction.check_max, 15);
        for (text, key) in [
            (
                "[transaction]\ncheck_interval_ms = 5\n",
                "transaction.check_interval_ms",
            ),
            (
                "[transaction]\ntimeout_ms = 86400001\n",
                "transaction.timeout_ms",
            ),
            ("[transaction]\ncheck_max = 0\n", "transaction.check_max"),
            ("[transaction]\ncheck_times = 3\n", "check_times"),
        ] {
            let err = BrokerConfig::from_toml(text).unwrap_err();
            assert!(err.0.contains(key), "{text:?} -> {err}");
        }
    }

    #[test]
    fn flush_modes_map_to_the_store() {
        let mode = |text: &str| {
            BrokerConfig::from_toml(text)
                .unwrap()
                .store_config()
                .flush_mode
        };
        assert_eq!(
            mode(""),
            FlushMode::Async,
            "the crash-safe mode is the default"
        );
        assert_eq!(
            mode("[store]\nflush_mode = \"memory\"\n"),
            FlushMode::Memory
        );
        let c = BrokerConfig::from_toml("[store]\nflush_mode = \"sync\"\n").unwrap();
        assert_eq!(c.store_config().flush_mode, FlushMode::Sync);
    }

    #[test]
    fn shard_counts_that_do_not_fit_the_memory_budget_are_refused() {
        const GIB: u64 = 1 << 30;
        let with = |shards: usize, budget: u64| {
            let mut c = BrokerConfig::default();
            c.broker.shards = shards;
            c.broker.memory_budget_bytes = budget;
            c
        };
        // About 330 MiB a shard with the defaults.
        assert!(with(2, 0).check_memory(24 * GIB).is_ok());
        assert!(with(48, 0).check_memory(24 * GIB).is_ok());
        let err = with(64, 0).check_memory(24 * GIB).unwrap_err();
        assert!(
            err.0.contains("broker.shards") && err.0.contains("64 shards"),
            "{err}"
        );
        assert!(with(64, 0).check_memory(64 * GIB).is_ok());
        assert!(
            with(4, GIB).check_memory(64 * GIB).is_err(),
            "an explicit budget wins"
        );
        assert!(with(1, 0).check_memory(0).is_err(), "unknown machine size");
    }
}
