//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361): checks the topic, queue
//! and subscription (its tag or SQL92 filter, [`crate::filter`]), commits the consumer's offset when asked, reads (or
//! long-polls) on the owner shard, and maps the store's status to the
//! RocketMQ response (remoting.md §7.1). The body is the records' bytes as
//! stored; the header always carries extFields (the C++ client needs them).
//!
//! Out-of-range offsets are answered as RocketMQ's store and broker answer
//! them, with the offset to continue from in `nextBeginOffset`: below the
//! queue's min (a negative offset included) → PULL_OFFSET_MOVED from the
//! min; past its max → PULL_OFFSET_MOVED from the max; at the max →
//! PULL_NOT_FOUND (the only answer long polling holds); an empty or
//! missing queue → PULL_NOT_FOUND at offset 0, else PULL_OFFSET_MOVED to 0.
//!
//! A slave serves pulls the same way but never moves a consumer
//! ([`on_slave`], remoting.md §7.1): its queues only lag its master's, so
//! an offset it does not hold yet is not wrong. It stores the commit
//! offset a pull carries, which RocketMQ's slave ignores: a consumer that
//! fell back to the slave while the master is down keeps its progress
//! there, and the slave's metadata sync keeps the larger offset
//! (`crate::offsets::OffsetTable::follow`). `suggestWhichBrokerId` is
//! always 0 (no slave reading while the master is up).

use std::rc::Rc;
use std::sync::atomic::Ordering;

use bolide_proto::codes::{perm, pull_sys_flag, response_code as rsp};
use bolide_proto::header::pull::{PullMessageRequestHeader, PullMessageResponseHeader};
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;
use bolide_store::pull::GetStatus;
use bolide_store::store::GetResult;

use super::{bad_request, error, queue_id, store_error};
use crate::filter::{is_sql92, MessageFilter};
use crate::shard::ops::Get;
use crate::shard::Shard;

/// Most messages one pull returns (RocketMQ `maxTransferCountOnMessageInMemory`).
pub const MAX_PULL_MESSAGES: u32 = 32;
/// Most bytes one pull returns unless the client asks for less.
pub const MAX_PULL_BYTES: u32 = 256 * 1024;

/// The response code a store status maps to for a pull at `offset` (the
/// request's, as sent: RocketMQ compares it with 0).
pub fn response_code(status: GetStatus, offset: i64) -> i32 {
    match status {
        GetStatus::Found => rsp::SUCCESS,
        GetStatus::NoMatchedMessage | GetStatus::MessageWasRemoving => rsp::PULL_RETRY_IMMEDIATELY,
        GetStatus::OffsetOverflowOne | GetStatus::OffsetFoundNull => rsp::PULL_NOT_FOUND,
        GetStatus::OffsetOverflowBadly | GetStatus::OffsetTooSmall => rsp::PULL_OFFSET_MOVED,
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue if offset != 0 => {
            rsp::PULL_OFFSET_MOVED
        }
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue => rsp::PULL_NOT_FOUND,
    }
}

pub async fn pull<S: Storage>(shard: &Rc<Shard<S>>, req: &RemotingCommand) -> RemotingCommand {
    let h: PullMessageRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let op = match plan(shard, &h) {
        Ok(op) => op,
        Err(rsp) => return rsp,
    };
    if h.sys_flag & pull_sys_flag::COMMIT_OFFSET != 0 && h.commit_offset >= 0 {
        shard.shared.commit_offset(
            &h.consumer_group,
            &h.topic,
            op.queue,
            h.commit_offset as u64,
        );
    }
    let result = if h.queue_offset < 0 {
        let bounds = shard.bounds(&op.topic, op.queue).await;
        below_every_offset(bounds)
    } else {
        match shard.get_messages(op).await {
            Ok(r) => r,
            Err(e) => return store_error(e),
        }
    };
    shard
        .shared
        .get_total
        .fetch_add(result.message_count as u64, Ordering::Relaxed);
    let slave = !shard.shared.config.replication.role.is_master();
    respond(result, h.queue_offset, slave)
}

