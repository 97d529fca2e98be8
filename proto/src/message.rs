//! The stored message record: the commit-log format, which is also the body
//! of PULL_MESSAGE, QUERY_MESSAGE and VIEW_MESSAGE_BY_ID responses, so a pull
//! is served from log bytes without re-encoding (remoting.md §5).
//!
//! ```text
//!  off  size  field                      (offsets for IPv4 born/store hosts)
//!    0     4  TOTALSIZE                  whole record incl. this field
//!    4     4  MAGICCODE                  v1 0xDAA320A7 | v2 0xDAA320AB
//!    8     4  BODYCRC                    crc32(body) & 0x7FFFFFFF
//!   12     4  QUEUEID
//!   16     4  FLAG                       producer's flag
//!   20     8  QUEUEOFFSET                logical offset in the consume queue
//!   28     8  PHYSICALOFFSET             GlobalOffset (shard-tagged)
//!   36     4  SYSFLAG                    MessageSysFlag bits
//!   40     8  BORNTIMESTAMP
//!   48   8|20 BORNHOST                   ip + int32 port; 20 bytes if v6 bit
//!   56     8  STORETIMESTAMP
//!   64   8|20 STOREHOST
//!   72     4  RECONSUMETIMES
//!   76     8  PREPARED TRANSACTION OFFSET
//!   84  4+n   BODY                       int32 length + bytes
//!    .  1+t   TOPIC                      v1: i8 length | v2: i16 length
//!    .  2+p   PROPERTIES                 i16 length + `k\x01v\x02` pairs
//! ```
//!
//! All integers are big-endian. v2 magic is written only for topics longer
//! than 127 bytes, since C++ clients read the topic length as one signed byte.
//! A batch send body (§5.8) uses a reduced record per message; see
//! [`decode_batch`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{ProtoError, Result};
use crate::ids::{GlobalOffset, QueueOffset};

/// Magic of a v1 record (1-byte topic length).
pub const MAGIC_V1: u32 = 0xDAA3_20A7;
/// Magic of a v2 record (2-byte topic length).
pub const MAGIC_V2: u32 = 0xDAA3_20AB;
/// Magic of the filler that pads the end of a commit-log segment.
pub const BLANK_MAGIC: u32 = 0xCBD4_3194;
/// Size of a blank filler header (length + magic); a filler is at least this long.
pub const BLANK_HEADER_BYTES: usize = 8;

/// Properties are length-prefixed by an i16.
pub const MAX_PROPERTIES_BYTES: usize = i16::MAX as usize;
/// Longest topic a v1 record (and a C++ consumer) can carry.
pub const MAX_TOPIC_BYTES_V1: usize = i8::MAX as usize;
/// Longest topic a v2 record can carry.
pub const MAX_TOPIC_BYTES_V2: usize = i16::MAX as usize;
/// Sanity cap on one record's size while decoding untrusted bytes; the
/// broker enforces its (smaller) configured message size limit on input.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Byte positions of the fixed-position fields.
pub mod pos {
    pub const TOTAL_SIZE: usize = 0;
    pub const MAGIC: usize = 4;
    pub const BODY_CRC: usize = 8;
    pub const QUEUE_ID: usize = 12;
    pub const FLAG: usize = 16;
    pub const QUEUE_OFFSET: usize = 20;
    pub const PHYSICAL_OFFSET: usize = 28;
    pub const SYS_FLAG: usize = 36;
    pub const BORN_TIMESTAMP: usize = 40;
    pub const BORN_HOST: usize = 48;
}

/// `MessageSysFlag` bits (remoting.md §5.3).
pub mod sysflag {
    pub const COMPRESSED: i32 = 0x1;
    pub const MULTI_TAGS: i32 = 0x2;
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
    /// Mask of the transaction type bits.
    pub const TRANSACTION_MASK: i32 = 0xC;
    pub const BORN_HOST_V6: i32 = 0x10;
    pub const STORE_HOST_V6: i32 = 0x20;
}

