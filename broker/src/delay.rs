//! Delay levels (remoting.md §6.3): a message with `DELAY` = L > 0 is stored
//! in `SCHEDULE_TOPIC_XXXX` queue L−1 with its real topic and queue kept in
//! properties, and re-stored into them once its delivery time (store time +
//! delay(L), the tag code of its consume-queue unit) has passed (see
//! [`crate::schedule`]). Pure: the two message transformations and the
//! level rules, over the configured table ([`DelayLevels`]).

use bolide_proto::delay::{DelayLevels, SCHEDULE_TOPIC};
use bolide_proto::message::{property, NewMessage, Properties, PropertiesBuilder};

/// The requested delay level of a message's properties, if any (> 0),
/// clamped to the table.
pub fn requested_level(props: Properties<'_>, levels: &DelayLevels) -> Option<u32> {
    props
        .get(property::DELAY)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| levels.clamp(l.min(u32::MAX as i64) as u32))
}

/// Level of the n-th retry when the consumer let the broker decide
/// (`delayLevel` 0): `3 + reconsumeTimes` (10 s, 30 s, 1 min, … with
/// RocketMQ's table).
pub fn retry_level(reconsume_times: i32, levels: &DelayLevels) -> u32 {
    levels.clamp(3u32.saturating_add(reconsume_times.max(0) as u32))
}

/// Redirects `msg` into the schedule topic for `level`.
pub fn to_schedule(mut msg: NewMessage, level: u32, levels: &DelayLevels) -> NewMessage {
    let level = levels.clamp(level);
    let mut props = PropertiesBuilder::from_properties(Properties(&msg.properties));
    let _ = props.set(property::REAL_TOPIC, &msg.topic);
    let _ = props.set(property::REAL_QID, &msg.queue_id.to_string());
    let _ = props.set(property::DELAY, &level.to_string());
    msg.properties = props.build();
    msg.topic = SCHEDULE_TOPIC.to_owned();
    msg.queue_id = level - 1;
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
    fn retry_levels_follow_the_table() {
        let d = DelayLevels::default();
        assert_eq!(retry_level(0, &d), 3);
        assert_eq!(retry_level(1, &d), 4);
        assert_eq!(retry_level(40, &d), 18);
        let short = DelayLevels::parse("1s 2s").unwrap();
        assert_eq!(retry_level(0, &short), 2, "clamped to a short table");
    }

    #[test]
    fn requested_levels_are_parsed_and_clamped() {
        let d = DelayLevels::default();
        let level = |p: &str| requested_level(Properties(p), &d);
        assert_eq!(level("DELAY\u{1}2\u{2}"), Some(2));
        assert_eq!(level("DELAY\u{1}30\u{2}"), Some(18));
        assert_eq!(level("DELAY\u{1}0\u{2}"), None);
        assert_eq!(level("DELAY\u{1}x\u{2}"), None);
        assert_eq!(level(""), None);
    }

    #[test]
    fn schedule_round_trip_restores_destination() {
        let d = DelayLevels::default();
        let delayed = to_schedule(msg("TAGS\u{1}a\u{2}DELAY\u{1}2\u{2}"), 2, &d);
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
