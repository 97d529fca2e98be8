//! A slave's metadata follower: on shard 0, every
//! `replication.metadata_sync_interval_ms`, it asks the master's broker
//! port for the four tables RocketMQ's `SlaveSynchronize` copies, in the
//! same order, and applies each:
//!
//! | table | request | on the slave |
//! |---|---|---|
//! | topics | GET_ALL_TOPIC_CONFIG (21) | replaced (local template and schedule topic kept); removed topics lose their offsets; a change re-registers |
//! | consumer offsets | GET_ALL_CONSUMER_OFFSET (43) | merged: the larger offset per queue ([`crate::offsets::OffsetTable::follow`]) |
//! | delay offsets | GET_ALL_DELAY_OFFSET (45) | replaced |
//! | subscription groups | GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) | replaced |
//!
//! The master is the address the NameServer named at registration
//! ([`crate::register`]); while it is unknown (or names this broker) there
//! is nothing to do. Offsets merge rather than replace so that what
//! consumers committed to the slave while the master was down survives the
//! master's return with older offsets.
//!
//! Bounds: one connection, reused across rounds; every connect and request
//! times out after [`CALL_TIMEOUT`]. A failure ends the round (a transport
//! error also drops the connection); failures are logged at most
//! [`crate::schedule::LOG_BURST`] times a minute. A body that does not
//! decode is an error naming the table, and the table stays as it was.
//! Changes mark the tables dirty and ask the persister thread for a pass
//! at once (no fsync on an executor).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bolide_proto::body::{
    ConsumerOffsetWrapper, DelayOffsetWrapper, SubscriptionGroupWrapper,
    TopicConfigSerializeWrapper,
};
use bolide_proto::codes::{request_code, response_code};
use bolide_proto::json::quote_numeric_keys;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, NoInbound};
use serde::de::DeserializeOwned;

use crate::clock::SharedClock;
use crate::register::broker_addr;
use crate::schedule::LogLimiter;
use crate::shared::BrokerShared;

/// Time allowed for connecting to the master, and for each request.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One table a slave copies from its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Topics,
    ConsumerOffsets,
    DelayOffsets,
    SubscriptionGroups,
}

impl Table {
    /// Every table, in the order RocketMQ syncs them.
    pub const ALL: [Table; 4] = [
        Table::Topics,
        Table::ConsumerOffsets,
        Table::DelayOffsets,
        Table::SubscriptionGroups,
    ];

    /// The request that fetches it.
    pub fn code(self) -> i32 {
        match self {
            Table::Topics => request_code::GET_ALL_TOPIC_CONFIG,
            Table::ConsumerOffsets => request_code::GET_ALL_CONSUMER_OFFSET,
            Table::DelayOffsets => request_code::GET_ALL_DELAY_OFFSET,
            Table::SubscriptionGroups => request_code::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::Topics => "topics",
            Table::ConsumerOffsets => "consumer offsets",
            Table::DelayOffsets => "delay offsets",
            Table::SubscriptionGroups => "subscription groups",
        }
    }
}

/// Applies the master's answer for `table` to this broker's state; returns
/// whether anything changed. A body that does not decode changes nothing.
pub fn apply(shared: &BrokerShared, table: Table, body: &[u8]) -> Result<bool, String> {
    let failed = |e: String| format!("{}: {e}", table.name());
    match table {
        Table::Topics => {
            let master = decode_table(body, "topicConfigTable").map_err(failed)?;
            Ok(apply_topics(shared, master))
        }
        Table::ConsumerOffsets => {
            let master: ConsumerOffsetWrapper =
                decode_table(body, "offsetTable").map_err(failed)?;
            let changed = shared.offsets().follow(&master);
            if changed {
                shared.offsets_changed();
            }
            Ok(changed)
        }
        Table::DelayOffsets => {
            let master: DelayOffsetWrapper = decode_table(body, "offsetTable").map_err(failed)?;
            Ok(shared.replace_delay_offsets(delay_levels(&master)))
        }
        Table::SubscriptionGroups => {
            let master: SubscriptionGroupWrapper =
                decode_table(body, "subscriptionGroupTable").map_err(failed)?;
            let changed = shared.subscription_groups().follow(master);
            if changed {
                shared.subscription_groups_changed();
            }
            Ok(changed)
        }
    }
}

