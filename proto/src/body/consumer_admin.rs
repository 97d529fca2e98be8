//! Bodies of the consumer-side admin codes the Java tools and dashboard
//! read (field names and nesting from apache/rocketmq's
//! `remoting/protocol/admin/{ConsumeStats,OffsetWrapper}.java` and
//! `remoting/protocol/body/{ConsumerConnection,ProducerConnection,
//! Connection,ResetOffsetBody,QueryConsumeTimeSpanBody,QueueTimeSpan}.java`):
//!
//! | code | request header | answer body |
//! |---|---|---|
//! | GET_CONSUME_STATS (208) | `consumerGroup`, `topic` (opt) | [`ConsumeStats`] |
//! | GET_CONSUMER_CONNECTION_LIST (203) | `consumerGroup` | [`ConsumerConnection`] |
//! | GET_PRODUCER_CONNECTION_LIST (204) | `producerGroup` | [`ProducerConnection`] |
//! | GET_CONSUMER_RUNNING_INFO (307) | `consumerGroup`, `clientId`, `jstackEnable` | the client's `ConsumerRunningInfo` JSON, relayed unchanged |
//! | INVOKE_BROKER_TO_RESET_OFFSET (222) | `topic`, `group`, `timestamp`, `isForce`, `queueId` (opt), `offset` (opt) | [`ResetOffsetBody`] |
//! | QUERY_CONSUME_TIME_SPAN (303) | `topic`, `group` | [`QueryConsumeTimeSpanBody`] |
//!
//! RESET_CONSUMER_CLIENT_OFFSET (220), broker → consumer, carries the same
//! [`ResetOffsetBody`] with header `topic`, `group`, `timestamp`, `isForce`
//! ([`ResetOffsetBody::encode_for_c`] for C++ clients).
//!
//! Maps keyed by `MessageQueue` (`ConsumeStats.offsetTable`,
//! `ResetOffsetBody.offsetTable`) are written as [`super::TopicStatsTable`]
//! writes them: standard JSON, each key the queue's compact JSON as a
//! string, which fastjson's parser turns back into the object (Java's own
//! broker writes the object unquoted, fastjson's default, remoting.md §4.1).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::body::{decode_json, encode_json, lenient, JsonBody, MessageQueue, SubscriptionData};
use crate::error::Result;

/// `{"<MessageQueue JSON>":value,...}` from pairs, in the pairs' order.
fn encode_queue_map<V: Serialize>(pairs: &[(MessageQueue, V)]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(mq, v)| {
            let key = String::from_utf8(encode_json(mq)).expect("JSON is UTF-8");
            (key, serde_json::to_value(v).expect("plain value"))
        })
        .collect();
    serde_json::Value::Object(map)
}

/// Parses a map written by [`encode_queue_map`]; pairs sorted by queue.
fn decode_queue_map<V: DeserializeOwned>(
    map: serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<(MessageQueue, V)>> {
    let mut pairs = Vec::with_capacity(map.len());
    for (key, value) in map {
        let mq: MessageQueue = decode_json("message queue key", key.as_bytes())?;
        let v: V = serde_json::from_value(value)
            .map_err(|e| crate::error::ProtoError::invalid("queue map value", e.to_string()))?;
        pairs.push((mq, v));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(pairs)
}

/// One queue's progress in [`ConsumeStats`] (`OffsetWrapper.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// The queue's max offset (next to be written).
    #[serde(deserialize_with = "lenient::int")]
    pub broker_offset: i64,
    /// The group's committed offset (0 when none).
    #[serde(deserialize_with = "lenient::int")]
    pub consumer_offset: i64,
    /// Store time of the last consumed message (0 when none).
    #[serde(deserialize_with = "lenient::int")]
    pub last_timestamp: i64,
    /// How far the group has pulled (at least `consumerOffset`).
    #[serde(deserialize_with = "lenient::int")]
    pub pull_offset: i64,
}

/// GET_CONSUME_STATS (208): `{"consumeTps":0.0,"offsetTable":{...}}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStats {
    pub consume_tps: f64,
    pub offset_table: Vec<(MessageQueue, OffsetWrapper)>,
}

impl ConsumeStats {
    pub fn encode(&self) -> Vec<u8> {
        encode_json(&serde_json::json!({
            "consumeTps": self.consume_tps,
            "offsetTable": encode_queue_map(&self.offset_table),
        }))
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", default)]
        struct Raw {
            consume_tps: f64,
            offset_table: serde_json::Map<String, serde_json::Value>,
        }
        impl Default for Raw {
            fn default() -> Self {
                Raw {
                    consume_tps: 0.0,
                    offset_table: serde_json::Map::new(),
                }
            }
        }
        let raw: Raw = decode_json("consume stats", bytes)?;
        Ok(ConsumeStats {
            consume_tps: raw.consume_tps,
            offset_table: decode_queue_map(raw.offset_table)?,
        })
    }
}