/// What RocketMQ's store answers for a negative offset, below every
/// queue's min: OFFSET_TOO_SMALL from the min, or NO_MESSAGE_IN_QUEUE from
/// 0 when the queue is empty (`bounds` is `(0, 0)` for a missing queue,
/// which RocketMQ creates on lookup, so it answers the same). The store
/// itself never sees the offset.
pub fn below_every_offset((min, max): (u64, u64)) -> GetResult {
    let (status, next) = match max {
        0 => (GetStatus::NoMessageInQueue, 0),
        _ => (GetStatus::OffsetTooSmall, min),
    };
    GetResult {
        status,
        next_begin_offset: next,
        min_offset: min,
        max_offset: max,
        messages: Vec::new(),
        message_count: 0,
    }
}

/// A slave's answer where a master's would move the consumer: RocketMQ's
/// default `offsetCheckInSlave=false`. The store's corrections of the
/// offset are not applied (`DefaultMessageStore.nextOffsetCorrection`:
/// `nextBeginOffset` stays the request's), and PULL_OFFSET_MOVED becomes
/// PULL_RETRY_IMMEDIATELY (`DefaultPullMessageResultHandler`). Returns
/// (code, nextBeginOffset) from the master's.
pub fn on_slave(status: GetStatus, request_offset: i64, (code, next): (i32, i64)) -> (i32, i64) {
    let corrected = matches!(
        status,
        GetStatus::NoMatchedLogicQueue
            | GetStatus::NoMessageInQueue
            | GetStatus::OffsetTooSmall
            | GetStatus::OffsetOverflowOne
            | GetStatus::OffsetOverflowBadly
            | GetStatus::OffsetFoundNull
    );
    let next = if corrected { request_offset } else { next };
    match code {
        rsp::PULL_OFFSET_MOVED => (rsp::PULL_RETRY_IMMEDIATELY, next),
        code => (code, next),
    }
}

/// The PULL response for a lookup result; the body only with SUCCESS.
fn respond(result: GetResult, request_offset: i64, slave: bool) -> RemotingCommand {
    let mut answer = (
        response_code(result.status, request_offset),
        result.next_begin_offset as i64,
    );
    if slave {
        answer = on_slave(result.status, request_offset, answer);
    }
    let (code, next_begin_offset) = answer;
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset,
        min_offset: result.min_offset as i64,
        max_offset: result.max_offset as i64,
        offset_delta: None,
        topic_sys_flag: Some(0),
        group_sys_flag: Some(0),
        forbidden_type: None,
    };
    let mut response = RemotingCommand::response(code, Some(result.status.as_str().to_owned()))
        .with_header(&header);
    if code == rsp::SUCCESS {
        response = response.with_body(result.messages);
    }
    response
}

/// Validates the request and turns it into a read on the owner shard.
fn plan<S: Storage>(
    shard: &Shard<S>,
    h: &PullMessageRequestHeader,
) -> Result<Get, RemotingCommand> {
    let queue = queue_id(h.queue_id)?;
    let group = shard
        .shared
        .subscription_group(&h.consumer_group, shard.clock.now_ms())
        .map_err(|refusal| error(rsp::SUBSCRIPTION_GROUP_NOT_EXIST, refusal.why()))?;
    if !group.consume_enable {
        return Err(error(
            rsp::NO_PERMISSION,
            format!("subscription group no permission, {}", h.consumer_group),
        ));
    }
    let read_queues = {
        let topics = shard.shared.topics();
        let Some(config) = topics.get(&h.topic) else {
            return Err(error(
                rsp::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please!", h.topic),
            ));
        };
        if config.perm & perm::READ == 0 {
            return Err(error(
                rsp::NO_PERMISSION,
                format!("the topic[{}] pulling message is forbidden", h.topic),
            ));
        }
        config.read_queue_nums.max(0) as u32
    };
    if queue >= read_queues {
        let why = format!(
            "queueId[{queue}] is illegal, topic {} has {read_queues} read queues",
            h.topic
        );
        return Err(error(rsp::INVALID_PARAMETER, why));
    }
    let filter = subscription_filter(shard, h)?;
    let suspend = h.sys_flag & pull_sys_flag::SUSPEND != 0;
    let max_hold = shard.shared.config.broker.max_long_poll_ms;
    Ok(Get {
        topic: h.topic.clone(),
        queue,
        // Negative offsets never reach the store ([`below_every_offset`]).
        offset: h.queue_offset.max(0) as u64,
        max_count: (h.max_msg_nums.max(1) as u32).min(MAX_PULL_MESSAGES),
        max_bytes: h
            .max_msg_bytes
            .filter(|b| *b > 0)
            .map_or(MAX_PULL_BYTES, |b| (b as u32).min(MAX_PULL_BYTES)),
        filter,
        hold_ms: if suspend {
            (h.suspend_timeout_millis.max(0) as u64).min(max_hold)
        } else {
            0
        },
    })
}

