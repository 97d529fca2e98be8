//! HEART_BEAT (34) body, remoting.md §4.6: who the client is, which
//! producer groups it has and which consumer groups with what
//! subscriptions.
//!
//! Accepted dialects: Java/Go (enum names, numeric `subVersion`, every key
//! present) and C++ (enum ordinals, `subVersion` as a string, empty
//! collections and `unitMode`/`expressionType`/`classFilterMode` omitted,
//! trailing `\n`). Emitted: the Java shape.

use serde::{Deserialize, Serialize};

use crate::body::lenient::{self, name_or_ordinal_enum};
use crate::body::JsonBody;

/// Expression type of a tag subscription (and the default when absent).
pub const EXPRESSION_TYPE_TAG: &str = "TAG";
/// Expression type of an SQL92 subscription.
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";
/// Subscription string meaning "every tag".
pub const SUB_ALL: &str = "*";

/// The whole heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    /// Client instance id; returned verbatim by GET_CONSUMER_LIST_BY_GROUP.
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::null_default")]
    pub consumer_data_set: Vec<ConsumerData>,
    /// Java 5.x heartbeat v2; 0 = classic heartbeat.
    #[serde(deserialize_with = "lenient::int")]
    pub heartbeat_fingerprint: i32,
    #[serde(deserialize_with = "lenient::null_default")]
    pub producer_data_set: Vec<ProducerData>,
    /// Java 5.x v2: `true` = keep the previous subscriptions.
    #[serde(deserialize_with = "lenient::boolean")]
    pub without_sub: bool,
}

impl JsonBody for HeartbeatData {
    const WHAT: &'static str = "heartbeat body";
}

/// One producer group of the client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    pub group_name: String,
}

/// One consumer group of the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    pub consume_from_where: ConsumeFromWhere,
    pub consume_type: ConsumeType,
    pub group_name: String,
    pub message_model: MessageModel,
    #[serde(deserialize_with = "lenient::null_default")]
    pub subscription_data_set: Vec<SubscriptionData>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub unit_mode: bool,
}

impl Default for ConsumerData {
    fn default() -> Self {
        ConsumerData {
            consume_from_where: ConsumeFromWhere::LastOffset,
            consume_type: ConsumeType::Passively,
            group_name: String::new(),
            message_model: MessageModel::Clustering,
            subscription_data_set: Vec::new(),
            unit_mode: false,
        }
    }
}

/// One topic subscription of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    #[serde(deserialize_with = "lenient::boolean")]
    pub class_filter_mode: bool,
    /// Tag hash codes. Untrustworthy from C++ (it sends `atoi(tag)`):
    /// recompute from `tags_set`.
    #[serde(deserialize_with = "lenient::int_vec")]
    pub code_set: Vec<i32>,
    /// `TAG` (default) or `SQL92`.
    #[serde(deserialize_with = "lenient::null_default")]
    pub expression_type: String,
    /// The expression as written (`*`, `a || b`, or SQL).
    #[serde(deserialize_with = "lenient::null_default")]
    pub sub_string: String,
    /// Subscription version (creation time ms).
    #[serde(deserialize_with = "lenient::int")]
    pub sub_version: i64,
    #[serde(deserialize_with = "lenient::null_default")]
    pub tags_set: Vec<String>,
    pub topic: String,
}

/// CHECK_CLIENT_CONFIG (46) request body: the Java consumer (and
/// rocketmq-client-rust) sends one per non-TAG subscription at start, so
/// the broker can refuse an expression it cannot compile or serve.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckClientRequestBody {
    #[serde(deserialize_with = "lenient::null_default")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::null_default")]
    pub group: String,
    #[serde(deserialize_with = "lenient::null_default")]
    pub namespace: String,
    /// `None` when absent: nothing to check.
    pub subscription_data: Option<SubscriptionData>,
}

impl JsonBody for CheckClientRequestBody {
    const WHAT: &'static str = "check client body";
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            code_set: Vec::new(),
            expression_type: EXPRESSION_TYPE_TAG.to_owned(),
            sub_string: String::new(),
            sub_version: 0,
            tags_set: Vec::new(),
            topic: String::new(),
        }
    }
}

impl SubscriptionData {
    /// True when the subscription matches every tag.
    pub fn is_sub_all(&self) -> bool {
        self.sub_string.trim().is_empty() || self.sub_string.trim() == SUB_ALL
    }

    /// True for SQL92 (anything that is not `TAG`, case-insensitive, and
    /// not empty).
    pub fn is_sql92(&self) -> bool {
        !self.expression_type.is_empty()
            && !self
                .expression_type
                .eq_ignore_ascii_case(EXPRESSION_TYPE_TAG)
    }
}

name_or_ordinal_enum! {
    /// Pull (actively) or push (passively) consumer.
    pub enum ConsumeType {
        Actively = (0, "CONSUME_ACTIVELY"),
        Passively = (1, "CONSUME_PASSIVELY"),
        /// 5.x pop consumer.
        Pop = (2, "CONSUME_POP"),
    }
}

name_or_ordinal_enum! {
    /// Every consumer gets every message, or the group shares queues.
    pub enum MessageModel {
        Broadcasting = (0, "BROADCASTING"),
        Clustering = (1, "CLUSTERING"),
    }
}

