//! Administration and lookups: create/update (17) and delete (215) topics,
//! all topic configs (21), all consumer offsets (43) and delay offsets
//! (45) (with all subscription groups, 201: what a slave copies from its
//! master), runtime info (28), the broker's config (26),
//! topic stats (202), the groups consuming a topic (300), a message by its offset id
//! (VIEW_MESSAGE_BY_ID, 33), messages by key (QUERY_MESSAGE, 12), and
//! subscription groups (200 create/update, 201 all, 352 one, 207 delete).
//!
//! Admin changes of topics and groups answer once they are on disk: they
//! ask the persister thread for a pass and wait for it without blocking the
//! executor ([`persisted`]). Automatic changes (auto-created topics and
//! groups, offsets) are written within a second instead, unwaited. Topic
//! changes also answer only once the NameServers route them (or a bounded
//! wait ran out, [`crate::shard::Shard::registered`]), so a route query
//! right after `updateTopic` on every broker of a cluster lists them all.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use bolide_proto::body::{
    properties_text, DataVersion, DelayOffsetWrapper, GroupList, JsonBody, KvTable, MessageQueue,
    SubscriptionGroupConfig, TopicConfig, TopicFilterType, TopicOffset, TopicStatsTable,
};
use bolide_proto::codes::{response_code as rsp, version};
use bolide_proto::header::admin::{CreateTopicRequestHeader, DeleteTopicRequestHeader};
use bolide_proto::header::query::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use bolide_proto::ids::GlobalOffset;
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;

use super::{bad_request, error, store_error, success};
use crate::config::FlushModeName;
use crate::shard::Shard;
use crate::shared::BrokerShared;
use crate::topics::TopicRefusal;

/// Most messages one QUERY_MESSAGE returns, whatever `maxNum` asks.
pub const MAX_QUERY_MESSAGES: usize = 64;
/// Waits until the persister has written the change just made: SUCCESS,
/// or SYSTEM_ERROR saying it is applied but not (yet) on disk.
async fn persisted<S: Storage>(shard: &Shard<S>) -> RemotingCommand {
    match shard.persist_now().await {
        Ok(()) => success(),
        Err(why) => error(
            rsp::SYSTEM_ERROR,
            format!("applied but not persisted: {why}"),
        ),
    }
}

/// Waits, at once, for the disk and the NameServers to hold topic-config
/// `version`; answers as [`persisted`] does (a registration that did not
/// finish in time is logged, not refused: the change is made, the
/// registrar keeps trying, and RocketMQ answers the same way).
async fn persisted_and_registered<S: Storage>(shard: &Shard<S>, version: u64) -> RemotingCommand {
    let (answer, _registered) =
        futures_lite::future::zip(persisted(shard), shard.registered(version)).await;
    answer
}

pub async fn create_topic<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: CreateTopicRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let config = TopicConfig {
        topic_name: h.topic.clone(),
        read_queue_nums: h.read_queue_nums,
        write_queue_nums: h.write_queue_nums,
        perm: h.perm,
        topic_filter_type: TopicFilterType::from_name(&h.topic_filter_type)
            .unwrap_or(TopicFilterType::SingleTag),
        topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
        order: h.order.unwrap_or(false),
        ..TopicConfig::default()
    };
    let outcome = shard.shared.topics().upsert(config, shard.clock.now_ms());
    match outcome {
        Ok(()) => {
            let version = shard.shared.topics_changed_version();
            persisted_and_registered(shard, version).await
        }
        Err(
            TopicRefusal::InvalidName(why)
            | TopicRefusal::NotExist(why)
            | TopicRefusal::NoPermission(why),
        ) => error(rsp::INVALID_PARAMETER, why),
    }
}

/// Deletes a topic's config and committed offsets. Its stored messages
/// stay until retention removes them; a topic re-created under the same
/// name continues its queues' offsets.
pub async fn delete_topic<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: DeleteTopicRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    if !shard.shared.topics().delete(&h.topic, shard.clock.now_ms()) {
        return success();
    }
    shard.shared.offsets().remove_topic(&h.topic);
    shard.shared.offsets_changed();
    let version = shard.shared.topics_changed_version();
    persisted_and_registered(shard, version).await
}

pub fn all_topic_config<S: Storage>(shard: &Rc<Shard<S>>) -> RemotingCommand {
    let wrapper = shard.shared.topics().to_wrapper();
    success().with_body(wrapper.encode())
}

/// The version stamp of tables Bolide does not version (the broker
/// config, the offset tables): counter 0 at boot. Java's slave only copies
/// it; Bolide's ignores it.
fn boot_version<S: Storage>(shard: &Shard<S>) -> DataVersion {
    DataVersion {
        counter: 0,
        state_version: 0,
        timestamp: shard.shared.boot_timestamp_ms,
    }
}