/// The pull's filter: from the request when it carries one, else the one
/// compiled from the group's heartbeat subscription. SQL92 ones need
/// `broker.enable_property_filter`; RocketMQ's `PullMessageProcessor`
/// checks that after resolving the subscription and answers SYSTEM_ERROR.
fn subscription_filter<S: Storage>(
    shard: &Shard<S>,
    h: &PullMessageRequestHeader,
) -> Result<MessageFilter, RemotingCommand> {
    let filter = if h.sys_flag & pull_sys_flag::SUBSCRIPTION != 0 {
        request_filter(shard, h)?
    } else {
        registered_filter(shard, h)?
    };
    if filter.is_sql92() && !shard.shared.config.broker.enable_property_filter {
        return Err(error(rsp::SYSTEM_ERROR, property_filter_disabled("SQL92")));
    }
    Ok(filter)
}

/// RocketMQ's remark when `enablePropertyFilter` is off.
pub fn property_filter_disabled(expression_type: &str) -> String {
    format!(
        "The broker does not support consumer to filter message by {expression_type} \
         (broker.enable_property_filter is off)"
    )
}

/// The subscription a pull carries (FLAG_SUBSCRIPTION). An SQL92 one equal
/// to the group's registered subscription reuses its compilation.
fn request_filter<S: Storage>(
    shard: &Shard<S>,
    h: &PullMessageRequestHeader,
) -> Result<MessageFilter, RemotingCommand> {
    let expression = h.subscription.as_deref().unwrap_or("*");
    let expression_type = h.expression_type.as_deref();
    if is_sql92(expression_type) {
        let groups = shard.shared.groups();
        if let Some((sub, Ok(compiled))) = groups.subscription_filter(&h.consumer_group, &h.topic) {
            if sub.sub_string == expression && compiled.is_sql92() {
                return Ok(compiled.clone());
            }
        }
    }
    MessageFilter::parse(expression, expression_type).map_err(|e| {
        let why = format!("parse the consumer's subscription failed: {}", e.0);
        error(rsp::SUBSCRIPTION_PARSE_FAILED, why)
    })
}

