//! Delay levels (remoting.md §6.3): a message with `DELAY` = L > 0 is stored
//! in `SCHEDULE_TOPIC_XXXX` queue L−1 with its real topic and queue kept in
//! properties, and re-stored into them once `store time + delay(L)` has
//! passed (see [`crate::schedule`]). Pure: level table, the two message
//! transformations, and the retry level rule.

use bolide_proto::message::{property, NewMessage, Properties, PropertiesBuilder};

/// Topic holding delayed messages, one queue per level.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// RocketMQ's default `messageDelayLevel`, in milliseconds.
pub const LEVEL_DELAYS_MS: [u64; 18] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000,
    480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];

/// Number of delay levels.
pub const MAX_LEVEL: u32 = LEVEL_DELAYS_MS.len() as u32;

/// The delay of `level` (1-based, clamped to the table).
pub fn delay_ms(level: u32) -> u64 {
    LEVEL_DELAYS_MS[(level.clamp(1, MAX_LEVEL) - 1) as usize]
}

/// The requested delay level of a message's properties, if any (> 0).
pub fn requested_level(props: Properties<'_>) -> Option<u32> {
    props
        .get(property::DELAY)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| (l as u32).min(MAX_LEVEL))
}

/// Level of the n-th retry when the consumer let the broker decide
/// (`delayLevel` 0): `3 + reconsumeTimes` (10 s, 30 s, 1 min, …).
pub fn retry_level(reconsume_times: i32) -> u32 {
    (3 + reconsume_times.max(0) as u32).min(MAX_LEVEL)
}

/// Redirects `msg` into the schedule topic for `level`.
pub fn to_schedule(mut msg: NewMessage, level: u32) -> NewMessage {
    let mut props = PropertiesBuilder::from_properties(Properties(&msg.properties));
    let _ = props.set(property::REAL_TOPIC, &msg.topic);
    let _ = props.set(property::REAL_QID, &msg.queue_id.to_string());
    let _ = props.set(property::DELAY, &level.to_string());
    msg.properties = props.build();
    msg.topic = SCHEDULE_TOPIC.to_owned();
    msg.queue_id = level.clamp(1, MAX_LEVEL) - 1;
    msg
}

/// The message to deliver once a scheduled one is due, or `None` when the
/// record lacks its real destination.
pub fn from_schedule(mut msg: NewMessage) -> Option<NewMessage> {
    let props = Properties(&msg.properties);
    let topic = props.get(property::REAL_TOPIC)?.to_owned();
    let queue = props.get(property::REAL_QID)?.parse::<u32>().ok()?;
    let mut rest = PropertiesBuilder::from_properties(props);
    rest.remove(property::REAL_TOPIC)
        .remove(property::REAL_QID)
        .remove(property::DELAY);
    msg.properties = rest.build();
    msg.topic = topic;
    msg.queue_id = queue;
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(props: &str) -> NewMessage {
        let host = "127.0.0.1:1".parse().unwrap();
        NewMessage {
            topic: "T".into(),
            queue_id: 3,
            flag: 0,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: host,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::from_static(b"b"),
            properties: props.into(),
        }
    }

    #[test]
    fn level_table_matches_rocketmq() {
        assert_eq!(delay_ms(1), 1_000);
        assert_eq!(delay_ms(3), 10_000);
        assert_eq!(delay_ms(18), 7_200_000);
        assert_eq!(delay_ms(99), 7_200_000);
        assert_eq!(retry_level(0), 3);
        assert_eq!(retry_level(1), 4);
        assert_eq!(retry_level(40), 18);
    }

    #[test]
    fn requested_levels_are_parsed_and_clamped() {
        assert_eq!(requested_level(Properties("DELAY\u{1}2\u{2}")), Some(2));
        assert_eq!(requested_level(Properties("DELAY\u{1}30\u{2}")), Some(18));
        assert_eq!(requested_level(Properties("DELAY\u{1}0\u{2}")), None);
        assert_eq!(requested_level(Properties("DELAY\u{1}x\u{2}")), None);
        assert_eq!(requested_level(Properties("")), None);
    }

    #[test]
    fn schedule_round_trip_restores_destination() {
        let delayed = to_schedule(msg("TAGS\u{1}a\u{2}DELAY\u{1}2\u{2}"), 2);
        assert_eq!(
            (delayed.topic.as_str(), delayed.queue_id),
            (SCHEDULE_TOPIC, 1)
        );
        let props = Properties(&delayed.properties);
        assert_eq!(props.get(property::REAL_TOPIC), Some("T"));
        assert_eq!(props.get(property::REAL_QID), Some("3"));
        let back = from_schedule(delayed).unwrap();
        assert_eq!((back.topic.as_str(), back.queue_id), ("T", 3));
        assert_eq!(back.properties, "TAGS\u{1}a\u{2}");
        assert!(from_schedule(msg("")).is_none());
    }
}