/// Well-known property names (remoting.md §5.4).
pub mod property {
    pub const KEYS: &str = "KEYS";
    pub const TAGS: &str = "TAGS";
    pub const WAIT: &str = "WAIT";
    pub const DELAY: &str = "DELAY";
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    pub const REAL_QID: &str = "REAL_QID";
    pub const TRAN_MSG: &str = "TRAN_MSG";
    pub const PRODUCER_GROUP: &str = "PGROUP";
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const CLUSTER: &str = "CLUSTER";
    pub const MSG_REGION: &str = "MSG_REGION";
    pub const TRACE_ON: &str = "TRACE_ON";
    pub const TRANSACTION_ID: &str = "__transactionId__";
    pub const SHARDING_KEY: &str = "__SHARDINGKEY";
    /// `KEYS` holds several keys separated by this.
    pub const KEY_SEPARATOR: char = ' ';
    /// Between a name and its value.
    pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
    /// After each name/value pair, including the last.
    pub const PROPERTY_SEPARATOR: char = '\u{2}';
}

/// A message as the broker hands it to the store: everything but the fields
/// the store assigns at append time ([`AppendStamp`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub topic: String,
    pub queue_id: u32,
    pub flag: i32,
    /// Host v6 bits are derived from the addresses when encoding.
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: Bytes,
    /// Encoded properties string (see [`Properties`]).
    pub properties: String,
}

/// Fields the store fills in when it appends a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendStamp {
    pub queue_offset: QueueOffset,
    pub physical_offset: GlobalOffset,
    pub store_timestamp: i64,
}

fn host_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 8,
        SocketAddr::V6(_) => 20,
    }
}

impl NewMessage {
    /// Size of the encoded record in bytes.
    pub fn encoded_len(&self) -> usize {
        let topic_len_bytes = if self.topic.len() > MAX_TOPIC_BYTES_V1 {
            2
        } else {
            1
        };
        4 + 4
            + 4
            + 4
            + 4
            + 8
            + 8
            + 4
            + 8
            + host_len(&self.born_host)
            + 8
            + host_len(&self.store_host)
            + 4
            + 8
            + 4
            + self.body.len()
            + topic_len_bytes
            + self.topic.len()
            + 2
            + self.properties.len()
    }

    /// Checks the limits the record format itself imposes.
    pub fn validate(&self) -> Result<()> {
        if self.topic.is_empty() {
            return Err(ProtoError::invalid("topic", "empty"));
        }
        if self.topic.len() > MAX_TOPIC_BYTES_V2 {
            return Err(too_large("topic", self.topic.len(), MAX_TOPIC_BYTES_V2));
        }
        if self.properties.len() > MAX_PROPERTIES_BYTES {
            let len = self.properties.len();
            return Err(too_large("properties", len, MAX_PROPERTIES_BYTES));
        }
        if self.encoded_len() > MAX_RECORD_BYTES {
            return Err(too_large("record", self.encoded_len(), MAX_RECORD_BYTES));
        }
        Ok(())
    }

    /// The sysflag as stored: host v6 bits follow the addresses.
    pub fn stored_sys_flag(&self) -> i32 {
        let mut flag = self.sys_flag & !(sysflag::BORN_HOST_V6 | sysflag::STORE_HOST_V6);
        if self.born_host.is_ipv6() {
            flag |= sysflag::BORN_HOST_V6;
        }
        if self.store_host.is_ipv6() {
            flag |= sysflag::STORE_HOST_V6;
        }
        flag
    }

    /// Encodes the record into `dst`, which must be exactly
    /// [`encoded_len`](Self::encoded_len) bytes long (so the store can write
    /// straight into its aligned I/O buffer). Call [`validate`](Self::validate) first.
    pub fn encode_into(&self, stamp: AppendStamp, dst: &mut [u8]) -> Result<()> {
        self.validate()?;
        let total = self.encoded_len();
        if dst.len() != total {
            return Err(ProtoError::invalid(
                "record buffer",
                format!("{} bytes for a {total}-byte record", dst.len()),
            ));
        }
        let v2 = self.topic.len() > MAX_TOPIC_BYTES_V1;
        let mut w: &mut [u8] = dst;
        w.put_u32(total as u32);
        w.put_u32(if v2 { MAGIC_V2 } else { MAGIC_V1 });
        w.put_u32(body_crc(&self.body));
        w.put_u32(self.queue_id);
        w.put_i32(self.flag);
        w.put_u64(stamp.queue_offset.0);
        w.put_u64(stamp.physical_offset.0);
        w.put_i32(self.stored_sys_flag());
        w.put_i64(self.born_timestamp);
        put_host(&mut w, &self.born_host);
        w.put_i64(stamp.store_timestamp);
        put_host(&mut w, &self.store_host);
        w.put_i32(self.reconsume_times);
        w.put_i64(self.prepared_transaction_offset);
        w.put_u32(self.body.len() as u32);
        w.put_slice(&self.body);
        if v2 {
            w.put_u16(self.topic.len() as u16);
        } else {
            w.put_u8(self.topic.len() as u8);
        }
        w.put_slice(self.topic.as_bytes());
        w.put_u16(self.properties.len() as u16);
        w.put_slice(self.properties.as_bytes());
        debug_assert!(w.is_empty());
        Ok(())
    }

