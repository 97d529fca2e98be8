//! Client registration: HEART_BEAT (34), UNREGISTER_CLIENT (35),
//! GET_CONSUMER_LIST_BY_GROUP (38), and queue locks for orderly consumers
//! (LOCK_BATCH_MQ 41 / UNLOCK_BATCH_MQ 42). Membership changes are pushed to
//! the group's members as NOTIFY_CONSUMER_IDS_CHANGED so they rebalance at
//! once instead of at their next periodic rebalance.

use std::rc::Rc;

use bolide_client::remoting::Connection;
use bolide_proto::body::{
    ConsumerListByGroupResponseBody, HeartbeatData, JsonBody, LockBatchRequestBody,
    LockBatchResponseBody, UnlockBatchRequestBody,
};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::header::client::{
    GetConsumerListByGroupRequestHeader, NotifyConsumerIdsChangedRequestHeader,
    UnregisterClientRequestHeader,
};
use bolide_proto::RemotingCommand;

use super::{bad_request, error, success};
use crate::groups::{ConnRef, MembershipChange};
use crate::shard::{wall_clock_ms, Shard};
use crate::topics::retry_topic;

pub fn heartbeat(shard: &Rc<Shard>, conn: &Connection, req: &RemotingCommand) -> RemotingCommand {
    let hb = match HeartbeatData::decode(&req.body) {
        Ok(hb) => hb,
        Err(e) => return bad_request(e),
    };
    for consumer in &hb.consumer_data_set {
        // Auto-creates the group's settings on first sight (when allowed).
        let _ = shard.shared.subscription_group(&consumer.group_name);
    }
    let mut created = false;
    {
        let mut topics = shard.shared.topics();
        for consumer in &hb.consumer_data_set {
            // A group whose name makes no valid retry topic (`cpp.group`)
            // still consumes; it cannot retry, and send-back says why.
            created |= topics
                .ensure_single_queue(&retry_topic(&consumer.group_name), wall_clock_ms())
                .unwrap_or(false);
        }
    }
    if created {
        shard.shared.topics_changed();
    }
    let conn_ref = ConnRef {
        shard: shard.id.0,
        conn_id: conn.id(),
    };
    let changes = shard
        .shared
        .groups()
        .heartbeat(&hb, conn_ref, shard.now_ms());
    notify_changes(shard, changes);
    success()
}

pub fn unregister(shard: &Rc<Shard>, req: &RemotingCommand) -> RemotingCommand {
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

pub fn consumer_list(shard: &Rc<Shard>, req: &RemotingCommand) -> RemotingCommand {
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

pub fn lock_batch(shard: &Rc<Shard>, req: &RemotingCommand) -> RemotingCommand {
    let body = match LockBatchRequestBody::decode(&req.body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let locked = shard.shared.locks().lock(
        &body.consumer_group,
        &body.client_id,
        &body.mq_set,
        shard.now_ms(),
    );
    success().with_body(
        LockBatchResponseBody {
            lock_ok_mq_set: locked,
        }
        .encode(),
    )
}

pub fn unlock_batch(shard: &Rc<Shard>, req: &RemotingCommand) -> RemotingCommand {
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
pub fn notify_changes(shard: &Rc<Shard>, changes: Vec<MembershipChange>) {
    for change in changes {
        for member in change.notify {
            let header = NotifyConsumerIdsChangedRequestHeader {
                consumer_group: change.group.clone(),
            };
            let command =
                RemotingCommand::request(req::NOTIFY_CONSUMER_IDS_CHANGED).with_header(&header);
            let shard = shard.clone();
            glommio::spawn_local(async move {
                shard.notify(member.shard, member.conn_id, command).await
            })
            .detach();
        }
    }
}
