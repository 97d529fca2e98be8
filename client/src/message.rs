//! User-facing message types: [`Message`] (what a producer sends),
//! [`SendResult`] (what a send reports) and [`MessageExt`] (a received,
//! stored message).
//!
//! A [`Message`]'s special fields travel as properties (remoting.md §5.4):
//!
//! ```text
//!  tags        → TAGS        (drives the broker's tag-hash filter)
//!  keys        → KEYS        (space-joined; indexed for QUERY_MESSAGE)
//!  delay_level → DELAY       (only when > 0)
//!  (producer)  → UNIQ_KEY    (client-side message id, one per message)
//!  (always)    → WAIT=true   (wait for the store before answering)
//!  properties  → as given
//! ```
//!
//! Invariants checked by [`Message::validate`]: the topic is 1..=127 bytes of
//! `[A-Za-z0-9_%|-]` (RocketMQ's topic pattern; 127 is what C++ consumers can
//! read), the body is non-empty, keys contain no space (the separator), and
//! no name or value can break the properties encoding.
//!
//! [`MessageExt`] ids: `offset_msg_id` is always recomputed from the record's
//! store host and commit-log offset (§5.5); `msg_id` is the `UNIQ_KEY` when
//! present, else the offset id, as Java and C++ consumers expose it. A body
//! with the compressed sysflag bit (0x1) is kept as stored and flagged —
//! this crate has no zlib.

use std::collections::BTreeMap;

use bolide_proto::ids::{GlobalOffset, QueueId, QueueOffset};
use bolide_proto::message::{
    property, records, sysflag, PropertiesBuilder, RecordView, MAX_TOPIC_BYTES_V1,
};
use bolide_proto::msgid::OffsetMsgId;
use bolide_proto::ProtoError;
use bytes::Bytes;

use crate::error::ClientError;
use crate::route::MessageQueue;

/// Properties a [`Message`] fills from its own fields; setting them through
/// `properties` is refused so the two cannot disagree.
const RESERVED_PROPERTIES: [&str; 4] = [
    property::TAGS,
    property::KEYS,
    property::DELAY,
    property::UNIQ_KEY,
];

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub topic: String,
    /// One tag (`TAGS`), used by consumers' tag filters.
    pub tags: Option<String>,
    /// Lookup keys (`KEYS`), each without spaces.
    pub keys: Vec<String>,
    pub body: Bytes,
    /// User properties (not the reserved ones above).
    pub properties: BTreeMap<String, String>,
    /// Delay level 1..=18 (0 = deliver at once).
    pub delay_level: u32,
    /// User flag, stored with the message.
    pub flag: i32,
}

impl Message {
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message {
            topic: topic.into(),
            body: body.into(),
            ..Message::default()
        }
    }

    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.tags = Some(tags.into());
        self
    }

    /// Adds one key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Adds several keys.
    pub fn with_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.keys.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Sets a user property.
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    pub fn with_delay_level(mut self, level: u32) -> Self {
        self.delay_level = level;
        self
    }

    pub fn with_flag(mut self, flag: i32) -> Self {
        self.flag = flag;
        self
    }

    /// Checks what the broker would refuse or what could not be encoded.
    pub fn validate(&self) -> Result<(), ClientError> {
        validate_topic(&self.topic)?;
        if self.body.is_empty() {
            return Err(invalid("message body is empty"));
        }
        if let Some(key) = self
            .keys
            .iter()
            .find(|k| k.contains(property::KEY_SEPARATOR))
        {
            return Err(invalid(format!("message key {key:?} contains a space")));
        }
        if let Some(name) = self
            .properties
            .keys()
            .find(|k| RESERVED_PROPERTIES.contains(&k.as_str()))
        {
            return Err(invalid(format!(
                "property {name} is set by the client; use the message field"
            )));
        }
        Ok(())
    }

    /// The properties string to send, with `uniq_key` as `UNIQ_KEY`.
    pub fn encode_properties(&self, uniq_key: &str) -> Result<String, ClientError> {
        let mut b = PropertiesBuilder::new();
        for (name, value) in &self.properties {
            b.set(name, value)?;
        }
        if let Some(tags) = &self.tags {
            b.set(property::TAGS, tags)?;
        }
        let keys = self.keys_string();
        if !keys.is_empty() {
            b.set(property::KEYS, &keys)?;
        }
        if self.delay_level > 0 {
            b.set(property::DELAY, &self.delay_level.to_string())?;
        }
        b.set(property::WAIT, "true")?;
        b.set(property::UNIQ_KEY, uniq_key)?;
        Ok(b.build())
    }

    /// The keys joined by spaces, skipping empty ones.
    pub fn keys_string(&self) -> String {
        let keys: Vec<&str> = self
            .keys
            .iter()
            .map(String::as_str)
            .filter(|k| !k.is_empty())
            .collect();
        keys.join(" ")
    }
}