/// GET_ALL_CONSUMER_OFFSET (43): every committed offset.
pub fn all_consumer_offsets<S: Storage>(shard: &Rc<Shard<S>>) -> RemotingCommand {
    let wrapper = shard.shared.offsets().to_wrapper(boot_version(shard));
    success().with_body(wrapper.encode())
}

/// GET_ALL_DELAY_OFFSET (45): every delay level's delivery progress.
pub fn all_delay_offsets<S: Storage>(shard: &Rc<Shard<S>>) -> RemotingCommand {
    let offset_table = shard.shared.delay_offsets().into_iter();
    // Levels and offsets fit (at most a few dozen levels; offsets of a
    // queue); anything else would not be an offset a slave can use.
    let offset_table = offset_table
        .filter_map(|(level, offset)| {
            Some((i32::try_from(level).ok()?, i64::try_from(offset).ok()?))
        })
        .collect();
    let wrapper = DelayOffsetWrapper {
        data_version: Some(boot_version(shard)),
        offset_table,
    };
    success().with_body(wrapper.encode())
}

pub async fn runtime_info<S: Storage>(shard: &Rc<Shard<S>>) -> RemotingCommand {
    let shared = &shard.shared;
    let mut table = KvTable::default();
    let mut put = |k: &str, v: String| {
        table.table.insert(k.to_owned(), v);
    };
    put("brokerVersion", version::BOLIDE.to_string());
    put(
        "brokerVersionDesc",
        format!("Bolide {}", env!("CARGO_PKG_VERSION")),
    );
    put("bootTimestamp", shared.boot_timestamp_ms.to_string());
    put("shards", shard.shard_count.to_string());
    put(
        "msgPutTotalTodayNow",
        shared.put_total.load(Ordering::Relaxed).to_string(),
    );
    put(
        "msgGetTotalTodayNow",
        shared.get_total.load(Ordering::Relaxed).to_string(),
    );
    put("topicCount", shared.topics().iter().count().to_string());
    put(
        "consumerGroupCount",
        shared.groups().consumer_groups().count().to_string(),
    );
    put(
        "commitLogMaxOffset",
        shard.store().write_offset().0.to_string(),
    );
    put(
        "commitLogMinOffset",
        shard.store().min_log_offset().0.to_string(),
    );
    let up_ms = (shard.clock.now_ms() - shared.boot_timestamp_ms).max(0);
    put("runtime", format_runtime(up_ms));
    let now_ms = shard.clock.now_ms().max(0) as u64;
    for (key, value) in replication_facts(shared, now_ms) {
        put(key, value);
    }
    success().with_body(table.encode())
}

/// The runtime-info keys about replication: RocketMQ's `brokerRole`, and
/// Bolide's own: slave connections (a master) or connections to the
/// master (a slave, one per shard), the bytes and ms the copy is behind,
/// and a slave's master.
pub fn replication_facts(shared: &BrokerShared, now_ms: u64) -> Vec<(&'static str, String)> {
    let role = shared.config.replication.role;
    let status = &shared.replication;
    let connections: u64 = status
        .shards()
        .iter()
        .map(|s| s.connections.load(Ordering::Relaxed))
        .sum();
    let mut facts = vec![
        ("brokerRole", role.rocketmq_name().to_owned()),
        ("replicaConnections", connections.to_string()),
        ("replicaLagBytes", status.lag_bytes().to_string()),
        ("replicaLagMs", status.lag_ms(now_ms).to_string()),
    ];
    if !role.is_master() {
        facts.push(("masterAddr", status.master().broker_addr));
    }
    facts
}

/// Uptime as RocketMQ's `StoreStatsService` words it:
/// `[ D days, H hours, M minutes, S seconds ]`.
pub fn format_runtime(up_ms: i64) -> String {
    let s = up_ms / 1000;
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        s / 86_400,
        s / 3_600 % 24,
        s / 60 % 60,
        s % 60
    )
}

