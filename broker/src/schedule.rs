//! Delivers delayed messages: for each delay level whose schedule queue this
//! shard owns, a task reads the queue in order and re-stores each message
//! into its real topic once its delivery time (the tag code of its unit:
//! store time + the delay its level had when it was stored) has passed.
//! Within a level, delivery times only grow, so the head of the queue is
//! always the next due message. Progress per level is kept in `BrokerShared`
//! and written by its persister within a second; after a crash the last
//! second's deliveries may be repeated (at least once), never lost.
//!
//! Invariant: nothing blocks a level forever. A delivery that fails for
//! good (the real topic refuses the message: bad name, too large; or the
//! scheduled record is unreadable) moves the message aside — into the
//! dead-letter topic of the group whose retry it was, when that topic can
//! exist, else it is dropped with one error line — and the level moves on.
//! Only failures that can pass (disk full, store unavailable, I/O) hold the
//! level, retried with exponential backoff. Log lines are rate-limited per
//! level ([`LogLimiter`]).

use std::rc::{Rc, Weak};
use std::time::Duration;

use bolide_proto::consume_queue::CqUnit;
use bolide_proto::delay::SCHEDULE_TOPIC;
use bolide_proto::message::{NewMessage, RecordView};
use bolide_store::io::Storage;
use bolide_store::store::ShardStore;
use bolide_store::StoreError;
use bolide_transport::rt::{self, JoinHandle};

use crate::delay::from_schedule;
use crate::shard::Shard;
use crate::topics::{dlq_topic, validate_topic_name, RETRY_TOPIC_PREFIX};

/// Longest sleep between checks of a level's queue.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Scheduled messages read per batch.
const BATCH: u64 = 32;
/// Wait after the first transient failure; doubles with each further one.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest wait between tries after transient failures.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Log lines one limiter lets through per window.
pub const LOG_BURST: u32 = 5;
/// The limiter's window.
pub const LOG_WINDOW_MS: u64 = 60_000;

/// True when trying again cannot help: the message or the record is bad,
/// not the store's state (disk full, unavailable and I/O errors can pass).
pub fn is_permanent(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::MessageIllegal(_) | StoreError::Corrupt { .. }
    )
}

/// Wait before the next try after `failures` (≥ 1) transient failures in a row.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_MIN.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

/// Where a message its real topic refuses goes instead: the dead-letter
/// topic of the group whose retry topic it was, if that name is valid.
pub fn dead_letter_topic(real_topic: &str) -> Option<String> {
    let group = real_topic.strip_prefix(RETRY_TOPIC_PREFIX)?;
    let dlq = dlq_topic(group);
    validate_topic_name(&dlq).ok().map(|()| dlq)
}

/// Bounds a stream of log lines: at most [`LOG_BURST`] per
/// [`LOG_WINDOW_MS`]; the lines held back are counted and reported with the
/// next line let through. Time is passed in.
#[derive(Debug, Default)]
pub struct LogLimiter {
    window_start_ms: u64,
    lines: u32,
    suppressed: u64,
}

impl LogLimiter {
    /// `Some(n)` when a line may be written now, `n` lines having been held
    /// back since the last one written; `None` to hold this one back.
    pub fn admit(&mut self, now_ms: u64) -> Option<u64> {
        if self.lines == 0 || now_ms.saturating_sub(self.window_start_ms) >= LOG_WINDOW_MS {
            self.window_start_ms = now_ms;
            self.lines = 0;
        }
        if self.lines >= LOG_BURST {
            self.suppressed += 1;
            return None;
        }
        self.lines += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// What became of one due message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Delivered,
    /// Its real topic refused it for good; stored in `dlq` instead.
    MovedAside {
        dlq: String,
        why: String,
    },
    /// Undeliverable, and nowhere to move it.
    Dropped(String),
    /// Failed for now: try again later.
    Retry(String),
}

/// One level's failure streak and log limiters.
#[derive(Debug)]
struct LevelState {
    level: u32,
    failures: u32,
    problems: LogLimiter,
    retries: LogLimiter,
}

impl LevelState {
    fn new(level: u32) -> Self {
        LevelState {
            level,
            failures: 0,
            problems: LogLimiter::default(),
            retries: LogLimiter::default(),
        }
    }

    /// A transient failure at queue offset `offset`: how long to wait.
    fn failed(&mut self, now_ms: u64, offset: u64, why: &str) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let wait = backoff(self.failures);
        if let Some(suppressed) = self.retries.admit(now_ms) {
            tracing::warn!(level = self.level, offset, failures = self.failures, retry_in = ?wait,
                suppressed, error = why, "delivering a delayed message failed; will retry");
        }
        wait
    }

