//! Client registration: HEART_BEAT (34), UNREGISTER_CLIENT (35),
//! GET_CONSUMER_LIST_BY_GROUP (38), and queue locks for orderly consumers
//! (LOCK_BATCH_MQ 41 / UNLOCK_BATCH_MQ 42). Membership changes are pushed to
//! the group's members as NOTIFY_CONSUMER_IDS_CHANGED so they rebalance at
//! once instead of at their next periodic rebalance. CHECK_CLIENT_CONFIG
//! (46) compiles a consumer's SQL92 subscription at its start, as
//! RocketMQ's `ClientManageProcessor.checkClientConfig` does. Heartbeat limits:
//! [`crate::groups`] (size of one heartbeat, groups with members) and
//! [`crate::subscription_groups`] (groups the broker keeps).

use std::rc::Rc;

use bolide_proto::body::EXPRESSION_TYPE_TAG;
use bolide_proto::body::{
    CheckClientRequestBody, ConsumerData, ConsumerListByGroupResponseBody, HeartbeatData, JsonBody,
    LockBatchRequestBody, LockBatchResponseBody, UnlockBatchRequestBody,
};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::header::client::{
    GetConsumerListByGroupRequestHeader, NotifyConsumerIdsChangedRequestHeader,
    UnregisterClientRequestHeader,
};
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;
use bolide_transport::rt;

use super::{bad_request, error, success};
use crate::filter::MessageFilter;
use crate::groups::{check_heartbeat_size, ClientInfo, ConnRef, HeartbeatLimits, MembershipChange};
use crate::handler::pull::property_filter_disabled;
use crate::handler::Peer;
use crate::shard::Shard;
use crate::topics::{retry_topic, validate_group_name};

/// Heartbeats larger than this are decoded off the executor: thousands of
/// groups take milliseconds to decode, a normal heartbeat microseconds
/// (less than the hop to another thread).
pub const DECODE_OFF_EXECUTOR_BYTES: usize = 64 * 1024;
/// Consumer groups whose retry topics and membership are applied at once;
/// a huge heartbeat lets the shard's other requests run between chunks.
const MEMBERSHIP_CHUNK: usize = 256;

/// Decodes a heartbeat and checks what one heartbeat may carry.
fn decode_heartbeat(body: &[u8], limits: HeartbeatLimits) -> Result<HeartbeatData, (i32, String)> {
    let hb = HeartbeatData::decode(body)
        .map_err(|e| (rsp::INVALID_PARAMETER, format!("bad request: {e}")))?;
    check_heartbeat_size(&hb, limits).map_err(|why| (rsp::INVALID_PARAMETER, why))?;
    Ok(hb)
}

/// HEART_BEAT: checks the limits (a heartbeat past one is refused whole),
/// auto-creates the groups' settings and retry topics, records membership.
/// Persisting what it created is the persister's job, off this thread.
/// A heartbeat that created a retry topic answers once the NameServers
/// route it (bounded, [`Shard::registered`]), as RocketMQ registers before
/// answering: a client asks for the `%RETRY%` route right after its first
/// heartbeat, and one that finds none skips rebalancing it until its next
/// route refresh (30 s).
pub async fn heartbeat<S: Storage>(
    shard: &Rc<Shard<S>>,
    peer: &Peer,
    req: &RemotingCommand,
) -> RemotingCommand {
    let broker = &shard.shared.config.broker;
    let limits = HeartbeatLimits::of(broker);
    let decoded = if req.body.len() > DECODE_OFF_EXECUTOR_BYTES {
        let body = req.body.clone();
        shard
            .off_executor(move || decode_heartbeat(&body, limits))
            .await
    } else {
        decode_heartbeat(&req.body, limits)
    };
    let hb = match decoded {
        Ok(hb) => hb,
        Err((code, why)) => return error(code, why),
    };
    let max_groups = broker.max_subscription_groups;
    if let Err(why) = shard.shared.groups().admits(&hb, max_groups) {
        return error(rsp::SUBSCRIPTION_GROUP_NOT_EXIST, why);
    }
    let names = hb.consumer_data_set.iter().map(|c| c.group_name.as_str());
    if let Err(refusal) = shard
        .shared
        .create_subscription_groups(names, shard.clock.now_ms())
    {
        return error(rsp::SUBSCRIPTION_GROUP_NOT_EXIST, refusal.why());
    }
    let conn_ref = ConnRef {
        shard: shard.id.0,
        conn_id: peer.conn_id,
    };
    let info = ClientInfo {
        addr: peer.addr.to_string(),
        language: req.language.name().to_owned(),
        version: req.version,
    };
    {
        let mut groups = shard.shared.groups();
        groups.client_seen(conn_ref, info);
        groups.producers_seen(&hb, conn_ref, shard.clock.monotonic_ms());
    }
    let mut topics_created = false;
    for (i, chunk) in hb.consumer_data_set.chunks(MEMBERSHIP_CHUNK).enumerate() {
        if i > 0 {
            shard.let_others_run().await;
        }
        topics_created |= ensure_retry_topics(shard, chunk);
        let changes = shard.shared.groups().consumers_seen(
            &hb.client_id,
            chunk,
            conn_ref,
            shard.clock.monotonic_ms(),
        );
        notify_changes(shard, changes);
    }
    if topics_created {
        let version = shard.shared.topics_changed_version();
        shard.registered(version).await;
    }
    success()
}

