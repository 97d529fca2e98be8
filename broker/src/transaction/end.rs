//! END_TRANSACTION (37): a producer's verdict on a half message, after its
//! local transaction or in answer to a check. Checks as RocketMQ's
//! `EndTransactionProcessor` (SYSTEM_ERROR naming what is wrong: no half
//! message at the offset, another producer group, another queue offset;
//! ILLEGAL_OPERATION for a verdict outside the message's
//! `CHECK_IMMUNITY_TIME_IN_SECONDS` that is not a check's answer), then
//! commits (the real message, then the op entry) or rolls back (the op
//! entry). A verdict for a transaction already ended stores nothing: the
//! same verdict again answers SUCCESS, another one SYSTEM_ERROR.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use bolide_proto::codes::response_code as rsp;
use bolide_proto::header::transaction::{commit_or_rollback, EndTransactionRequestHeader};
use bolide_proto::ids::{GlobalOffset, ShardId};
use bolide_proto::message::{property, RecordView};
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;

use super::ops::{op_body, EndRefusal, Outcome};
use super::{check, committed, home_queue, op_message, pending_of, HALF_TOPIC, OP_TOPIC};
use crate::delay;
use crate::handler::{bad_request, error, store_error, success};
use crate::shard::Shard;

const NOT_FOUND: &str = "Find prepared transaction message failed";

pub async fn end_transaction<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    if !shard.shared.config.replication.role.is_master() {
        return error(
            rsp::SLAVE_NOT_AVAILABLE,
            "this broker is a slave: end transactions on its master",
        );
    }
    let h: EndTransactionRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(e),
    };
    let outcome = match h.commit_or_rollback {
        commit_or_rollback::COMMIT => Outcome::Committed,
        commit_or_rollback::ROLLBACK => Outcome::RolledBack,
        // The producer does not know yet: nothing changes, the checker asks
        // again later (RocketMQ logs it and does not answer).
        commit_or_rollback::NOT_TYPE => {
            return success().with_remark("state unknown: the broker will check back")
        }
        other => {
            return error(
                rsp::INVALID_PARAMETER,
                format!("commitOrRollback {other} is none of 0, 8, 12"),
            )
        }
    };
    let Some(offset) = GlobalOffset::from_wire(h.commit_log_offset) else {
        return error(rsp::SYSTEM_ERROR, NOT_FOUND);
    };
    let Ok(bytes) = shard.read_record(offset.shard(), offset.physical()).await else {
        return error(rsp::SYSTEM_ERROR, NOT_FOUND);
    };
    let Ok(half) = RecordView::parse(&bytes) else {
        return error(rsp::SYSTEM_ERROR, NOT_FOUND);
    };
    let policy = check::Policy::of(&shard.shared.config.transaction);
    if let Err(refusal) = validate(&half, &h, shard.clock.now_ms(), policy.timeout_ms) {
        return refusal;
    }
    end(shard, offset.shard(), &half, outcome).await
}

/// RocketMQ's `checkPrepareMessage` and `rejectCommitOrRollback`.
fn validate(
    half: &RecordView<'_>,
    h: &EndTransactionRequestHeader,
    now_ms: i64,
    timeout_ms: u64,
) -> Result<(), RemotingCommand> {
    if half.topic() != HALF_TOPIC {
        let why = format!(
            "{NOT_FOUND}: the message at commitLogOffset {} is not a half message",
            h.commit_log_offset
        );
        return Err(error(rsp::SYSTEM_ERROR, why));
    }
    let props = half.properties();
    if props.get(property::PRODUCER_GROUP) != Some(h.producer_group.as_str()) {
        return Err(error(rsp::SYSTEM_ERROR, "The producer group wrong"));
    }
    if half.queue_offset().0 as i64 != h.tran_state_table_offset {
        return Err(error(
            rsp::SYSTEM_ERROR,
            "The transaction state table offset wrong",
        ));
    }
    if half.physical_offset().0 as i64 != h.commit_log_offset {
        return Err(error(rsp::SYSTEM_ERROR, "The commit log offset wrong"));
    }
    let from_check = h.from_transaction_check.unwrap_or(false);
    if let (false, Some(immunity)) = (
        from_check,
        check::immunity_ms(props.get(super::CHECK_IMMUNITY)),
    ) {
        let age = now_ms.saturating_sub(half.born_timestamp());
        if age > 0 && age as u64 > immunity.max(timeout_ms) {
            return Err(error(
                rsp::ILLEGAL_OPERATION,
                "the verdict came after CHECK_IMMUNITY_TIME_IN_SECONDS: waiting for the check",
            ));
        }
    }
    Ok(())
}