    /// Encodes the record onto the end of `out`.
    pub fn encode(&self, stamp: AppendStamp, out: &mut BytesMut) -> Result<()> {
        let start = out.len();
        out.resize(start + self.encoded_len(), 0);
        self.encode_into(stamp, &mut out[start..])
    }
}

fn too_large(what: &'static str, size: usize, limit: usize) -> ProtoError {
    ProtoError::TooLarge { what, size, limit }
}

/// CRC32 of a body as RocketMQ stores it (`crc32 & 0x7FFFFFFF`).
pub fn body_crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

fn put_host(w: &mut &mut [u8], addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => w.put_slice(&ip.octets()),
        IpAddr::V6(ip) => w.put_slice(&ip.octets()),
    }
    w.put_u32(addr.port() as u32);
}

/// What starts at a position of a commit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordHead {
    /// A message record of this total size.
    Message(usize),
    /// A segment-end filler of this size.
    Blank(usize),
}

/// Reads only the size and magic at the start of `buf`.
pub fn peek_head(buf: &[u8]) -> Result<RecordHead> {
    if buf.len() < BLANK_HEADER_BYTES {
        return Err(ProtoError::Incomplete {
            needed: BLANK_HEADER_BYTES,
        });
    }
    let total = read_u32(buf, pos::TOTAL_SIZE) as usize;
    match read_u32(buf, pos::MAGIC) {
        MAGIC_V1 | MAGIC_V2 if (MIN_RECORD_BYTES..=MAX_RECORD_BYTES).contains(&total) => {
            Ok(RecordHead::Message(total))
        }
        BLANK_MAGIC if total >= BLANK_HEADER_BYTES => Ok(RecordHead::Blank(total)),
        MAGIC_V1 | MAGIC_V2 | BLANK_MAGIC => {
            Err(ProtoError::invalid("record size", total.to_string()))
        }
        magic => Err(ProtoError::invalid(
            "record magic",
            format!("{magic:#010x}"),
        )),
    }
}

/// Writes a segment-end filler header into `dst` (the rest of the filler is
/// never read).
pub fn encode_blank(len: usize, dst: &mut [u8]) {
    let mut w: &mut [u8] = &mut dst[..BLANK_HEADER_BYTES];
    w.put_u32(len as u32);
    w.put_u32(BLANK_MAGIC);
}

/// Smallest possible record: IPv4 hosts, empty body, 1-byte topic, no properties.
pub const MIN_RECORD_BYTES: usize = 84 + 4 + 1 + 1 + 2;

/// A decoded view of one stored record, borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    bytes: &'a [u8],
    born_host_len: usize,
    store_host_len: usize,
    body_pos: usize,
    body_len: usize,
    /// Validated once at parse time.
    topic: &'a str,
    properties: &'a str,
}

