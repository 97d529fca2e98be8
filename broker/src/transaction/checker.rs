//! The per-shard transaction task (masters only): rebuilds the shard's book
//! from its log at start, then every `check_interval_ms` checks back the
//! half messages [`super::check`] finds due, at most [`MAX_PER_TICK`] per
//! tick (in origin order, each tick's scan of the book bounded and resumed
//! by the next, `ops::Book::due`), so a backlog never holds the shard's
//! executor. Time comes from the broker's clock, which also paces the
//! ticks.
//!
//! A check re-puts the half message as a copy with its check count, then
//! sends CHECK_TRANSACTION_STATE about the copy to one live connection of
//! the producer group (the one that heartbeated last), as RocketMQ counts
//! a check whether or not a producer was there to ask. A discard moves the
//! half message to `TRANS_CHECK_MAX_TIME_TOPIC`, writes its op entry and
//! logs it. A transaction whose half message the log no longer holds
//! (retention deleted its segment) or cannot read is dropped with an error
//! line: nothing is left to deliver, and retrying would only repeat the
//! failure every tick.

use std::rc::Rc;
use std::time::Duration;

use bolide_proto::ids::GlobalOffset;
use bolide_proto::message::RecordView;
use bolide_store::io::Storage;
use bolide_store::StoreError;
use bolide_transport::rt;

use super::check::{Action, Policy};
use super::ops::{op_body, DueCheck, Outcome, Recovery};
use super::{
    check_copy, check_request, home_queue, op_message, pending_of, to_check_max, CHECK_MAX_TOPIC,
    HALF_TOPIC, OP_TOPIC,
};
use crate::schedule::{backoff, is_permanent, LogLimiter};
use crate::shard::Shard;

/// Most checks and discards one tick of one shard makes.
pub const MAX_PER_TICK: usize = 64;
/// Consume-queue units read per batch while rebuilding the book.
const RECOVERY_BATCH: u64 = 64;

/// Starts the shard's transaction task (masters only: a slave's log is a
/// copy, and its master resolves the transactions).
pub fn spawn_checker<S: Storage>(shard: &Rc<Shard<S>>) {
    if !shard.shared.config.replication.role.is_master() {
        return;
    }
    rt::spawn_local(run(shard.clone())).detach();
}

async fn run<S: Storage>(shard: Rc<Shard<S>>) {
    recover(&shard).await;
    let interval = Duration::from_millis(shard.shared.config.transaction.check_interval_ms);
    let mut log = LogLimiter::default();
    loop {
        shard.clock.sleep(interval).await;
        tick(&shard, &mut log).await;
    }
}

/// Rebuilds the book, retrying after store failures, then opens it to
/// END_TRANSACTION.
async fn recover<S: Storage>(shard: &Rc<Shard<S>>) {
    let mut failures = 0;
    loop {
        match rebuild(shard).await {
            Ok(()) => break,
            Err(e) => {
                failures += 1;
                tracing::warn!(shard = shard.id.0, error = %e, "rebuilding transactions failed; retrying");
                shard.clock.sleep(backoff(failures)).await;
            }
        }
    }
    let pending = shard.shared.transactions.with(shard.id, |b| {
        b.set_loaded();
        b.pending_count()
    });
    if pending > 0 {
        tracing::info!(
            shard = shard.id.0,
            pending,
            "unresolved transactions recovered"
        );
    }
}

/// Reads the op queue, then the half queue, into the book.
async fn rebuild<S: Storage>(shard: &Rc<Shard<S>>) -> Result<(), StoreError> {
    let mut recovery = Recovery::default();
    let op_queue = home_queue(OP_TOPIC, shard.id, shard.shard_count);
    for_each_record(shard, OP_TOPIC, op_queue, |_, record| {
        recovery.op_entry(record.body());
    })
    .await?;
    let half_queue = home_queue(HALF_TOPIC, shard.id, shard.shard_count);
    let books = &shard.shared.transactions;
    let skip = |offset: u64| recovery.is_named(offset);
    for_each_unskipped(shard, HALF_TOPIC, half_queue, skip, |offset, record| {
        let (origin, pending) = pending_of(record, offset);
        if recovery.is_unresolved(origin) {
            books.with(shard.id, |b| b.half_stored(origin, pending));
        }
    })
    .await
}

