//! Numeric vocabularies of the remoting protocol: request codes, response
//! codes, the sender's [`LanguageCode`], the header [`SerializeType`],
//! `PullSysFlag` bits and topic permission bits.
//!
//! Codes are plain `i32` constants rather than enums: the wire carries any
//! `i32`, and a broker must answer an unknown request code with
//! `REQUEST_CODE_NOT_SUPPORTED` instead of failing to decode the frame.
//! `request_code::name` / `response_code::name` give the Java names for logs.

/// Defines `pub const NAME: i32 = value;` items plus a `name(code)` lookup.
macro_rules! code_table {
    ($( $(#[$doc:meta])* $name:ident = $value:expr ),* $(,)?) => {
        $( $(#[$doc])* pub const $name: i32 = $value; )*

        /// The Java constant name of `code`, if this table knows it.
        pub fn name(code: i32) -> Option<&'static str> {
            match code {
                $( $value => Some(stringify!($name)), )*
                _ => None,
            }
        }
    };
}

/// Request codes (`RequestCode.java`; the C++ client uses the same numbers).
pub mod request_code {
    code_table! {
        /// Long-name send header (C++ ≤ 1.2.4).
        SEND_MESSAGE = 10,
        PULL_MESSAGE = 11,
        QUERY_MESSAGE = 12,
        QUERY_BROKER_OFFSET = 13,
        QUERY_CONSUMER_OFFSET = 14,
        UPDATE_CONSUMER_OFFSET = 15,
        UPDATE_AND_CREATE_TOPIC = 17,
        UPDATE_AND_CREATE_TOPIC_LIST = 18,
        GET_ALL_TOPIC_CONFIG = 21,
        /// Never implement file-path keys (CVE-2023-33246).
        UPDATE_BROKER_CONFIG = 25,
        GET_BROKER_CONFIG = 26,
        GET_BROKER_RUNTIME_INFO = 28,
        SEARCH_OFFSET_BY_TIMESTAMP = 29,
        GET_MAX_OFFSET = 30,
        GET_MIN_OFFSET = 31,
        GET_EARLIEST_MSG_STORETIME = 32,
        VIEW_MESSAGE_BY_ID = 33,
        HEART_BEAT = 34,
        UNREGISTER_CLIENT = 35,
        CONSUMER_SEND_MSG_BACK = 36,
        END_TRANSACTION = 37,
        GET_CONSUMER_LIST_BY_GROUP = 38,
        /// Broker → producer, oneway.
        CHECK_TRANSACTION_STATE = 39,
        /// Broker → consumer, oneway.
        NOTIFY_CONSUMER_IDS_CHANGED = 40,
        LOCK_BATCH_MQ = 41,
        UNLOCK_BATCH_MQ = 42,
        GET_ALL_CONSUMER_OFFSET = 43,
        GET_ALL_DELAY_OFFSET = 45,
        CHECK_CLIENT_CONFIG = 46,
        GET_CLIENT_CONFIG = 47,
        PUT_KV_CONFIG = 100,
        GET_KV_CONFIG = 101,
        DELETE_KV_CONFIG = 102,
        REGISTER_BROKER = 103,
        UNREGISTER_BROKER = 104,
        /// The C++ client spells it `GET_ROUTEINTO_BY_TOPIC`.
        GET_ROUTEINFO_BY_TOPIC = 105,
        GET_BROKER_CLUSTER_INFO = 106,
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200,
        GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201,
        GET_TOPIC_STATS_INFO = 202,
        GET_CONSUMER_CONNECTION_LIST = 203,
        GET_PRODUCER_CONNECTION_LIST = 204,
        WIPE_WRITE_PERM_OF_BROKER = 205,
        GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206,
        DELETE_SUBSCRIPTIONGROUP = 207,
        GET_CONSUME_STATS = 208,
        DELETE_TOPIC_IN_BROKER = 215,
        DELETE_TOPIC_IN_NAMESRV = 216,
        REGISTER_TOPIC_IN_NAMESRV = 217,
        GET_KVLIST_BY_NAMESPACE = 219,
        RESET_CONSUMER_CLIENT_OFFSET = 220,
        GET_CONSUMER_STATUS_FROM_CLIENT = 221,
        INVOKE_BROKER_TO_RESET_OFFSET = 222,
        INVOKE_BROKER_TO_GET_CONSUMER_STATUS = 223,
        GET_TOPICS_BY_CLUSTER = 224,
        QUERY_TOPIC_CONSUME_BY_WHO = 300,
        QUERY_CONSUME_TIME_SPAN = 303,
        GET_SYSTEM_TOPIC_LIST_FROM_NS = 304,
        GET_CONSUMER_RUNNING_INFO = 307,
        CONSUME_MESSAGE_DIRECTLY = 309,
        /// Short-name (`a`..`n`) send header.
        SEND_MESSAGE_V2 = 310,
        GET_UNIT_TOPIC_LIST = 311,
        GET_HAS_UNIT_SUB_TOPIC_LIST = 312,
        GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST = 313,
        UPDATE_NAMESRV_CONFIG = 318,
        GET_NAMESRV_CONFIG = 319,
        /// V2 header + batch body.
        SEND_BATCH_MESSAGE = 320,
        QUERY_CONSUME_QUEUE = 321,
        QUERY_DATA_VERSION = 322,
        RESUME_CHECK_HALF_MESSAGE = 323,
        SEND_REPLY_MESSAGE = 324,
        SEND_REPLY_MESSAGE_V2 = 325,
        PUSH_REPLY_MESSAGE_TO_CLIENT = 326,
        ADD_WRITE_PERM_OF_BROKER = 327,
        GET_TOPIC_CONFIG = 351,
        GET_SUBSCRIPTIONGROUP_CONFIG = 352,
        /// Same header as `PULL_MESSAGE`.
        LITE_PULL_MESSAGE = 361,
        RECALL_MESSAGE = 370,
        QUERY_ASSIGNMENT = 400,
        SET_MESSAGE_REQUEST_MODE = 401,
        GET_ALL_MESSAGE_REQUEST_MODE = 402,
        GET_BROKER_MEMBER_GROUP = 901,
        ADD_BROKER = 902,
        REMOVE_BROKER = 903,
        BROKER_HEARTBEAT = 904,
        NOTIFY_MIN_BROKER_ID_CHANGE = 905,
        EXCHANGE_BROKER_HA_INFO = 906,
        GET_BROKER_HA_STATUS = 907,
        RESET_MASTER_FLUSH_OFFSET = 908,
        /// 5.x pop; JSON headers only (does not fit the binary header's i16).
        POP_MESSAGE = 200_050,
        ACK_MESSAGE = 200_051,
        PEEK_MESSAGE = 200_052,
        CHANGE_MESSAGE_INVISIBLETIME = 200_053,
        NOTIFICATION = 200_054,
        POLLING_INFO = 200_055,
        POP_ROLLBACK = 200_056,
        BATCH_ACK_MESSAGE = 200_151,
    }

    /// True for the three codes whose body is a message (or batch) to store.
    pub fn is_send(code: i32) -> bool {
        matches!(code, SEND_MESSAGE | SEND_MESSAGE_V2 | SEND_BATCH_MESSAGE)
    }
}

/// Response codes (`RemotingSysResponseCode.java`, `ResponseCode.java`).
pub mod response_code {
    code_table! {
        SUCCESS = 0,
        SYSTEM_ERROR = 1,
        SYSTEM_BUSY = 2,
        REQUEST_CODE_NOT_SUPPORTED = 3,
        TRANSACTION_FAILED = 4,
        /// Stored, but the sync flush timed out.
        FLUSH_DISK_TIMEOUT = 10,
        SLAVE_NOT_AVAILABLE = 11,
        FLUSH_SLAVE_TIMEOUT = 12,
        MESSAGE_ILLEGAL = 13,
        SERVICE_NOT_AVAILABLE = 14,
        VERSION_NOT_SUPPORTED = 15,
        NO_PERMISSION = 16,
        TOPIC_NOT_EXIST = 17,
        TOPIC_EXIST_ALREADY = 18,
        PULL_NOT_FOUND = 19,
        PULL_RETRY_IMMEDIATELY = 20,
        PULL_OFFSET_MOVED = 21,
        QUERY_NOT_FOUND = 22,
        SUBSCRIPTION_PARSE_FAILED = 23,
        SUBSCRIPTION_NOT_EXIST = 24,
        SUBSCRIPTION_NOT_LATEST = 25,
        SUBSCRIPTION_GROUP_NOT_EXIST = 26,
        FILTER_DATA_NOT_EXIST = 27,
        FILTER_DATA_NOT_LATEST = 28,
        INVALID_PARAMETER = 29,
        TRANSACTION_SHOULD_COMMIT = 200,
        TRANSACTION_SHOULD_ROLLBACK = 201,
        TRANSACTION_STATE_UNKNOW = 202,
        TRANSACTION_STATE_GROUP_WRONG = 203,
        NO_BUYER_ID = 204,
        NOT_IN_CURRENT_UNIT = 205,
        CONSUMER_NOT_ONLINE = 206,
        CONSUME_MSG_TIMEOUT = 207,
        NO_MESSAGE = 208,
        POLLING_FULL = 209,
        POLLING_TIMEOUT = 210,
        BROKER_NOT_EXIST = 211,
        BROKER_DISPATCH_NOT_COMPLETE = 212,
        BROADCAST_CONSUMPTION = 213,
        FLOW_CONTROL = 215,
        NOT_LEADER_FOR_QUEUE = 501,
        ILLEGAL_OPERATION = 604,
        /// Client-local only.
        RPC_UNKNOWN = -1000,
        RPC_ADDR_IS_NULL = -1002,
        RPC_SEND_TO_CHANNEL_FAILED = -1004,
        RPC_TIME_OUT = -1006,
        GO_AWAY = 1500,
        USER_NOT_EXIST = 3001,
        POLICY_NOT_EXIST = 3002,
    }
}

/// `RemotingCommand.flag` bits.
pub mod command_flag {
    /// Bit 0: the command is a response.
    pub const RESPONSE: i32 = 1;
    /// Bit 1: the sender expects no response.
    pub const ONEWAY: i32 = 1 << 1;
}

/// `MQVersion` ordinals that change server behaviour (remoting.md §2.7).
pub mod version {
    /// Brokers at or above this send a `RegisterBrokerBody`.
    pub const V3_0_11: i32 = 37;
    /// Request version from which `maxReconsumeTimes` headers are honoured.
    pub const V3_4_9: i32 = 121;
    /// Java clients refuse SQL92 pulls to brokers below this.
    pub const V4_1_0_SNAPSHOT: i32 = 232;
    /// Clients at or above this get standard (quoted-key) route JSON.
    pub const V4_9_4: i32 = 401;
    /// `CURRENT_VERSION` of the Java code base the spec was read from.
    pub const V5_3_3: i32 = 479;
    /// What Bolide puts in its own commands: recent enough for every check.
    pub const BOLIDE: i32 = V5_3_3;
}

/// The header encoding, the high byte of the frame's header-length word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SerializeType {
    /// JSON text header (what every client understands).
    Json,
    /// The compact binary header (remoting.md §2.6).
    RocketMq,
}

impl SerializeType {
    /// Maps the wire byte; `None` for an unknown type.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }

    /// The wire byte.
    pub fn as_byte(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }
}

/// The sender's implementation language (`LanguageCode.java`).
///
/// JSON headers carry the name, binary headers the byte. Unknown names and
/// bytes decode as [`LanguageCode::Other`] so a newer client never fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum LanguageCode {
    #[default]
    Java = 0,
    Cpp = 1,
    Dotnet = 2,
    Python = 3,
    Delphi = 4,
    Erlang = 5,
    Ruby = 6,
    Other = 7,
    Http = 8,
    Go = 9,
    Php = 10,
    Oms = 11,
    Rust = 12,
    NodeJs = 13,
}

/// Every language with its wire name, indexed by its byte value.
const LANGUAGES: [(LanguageCode, &str); 14] = [
    (LanguageCode::Java, "JAVA"),
    (LanguageCode::Cpp, "CPP"),
    (LanguageCode::Dotnet, "DOTNET"),
    (LanguageCode::Python, "PYTHON"),
    (LanguageCode::Delphi, "DELPHI"),
    (LanguageCode::Erlang, "ERLANG"),
    (LanguageCode::Ruby, "RUBY"),
    (LanguageCode::Other, "OTHER"),
    (LanguageCode::Http, "HTTP"),
    (LanguageCode::Go, "GO"),
    (LanguageCode::Php, "PHP"),
    (LanguageCode::Oms, "OMS"),
    (LanguageCode::Rust, "RUST"),
    (LanguageCode::NodeJs, "NODE_JS"),
];

impl LanguageCode {
    /// From the binary header byte; unknown → `Other`.
    pub fn from_byte(byte: u8) -> Self {
        LANGUAGES
            .get(usize::from(byte))
            .map_or(LanguageCode::Other, |(code, _)| *code)
    }

    /// From a JSON number; out of range → `Other`.
    pub fn from_i64(value: i64) -> Self {
        u8::try_from(value).map_or(LanguageCode::Other, Self::from_byte)
    }

    /// From the Java enum name (exact case); unknown → `Other`.
    pub fn from_name(name: &str) -> Self {
        LANGUAGES
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(LanguageCode::Other, |(code, _)| *code)
    }

    /// The binary header byte.
    pub fn as_byte(self) -> u8 {
        self as u8
    }

    /// The Java enum name used in JSON headers.
    pub fn name(self) -> &'static str {
        LANGUAGES[usize::from(self.as_byte())].1
    }
}

