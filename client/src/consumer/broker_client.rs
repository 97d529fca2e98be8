//! The consumer's broker transport: one [`Connection`] per broker address,
//! opened lazily, and the typed requests a consumer sends (remoting.md
//! §4.3–4.9). The edge where the network meets the consumer; the
//! decisions live in the pure modules.
//!
//! Inbound, a broker sends NOTIFY_CONSUMER_IDS_CHANGED (oneway) when the
//! group's membership changes; [`ConsumerInbound`] turns it into a
//! rebalance wake-up. RESET_CONSUMER_CLIENT_OFFSET (220, oneway) becomes a
//! [`ResetRequest`] for the consumer to apply. Anything else inbound is
//! ignored.
//!
//! A transport failure closes that address's connection (the next request
//! reconnects); a broker's error answer keeps the connection.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bolide_proto::body::{
    ConsumerListByGroupResponseBody, HeartbeatData, JsonBody, LockBatchRequestBody,
    LockBatchResponseBody, ResetOffsetBody, UnlockBatchRequestBody,
};
use bolide_proto::codes::{request_code as req, response_code as rsp, version};
use bolide_proto::header::{
    ConsumerSendMsgBackRequestHeader, GetConsumerListByGroupRequestHeader,
    GetMaxOffsetRequestHeader, OffsetResponseHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, QueryConsumerOffsetRequestHeader, ResetOffsetRequestHeader,
    SearchOffsetRequestHeader, UnregisterClientRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use bolide_proto::ids::QueueOffset;
use bolide_proto::message::{property, records};
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, Handler, TransportError};
use bolide_transport::rt;
use bolide_transport::rt::local_channel::{self, LocalReceiver, LocalSender};

use super::subscription::{is_retry_topic, Subscription};
use crate::error::ClientError;
use crate::message::MessageExt;
use crate::route::MessageQueue;

/// A wake-up signal within one executor; pending wake-ups collapse into one.
#[derive(Debug)]
pub(crate) struct Notify {
    tx: LocalSender<()>,
    rx: LocalReceiver<()>,
}

impl Notify {
    pub fn new() -> Self {
        let (tx, rx) = local_channel::new_bounded(1);
        Notify { tx, rx }
    }

    pub fn notify(&self) {
        let _ = self.tx.try_send(());
    }

    /// Waits for a wake-up, at most `timeout`; true if woken.
    pub async fn wait(&self, timeout: Duration) -> bool {
        rt::timeout(timeout, async { Ok(self.rx.recv().await) })
            .await
            .is_ok()
    }
}

/// A broker's RESET_CONSUMER_CLIENT_OFFSET: `group`'s new offsets of
/// `topic`'s queues (the broker has already stored them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResetRequest {
    pub group: String,
    pub topic: String,
    pub offsets: Vec<(MessageQueue, QueueOffset)>,
}

impl ResetRequest {
    /// Decodes header and body (the Java map form); queues of other topics
    /// and queues that do not parse are left out.
    pub fn decode(request: &RemotingCommand) -> Result<Self, bolide_proto::ProtoError> {
        let header: ResetOffsetRequestHeader = request.decode_header()?;
        let body = ResetOffsetBody::decode(&request.body)?;
        let offsets = body
            .offset_table
            .iter()
            .filter(|(mq, _)| mq.topic == header.topic)
            .filter_map(|(mq, offset)| {
                Some((MessageQueue::from_wire(mq)?, offset_from_wire(*offset)))
            })
            .collect();
        Ok(ResetRequest {
            group: header.group,
            topic: header.topic,
            offsets,
        })
    }
}

/// Serves broker → consumer requests.
#[derive(Debug)]
pub(crate) struct ConsumerInbound {
    pub rebalance: Rc<Notify>,
    /// Offset resets, applied by the consumer's reset task.
    pub resets: LocalSender<ResetRequest>,
}

