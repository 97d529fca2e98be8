//! Transaction helpers: a transactional producer speaking the wire protocol
//! (half send, END_TRANSACTION, producer heartbeat) and a connection
//! handler that collects the broker's CHECK_TRANSACTION_STATE requests.

use std::cell::RefCell;
use std::rc::Rc;

use bolide_proto::body::{HeartbeatData, JsonBody, ProducerData};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::header::send::SendMessageRequestHeader;
use bolide_proto::header::transaction::EndTransactionRequestHeader;
use bolide_proto::message::{records, sysflag, PropertiesBuilder};
use bolide_proto::msgid::OffsetMsgId;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, Handler};

use super::{ext_i64, pull_request, TIMEOUT};

/// A half message (TRAN_MSG, PGROUP, UNIQ_KEY = `uniq`) for `topic`/`queue`.
pub fn half_request(
    topic: &str,
    queue: i32,
    group: &str,
    uniq: &str,
    body: &[u8],
) -> RemotingCommand {
    let mut props = PropertiesBuilder::new();
    for (k, v) in [
        ("TRAN_MSG", "true"),
        ("PGROUP", group),
        ("UNIQ_KEY", uniq),
        ("TAGS", "tx"),
    ] {
        props.set(k, v).unwrap();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let header = SendMessageRequestHeader {
        producer_group: group.into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: queue,
        sys_flag: sysflag::TRANSACTION_PREPARED,
        born_timestamp: now,
        properties: Some(props.build()),
        ..SendMessageRequestHeader::default()
    };
    let mut cmd = RemotingCommand::request(req::SEND_MESSAGE_V2).with_body(body.to_vec());
    header.to_v2(&mut cmd.ext_fields);
    cmd
}

/// What a producer keeps of a half send's answer: the offsets its
/// END_TRANSACTION quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HalfSent {
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub msg_id: String,
}

impl HalfSent {
    /// From a SUCCESS answer to a half send, as the C++ client reads it.
    pub fn of(answer: &RemotingCommand) -> HalfSent {
        assert_eq!(answer.code, rsp::SUCCESS, "{:?}", answer.remark);
        let msg_id = answer.ext_fields.get("msgId").expect("msgId").to_owned();
        let offset = OffsetMsgId::decode(&msg_id).expect("offset msg id").offset;
        HalfSent {
            queue_offset: ext_i64(answer, "queueOffset"),
            commit_log_offset: offset.0 as i64,
            msg_id,
        }
    }
}

/// END_TRANSACTION about `half` with verdict `verdict` (0, 8 or 12).
pub fn end_request(
    group: &str,
    half: &HalfSent,
    verdict: i32,
    from_check: bool,
) -> RemotingCommand {
    let header = EndTransactionRequestHeader {
        topic: None,
        producer_group: group.into(),
        tran_state_table_offset: half.queue_offset,
        commit_log_offset: half.commit_log_offset,
        commit_or_rollback: verdict,
        from_transaction_check: Some(from_check),
        msg_id: half.msg_id.clone(),
        transaction_id: None,
    };
    RemotingCommand::request(req::END_TRANSACTION).with_header(&header)
}

/// The half message a CHECK_TRANSACTION_STATE asks about, as a producer
/// answers it (tranStateTableOffset and commitLogOffset of the request).
pub fn checked_half(check: &RemotingCommand) -> HalfSent {
    HalfSent {
        queue_offset: ext_i64(check, "tranStateTableOffset"),
        commit_log_offset: ext_i64(check, "commitLogOffset"),
        msg_id: check.ext_fields.get("msgId").unwrap_or_default().to_owned(),
    }
}

/// A heartbeat naming producer group `group`.
pub fn producer_heartbeat(client_id: &str, group: &str) -> RemotingCommand {
    let hb = HeartbeatData {
        client_id: client_id.into(),
        producer_data_set: vec![ProducerData {
            group_name: group.into(),
        }],
        ..HeartbeatData::default()
    };
    RemotingCommand::request(req::HEART_BEAT).with_body(hb.encode())
}

/// Collects the requests the broker sends to a connection.
#[derive(Debug, Default)]
pub struct Inbox(pub RefCell<Vec<RemotingCommand>>);

impl Handler for Inbox {
    async fn handle(
        self: Rc<Self>,
        _: Connection,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        self.0.borrow_mut().push(request);
        None
    }
}

impl Inbox {
    /// CHECK_TRANSACTION_STATE requests received so far.
    pub fn checks(&self) -> Vec<RemotingCommand> {
        let inbox = self.0.borrow();
        inbox
            .iter()
            .filter(|r| r.code == req::CHECK_TRANSACTION_STATE)
            .cloned()
            .collect()
    }
}

/// Like [`pull_all`], for a topic the broker may not have created yet.
pub async fn pull_if_exists(conn: &Connection, topic: &str, queue: i32) -> Vec<(Vec<u8>, String)> {
    let probe = pull_request("TxConsumer", topic, queue, 0, "*", 0);
    match conn.invoke(probe, TIMEOUT).await.unwrap().code {
        rsp::TOPIC_NOT_EXIST => Vec::new(),
        _ => pull_all(conn, topic, queue).await,
    }
}

/// (body, UNIQ_KEY) of every message of a queue from offset 0.
pub async fn pull_all(conn: &Connection, topic: &str, queue: i32) -> Vec<(Vec<u8>, String)> {
    let mut offset = 0;
    let mut got = Vec::new();
    loop {
        let request = pull_request("TxConsumer", topic, queue, offset, "*", 0);
        let answer = conn.invoke(request, TIMEOUT).await.unwrap();
        match answer.code {
            rsp::SUCCESS => {
                for r in records(&answer.body) {
                    let r = r.unwrap();
                    let uniq = r.properties().get("UNIQ_KEY").unwrap_or_default();
                    got.push((r.body().to_vec(), uniq.to_owned()));
                }
            }
            rsp::PULL_NOT_FOUND => return got,
            rsp::PULL_RETRY_IMMEDIATELY => {}
            code => panic!("pull answered {code}: {:?}", answer.remark),
        }
        offset = ext_i64(&answer, "nextBeginOffset");
    }
}
