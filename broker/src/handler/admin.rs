//! Administration and lookups: create/update (17) and delete (215) topics,
//! all topic configs (21), runtime info (28), a message by its offset id
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
    JsonBody, KvTable, SubscriptionGroupConfig, TopicConfig, TopicFilterType,
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
use crate::shard::Shard;
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
        shard.store.write_offset().0.to_string(),
    );
    put(
        "commitLogMinOffset",
        shard.store.min_log_offset().0.to_string(),
    );
    success().with_body(table.encode())
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
                index_last_update_phyoffset: shard.store.write_offset().0 as i64,
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
