//! Client-registration and consumer headers, remoting.md §4.6–§4.7:
//! UNREGISTER_CLIENT (35), GET_CONSUMER_LIST_BY_GROUP (38),
//! NOTIFY_CONSUMER_IDS_CHANGED (40, broker → consumer),
//! CONSUMER_SEND_MSG_BACK (36). HEART_BEAT has no header; its body is
//! [`crate::body::HeartbeatData`].

use crate::header::command_header;

/// Extra `extFields` of a HEART_BEAT response (no header class in Java).
pub mod heartbeat_response {
    /// `"true"`: the broker understands heartbeat v2 (fingerprints). A
    /// broker that omits it always receives full heartbeats.
    pub const IS_SUPPORT_HEART_BEAT_V2: &str = "IS_SUPPORT_HEART_BEAT_V2";
    /// `"true"`: the subscriptions changed.
    pub const IS_SUB_CHANGE: &str = "IS_SUB_CHANGE";
}

command_header! {
    /// The C++ client sends the unused group as `""`, which reads as `None`.
    pub struct UnregisterClientRequestHeader {
        client_id: String = "clientID",
        producer_group: Option<String> = "producerGroup",
        consumer_group: Option<String> = "consumerGroup",
    }
}

command_header! {
    pub struct GetConsumerListByGroupRequestHeader {
        consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// Broker → consumer, oneway: "rebalance now".
    pub struct NotifyConsumerIdsChangedRequestHeader {
        consumer_group: String = "consumerGroup",
    }
}

command_header! {
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log (physical) offset of the failed message.
        offset: i64 = "offset",
        group: String = "group",
        /// 0 = broker decides (3 + reconsumeTimes), −1 = DLQ, > 0 explicit.
        delay_level: i32 = "delayLevel",
        origin_msg_id: Option<String> = "originMsgId",
        origin_topic: Option<String> = "originTopic",
        unit_mode: Option<bool> = "unitMode",
        max_reconsume_times: Option<i32> = "maxReconsumeTimes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::test_util::{assert_round_trip, ext};
    use crate::header::CommandHeader;

    #[test]
    fn cpp_unregister_treats_empty_group_as_absent() {
        let e = ext(&[
            ("clientID", "1.2.3.4@9#DEFAULT"),
            ("producerGroup", "PG"),
            ("consumerGroup", ""),
        ]);
        let h = UnregisterClientRequestHeader::from_ext(&e).unwrap();
        assert_eq!(h.producer_group.as_deref(), Some("PG"));
        assert_eq!(h.consumer_group, None);
    }

    #[test]
    fn round_trips() {
        assert_round_trip(&GetConsumerListByGroupRequestHeader {
            consumer_group: "CG".into(),
        });
        assert_round_trip(&NotifyConsumerIdsChangedRequestHeader {
            consumer_group: "CG".into(),
        });
        assert_round_trip(&ConsumerSendMsgBackRequestHeader {
            offset: 1 << 40,
            group: "CG".into(),
            delay_level: -1,
            origin_msg_id: Some("ID".into()),
            origin_topic: Some("T".into()),
            unit_mode: Some(false),
            max_reconsume_times: Some(16),
        });
    }
}