/// Decodes a master's table body, which must be an object whose `member`
/// is an object: the wrappers default every member, so an unrelated body
/// would otherwise read as an empty table and empty the slave's. Java's
/// unquoted numeric keys are accepted.
fn decode_table<T: DeserializeOwned>(body: &[u8], member: &str) -> Result<T, String> {
    let body = quote_numeric_keys(body);
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    if !value.get(member).is_some_and(serde_json::Value::is_object) {
        return Err(format!("the body has no {member:?} object"));
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// Takes the master's topics; offsets of removed topics go with them, as
/// when an admin deletes a topic. A change re-registers with the
/// NameServers, as admin topic changes do.
fn apply_topics(shared: &BrokerShared, master: TopicConfigSerializeWrapper) -> bool {
    // Its own statement: the topics lock is released before the offsets
    // lock is taken.
    let removed = shared.topics().follow(master);
    let Some(removed) = removed else {
        return false;
    };
    if !removed.is_empty() {
        let mut offsets = shared.offsets();
        for topic in &removed {
            offsets.remove_topic(topic);
        }
        drop(offsets);
        shared.offsets_changed();
    }
    shared.topics_changed();
    true
}

/// The master's delay progress as this broker keeps it: levels from 1,
/// offsets from 0 (anything else is not progress and is left out).
fn delay_levels(master: &DelayOffsetWrapper) -> std::collections::BTreeMap<u32, u64> {
    let levels = master.offset_table.iter().filter_map(|(level, offset)| {
        let level = u32::try_from(*level).ok().filter(|l| *l > 0)?;
        Some((level, u64::try_from(*offset).ok()?))
    });
    levels.collect()
}

/// Why a round ended early.
#[derive(Debug)]
struct RoundFailed {
    why: String,
    /// The connection is unusable (closed, timed out): connect anew.
    transport: bool,
}

/// The follower's state between rounds.
#[derive(Debug)]
struct Follower {
    shared: Arc<BrokerShared>,
    clock: SharedClock,
    conn: Option<(SocketAddr, Connection)>,
    failures: LogLimiter,
    /// The last round failed (so the next success says so).
    failing: bool,
    /// A round has succeeded since start.
    followed: bool,
}

/// Follows the master's metadata until the executor stops; returns at once
/// on a master. Spawn it on shard 0 (it touches only [`BrokerShared`]).
pub async fn run(shared: Arc<BrokerShared>, clock: SharedClock) {
    if shared.config.replication.role.is_master() {
        return;
    }
    let interval = Duration::from_millis(shared.config.replication.metadata_sync_interval_ms);
    let mut follower = Follower {
        shared,
        clock,
        conn: None,
        failures: LogLimiter::default(),
        failing: false,
        followed: false,
    };
    loop {
        follower.round().await;
        follower.clock.sleep(interval).await;
    }
}

impl Follower {
    /// The master to copy from: `None` while unknown or when it is this
    /// broker (a NameServer that still lists it as the master).
    fn master(&self) -> Option<Result<SocketAddr, String>> {
        let addr = self.shared.replication.master().broker_addr;
        if addr.is_empty() || addr == broker_addr(&self.shared) {
            return None;
        }
        Some(
            addr.parse()
                .map_err(|e| format!("master address {addr:?}: {e}")),
        )
    }

    /// One sync, logged.
    async fn round(&mut self) {
        let outcome = match self.master() {
            None => return,
            Some(Ok(master)) => self.sync(master).await,
            Some(Err(why)) => Err(RoundFailed {
                why,
                transport: false,
            }),
        };
        match outcome {
            Ok(changed) => self.succeeded(&changed),
            Err(failed) => {
                if failed.transport {
                    if let Some((_, conn)) = self.conn.take() {
                        conn.close();
                    }
                }
                self.failing = true;
                let master = self.shared.replication.master().broker_addr;
                if let Some(suppressed) = self.failures.admit(self.clock.monotonic_ms()) {
                    tracing::warn!(%master, suppressed, error = %failed.why,
                        "cannot copy metadata from the master; will retry");
                }
            }
        }
    }

    fn succeeded(&mut self, changed: &[&str]) {
        let master = self.shared.replication.master().broker_addr;
        if self.failing || !self.followed {
            tracing::info!(%master, "following the master's topics, groups and offsets");
        }
        (self.failing, self.followed) = (false, true);
        if !changed.is_empty() {
            tracing::debug!(%master, changed = ?changed, "metadata copied from the master");
            // Written now, not at the persister's next tick, as RocketMQ's
            // SlaveSynchronize persists each table it copied: a slave
            // restarted soon after still serves what it had copied.
            self.shared.request_flush();
        }
    }

    /// Copies every table; returns the names of those that changed.
    async fn sync(&mut self, master: SocketAddr) -> Result<Vec<&'static str>, RoundFailed> {
        let conn = self.connection(master).await?;
        let mut changed = Vec::new();
        for table in Table::ALL {
            let body = fetch(&conn, table).await?;
            let applied = apply(&self.shared, table, &body).map_err(|why| RoundFailed {
                why,
                transport: false,
            })?;
            if applied {
                changed.push(table.name());
            }
        }
        Ok(changed)
    }

    /// The open connection to `master`, or a new one.
    async fn connection(&mut self, master: SocketAddr) -> Result<Connection, RoundFailed> {
        match &self.conn {
            Some((addr, conn)) if *addr == master && !conn.is_closed() => return Ok(conn.clone()),
            Some((_, stale)) => stale.close(),
            None => {}
        }
        self.conn = None;
        let max_frame = self.shared.config.broker.max_frame_bytes;
        let conn = Connection::connect(master, Rc::new(NoInbound), max_frame, CALL_TIMEOUT)
            .await
            .map_err(|e| RoundFailed {
                why: format!("cannot connect: {e}"),
                transport: true,
            })?;
        self.conn = Some((master, conn.clone()));
        Ok(conn)
    }
}

/// The master's body for `table`.
async fn fetch(conn: &Connection, table: Table) -> Result<Vec<u8>, RoundFailed> {
    let request = RemotingCommand::request(table.code());
    let response = conn
        .invoke(request, CALL_TIMEOUT)
        .await
        .map_err(|e| RoundFailed {
            why: format!("{}: {e}", table.name()),
            transport: true,
        })?;
    if response.code != response_code::SUCCESS {
        let why = format!(
            "{}: the master answered code {}: {}",
            table.name(),
            response.code,
            response.remark.unwrap_or_default()
        );
        return Err(RoundFailed {
            why,
            transport: false,
        });
    }
    Ok(response.body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::config::{BrokerConfig, Role};

    fn slave(dir: &std::path::Path) -> BrokerShared {
        let mut config = BrokerConfig::default();
        config.store.data_dir = dir.to_path_buf();
        config.replication.role = Role::Slave;
        config.broker.broker_id = 1;
        BrokerShared::load(config, &SystemClock::new()).unwrap()
    }

    #[test]
    fn bad_bodies_change_nothing_and_name_the_table() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = slave(tmp.path());
        let topics_before = shared.topics().to_wrapper();
        let version = shared.topics_version();
        for table in Table::ALL {
            let bodies: [&[u8]; 6] = [
                b"",
                b"{oops",
                b"[1]",
                b"{}",
                br#"{"topicConfigTable":null,"offsetTable":null,"subscriptionGroupTable":7}"#,
                br#"{"offsetTable":{"T@g":7}}"#,
            ];
            for body in bodies {
                let err = apply(&shared, table, body).expect_err("refused");
                assert!(err.starts_with(table.name()), "{err}");
            }
        }
        assert_eq!(shared.topics().to_wrapper(), topics_before);
        assert_eq!(shared.topics_version(), version, "no re-registration");
        assert!(shared.subscription_groups().is_empty());
    }

    #[test]
    fn each_table_is_applied_and_a_second_copy_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = slave(tmp.path());
        shared.topics().ensure_single_queue("Gone", 1).unwrap();
        shared.commit_offset("g", "Gone", 0, 3);
        let topics = concat!(
            r#"{"dataVersion":{"counter":5,"stateVersion":0,"timestamp":9},"#,
            r#""topicConfigTable":{"T":{"topicName":"T","readQueueNums":2,"writeQueueNums":2,"perm":6}},"#,
            r#""topicQueueMappingInfoMap":{"T":{"currIdMap":{0:1}}}}"#
        );
        let offsets = br#"{"offsetTable":{"T@g":{0:12}}}"#;
        let delay = br#"{"offsetTable":{1:5,0:7,2:-1}}"#;
        let groups = br#"{"subscriptionGroupTable":{"g":{"groupName":"g"}},"dataVersion":{}}"#;
        let bodies: [(Table, &[u8]); 4] = [
            (Table::Topics, topics.as_bytes()),
            (Table::ConsumerOffsets, offsets),
            (Table::DelayOffsets, delay),
            (Table::SubscriptionGroups, groups),
        ];
        let version = shared.topics_version();
        for (table, body) in bodies {
            assert_eq!(apply(&shared, table, body), Ok(true), "{}", table.name());
            assert_eq!(apply(&shared, table, body), Ok(false), "{}", table.name());
        }
        assert_eq!(shared.topics_version(), version + 1, "one re-registration");
        assert_eq!(shared.topics().get("T").unwrap().read_queue_nums, 2);
        assert!(shared.topics().get("SELF_TEST_TOPIC").is_none());
        assert_eq!(shared.offsets().query("g", "T", 0), Some(12));
        assert_eq!(
            shared.offsets().query("g", "Gone", 0),
            None,
            "a removed topic's offsets go with it"
        );
        assert_eq!(shared.delay_offsets(), [(1, 5)].into());
        assert!(shared.subscription_groups().get("g").is_some());
        shared.flush_config().unwrap();
        drop(shared);
        let again = slave(tmp.path());
        assert_eq!(again.offsets().query("g", "T", 0), Some(12), "persisted");
        assert_eq!(again.delay_offset(1), 5);
    }
}
