//! NameServer client: asks a list of NameServers for topic routes
//! (GET_ROUTEINFO_BY_TOPIC, remoting.md §4.1).
//!
//! One connection at a time, opened lazily on first use to the current
//! address. When connecting or a request fails at the transport level, the
//! connection is dropped and the client rotates to the next address and
//! retries, trying each address at most once per call; every attempt is
//! bounded by the configured timeout. A NameServer that *answers* with an
//! error code is not rotated away from: another one would know no better.
//!
//! Lives on one glommio executor (it holds an `Rc`-based [`Connection`]).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bolide_proto::body::TopicRouteData;
use bolide_proto::codes::{request_code, response_code, version};
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, NoInbound};

use crate::error::ClientError;
use crate::route::parse_addr;

/// Timeout of one request, and of one connect (RocketMQ's default 3 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Settings of a [`NameServerClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameServerClientConfig {
    /// Bounds each connect and each request.
    pub timeout: Duration,
    /// Largest frame accepted from a NameServer.
    pub max_frame_bytes: usize,
}

impl Default for NameServerClientConfig {
    fn default() -> Self {
        NameServerClientConfig {
            timeout: DEFAULT_TIMEOUT,
            max_frame_bytes: bolide_proto::MAX_FRAME_BYTES,
        }
    }
}

/// Parses RocketMQ's `namesrvAddr` form: `ip:port;ip:port` (empty entries
/// are skipped; host names are not resolved here).
pub fn parse_addr_list(list: &str) -> Result<Vec<SocketAddr>, ClientError> {
    let addrs = list
        .split(';')
        .filter(|a| !a.trim().is_empty())
        .map(parse_addr)
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err(ClientError::NoNameServer);
    }
    Ok(addrs)
}

/// Queries a list of NameServers, failing over between them.
#[derive(Debug)]
pub struct NameServerClient {
    addrs: Vec<SocketAddr>,
    config: NameServerClientConfig,
    /// Index into `addrs` of the NameServer in use.
    current: Cell<usize>,
    conn: RefCell<Option<Connection>>,
}

impl NameServerClient {
    /// A client over `addrs` (tried in order, starting with the first).
    pub fn new(
        addrs: Vec<SocketAddr>,
        config: NameServerClientConfig,
    ) -> Result<Self, ClientError> {
        if addrs.is_empty() {
            return Err(ClientError::NoNameServer);
        }
        Ok(NameServerClient {
            addrs,
            config,
            current: Cell::new(0),
            conn: RefCell::new(None),
        })
    }

    /// The NameServer the next request goes to.
    pub fn current_addr(&self) -> SocketAddr {
        self.addrs[self.current.get()]
    }

    /// The route of `topic`; `Ok(None)` if the NameServer does not know it.
    pub async fn topic_route(&self, topic: &str) -> Result<Option<TopicRouteData>, ClientError> {
        let request = RemotingCommand {
            version: version::BOLIDE,
            ..RemotingCommand::request(request_code::GET_ROUTEINFO_BY_TOPIC)
        }
        .with_ext("topic", topic);
        let (addr, response) = self.invoke(request).await?;
        match response.code {
            response_code::SUCCESS => Ok(Some(TopicRouteData::decode(&response.body)?)),
            response_code::TOPIC_NOT_EXIST => Ok(None),
            code => Err(ClientError::Response {
                addr,
                code,
                remark: response.remark.unwrap_or_default(),
            }),
        }
    }

    /// Closes the connection (the next request reconnects).
    pub fn close(&self) {
        if let Some(conn) = self.conn.borrow_mut().take() {
            conn.close();
        }
    }

    /// Sends `request`, rotating through the addresses on transport errors;
    /// returns the answering address with the response.
    async fn invoke(
        &self,
        request: RemotingCommand,
    ) -> Result<(SocketAddr, RemotingCommand), ClientError> {
        let mut last_error = ClientError::NoNameServer;
        for _ in 0..self.addrs.len() {
            let addr = self.current_addr();
            match self.try_invoke(addr, request.clone()).await {
                Ok(response) => return Ok((addr, response)),
                Err(source) => {
                    tracing::warn!(%addr, error = %source, "NameServer request failed; rotating");
                    self.close();
                    self.current
                        .set((self.current.get() + 1) % self.addrs.len());
                    last_error = ClientError::Transport { addr, source };
                }
            }
        }
        Err(last_error)
    }

    async fn try_invoke(
        &self,
        addr: SocketAddr,
        request: RemotingCommand,
    ) -> Result<RemotingCommand, bolide_transport::remoting::TransportError> {
        let conn = self.connection(addr).await?;
        conn.invoke(request, self.config.timeout).await
    }

    /// The open connection, or a new one to `addr`. No `RefCell` borrow is
    /// held across the connect.
    async fn connection(
        &self,
        addr: SocketAddr,
    ) -> Result<Connection, bolide_transport::remoting::TransportError> {
        let open = self
            .conn
            .borrow()
            .as_ref()
            .filter(|c| !c.is_closed())
            .cloned();
        if let Some(conn) = open {
            return Ok(conn);
        }
        let timeout = self.config.timeout;
        let conn = Connection::connect(
            addr,
            Rc::new(NoInbound),
            self.config.max_frame_bytes,
            timeout,
        )
        .await?;
        if let Some(stale) = self.conn.borrow_mut().replace(conn.clone()) {
            stale.close();
        }
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namesrv_addr_lists() {
        let cases: [(&str, Option<usize>); 5] = [
            ("127.0.0.1:9876", Some(1)),
            ("127.0.0.1:9876;10.0.0.2:9876;", Some(2)),
            (" ; ", None),
            ("127.0.0.1:9876;nope", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_addr_list(text).ok().map(|a| a.len()),
                want,
                "{text:?}"
            );
        }
    }

    #[test]
    fn needs_an_address() {
        let result = NameServerClient::new(Vec::new(), NameServerClientConfig::default());
        assert!(matches!(result, Err(ClientError::NoNameServer)));
    }
}
