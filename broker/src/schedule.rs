//! Delivers delayed messages: for each delay level whose schedule queue this
//! shard owns, a task reads the queue in order and re-stores each message
//! into its real topic once its delivery time (the tag code of its unit:
//! store time + the delay its level had when it was stored) has passed.
//! Within a level, delivery times only grow, so the head of the queue is
//! always the next due message. Progress per level is kept in `BrokerShared` and persisted
//! with the consumer offsets; after a crash the last few may be delivered
//! twice (at least once), never lost.

use std::rc::Rc;
use std::time::Duration;

use bolide_proto::delay::SCHEDULE_TOPIC;
use bolide_proto::ids::ShardId;
use bolide_proto::message::RecordView;

use crate::delay::from_schedule;
use crate::shard::{wall_clock_ms, Shard};

/// Longest sleep between checks of a level's queue.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Wait after a failed delivery before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Scheduled messages read per batch.
const BATCH: u64 = 32;

/// Starts the scheduler of every level this shard owns.
pub fn spawn_schedulers(shard: &Rc<Shard>) {
    for level in 1..=shard.shared.delay_levels.count() {
        if shard.owner(SCHEDULE_TOPIC, level - 1) == shard.id {
            glommio::spawn_local(run_level(shard.clone(), level)).detach();
        }
    }
}

async fn run_level(shard: Rc<Shard>, level: u32) {
    loop {
        let wait = deliver_due(&shard, level).await;
        glommio::timer::sleep(wait).await;
    }
}

/// Delivers what is due at the head of the level's queue; returns how long
/// to wait before looking again. Units carry their delivery time, so only
/// due messages are read from the log.
async fn deliver_due(shard: &Rc<Shard>, level: u32) -> Duration {
    let queue = level - 1;
    let store = &shard.store;
    let min = store.min_offset(SCHEDULE_TOPIC, queue);
    let mut offset = shard.shared.delay_offset(level).max(min);
    let units = match store
        .queue_units(SCHEDULE_TOPIC, queue, offset, BATCH)
        .await
    {
        Ok(units) if units.is_empty() => return IDLE_POLL,
        Ok(units) => units,
        Err(_) => return RETRY_AFTER,
    };
    for unit in units {
        let now_ms = wall_clock_ms();
        if unit.tags_code > now_ms {
            return Duration::from_millis((unit.tags_code - now_ms) as u64).min(IDLE_POLL);
        }
        let Ok(bytes) = store.read_record(unit.physical_offset).await else {
            return RETRY_AFTER;
        };
        match RecordView::parse(&bytes) {
            Ok(record) if !deliver(shard, &record).await => return RETRY_AFTER,
            Ok(_) => {}
            Err(e) => tracing::error!(offset, error = %e, "unreadable scheduled message skipped"),
        }
        offset += 1;
        shard.shared.set_delay_offset(level, offset);
    }
    Duration::ZERO
}

/// Re-stores one due message in its real topic; false to retry later.
async fn deliver(shard: &Rc<Shard>, record: &RecordView<'_>) -> bool {
    let Some(msg) = from_schedule(record.to_new_message()) else {
        tracing::warn!(offset = %record.physical_offset(), "scheduled message without its real topic dropped");
        return true;
    };
    let owner: ShardId = shard.owner(&msg.topic, msg.queue_id);
    match shard.append(owner, vec![msg]).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "delivering a delayed message failed; will retry");
            false
        }
    }
}
