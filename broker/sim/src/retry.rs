//! Retry topics, the way a RocketMQ push consumer uses them: a message the
//! application fails to consume is sent back (CONSUMER_SEND_MSG_BACK, delay
//! level 0 so the broker picks 3 + reconsumeTimes), comes back through the
//! schedule topic into `%RETRY%<group>`, and after [`MAX_RECONSUME`]
//! failures goes to `%DLQ%<group>` instead.
//!
//! The consumers read both topics as side queues next to the main topic's:
//! [`RETRY_Q`] and [`DLQ_Q`] stand for queue 0 of each (one queue, as the
//! broker creates them), owned by consumer 0.

use bolide_proto::codes::request_code;
use bolide_proto::delay::DelayLevels;
use bolide_proto::header::client::ConsumerSendMsgBackRequestHeader;
use bolide_proto::message::{property, RecordView};
use bolide_proto::RemotingCommand;

use crate::clients::{GROUP, TOPIC};
use crate::ledger::{Ledger, MessageKey};

pub const RETRY_TOPIC: &str = "%RETRY%SimGroup";
pub const DLQ_TOPIC: &str = "%DLQ%SimGroup";
/// The send-back's `maxReconsumeTimes`: the third failure goes to the DLQ.
pub const MAX_RECONSUME: i32 = 2;
/// The side queues' numbers in a consumer's cursors (never a real queue).
pub const RETRY_Q: u32 = 1 << 30;
pub const DLQ_Q: u32 = RETRY_Q + 1;
/// Gives up on a send-back the broker refused this many times (its offset
/// may hold nothing any more after a cut; a full disk refuses for a while).
pub const SEND_BACK_TRIES: u32 = 50;

/// The topic and real queue a cursor's queue number stands for.
pub fn topic_of(queue: u32) -> (&'static str, u32) {
    match queue {
        RETRY_Q => (RETRY_TOPIC, 0),
        DLQ_Q => (DLQ_TOPIC, 0),
        q => (TOPIC, q),
    }
}

/// Whether the application fails on `key`'s delivery number
/// `reconsume_times`: one message in ten on its first delivery, another
/// one in ten every time (so it ends in the DLQ).
pub fn fails(key: MessageKey, reconsume_times: i32) -> bool {
    key.seq % 10 == 5 || (key.seq % 10 == 0 && reconsume_times == 0)
}

/// The id a producer gives `key` (its UNIQ_KEY property).
pub fn uniq_key(key: MessageKey) -> String {
    format!("SIM{:04}{:012}", key.producer, key.seq)
}

/// How long the broker holds a message sent back for the `times`-th time
/// (its new reconsumeTimes) with delay level 0: level 3 + times − 1.
pub fn retry_delay_ms(times: i32) -> u64 {
    let levels = DelayLevels::default();
    levels.delay_ms(levels.clamp(2 + times.max(1) as u32))
}

/// A failed delivery to send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendBack {
    pub key: MessageKey,
    /// Its commit-log offset, as pulled.
    pub offset: i64,
    /// The reconsumeTimes it will have once sent back.
    pub times: i32,
    /// Cuts of the log when it was read (a later cut may reuse its offset).
    pub cuts: u32,
    pub tries: u32,
}

impl SendBack {
    /// The send-back for `record` of `key` if the application fails on it.
    pub fn of(key: MessageKey, record: &RecordView<'_>, cuts: u32) -> Option<SendBack> {
        let times = record.reconsume_times();
        fails(key, times).then(|| SendBack {
            key,
            offset: record.physical_offset().0 as i64,
            times: times + 1,
            cuts,
            tries: 0,
        })
    }

    pub fn request(&self) -> RemotingCommand {
        let header = ConsumerSendMsgBackRequestHeader {
            offset: self.offset,
            group: GROUP.into(),
            delay_level: 0,
            origin_msg_id: Some(uniq_key(self.key)),
            origin_topic: Some(TOPIC.into()),
            unit_mode: Some(false),
            max_reconsume_times: Some(MAX_RECONSUME),
        };
        RemotingCommand::request(request_code::CONSUMER_SEND_MSG_BACK).with_header(&header)
    }
}

/// Checks and records the records of a FOUND answer from a side queue
/// (`queue`: [`RETRY_Q`] or [`DLQ_Q`]); the last offset, and what the
/// application fails on again.
pub fn read_side(
    ledger: &mut Ledger,
    now: u64,
    cuts: u32,
    queue: u32,
    first: u64,
    mut rest: &[u8],
) -> Result<(u64, Vec<SendBack>), String> {
    let mut expected = first;
    let mut again = Vec::new();
    while !rest.is_empty() {
        let record = RecordView::parse(rest).map_err(|e| format!("bad record: {e}"))?;
        let offset = record.queue_offset().0;
        if offset != expected || record.queue_id() != 0 {
            return Err(format!(
                "record {}/{offset} where 0/{expected} was due",
                record.queue_id()
            ));
        }
        let key = MessageKey::parse(record.body()).map_err(|e| format!("at {offset}: {e}"))?;
        let props = record.properties();
        let names = [
            property::UNIQ_KEY,
            property::ORIGIN_MESSAGE_ID,
            property::RETRY_TOPIC,
        ];
        let ids = names.map(|p| props.get(p));
        let id = uniq_key(key);
        // After a cut, an offset sent back may hold another message by then:
        // the copy is of that one, under the id the consumer named.
        let origin = if cuts > 0 { ids[1] } else { Some(id.as_str()) };
        if ids != [Some(id.as_str()), origin, Some(TOPIC)] {
            return Err(format!("{key:?} at {offset} came back with ids {ids:?}"));
        }
        let times = record.reconsume_times();
        ledger.came_back(key, times, queue == DLQ_Q, now, cuts)?;
        if queue == RETRY_Q {
            again.extend(SendBack::of(key, &record, cuts));
        }
        rest = &rest[record.total_size()..];
        expected += 1;
    }
    if expected == first {
        return Err("FOUND with no record".into());
    }
    Ok((expected - 1, again))
}
