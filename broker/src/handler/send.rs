//! Storing messages: SEND_MESSAGE (10, long header names), SEND_MESSAGE_V2
//! (310, short names) and SEND_BATCH_MESSAGE (320) — a batch is whatever
//! says `batch=true`, whatever the code — plus CONSUMER_SEND_MSG_BACK (36),
//! which re-stores a failed message in the group's retry topic (or DLQ).
//!
//! Checks, in order: header, what a batch may not carry (as RocketMQ:
//! MESSAGE_ILLEGAL for a delay level on the batch or any of its messages,
//! and for a `%RETRY%` target), body and properties sizes, topic name and
//! permission (auto-creating from the template topic when allowed, with
//! min(the producer's `defaultTopicQueueNums`, the template's write queues)
//! queues), queue id.
//! The broker adds `UNIQ_KEY` when missing and `CLUSTER`, and answers with
//! the offset message id(s), queue id and first queue offset. A message with
//! a `DELAY` level goes to the schedule topic first ([`crate::delay`]); so
//! does a retry, at level 3 + its reconsume count unless the consumer named one.
//! A send-back is refused up front (SUBSCRIPTION_GROUP_NOT_EXIST) when the
//! group's name cannot make a retry/DLQ topic: nothing undeliverable enters
//! the schedule topic from here. A half message (`TRAN_MSG`) goes to
//! [`crate::transaction::half`] instead, and is refused in a batch.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use bolide_proto::body::TopicConfig;
use bolide_proto::codes::{perm, response_code as rsp};
use bolide_proto::delay::DelayLevels;
use bolide_proto::header::client::ConsumerSendMsgBackRequestHeader;
use bolide_proto::header::send::{
    SendMessageRequestHeader, SendMessageResponseHeader, DEFAULT_REGION,
};
use bolide_proto::ids::GlobalOffset;
use bolide_proto::message::{
    decode_batch, property, push_property, NewMessage, Properties, PropertiesBuilder, RecordView,
    MAX_PROPERTIES_BYTES,
};
use bolide_proto::msgid::OffsetMsgId;
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;
use bytes::Bytes;

use super::{bad_request, error, store_error, success};
use crate::delay;
use crate::handler::Peer;
use crate::replica::master::Replicated;
use crate::shard::{Sent, Shard};
use crate::topics::{
    dlq_topic, retry_topic, validate_group_name, validate_topic_name, TopicRefusal,
    NOT_ALLOWED_SEND_TOPICS, RETRY_TOPIC_PREFIX,
};
use crate::transaction;

/// One message of a send, before the broker completes it.
struct Item {
    flag: i32,
    body: Bytes,
    properties: String,
}