impl<'a> RecordView<'a> {
    /// Parses the record at the start of `buf`, validating its layout (not
    /// its CRC: see [`crc_ok`](Self::crc_ok)). `Incomplete` if `buf` holds
    /// less than the whole record.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let total = match peek_head(buf)? {
            RecordHead::Message(total) => total,
            RecordHead::Blank(_) => return Err(ProtoError::invalid("record", "blank filler")),
        };
        if buf.len() < total {
            return Err(ProtoError::Incomplete { needed: total });
        }
        Self::layout(&buf[..total])
    }

    fn layout(bytes: &'a [u8]) -> Result<Self> {
        let sys_flag = read_i32(bytes, pos::SYS_FLAG);
        let born_host_len = if sys_flag & sysflag::BORN_HOST_V6 != 0 {
            20
        } else {
            8
        };
        let store_host_len = if sys_flag & sysflag::STORE_HOST_V6 != 0 {
            20
        } else {
            8
        };
        let body_len_pos = pos::BORN_HOST + born_host_len + 8 + store_host_len + 4 + 8;
        let body_pos = body_len_pos + 4;
        let body_len = checked_u32(bytes, body_len_pos)?;
        let topic_len_pos = end_of(bytes, body_pos, body_len)?;
        let v2 = read_u32(bytes, pos::MAGIC) == MAGIC_V2;
        let (topic_pos, topic_len) = if v2 {
            (topic_len_pos + 2, checked_u16(bytes, topic_len_pos)?)
        } else {
            let len = *bytes.get(topic_len_pos).ok_or_else(short)? as i8;
            let len = usize::try_from(len).map_err(|_| bad_len("topic"))?;
            (topic_len_pos + 1, len)
        };
        let props_len_pos = end_of(bytes, topic_pos, topic_len)?;
        let props_pos = props_len_pos + 2;
        let props_len = checked_u16(bytes, props_len_pos)?;
        if end_of(bytes, props_pos, props_len)? != bytes.len() {
            return Err(ProtoError::invalid(
                "record",
                "fields do not fill TOTALSIZE",
            ));
        }
        let topic = std::str::from_utf8(&bytes[topic_pos..topic_pos + topic_len])
            .map_err(|_| ProtoError::invalid("topic", "not UTF-8"))?;
        let properties = std::str::from_utf8(&bytes[props_pos..props_pos + props_len])
            .map_err(|_| ProtoError::invalid("properties", "not UTF-8"))?;
        Ok(RecordView {
            bytes,
            born_host_len,
            store_host_len,
            body_pos,
            body_len,
            topic,
            properties,
        })
    }

    /// The record's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn total_size(&self) -> usize {
        self.bytes.len()
    }
    pub fn magic(&self) -> u32 {
        read_u32(self.bytes, pos::MAGIC)
    }
    pub fn stored_body_crc(&self) -> u32 {
        read_u32(self.bytes, pos::BODY_CRC)
    }
    /// True when the stored CRC matches the body.
    pub fn crc_ok(&self) -> bool {
        self.stored_body_crc() == body_crc(self.body())
    }
    pub fn queue_id(&self) -> u32 {
        read_u32(self.bytes, pos::QUEUE_ID)
    }
    pub fn flag(&self) -> i32 {
        read_i32(self.bytes, pos::FLAG)
    }
    pub fn queue_offset(&self) -> QueueOffset {
        QueueOffset(read_u64(self.bytes, pos::QUEUE_OFFSET))
    }
    pub fn physical_offset(&self) -> GlobalOffset {
        GlobalOffset(read_u64(self.bytes, pos::PHYSICAL_OFFSET))
    }
    pub fn sys_flag(&self) -> i32 {
        read_i32(self.bytes, pos::SYS_FLAG)
    }
    pub fn born_timestamp(&self) -> i64 {
        read_i64(self.bytes, pos::BORN_TIMESTAMP)
    }
    pub fn born_host(&self) -> SocketAddr {
        read_host(self.bytes, pos::BORN_HOST, self.born_host_len)
    }
    fn store_timestamp_pos(&self) -> usize {
        pos::BORN_HOST + self.born_host_len
    }
    pub fn store_timestamp(&self) -> i64 {
        read_i64(self.bytes, self.store_timestamp_pos())
    }
    pub fn store_host(&self) -> SocketAddr {
        read_host(
            self.bytes,
            self.store_timestamp_pos() + 8,
            self.store_host_len,
        )
    }
    pub fn reconsume_times(&self) -> i32 {
        read_i32(
            self.bytes,
            self.store_timestamp_pos() + 8 + self.store_host_len,
        )
    }
    pub fn prepared_transaction_offset(&self) -> i64 {
        read_i64(
            self.bytes,
            self.store_timestamp_pos() + 12 + self.store_host_len,
        )
    }
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[self.body_pos..self.body_pos + self.body_len]
    }
    pub fn topic(&self) -> &'a str {
        self.topic
    }
    /// The raw properties string.
    pub fn properties(&self) -> Properties<'a> {
        Properties(self.properties)
    }

    /// Rebuilds the owned message (used to re-put a record, e.g. for retries).
    pub fn to_new_message(&self) -> NewMessage {
        NewMessage {
            topic: self.topic().to_owned(),
            queue_id: self.queue_id(),
            flag: self.flag(),
            sys_flag: self.sys_flag(),
            born_timestamp: self.born_timestamp(),
            born_host: self.born_host(),
            store_host: self.store_host(),
            reconsume_times: self.reconsume_times(),
            prepared_transaction_offset: self.prepared_transaction_offset(),
            body: Bytes::copy_from_slice(self.body()),
            properties: self.properties().as_str().to_owned(),
        }
    }
}