impl Handler for ConsumerInbound {
    async fn handle(
        self: Rc<Self>,
        _: Connection,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        match request.code {
            req::NOTIFY_CONSUMER_IDS_CHANGED => {
                tracing::debug!("consumer ids changed; rebalancing");
                self.rebalance.notify();
            }
            req::RESET_CONSUMER_CLIENT_OFFSET => match ResetRequest::decode(&request) {
                Ok(reset) => {
                    tracing::info!(group = %reset.group, topic = %reset.topic, queues = reset.offsets.len(), "offset reset received");
                    let _ = self.resets.try_send(reset);
                }
                Err(e) => tracing::warn!(error = %e, "undecodable offset reset ignored"),
            },
            code => tracing::debug!(code, "inbound request ignored"),
        }
        None
    }
}

/// The outcome of a pull, as the Java and C++ clients classify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// SUCCESS: the body holds records.
    Found,
    /// PULL_NOT_FOUND: caught up (or the long poll expired).
    NoNewMsg,
    /// PULL_RETRY_IMMEDIATELY: entries scanned, none matched.
    NoMatchedMsg,
    /// PULL_OFFSET_MOVED: the offset was out of range.
    OffsetIllegal,
}

/// A decoded pull response.
#[derive(Debug, Clone)]
pub struct PullResponse {
    pub status: PullStatus,
    pub next_begin_offset: QueueOffset,
    pub min_offset: QueueOffset,
    pub max_offset: QueueOffset,
    /// Back-to-back stored records (only with [`PullStatus::Found`]).
    pub body: bytes::Bytes,
}

/// Classifies a PULL_MESSAGE response (remoting.md §4.3, §7.1).
pub fn parse_pull_response(
    addr: SocketAddr,
    cmd: RemotingCommand,
) -> Result<PullResponse, ClientError> {
    let status = match cmd.code {
        rsp::SUCCESS => PullStatus::Found,
        rsp::PULL_NOT_FOUND => PullStatus::NoNewMsg,
        rsp::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMsg,
        rsp::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
        _ => return Err(refused(addr, cmd)),
    };
    let header: PullMessageResponseHeader = cmd.decode_header()?;
    Ok(PullResponse {
        status,
        next_begin_offset: offset_from_wire(header.next_begin_offset),
        min_offset: offset_from_wire(header.min_offset),
        max_offset: offset_from_wire(header.max_offset),
        body: cmd.body,
    })
}

/// Decodes a FOUND body into messages that pass `sub`'s tag filter (the
/// broker filters by hash, which can collide), restoring the original topic
/// of retried messages (`RETRY_TOPIC`), as RocketMQ clients do. Decoding
/// stops at the first bad record; the ones before it are kept.
pub fn decode_pulled(body: &bytes::Bytes, sub: &Subscription) -> Vec<MessageExt> {
    let mut msgs = Vec::new();
    for record in records(body) {
        let view = match record {
            Ok(view) => view,
            Err(e) => {
                tracing::warn!(topic = %sub.topic, error = %e, "undecodable record in pull body");
                break;
            }
        };
        let mut msg = MessageExt::from_record(&view, Some(body));
        if !sub.matches(msg.tags.as_deref()) {
            continue;
        }
        if is_retry_topic(&msg.topic) {
            if let Some(original) = msg.property(property::RETRY_TOPIC) {
                msg.topic = original.to_owned();
            }
        }
        msgs.push(msg);
    }
    msgs
}

/// A wire offset as a queue offset (negative ones clamp to 0).
pub fn offset_from_wire(offset: i64) -> QueueOffset {
    QueueOffset(u64::try_from(offset).unwrap_or(0))
}

/// A queue offset on the wire (saturating).
pub fn offset_to_wire(offset: QueueOffset) -> i64 {
    i64::try_from(offset.0).unwrap_or(i64::MAX)
}

fn queue_id_wire(mq: &MessageQueue) -> i32 {
    i32::try_from(mq.queue_id.0).unwrap_or(i32::MAX)
}

