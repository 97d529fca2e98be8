//! Transactional messages (remoting.md §4.8), as RocketMQ's broker does
//! them, per shard.
//!
//! * **Half message.** A send with `TRAN_MSG=true` (or the prepared
//!   `sysFlag`) is stored invisibly in `RMQ_SYS_TRANS_HALF_TOPIC` with its
//!   destination in `REAL_TOPIC`/`REAL_QID`, `__transactionId__` = its
//!   `UNIQ_KEY`, and the transaction bits of `sysFlag` cleared
//!   (`TransactionalMessageBridge.parseHalfMessageInner`). The answer names
//!   the half record (offset message id, half-queue offset) and the real
//!   queue: a producer's END_TRANSACTION quotes exactly those.
//! * **END_TRANSACTION** ([`end`]): commit re-stores the message in its
//!   real topic and queue (keeping its `UNIQ_KEY`, so consumers see the
//!   producer's id); rollback stores nothing; both then append an op entry
//!   (`RMQ_SYS_TRANS_OP_HALF_TOPIC`, tag `d`, body = the finished half-queue
//!   offsets, [`ops`]).
//! * **Check-back** ([`checker`]): each shard's task asks a live connection
//!   of the producer group about half messages left unresolved too long
//!   ([`check`]), re-putting each checked one with its check count (which
//!   is how the count survives a restart), and discards one checked
//!   `check_max` times into `TRANS_CHECK_MAX_TIME_TOPIC`.
//!
//! **Sharding.** A half message lives on the shard that owns its real
//! queue, so a commit appends where the half message is: shard k's half
//! queue is the queue of `RMQ_SYS_TRANS_HALF_TOPIC` that [`crate::router`]
//! places on shard k ([`home_queue`]; queue 0 with one shard, as in
//! RocketMQ), and likewise for the op topic. The offset message id of a
//! half message carries its shard (`GlobalOffset`), so an END arriving on
//! any connection finds it. Each shard keeps its own book ([`ops::Book`]),
//! rebuilt at start from its own log: op entries first, then the half
//! messages they do not name. Until that is done the shard answers
//! END_TRANSACTION with SERVICE_NOT_AVAILABLE (the producer's check-back
//! answer comes again). The rebuild reads every op entry and every
//! unresolved half record the log retains.
//!
//! **Durability.** A commit appends the real message first and the op entry
//! after it, so a crash can leave a committed message with no op entry
//! (checked again after restart; a producer answering COMMIT again gets a
//! second copy, RocketMQ's at-least-once window) but never an op entry for
//! a commit that was lost.

pub mod check;
pub mod checker;
pub mod end;
pub mod half;
pub mod ops;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use bolide_proto::codes::request_code as req;
use bolide_proto::header::transaction::CheckTransactionStateRequestHeader;
use bolide_proto::ids::{GlobalOffset, QueueId, ShardId};
use bolide_proto::message::{
    property, sysflag, AppendStamp, NewMessage, Properties, PropertiesBuilder, RecordView,
};
use bolide_proto::msgid::OffsetMsgId;
use bolide_proto::RemotingCommand;
use bytes::{Bytes, BytesMut};

pub use checker::spawn_checker;
use ops::{Book, Busy, Pending};

/// Where half messages wait (`TopicValidator.RMQ_SYS_TRANS_HALF_TOPIC`).
pub const HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// The op log (`TopicValidator.RMQ_SYS_TRANS_OP_HALF_TOPIC`).
pub const OP_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Where half messages checked too often go (`TopicValidator`).
pub const CHECK_MAX_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// Tag of op entries (`TransactionalMessageUtil.REMOVE_TAG`).
pub const REMOVE_TAG: &str = "d";
/// Checks made so far (`MessageConst.PROPERTY_TRANSACTION_CHECK_TIMES`).
pub const CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// A copy's origin (`MessageConst.PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET`).
pub const PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// First-check delay of one message, seconds.
pub const CHECK_IMMUNITY: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";

