//! Topic administration headers, remoting.md §4.11:
//! UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER (215),
//! DELETE_TOPIC_IN_NAMESRV (216); and the consumer admin codes' headers
//! (their bodies: `crate::body::consumer_admin`): GET_CONSUME_STATS (208),
//! GET_CONSUMER_CONNECTION_LIST (203), GET_PRODUCER_CONNECTION_LIST (204),
//! GET_CONSUMER_RUNNING_INFO (307), INVOKE_BROKER_TO_RESET_OFFSET (222,
//! also RESET_CONSUMER_CLIENT_OFFSET 220), QUERY_CONSUME_TIME_SPAN (303).

use crate::header::command_header;

command_header! {
    pub struct CreateTopicRequestHeader {
        topic: String = "topic",
        default_topic: String = "defaultTopic",
        read_queue_nums: i32 = "readQueueNums",
        write_queue_nums: i32 = "writeQueueNums",
        /// [`crate::codes::perm`] bits.
        perm: i32 = "perm",
        /// `SINGLE_TAG` or `MULTI_TAG`.
        topic_filter_type: String = "topicFilterType",
        topic_sys_flag: Option<i32> = "topicSysFlag",
        /// Java initialises it to false, so absent = false.
        order: Option<bool> = "order",
        /// `+k=v,...`.
        attributes: Option<String> = "attributes",
        force: Option<bool> = "force",
    }
}

command_header! {
    pub struct DeleteTopicRequestHeader {
        topic: String = "topic",
    }
}

command_header! {
    pub struct DeleteTopicFromNamesrvRequestHeader {
        topic: String = "topic",
        cluster_name: Option<String> = "clusterName",
    }
}

command_header! {
    pub struct GetConsumeStatsRequestHeader {
        consumer_group: String = "consumerGroup",
        /// Absent or blank: every topic the group committed offsets of.
        topic: Option<String> = "topic",
    }
}

command_header! {
    pub struct GetConsumerConnectionListRequestHeader {
        consumer_group: String = "consumerGroup",
    }
}

command_header! {
    pub struct GetProducerConnectionListRequestHeader {
        producer_group: String = "producerGroup",
    }
}

command_header! {
    pub struct GetConsumerRunningInfoRequestHeader {
        consumer_group: String = "consumerGroup",
        client_id: String = "clientId",
        jstack_enable: Option<bool> = "jstackEnable",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222) and RESET_CONSUMER_CLIENT_OFFSET (220).
    pub struct ResetOffsetRequestHeader {
        topic: String = "topic",
        group: String = "group",
        /// Epoch ms; negative: each queue's max offset.
        timestamp: i64 = "timestamp",
        is_force: Option<bool> = "isForce",
        /// Negative or absent: every queue of the topic.
        queue_id: Option<i32> = "queueId",
        /// With `queueId`: this offset instead of a time search (-1: none).
        offset: Option<i64> = "offset",
    }
}

command_header! {
    pub struct QueryConsumeTimeSpanRequestHeader {
        topic: String = "topic",
        group: String = "group",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::test_util::{assert_round_trip, ext};
    use crate::header::CommandHeader;

    #[test]
    fn cpp_admin_numbers_decode() {
        let e = ext(&[
            ("topic", "T"),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "8"),
            ("writeQueueNums", "8"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
        ]);
        let h = CreateTopicRequestHeader::from_ext(&e).unwrap();
        assert_eq!((h.read_queue_nums, h.perm, h.order), (8, 6, None));
        assert_round_trip(&h);
        assert_round_trip(&DeleteTopicRequestHeader { topic: "T".into() });
        assert_round_trip(&DeleteTopicFromNamesrvRequestHeader {
            topic: "T".into(),
            cluster_name: Some("C".into()),
        });
    }

    #[test]
    fn consumer_admin_headers_use_javas_names() {
        let e = ext(&[
            ("topic", "T"),
            ("group", "G"),
            ("timestamp", "1700000000000"),
            ("isForce", "true"),
        ]);
        let h = ResetOffsetRequestHeader::from_ext(&e).unwrap();
        assert_eq!(
            (h.timestamp, h.is_force, h.queue_id),
            (1_700_000_000_000, Some(true), None)
        );
        assert_round_trip(&h);
        let e = ext(&[
            ("consumerGroup", "G"),
            ("clientId", "c@1"),
            ("jstackEnable", "false"),
        ]);
        let h = GetConsumerRunningInfoRequestHeader::from_ext(&e).unwrap();
        assert_eq!(
            (h.client_id.as_str(), h.jstack_enable),
            ("c@1", Some(false))
        );
        assert_round_trip(&GetConsumeStatsRequestHeader {
            consumer_group: "G".into(),
            topic: None,
        });
        assert_round_trip(&GetConsumerConnectionListRequestHeader {
            consumer_group: "G".into(),
        });
        assert_round_trip(&GetProducerConnectionListRequestHeader {
            producer_group: "P".into(),
        });
        assert_round_trip(&QueryConsumeTimeSpanRequestHeader {
            topic: "T".into(),
            group: "G".into(),
        });
    }
}
