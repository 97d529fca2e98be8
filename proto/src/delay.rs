//! Delay levels (remoting.md §6.3): the level table in RocketMQ's
//! `messageDelayLevel` notation, the schedule topic, and the tag code its
//! consume-queue units carry.
//!
//! A message sent with `DELAY` = L > 0 is stored in `SCHEDULE_TOPIC_XXXX`
//! queue L−1. As in RocketMQ, that queue's units hold the delivery time
//! (store time + the delay of L, in ms) where other queues hold the tag
//! hash, so the scheduler knows when each message is due from the queue
//! alone, and a message keeps the delay that was configured when it was
//! stored.

use crate::message::{property, Properties};

/// Topic holding delayed messages, one queue per level.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// RocketMQ's default `messageDelayLevel`.
pub const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// Most levels a table may have (RocketMQ's schedule topic has one queue
/// per level; this keeps that topic a sane size).
pub const MAX_DELAY_LEVELS: usize = 64;

/// The delay of each level, level 1 first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayLevels(Vec<u64>);

impl Default for DelayLevels {
    fn default() -> Self {
        Self::parse(DEFAULT_DELAY_LEVELS).expect("the default table parses")
    }
}

impl DelayLevels {
    /// Parses `"1s 5s 10s 30s 1m ... 2h"`: whitespace-separated durations
    /// with unit `s`, `m`, `h` or `d`, each above zero.
    pub fn parse(text: &str) -> Result<Self, String> {
        let levels = text
            .split_whitespace()
            .map(parse_duration_ms)
            .collect::<Result<Vec<_>, _>>()?;
        match levels.len() {
            0 => Err("no delay levels".into()),
            n if n > MAX_DELAY_LEVELS => Err(format!(
                "{n} delay levels; at most {MAX_DELAY_LEVELS} are allowed"
            )),
            _ => Ok(Self(levels)),
        }
    }

    /// Number of levels (the schedule topic's queue count).
    pub fn count(&self) -> u32 {
        self.0.len() as u32
    }

    /// `level` clamped to the table (levels are 1-based).
    pub fn clamp(&self, level: u32) -> u32 {
        level.clamp(1, self.count())
    }

    /// The delay of `level` (clamped to the table).
    pub fn delay_ms(&self, level: u32) -> u64 {
        self.0[(self.clamp(level) - 1) as usize]
    }

    /// The tag code of a schedule-topic unit: when the message is due.
    /// The level comes from the record's `DELAY` property, else from its
    /// queue (queue L−1 holds level L).
    pub fn deliver_at_ms(&self, props: Properties<'_>, queue_id: u32, store_ms: i64) -> i64 {
        let level = props
            .get(property::DELAY)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(queue_id.saturating_add(1));
        store_ms.saturating_add(self.delay_ms(level) as i64)
    }
}

fn parse_duration_ms(token: &str) -> Result<u64, String> {
    let bad = || format!("bad delay {token:?}: expected a number with unit s, m, h or d");
    let split = token.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = token.split_at(split);
    let scale = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 => n.checked_mul(scale).ok_or_else(bad),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_is_rocketmqs() {
        let d = DelayLevels::default();
        assert_eq!(d.count(), 18);
        assert_eq!(d.delay_ms(1), 1_000);
        assert_eq!(d.delay_ms(3), 10_000);
        assert_eq!(d.delay_ms(5), 60_000);
        assert_eq!(d.delay_ms(18), 7_200_000);
        assert_eq!(d.delay_ms(0), 1_000, "clamped up");
        assert_eq!(d.delay_ms(99), 7_200_000, "clamped down");
    }

    #[test]
    fn custom_tables_and_their_errors() {
        let d = DelayLevels::parse(" 2s  90m\t1d ").unwrap();
        assert_eq!(d.count(), 3);
        assert_eq!(d.delay_ms(2), 5_400_000);
        assert_eq!(d.delay_ms(3), 86_400_000);
        for bad in ["", "   ", "1x", "s", "0s", "-1s", "1.5s", "5"] {
            assert!(DelayLevels::parse(bad).is_err(), "{bad:?} is refused");
        }
        let too_many = vec!["1s"; MAX_DELAY_LEVELS + 1].join(" ");
        assert!(DelayLevels::parse(&too_many)
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn schedule_units_carry_the_delivery_time() {
        let d = DelayLevels::default();
        let props = "DELAY\u{1}3\u{2}REAL_TOPIC\u{1}T\u{2}";
        assert_eq!(d.deliver_at_ms(Properties(props), 2, 1_000), 11_000);
        // Without the property the queue tells the level.
        assert_eq!(d.deliver_at_ms(Properties(""), 0, 1_000), 2_000);
        assert_eq!(
            d.deliver_at_ms(Properties("DELAY\u{1}x\u{2}"), 4, 0),
            60_000
        );
    }
}
