//! Topic administration headers, remoting.md §4.11:
//! UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER (215),
//! DELETE_TOPIC_IN_NAMESRV (216).

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
}
