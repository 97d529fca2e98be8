//! Small bodies: [`ConsumerListByGroupResponseBody`] (GET_CONSUMER_LIST_BY_GROUP),
//! [`TopicList`] (GET_ALL_TOPIC_LIST_FROM_NAMESERVER), [`KvTable`]
//! (GET_BROKER_RUNTIME_INFO), remoting.md §4.6 and §4.11.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::body::lenient;
use crate::body::JsonBody;

/// `{"consumerIdList":["<clientID>",...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerListByGroupResponseBody {
    #[serde(deserialize_with = "lenient::null_default")]
    pub consumer_id_list: Vec<String>,
}

impl JsonBody for ConsumerListByGroupResponseBody {
    const WHAT: &'static str = "consumer list body";
}

/// `{"brokerAddr":…,"topicList":[...]}` (`brokerAddr` only when set).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
    #[serde(deserialize_with = "lenient::null_default")]
    pub topic_list: Vec<String>,
}

impl JsonBody for TopicList {
    const WHAT: &'static str = "topic list body";
}

/// `{"table":{"k":"v",...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KvTable {
    #[serde(deserialize_with = "lenient::null_default")]
    pub table: BTreeMap<String, String>,
}

impl JsonBody for KvTable {
    const WHAT: &'static str = "kv table body";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let cases: [(Vec<u8>, &str); 4] = [
            (
                ConsumerListByGroupResponseBody {
                    consumer_id_list: vec!["1.2.3.4@1#x".into()],
                }
                .encode(),
                r#"{"consumerIdList":["1.2.3.4@1#x"]}"#,
            ),
            (
                TopicList {
                    broker_addr: None,
                    topic_list: vec!["a".into()],
                }
                .encode(),
                r#"{"topicList":["a"]}"#,
            ),
            (
                TopicList {
                    broker_addr: Some("h:1".into()),
                    topic_list: vec![],
                }
                .encode(),
                r#"{"brokerAddr":"h:1","topicList":[]}"#,
            ),
            (
                KvTable {
                    table: [("brokerVersion".to_owned(), "479".to_owned())].into(),
                }
                .encode(),
                r#"{"table":{"brokerVersion":"479"}}"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(String::from_utf8(got).unwrap(), want);
        }
        let back = ConsumerListByGroupResponseBody::decode(b"{\"consumerIdList\":null}\n").unwrap();
        assert!(back.consumer_id_list.is_empty());
    }
}
