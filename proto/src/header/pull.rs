//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361) headers, remoting.md §4.3.
//!
//! `sysFlag` carries [`crate::codes::pull_sys_flag`] bits. The response
//! header must be present on every pull response (the C++ client
//! dereferences it), so build responses with
//! [`crate::RemotingCommand::with_header`].

use crate::header::command_header;

command_header! {
    /// Pull request.
    pub struct PullMessageRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        /// Logical offset to read from.
        queue_offset: i64 = "queueOffset",
        max_msg_nums: i32 = "maxMsgNums",
        sys_flag: i32 = "sysFlag",
        /// The consumer's committed offset (used if COMMIT_OFFSET is set).
        commit_offset: i64 = "commitOffset",
        /// Long-poll hold time.
        suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        /// Tag expression or SQL92 (used if SUBSCRIPTION is set).
        subscription: Option<String> = "subscription",
        sub_version: i64 = "subVersion",
        /// `TAG` (default when absent) or `SQL92`.
        expression_type: Option<String> = "expressionType",
        max_msg_bytes: Option<i32> = "maxMsgBytes",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Pull response; every required field must be set on every code.
    pub struct PullMessageResponseHeader {
        /// Broker id to pull from next (0 = master).
        suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        next_begin_offset: i64 = "nextBeginOffset",
        min_offset: i64 = "minOffset",
        max_offset: i64 = "maxOffset",
        offset_delta: Option<i64> = "offsetDelta",
        topic_sys_flag: Option<i32> = "topicSysFlag",
        group_sys_flag: Option<i32> = "groupSysFlag",
        forbidden_type: Option<i32> = "forbiddenType",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::test_util::{assert_round_trip, ext};
    use crate::header::CommandHeader;

    #[test]
    fn decodes_a_cpp_pull() {
        // C++ values were numbers on the wire; the header decoder made text.
        let e = ext(&[
            ("AccessKey", ""),
            ("commitOffset", "0"),
            ("consumerGroup", "CG"),
            ("maxMsgNums", "32"),
            ("queueId", "3"),
            ("queueOffset", "100"),
            ("subVersion", "1700000000000"),
            ("subscription", "*"),
            ("suspendTimeoutMillis", "15000"),
            ("sysFlag", "6"),
            ("topic", "T"),
        ]);
        let h = PullMessageRequestHeader::from_ext(&e).unwrap();
        assert_eq!((h.queue_id, h.queue_offset, h.sys_flag), (3, 100, 6));
        assert_eq!(h.subscription.as_deref(), Some("*"));
        assert_eq!(h.expression_type, None);
        assert_round_trip(&h);
    }

    #[test]
    fn response_round_trip() {
        let h = PullMessageResponseHeader {
            next_begin_offset: 5,
            max_offset: 9,
            topic_sys_flag: Some(0),
            ..Default::default()
        };
        let e = h.to_ext_fields();
        assert_eq!(e.get("suggestWhichBrokerId"), Some("0"));
        assert_eq!(e.get("offsetDelta"), None);
        assert_round_trip(&h);
    }
}
