//! Storing a half message (the send side of a transaction): on the shard
//! that owns its real queue, in that shard's half queue, registered in the
//! shard's book before the producer hears of it.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use bolide_proto::codes::response_code as rsp;
use bolide_proto::header::send::{SendMessageResponseHeader, DEFAULT_REGION};
use bolide_proto::message::{property, NewMessage, Properties};
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;

use super::ops::{Busy, Pending};
use super::{check, home_queue, to_half, CHECK_IMMUNITY, HALF_TOPIC};
use crate::handler::send::sent_response;
use crate::handler::{error, store_error};
use crate::shard::{Sent, Shard};

/// Stores `msg` (already completed for its real topic and queue) as a half
/// message and answers the send as RocketMQ does: the half record's offset
/// message id and queue offset, the real queue id, and the `UNIQ_KEY` as
/// transaction id.
pub async fn send_half<S: Storage>(shard: &Rc<Shard<S>>, msg: NewMessage) -> RemotingCommand {
    let owner = shard.owner(&msg.topic, msg.queue_id);
    let books = &shard.shared.transactions;
    if books.with(owner, |b| b.is_full()) {
        return error(
            rsp::SERVICE_NOT_AVAILABLE,
            format!("shard {owner} holds too many unresolved half messages; end some first"),
        );
    }
    let real_queue = msg.queue_id;
    let uniq = Properties(&msg.properties)
        .get(property::UNIQ_KEY)
        .map(str::to_owned);
    let half = to_half(msg, home_queue(HALF_TOPIC, owner, shard.shard_count));
    let mut pending = pending_of_sent(&half);
    let Sent {
        results,
        replicated,
    } = match shard.send(owner, vec![half]).await {
        Ok(sent) => sent,
        Err(e) => return store_error(e),
    };
    let Some(stored) = results.first() else {
        return error(rsp::SYSTEM_ERROR, "the store returned no result");
    };
    let origin = stored.queue_offset.0;
    pending.latest_offset = origin;
    pending.latest_physical = stored.global_offset.0;
    books.with(owner, |b| b.half_stored(origin, pending));
    shard.shared.put_total.fetch_add(1, Ordering::Relaxed);
    let header = SendMessageResponseHeader {
        msg_id: bolide_proto::msgid::OffsetMsgId {
            store_host: shard.store_host,
            offset: stored.global_offset,
        }
        .encode(),
        queue_id: real_queue as i32,
        queue_offset: stored.queue_offset.0 as i64,
        transaction_id: uniq,
        batch_uniq_id: None,
        msg_region: Some(DEFAULT_REGION.to_owned()),
        trace_on: Some(true),
    };
    sent_response(replicated).with_header(&header)
}

/// What the book records of a half message about to be stored (its own
/// origin, never checked; as [`super::pending_of`] reads it back from the
/// record), its offsets still to be filled in.
pub(super) fn pending_of_sent(half: &NewMessage) -> Pending {
    let [group, immunity] =
        Properties(&half.properties).get_many([property::PRODUCER_GROUP, CHECK_IMMUNITY]);
    Pending {
        latest_offset: 0,
        latest_physical: 0,
        born_ms: half.born_timestamp,
        last_check_ms: None,
        check_times: 0,
        immunity_ms: check::immunity_ms(immunity),
        group: group.unwrap_or_default().to_owned(),
        busy: Busy::Idle,
    }
}