/// Checks a topic name: 1..=127 bytes of `[A-Za-z0-9_%|-]`.
pub fn validate_topic(topic: &str) -> Result<(), ClientError> {
    if topic.is_empty() {
        return Err(invalid("topic is empty"));
    }
    if topic.len() > MAX_TOPIC_BYTES_V1 {
        return Err(invalid(format!(
            "topic is {} bytes, more than {MAX_TOPIC_BYTES_V1}",
            topic.len()
        )));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '%' | '|');
    if !topic.chars().all(ok) {
        return Err(invalid(format!(
            "topic {topic:?} has characters outside [A-Za-z0-9_%|-]"
        )));
    }
    Ok(())
}

/// A local validation failure, as a [`ClientError`].
pub(crate) fn invalid(detail: impl Into<String>) -> ClientError {
    ClientError::Invalid {
        what: "message",
        detail: detail.into(),
    }
}

/// How the broker stored a sent message (remoting.md §4.2). Every status
/// means the message *is* stored; the non-OK ones report weaker durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendStatus {
    SendOk,
    /// Sync flush did not finish in time (`FLUSH_DISK_TIMEOUT`, 10).
    FlushDiskTimeout,
    /// Sync replication did not finish in time (`FLUSH_SLAVE_TIMEOUT`, 12).
    FlushSlaveTimeout,
    /// No slave to replicate to (`SLAVE_NOT_AVAILABLE`, 11).
    SlaveNotAvailable,
}

impl SendStatus {
    /// The status of a send response code; `None` for an error code.
    pub fn from_code(code: i32) -> Option<SendStatus> {
        use bolide_proto::codes::response_code as rc;
        match code {
            rc::SUCCESS => Some(SendStatus::SendOk),
            rc::FLUSH_DISK_TIMEOUT => Some(SendStatus::FlushDiskTimeout),
            rc::FLUSH_SLAVE_TIMEOUT => Some(SendStatus::FlushSlaveTimeout),
            rc::SLAVE_NOT_AVAILABLE => Some(SendStatus::SlaveNotAvailable),
            _ => None,
        }
    }
}

/// What a successful send reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub status: SendStatus,
    /// The `UNIQ_KEY`(s) the producer assigned; comma-joined for a batch.
    pub msg_id: String,
    /// The broker's offset message id(s); comma-joined for a batch.
    pub offset_msg_id: String,
    /// The queue the message went to.
    pub queue: MessageQueue,
    /// Its queue offset (the first one for a batch).
    pub queue_offset: QueueOffset,
}

