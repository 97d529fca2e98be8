//! JSON command bodies (remoting.md §4): what clients put after the header
//! of HEART_BEAT, LOCK_BATCH_MQ, REGISTER_BROKER… and what brokers and the
//! NameServer answer (routes, cluster info, consumer lists), and the
//! metadata tables a slave copies from its master.
//!
//! Decoding accepts every client's dialect (see [`lenient`]): enums as
//! names or ordinals, numbers as strings, missing or `null` collections,
//! trailing whitespace. Encoding is compact, members in fastjson's
//! alphabetical order with Java's names, so Java/C++/Go all read it.
//! Route and cluster bodies have their own encoder because fastjson writes
//! numeric map keys unquoted ([`route`]).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ProtoError, Result};

pub mod admin;
pub mod consumer_admin;
pub mod group;
pub mod heartbeat;
pub mod lenient;
pub mod misc;
pub mod offsets;
pub mod queue;
pub mod register;
pub mod route;

pub use admin::*;
pub use consumer_admin::*;
pub use group::*;
pub use heartbeat::*;
pub use misc::*;
pub use offsets::*;
pub use queue::*;
pub use register::*;
pub use route::*;

/// A body that is plain (standard) JSON both ways.
pub trait JsonBody: Serialize + DeserializeOwned {
    /// Name used in decode errors.
    const WHAT: &'static str;

    /// Parses the body (trailing whitespace allowed).
    fn decode(bytes: &[u8]) -> Result<Self> {
        decode_json(Self::WHAT, bytes)
    }

    /// Compact JSON.
    fn encode(&self) -> Vec<u8> {
        encode_json(self)
    }
}

/// Parses `bytes` as JSON into `T`, naming `what` in the error.
pub fn decode_json<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| ProtoError::invalid(what, e.to_string()))
}

/// Compact JSON of `value`.
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Body types have string map keys and derived impls only, for which
    // serde_json cannot fail: a failure here is a programming error.
    serde_json::to_vec(value).expect("body types always serialize")
}
