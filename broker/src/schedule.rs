//! Delivers delayed messages: for each delay level whose schedule queue this
//! shard owns, a task reads the queue in order and re-stores each message
//! into its real topic once `store time + delay(level)` has passed. Within a
//! level, store times only grow, so the head of the queue is always the next
//! due message. Progress per level is kept in `BrokerShared` and persisted
//! with the consumer offsets; after a crash the last few may be delivered
//! twice (at least once), never lost.

use std::rc::Rc;
use std::time::Duration;

use bolide_proto::ids::ShardId;
use bolide_proto::message::RecordView;
use bolide_store::pull::GetStatus;
use bolide_store::store::GetRequest;

use crate::delay::{delay_ms, from_schedule, MAX_LEVEL, SCHEDULE_TOPIC};
use crate::shard::{wall_clock_ms, Shard};

/// Longest sleep between checks of a level's queue.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Wait after a failed delivery before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Scheduled messages read per batch.
const BATCH: u32 = 32;

/// Starts the scheduler of every level this shard owns.
pub fn spawn_schedulers(shard: &Rc<Shard>) {
    for level in 1..=MAX_LEVEL {
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
/// to wait before looking again.
async fn deliver_due(shard: &Rc<Shard>, level: u32) -> Duration {
    let queue = level - 1;
    let mut offset = shard.shared.delay_offset(level);
    let req = GetRequest {
        topic: SCHEDULE_TOPIC,
        queue_id: queue,
        offset,
        max_count: BATCH,
        max_bytes: 4 << 20,
        tag_codes: None,
    };
    let got = match shard.store.get_messages(&req).await {
        Ok(got) => got,
        Err(_) => return RETRY_AFTER,
    };
    match got.status {
        GetStatus::Found => {}
        GetStatus::OffsetTooSmall => {
            shard.shared.set_delay_offset(level, got.next_begin_offset);
            return Duration::ZERO;
        }
        _ => return IDLE_POLL,
    }
    for record in bolide_proto::message::records(&got.messages).flatten() {
        let due_ms = record.store_timestamp() + delay_ms(level) as i64;
        let now_ms = wall_clock_ms();
        if due_ms > now_ms {
            return Duration::from_millis((due_ms - now_ms) as u64).min(IDLE_POLL);
        }
        if !deliver(shard, &record).await {
            return RETRY_AFTER;
        }
        offset = record.queue_offset().0 + 1;
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