/// GET_BROKER_CONFIG (26): the configuration as `key=value` lines, with
/// RocketMQ's key names where one exists; the header's `version` is the
/// configuration's DataVersion (it never changes while running: no
/// UPDATE_BROKER_CONFIG, so counter 0 stamped at boot).
pub fn broker_config<S: Storage>(shard: &Rc<Shard<S>>) -> RemotingCommand {
    let shared = &shard.shared;
    let b = &shared.config.broker;
    let st = &shared.config.store;
    let ip = if b.advertised_host.is_empty() {
        &b.listen_host
    } else {
        &b.advertised_host
    };
    let mut pairs: Vec<(&str, String)> = vec![
        ("brokerClusterName", b.cluster_name.clone()),
        ("brokerName", b.broker_name.clone()),
        ("brokerId", b.broker_id.to_string()),
        ("brokerIP1", ip.clone()),
        ("listenPort", b.listen_port.to_string()),
        ("namesrvAddr", b.namesrv_addrs.join(";")),
        (
            "registerNameServerPeriod",
            b.register_interval_ms.to_string(),
        ),
        ("autoCreateTopicEnable", b.auto_create_topic.to_string()),
        (
            "autoCreateSubscriptionGroup",
            b.auto_create_subscription_group.to_string(),
        ),
        ("enablePropertyFilter", b.enable_property_filter.to_string()),
        (
            "defaultTopicQueueNums",
            b.default_topic_queue_nums.to_string(),
        ),
        ("maxMessageSize", b.max_message_bytes.to_string()),
        ("messageDelayLevel", b.message_delay_level.clone()),
        ("storePathRootDir", st.data_dir.display().to_string()),
        ("mappedFileSizeCommitLog", st.segment_size_bytes.to_string()),
        ("flushIntervalCommitLog", st.flush_interval_ms.to_string()),
        ("fileReservedTime", st.retention_hours.to_string()),
        ("shards", b.shards.to_string()),
    ];
    let (mode, disk_type) = match st.flush_mode {
        FlushModeName::Async => ("async", Some("ASYNC_FLUSH")),
        FlushModeName::Sync => ("sync", Some("SYNC_FLUSH")),
        FlushModeName::Memory => ("memory", None),
    };
    if let Some(t) = disk_type {
        pairs.push(("flushDiskType", t.to_owned()));
    }
    pairs.push(("flushMode", mode.to_owned()));
    let t = &shared.config.transaction;
    pairs.push(("transactionCheckInterval", t.check_interval_ms.to_string()));
    pairs.push(("transactionTimeOut", t.timeout_ms.to_string()));
    pairs.push(("transactionCheckMax", t.check_max.to_string()));
    let mut answer = success().with_body(properties_text(pairs).into_bytes());
    let version = String::from_utf8(boot_version(shard).encode()).expect("JSON is UTF-8");
    answer.ext_fields.insert("version", version);
    answer
}

/// GET_TOPIC_STATS_INFO (202): every readable queue's min and max offset
/// and the store time of its newest message (0 when it has none).
pub async fn topic_stats<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let topic: String = match req.ext_fields.read("topic") {
        Ok(t) => t,
        Err(e) => return bad_request(e),
    };
    let queues = shard.shared.topics().get(&topic).map(|c| c.read_queue_nums);
    let Some(queues) = queues else {
        return error(rsp::TOPIC_NOT_EXIST, format!("topic[{topic}] not exist"));
    };
    let broker_name = shard.shared.config.broker.broker_name.clone();
    let mut table = TopicStatsTable::default();
    for queue in 0..queues.max(0) as u32 {
        let (min, max) = shard.bounds(&topic, queue).await;
        let last = if max > 0 {
            super::stats::store_time(shard, &topic, queue, max - 1)
                .await
                .unwrap_or(0)
        } else {
            0
        };
        let mq = MessageQueue {
            broker_name: broker_name.clone(),
            queue_id: queue as i32,
            topic: topic.clone(),
        };
        let offsets = TopicOffset {
            last_update_timestamp: last,
            max_offset: max as i64,
            min_offset: min as i64,
        };
        table.offset_table.push((mq, offsets));
    }
    success().with_body(table.encode())
}

/// QUERY_TOPIC_CONSUME_BY_WHO (300): groups with an online consumer
/// subscribed to the topic, and groups that committed offsets of it.
pub fn consume_by_who<S: Storage>(shard: &Rc<Shard<S>>, req: &RemotingCommand) -> RemotingCommand {
    let topic: String = match req.ext_fields.read("topic") {
        Ok(t) => t,
        Err(e) => return bad_request(e),
    };
    let mut groups = std::collections::BTreeSet::new();
    {
        let online = shard.shared.groups();
        for g in online.consumer_groups() {
            if online.subscription(g, &topic).is_some() {
                groups.insert(g.to_owned());
            }
        }
    }
    groups.extend(shard.shared.offsets().groups_of_topic(&topic));
    let list = GroupList {
        group_list: groups.into_iter().collect(),
    };
    success().with_body(list.encode())
}

pub async fn view_message<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: ViewMessageRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let not_found = || {
        error(
            rsp::SYSTEM_ERROR,
            format!("can not find message by the offset, {}", h.offset),
        )
    };
    let Some(offset) = GlobalOffset::from_wire(h.offset) else {
        return not_found();
    };
    match shard.read_record(offset.shard(), offset.physical()).await {
        Ok(record) => success().with_body(record),
        Err(_) => not_found(),
    }
}

