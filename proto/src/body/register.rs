//! REGISTER_BROKER (103) body and the topic-config shapes it carries,
//! remoting.md §4.12. The same `TopicConfigSerializeWrapper` JSON is what
//! a Java broker persists as `topics.json`.
//!
//! Only the uncompressed JSON form is supported. The compressed form
//! (`compressed=true` in the header) is a zlib stream, and this crate has
//! no zlib dependency: [`RegisterBrokerBody::decode`] rejects it with a
//! clear error, and Bolide brokers always register uncompressed (which is
//! also the Java broker's default, `compressedRegister=false`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::body::lenient::{self, name_or_ordinal_enum};
use crate::body::JsonBody;
use crate::codes::perm;
use crate::error::{ProtoError, Result};

/// The broker's registration: its topics and filter servers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    #[serde(deserialize_with = "lenient::null_default")]
    pub filter_server_list: Vec<String>,
    #[serde(deserialize_with = "lenient::null_default")]
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

impl JsonBody for RegisterBrokerBody {
    const WHAT: &'static str = "register broker body";
}

impl RegisterBrokerBody {
    /// Parses the body of a REGISTER_BROKER request whose header said
    /// `compressed`. Compressed bodies are rejected (module docs).
    pub fn decode_request(bytes: &[u8], compressed: bool) -> Result<Self> {
        if compressed {
            return Err(ProtoError::invalid(
                "register broker body",
                "compressed (zlib) registration is not supported; register with compressed=false",
            ));
        }
        Self::decode(bytes)
    }
}

/// Topic configs plus the version that changes whenever one does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    #[serde(deserialize_with = "lenient::null_default")]
    pub data_version: DataVersion,
    /// Topic name → config.
    #[serde(deserialize_with = "lenient::null_default")]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

impl JsonBody for TopicConfigSerializeWrapper {
    const WHAT: &'static str = "topic config wrapper";
}

/// Version stamp of a broker's topic configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    #[serde(deserialize_with = "lenient::int")]
    pub counter: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub state_version: i64,
    /// Wall clock ms of the last change.
    #[serde(deserialize_with = "lenient::int")]
    pub timestamp: i64,
}

impl JsonBody for DataVersion {
    const WHAT: &'static str = "data version";
}

impl DataVersion {
    /// The next version after a change at `now_ms`.
    pub fn next(self, now_ms: i64) -> Self {
        DataVersion {
            counter: self.counter + 1,
            state_version: self.state_version,
            timestamp: now_ms,
        }
    }
}

/// One topic's configuration on one broker (`TopicConfig.java`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    #[serde(deserialize_with = "lenient::null_default")]
    pub attributes: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub order: bool,
    /// [`perm`] bits.
    #[serde(deserialize_with = "lenient::int")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub read_queue_nums: i32,
    pub topic_filter_type: TopicFilterType,
    pub topic_name: String,
    #[serde(deserialize_with = "lenient::int")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub write_queue_nums: i32,
}

/// Java's queue count for a topic created without one.
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 16;

impl Default for TopicConfig {
    /// Java's defaults: 16 + 16 queues, read-write, single tag.
    fn default() -> Self {
        TopicConfig {
            attributes: BTreeMap::new(),
            order: false,
            perm: perm::READ_WRITE,
            read_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_name: String::new(),
            topic_sys_flag: 0,
            write_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
        }
    }
}

name_or_ordinal_enum! {
    /// How a topic's tags are filtered.
    pub enum TopicFilterType {
        SingleTag = (0, "SINGLE_TAG"),
        MultiTag = (1, "MULTI_TAG"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// remoting.md §4.12 example (5.x mapping members are ignored).
    const JAVA: &str = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}},"mappingDataVersion":{"counter":0},"topicQueueMappingDetailMap":{},"topicQueueMappingInfoMap":{}}}"#;

    #[test]
    fn decodes_java_and_re_encodes_in_order() {
        let body = RegisterBrokerBody::decode_request(JAVA.as_bytes(), false).unwrap();
        let wrapper = &body.topic_config_serialize_wrapper;
        assert_eq!(wrapper.data_version.counter, 3);
        let topic = &wrapper.topic_config_table["TopicTest"];
        assert_eq!(
            (topic.perm, topic.read_queue_nums, topic.topic_filter_type),
            (6, 4, TopicFilterType::SingleTag)
        );
        let text = String::from_utf8(body.encode()).unwrap();
        let want = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}}}}"#;
        assert_eq!(text, want);
        assert_eq!(RegisterBrokerBody::decode(text.as_bytes()).unwrap(), body);
    }

    #[test]
    fn rejects_compressed() {
        let err = RegisterBrokerBody::decode_request(b"x\x9c", true).unwrap_err();
        assert!(err.to_string().contains("compressed"), "{err}");
    }

    #[test]
    fn topic_config_defaults_and_versions() {
        let t: TopicConfig = serde_json::from_str(r#"{"topicName":"T"}"#).unwrap();
        assert_eq!((t.read_queue_nums, t.perm), (16, 6));
        let v = DataVersion::default().next(5);
        assert_eq!((v.counter, v.timestamp), (1, 5));
    }
}
