//! Which unresolved half messages are due for a check-back. Pure: the
//! rules of RocketMQ's `TransactionalMessageServiceImpl.check`, time
//! passed in.
//!
//! * Age counts from the producer's born timestamp, as in RocketMQ. A half
//!   message is first checked once older than `timeout_ms`, or than its
//!   `CHECK_IMMUNITY_TIME_IN_SECONDS` when that is longer
//!   (`TransactionalMessageUtil.getImmunityTime`). One born "in the
//!   future" (a producer clock ahead of ours) is checked at once, as
//!   RocketMQ does, rather than waiting out the skew.
//! * Then once per `interval_ms` (RocketMQ checks each unresolved message
//!   once per run of its check service).
//! * After `check_max` checks the next due time discards it instead
//!   (`needDiscard`).

use super::ops::Pending;

/// The `[transaction]` settings the decisions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub timeout_ms: u64,
    pub interval_ms: u64,
    pub check_max: u32,
}

impl Policy {
    pub fn of(config: &crate::config::TransactionSection) -> Self {
        Policy {
            timeout_ms: config.timeout_ms,
            interval_ms: config.check_interval_ms,
            check_max: config.check_max,
        }
    }
}

/// What to do with a due half message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Ask its producer group (CHECK_TRANSACTION_STATE).
    Check,
    /// Checked `check_max` times already: give up on it.
    Discard,
}

/// `CHECK_IMMUNITY_TIME_IN_SECONDS` as milliseconds; `None` if absent or
/// not a number.
pub fn immunity_ms(property: Option<&str>) -> Option<u64> {
    let seconds: u64 = property?.trim().parse().ok()?;
    Some(seconds.saturating_mul(1000))
}

/// The action due for `p` at `now_ms`, if any.
pub fn decide(p: &Pending, now_ms: i64, policy: &Policy) -> Option<Action> {
    let age = now_ms.saturating_sub(p.born_ms);
    let wait = p.immunity_ms.unwrap_or(0).max(policy.timeout_ms);
    if age >= 0 && age as u64 <= wait {
        return None;
    }
    if let Some(last) = p.last_check_ms {
        let since = now_ms.saturating_sub(last);
        if since < 0 || (since as u64) < policy.interval_ms {
            return None;
        }
    }
    if p.check_times >= policy.check_max {
        Some(Action::Discard)
    } else {
        Some(Action::Check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::ops::Busy;

    fn pending(born_ms: i64, last: Option<i64>, checks: u32, immunity: Option<u64>) -> Pending {
        Pending {
            latest_offset: 0,
            latest_physical: 0,
            born_ms,
            last_check_ms: last,
            check_times: checks,
            immunity_ms: immunity,
            group: "PG".into(),
            busy: Busy::Idle,
        }
    }

    #[test]
    fn due_rules() {
        let policy = Policy {
            timeout_ms: 6_000,
            interval_ms: 60_000,
            check_max: 15,
        };
        let now = 1_000_000;
        let check = Some(Action::Check);
        // (born, last check, checks, immunity ms, expected)
        let cases = [
            (now - 6_000, None, 0, None, None),
            (now - 6_001, None, 0, None, check),
            (now + 5_000, None, 0, None, check),
            (now - 10_000, None, 0, Some(20_000), None),
            (now - 20_001, None, 0, Some(20_000), check),
            (now - 10_000, None, 0, Some(1_000), check),
            (now - 100_000, Some(now - 59_999), 3, None, None),
            (now - 100_000, Some(now - 60_000), 3, None, check),
            (now - 100_000, Some(now + 10), 3, None, None),
            (now - 100_000, Some(now - 60_000), 14, None, check),
            (
                now - 100_000,
                Some(now - 60_000),
                15,
                None,
                Some(Action::Discard),
            ),
            (now - 1_000, Some(now - 60_000), 15, None, None),
        ];
        for (born, last, checks, immunity, want) in cases {
            let p = pending(born, last, checks, immunity);
            assert_eq!(decide(&p, now, &policy), want, "{p:?}");
        }
    }

    #[test]
    fn immunity_property_is_seconds() {
        assert_eq!(immunity_ms(Some("12")), Some(12_000));
        assert_eq!(immunity_ms(Some(" 3 ")), Some(3_000));
        assert_eq!(immunity_ms(Some("-1")), None);
        assert_eq!(immunity_ms(Some("soon")), None);
        assert_eq!(immunity_ms(None), None);
    }
}