/// The filter compiled from the group's heartbeat. For SQL92, RocketMQ's
/// answers when its filter data is missing (the expression did not
/// compile) or older than the pull's `subVersion`.
fn registered_filter<S: Storage>(
    shard: &Shard<S>,
    h: &PullMessageRequestHeader,
) -> Result<MessageFilter, RemotingCommand> {
    let groups = shard.shared.groups();
    let Some((sub, compiled)) = groups.subscription_filter(&h.consumer_group, &h.topic) else {
        let why = format!(
            "the consumer's subscription not exist, group: {} topic: {}",
            h.consumer_group, h.topic
        );
        return Err(error(rsp::SUBSCRIPTION_NOT_EXIST, why));
    };
    if !is_sql92(Some(sub.expression_type.as_str())) {
        return compiled
            .clone()
            .map_err(|e| error(rsp::SUBSCRIPTION_PARSE_FAILED, e.0.clone()));
    }
    match compiled {
        Err(e) => Err(error(
            rsp::FILTER_DATA_NOT_EXIST,
            format!(
                "The broker's consumer filter data is not exist!Your expression may be wrong! {}",
                e.0
            ),
        )),
        Ok(_) if sub.sub_version < h.sub_version => Err(error(
            rsp::FILTER_DATA_NOT_LATEST,
            format!(
                "the consumer's consumer filter data not latest: version {} < {}",
                sub.sub_version, h.sub_version
            ),
        )),
        Ok(filter) => Ok(filter.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_follows_the_reference_table() {
        let cases = [
            (GetStatus::Found, 3, rsp::SUCCESS),
            (GetStatus::NoMatchedMessage, 3, rsp::PULL_RETRY_IMMEDIATELY),
            (
                GetStatus::MessageWasRemoving,
                3,
                rsp::PULL_RETRY_IMMEDIATELY,
            ),
            (GetStatus::OffsetOverflowOne, 3, rsp::PULL_NOT_FOUND),
            (GetStatus::OffsetFoundNull, 3, rsp::PULL_NOT_FOUND),
            (GetStatus::OffsetOverflowBadly, 3, rsp::PULL_OFFSET_MOVED),
            (GetStatus::OffsetTooSmall, 3, rsp::PULL_OFFSET_MOVED),
            (GetStatus::NoMessageInQueue, 0, rsp::PULL_NOT_FOUND),
            (GetStatus::NoMessageInQueue, 3, rsp::PULL_OFFSET_MOVED),
            (GetStatus::NoMatchedLogicQueue, 0, rsp::PULL_NOT_FOUND),
            (GetStatus::NoMatchedLogicQueue, 1, rsp::PULL_OFFSET_MOVED),
        ];
        for (status, offset, code) in cases {
            assert_eq!(
                response_code(status, offset),
                code,
                "{status:?} at {offset}"
            );
        }
    }

    #[test]
    fn long_polling_holds_exactly_the_not_found_answers() {
        use GetStatus::*;
        let all = [
            Found,
            NoMatchedMessage,
            MessageWasRemoving,
            OffsetFoundNull,
            OffsetOverflowBadly,
            OffsetOverflowOne,
            OffsetTooSmall,
            NoMatchedLogicQueue,
            NoMessageInQueue,
        ];
        for status in all {
            for offset in [0u64, 1, 7] {
                let not_found = response_code(status, offset as i64) == rsp::PULL_NOT_FOUND;
                assert_eq!(
                    crate::shard::is_not_found(status, offset),
                    not_found,
                    "{status:?} at {offset}"
                );
            }
        }
    }

    #[test]
    fn a_slave_never_moves_the_consumer() {
        use GetStatus::*;
        // (status, request offset, the master's nextBeginOffset, the slave's answer)
        let cases = [
            (Found, 5, 9, (rsp::SUCCESS, 9)),
            (NoMatchedMessage, 5, 9, (rsp::PULL_RETRY_IMMEDIATELY, 9)),
            (MessageWasRemoving, 5, 9, (rsp::PULL_RETRY_IMMEDIATELY, 9)),
            (OffsetOverflowOne, 5, 5, (rsp::PULL_NOT_FOUND, 5)),
            (OffsetFoundNull, 5, 64, (rsp::PULL_NOT_FOUND, 5)),
            // Ahead of a slave that lags: wait there, not at its max.
            (
                OffsetOverflowBadly,
                90,
                70,
                (rsp::PULL_RETRY_IMMEDIATELY, 90),
            ),
            (OffsetTooSmall, 2, 10, (rsp::PULL_RETRY_IMMEDIATELY, 2)),
            (OffsetTooSmall, -1, 0, (rsp::PULL_RETRY_IMMEDIATELY, -1)),
            (NoMessageInQueue, 0, 0, (rsp::PULL_NOT_FOUND, 0)),
            (NoMessageInQueue, 7, 0, (rsp::PULL_RETRY_IMMEDIATELY, 7)),
            (NoMatchedLogicQueue, 3, 0, (rsp::PULL_RETRY_IMMEDIATELY, 3)),
        ];
        for (status, offset, next, want) in cases {
            let master = (response_code(status, offset), next);
            assert_eq!(
                on_slave(status, offset, master),
                want,
                "{status:?} at {offset}"
            );
        }
    }

    #[test]
    fn negative_offsets_move_to_the_queue_min() {
        let cases = [
            // (bounds, status, nextBeginOffset)
            ((0, 0), GetStatus::NoMessageInQueue, 0),
            ((0, 5), GetStatus::OffsetTooSmall, 0),
            ((3, 9), GetStatus::OffsetTooSmall, 3),
        ];
        for (bounds, status, next) in cases {
            let r = below_every_offset(bounds);
            assert_eq!(
                (r.status, r.next_begin_offset),
                (status, next),
                "{bounds:?}"
            );
            assert_eq!((r.min_offset, r.max_offset), bounds);
            assert_eq!(response_code(r.status, -1), rsp::PULL_OFFSET_MOVED);
            assert_eq!(response_code(r.status, i64::MIN), rsp::PULL_OFFSET_MOVED);
        }
    }
}
