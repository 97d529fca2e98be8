//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320)
//! headers, remoting.md §4.2.
//!
//! Code 10 carries long field names (`producerGroup`, `topic`, …); 310 and
//! 320 carry the same fields under one-letter names `a`..`n`. Both decode
//! into one [`SendMessageRequestHeader`]. A batch is signalled by
//! `batch`/`m` = true, not by the request code: the C++ client sends
//! batches as 310.

use crate::codes::request_code;
use crate::error::Result;
use crate::ext::{ExtFields, FieldValue};
use crate::header::{command_header, CommandHeader};

/// The send request, in either naming.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendMessageRequestHeader {
    pub producer_group: String,
    pub topic: String,
    /// Template topic for auto-creation (`TBW102`).
    pub default_topic: String,
    /// Queue count for an auto-created topic.
    pub default_topic_queue_nums: i32,
    /// Target queue; negative = broker picks.
    pub queue_id: i32,
    /// `MessageSysFlag` bits.
    pub sys_flag: i32,
    /// Producer wall clock, ms.
    pub born_timestamp: i64,
    /// User flag, stored as the record's FLAG.
    pub flag: i32,
    /// Properties string (`name\x01value\x02`…).
    pub properties: Option<String>,
    pub reconsume_times: Option<i32>,
    pub unit_mode: Option<bool>,
    pub max_reconsume_times: Option<i32>,
    /// True ⇒ the body is a batch.
    pub batch: Option<bool>,
    /// Target broker name (Java 5.x).
    pub broker_name: Option<String>,
}

/// Wire names of the 14 fields, in struct order.
type FieldNames = [&'static str; 14];

/// Names of the code-10 header (`SendMessageRequestHeader.java`).
const V1_NAMES: FieldNames = [
    "producerGroup",
    "topic",
    "defaultTopic",
    "defaultTopicQueueNums",
    "queueId",
    "sysFlag",
    "bornTimestamp",
    "flag",
    "properties",
    "reconsumeTimes",
    "unitMode",
    "maxReconsumeTimes",
    "batch",
    "bname",
];

/// Names of the 310/320 header (`SendMessageRequestHeaderV2.java`).
/// Index of `key` in `names`; V2's one-letter keys map directly.
fn field_index(key: &str, names: &FieldNames) -> Option<usize> {
    if let [b @ b'a'..=b'n'] = key.as_bytes() {
        let i = (b - b'a') as usize;
        return (names[i] == key).then_some(i);
    }
    names.iter().position(|name| *name == key)
}

const V2_NAMES: FieldNames = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
];

impl SendMessageRequestHeader {
    /// Decodes the long-name header of code 10.
    pub fn from_v1(ext: &ExtFields) -> Result<Self> {
        Self::read_with(ext, &V1_NAMES)
    }

    /// Decodes the short-name header of codes 310/320.
    pub fn from_v2(ext: &ExtFields) -> Result<Self> {
        Self::read_with(ext, &V2_NAMES)
    }

    /// Decodes the header of a send request with `code`: V1 for
    /// SEND_MESSAGE (and SEND_REPLY_MESSAGE), V2 otherwise.
    pub fn from_request(code: i32, ext: &ExtFields) -> Result<Self> {
        match code {
            request_code::SEND_MESSAGE | request_code::SEND_REPLY_MESSAGE => Self::from_v1(ext),
            _ => Self::from_v2(ext),
        }
    }

    /// Writes the short-name (V2) form.
    pub fn to_v2(&self, ext: &mut ExtFields) {
        self.write_with(ext, &V2_NAMES);
    }

    /// True when the body is a batch.
    pub fn is_batch(&self) -> bool {
        self.batch == Some(true)
    }

    /// One pass over `ext` (sends are the hottest request: no per-field
    /// scans); unknown keys such as the C++ credentials are skipped.
    fn read_with(ext: &ExtFields, n: &FieldNames) -> Result<Self> {
        let mut raw: [Option<&str>; 14] = [None; 14];
        for (key, value) in ext.iter() {
            if let Some(i) = field_index(key, n) {
                raw[i] = Some(value);
            }
        }
        Ok(SendMessageRequestHeader {
            producer_group: FieldValue::read_field(raw[0], n[0])?,
            topic: FieldValue::read_field(raw[1], n[1])?,
            default_topic: FieldValue::read_field(raw[2], n[2])?,
            default_topic_queue_nums: FieldValue::read_field(raw[3], n[3])?,
            queue_id: FieldValue::read_field(raw[4], n[4])?,
            sys_flag: FieldValue::read_field(raw[5], n[5])?,
            born_timestamp: FieldValue::read_field(raw[6], n[6])?,
            flag: FieldValue::read_field(raw[7], n[7])?,
            properties: FieldValue::read_field(raw[8], n[8])?,
            reconsume_times: FieldValue::read_field(raw[9], n[9])?,
            unit_mode: FieldValue::read_field(raw[10], n[10])?,
            max_reconsume_times: FieldValue::read_field(raw[11], n[11])?,
            batch: FieldValue::read_field(raw[12], n[12])?,
            broker_name: FieldValue::read_field(raw[13], n[13])?,
        })
    }