pub async fn send<S: Storage>(
    shard: &Rc<Shard<S>>,
    peer: &Peer,
    req: &RemotingCommand,
) -> RemotingCommand {
    if let Some(refusal) = refused_on_slave(shard) {
        return refusal;
    }
    let h = match SendMessageRequestHeader::from_request(req.code, &req.ext_fields) {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let items = match items_of(&h, req) {
        Ok(items) => items,
        Err(rsp) => return rsp,
    };
    if let Some(refusal) = check_batch(shard, &h, &items).or_else(|| check_items(shard, &items)) {
        return refusal;
    }
    let (topic, queue_nums) = match durable_target(shard, &h).await {
        Ok(t) => t,
        Err(rsp) => return rsp,
    };
    let queue = match choose_queue(shard, h.queue_id, queue_nums) {
        Ok(q) => q,
        Err(rsp) => return rsp,
    };
    let mut msgs: Vec<NewMessage> = items
        .into_iter()
        .map(|item| complete(shard, peer, &h, &topic, queue, item))
        .collect();
    let uniq = (msgs.len() == 1).then(|| {
        Properties(&msgs[0].properties)
            .get(property::UNIQ_KEY)
            .map(str::to_owned)
    });
    if let [single] = msgs.as_slice() {
        let props = Properties(&single.properties);
        if transaction::is_half(props, single.sys_flag, single.reconsume_times) {
            return transaction::half::send_half(shard, msgs.swap_remove(0)).await;
        }
    }
    if let [single] = msgs.as_mut_slice() {
        let levels = &shard.shared.delay_levels;
        if let Some(level) = delay::requested_level(Properties(&single.properties), levels) {
            *single = delay::to_schedule(single.clone(), level, levels);
        }
    }
    let owner = shard.owner(&msgs[0].topic, msgs[0].queue_id);
    match shard.send(owner, msgs).await {
        Ok(sent) => answer_sent(shard, sent, queue, uniq.flatten()),
        Err(e) => store_error(e),
    }
}

/// The SUCCESS (or replication-timeout) answer of a stored send: offset
/// message ids, queue, first queue offset and the message's `UNIQ_KEY`.
fn answer_sent<S: Storage>(
    shard: &Shard<S>,
    sent: Sent,
    queue: u32,
    uniq: Option<String>,
) -> RemotingCommand {
    let Sent {
        results,
        replicated,
    } = sent;
    shard
        .shared
        .put_total
        .fetch_add(results.len() as u64, Ordering::Relaxed);
    let ids: Vec<String> = results
        .iter()
        .map(|r| {
            OffsetMsgId {
                store_host: shard.store_host,
                offset: r.global_offset,
            }
            .encode()
        })
        .collect();
    let header = SendMessageResponseHeader {
        msg_id: ids.join(","),
        queue_id: queue as i32,
        queue_offset: results.first().map_or(0, |r| r.queue_offset.0 as i64),
        transaction_id: uniq,
        batch_uniq_id: None,
        msg_region: Some(DEFAULT_REGION.to_owned()),
        trace_on: Some(true),
    };
    sent_response(replicated).with_header(&header)
}

/// SUCCESS, or what a sync master's wait for its slaves came to (the
/// message is stored either way; RocketMQ clients retry on both codes).
pub(crate) fn sent_response(replicated: Option<Replicated>) -> RemotingCommand {
    match replicated {
        None | Some(Replicated::Yes) => success(),
        Some(Replicated::TimedOut) => error(
            rsp::FLUSH_SLAVE_TIMEOUT,
            "stored on the master; no slave confirmed it in time",
        ),
        Some(Replicated::NoSlave) => error(
            rsp::SLAVE_NOT_AVAILABLE,
            "stored on the master; no slave is connected (or close enough) to copy it",
        ),
    }
}

/// A slave refuses sends: its log is a copy of its master's.
fn refused_on_slave<S: Storage>(shard: &Shard<S>) -> Option<RemotingCommand> {
    let role = shard.shared.config.replication.role;
    (!role.is_master()).then(|| {
        error(
            rsp::SERVICE_NOT_AVAILABLE,
            "this broker is a slave: send to its master (RocketMQ: putMessage is forbidden on a slave)",
        )
    })
}

/// The messages a send carries: one, or a batch body's items.
fn items_of(
    h: &SendMessageRequestHeader,
    req: &RemotingCommand,
) -> Result<Vec<Item>, RemotingCommand> {
    if !h.is_batch() {
        return Ok(vec![Item {
            flag: h.flag,
            body: req.body.clone(),
            properties: h.properties.clone().unwrap_or_default(),
        }]);
    }
    let batch = decode_batch(&req.body)
        .map_err(|e| error(rsp::MESSAGE_ILLEGAL, format!("bad batch body: {e}")))?;
    if batch.is_empty() {
        return Err(error(rsp::MESSAGE_ILLEGAL, "empty batch"));
    }
    Ok(batch
        .into_iter()
        .map(|i| Item {
            flag: i.flag,
            body: req.body.slice_ref(i.body),
            properties: i.properties.as_str().to_owned(),
        })
        .collect())
}

/// What RocketMQ refuses in a batch (MESSAGE_ILLEGAL).
fn check_batch<S: Storage>(
    shard: &Shard<S>,
    h: &SendMessageRequestHeader,
    items: &[Item],
) -> Option<RemotingCommand> {
    if !h.is_batch() {
        return None;
    }
    // As RocketMQ's store (`CommitLog.asyncPutMessages`): no half messages in a batch.
    let reconsume = h.reconsume_times.unwrap_or(0);
    let half =
        |item: &Item| transaction::is_half(Properties(&item.properties), h.sys_flag, reconsume);
    if items.iter().any(half) {
        return Some(error(
            rsp::MESSAGE_ILLEGAL,
            "transactional (half) messages cannot be sent in a batch",
        ));
    }
    let batch_properties = h.properties.as_deref().unwrap_or_default();
    let item_properties = items.iter().map(|item| item.properties.as_str());
    batch_refusal(
        &h.topic,
        batch_properties,
        item_properties,
        &shard.shared.delay_levels,
    )
    .map(|why| error(rsp::MESSAGE_ILLEGAL, why))
}

/// Why a batch to `topic` may not be stored, as RocketMQ refuses it: a
/// `%RETRY%` topic as target, or a delay level — on the batch itself (its
/// broker refuses that) or on any message of it (its Java client refuses
/// that; stored here, the message would be delivered at once).
fn batch_refusal<'a>(
    topic: &str,
    batch_properties: &str,
    item_properties: impl IntoIterator<Item = &'a str>,
    levels: &DelayLevels,
) -> Option<String> {
    if topic.starts_with(RETRY_TOPIC_PREFIX) {
        return Some(format!(
            "batch request does not support retry group {topic}"
        ));
    }
    let delayed = |props: &str| delay::requested_level(Properties(props), levels).is_some();
    let which = if delayed(batch_properties) {
        "the batch".to_owned()
    } else {
        let nth = item_properties.into_iter().position(delayed)?;
        format!("message {nth} of the batch")
    };
    Some(format!(
        "{which} has a DELAY level: delayed messages cannot be sent in a batch; \
         send them one by one"
    ))
}