fn refused(addr: SocketAddr, cmd: RemotingCommand) -> ClientError {
    ClientError::Response {
        addr,
        code: cmd.code,
        remark: cmd.remark.unwrap_or_default(),
    }
}

fn expect_success(addr: SocketAddr, cmd: RemotingCommand) -> Result<RemotingCommand, ClientError> {
    match cmd.code {
        rsp::SUCCESS => Ok(cmd),
        _ => Err(refused(addr, cmd)),
    }
}

fn request(code: i32) -> RemotingCommand {
    RemotingCommand {
        version: version::BOLIDE,
        ..RemotingCommand::request(code)
    }
}

/// Connections to brokers, by address.
#[derive(Debug)]
pub(crate) struct BrokerLinks {
    conns: RefCell<BTreeMap<SocketAddr, Connection>>,
    handler: Rc<ConsumerInbound>,
    timeout: Duration,
    max_frame_bytes: usize,
}

impl BrokerLinks {
    pub fn new(
        rebalance: Rc<Notify>,
        resets: LocalSender<ResetRequest>,
        timeout: Duration,
    ) -> Self {
        BrokerLinks {
            conns: RefCell::new(BTreeMap::new()),
            handler: Rc::new(ConsumerInbound { rebalance, resets }),
            timeout,
            max_frame_bytes: bolide_proto::MAX_FRAME_BYTES,
        }
    }

    /// The open connection to `addr`, or a new one.
    async fn conn(&self, addr: SocketAddr) -> Result<Connection, ClientError> {
        if let Some(conn) = self.open(addr) {
            return Ok(conn);
        }
        let conn = Connection::connect(
            addr,
            self.handler.clone(),
            self.max_frame_bytes,
            self.timeout,
        )
        .await
        .map_err(|source| ClientError::Transport { addr, source })?;
        // Another task may have connected meanwhile: keep one connection.
        if let Some(existing) = self.open(addr) {
            conn.close();
            return Ok(existing);
        }
        self.conns.borrow_mut().insert(addr, conn.clone());
        Ok(conn)
    }

    fn open(&self, addr: SocketAddr) -> Option<Connection> {
        self.conns
            .borrow()
            .get(&addr)
            .filter(|c| !c.is_closed())
            .cloned()
    }

    fn fail(&self, addr: SocketAddr, source: TransportError) -> ClientError {
        if !matches!(source, TransportError::Timeout(_)) {
            if let Some(conn) = self.conns.borrow_mut().remove(&addr) {
                conn.close();
            }
        }
        ClientError::Transport { addr, source }
    }

    /// Sends `cmd` and waits at most `timeout` for the response.
    pub async fn invoke(
        &self,
        addr: SocketAddr,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let conn = self.conn(addr).await?;
        conn.invoke(cmd, timeout)
            .await
            .map_err(|e| self.fail(addr, e))
    }

    async fn call(
        &self,
        addr: SocketAddr,
        cmd: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        let response = self.invoke(addr, cmd, self.timeout).await?;
        expect_success(addr, response)
    }

    async fn oneway(&self, addr: SocketAddr, cmd: RemotingCommand) -> Result<(), ClientError> {
        let conn = self.conn(addr).await?;
        conn.invoke_oneway(cmd)
            .await
            .map_err(|e| self.fail(addr, e))
    }

    /// Closes every connection.
    pub fn close_all(&self) {
        for (_, conn) in std::mem::take(&mut *self.conns.borrow_mut()) {
            conn.close();
        }
    }

    pub async fn heartbeat(&self, addr: SocketAddr, hb: &HeartbeatData) -> Result<(), ClientError> {
        self.call(addr, request(req::HEART_BEAT).with_body(hb.encode()))
            .await
            .map(drop)
    }

    pub async fn unregister(
        &self,
        addr: SocketAddr,
        client_id: &str,
        group: &str,
    ) -> Result<(), ClientError> {
        let header = UnregisterClientRequestHeader {
            client_id: client_id.to_owned(),
            producer_group: None,
            consumer_group: Some(group.to_owned()),
        };
        self.call(addr, request(req::UNREGISTER_CLIENT).with_header(&header))
            .await
            .map(drop)
    }

