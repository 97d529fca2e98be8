//! Pull lookups: the store-side status of a `getMessage` and its offsets
//! (remoting.md §7.1). Pure: the classification of the request offset
//! against the queue bounds, and the scan limits.

/// Store lookup status; the broker maps it to a response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    Found,
    NoMatchedMessage,
    MessageWasRemoving,
    OffsetFoundNull,
    OffsetOverflowBadly,
    OffsetOverflowOne,
    OffsetTooSmall,
    NoMatchedLogicQueue,
    NoMessageInQueue,
}

impl GetStatus {
    /// RocketMQ's name of the status (used as the response remark).
    pub fn as_str(self) -> &'static str {
        match self {
            GetStatus::Found => "FOUND",
            GetStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
            GetStatus::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
            GetStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
            GetStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
            GetStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
            GetStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
            GetStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
            GetStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
        }
    }
}

/// Units scanned per pull when a tag filter may skip many of them.
pub const MAX_FILTER_SCAN_UNITS: u64 = 800;
/// Default pull limits in RocketMQ (in-memory transfer limits).
pub const DEFAULT_MAX_COUNT: u32 = 32;
pub const DEFAULT_MAX_BYTES: u32 = 256 << 10;

/// The answer when the request offset alone decides it; `None` means scan.
/// `bounds` is `None` when the queue does not exist. Returns the status and
/// `nextBeginOffset`.
pub fn classify(bounds: Option<(u64, u64)>, offset: u64) -> Option<(GetStatus, u64)> {
    let Some((min, max)) = bounds else {
        return Some((GetStatus::NoMatchedLogicQueue, 0));
    };
    if max == 0 {
        return Some((GetStatus::NoMessageInQueue, 0));
    }
    if offset < min {
        return Some((GetStatus::OffsetTooSmall, min));
    }
    if offset == max {
        return Some((GetStatus::OffsetOverflowOne, offset));
    }
    if offset > max {
        return Some((GetStatus::OffsetOverflowBadly, max));
    }
    None
}

/// How many units to scan from `offset` for a pull of `max_count`.
pub fn scan_units(offset: u64, max: u64, max_count: u32, filtered: bool) -> u64 {
    let budget = if filtered {
        MAX_FILTER_SCAN_UNITS.max(max_count as u64)
    } else {
        max_count as u64
    };
    budget.min(max.saturating_sub(offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use GetStatus::*;

    #[test]
    fn classification_table() {
        type Case = (Option<(u64, u64)>, u64, Option<(GetStatus, u64)>);
        let cases: &[Case] = &[
            (None, 5, Some((NoMatchedLogicQueue, 0))),
            (Some((0, 0)), 0, Some((NoMessageInQueue, 0))),
            (Some((0, 0)), 3, Some((NoMessageInQueue, 0))),
            (Some((10, 20)), 5, Some((OffsetTooSmall, 10))),
            (Some((10, 20)), 20, Some((OffsetOverflowOne, 20))),
            (Some((10, 20)), 25, Some((OffsetOverflowBadly, 20))),
            (Some((10, 20)), 10, None),
            (Some((10, 20)), 19, None),
        ];
        for (bounds, off, want) in cases {
            assert_eq!(classify(*bounds, *off), *want, "{bounds:?} {off}");
        }
    }

    #[test]
    fn scan_budget() {
        assert_eq!(scan_units(0, 100, 32, false), 32);
        assert_eq!(scan_units(90, 100, 32, false), 10);
        assert_eq!(scan_units(0, 10_000, 32, true), 800);
        assert_eq!(Found.as_str(), "FOUND");
    }
}