/// Every shard's book, each behind its own lock: the checker of shard k
/// and END_TRANSACTION requests arriving on any shard's connections share
/// it. Critical sections are map operations; no lock is held across I/O.
#[derive(Debug, Default)]
pub struct Books {
    books: Mutex<BTreeMap<u16, Book>>,
}

impl Books {
    /// Runs `f` on shard `shard`'s book.
    pub fn with<R>(&self, shard: ShardId, f: impl FnOnce(&mut Book) -> R) -> R {
        let mut books = self.books.lock().unwrap_or_else(|p| p.into_inner());
        f(books.entry(shard.0).or_default())
    }
}

/// The queue of `topic` that the router places on `shard`: the home of that
/// shard's half (or op) queue.
pub fn home_queue(topic: &str, shard: ShardId, shard_count: u16) -> u32 {
    let found = (0..shard_count.max(1) as u32)
        .find(|q| crate::router::shard_for(topic, QueueId(*q), shard_count) == shard);
    debug_assert!(found.is_some(), "shard {shard} of {shard_count}");
    found.unwrap_or(0)
}

/// Whether a send is a half message. RocketMQ keys on `TRAN_MSG`; the
/// prepared `sysFlag` counts too, since a record stored with it in a real
/// topic would be delivered here (RocketMQ's store would hide it forever).
/// A retry of a pre-4.6.1 client carries both `TRAN_MSG` and a delay and is
/// not one (`SendMessageProcessor`).
pub fn is_half(props: Properties<'_>, sys_flag: i32, reconsume_times: i32) -> bool {
    let [tran, delay] = props.get_many([property::TRAN_MSG, property::DELAY]);
    let marked = tran.is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || sys_flag & sysflag::TRANSACTION_MASK == sysflag::TRANSACTION_PREPARED;
    let old_retry = reconsume_times > 0 && delay.is_some_and(|d| d.trim() != "0");
    marked && !old_retry
}

/// The half message stored for `msg` in half queue `half_queue`.
pub fn to_half(mut msg: NewMessage, half_queue: u32) -> NewMessage {
    let props = Properties(&msg.properties);
    let mut b = PropertiesBuilder::from_properties(props);
    // Bookkeeping of the broker's own: a producer cannot set it.
    b.remove(CHECK_TIMES).remove(PREPARED_QUEUE_OFFSET);
    if let Some(uniq) = props.get(property::UNIQ_KEY) {
        let _ = b.set(property::TRANSACTION_ID, uniq);
    }
    let _ = b.set(property::REAL_TOPIC, &msg.topic);
    let _ = b.set(property::REAL_QID, &msg.queue_id.to_string());
    msg.properties = b.build();
    msg.sys_flag &= !sysflag::TRANSACTION_MASK;
    msg.topic = HALF_TOPIC.to_owned();
    msg.queue_id = half_queue;
    msg
}

/// The real message of a half record, as a commit stores it
/// (`EndTransactionProcessor.endMessageTransaction`): real topic and
/// queue, commit `sysFlag`, the half's offset as prepared-transaction
/// offset, without the half-only properties. `None` if the record lacks
/// its destination.
pub fn committed(half: &RecordView<'_>) -> Option<NewMessage> {
    let mut msg = with_destination(half)?;
    let mut b = PropertiesBuilder::from_properties(half.properties());
    b.remove(property::REAL_TOPIC)
        .remove(property::REAL_QID)
        .remove(property::TRAN_MSG)
        .remove(PREPARED_QUEUE_OFFSET);
    msg.properties = b.build();
    msg.sys_flag = (msg.sys_flag & !sysflag::TRANSACTION_MASK) | sysflag::TRANSACTION_COMMIT;
    msg.prepared_transaction_offset = half.physical_offset().0 as i64;
    Some(msg)
}

/// `half` with its real topic and queue (what a check shows the producer).
fn with_destination(half: &RecordView<'_>) -> Option<NewMessage> {
    let [topic, queue] = half
        .properties()
        .get_many([property::REAL_TOPIC, property::REAL_QID]);
    let mut msg = half.to_new_message();
    msg.topic = topic?.to_owned();
    msg.queue_id = queue?.trim().parse().ok()?;
    Some(msg)
}

