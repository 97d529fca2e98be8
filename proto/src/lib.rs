//! # bolide-proto — the RocketMQ remoting codec, sans I/O
//!
//! No sockets, files, async or runtime: bytes in, values out, and back.
//! Everything Bolide says on the wire or writes into its commit log is
//! defined here. The reference is `protocol/remoting.md`.
//!
//! ## A remoting frame
//!
//! ```text
//!  byte 0        4         5               8                 8+H             4+L
//!  +-------------+---------+---------------+-----------------+---------------+
//!  | length L    | type    | header len H  | header (H bytes)| body          |
//!  | i32 BE      | u8      | u24 BE        | JSON or binary  | L - 4 - H B   |
//!  +-------------+---------+---------------+-----------------+---------------+
//!  L counts everything after the length field; the whole frame is 4 + L bytes,
//!  at most MAX_FRAME_BYTES (16 MiB) by default. type 0 = JSON, 1 = ROCKETMQ.
//!
//!  JSON header (what Bolide always sends):
//!  {"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA",
//!   "opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}
//!
//!  flag bit 0 = response, bit 1 = oneway; opaque pairs a response with its
//!  request; extFields values are strings on output, strings/numbers/booleans
//!  on input (the C++ client sends numbers).
//! ```
//!
//! ## Layers
//!
//! | module | role |
//! |---|---|
//! | [`frame`] | split a byte stream into commands (incomplete vs invalid), encode |
//! | [`command`] | [`RemotingCommand`]: code, flags, opaque, remark, `extFields`, body |
//! | [`json_header`], [`binary_header`] | the two header encodings |
//! | [`codes`] | request/response codes, language, perm and pull-flag bits |
//! | [`ext`] | [`ExtFields`] and typed field parsing |
//! | [`header`] | typed request/response headers ([`header::CommandHeader`]) |
//! | [`body`] | JSON bodies: heartbeat, route, register, lock, lists |
//! | [`json`] | JSON escaping and the unquoted-key fixup for fastjson output |
//! | [`message`], [`msgid`], [`tags`], [`consume_queue`], [`ids`] | stored message record, ids, tag hash, consume queue entry |
//! | [`delay`] | delay-level table, schedule topic, delivery time of scheduled units |
//!
//! Decoders never panic on arbitrary input (property-tested); every
//! limit is a named constant.

pub mod consume_queue;
pub mod delay;
pub mod error;
pub mod ids;
pub mod message;
pub mod msgid;
pub mod tags;

pub mod binary_header;
pub mod body;
pub mod codes;
pub mod command;
pub mod ext;
pub mod frame;
pub mod hash;
pub mod header;
pub mod json;
pub mod json_header;

pub use command::RemotingCommand;
pub use error::{ProtoError, Result};
pub use ext::ExtFields;
pub use frame::{decode_frame, decode_frame_buf, encode_frame, MAX_FRAME_BYTES};
