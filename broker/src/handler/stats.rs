//! Consumer and producer progress and connections for the Java admin tools
//! and the dashboard (bodies: `bolide_proto::body::consumer_admin`):
//! GET_CONSUME_STATS (208), GET_CONSUMER_CONNECTION_LIST (203),
//! GET_PRODUCER_CONNECTION_LIST (204), QUERY_CONSUME_TIME_SPAN (303).
//!
//! Answers and errors follow apache/rocketmq's `AdminBrokerProcessor`:
//! an offline consumer group is CONSUMER_NOT_ONLINE (206), an unknown
//! producer group SYSTEM_ERROR, an unknown topic TOPIC_NOT_EXIST; consume
//! stats of a group with no offsets and no members is an empty table
//! (Java's admin client, not its broker, calls that an error).

use std::collections::BTreeSet;
use std::rc::Rc;

use bolide_proto::body::{
    Connection, ConsumeStats, ConsumerConnection, JsonBody, MessageQueue, OffsetWrapper,
    ProducerConnection, QueryConsumeTimeSpanBody, QueueTimeSpan,
};
use bolide_proto::codes::response_code as rsp;
use bolide_proto::header::admin::{
    GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader,
    GetProducerConnectionListRequestHeader, QueryConsumeTimeSpanRequestHeader,
};
use bolide_proto::message::RecordView;
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;

use super::{bad_request, error, success};
use crate::filter::MessageFilter;
use crate::groups::{ConnRef, Groups};
use crate::shard::ops::Get;
use crate::shard::Shard;

/// The topics GET_CONSUME_STATS reports, as Java picks them: the one asked
/// for, or every topic the group committed offsets of; when the group has
/// online members, only topics they subscribe to.
pub fn topics_for_stats(
    asked: Option<&str>,
    committed: BTreeSet<String>,
    subscribed: &BTreeSet<String>,
) -> Vec<String> {
    let candidates = match asked.map(str::trim).filter(|t| !t.is_empty()) {
        Some(topic) => BTreeSet::from([topic.to_owned()]),
        None => committed,
    };
    candidates
        .into_iter()
        .filter(|t| subscribed.is_empty() || subscribed.contains(t))
        .collect()
}

/// Topics the online members of `group` subscribe to.
fn subscribed_topics(groups: &Groups, group: &str) -> BTreeSet<String> {
    let members = groups.members(group).into_iter().flat_map(|m| m.values());
    members
        .flat_map(|m| m.subscriptions.keys().cloned())
        .collect()
}

/// Store time of the message at `offset` of a queue, if it can be read.
pub async fn store_time<S: Storage>(
    shard: &Rc<Shard<S>>,
    topic: &str,
    queue: u32,
    offset: u64,
) -> Option<i64> {
    let op = Get {
        topic: topic.to_owned(),
        queue,
        offset,
        max_count: 1,
        max_bytes: u32::MAX,
        filter: MessageFilter::ALL,
        hold_ms: 0,
    };
    let got = shard.get_messages(op).await.ok()?;
    if got.message_count == 0 {
        return None;
    }
    RecordView::parse(&got.messages)
        .ok()
        .map(|r| r.store_timestamp())
}

fn queue_of<S: Storage>(shard: &Shard<S>, topic: &str, queue: u32) -> MessageQueue {
    MessageQueue {
        broker_name: shard.shared.config.broker.broker_name.clone(),
        queue_id: queue as i32,
        topic: topic.to_owned(),
    }
}

/// GET_CONSUME_STATS (208): per readable queue, the queue's max offset,
/// the group's committed offset and the store time of the last message it
/// consumed. Bolide does not track pull progress apart from commits, so
/// `pullOffset` is the committed offset (Java: at least that), and it
/// keeps no per-group TPS (`consumeTps` 0).
pub async fn consume_stats<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: GetConsumeStatsRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let group = h.consumer_group.as_str();
    let committed = shard
        .shared
        .offsets()
        .of_group(group)
        .map(|(t, _, _)| t.to_owned())
        .collect();
    let subscribed = subscribed_topics(&shard.shared.groups(), group);
    let mut stats = ConsumeStats::default();
    for topic in topics_for_stats(h.topic.as_deref(), committed, &subscribed) {
        let queues = shard.shared.topics().get(&topic).map(|c| c.read_queue_nums);
        for queue in 0..queues.unwrap_or(0).max(0) as u32 {
            let offsets = queue_progress(shard, group, &topic, queue).await;
            stats
                .offset_table
                .push((queue_of(shard, &topic, queue), offsets));
        }
    }
    success().with_body(stats.encode())
}