pub async fn query_message<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: QueryMessageRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let max = (h.max_num.max(1) as usize).min(MAX_QUERY_MESSAGES);
    let found = shard
        .query_by_key(&h.topic, &h.key, h.begin_timestamp, h.end_timestamp, max)
        .await;
    match found {
        Ok(records) if records.is_empty() => error(
            rsp::QUERY_NOT_FOUND,
            "can not find message, maybe time range not correct",
        ),
        Ok(records) => {
            let header = QueryMessageResponseHeader {
                index_last_update_timestamp: shard.clock.now_ms(),
                index_last_update_phyoffset: shard.store().write_offset().0 as i64,
            };
            success().with_header(&header).with_body(records.concat())
        }
        Err(e) => store_error(e),
    }
}

pub async fn upsert_group<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let config = match SubscriptionGroupConfig::decode(&req.body) {
        Ok(c) => c,
        Err(e) => return bad_request(e),
    };
    if config.group_name.is_empty() || config.retry_max_times < 0 || config.retry_queue_nums < 0 {
        return error(
            rsp::INVALID_PARAMETER,
            "groupName is required; retry counts must not be negative",
        );
    }
    let outcome = shard
        .shared
        .subscription_groups()
        .upsert(config, shard.clock.now_ms());
    if let Err(refusal) = outcome {
        return error(rsp::SYSTEM_ERROR, refusal.why());
    }
    shard.shared.subscription_groups_changed();
    persisted(shard).await
}

pub fn all_groups<S: Storage>(shard: &Rc<Shard<S>>) -> RemotingCommand {
    let wrapper = shard.shared.subscription_groups().to_wrapper();
    success().with_body(wrapper.encode())
}

pub fn get_group<S: Storage>(shard: &Rc<Shard<S>>, req: &RemotingCommand) -> RemotingCommand {
    let group: String = match req.ext_fields.read("group") {
        Ok(g) => g,
        Err(e) => return bad_request(e),
    };
    let config = shard.shared.subscription_groups().get(&group).cloned();
    match config {
        Some(c) => success().with_body(c.encode()),
        None => error(
            rsp::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group [{group}] does not exist"),
        ),
    }
}

pub async fn delete_group<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let group: String = match req.ext_fields.read("groupName") {
        Ok(g) => g,
        Err(e) => return bad_request(e),
    };
    let deleted = shard
        .shared
        .subscription_groups()
        .delete(&group, shard.clock.now_ms());
    if !deleted {
        return success();
    }
    shard.shared.subscription_groups_changed();
    persisted(shard).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::config::{BrokerConfig, Role};

    fn shared(dir: &std::path::Path, role: Role) -> BrokerShared {
        let mut config = BrokerConfig::default();
        config.store.data_dir = dir.to_path_buf();
        config.replication.role = role;
        config.broker.broker_id = u64::from(role == Role::Slave);
        config.broker.shards = 2;
        BrokerShared::load(config, &SystemClock::new()).unwrap()
    }

    #[test]
    fn replication_facts_per_role() {
        let tmp = tempfile::tempdir().unwrap();
        let master = shared(tmp.path(), Role::SyncMaster);
        let s = master.replication.shard(1);
        s.connections.store(1, Ordering::Relaxed);
        s.master_end.store(900, Ordering::Relaxed);
        s.replica_end.store(600, Ordering::Relaxed);
        s.caught_up_ms.store(1_000, Ordering::Relaxed);
        master
            .replication
            .shard(0)
            .connections
            .store(1, Ordering::Relaxed);
        let facts: std::collections::BTreeMap<_, _> =
            replication_facts(&master, 1_250).into_iter().collect();
        let want = [
            ("brokerRole", "SYNC_MASTER"),
            ("replicaConnections", "2"),
            ("replicaLagBytes", "300"),
            ("replicaLagMs", "250"),
        ];
        assert_eq!(facts, want.map(|(k, v)| (k, v.to_owned())).into());
        drop(master);
        let tmp = tempfile::tempdir().unwrap();
        let slave = shared(tmp.path(), Role::Slave);
        slave
            .replication
            .set_master(crate::replica::status::MasterAddrs {
                broker_addr: "10.0.0.1:10911".into(),
                ha_addr: "10.0.0.1:10912".into(),
            });
        let facts: std::collections::BTreeMap<_, _> =
            replication_facts(&slave, 0).into_iter().collect();
        assert_eq!(facts["brokerRole"], "SLAVE");
        assert_eq!(facts["masterAddr"], "10.0.0.1:10911");
    }

    #[test]
    fn runtime_reads_like_rocketmq() {
        assert_eq!(
            format_runtime(0),
            "[ 0 days, 0 hours, 0 minutes, 0 seconds ]"
        );
        let ms = ((2 * 86_400) + (3 * 3_600) + (4 * 60) + 5) * 1000 + 999;
        assert_eq!(
            format_runtime(ms),
            "[ 2 days, 3 hours, 4 minutes, 5 seconds ]"
        );
    }
}
