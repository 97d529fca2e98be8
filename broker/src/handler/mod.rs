//! Request handlers: one file per family of request codes, each a plain
//! async function `(shard, peer, request) -> response`. [`dispatch`]
//! maps codes to them; unknown codes get REQUEST_CODE_NOT_SUPPORTED. A
//! handler sees the connection only as a [`Peer`] (its id and address), so
//! tests and simulations drive [`dispatch`] without sockets.
//!
//! * [`send`] — SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320),
//!   CONSUMER_SEND_MSG_BACK (36)
//! * [`pull`] — PULL_MESSAGE (11), LITE_PULL_MESSAGE (361)
//! * [`offsets`] — consumer offsets (14, 15), queue offsets (29, 30, 31, 32)
//! * [`client`] — HEART_BEAT (34), UNREGISTER_CLIENT (35), consumer list (38), locks (41, 42),
//!   CHECK_CLIENT_CONFIG (46)
//! * [`admin`] — topics (17, 21, 215), subscription groups (200, 201, 207, 352),
//!   all consumer (43) and delay (45) offsets,
//!   runtime info (28), broker config (26), topic stats (202), consumers of a
//!   topic (300), VIEW_MESSAGE_BY_ID (33),
//!   QUERY_MESSAGE (12)
//! * [`stats`] — consume stats (208), consumer (203) and producer (204)
//!   connections, consume time span (303)
//! * [`consumer_calls`] — GET_CONSUMER_RUNNING_INFO (307, forwarded to the
//!   consumer), INVOKE_BROKER_TO_RESET_OFFSET (222, notifies with 220)
//! * [`crate::transaction::end`] — END_TRANSACTION (37)

pub mod admin;
pub mod client;
pub mod consumer_calls;
pub mod offsets;
pub mod pull;
pub mod send;
pub mod stats;

use std::net::SocketAddr;
use std::rc::Rc;

use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::{ProtoError, RemotingCommand};
use bolide_store::io::Storage;
use bolide_store::StoreError;
use bolide_transport::remoting::{Connection, Handler};

use crate::groups::ConnRef;
use crate::shard::Shard;

/// Who sent a request: what handlers need of its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The connection's id on the shard that accepted it.
    pub conn_id: u64,
    /// The client's address (a message's born host).
    pub addr: SocketAddr,
}

impl Peer {
    /// The peer at the other end of `conn`.
    pub fn of(conn: &Connection) -> Peer {
        Peer {
            conn_id: conn.id(),
            addr: conn.peer_addr(),
        }
    }
}

/// Serves one shard's connections.
#[derive(Debug)]
pub struct BrokerHandler<S: Storage> {
    pub shard: Rc<Shard<S>>,
}

impl<S: Storage> Handler for BrokerHandler<S> {
    async fn handle(
        self: Rc<Self>,
        conn: Connection,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        Some(dispatch(&self.shard, &Peer::of(&conn), &request).await)
    }

    fn on_close(&self, conn: &Connection) {
        self.shard.forget_connection(conn);
        let conn_ref = ConnRef {
            shard: self.shard.id.0,
            conn_id: conn.id(),
        };
        let changes = self.shard.shared.groups().connection_closed(conn_ref);
        client::notify_changes(&self.shard, changes);
    }
}