async fn queue_progress<S: Storage>(
    shard: &Rc<Shard<S>>,
    group: &str,
    topic: &str,
    queue: u32,
) -> OffsetWrapper {
    let (_, max) = shard.bounds(topic, queue).await;
    let consumed = shard
        .shared
        .offsets()
        .query(group, topic, queue)
        .unwrap_or(0);
    let last_timestamp = match consumed.checked_sub(1) {
        Some(last) => store_time(shard, topic, queue, last).await.unwrap_or(0),
        None => 0,
    };
    OffsetWrapper {
        broker_offset: max as i64,
        consumer_offset: consumed as i64,
        last_timestamp,
        pull_offset: consumed as i64,
    }
}

/// One connection's entry in a connection list.
fn connection(groups: &Groups, client_id: &str, conn: ConnRef) -> Connection {
    let info = groups.client_info(conn);
    Connection {
        client_addr: info.addr,
        client_id: client_id.to_owned(),
        language: info.language,
        version: info.version,
    }
}

/// GET_CONSUMER_CONNECTION_LIST (203): the group's online members, their
/// subscriptions, and the group's consume type, model and start point
/// (Java keeps the latest heartbeat's; Bolide the newest member's).
pub fn consumer_connections<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: GetConsumerConnectionListRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let groups = shard.shared.groups();
    let members = groups.members(&h.consumer_group).filter(|m| !m.is_empty());
    let Some(members) = members else {
        return error(
            rsp::CONSUMER_NOT_ONLINE,
            format!("the consumer group[{}] not online", h.consumer_group),
        );
    };
    let mut body = ConsumerConnection::default();
    let newest = members.values().max_by_key(|m| m.last_heartbeat_ms);
    if let Some(m) = newest {
        body.consume_from_where = m.consume_from_where.name().to_owned();
        body.consume_type = m.consume_type.name().to_owned();
        body.message_model = m.message_model.name().to_owned();
    }
    for (client_id, member) in members {
        body.connection_set
            .push(connection(&groups, client_id, member.conn));
        for (topic, sub) in &member.subscriptions {
            let newer = body
                .subscription_table
                .get(topic)
                .is_none_or(|s| s.sub_version <= sub.sub_version);
            if newer {
                body.subscription_table.insert(topic.clone(), sub.clone());
            }
        }
    }
    success().with_body(body.encode())
}

/// GET_PRODUCER_CONNECTION_LIST (204): the group's online producers.
pub fn producer_connections<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: GetProducerConnectionListRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let groups = shard.shared.groups();
    let producers = groups.producers(&h.producer_group);
    if producers.is_empty() {
        return error(
            rsp::SYSTEM_ERROR,
            format!("the producer group[{}] not exist", h.producer_group),
        );
    }
    let connection_set = producers
        .iter()
        .map(|(id, conn)| connection(&groups, id, *conn))
        .collect();
    success().with_body(ProducerConnection { connection_set }.encode())
}

/// QUERY_CONSUME_TIME_SPAN (303): per writable queue, the store times of
/// its first and last messages and of the group's last consumed one, and
/// how long the next message to consume has waited (0 when caught up).
/// Times of messages that do not exist are -1, as Java's store answers.
pub async fn consume_time_span<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: QueryConsumeTimeSpanRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let queues = shard
        .shared
        .topics()
        .get(&h.topic)
        .map(|c| c.write_queue_nums);
    let Some(queues) = queues else {
        return error(
            rsp::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist", h.topic),
        );
    };
    let mut body = QueryConsumeTimeSpanBody::default();
    for queue in 0..queues.max(0) as u32 {
        let span = queue_time_span(shard, &h.group, &h.topic, queue).await;
        body.consume_time_span_set.push(span);
    }
    success().with_body(body.encode())
}

async fn queue_time_span<S: Storage>(
    shard: &Rc<Shard<S>>,
    group: &str,
    topic: &str,
    queue: u32,
) -> QueueTimeSpan {
    const NONE: i64 = -1;
    let (min_offset, max) = shard.bounds(topic, queue).await;
    let time_at = |offset: u64| async move {
        store_time(shard, topic, queue, offset)
            .await
            .unwrap_or(NONE)
    };
    let min = shard
        .earliest_time(topic, queue)
        .await
        .ok()
        .flatten()
        .unwrap_or(NONE);
    let newest = match max.checked_sub(1) {
        Some(last) => time_at(last).await,
        None => NONE,
    };
    // No commit yet: the group starts at the queue's first message.
    let consumed = shard.shared.offsets().query(group, topic, queue);
    let next = consumed.unwrap_or(min_offset).max(min_offset);
    let consume_time = match consumed.filter(|&c| c > 0) {
        Some(c) => time_at(c - 1).await,
        None => min,
    };
    let waiting_since = match next < max {
        true => Some(time_at(next).await).filter(|&t| t != NONE),
        false => None,
    };
    let delay = waiting_since.map_or(0, |t| (shard.clock.now_ms() - t).max(0));
    QueueTimeSpan::new(
        queue_of(shard, topic, queue),
        min,
        newest,
        consume_time,
        delay,
    )
}
