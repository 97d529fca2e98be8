//! [`RemotingCommand`]: one request or response, the unit every frame
//! carries (remoting.md §2).
//!
//! A command is a header (code, language, version, opaque, flag, remark,
//! `extFields`) plus an opaque body. Requests and responses share the
//! layout; flag bit 0 tells them apart and `opaque` pairs them. Typed views
//! of `extFields` are [`crate::header`] structs; typed bodies live in
//! [`crate::body`]. Framing is in [`crate::frame`].

use bytes::Bytes;

use crate::codes::{command_flag, response_code, version, LanguageCode};
use crate::error::Result;
use crate::ext::ExtFields;
use crate::header::CommandHeader;

/// One remoting request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code, or response code for responses.
    pub code: i32,
    /// Sender's language. Bolide sends `JAVA`, the name every client knows.
    pub language: LanguageCode,
    /// Sender's `MQVersion` ordinal.
    pub version: i32,
    /// Request id; a response carries its request's opaque.
    pub opaque: i32,
    /// Bit 0 = response, bit 1 = oneway ([`command_flag`]).
    pub flag: i32,
    /// Free text; the error message of a failed response. `None` is omitted
    /// on the wire.
    pub remark: Option<String>,
    /// The custom header.
    pub ext_fields: ExtFields,
    /// Emit `"extFields":{}` even when `ext_fields` is empty. Java does this
    /// for every command built from a header class; the C++ client needs it
    /// on PULL and QUERY_CONSUMER_OFFSET responses (remoting.md §2.4).
    /// Decoders set it when the header carried an empty `extFields` object.
    pub force_ext_fields: bool,
    /// The body (may be empty).
    pub body: Bytes,
}

impl Default for RemotingCommand {
    fn default() -> Self {
        RemotingCommand {
            code: 0,
            language: LanguageCode::Java,
            version: version::BOLIDE,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            force_ext_fields: false,
            body: Bytes::new(),
        }
    }
}

impl RemotingCommand {
    /// A request with `code` (opaque 0: the caller assigns one).
    pub fn request(code: i32) -> Self {
        RemotingCommand {
            code,
            ..Self::default()
        }
    }

    /// A response with `code` and `remark`, not yet paired with a request.
    pub fn response(code: i32, remark: impl Into<Option<String>>) -> Self {
        RemotingCommand {
            code,
            flag: command_flag::RESPONSE,
            remark: remark.into(),
            ..Self::default()
        }
    }

    /// A `SUCCESS` response to `request`: same opaque, response bit set.
    pub fn response_to(request: &RemotingCommand) -> Self {
        RemotingCommand {
            opaque: request.opaque,
            ..Self::response(response_code::SUCCESS, None)
        }
    }

    /// True when flag bit 0 is set.
    pub fn is_response(&self) -> bool {
        self.flag & command_flag::RESPONSE != 0
    }

    /// True when flag bit 1 is set (the sender expects no answer).
    pub fn is_oneway(&self) -> bool {
        self.flag & command_flag::ONEWAY != 0
    }

    /// Sets the oneway bit.
    pub fn mark_oneway(&mut self) {
        self.flag |= command_flag::ONEWAY;
    }

    /// Sets the response bit.
    pub fn mark_response(&mut self) {
        self.flag |= command_flag::RESPONSE;
    }

    /// Sets the response code.
    pub fn with_code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    /// Sets the opaque.
    pub fn with_opaque(mut self, opaque: i32) -> Self {
        self.opaque = opaque;
        self
    }

    /// Sets the remark.
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds one `extFields` entry.
    pub fn with_ext(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.ext_fields.insert(key, value);
        self
    }

    /// Writes a typed header into `extFields` and, like Java, always emits
    /// `extFields` from then on (even if the header wrote nothing).
    pub fn with_header<H: CommandHeader>(mut self, header: &H) -> Self {
        header.to_ext(&mut self.ext_fields);
        self.force_ext_fields = true;
        self
    }

    /// Parses `extFields` into a typed header.
    pub fn decode_header<H: CommandHeader>(&self) -> Result<H> {
        H::from_ext(&self.ext_fields)
    }

    /// True when an encoder must write the `extFields` member.
    pub fn emits_ext_fields(&self) -> bool {
        self.force_ext_fields || !self.ext_fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::request_code;

    #[test]
    fn builders_and_flags() {
        let mut req = RemotingCommand::request(request_code::PULL_MESSAGE).with_opaque(77);
        assert!(!req.is_response() && !req.is_oneway());
        req.mark_oneway();
        assert!(req.is_oneway() && !req.is_response());

        let rsp = RemotingCommand::response_to(&req);
        assert_eq!((rsp.code, rsp.opaque, rsp.flag), (0, 77, 1));
        assert!(rsp.is_response() && !rsp.is_oneway());

        let err = RemotingCommand::response(response_code::SYSTEM_BUSY, "busy".to_owned());
        assert_eq!(err.remark.as_deref(), Some("busy"));
        assert!(err.is_response());
        assert!(!err.emits_ext_fields());
        assert!(err.with_ext("k", "v").emits_ext_fields());
    }
}