    /// The message at `offset` is settled (delivered or put aside).
    fn settled(&mut self, now_ms: u64, offset: u64, outcome: &Outcome) {
        if self.failures > 0 {
            tracing::info!(
                level = self.level,
                failures = self.failures,
                "delayed delivery resumed"
            );
            self.failures = 0;
        }
        let level = self.level;
        match outcome {
            Outcome::MovedAside { dlq, why } => {
                if let Some(suppressed) = self.problems.admit(now_ms) {
                    tracing::warn!(level, offset, dlq = %dlq, suppressed, reason = %why,
                        "delayed message undeliverable; moved to the dead-letter topic");
                }
            }
            Outcome::Dropped(why) => {
                if let Some(suppressed) = self.problems.admit(now_ms) {
                    tracing::error!(level, offset, suppressed, reason = %why,
                        "delayed message undeliverable and no dead-letter topic; dropped");
                }
            }
            Outcome::Delivered | Outcome::Retry(_) => {}
        }
    }
}

/// Starts the scheduler of every level this shard owns (masters only).
pub fn spawn_schedulers<S: Storage>(shard: &Rc<Shard<S>>) {
    // The runtime calls this once on every shard thread as it starts: the
    // hook that lets the config persister make its last pass at shutdown.
    shard.shared.attach_shard_thread();
    // A slave's log is a copy of its master's: the master delivers, and
    // the slave follows its progress (`crate::replica::follow`), as
    // RocketMQ starts the schedule service on masters only.
    if !shard.shared.config.replication.role.is_master() {
        return;
    }
    spawn_level_schedulers(shard);
}

/// Starts the scheduler of every level this shard owns; their handles (a
/// simulation cancels them when the broker "dies").
pub fn spawn_level_schedulers<S: Storage>(shard: &Rc<Shard<S>>) -> Vec<JoinHandle<()>> {
    let levels = 1..=shard.shared.delay_levels.count();
    levels
        .filter(|level| shard.owner(SCHEDULE_TOPIC, level - 1) == shard.id)
        .map(|level| rt::spawn_local(run_level(Rc::downgrade(shard), level)).detach())
        .collect()
}

/// Holds its shard only while delivering, so a stopped shard is not kept
/// alive by a sleeping scheduler.
async fn run_level<S: Storage>(shard: Weak<Shard<S>>, level: u32) {
    let mut state = LevelState::new(level);
    loop {
        let Some(strong) = shard.upgrade() else {
            return;
        };
        let wait = deliver_due(&strong, &mut state).await;
        let sleep = strong.clock.sleep(wait);
        drop(strong);
        sleep.await;
    }
}

/// Delivers what is due at the head of the level's queue; returns how long
/// to wait before looking again. Units carry their delivery time, so only
/// due messages are read from the log.
async fn deliver_due<S: Storage>(shard: &Rc<Shard<S>>, state: &mut LevelState) -> Duration {
    let (level, queue) = (state.level, state.level - 1);
    let store = shard.store();
    let mut offset = start_offset(shard, level, &store);
    let units = match store
        .queue_units(SCHEDULE_TOPIC, queue, offset, BATCH)
        .await
    {
        Ok(units) if units.is_empty() => return IDLE_POLL,
        Ok(units) => units,
        Err(e) => return state.failed(shard.clock.monotonic_ms(), offset, &e.to_string()),
    };
    for unit in units {
        let now_ms = shard.clock.now_ms();
        if unit.tags_code > now_ms {
            return Duration::from_millis((unit.tags_code - now_ms) as u64).min(IDLE_POLL);
        }
        match handle_unit(shard, unit).await {
            Outcome::Retry(why) => return state.failed(shard.clock.monotonic_ms(), offset, &why),
            outcome => state.settled(shard.clock.monotonic_ms(), offset, &outcome),
        }
        offset += 1;
        shard.shared.set_delay_offset(level, offset);
    }
    Duration::ZERO
}

/// Where the level's queue is to be read from: its stored offset, kept
/// inside the queue's bounds. A crash the flush mode does not cover can
/// cut the queue below the (separately persisted) offset; reading on from
/// there would skip the messages that reuse the cut positions, so the
/// offset is corrected to the queue's end, as RocketMQ's
/// `correctDelayOffset` does.
fn start_offset<S: Storage>(shard: &Shard<S>, level: u32, store: &ShardStore<S>) -> u64 {
    let queue = level - 1;
    let (min, max) = store.queue_bounds(SCHEDULE_TOPIC, queue).unwrap_or((0, 0));
    let stored = shard.shared.delay_offset(level);
    let offset = stored.clamp(min, max.max(min));
    if stored > offset {
        tracing::warn!(
            level,
            stored,
            max,
            "delay offset past the end of its queue (log cut by a crash); corrected"
        );
        shard.shared.set_delay_offset(level, offset);
    }
    offset
}

