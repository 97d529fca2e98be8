//! Bodies the Java admin tools and dashboard read, remoting.md §4.11:
//! [`TopicStatsTable`] (GET_TOPIC_STATS_INFO, 202), [`GroupList`]
//! (QUERY_TOPIC_CONSUME_BY_WHO, 300) and the `key=value` text of
//! GET_BROKER_CONFIG (26, [`properties_text`]).
//!
//! Java keys `TopicStatsTable.offsetTable` by `MessageQueue` objects.
//! fastjson's parser accepts such a key as a string holding the object's
//! JSON (its `MapDeserializer` re-parses string keys of bean type), so
//! [`TopicStatsTable::encode`] writes standard JSON: each key is the
//! queue's compact JSON, quoted.

use serde::{Deserialize, Serialize};

use crate::body::{encode_json, lenient, JsonBody, MessageQueue};

/// One queue's offsets (`TopicOffset.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    #[serde(deserialize_with = "lenient::int")]
    pub last_update_timestamp: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub max_offset: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub min_offset: i64,
}

/// `{"offsetTable":{"<MessageQueue JSON>":{TopicOffset},...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicStatsTable {
    /// Written with keys in JSON-text order (a map: order carries no meaning).
    pub offset_table: Vec<(MessageQueue, TopicOffset)>,
}

impl TopicStatsTable {
    /// Compact JSON, queue keys as quoted JSON strings.
    pub fn encode(&self) -> Vec<u8> {
        let table: serde_json::Map<String, serde_json::Value> = self
            .offset_table
            .iter()
            .map(|(mq, off)| {
                let key = String::from_utf8(encode_json(mq)).expect("JSON is UTF-8");
                (key, serde_json::to_value(off).expect("plain struct"))
            })
            .collect();
        encode_json(&serde_json::json!({ "offsetTable": table }))
    }

    /// Parses what [`encode`](Self::encode) writes.
    pub fn decode(bytes: &[u8]) -> crate::error::Result<Self> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            #[serde(default)]
            offset_table: std::collections::BTreeMap<String, TopicOffset>,
        }
        let raw: Raw = crate::body::decode_json("topic stats table", bytes)?;
        let mut offset_table = Vec::with_capacity(raw.offset_table.len());
        for (key, off) in raw.offset_table {
            let mq: MessageQueue = crate::body::decode_json("message queue key", key.as_bytes())?;
            offset_table.push((mq, off));
        }
        offset_table.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(TopicStatsTable { offset_table })
    }
}

/// `{"groupList":["g1",...]}` (`GroupList.java`, a set in Java).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    #[serde(deserialize_with = "lenient::null_default")]
    pub group_list: Vec<String>,
}

impl JsonBody for GroupList {
    const WHAT: &'static str = "group list body";
}

/// Java `Properties` text as RocketMQ's `MixAll.properties2String` writes
/// it: one `key=value` line each, `\n`-terminated, no escaping (values with
/// a line break would not survive; callers pass none).
pub fn properties_text<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(k);
        out.push('=');
        out.push_str(&v);
        out.push('\n');
    }
    out
}

/// Parses `key=value` lines (blank lines and `#` comments skipped).
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(q: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "broker-a".into(),
            queue_id: q,
            topic: "T".into(),
        }
    }

    #[test]
    fn topic_stats_golden() {
        let table = TopicStatsTable {
            offset_table: vec![
                (
                    mq(0),
                    TopicOffset {
                        last_update_timestamp: 1700000000000,
                        max_offset: 5,
                        min_offset: 1,
                    },
                ),
                (mq(1), TopicOffset::default()),
            ],
        };
        let got = String::from_utf8(table.encode()).unwrap();
        let want = concat!(
            r#"{"offsetTable":{"#,
            r#""{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"T\"}":"#,
            r#"{"lastUpdateTimestamp":1700000000000,"maxOffset":5,"minOffset":1},"#,
            r#""{\"brokerName\":\"broker-a\",\"queueId\":1,\"topic\":\"T\"}":"#,
            r#"{"lastUpdateTimestamp":0,"maxOffset":0,"minOffset":0}}}"#,
        );
        assert_eq!(got, want);
        assert_eq!(TopicStatsTable::decode(got.as_bytes()).unwrap(), table);
        let empty = TopicStatsTable::default().encode();
        assert_eq!(empty, br#"{"offsetTable":{}}"#);
    }

    #[test]
    fn group_list_golden() {
        let list = GroupList {
            group_list: vec!["G1".into(), "G2".into()],
        };
        assert_eq!(list.encode(), br#"{"groupList":["G1","G2"]}"#);
        assert_eq!(
            GroupList::decode(b"{\"groupList\":null}\n").unwrap(),
            GroupList::default()
        );
    }

    #[test]
    fn properties_golden() {
        let text = properties_text([("brokerName", "broker-a".into()), ("brokerId", "0".into())]);
        assert_eq!(text, "brokerName=broker-a\nbrokerId=0\n");
        assert_eq!(
            parse_properties(&text),
            vec![
                ("brokerName".to_owned(), "broker-a".to_owned()),
                ("brokerId".to_owned(), "0".to_owned())
            ]
        );
    }
}
