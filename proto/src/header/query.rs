//! Message lookup headers, remoting.md §4.10: QUERY_MESSAGE (12, by key
//! through the index) and VIEW_MESSAGE_BY_ID (33, by commit-log offset).

use crate::header::command_header;

command_header! {
    pub struct QueryMessageRequestHeader {
        topic: String = "topic",
        key: String = "key",
        max_num: i32 = "maxNum",
        begin_timestamp: i64 = "beginTimestamp",
        end_timestamp: i64 = "endTimestamp",
        /// `true`: `key` is a `UNIQ_KEY`, not a user key.
        unique_key_query: Option<bool> = "_UNIQUE_KEY_QUERY",
    }
}

command_header! {
    pub struct QueryMessageResponseHeader {
        index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}

command_header! {
    pub struct ViewMessageRequestHeader {
        /// Commit-log offset decoded from an offsetMsgId.
        offset: i64 = "offset",
        topic: Option<String> = "topic",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::test_util::assert_round_trip;

    #[test]
    fn round_trips() {
        assert_round_trip(&QueryMessageRequestHeader {
            topic: "T".into(),
            key: "k1".into(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: Some(true),
        });
        assert_round_trip(&QueryMessageResponseHeader {
            index_last_update_timestamp: 5,
            index_last_update_phyoffset: 6,
        });
        assert_round_trip(&ViewMessageRequestHeader {
            offset: 77,
            topic: None,
        });
    }
}