async fn for_each_record<S: Storage>(
    shard: &Rc<Shard<S>>,
    topic: &str,
    queue: u32,
    visit: impl FnMut(u64, &RecordView<'_>),
) -> Result<(), StoreError> {
    for_each_unskipped(shard, topic, queue, |_| false, visit).await
}

/// Visits each record of a local queue whose offset `skip` refuses, in
/// batches with pauses between; unreadable records are logged and skipped.
async fn for_each_unskipped<S: Storage>(
    shard: &Rc<Shard<S>>,
    topic: &str,
    queue: u32,
    skip: impl Fn(u64) -> bool,
    mut visit: impl FnMut(u64, &RecordView<'_>),
) -> Result<(), StoreError> {
    let store = shard.store();
    let (mut at, end) = store.queue_bounds(topic, queue).unwrap_or((0, 0));
    while at < end {
        let units = store.queue_units(topic, queue, at, RECOVERY_BATCH).await?;
        if units.is_empty() {
            break;
        }
        for (i, unit) in units.iter().enumerate() {
            let offset = at + i as u64;
            if skip(offset) {
                continue;
            }
            let bytes = store.read_record(unit.physical_offset).await?;
            match RecordView::parse(&bytes) {
                Ok(record) => visit(offset, &record),
                Err(e) => tracing::warn!(shard = shard.id.0, topic, offset, error = %e,
                    "unreadable transaction record skipped"),
            }
        }
        at += units.len() as u64;
        shard.let_others_run().await;
    }
    Ok(())
}

/// One round of checks and discards.
async fn tick<S: Storage>(shard: &Rc<Shard<S>>, log: &mut LogLimiter) {
    let policy = Policy::of(&shard.shared.config.transaction);
    let now_ms = shard.clock.now_ms();
    let books = &shard.shared.transactions;
    let due = books.with(shard.id, |b| b.due(now_ms, &policy, MAX_PER_TICK));
    for d in due {
        let result = match read_latest(shard, &d).await {
            Ok(bytes) => act(shard, &d, &bytes).await,
            Err(e) if is_permanent(&e) => {
                forget(shard, &d, &e.to_string());
                continue;
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = result {
            books.with(shard.id, |b| b.check_failed(d.origin));
            if let Some(suppressed) = log.admit(shard.clock.monotonic_ms()) {
                tracing::warn!(shard = shard.id.0, origin = d.origin, suppressed, error = %why,
                    "transaction check failed; retrying at the next tick");
            }
        }
    }
}

/// Checks or discards one due transaction, given its newest copy's bytes.
async fn act<S: Storage>(shard: &Rc<Shard<S>>, d: &DueCheck, bytes: &[u8]) -> Result<(), String> {
    let half = match RecordView::parse(bytes) {
        Ok(half) => half,
        Err(e) => {
            forget(shard, d, &e.to_string());
            return Ok(());
        }
    };
    match d.action {
        Action::Check => check_one(shard, d, &half).await,
        Action::Discard => discard(shard, d, &half).await,
    }
}

/// A half message the log no longer holds (retention deleted its segment,
/// as RocketMQ's `needSkip` gives up on one older than the retention) or
/// cannot read: nothing is left to deliver, so its transaction ends.
fn forget<S: Storage>(shard: &Rc<Shard<S>>, d: &DueCheck, why: &str) {
    let books = &shard.shared.transactions;
    books.with(shard.id, |b| b.ended(d.origin, Outcome::Discarded));
    tracing::error!(shard = shard.id.0, origin = d.origin, group = %d.pending.group, error = why,
        "half message unreadable or gone from the log; its transaction is dropped");
}

/// The record of a transaction's newest copy (on this shard).
async fn read_latest<S: Storage>(
    shard: &Rc<Shard<S>>,
    d: &DueCheck,
) -> Result<Vec<u8>, StoreError> {
    let offset = GlobalOffset(d.pending.latest_physical).physical();
    shard.store().read_record(offset).await
}

/// Re-puts the half message with one check more, then asks its producer
/// group about the copy.
async fn check_one<S: Storage>(
    shard: &Rc<Shard<S>>,
    d: &DueCheck,
    half: &RecordView<'_>,
) -> Result<(), String> {
    let copy = check_copy(half, d.origin, d.pending.check_times + 1);
    let stored = shard
        .append(shard.id, vec![copy])
        .await
        .map_err(|e| e.to_string())?;
    let r = stored.first().ok_or("the store returned no result")?;
    let stamp = (r.queue_offset.0, r.global_offset.0, r.store_timestamp_ms);
    let books = &shard.shared.transactions;
    let Some(updated) = books.with(shard.id, |b| b.checked(d.origin, stamp)) else {
        return Ok(()); // an END took it meanwhile
    };
    let bytes = shard
        .store()
        .read_record(r.physical_offset)
        .await
        .map_err(|e| e.to_string())?;
    let copy = RecordView::parse(&bytes).map_err(|e| e.to_string())?;
    let command = check_request(&copy).ok_or("the half message lacks REAL_TOPIC / REAL_QID")?;
    let Some(conn) = shard.shared.groups().producer_conn(&updated.group) else {
        tracing::debug!(shard = shard.id.0, group = %updated.group, origin = d.origin,
            "no live producer of the group to check a transaction with");
        return Ok(());
    };
    tracing::debug!(shard = shard.id.0, group = %updated.group, origin = d.origin,
        checks = updated.check_times, "checking a transaction");
    let shard = shard.clone();
    // Sent from its own task: a slow client never holds up the tick.
    rt::spawn_local(async move { shard.notify(conn.shard, conn.conn_id, command).await }).detach();
    Ok(())
}

/// Gives up on a transaction checked `check_max` times: moves the half
/// message aside, then writes its op entry.
async fn discard<S: Storage>(
    shard: &Rc<Shard<S>>,
    d: &DueCheck,
    half: &RecordView<'_>,
) -> Result<(), String> {
    let books = &shard.shared.transactions;
    if books.with(shard.id, |b| b.begin_end(d.origin)).is_err() {
        return Ok(()); // an END took it meanwhile
    }
    let result = move_aside(shard, d, half).await;
    match &result {
        Ok(()) => {
            books.with(shard.id, |b| b.ended(d.origin, Outcome::Discarded));
            tracing::warn!(shard = shard.id.0, origin = d.origin, group = %d.pending.group,
                checks = d.pending.check_times,
                "transaction never resolved; half message discarded into {CHECK_MAX_TOPIC}");
        }
        Err(_) => books.with(shard.id, |b| b.end_failed(d.origin)),
    }
    result
}

async fn move_aside<S: Storage>(
    shard: &Rc<Shard<S>>,
    d: &DueCheck,
    half: &RecordView<'_>,
) -> Result<(), String> {
    let created = shard
        .shared
        .topics()
        .ensure_single_queue(CHECK_MAX_TOPIC, shard.clock.now_ms());
    if created == Ok(true) {
        shard.shared.topics_changed();
    }
    let msg = to_check_max(half);
    let owner = shard.owner(&msg.topic, msg.queue_id);
    shard
        .append(owner, vec![msg])
        .await
        .map_err(|e| e.to_string())?;
    let op_queue = home_queue(OP_TOPIC, shard.id, shard.shard_count);
    let body = op_body(d.origin, d.pending.latest_offset);
    let op = op_message(body, op_queue, shard.store_host, shard.clock.now_ms());
    shard
        .append(shard.id, vec![op])
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