/// A received message, decoded from a stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    pub topic: String,
    pub queue_id: QueueId,
    pub queue_offset: QueueOffset,
    /// Commit-log offset (shard-tagged).
    pub commit_log_offset: GlobalOffset,
    /// `UNIQ_KEY` if present, else `offset_msg_id`.
    pub msg_id: String,
    pub offset_msg_id: String,
    pub tags: Option<String>,
    pub keys: Vec<String>,
    /// Every stored property, including TAGS, KEYS and UNIQ_KEY.
    pub properties: BTreeMap<String, String>,
    /// As stored; zlib-compressed if `compressed`.
    pub body: Bytes,
    /// The body carries the compressed sysflag bit and was not inflated.
    pub compressed: bool,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp_ms: i64,
    pub born_host: std::net::SocketAddr,
    pub store_timestamp_ms: i64,
    pub store_host: std::net::SocketAddr,
    pub reconsume_times: i32,
}

impl MessageExt {
    /// Decodes `view`; `body` is copied unless `source` (the buffer `view`
    /// was parsed from) lets it be shared.
    pub fn from_record(view: &RecordView<'_>, source: Option<&Bytes>) -> MessageExt {
        let props = view.properties();
        let offset_msg_id = OffsetMsgId {
            store_host: view.store_host(),
            offset: view.physical_offset(),
        }
        .encode();
        let msg_id = props
            .get(property::UNIQ_KEY)
            .map_or_else(|| offset_msg_id.clone(), str::to_owned);
        MessageExt {
            topic: view.topic().to_owned(),
            queue_id: QueueId(view.queue_id()),
            queue_offset: view.queue_offset(),
            commit_log_offset: view.physical_offset(),
            msg_id,
            offset_msg_id,
            tags: props.get(property::TAGS).map(str::to_owned),
            keys: props.keys().map(str::to_owned).collect(),
            properties: props
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            body: share_or_copy(view.body(), source),
            compressed: view.sys_flag() & sysflag::COMPRESSED != 0,
            flag: view.flag(),
            sys_flag: view.sys_flag(),
            born_timestamp_ms: view.born_timestamp(),
            born_host: view.born_host(),
            store_timestamp_ms: view.store_timestamp(),
            store_host: view.store_host(),
            reconsume_times: view.reconsume_times(),
        }
    }

    /// Decodes back-to-back records (a PULL / QUERY_MESSAGE / VIEW body),
    /// sharing `buf` for the bodies. Stops at the first bad record.
    pub fn decode_all(buf: &Bytes) -> Result<Vec<MessageExt>, ProtoError> {
        records(buf)
            .map(|r| r.map(|view| MessageExt::from_record(&view, Some(buf))))
            .collect()
    }

    /// The value of property `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
}

/// `part` as a slice of `source` when it lies inside it, else a copy.
fn share_or_copy(part: &[u8], source: Option<&Bytes>) -> Bytes {
    match source {
        Some(src) if is_within(part, src) => src.slice_ref(part),
        _ => Bytes::copy_from_slice(part),
    }
}

