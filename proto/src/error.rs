//! The one error type of the codec layer.
//!
//! Decoders tell *incomplete* input (read more bytes and try again) apart from
//! *invalid* input (the peer sent garbage: answer with an error or close the
//! connection). The broker maps these to RocketMQ response codes at its edge.

use thiserror::Error;

/// Why bytes could not be decoded (or a value could not be encoded).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtoError {
    /// More bytes are needed; `needed` is a lower bound of the total input
    /// length that could make progress.
    #[error("incomplete input: need at least {needed} bytes")]
    Incomplete { needed: usize },
    /// The bytes can never decode: a bad length, magic, checksum or field.
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// A value exceeds a protocol or configured limit.
    #[error("{what} too large: {size} > {limit}")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    /// A required header field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
}

impl ProtoError {
    /// Shorthand for [`ProtoError::Invalid`].
    pub fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        ProtoError::Invalid {
            what,
            detail: detail.into(),
        }
    }

    /// True when more input could still make the decode succeed.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, ProtoError::Incomplete { .. })
    }
}

/// Result alias of the codec layer.
pub type Result<T> = std::result::Result<T, ProtoError>;
