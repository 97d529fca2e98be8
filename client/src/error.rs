//! The client layer's error type. Transport failures keep the peer address
//! they happened on; a server's non-success answer keeps its code and remark,
//! so callers can tell "could not ask" from "asked and was refused".

use std::net::SocketAddr;

use bolide_proto::codes::response_code;
use bolide_proto::ProtoError;
use bolide_transport::remoting::TransportError;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No NameServer address was configured.
    #[error("no NameServer address configured")]
    NoNameServer,
    /// An address is not `ip:port`.
    #[error("invalid address {addr:?}: expected ip:port")]
    InvalidAddr { addr: String },
    /// Connecting to, or talking with, `addr` failed.
    #[error("transport to {addr}: {source}")]
    Transport {
        addr: SocketAddr,
        #[source]
        source: TransportError,
    },
    /// `addr` answered with a response code the operation cannot use.
    #[error("{addr} answered {code} ({}): {remark}", response_code::name(*.code).unwrap_or("?"))]
    Response {
        addr: SocketAddr,
        code: i32,
        remark: String,
    },
    /// A response body or header did not decode.
    #[error("bad response: {0}")]
    Proto(#[from] ProtoError),
    /// The caller's input was refused before anything was sent.
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// The client's runtime stopped before the call completed.
    #[error("client stopped before the call completed")]
    Stopped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_code() {
        let addr: SocketAddr = "127.0.0.1:9876".parse().unwrap();
        let cases = [
            (
                ClientError::Response {
                    addr,
                    code: 1,
                    remark: "busy".into(),
                },
                "127.0.0.1:9876 answered 1 (SYSTEM_ERROR): busy",
            ),
            (
                ClientError::Response {
                    addr,
                    code: 9999,
                    remark: String::new(),
                },
                "127.0.0.1:9876 answered 9999 (?): ",
            ),
            (
                ClientError::InvalidAddr { addr: "x".into() },
                "invalid address \"x\": expected ip:port",
            ),
            (
                ClientError::Invalid {
                    what: "message",
                    detail: "empty body".into(),
                },
                "invalid message: empty body",
            ),
        ];
        for (error, want) in cases {
            assert_eq!(error.to_string(), want);
        }
    }
}