/// Size limits and unsupported features, checked before anything is stored.
fn check_items<S: Storage>(shard: &Shard<S>, items: &[Item]) -> Option<RemotingCommand> {
    let max_body = shard.shared.config.broker.max_message_bytes;
    for item in items {
        if item.body.len() > max_body {
            let why = format!(
                "message body is {} bytes; the limit is {max_body}",
                item.body.len()
            );
            return Some(error(rsp::MESSAGE_ILLEGAL, why));
        }
        if item.properties.len() > MAX_PROPERTIES_BYTES {
            let why = format!(
                "properties are {} bytes; the limit is {MAX_PROPERTIES_BYTES}",
                item.properties.len()
            );
            return Some(error(rsp::MESSAGE_ILLEGAL, why));
        }
    }
    None
}

/// The topic to store into (DLQ for exhausted retries), its write queue
/// count, and whether its config is not on disk yet.
fn target_topic<S: Storage>(
    shard: &Shard<S>,
    h: &SendMessageRequestHeader,
) -> Result<(String, u32, bool), RemotingCommand> {
    let mut topic = h.topic.clone();
    if let Some(group) = topic.strip_prefix(RETRY_TOPIC_PREFIX) {
        let max = h
            .max_reconsume_times
            .unwrap_or(bolide_proto::body::DEFAULT_RETRY_MAX_TIMES);
        if h.reconsume_times.unwrap_or(0) > max {
            topic = dlq_topic(group);
        }
    }
    let (config, unpersisted) =
        topic_for_send(shard, &topic, &h.default_topic, h.default_topic_queue_nums)?;
    Ok((topic, config.write_queue_nums.max(1) as u32, unpersisted))
}

/// The topic to store into and its write queue count, its config on disk.
async fn durable_target<S: Storage>(
    shard: &Shard<S>,
    h: &SendMessageRequestHeader,
) -> Result<(String, u32), RemotingCommand> {
    let (topic, queue_nums, unpersisted) = target_topic(shard, h)?;
    if unpersisted {
        topic_durable(shard, &topic).await?;
    }
    Ok((topic, queue_nums))
}