fn is_within(part: &[u8], whole: &[u8]) -> bool {
    let (start, end) = (
        whole.as_ptr() as usize,
        whole.as_ptr() as usize + whole.len(),
    );
    let p = part.as_ptr() as usize;
    part.is_empty() || (p >= start && p + part.len() <= end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolide_proto::ids::{PhysicalOffset, ShardId};
    use bolide_proto::message::{AppendStamp, NewMessage, Properties};
    use bytes::BytesMut;

    #[test]
    fn properties_carry_the_special_fields() {
        let m = Message::new("T", "b")
            .with_tags("TagA")
            .with_keys(["k1", "", "k2"])
            .with_property("color", "red")
            .with_delay_level(3);
        let encoded = m.encode_properties("UNIQ1").unwrap();
        let p = Properties(&encoded);
        assert_eq!(p.get("TAGS"), Some("TagA"));
        assert_eq!(p.get("KEYS"), Some("k1 k2"));
        assert_eq!(p.get("DELAY"), Some("3"));
        assert_eq!(p.get("UNIQ_KEY"), Some("UNIQ1"));
        assert_eq!(p.get("WAIT"), Some("true"));
        assert_eq!(p.get("color"), Some("red"));
        let plain = Message::new("T", "b").encode_properties("U").unwrap();
        assert_eq!(Properties(&plain).get("KEYS"), None);
        assert_eq!(Properties(&plain).get("DELAY"), None);
    }

    #[test]
    fn validation_table() {
        let long = "t".repeat(128);
        let cases: [(Message, bool); 9] = [
            (Message::new("Topic_1-%|x", "b"), true),
            (Message::new("", "b"), false),
            (Message::new(long.as_str(), "b"), false),
            (Message::new("a b", "b"), false),
            (Message::new("T", ""), false),
            (Message::new("T", "b").with_key("a b"), false),
            (Message::new("T", "b").with_property("TAGS", "x"), false),
            (Message::new("T", "b").with_property("UNIQ_KEY", "x"), false),
            (Message::new("T", "b").with_property("ok", "x"), true),
        ];
        for (m, ok) in cases {
            assert_eq!(m.validate().is_ok(), ok, "{m:?}");
        }
        let bad_value = Message::new("T", "b").with_property("p", "a\u{1}b");
        assert!(bad_value.encode_properties("U").is_err());
    }

    #[test]
    fn send_status_from_codes() {
        let cases = [
            (0, Some(SendStatus::SendOk)),
            (10, Some(SendStatus::FlushDiskTimeout)),
            (11, Some(SendStatus::SlaveNotAvailable)),
            (12, Some(SendStatus::FlushSlaveTimeout)),
            (1, None),
            (17, None),
        ];
        for (code, want) in cases {
            assert_eq!(SendStatus::from_code(code), want, "{code}");
        }
    }

    fn record(props: &str, sys_flag: i32) -> Bytes {
        let msg = NewMessage {
            topic: "T".into(),
            queue_id: 3,
            flag: 9,
            sys_flag,
            born_timestamp: 1000,
            born_host: "10.0.0.1:5000".parse().unwrap(),
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 2,
            prepared_transaction_offset: 0,
            body: Bytes::from_static(b"hello"),
            properties: props.into(),
        };
        let stamp = AppendStamp {
            queue_offset: QueueOffset(7),
            physical_offset: GlobalOffset::new(ShardId(1), PhysicalOffset(4096)).unwrap(),
            store_timestamp: 2000,
        };
        let mut out = BytesMut::new();
        msg.encode(stamp, &mut out).unwrap();
        out.freeze()
    }

    #[test]
    fn message_ext_from_records() {
        let mut b = PropertiesBuilder::new();
        b.set("TAGS", "TagA").unwrap();
        b.set("KEYS", "k1 k2").unwrap();
        b.set("UNIQ_KEY", "ABC").unwrap();
        let mut both = BytesMut::new();
        both.extend_from_slice(&record(&b.build(), 0));
        both.extend_from_slice(&record("", sysflag::COMPRESSED));
        let all = MessageExt::decode_all(&both.freeze()).unwrap();
        assert_eq!(all.len(), 2);
        let m = &all[0];
        assert_eq!(
            (m.topic.as_str(), m.queue_id, m.queue_offset),
            ("T", QueueId(3), QueueOffset(7))
        );
        assert_eq!(m.msg_id, "ABC");
        assert_eq!(m.tags.as_deref(), Some("TagA"));
        assert_eq!(m.keys, ["k1", "k2"]);
        assert_eq!(&m.body[..], b"hello");
        assert_eq!((m.flag, m.reconsume_times), (9, 2));
        assert_eq!((m.born_timestamp_ms, m.store_timestamp_ms), (1000, 2000));
        assert!(!m.compressed);
        let id = OffsetMsgId::decode(&m.offset_msg_id).unwrap();
        assert_eq!(id.offset, m.commit_log_offset);
        assert_eq!(id.store_host, m.store_host);
        let plain = &all[1];
        assert_eq!(plain.msg_id, plain.offset_msg_id, "no UNIQ_KEY: offset id");
        assert!(plain.compressed);
        assert_eq!(plain.tags, None);
    }
}