/// One client connection (`Connection.java`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    /// `ip:port` the broker sees.
    pub client_addr: String,
    pub client_id: String,
    /// `LanguageCode` name of the client's heartbeat (`JAVA`, `CPP`...).
    pub language: String,
    /// `MQVersion` ordinal of the client's heartbeat.
    #[serde(deserialize_with = "lenient::int")]
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST (203) (`ConsumerConnection.java`); the
/// enums are written by name, as Java does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    #[serde(deserialize_with = "lenient::null_default")]
    pub connection_set: Vec<Connection>,
    pub consume_from_where: String,
    pub consume_type: String,
    pub message_model: String,
    /// Topic → subscription.
    #[serde(deserialize_with = "lenient::null_default")]
    pub subscription_table: std::collections::BTreeMap<String, SubscriptionData>,
}

impl JsonBody for ConsumerConnection {
    const WHAT: &'static str = "consumer connection body";
}

/// GET_PRODUCER_CONNECTION_LIST (204) (`ProducerConnection.java`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    #[serde(deserialize_with = "lenient::null_default")]
    pub connection_set: Vec<Connection>,
}

impl JsonBody for ProducerConnection {
    const WHAT: &'static str = "producer connection body";
}

/// INVOKE_BROKER_TO_RESET_OFFSET (222) answer and RESET_CONSUMER_CLIENT_OFFSET
/// (220) body: `{"offsetTable":{"<MessageQueue JSON>":offset,...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResetOffsetBody {
    pub offset_table: Vec<(MessageQueue, i64)>,
}

impl ResetOffsetBody {
    pub fn encode(&self) -> Vec<u8> {
        encode_json(&serde_json::json!({ "offsetTable": encode_queue_map(&self.offset_table) }))
    }

    /// The form RocketMQ's `Broker2Client` sends C++ clients
    /// (`ResetOffsetBodyForC`, a list of `MessageQueueForC`): the C++
    /// client reads `offsetTable` as an array and cannot read the map.
    pub fn encode_for_c(&self) -> Vec<u8> {
        let list: Vec<serde_json::Value> = self
            .offset_table
            .iter()
            .map(|(mq, offset)| {
                serde_json::json!({
                    "brokerName": mq.broker_name,
                    "offset": offset,
                    "queueId": mq.queue_id,
                    "topic": mq.topic,
                })
            })
            .collect();
        encode_json(&serde_json::json!({ "offsetTable": list }))
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Raw {
            offset_table: serde_json::Map<String, serde_json::Value>,
        }
        let raw: Raw = decode_json("reset offset body", bytes)?;
        Ok(ResetOffsetBody {
            offset_table: decode_queue_map(raw.offset_table)?,
        })
    }
}

/// One queue's time span (`QueueTimeSpan.java`). Java also writes its
/// getters `minTimeStampStr`, `maxTimeStampStr`, `consumeTimeStampStr`
/// (`yyyy-MM-dd#HH:mm:ss:SSS`, the JVM's zone): Bolide writes them in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueTimeSpan {
    /// Store time of the last consumed message (the first message's when
    /// nothing is consumed).
    #[serde(deserialize_with = "lenient::int")]
    pub consume_time_stamp: i64,
    pub consume_time_stamp_str: String,
    /// Now minus the store time of the next message to consume; 0 when
    /// the group is caught up.
    #[serde(deserialize_with = "lenient::int")]
    pub delay_time: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub max_time_stamp: i64,
    pub max_time_stamp_str: String,
    pub message_queue: MessageQueue,
    #[serde(deserialize_with = "lenient::int")]
    pub min_time_stamp: i64,
    pub min_time_stamp_str: String,
}

impl QueueTimeSpan {
    /// A span with its `*Str` members derived from the times.
    pub fn new(mq: MessageQueue, min: i64, max: i64, consumed: i64, delay: i64) -> Self {
        QueueTimeSpan {
            consume_time_stamp: consumed,
            consume_time_stamp_str: java_time_text(consumed),
            delay_time: delay,
            max_time_stamp: max,
            max_time_stamp_str: java_time_text(max),
            message_queue: mq,
            min_time_stamp: min,
            min_time_stamp_str: java_time_text(min),
        }
    }
}

/// QUERY_CONSUME_TIME_SPAN (303) (`QueryConsumeTimeSpanBody.java`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryConsumeTimeSpanBody {
    #[serde(deserialize_with = "lenient::null_default")]
    pub consume_time_span_set: Vec<QueueTimeSpan>,
}

impl JsonBody for QueryConsumeTimeSpanBody {
    const WHAT: &'static str = "consume time span body";
}

/// Epoch ms as RocketMQ's `UtilAll.YYYY_MM_DD_HH_MM_SS_SSS` pattern
/// (`yyyy-MM-dd#HH:mm:ss:SSS`), in UTC.
pub fn java_time_text(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let s = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}#{:02}:{:02}:{:02}:{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic
/// Gregorian; Howard Hinnant's civil-from-days algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests;