/// Makes sure a retry or DLQ topic exists, its config on disk.
async fn durable_group_topic<S: Storage>(
    shard: &Shard<S>,
    topic: &str,
) -> Result<(), RemotingCommand> {
    let (_, unpersisted) = topic_for_send(shard, topic, "", 1)?;
    if unpersisted {
        topic_durable(shard, topic).await?;
    }
    Ok(())
}

/// Waits until a topic created moments ago is on disk: a message is never
/// acknowledged into a topic whose config a crash would forget (its
/// messages would stay stored but unreachable). Once per new topic.
async fn topic_durable<S: Storage>(shard: &Shard<S>, topic: &str) -> Result<(), RemotingCommand> {
    let outcome = shard.persist_now().await;
    if !shard.shared.topics().is_unpersisted(topic) {
        return Ok(());
    }
    let why = outcome.err().unwrap_or_else(|| "still pending".into());
    Err(error(
        rsp::SERVICE_NOT_AVAILABLE,
        format!("topic[{topic}] was created but its config cannot be persisted: {why}"),
    ))
}

/// Looks up (or auto-creates) a writable topic; also whether its config
/// is not on disk yet.
fn topic_for_send<S: Storage>(
    shard: &Shard<S>,
    topic: &str,
    default_topic: &str,
    queue_nums: i32,
) -> Result<(TopicConfig, bool), RemotingCommand> {
    let now = shard.clock.now_ms();
    let is_group_topic =
        topic.starts_with(RETRY_TOPIC_PREFIX) || topic.starts_with(crate::topics::DLQ_TOPIC_PREFIX);
    // A retry topic gets its group's retryQueueNums, a DLQ one queue (RocketMQ's
    // send-back and DLQ_NUMS_PER_GROUP); read before the topics lock is taken.
    let group_queues = topic
        .strip_prefix(RETRY_TOPIC_PREFIX)
        .and_then(|group| {
            Some(
                shard
                    .shared
                    .subscription_groups()
                    .get(group)?
                    .retry_queue_nums,
            )
        })
        .unwrap_or(1);
    let (outcome, unpersisted) = {
        let mut topics = shard.shared.topics();
        let outcome = if is_group_topic {
            topics
                .ensure_group_topic(topic, group_queues, now)
                .and_then(|created| {
                    topics
                        .get(topic)
                        .cloned()
                        .map(|c| (c, created))
                        .ok_or(TopicRefusal::NotExist(topic.to_owned()))
                })
        } else {
            topics.for_send(topic, default_topic, queue_nums.max(1), now)
        };
        (outcome, topics.is_unpersisted(topic))
    };
    match outcome {
        Ok((config, created)) => {
            if created {
                shard.shared.topics_changed();
            }
            if config.perm & perm::WRITE == 0 {
                return Err(error(
                    rsp::NO_PERMISSION,
                    format!("the topic[{topic}] sending message is forbidden"),
                ));
            }
            Ok((config, unpersisted))
        }
        Err(TopicRefusal::InvalidName(why)) => Err(error(rsp::MESSAGE_ILLEGAL, why)),
        Err(TopicRefusal::NotExist(why)) => Err(error(rsp::TOPIC_NOT_EXIST, why)),
        Err(TopicRefusal::NoPermission(why)) => Err(error(rsp::NO_PERMISSION, why)),
    }
}

/// The queue to store into: the requested one, or round-robin when negative.
fn choose_queue<S: Storage>(
    shard: &Shard<S>,
    requested: i32,
    queue_nums: u32,
) -> Result<u32, RemotingCommand> {
    if requested < 0 {
        return Ok(shard.next_queue() % queue_nums);
    }
    let queue = requested as u32;
    if queue >= queue_nums {
        let why = format!("queueId[{queue}] is illegal, topic has {queue_nums} write queues");
        return Err(error(rsp::INVALID_PARAMETER, why));
    }
    Ok(queue)
}

