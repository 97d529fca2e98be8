//! Consumer settings, with RocketMQ's defaults, and the client id.
//!
//! Every interval is configurable so tests can run a rebalance in
//! milliseconds; [`ConsumerConfig::validate`] names the bad key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bolide_proto::body::{ConsumeFromWhere, MessageModel};

use super::process_queue::FlowLimits;
use super::ConsumerError;
use crate::rebalance::AllocateStrategy;

/// Where a consumer starts on a queue its group has no offset for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsumeFrom {
    /// The queue's end: only messages sent from now on (RocketMQ default).
    #[default]
    LastOffset,
    /// The queue's beginning.
    FirstOffset,
    /// The first message stored at or after this time (ms since the epoch).
    Timestamp(i64),
}

impl ConsumeFrom {
    /// The heartbeat form.
    pub fn to_wire(self) -> ConsumeFromWhere {
        match self {
            ConsumeFrom::LastOffset => ConsumeFromWhere::LastOffset,
            ConsumeFrom::FirstOffset => ConsumeFromWhere::FirstOffset,
            ConsumeFrom::Timestamp(_) => ConsumeFromWhere::Timestamp,
        }
    }
}

/// Where a broadcasting consumer keeps its offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOffsets {
    /// Not kept: a restart starts over per [`ConsumeFrom`].
    Memory,
    /// `<dir>/<group>.json`.
    Dir(PathBuf),
}

impl Default for LocalOffsets {
    /// `~/.bolide/offsets` when `HOME` is set, else in memory.
    fn default() -> Self {
        match std::env::var_os("HOME") {
            Some(home) => LocalOffsets::Dir(PathBuf::from(home).join(".bolide").join("offsets")),
            None => LocalOffsets::Memory,
        }
    }
}

/// Settings shared by the push and lite pull consumers.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub group: String,
    pub namesrv_addrs: Vec<SocketAddr>,
    pub message_model: MessageModel,
    pub consume_from: ConsumeFrom,
    pub allocate: AllocateStrategy,
    /// Part of the client id; unique per consumer when `None`.
    pub instance_name: Option<String>,
    /// Messages per listener call (push).
    pub consume_batch_size: usize,
    /// `maxMsgNums` of each pull.
    pub pull_batch_size: u32,
    /// Messages one `poll` returns at most (lite pull).
    pub max_poll_records: usize,
    pub flow: FlowLimits,
    pub local_offsets: LocalOffsets,
    /// Reconsume attempts before the broker moves a message to the DLQ.
    pub max_reconsume_times: i32,
    /// Delay level of a concurrent `ReconsumeLater` send-back: 0 lets the
    /// broker pick (3 + reconsume times, 10 s first), 1..=18 a fixed
    /// level (Java's `delayLevelWhenNextConsume`).
    pub retry_delay_level: i32,
    /// Lite pull: commit polled offsets automatically.
    pub auto_commit: bool,
    pub heartbeat_interval: Duration,
    pub rebalance_interval: Duration,
    pub persist_interval: Duration,
    pub route_refresh_interval: Duration,
    /// Orderly: how often held queue locks are renewed.
    pub lock_interval: Duration,
    /// Broker long-poll hold (`suspendTimeoutMillis`).
    pub suspend_timeout: Duration,
    /// Client wait for a pull response (above `suspend_timeout`).
    pub pull_timeout: Duration,
    /// Every other request.
    pub request_timeout: Duration,
    /// Pause after a failed pull.
    pub pull_error_delay: Duration,
    /// Pause of a queue over its flow limits before checking again.
    pub flow_control_delay: Duration,
    /// Orderly: pause before a batch the listener asked to retry.
    pub orderly_retry_delay: Duration,
}

impl ConsumerConfig {
    /// Defaults for `group` (RocketMQ's values).
    pub fn new(group: impl Into<String>) -> Self {
        ConsumerConfig {
            group: group.into(),
            namesrv_addrs: Vec::new(),
            message_model: MessageModel::Clustering,
            consume_from: ConsumeFrom::default(),
            allocate: AllocateStrategy::default(),
            instance_name: None,
            consume_batch_size: 1,
            pull_batch_size: 32,
            max_poll_records: 32,
            flow: FlowLimits::default(),
            local_offsets: LocalOffsets::default(),
            max_reconsume_times: 16,
            retry_delay_level: 0,
            auto_commit: true,
            heartbeat_interval: Duration::from_secs(30),
            rebalance_interval: Duration::from_secs(20),
            persist_interval: Duration::from_secs(5),
            route_refresh_interval: Duration::from_secs(30),
            lock_interval: Duration::from_secs(20),
            suspend_timeout: Duration::from_secs(15),
            pull_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(3),
            pull_error_delay: Duration::from_secs(1),
            flow_control_delay: Duration::from_millis(50),
            orderly_retry_delay: Duration::from_secs(1),
        }
    }