/// Iterates over back-to-back records (a PULL body), stopping at the end or
/// at the first record that does not decode (returned as an error).
pub fn records(buf: &[u8]) -> impl Iterator<Item = Result<RecordView<'_>>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match RecordView::parse(rest) {
            Ok(view) => {
                rest = &rest[view.total_size()..];
                Some(Ok(view))
            }
            Err(e) => {
                rest = &[];
                Some(Err(e))
            }
        }
    })
}

/// A properties string: `name\x01value\x02` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Properties<'a>(pub &'a str);

impl<'a> Properties<'a> {
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Pairs in order; like Java and C++, drops segments with an empty name
    /// or value.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .split(property::PROPERTY_SEPARATOR)
            .filter_map(|seg| seg.split_once(property::NAME_VALUE_SEPARATOR))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The values of several names in one pass over the string (the store
    /// and the send path each need a few per message).
    pub fn get_many<const N: usize>(&self, names: [&str; N]) -> [Option<&'a str>; N] {
        let mut found = [None; N];
        for (k, v) in self.iter() {
            if let Some(i) = names.iter().position(|n| *n == k) {
                found[i] = Some(v);
            }
        }
        found
    }

    /// The message keys (`KEYS`, space-separated), without empties.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        split_keys(self.get(property::KEYS))
    }
}

/// The keys of a `KEYS` value (space-separated), without empties.
pub fn split_keys(keys: Option<&str>) -> impl Iterator<Item = &str> {
    keys.unwrap_or_default()
        .split(property::KEY_SEPARATOR)
        .filter(|k| !k.is_empty())
}

/// Builds a properties string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertiesBuilder(String);

impl PropertiesBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from an existing string, dropping malformed segments.
    pub fn from_properties(props: Properties<'_>) -> Self {
        let mut b = Self::new();
        for (k, v) in props.iter() {
            b.push(k, v);
        }
        b
    }

    fn push(&mut self, name: &str, value: &str) {
        self.0.push_str(name);
        self.0.push(property::NAME_VALUE_SEPARATOR);
        self.0.push_str(value);
        self.0.push(property::PROPERTY_SEPARATOR);
    }

    /// Sets `name` to `value`, replacing an earlier value. Names or values
    /// that are empty or contain a separator are rejected, since they could
    /// not be read back.
    pub fn set(&mut self, name: &str, value: &str) -> Result<&mut Self> {
        let bad = |s: &str| {
            s.is_empty()
                || s.contains([property::NAME_VALUE_SEPARATOR, property::PROPERTY_SEPARATOR])
        };
        if bad(name) || bad(value) {
            return Err(ProtoError::invalid(
                "property",
                format!("{name:?}={value:?}"),
            ));
        }
        self.remove(name);
        self.push(name, value);
        Ok(self)
    }

    /// Removes `name` if present.
    pub fn remove(&mut self, name: &str) -> &mut Self {
        if Properties(&self.0).get(name).is_some() {
            let kept: Vec<(String, String)> = Properties(&self.0)
                .iter()
                .filter(|(k, _)| *k != name)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            self.0.clear();
            for (k, v) in kept {
                self.push(&k, &v);
            }
        }
        self
    }

    pub fn build(self) -> String {
        self.0
    }
}

/// Appends `name`=`value` to an encoded properties string without
/// re-encoding it (the caller knows `name` is absent). A missing trailing
/// separator after the last pair (some writers omit it) is added first.
pub fn push_property(props: &mut String, name: &str, value: &str) {
    if !props.is_empty() && !props.ends_with(property::PROPERTY_SEPARATOR) {
        props.push(property::PROPERTY_SEPARATOR);
    }
    props.reserve(name.len() + value.len() + 2);
    props.push_str(name);
    props.push(property::NAME_VALUE_SEPARATOR);
    props.push_str(value);
    props.push(property::PROPERTY_SEPARATOR);
}