/// Builds the stored message: adds UNIQ_KEY and CLUSTER when missing,
/// appending to the producer's properties instead of re-encoding them.
fn complete<S: Storage>(
    shard: &Shard<S>,
    peer: &Peer,
    h: &SendMessageRequestHeader,
    topic: &str,
    queue: u32,
    item: Item,
) -> NewMessage {
    let mut properties = item.properties;
    let (has_key, has_cluster) = {
        let props = Properties(&properties);
        (
            props.get(property::UNIQ_KEY).is_some(),
            props.get(property::CLUSTER).is_some(),
        )
    };
    if !has_key {
        push_property(&mut properties, property::UNIQ_KEY, &shard.unique_key());
    }
    if !has_cluster {
        push_property(
            &mut properties,
            property::CLUSTER,
            &shard.shared.config.broker.cluster_name,
        );
    }
    NewMessage {
        topic: topic.to_owned(),
        queue_id: queue,
        flag: item.flag,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: peer.addr,
        store_host: shard.store_host,
        reconsume_times: h.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: 0,
        body: item.body,
        properties,
    }
}

/// CONSUMER_SEND_MSG_BACK: a consumer could not process the message at
/// `offset`; store a copy in `%RETRY%<group>`, or in `%DLQ%<group>` once
/// its retries are exhausted (or `delayLevel < 0`).
pub async fn send_back<S: Storage>(
    shard: &Rc<Shard<S>>,
    peer: &Peer,
    req: &RemotingCommand,
) -> RemotingCommand {
    if let Some(refusal) = refused_on_slave(shard) {
        return refusal;
    }
    let h: ConsumerSendMsgBackRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    if let Some(refusal) = check_send_back(&h) {
        return refusal;
    }
    let bytes = match original_record(shard, h.offset).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    let Ok(original) = RecordView::parse(&bytes) else {
        return lookup_failed(h.offset);
    };
    if let Err(why) = sendable_back(original.topic()) {
        return error(rsp::INVALID_PARAMETER, why);
    }
    let group = match shard
        .shared
        .subscription_group(&h.group, shard.clock.now_ms())
    {
        Ok(group) => group,
        Err(refusal) => return error(rsp::SUBSCRIPTION_GROUP_NOT_EXIST, refusal.why()),
    };
    let max = h.max_reconsume_times.unwrap_or(group.retry_max_times);
    let reconsume_times = original.reconsume_times() + 1;
    let to_dlq = h.delay_level < 0 || reconsume_times > max;
    let topic = if to_dlq {
        dlq_topic(&h.group)
    } else {
        retry_topic(&h.group)
    };
    if let Err(rsp) = durable_group_topic(shard, &topic).await {
        return rsp;
    }
    let mut msg = retry_message(
        &original,
        &topic,
        reconsume_times,
        h.origin_msg_id.as_deref(),
        peer,
    );
    if !to_dlq {
        msg = delay::to_schedule(
            msg,
            retry_level(shard, &h, &original),
            &shard.shared.delay_levels,
        );
    }
    let owner = shard.owner(&msg.topic, msg.queue_id);
    match shard.append(owner, vec![msg]).await {
        Ok(_) => success(),
        Err(e) => store_error(e),
    }
}

/// The stored record a send-back names by its offset.
async fn original_record<S: Storage>(
    shard: &Rc<Shard<S>>,
    wire_offset: i64,
) -> Result<Vec<u8>, RemotingCommand> {
    let offset = GlobalOffset::from_wire(wire_offset).ok_or_else(|| lookup_failed(wire_offset))?;
    shard
        .read_record(offset.shard(), offset.physical())
        .await
        .map_err(|_| lookup_failed(wire_offset))
}

fn lookup_failed(offset: i64) -> RemotingCommand {
    error(
        rsp::SYSTEM_ERROR,
        format!("look message by offset failed, {offset}"),
    )
}

