//! Admin codes the broker answers by talking to consumers:
//! GET_CONSUMER_RUNNING_INFO (307), forwarded to the consumer's own
//! connection and its answer relayed, and INVOKE_BROKER_TO_RESET_OFFSET
//! (222), which moves a group's committed offsets and tells the group's
//! online consumers (RESET_CONSUMER_CLIENT_OFFSET, 220).
//!
//! Both follow apache/rocketmq's `AdminBrokerProcessor` (`callConsumer`,
//! `resetOffsetInner`, the server-side reset RocketMQ 5 uses by default)
//! and `Broker2Client.resetOffset` (the notification), with their codes
//! and remarks. The client call waits on the client's connection with a
//! timeout; nothing here blocks a reactor.

use std::rc::Rc;
use std::time::Duration;

use bolide_proto::body::{MessageQueue, ResetOffsetBody};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::header::admin::{GetConsumerRunningInfoRequestHeader, ResetOffsetRequestHeader};
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;
use bolide_transport::rt;

use super::{bad_request, error, store_error, success};
use crate::shard::{ClientCallError, Shard};

/// How long a consumer has to answer a forwarded request (Java's
/// `callClient` waits 10 s too).
pub const CLIENT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// GET_CONSUMER_RUNNING_INFO (307): the same request, header and body, to
/// the consumer `clientId` of `consumerGroup`; its answer (a
/// `ConsumerRunningInfo` JSON body) goes back unchanged.
pub async fn consumer_running_info<S: Storage>(
    shard: &Rc<Shard<S>>,
    request: &RemotingCommand,
) -> RemotingCommand {
    let h: GetConsumerRunningInfoRequestHeader = match request.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let (group, client) = (&h.consumer_group, &h.client_id);
    let not_online = || {
        error(
            rsp::SYSTEM_ERROR,
            format!("The Consumer <{group}> <{client}> not online"),
        )
    };
    let conn = shard.shared.groups().consumer_conn(group, client);
    let Some(conn) = conn else {
        return not_online();
    };
    let mut forwarded = RemotingCommand::request(req::GET_CONSUMER_RUNNING_INFO);
    forwarded.ext_fields = request.ext_fields.clone();
    forwarded.body = request.body.clone();
    match shard
        .invoke_client(conn, forwarded, CLIENT_CALL_TIMEOUT)
        .await
    {
        Ok(answer) => relayed(answer),
        Err(ClientCallError::NotConnected) => not_online(),
        Err(ClientCallError::Timeout(why)) => error(
            rsp::CONSUME_MSG_TIMEOUT,
            format!("consumer <{group}> <{client}> Timeout: {why}"),
        ),
        Err(ClientCallError::Failed(why)) => error(
            rsp::SYSTEM_ERROR,
            format!("invoke consumer <{group}> <{client}> Exception: {why}"),
        ),
    }
}

/// The client's answer as the broker's: its code, remark, header and body.
fn relayed(answer: RemotingCommand) -> RemotingCommand {
    let mut response = RemotingCommand::response(answer.code, answer.remark);
    response.ext_fields = answer.ext_fields;
    response.body = answer.body;
    response
}

/// Where one queue is reset to: `offset` when a single queue and an
/// offset are named (it must lie in `[min, max]`), else the first message
/// stored at or after `timestamp` (found by the caller), or the queue's
/// max offset for a negative timestamp.
pub fn checked_target(offset: Option<i64>, min: u64, max: u64) -> Result<Option<u64>, String> {
    let Some(offset) = offset.filter(|&o| o != -1) else {
        return Ok(None);
    };
    match u64::try_from(offset) {
        Ok(o) if (min..=max).contains(&o) => Ok(Some(o)),
        _ => Err(format!(
            "Target offset {offset} not in consume queue range [{min}-{max}]"
        )),
    }
}