/// Reads one due scheduled record and delivers it.
async fn handle_unit<S: Storage>(shard: &Rc<Shard<S>>, unit: CqUnit) -> Outcome {
    let bytes = match shard.store().read_record(unit.physical_offset).await {
        Ok(bytes) => bytes,
        Err(e) if is_permanent(&e) => return Outcome::Dropped(format!("unreadable record: {e}")),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let record = match RecordView::parse(&bytes) {
        Ok(record) => record,
        Err(e) => return Outcome::Dropped(format!("unreadable record: {e}")),
    };
    match from_schedule(record.to_new_message()) {
        Some(msg) => deliver(shard, msg).await,
        None => Outcome::Dropped("its REAL_TOPIC / REAL_QID properties are missing".into()),
    }
}

/// Re-stores a due message in its real topic, or moves it aside when that
/// topic refuses it for good.
async fn deliver<S: Storage>(shard: &Rc<Shard<S>>, msg: NewMessage) -> Outcome {
    let real_topic = msg.topic.clone();
    let refused = match validate_topic_name(&real_topic) {
        Err(why) => why,
        // A clone: the message is needed again if the topic refuses it.
        Ok(()) => match store_in(shard, msg.clone()).await {
            Ok(()) => return Outcome::Delivered,
            Err(e) if is_permanent(&e) => e.to_string(),
            Err(e) => return Outcome::Retry(e.to_string()),
        },
    };
    let why = format!("{real_topic} refuses it: {refused}");
    match dead_letter_topic(&real_topic) {
        Some(dlq) => move_aside(shard, msg, dlq, why).await,
        None => Outcome::Dropped(why),
    }
}

/// Stores a message its real topic refused in the dead-letter topic `dlq`.
async fn move_aside<S: Storage>(
    shard: &Rc<Shard<S>>,
    mut msg: NewMessage,
    dlq: String,
    why: String,
) -> Outcome {
    let created = shard
        .shared
        .topics()
        .ensure_single_queue(&dlq, shard.clock.now_ms());
    match created {
        Ok(true) => shard.shared.topics_changed(),
        Ok(false) => {}
        Err(_) => return Outcome::Dropped(why),
    }
    // The DLQ's config is on disk before a message is moved into it.
    if shard.shared.topics().is_unpersisted(&dlq) {
        let outcome = shard.persist_now().await;
        if shard.shared.topics().is_unpersisted(&dlq) {
            let e = outcome.err().unwrap_or_else(|| "still pending".into());
            return Outcome::Retry(format!("{dlq} config not persisted: {e}"));
        }
    }
    msg.topic = dlq.clone();
    msg.queue_id = 0;
    match store_in(shard, msg).await {
        Ok(()) => Outcome::MovedAside { dlq, why },
        Err(e) if is_permanent(&e) => Outcome::Dropped(format!("{why}; {dlq} refuses it too: {e}")),
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

async fn store_in<S: Storage>(shard: &Rc<Shard<S>>, msg: NewMessage) -> Result<(), StoreError> {
    let owner = shard.owner(&msg.topic, msg.queue_id);
    shard.append(owner, vec![msg]).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bad_messages_and_records_are_permanent_failures() {
        let permanent = [
            StoreError::MessageIllegal("bad topic name".into()),
            StoreError::corrupt("record", "crc"),
        ];
        let transient = [
            StoreError::DiskFull {
                used_permille: 990,
                limit_permille: 950,
            },
            StoreError::Unavailable("closed".into()),
            StoreError::io("flush", &std::io::Error::other("EIO")),
        ];
        assert!(permanent.iter().all(is_permanent));
        assert!(!transient.iter().any(is_permanent));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn refused_retries_go_to_their_group_dlq_when_it_can_exist() {
        assert_eq!(dead_letter_topic("%RETRY%CG").as_deref(), Some("%DLQ%CG"));
        // The DLQ prefix is 2 bytes shorter: a 121-byte group's retry
        // topic is too long, its DLQ is not.
        let long = "g".repeat(121);
        assert_eq!(
            dead_letter_topic(&format!("%RETRY%{long}")),
            Some(format!("%DLQ%{long}"))
        );
        assert_eq!(dead_letter_topic("%RETRY%bad.group"), None);
        assert_eq!(dead_letter_topic("UserTopic"), None, "no group to hold it");
    }

    #[test]
    fn log_limiter_lets_a_burst_through_per_window_and_counts_the_rest() {
        let mut l = LogLimiter::default();
        let admitted: Vec<_> = (0..8).map(|i| l.admit(1_000 + i)).collect();
        assert_eq!(&admitted[..5], [Some(0); 5]);
        assert_eq!(&admitted[5..], [None; 3]);
        assert_eq!(l.admit(1_000 + LOG_WINDOW_MS - 1), None);
        assert_eq!(
            l.admit(1_000 + LOG_WINDOW_MS),
            Some(4),
            "held-back lines reported"
        );
        assert_eq!(l.admit(1_000 + LOG_WINDOW_MS + 1), Some(0));
    }

    #[test]
    fn settling_ends_a_failure_streak() {
        let mut s = LevelState::new(3);
        assert_eq!(s.failed(0, 7, "disk full"), Duration::from_secs(1));
        assert_eq!(s.failed(10, 7, "disk full"), Duration::from_secs(2));
        s.settled(20, 7, &Outcome::Dropped("bad topic".into()));
        assert_eq!(s.failures, 0);
        assert_eq!(s.failed(30, 8, "busy"), Duration::from_secs(1));
    }
}