/// The delay level a retry copy waits for: the one asked for, else the
/// next by its reconsume count (RocketMQ: 3 + reconsumeTimes).
fn retry_level<S: Storage>(
    shard: &Shard<S>,
    h: &ConsumerSendMsgBackRequestHeader,
    original: &RecordView<'_>,
) -> u32 {
    match u32::try_from(h.delay_level) {
        Ok(level) if level > 0 => level,
        _ => delay::retry_level(original.reconsume_times(), &shard.shared.delay_levels),
    }
}

/// Refuses a send-back whose group could never have a retry or DLQ topic
/// (the re-stored copy would be undeliverable; before this check one such
/// request blocked its delay level forever) or whose `originTopic` is not a
/// topic name. The group is refused as a group that cannot exist.
fn check_send_back(h: &ConsumerSendMsgBackRequestHeader) -> Option<RemotingCommand> {
    if let Err(why) = validate_group_name(&h.group) {
        return Some(error(rsp::SUBSCRIPTION_GROUP_NOT_EXIST, why));
    }
    match h.origin_topic.as_deref() {
        Some(topic) if !topic.is_empty() => validate_topic_name(topic)
            .err()
            .map(|why| error(rsp::INVALID_PARAMETER, format!("originTopic: {why}"))),
        _ => None,
    }
}

/// Whether a stored message of `topic` may be sent back: not one still
/// waiting in the schedule topic or another internal topic.
fn sendable_back(topic: &str) -> Result<(), String> {
    validate_topic_name(topic)?;
    if NOT_ALLOWED_SEND_TOPICS.contains(&topic) {
        return Err(format!(
            "the message at this offset is in the internal topic {topic}; it cannot be sent back"
        ));
    }
    Ok(())
}

fn retry_message(
    original: &RecordView<'_>,
    topic: &str,
    reconsume_times: i32,
    origin_msg_id: Option<&str>,
    peer: &Peer,
) -> NewMessage {
    let props = original.properties();
    let mut builder = PropertiesBuilder::from_properties(props);
    if props.get(property::RETRY_TOPIC).is_none() {
        let _ = builder.set(property::RETRY_TOPIC, original.topic());
    }
    if props.get(property::ORIGIN_MESSAGE_ID).is_none() {
        let origin = origin_msg_id
            .or(props.get(property::UNIQ_KEY))
            .unwrap_or_default();
        if !origin.is_empty() {
            let _ = builder.set(property::ORIGIN_MESSAGE_ID, origin);
        }
    }
    let mut msg = original.to_new_message();
    msg.topic = topic.to_owned();
    msg.queue_id = 0;
    msg.reconsume_times = reconsume_times;
    msg.born_host = peer.addr;
    msg.properties = builder.build();
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_refuse_delay_levels_and_retry_topics() {
        let levels = DelayLevels::default();
        let delay = |level: &str| format!("DELAY\u{1}{level}\u{2}");
        let plain = "TAGS\u{1}t\u{2}";
        let (two, zero, junk) = (delay("2"), delay("0"), delay("soon"));
        // (topic, batch properties, item properties, refused because)
        let cases: [(&str, &str, Vec<&str>, Option<&str>); 7] = [
            ("T", "", vec![plain, plain], None),
            ("T", &zero, vec![&zero, plain], None),
            ("T", "", vec![&junk], None),
            ("T", &two, vec![plain], Some("the batch has a DELAY level")),
            ("T", "", vec![plain, &two], Some("message 1 of the batch")),
            ("T", "", vec![], None),
            ("%RETRY%G", "", vec![plain], Some("retry group %RETRY%G")),
        ];
        for (topic, batch, items, why) in cases {
            let got = batch_refusal(topic, batch, items.iter().copied(), &levels);
            match (why, got) {
                (None, None) => {}
                (Some(why), Some(got)) => assert!(got.contains(why), "{got}"),
                (want, got) => panic!("{topic} {batch:?} {items:?}: {want:?} vs {got:?}"),
            }
        }
    }
}