/// `PullSysFlag` bits of `PullMessageRequestHeader.sysFlag`.
pub mod pull_sys_flag {
    /// Store `commitOffset` as the group's offset.
    pub const COMMIT_OFFSET: i32 = 0x01;
    /// The broker may hold the request (long polling).
    pub const SUSPEND: i32 = 0x02;
    /// Use the header's `subscription`, not the heartbeat's.
    pub const SUBSCRIPTION: i32 = 0x04;
    /// Legacy class filter.
    pub const CLASS_FILTER: i32 = 0x08;
    /// Lite pull consumer.
    pub const LITE_PULL_MESSAGE: i32 = 0x10;

    /// True when every bit of `bit` is set in `flags`.
    pub fn has(flags: i32, bit: i32) -> bool {
        flags & bit == bit
    }

    /// `flags` with `COMMIT_OFFSET` cleared (what a re-executed pull uses).
    pub fn clear_commit_offset(flags: i32) -> i32 {
        flags & !COMMIT_OFFSET
    }
}

/// Topic / broker permission bits (`PermName.java`).
pub mod perm {
    /// The topic may serve as an auto-create template.
    pub const INHERIT: i32 = 1;
    pub const WRITE: i32 = 1 << 1;
    pub const READ: i32 = 1 << 2;
    pub const PRIORITY: i32 = 1 << 3;
    /// A normal topic: read + write.
    pub const READ_WRITE: i32 = READ | WRITE;