    fn write_with(&self, ext: &mut ExtFields, n: &FieldNames) {
        ext.write(n[0], &self.producer_group);
        ext.write(n[1], &self.topic);
        ext.write(n[2], &self.default_topic);
        ext.write(n[3], &self.default_topic_queue_nums);
        ext.write(n[4], &self.queue_id);
        ext.write(n[5], &self.sys_flag);
        ext.write(n[6], &self.born_timestamp);
        ext.write(n[7], &self.flag);
        ext.write(n[8], &self.properties);
        ext.write(n[9], &self.reconsume_times);
        ext.write(n[10], &self.unit_mode);
        ext.write(n[11], &self.max_reconsume_times);
        ext.write(n[12], &self.batch);
        ext.write(n[13], &self.broker_name);
    }
}

/// The long-name (V1) form is the canonical one.
impl CommandHeader for SendMessageRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self> {
        Self::from_v1(ext)
    }

    fn to_ext(&self, ext: &mut ExtFields) {
        self.write_with(ext, &V1_NAMES);
    }
}

/// The Java broker's default `regionId`, sent as `MSG_REGION`.
pub const DEFAULT_REGION: &str = "DefaultRegion";

command_header! {
    /// SEND response. Clients read `msgId`/`queueId`/`queueOffset` also on
    /// FLUSH_*/SLAVE_NOT_AVAILABLE, and Java dereferences `MSG_REGION` and
    /// `TRACE_ON`, so a broker fills all of them.
    pub struct SendMessageResponseHeader {
        /// offsetMsgId(s) of the stored message(s), comma-joined for a batch.
        msg_id: String = "msgId",
        queue_id: i32 = "queueId",
        /// Queue offset of the (first) stored message.
        queue_offset: i64 = "queueOffset",
        /// The message's `UNIQ_KEY`.
        transaction_id: Option<String> = "transactionId",
        batch_uniq_id: Option<String> = "batchUniqId",
        /// Broker region (`DefaultRegion`).
        msg_region: Option<String> = "MSG_REGION",
        /// Trace switch, `"true"`/`"false"`.
        trace_on: Option<bool> = "TRACE_ON",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProtoError;
    use crate::header::test_util::{assert_round_trip, ext};

    fn sample() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "pg".into(),
            topic: "TopicTest".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 1,
            sys_flag: 0,
            born_timestamp: 1_581_912_345_678,
            flag: 0,
            properties: Some("TAGS\u{1}TagA\u{2}".into()),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: Some(16),
            batch: Some(false),
            broker_name: None,
        }
    }

    #[test]
    fn v1_and_v2_decode_to_the_same_header() {
        let h = sample();
        let mut v2 = ExtFields::new();
        h.to_v2(&mut v2);
        assert_eq!(v2.get("b"), Some("TopicTest"));
        assert_eq!(SendMessageRequestHeader::from_request(310, &v2).unwrap(), h);
        assert_eq!(SendMessageRequestHeader::from_request(320, &v2).unwrap(), h);
        let v1 = h.to_ext_fields();
        assert_eq!(v1.get("producerGroup"), Some("pg"));
        assert_eq!(SendMessageRequestHeader::from_request(10, &v1).unwrap(), h);
        assert_round_trip(&h);
    }

    #[test]
    fn batch_flag() {
        let cases = [
            (None, false),
            (Some("false"), false),
            (Some("true"), true),
            (Some("TRUE"), true),
        ];
        for (m, want) in cases {
            let mut e = ext(&[
                ("a", "g"),
                ("b", "t"),
                ("c", "TBW102"),
                ("d", "4"),
                ("e", "0"),
                ("f", "0"),
                ("g", "1"),
                ("h", "0"),
            ]);
            if let Some(m) = m {
                e.insert("m", m);
            }
            assert_eq!(
                SendMessageRequestHeader::from_v2(&e).unwrap().is_batch(),
                want,
                "{m:?}"
            );
        }
    }

    #[test]
    fn names_the_missing_or_bad_field() {
        let e = ext(&[("a", "g"), ("b", "t"), ("c", "TBW102"), ("d", "x")]);
        assert!(matches!(
            SendMessageRequestHeader::from_v2(&e),
            Err(ProtoError::Invalid { what: "d", .. })
        ));
        let e = ext(&[("a", "g")]);
        assert_eq!(
            SendMessageRequestHeader::from_v2(&e),
            Err(ProtoError::MissingField("b"))
        );
        assert_eq!(
            SendMessageRequestHeader::from_v1(&e),
            Err(ProtoError::MissingField("producerGroup"))
        );
    }

    #[test]
    fn response_round_trip() {
        assert_round_trip(&SendMessageResponseHeader {
            msg_id: "0A02DFA500002A9F0000000163E60ADB".into(),
            queue_id: 0,
            queue_offset: 12,
            transaction_id: Some("UNIQ".into()),
            batch_uniq_id: None,
            msg_region: Some("DefaultRegion".into()),
            trace_on: Some(true),
        });
    }
}