/// Takes the transaction of `half` (stored on shard `home`) in its book and
/// stores `outcome`.
async fn end<S: Storage>(
    shard: &Rc<Shard<S>>,
    home: ShardId,
    half: &RecordView<'_>,
    outcome: Outcome,
) -> RemotingCommand {
    let books = &shard.shared.transactions;
    let copy = half.queue_offset().0;
    let (origin, _) = pending_of(half, copy);
    if let Err(refusal) = books.with(home, |b| b.begin_end(origin)) {
        return refused(home, refusal, outcome);
    }
    if outcome == Outcome::Committed {
        if let Err(response) = deliver(shard, half).await {
            books.with(home, |b| b.end_failed(origin));
            return response;
        }
    }
    let op_queue = home_queue(OP_TOPIC, home, shard.shard_count);
    let op = op_message(
        op_body(origin, copy),
        op_queue,
        shard.store_host,
        shard.clock.now_ms(),
    );
    if let Err(e) = shard.append(home, vec![op]).await {
        if outcome == Outcome::RolledBack {
            books.with(home, |b| b.end_failed(origin));
            return store_error(e);
        }
        // Delivered already: resolved for this process's life; after a
        // restart the checker asks the producer again.
        tracing::error!(shard = home.0, origin, error = %e,
            "committed a transaction but could not store its op entry");
    }
    books.with(home, |b| b.ended(origin, outcome));
    success()
}

/// Stores the committed message in its real topic and queue (through the
/// schedule topic if it asks for a delay level, as RocketMQ's store does
/// for a commit).
async fn deliver<S: Storage>(
    shard: &Rc<Shard<S>>,
    half: &RecordView<'_>,
) -> Result<(), RemotingCommand> {
    let Some(mut msg) = committed(half) else {
        return Err(error(
            rsp::SYSTEM_ERROR,
            "the half message lacks REAL_TOPIC / REAL_QID",
        ));
    };
    let levels = &shard.shared.delay_levels;
    if let Some(level) =
        delay::requested_level(bolide_proto::message::Properties(&msg.properties), levels)
    {
        msg = delay::to_schedule(msg, level, levels);
    }
    let owner = shard.owner(&msg.topic, msg.queue_id);
    // A sync master's wait for its slave may time out; the message is
    // stored either way and RocketMQ answers SUCCESS too.
    match shard.send(owner, vec![msg]).await {
        Ok(_) => {
            shard.shared.put_total.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(store_error(e)),
    }
}

/// The answer when the book cannot take the transaction.
fn refused(home: ShardId, refusal: EndRefusal, asked: Outcome) -> RemotingCommand {
    match refusal {
        EndRefusal::Loading => error(
            rsp::SERVICE_NOT_AVAILABLE,
            format!(
                "shard {home} is still recovering its transactions; the broker will check back"
            ),
        ),
        EndRefusal::Ending => error(
            rsp::SYSTEM_BUSY,
            "another END_TRANSACTION for this transaction is under way",
        ),
        EndRefusal::Ended(Some(done)) if done == asked => {
            success().with_remark(format!("already {}", done.describe()))
        }
        EndRefusal::Ended(Some(done)) => error(
            rsp::SYSTEM_ERROR,
            format!("the transaction was already {}", done.describe()),
        ),
        EndRefusal::Ended(None) => error(
            rsp::SYSTEM_ERROR,
            "the transaction of this half message has already ended",
        ),
    }
}
