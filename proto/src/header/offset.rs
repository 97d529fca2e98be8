//! Consumer-offset and queue-offset headers, remoting.md §4.4–§4.5:
//! QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15),
//! GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), SEARCH_OFFSET_BY_TIMESTAMP
//! (29), GET_EARLIEST_MSG_STORETIME (32).

use crate::error::{ProtoError, Result};
use crate::ext::{ExtFields, FieldValue};
use crate::header::command_header;

command_header! {
    pub struct QueryConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        set_zero_if_not_found: Option<bool> = "setZeroIfNotFound",
    }
}

command_header! {
    /// Response of QUERY_CONSUMER_OFFSET, GET_MAX_OFFSET, GET_MIN_OFFSET and
    /// SEARCH_OFFSET_BY_TIMESTAMP: all carry one `offset`.
    pub struct OffsetResponseHeader {
        offset: i64 = "offset",
    }
}

/// Java's name for the QUERY_CONSUMER_OFFSET response.
pub type QueryConsumerOffsetResponseHeader = OffsetResponseHeader;
/// Java's name for the GET_MAX_OFFSET response.
pub type GetMaxOffsetResponseHeader = OffsetResponseHeader;
/// Java's name for the GET_MIN_OFFSET response.
pub type GetMinOffsetResponseHeader = OffsetResponseHeader;
/// Java's name for the SEARCH_OFFSET_BY_TIMESTAMP response.
pub type SearchOffsetResponseHeader = OffsetResponseHeader;

command_header! {
    pub struct UpdateConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        commit_offset: i64 = "commitOffset",
    }
}

command_header! {
    pub struct GetMaxOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        /// Java 5.x: only count committed (dispatched) entries.
        committed: Option<bool> = "committed",
    }
}

command_header! {
    pub struct GetMinOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
    }
}

command_header! {
    pub struct SearchOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        /// Store time to search for, ms.
        timestamp: i64 = "timestamp",
        /// Absent = lower.
        boundary_type: Option<BoundaryType> = "boundaryType",
    }
}

command_header! {
    pub struct GetEarliestMsgStoretimeRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
    }
}

command_header! {
    pub struct GetEarliestMsgStoretimeResponseHeader {
        timestamp: i64 = "timestamp",
    }
}

/// Which side of a timestamp a search resolves to (`BoundaryType.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum BoundaryType {
    /// First message stored at or after the timestamp.
    #[default]
    Lower,
    /// Last message stored at or before the timestamp.
    Upper,
}

impl BoundaryType {
    /// Wire name (`lower`/`upper`).
    pub fn name(self) -> &'static str {
        match self {
            BoundaryType::Lower => "lower",
            BoundaryType::Upper => "upper",
        }
    }
}

impl FieldValue for BoundaryType {
    fn read_field(raw: Option<&str>, name: &'static str) -> Result<Self> {
        let raw = raw.ok_or(ProtoError::MissingField(name))?;
        if raw.eq_ignore_ascii_case("lower") {
            Ok(BoundaryType::Lower)
        } else if raw.eq_ignore_ascii_case("upper") {
            Ok(BoundaryType::Upper)
        } else {
            Err(ProtoError::invalid(name, "expected \"lower\" or \"upper\""))
        }
    }

    fn write_field(&self, ext: &mut ExtFields, name: &'static str) {
        ext.insert(name, self.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::test_util::{assert_round_trip, ext};
    use crate::header::CommandHeader;

    #[test]
    fn boundary_type_parsing() {
        let cases = [
            (None, Ok(None)),
            (Some("lower"), Ok(Some(BoundaryType::Lower))),
            (Some("UPPER"), Ok(Some(BoundaryType::Upper))),
            (Some("middle"), Err(())),
        ];
        for (raw, want) in cases {
            let mut e = ext(&[("topic", "T"), ("queueId", "0"), ("timestamp", "5")]);
            if let Some(raw) = raw {
                e.insert("boundaryType", raw);
            }
            let got = SearchOffsetRequestHeader::from_ext(&e)
                .map(|h| h.boundary_type)
                .map_err(|_| ());
            assert_eq!(got, want, "{raw:?}");
        }
    }

    #[test]
    fn round_trips() {
        assert_round_trip(&QueryConsumerOffsetRequestHeader {
            consumer_group: "g".into(),
            topic: "t".into(),
            queue_id: 2,
            set_zero_if_not_found: Some(true),
        });
        assert_round_trip(&UpdateConsumerOffsetRequestHeader {
            consumer_group: "g".into(),
            topic: "t".into(),
            queue_id: 2,
            commit_offset: 99,
        });
        assert_round_trip(&OffsetResponseHeader { offset: -1 });
        assert_round_trip(&GetMaxOffsetRequestHeader {
            topic: "t".into(),
            queue_id: 1,
            committed: None,
        });
        assert_round_trip(&GetMinOffsetRequestHeader {
            topic: "t".into(),
            queue_id: 1,
        });
        assert_round_trip(&GetEarliestMsgStoretimeRequestHeader {
            topic: "t".into(),
            queue_id: 1,
        });
        assert_round_trip(&GetEarliestMsgStoretimeResponseHeader { timestamp: 17 });
        assert_round_trip(&SearchOffsetRequestHeader {
            topic: "t".into(),
            queue_id: 1,
            timestamp: 3,
            boundary_type: Some(BoundaryType::Upper),
        });
    }
}