/// Answers one request.
pub async fn dispatch<S: Storage>(
    shard: &Rc<Shard<S>>,
    peer: &Peer,
    request: &RemotingCommand,
) -> RemotingCommand {
    match request.code {
        req::SEND_MESSAGE | req::SEND_MESSAGE_V2 | req::SEND_BATCH_MESSAGE => {
            send::send(shard, peer, request).await
        }
        req::CONSUMER_SEND_MSG_BACK => send::send_back(shard, peer, request).await,
        req::PULL_MESSAGE | req::LITE_PULL_MESSAGE => pull::pull(shard, request).await,
        req::QUERY_CONSUMER_OFFSET => offsets::query_consumer_offset(shard, request).await,
        req::UPDATE_CONSUMER_OFFSET => offsets::update_consumer_offset(shard, request),
        req::GET_MAX_OFFSET => offsets::max_offset(shard, request).await,
        req::GET_MIN_OFFSET => offsets::min_offset(shard, request).await,
        req::SEARCH_OFFSET_BY_TIMESTAMP => offsets::search_by_time(shard, request).await,
        req::GET_EARLIEST_MSG_STORETIME => offsets::earliest_time(shard, request).await,
        req::HEART_BEAT => client::heartbeat(shard, peer, request).await,
        req::UNREGISTER_CLIENT => client::unregister(shard, request),
        req::CHECK_CLIENT_CONFIG => client::check_client_config(shard, request),
        req::GET_CONSUMER_LIST_BY_GROUP => client::consumer_list(shard, request),
        req::LOCK_BATCH_MQ => client::lock_batch(shard, request),
        req::UNLOCK_BATCH_MQ => client::unlock_batch(shard, request),
        req::UPDATE_AND_CREATE_TOPIC => admin::create_topic(shard, request).await,
        req::DELETE_TOPIC_IN_BROKER => admin::delete_topic(shard, request).await,
        req::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => admin::upsert_group(shard, request).await,
        req::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => admin::all_groups(shard),
        req::GET_SUBSCRIPTIONGROUP_CONFIG => admin::get_group(shard, request),
        req::DELETE_SUBSCRIPTIONGROUP => admin::delete_group(shard, request).await,
        req::GET_ALL_TOPIC_CONFIG => admin::all_topic_config(shard),
        req::GET_ALL_CONSUMER_OFFSET => admin::all_consumer_offsets(shard),
        req::GET_ALL_DELAY_OFFSET => admin::all_delay_offsets(shard),
        req::GET_BROKER_RUNTIME_INFO => admin::runtime_info(shard).await,
        req::GET_BROKER_CONFIG => admin::broker_config(shard),
        req::GET_TOPIC_STATS_INFO => admin::topic_stats(shard, request).await,
        req::QUERY_TOPIC_CONSUME_BY_WHO => admin::consume_by_who(shard, request),
        req::VIEW_MESSAGE_BY_ID => admin::view_message(shard, request).await,
        req::QUERY_MESSAGE => admin::query_message(shard, request).await,
        req::GET_CONSUME_STATS => stats::consume_stats(shard, request).await,
        req::GET_CONSUMER_CONNECTION_LIST => stats::consumer_connections(shard, request),
        req::GET_PRODUCER_CONNECTION_LIST => stats::producer_connections(shard, request),
        req::QUERY_CONSUME_TIME_SPAN => stats::consume_time_span(shard, request).await,
        req::GET_CONSUMER_RUNNING_INFO => {
            consumer_calls::consumer_running_info(shard, request).await
        }
        req::INVOKE_BROKER_TO_RESET_OFFSET => consumer_calls::reset_offset(shard, request).await,
        req::END_TRANSACTION => crate::transaction::end::end_transaction(shard, request).await,
        code => error(
            rsp::REQUEST_CODE_NOT_SUPPORTED,
            format!(" request type {code} not supported"),
        ),
    }
}

/// An error response.
pub fn error(code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response(code, Some(remark.into()))
}

/// A SUCCESS response with no header.
pub fn success() -> RemotingCommand {
    RemotingCommand::response(rsp::SUCCESS, None)
}

/// A request whose header or body does not decode.
pub fn bad_request(e: ProtoError) -> RemotingCommand {
    error(rsp::INVALID_PARAMETER, format!("bad request: {e}"))
}

/// A store failure, as RocketMQ clients expect it.
pub fn store_error(e: StoreError) -> RemotingCommand {
    let code = match &e {
        StoreError::DiskFull { .. } | StoreError::Unavailable(_) => rsp::SERVICE_NOT_AVAILABLE,
        StoreError::MessageIllegal(_) => rsp::MESSAGE_ILLEGAL,
        StoreError::Io { .. } | StoreError::Corrupt { .. } | StoreError::Config { .. } => {
            rsp::SYSTEM_ERROR
        }
    };
    error(code, e.to_string())
}

/// A queue id from the wire, rejecting negatives.
pub fn queue_id(raw: i32) -> Result<u32, RemotingCommand> {
    u32::try_from(raw)
        .map_err(|_| error(rsp::INVALID_PARAMETER, format!("queueId {raw} is negative")))
}
