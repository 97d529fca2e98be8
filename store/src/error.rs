//! The one error type of the storage layer.
//!
//! Each variant is a distinct condition the broker maps to a RocketMQ
//! response code at its edge (remoting.md §3.2):
//!
//! | variant | broker answer |
//! |---|---|
//! | [`StoreError::DiskFull`] | `SERVICE_NOT_AVAILABLE` (disk above the hard watermark) |
//! | [`StoreError::Unavailable`] | `SERVICE_NOT_AVAILABLE` (closed, or poisoned by an earlier I/O failure) |
//! | [`StoreError::MessageIllegal`] | `MESSAGE_ILLEGAL` |
//! | [`StoreError::Io`] | `SYSTEM_ERROR` |
//! | [`StoreError::Corrupt`] | `SYSTEM_ERROR` (recovery or a read found bytes that do not decode) |
//! | [`StoreError::Config`] | startup failure |
//!
//! The error is `Clone` because one failed group commit answers every
//! appender that waited on it.

use std::io;

use thiserror::Error;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// Disk usage is above the hard watermark: appends are refused until
    /// retention frees space. Nothing was written.
    #[error("disk full: {used_permille}‰ used, hard watermark {limit_permille}‰")]
    DiskFull {
        used_permille: u32,
        limit_permille: u32,
    },
    /// The store is closed, or an earlier write/fsync failed and the store
    /// refuses further appends until it is reopened (recovery then decides
    /// what is on disk).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The message cannot be stored (too large, bad topic, bad batch).
    #[error("message illegal: {0}")]
    MessageIllegal(String),
    /// An I/O operation failed.
    #[error("i/o error while {context}: {kind:?}: {message}")]
    Io {
        context: String,
        kind: io::ErrorKind,
        message: String,
    },
    /// Bytes on disk do not decode where they must.
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: String, detail: String },
    /// A configuration field is invalid.
    #[error("invalid config `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
}

impl StoreError {
    /// Wraps an I/O error with what the store was doing.
    pub fn io(context: impl Into<String>, err: &io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            kind: err.kind(),
            message: err.to_string(),
        }
    }

    /// Shorthand for [`StoreError::Corrupt`].
    pub fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// True for errors caused by the request rather than the store.
    pub fn is_client_error(&self) -> bool {
        matches!(self, StoreError::MessageIllegal(_))
    }
}

/// Result alias of the storage layer.
pub type Result<T> = std::result::Result<T, StoreError>;