    /// Checks the settings; the error names the bad key.
    pub fn validate(&self) -> Result<(), ConsumerError> {
        let bad = |key: &'static str, reason: &str| {
            Err(ConsumerError::Config {
                key,
                reason: reason.to_owned(),
            })
        };
        let group_ok = |c: char| c.is_ascii_alphanumeric() || "_-%|".contains(c);
        if self.group.is_empty() || self.group.len() > 255 || !self.group.chars().all(group_ok) {
            return bad("group", "must be 1..=255 chars of [A-Za-z0-9_%|-]");
        }
        if self.namesrv_addrs.is_empty() {
            return bad("namesrv_addrs", "at least one NameServer is needed");
        }
        if !(1..=1024).contains(&self.consume_batch_size) {
            return bad("consume_batch_size", "must be 1..=1024");
        }
        if !(1..=1024).contains(&self.pull_batch_size) {
            return bad("pull_batch_size", "must be 1..=1024");
        }
        if !(1..=65_536).contains(&self.max_poll_records) {
            return bad("max_poll_records", "must be 1..=65536");
        }
        if self.flow.max_cached_msgs == 0 || self.flow.max_cached_bytes == 0 {
            return bad("flow", "cache limits must be positive");
        }
        if !(0..=18).contains(&self.retry_delay_level) {
            return bad("retry_delay_level", "must be 0..=18");
        }
        if self.pull_timeout <= self.suspend_timeout {
            return bad("pull_timeout", "must exceed suspend_timeout");
        }
        self.validate_intervals()
    }

    fn validate_intervals(&self) -> Result<(), ConsumerError> {
        let intervals = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("rebalance_interval", self.rebalance_interval),
            ("persist_interval", self.persist_interval),
            ("route_refresh_interval", self.route_refresh_interval),
            ("lock_interval", self.lock_interval),
            ("request_timeout", self.request_timeout),
        ];
        match intervals.iter().find(|(_, d)| d.is_zero()) {
            Some((key, _)) => Err(ConsumerError::Config {
                key,
                reason: "must be positive".to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// `ip@pid#instance`, as the C++ client spells it; the broker returns it
/// verbatim and the consumer finds itself in the group by it.
pub fn client_id(ip: std::net::IpAddr, instance: &str) -> String {
    format!("{ip}@{}#{instance}", std::process::id())
}

/// A per-process unique instance name: start time (ns) and a counter.
pub fn unique_instance_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The local address used to reach `peer` (no packet is sent), or
/// loopback when it cannot be found.
pub fn local_ip_towards(peer: SocketAddr) -> std::net::IpAddr {
    let unspecified: SocketAddr = if peer.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    std::net::UdpSocket::bind(unspecified)
        .and_then(|s| s.connect(peer).map(|()| s))
        .and_then(|s| s.local_addr())
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ConsumerConfig {
        let mut c = ConsumerConfig::new("g");
        c.namesrv_addrs = vec!["127.0.0.1:9876".parse().unwrap()];
        c
    }

    #[test]
    fn validation_names_the_key() {
        type Edit = fn(&mut ConsumerConfig);
        let cases: [(Edit, Option<&str>); 9] = [
            (|_| {}, None),
            (|c| c.group = String::new(), Some("group")),
            (|c| c.group = "a b".into(), Some("group")),
            (|c| c.namesrv_addrs.clear(), Some("namesrv_addrs")),
            (|c| c.consume_batch_size = 0, Some("consume_batch_size")),
            (|c| c.pull_batch_size = 5000, Some("pull_batch_size")),
            (|c| c.pull_timeout = c.suspend_timeout, Some("pull_timeout")),
            (|c| c.lock_interval = Duration::ZERO, Some("lock_interval")),
            (|c| c.retry_delay_level = 19, Some("retry_delay_level")),
        ];
        for (edit, want) in cases {
            let mut c = valid();
            edit(&mut c);
            let got = match c.validate() {
                Ok(()) => None,
                Err(ConsumerError::Config { key, .. }) => Some(key),
                Err(e) => panic!("unexpected {e}"),
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn client_ids_and_instances() {
        let id = client_id("10.0.0.1".parse().unwrap(), "x");
        assert_eq!(id, format!("10.0.0.1@{}#x", std::process::id()));
        assert_ne!(unique_instance_name(), unique_instance_name());
        let ip = local_ip_towards("127.0.0.1:9".parse().unwrap());
        assert!(ip.is_loopback());
        assert_eq!(
            ConsumeFrom::Timestamp(5).to_wire(),
            ConsumeFromWhere::Timestamp
        );
    }
}