/// INVOKE_BROKER_TO_RESET_OFFSET (222): resets `group`'s committed offsets
/// of `topic` (every readable queue, or `queueId`) to the first message
/// stored at or after `timestamp`, tells the group's online consumers
/// (220, oneway; Java clients and the C++ client move their own offsets on
/// it, so a running consumer does not commit its old position over the
/// reset), and answers the new offsets.
pub async fn reset_offset<S: Storage>(
    shard: &Rc<Shard<S>>,
    request: &RemotingCommand,
) -> RemotingCommand {
    let h: ResetOffsetRequestHeader = match request.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    if !shard.shared.config.replication.role.is_master() {
        return error(rsp::SYSTEM_ERROR, "Can not reset offset in slave broker");
    }
    let queues = shard
        .shared
        .topics()
        .get(&h.topic)
        .map(|c| c.read_queue_nums);
    let Some(queues) = queues else {
        return error(
            rsp::TOPIC_NOT_EXIST,
            format!("Topic {} does not exist", h.topic),
        );
    };
    if shard.shared.subscription_groups().get(&h.group).is_none() {
        return error(
            rsp::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("Group {} does not exist", h.group),
        );
    }
    let targets: Vec<u32> = match h.queue_id.filter(|&q| q >= 0) {
        Some(q) => vec![q as u32],
        None => (0..queues.max(0) as u32).collect(),
    };
    let single_offset = h.queue_id.filter(|&q| q >= 0).and(h.offset);
    let mut body = ResetOffsetBody::default();
    for queue in targets {
        let offset = match reset_target(shard, &h, queue, single_offset).await {
            Ok(offset) => offset,
            Err(answer) => return answer,
        };
        let mq = MessageQueue {
            broker_name: shard.shared.config.broker.broker_name.clone(),
            queue_id: queue as i32,
            topic: h.topic.clone(),
        };
        body.offset_table.push((mq, offset as i64));
    }
    if body.offset_table.is_empty() {
        return error(rsp::SYSTEM_ERROR, "No queues to reset.");
    }
    for (mq, offset) in &body.offset_table {
        let queue = mq.queue_id as u32;
        shard
            .shared
            .commit_offset(&h.group, &h.topic, queue, *offset as u64);
    }
    tracing::info!(topic = %h.topic, group = %h.group, timestamp = h.timestamp, queues = body.offset_table.len(), "consumer offsets reset");
    notify_reset(shard, &h, &body);
    success().with_body(body.encode())
}

/// The offset one queue is reset to, or the error answer.
async fn reset_target<S: Storage>(
    shard: &Rc<Shard<S>>,
    h: &ResetOffsetRequestHeader,
    queue: u32,
    single_offset: Option<i64>,
) -> Result<u64, RemotingCommand> {
    let (min, max) = shard.bounds(&h.topic, queue).await;
    match checked_target(single_offset, min, max) {
        Ok(Some(offset)) => return Ok(offset),
        Ok(None) => {}
        Err(why) => return Err(error(rsp::SYSTEM_ERROR, why)),
    }
    if h.timestamp < 0 {
        return Ok(max);
    }
    shard
        .search_by_time(&h.topic, queue, h.timestamp, false)
        .await
        .map_err(store_error)
}

/// RESET_CONSUMER_CLIENT_OFFSET (220) to every online consumer of the
/// group, oneway, as `Broker2Client.resetOffset` sends it; C++ clients
/// (by their heartbeat's language) get the list form they read.
fn notify_reset<S: Storage>(
    shard: &Rc<Shard<S>>,
    h: &ResetOffsetRequestHeader,
    body: &ResetOffsetBody,
) {
    let header = ResetOffsetRequestHeader {
        topic: h.topic.clone(),
        group: h.group.clone(),
        timestamp: h.timestamp,
        is_force: Some(h.is_force.unwrap_or(true)),
        queue_id: None,
        offset: None,
    };
    let command = RemotingCommand::request(req::RESET_CONSUMER_CLIENT_OFFSET).with_header(&header);
    let (java, cpp) = (body.encode(), body.encode_for_c());
    let conns: Vec<_> = {
        let groups = shard.shared.groups();
        let members = groups
            .members(&h.group)
            .into_iter()
            .flat_map(|m| m.values());
        let is_cpp = |conn| groups.client_info(conn).language == "CPP";
        members.map(|m| (m.conn, is_cpp(m.conn))).collect()
    };
    for (conn, is_cpp) in conns {
        let body = if is_cpp { cpp.clone() } else { java.clone() };
        let (shard, command) = (shard.clone(), command.clone().with_body(body));
        rt::spawn_local(async move { shard.notify(conn.shard, conn.conn_id, command).await })
            .detach();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_offsets_must_lie_in_the_queue() {
        // (offset, min, max, result)
        let cases = [
            (None, 0, 10, Ok(None)),
            (Some(-1), 0, 10, Ok(None)),
            (Some(0), 0, 10, Ok(Some(0))),
            (Some(10), 0, 10, Ok(Some(10))),
            (
                Some(11),
                0,
                10,
                Err("Target offset 11 not in consume queue range [0-10]"),
            ),
            (
                Some(2),
                3,
                10,
                Err("Target offset 2 not in consume queue range [3-10]"),
            ),
            (
                Some(-5),
                0,
                10,
                Err("Target offset -5 not in consume queue range [0-10]"),
            ),
        ];
        for (i, (offset, min, max, want)) in cases.into_iter().enumerate() {
            let want = want.map_err(str::to_owned);
            assert_eq!(checked_target(offset, min, max), want, "case {i}");
        }
    }
}