/// The copy a check re-puts: the same half message with its check count
/// and its origin.
pub fn check_copy(half: &RecordView<'_>, origin: u64, check_times: u32) -> NewMessage {
    let mut msg = half.to_new_message();
    let mut b = PropertiesBuilder::from_properties(half.properties());
    let _ = b.set(CHECK_TIMES, &check_times.to_string());
    let _ = b.set(PREPARED_QUEUE_OFFSET, &origin.to_string());
    msg.properties = b.build();
    msg
}

/// A half message moved aside after too many checks
/// (`DefaultTransactionalMessageCheckListener.toMessageExtBrokerInner`).
pub fn to_check_max(half: &RecordView<'_>) -> NewMessage {
    let mut msg = half.to_new_message();
    msg.topic = CHECK_MAX_TOPIC.to_owned();
    msg.queue_id = 0;
    msg
}

/// An op entry finishing `body`'s offsets, in op queue `op_queue`.
pub fn op_message(body: String, op_queue: u32, store_host: SocketAddr, now_ms: i64) -> NewMessage {
    let mut props = PropertiesBuilder::new();
    let _ = props.set(property::TAGS, REMOVE_TAG);
    NewMessage {
        topic: OP_TOPIC.to_owned(),
        queue_id: op_queue,
        flag: 0,
        sys_flag: 0,
        born_timestamp: now_ms,
        born_host: store_host,
        store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::from(body),
        properties: props.build(),
    }
}

/// What the book records of a stored half record (or copy) at half-queue
/// offset `offset`: its origin and its pending state.
pub fn pending_of(half: &RecordView<'_>, offset: u64) -> (u64, Pending) {
    let props = half.properties();
    let [origin, times, immunity, group] = props.get_many([
        PREPARED_QUEUE_OFFSET,
        CHECK_TIMES,
        CHECK_IMMUNITY,
        property::PRODUCER_GROUP,
    ]);
    let origin = origin.and_then(|o| o.parse().ok()).unwrap_or(offset);
    let check_times: u32 = times.and_then(|t| t.parse().ok()).unwrap_or(0);
    let pending = Pending {
        latest_offset: offset,
        latest_physical: half.physical_offset().0,
        born_ms: half.born_timestamp(),
        last_check_ms: (check_times > 0).then(|| half.store_timestamp()),
        check_times,
        immunity_ms: check::immunity_ms(immunity),
        group: group.unwrap_or_default().to_owned(),
        busy: Busy::Idle,
    };
    (origin, pending)
}

/// CHECK_TRANSACTION_STATE (oneway) about the copy `half`, as
/// `AbstractTransactionalMessageCheckListener.sendCheckMessage` builds it:
/// header fields as strings (the C++ client reads only strings), body =
/// the record with its real topic and queue.
pub fn check_request(half: &RecordView<'_>) -> Option<RemotingCommand> {
    let shown = with_destination(half)?;
    let stamp = AppendStamp {
        queue_offset: half.queue_offset(),
        physical_offset: half.physical_offset(),
        store_timestamp: half.store_timestamp(),
    };
    let mut body = BytesMut::with_capacity(shown.encoded_len());
    shown.encode(stamp, &mut body).ok()?;
    let uniq = half.properties().get(property::UNIQ_KEY).map(str::to_owned);
    let header = CheckTransactionStateRequestHeader {
        topic: Some(HALF_TOPIC.to_owned()),
        tran_state_table_offset: half.queue_offset().0 as i64,
        commit_log_offset: half.physical_offset().0 as i64,
        msg_id: uniq.clone(),
        transaction_id: uniq,
        offset_msg_id: Some(offset_msg_id(half.store_host(), half.physical_offset())),
    };
    let mut cmd = RemotingCommand::request(req::CHECK_TRANSACTION_STATE).with_header(&header);
    cmd.body = body.freeze();
    cmd.mark_oneway();
    Some(cmd)
}

fn offset_msg_id(store_host: SocketAddr, offset: GlobalOffset) -> String {
    OffsetMsgId { store_host, offset }.encode()
}

#[cfg(test)]
mod tests;