/// One message of a batch send body (§5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchItem<'a> {
    pub flag: i32,
    pub body: &'a [u8],
    pub properties: Properties<'a>,
}

/// Fixed part of a batch item: size, magic, crc, flag, body length.
const BATCH_ITEM_FIXED_BYTES: usize = 4 + 4 + 4 + 4 + 4;

/// Decodes a batch body into its messages. The batch is complete (it came in
/// one frame), so any shortfall is invalid rather than incomplete.
pub fn decode_batch(body: &[u8]) -> Result<Vec<BatchItem<'_>>> {
    let mut items = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        if rest.len() < BATCH_ITEM_FIXED_BYTES + 2 {
            return Err(ProtoError::invalid("batch", "truncated item"));
        }
        let total = read_u32(rest, 0) as usize;
        if total < BATCH_ITEM_FIXED_BYTES + 2 || total > rest.len() {
            return Err(ProtoError::invalid("batch item size", total.to_string()));
        }
        let item = &rest[..total];
        let flag = read_i32(item, 12);
        let body_len = checked_u32(item, 16)?;
        let props_len_pos = end_of(item, 20, body_len)?;
        let props_len = checked_u16(item, props_len_pos)?;
        if end_of(item, props_len_pos + 2, props_len)? != total {
            return Err(ProtoError::invalid(
                "batch item",
                "fields do not fill its size",
            ));
        }
        let props = &item[props_len_pos + 2..total];
        let props = std::str::from_utf8(props)
            .map_err(|_| ProtoError::invalid("properties", "not UTF-8"))?;
        items.push(BatchItem {
            flag,
            body: &item[20..20 + body_len],
            properties: Properties(props),
        });
        rest = &rest[total..];
    }
    Ok(items)
}

/// Encodes one batch item (what a producer sends; used by the Rust client).
pub fn encode_batch_item(flag: i32, body: &[u8], properties: &str, out: &mut BytesMut) {
    let total = BATCH_ITEM_FIXED_BYTES + body.len() + 2 + properties.len();
    out.put_u32(total as u32);
    out.put_u32(0);
    out.put_u32(0);
    out.put_i32(flag);
    out.put_u32(body.len() as u32);
    out.put_slice(body);
    out.put_u16(properties.len() as u16);
    out.put_slice(properties.as_bytes());
}

// Readers below assume the caller checked `pos + N <= buf.len()`; the
// layout checks above guarantee it for every fixed field.
fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}
fn read_i32(buf: &[u8], at: usize) -> i32 {
    read_u32(buf, at) as i32
}
fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_be_bytes(b)
}
fn read_i64(buf: &[u8], at: usize) -> i64 {
    read_u64(buf, at) as i64
}

fn short() -> ProtoError {
    ProtoError::invalid("record", "shorter than its fields")
}
fn bad_len(what: &'static str) -> ProtoError {
    ProtoError::invalid(what, "negative length")
}

/// Reads an i32 length at `at`, rejecting negatives and out-of-bounds reads.
fn checked_u32(buf: &[u8], at: usize) -> Result<usize> {
    if at + 4 > buf.len() {
        return Err(short());
    }
    usize::try_from(read_i32(buf, at)).map_err(|_| bad_len("length"))
}

/// Reads an i16 length at `at`, rejecting negatives and out-of-bounds reads.
fn checked_u16(buf: &[u8], at: usize) -> Result<usize> {
    let b = buf.get(at..at + 2).ok_or_else(short)?;
    usize::try_from(i16::from_be_bytes([b[0], b[1]])).map_err(|_| bad_len("length"))
}

/// `start + len`, if that stays within `buf`.
fn end_of(buf: &[u8], start: usize, len: usize) -> Result<usize> {
    start
        .checked_add(len)
        .filter(|end| *end <= buf.len())
        .ok_or_else(short)
}

fn read_host(buf: &[u8], at: usize, len: usize) -> SocketAddr {
    let port = read_u32(buf, at + len - 4) as u16;
    let ip = if len == 20 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&buf[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(o))
    } else {
        IpAddr::V4(Ipv4Addr::new(
            buf[at],
            buf[at + 1],
            buf[at + 2],
            buf[at + 3],
        ))
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests;