    pub fn is_readable(perm: i32) -> bool {
        perm & READ == READ
    }

    pub fn is_writeable(perm: i32) -> bool {
        perm & WRITE == WRITE
    }

    pub fn is_inherited(perm: i32) -> bool {
        perm & INHERIT == INHERIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_and_bytes_round_trip() {
        for (i, (code, name)) in LANGUAGES.iter().enumerate() {
            assert_eq!(usize::from(code.as_byte()), i);
            assert_eq!(code.name(), *name);
            assert_eq!(LanguageCode::from_name(name), *code);
            assert_eq!(LanguageCode::from_byte(code.as_byte()), *code);
        }
    }

    #[test]
    fn unknown_language_is_other() {
        let cases: [(&str, LanguageCode); 3] = [
            ("COBOL", LanguageCode::Other),
            ("java", LanguageCode::Other),
            ("", LanguageCode::Other),
        ];
        for (name, want) in cases {
            assert_eq!(LanguageCode::from_name(name), want, "{name}");
        }
        assert_eq!(LanguageCode::from_byte(200), LanguageCode::Other);
        assert_eq!(LanguageCode::from_i64(-1), LanguageCode::Other);
        assert_eq!(LanguageCode::from_i64(9), LanguageCode::Go);
    }

    #[test]
    fn code_names() {
        let cases = [
            (request_code::name(105), Some("GET_ROUTEINFO_BY_TOPIC")),
            (request_code::name(310), Some("SEND_MESSAGE_V2")),
            (request_code::name(200_050), Some("POP_MESSAGE")),
            (request_code::name(9999), None),
            (response_code::name(19), Some("PULL_NOT_FOUND")),
            (response_code::name(-1006), Some("RPC_TIME_OUT")),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn perm_and_pull_bits() {
        assert!(perm::is_readable(6) && perm::is_writeable(6) && !perm::is_inherited(6));
        assert!(perm::is_inherited(7));
        assert!(pull_sys_flag::has(7, pull_sys_flag::SUBSCRIPTION));
        assert!(!pull_sys_flag::has(2, pull_sys_flag::COMMIT_OFFSET));
        assert_eq!(pull_sys_flag::clear_commit_offset(7), 6);
    }
}