/// Creates the retry topic of each consumer group, as RocketMQ's heartbeat
/// does, with the group's `retryQueueNums` queues (its
/// `ClientManageProcessor` passes them to `createTopicInSendMessageBackMethod`),
/// so the group's `%RETRY%` route exists before its first failure;
/// true if any was new. Only for groups with settings on this broker
/// (RocketMQ skips the others: auto-creation off and no admin-made group),
/// and whose name makes a valid topic: a group like `cpp.group` still
/// consumes, it cannot retry, and send-back says why.
fn ensure_retry_topics<S: Storage>(shard: &Shard<S>, consumers: &[ConsumerData]) -> bool {
    let retry_topics: Vec<(String, i32)> = {
        let settings = shard.shared.subscription_groups();
        consumers
            .iter()
            .map(|c| c.group_name.as_str())
            .filter(|group| validate_group_name(group).is_ok())
            .filter_map(|group| Some((retry_topic(group), settings.get(group)?.retry_queue_nums)))
            .collect()
    };
    let now = shard.clock.now_ms();
    let mut topics = shard.shared.topics();
    let mut created = false;
    for (topic, queues) in &retry_topics {
        // Cannot be refused: the group name was validated above.
        created |= topics
            .ensure_group_topic(topic, *queues, now)
            .unwrap_or(false);
    }
    created
}

/// CHECK_CLIENT_CONFIG: SUCCESS for tag subscriptions (or none); a
/// non-TAG one needs `broker.enable_property_filter` (else SYSTEM_ERROR)
/// and must compile (else SUBSCRIPTION_PARSE_FAILED with the reason).
pub fn check_client_config<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    if req.body.is_empty() {
        return success();
    }
    let body = match CheckClientRequestBody::decode(&req.body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let Some(sub) = body.subscription_data else {
        return success();
    };
    let expression_type = sub.expression_type.trim();
    if expression_type.is_empty() || expression_type.eq_ignore_ascii_case(EXPRESSION_TYPE_TAG) {
        return success();
    }
    if !shard.shared.config.broker.enable_property_filter {
        return error(rsp::SYSTEM_ERROR, property_filter_disabled(expression_type));
    }
    match MessageFilter::parse(&sub.sub_string, Some(expression_type)) {
        Ok(_) => success(),
        Err(e) => error(rsp::SUBSCRIPTION_PARSE_FAILED, e.0),
    }
}

pub fn unregister<S: Storage>(shard: &Rc<Shard<S>>, req: &RemotingCommand) -> RemotingCommand {
    let h: UnregisterClientRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let producer = h.producer_group.unwrap_or_default();
    let consumer = h.consumer_group.unwrap_or_default();
    let changes = shard
        .shared
        .groups()
        .unregister(&h.client_id, &producer, &consumer);
    shard.shared.locks().release_client(&h.client_id);
    notify_changes(shard, changes);
    success()
}

pub fn consumer_list<S: Storage>(shard: &Rc<Shard<S>>, req: &RemotingCommand) -> RemotingCommand {
    let h: GetConsumerListByGroupRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let ids = shard.shared.groups().consumer_ids(&h.consumer_group);
    if ids.is_empty() {
        return error(
            rsp::SYSTEM_ERROR,
            format!("no consumer for this group, {}", h.consumer_group),
        );
    }
    success().with_body(
        ConsumerListByGroupResponseBody {
            consumer_id_list: ids,
        }
        .encode(),
    )
}

pub fn lock_batch<S: Storage>(shard: &Rc<Shard<S>>, req: &RemotingCommand) -> RemotingCommand {
    let body = match LockBatchRequestBody::decode(&req.body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let locked = shard.shared.locks().lock(
        &body.consumer_group,
        &body.client_id,
        &body.mq_set,
        shard.clock.monotonic_ms(),
    );
    success().with_body(
        LockBatchResponseBody {
            lock_ok_mq_set: locked,
        }
        .encode(),
    )
}

pub fn unlock_batch<S: Storage>(shard: &Rc<Shard<S>>, req: &RemotingCommand) -> RemotingCommand {
    let body = match UnlockBatchRequestBody::decode(&req.body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    shard
        .shared
        .locks()
        .unlock(&body.consumer_group, &body.client_id, &body.mq_set);
    success()
}

/// Tells each remaining member of a changed group to rebalance (oneway).
pub fn notify_changes<S: Storage>(shard: &Rc<Shard<S>>, changes: Vec<MembershipChange>) {
    for change in changes {
        for member in change.notify {
            let header = NotifyConsumerIdsChangedRequestHeader {
                consumer_group: change.group.clone(),
            };
            let command =
                RemotingCommand::request(req::NOTIFY_CONSUMER_IDS_CHANGED).with_header(&header);
            let shard = shard.clone();
            rt::spawn_local(
                async move { shard.notify(member.shard, member.conn_id, command).await },
            )
            .detach();
        }
    }
}