    pub async fn consumer_ids(
        &self,
        addr: SocketAddr,
        group: &str,
    ) -> Result<Vec<String>, ClientError> {
        let header = GetConsumerListByGroupRequestHeader {
            consumer_group: group.to_owned(),
        };
        let response = self
            .call(
                addr,
                request(req::GET_CONSUMER_LIST_BY_GROUP).with_header(&header),
            )
            .await?;
        Ok(ConsumerListByGroupResponseBody::decode(&response.body)?.consumer_id_list)
    }

    /// The group's committed offset of `mq`; `None` if the broker has none.
    pub async fn query_offset(
        &self,
        addr: SocketAddr,
        group: &str,
        mq: &MessageQueue,
    ) -> Result<Option<QueueOffset>, ClientError> {
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: group.to_owned(),
            topic: mq.topic.clone(),
            queue_id: queue_id_wire(mq),
            set_zero_if_not_found: None,
        };
        let response = self
            .invoke(
                addr,
                request(req::QUERY_CONSUMER_OFFSET).with_header(&header),
                self.timeout,
            )
            .await?;
        match response.code {
            rsp::QUERY_NOT_FOUND => Ok(None),
            rsp::SUCCESS => {
                let h: OffsetResponseHeader = response.decode_header()?;
                Ok((h.offset >= 0).then(|| offset_from_wire(h.offset)))
            }
            _ => Err(refused(addr, response)),
        }
    }

    /// Commits `offset` for `mq`: oneway (the periodic persist) or waiting
    /// for the broker's answer (an explicit commit).
    pub async fn update_offset(
        &self,
        addr: SocketAddr,
        group: &str,
        mq: &MessageQueue,
        offset: QueueOffset,
        oneway: bool,
    ) -> Result<(), ClientError> {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.to_owned(),
            topic: mq.topic.clone(),
            queue_id: queue_id_wire(mq),
            commit_offset: offset_to_wire(offset),
        };
        let cmd = request(req::UPDATE_CONSUMER_OFFSET).with_header(&header);
        if oneway {
            self.oneway(addr, cmd).await
        } else {
            self.call(addr, cmd).await.map(drop)
        }
    }

    /// The queue's max offset (the next to be written).
    pub async fn max_offset(
        &self,
        addr: SocketAddr,
        mq: &MessageQueue,
    ) -> Result<QueueOffset, ClientError> {
        let header = GetMaxOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: queue_id_wire(mq),
            committed: None,
        };
        let response = self
            .call(addr, request(req::GET_MAX_OFFSET).with_header(&header))
            .await?;
        let h: OffsetResponseHeader = response.decode_header()?;
        Ok(offset_from_wire(h.offset))
    }

    /// The first offset stored at or after `timestamp_ms`.
    pub async fn search_offset(
        &self,
        addr: SocketAddr,
        mq: &MessageQueue,
        timestamp_ms: i64,
    ) -> Result<QueueOffset, ClientError> {
        let header = SearchOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: queue_id_wire(mq),
            timestamp: timestamp_ms,
            boundary_type: None,
        };
        let response = self
            .call(
                addr,
                request(req::SEARCH_OFFSET_BY_TIMESTAMP).with_header(&header),
            )
            .await?;
        let h: OffsetResponseHeader = response.decode_header()?;
        Ok(offset_from_wire(h.offset))
    }

    pub async fn pull(
        &self,
        addr: SocketAddr,
        header: &PullMessageRequestHeader,
        timeout: Duration,
    ) -> Result<PullResponse, ClientError> {
        let response = self
            .invoke(
                addr,
                request(req::PULL_MESSAGE).with_header(header),
                timeout,
            )
            .await?;
        parse_pull_response(addr, response)
    }

    pub async fn send_back(
        &self,
        addr: SocketAddr,
        header: &ConsumerSendMsgBackRequestHeader,
    ) -> Result<(), ClientError> {
        self.call(
            addr,
            request(req::CONSUMER_SEND_MSG_BACK).with_header(header),
        )
        .await
        .map(drop)
    }

    /// Locks `mqs` (all of one broker) for `client_id`; returns those locked.
    pub async fn lock(
        &self,
        addr: SocketAddr,
        group: &str,
        client_id: &str,
        mqs: &[MessageQueue],
    ) -> Result<Vec<MessageQueue>, ClientError> {
        let body = LockBatchRequestBody {
            client_id: client_id.to_owned(),
            consumer_group: group.to_owned(),
            mq_set: mqs.iter().map(MessageQueue::to_wire).collect(),
            only_this_broker: false,
        };
        let response = self
            .call(addr, request(req::LOCK_BATCH_MQ).with_body(body.encode()))
            .await?;
        let locked = LockBatchResponseBody::decode(&response.body)?;
        Ok(locked
            .lock_ok_mq_set
            .iter()
            .filter_map(MessageQueue::from_wire)
            .collect())
    }

    pub async fn unlock(
        &self,
        addr: SocketAddr,
        group: &str,
        client_id: &str,
        mqs: &[MessageQueue],
    ) -> Result<(), ClientError> {
        let body = UnlockBatchRequestBody {
            client_id: client_id.to_owned(),
            consumer_group: group.to_owned(),
            mq_set: mqs.iter().map(MessageQueue::to_wire).collect(),
            only_this_broker: false,
        };
        self.call(addr, request(req::UNLOCK_BATCH_MQ).with_body(body.encode()))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolide_proto::header::CommandHeader;

    #[test]
    fn classifies_pull_responses() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let header = PullMessageResponseHeader {
            next_begin_offset: 9,
            min_offset: -1,
            max_offset: 12,
            ..Default::default()
        };
        let cases = [
            (rsp::SUCCESS, Some(PullStatus::Found)),
            (rsp::PULL_NOT_FOUND, Some(PullStatus::NoNewMsg)),
            (rsp::PULL_RETRY_IMMEDIATELY, Some(PullStatus::NoMatchedMsg)),
            (rsp::PULL_OFFSET_MOVED, Some(PullStatus::OffsetIllegal)),
            (rsp::SYSTEM_ERROR, None),
            (rsp::SUBSCRIPTION_NOT_EXIST, None),
        ];
        for (code, want) in cases {
            let mut cmd = RemotingCommand::response(code, None);
            cmd.ext_fields = header.to_ext_fields();
            let got = parse_pull_response(addr, cmd);
            assert_eq!(got.as_ref().ok().map(|r| r.status), want, "{code}");
            if let Ok(r) = got {
                assert_eq!(
                    (r.next_begin_offset.0, r.min_offset.0, r.max_offset.0),
                    (9, 0, 12)
                );
            }
        }
        let bare = RemotingCommand::response(rsp::SUCCESS, None);
        assert!(matches!(
            parse_pull_response(addr, bare),
            Err(ClientError::Proto(_))
        ));
    }

    /// A pull body: one record per (topic, TAGS, RETRY_TOPIC) at offsets 0...
    fn pull_body(msgs: &[(&str, Option<&str>, Option<&str>)]) -> bytes::Bytes {
        use bolide_proto::ids::GlobalOffset;
        use bolide_proto::message::{AppendStamp, NewMessage, PropertiesBuilder};
        let mut out = bytes::BytesMut::new();
        for (i, (topic, tags, retry)) in msgs.iter().enumerate() {
            let mut props = PropertiesBuilder::new();
            if let Some(tags) = tags {
                props.set("TAGS", tags).unwrap();
            }
            if let Some(retry) = retry {
                props.set("RETRY_TOPIC", retry).unwrap();
            }
            let msg = NewMessage {
                topic: (*topic).to_owned(),
                queue_id: 0,
                flag: 0,
                sys_flag: 0,
                born_timestamp: 1,
                born_host: "127.0.0.1:1".parse().unwrap(),
                store_host: "127.0.0.1:2".parse().unwrap(),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: bytes::Bytes::from(format!("m{i}")),
                properties: props.build(),
            };
            let stamp = AppendStamp {
                queue_offset: QueueOffset(i as u64),
                physical_offset: GlobalOffset(100 * i as u64),
                store_timestamp: 2,
            };
            msg.encode(stamp, &mut out).unwrap();
        }
        out.freeze()
    }

    #[test]
    fn decodes_filters_and_restores_pulled_messages() {
        let body = pull_body(&[
            ("T", Some("TagA"), None),
            ("T", Some("TagC"), None),
            ("T", None, None),
            ("%RETRY%g", Some("TagB"), Some("T")),
            ("%RETRY%g", Some("TagA"), None),
        ]);
        // (expression, kept (topic, body))
        let cases: [(&str, &[(&str, &str)]); 2] = [
            (
                "*",
                &[
                    ("T", "m0"),
                    ("T", "m1"),
                    ("T", "m2"),
                    ("T", "m3"),
                    ("%RETRY%g", "m4"),
                ],
            ),
            (
                "TagA || TagB",
                &[("T", "m0"), ("T", "m3"), ("%RETRY%g", "m4")],
            ),
        ];
        for (expr, want) in cases {
            let got = decode_pulled(&body, &Subscription::new("T", expr, 0));
            let got: Vec<(&str, &[u8])> = got
                .iter()
                .map(|m| (m.topic.as_str(), &m.body[..]))
                .collect();
            let want: Vec<(&str, &[u8])> = want.iter().map(|(t, b)| (*t, b.as_bytes())).collect();
            assert_eq!(got, want, "{expr}");
        }
        // A corrupt tail keeps the records before it.
        let mut cut = body.to_vec();
        cut.truncate(body.len() - 3);
        let got = decode_pulled(&bytes::Bytes::from(cut), &Subscription::new("T", "*", 0));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn decodes_reset_requests() {
        use bolide_proto::body::MessageQueue as WireQueue;
        let wire = |topic: &str, id: i32| WireQueue {
            topic: topic.to_owned(),
            broker_name: "b".to_owned(),
            queue_id: id,
        };
        let header = ResetOffsetRequestHeader {
            topic: "T".to_owned(),
            group: "g".to_owned(),
            timestamp: 0,
            is_force: Some(true),
            queue_id: None,
            offset: None,
        };
        let body = ResetOffsetBody {
            offset_table: vec![
                (wire("T", 0), 3),
                (wire("T", 1), -1),
                (wire("U", 0), 9),
                (wire("T", -2), 4),
            ],
        };
        let cmd = RemotingCommand::request(req::RESET_CONSUMER_CLIENT_OFFSET)
            .with_header(&header)
            .with_body(body.encode());
        let reset = ResetRequest::decode(&cmd).unwrap();
        assert_eq!((reset.group.as_str(), reset.topic.as_str()), ("g", "T"));
        let mq = |id| MessageQueue::new("T", "b", id);
        assert_eq!(
            reset.offsets,
            [(mq(0), QueueOffset(3)), (mq(1), QueueOffset(0))]
        );
        let bare = RemotingCommand::request(req::RESET_CONSUMER_CLIENT_OFFSET).with_header(&header);
        assert!(ResetRequest::decode(&bare).is_err());
    }

    #[test]
    fn wire_offsets() {
        let cases = [(-5i64, 0u64), (0, 0), (7, 7), (i64::MAX, i64::MAX as u64)];
        for (wire, want) in cases {
            assert_eq!(offset_from_wire(wire), QueueOffset(want));
        }
        assert_eq!(offset_to_wire(QueueOffset(u64::MAX)), i64::MAX);
        assert_eq!(offset_to_wire(QueueOffset(3)), 3);
    }
}