name_or_ordinal_enum! {
    /// Where a consumer with no stored offset starts (client-side rule).
    pub enum ConsumeFromWhere {
        LastOffset = (0, "CONSUME_FROM_LAST_OFFSET"),
        LastOffsetAndFromMinWhenBootFirst = (1, "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST"),
        MinOffset = (2, "CONSUME_FROM_MIN_OFFSET"),
        MaxOffset = (3, "CONSUME_FROM_MAX_OFFSET"),
        FirstOffset = (4, "CONSUME_FROM_FIRST_OFFSET"),
        Timestamp = (5, "CONSUME_FROM_TIMESTAMP"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// remoting.md §4.6 Java example.
    const JAVA: &str = r#"{"clientID":"10.0.0.7@4242#81723645598721","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"g1","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#;

    /// C++ shape: ordinals, string subVersion, omitted keys, trailing \n.
    const CPP: &str = "{\"clientID\":\"10.0.0.8@77#DEFAULT\",\"consumerDataSet\":[{\"consumeFromWhere\":0,\"consumeType\":1,\"groupName\":\"CG\",\"messageModel\":1,\"subscriptionDataSet\":[{\"subString\":\"*\",\"subVersion\":\"1700000000123\",\"topic\":\"%RETRY%CG\"},{\"codeSet\":[0],\"subString\":\"TagA\",\"subVersion\":\"1700000000124\",\"tagsSet\":[\"TagA\"],\"topic\":\"T\"}]}]}\n";

    #[test]
    fn java_heartbeat_round_trips_byte_for_byte() {
        let hb = HeartbeatData::decode(JAVA.as_bytes()).unwrap();
        assert_eq!(
            hb.consumer_data_set[0].subscription_data_set[0].code_set,
            [2_598_919]
        );
        assert_eq!(hb.producer_data_set[0].group_name, "CLIENT_INNER_PRODUCER");
        assert_eq!(String::from_utf8(hb.encode()).unwrap(), JAVA);
    }

    #[test]
    fn cpp_heartbeat_decodes() {
        let hb = HeartbeatData::decode(CPP.as_bytes()).unwrap();
        assert!(hb.producer_data_set.is_empty());
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.consume_type, ConsumeType::Passively);
        assert_eq!(c.message_model, MessageModel::Clustering);
        assert_eq!(c.consume_from_where, ConsumeFromWhere::LastOffset);
        assert!(!c.unit_mode);
        let retry = &c.subscription_data_set[0];
        assert_eq!(retry.sub_version, 1_700_000_000_123);
        assert_eq!(retry.expression_type, EXPRESSION_TYPE_TAG);
        assert!(retry.is_sub_all() && !retry.is_sql92() && retry.tags_set.is_empty());
        assert_eq!(c.subscription_data_set[1].tags_set, ["TagA"]);
    }

    #[test]
    fn producer_only_and_nulls() {
        let cases = [
            r#"{"clientID":"c","producerDataSet":[{"groupName":"PG"}]}"#,
            r#"{"clientID":"c","producerDataSet":[{"groupName":"PG"}],"consumerDataSet":null,"unknown":{"x":[1]}}"#,
        ];
        for text in cases {
            let hb = HeartbeatData::decode(text.as_bytes()).unwrap();
            assert_eq!(
                hb.producer_data_set,
                [ProducerData {
                    group_name: "PG".into()
                }]
            );
            assert!(hb.consumer_data_set.is_empty());
        }
    }

    #[test]
    fn enums_accept_names_ordinals_and_numeric_strings() {
        let cases = [
            (r#""CLUSTERING""#, Some(MessageModel::Clustering)),
            ("0", Some(MessageModel::Broadcasting)),
            (r#""1""#, Some(MessageModel::Clustering)),
            ("7", None),
            (r#""clustering""#, None),
        ];
        for (text, want) in cases {
            let got: Option<MessageModel> = serde_json::from_str(text).ok();
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        let cases = [
            "",
            "{",
            r#"{"consumerDataSet":[{"consumeType":9}]}"#,
            r#"{"clientID":5}"#,
        ];
        for text in cases {
            assert!(HeartbeatData::decode(text.as_bytes()).is_err(), "{text}");
        }
    }

    #[test]
    fn check_client_body_decodes_java_and_rust_shapes() {
        let body = br#"{"clientId":"c@1","group":"G","namespace":null,"subscriptionData":{"classFilterMode":false,"codeSet":[],"expressionType":"SQL92","subString":"a > 1","subVersion":1700000000000,"tagsSet":[],"topic":"T"}}"#;
        let b = CheckClientRequestBody::decode(body).unwrap();
        let sub = b.subscription_data.unwrap();
        assert_eq!((b.client_id.as_str(), b.group.as_str()), ("c@1", "G"));
        assert_eq!(
            (sub.expression_type.as_str(), sub.sub_string.as_str()),
            ("SQL92", "a > 1")
        );
        let empty = CheckClientRequestBody::decode(br#"{"clientId":"c"}"#).unwrap();
        assert!(empty.subscription_data.is_none());
    }
}
