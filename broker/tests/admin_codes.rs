//! The admin codes RocketMQ's Java tools and dashboard read, over loopback
//! sockets: GET_BROKER_RUNTIME_INFO (28), GET_BROKER_CONFIG (26),
//! GET_TOPIC_STATS_INFO (202), QUERY_TOPIC_CONSUME_BY_WHO (300),
//! GET_CONSUME_STATS (208), GET_CONSUMER_CONNECTION_LIST (203),
//! GET_PRODUCER_CONNECTION_LIST (204), QUERY_CONSUME_TIME_SPAN (303),
//! GET_CONSUMER_RUNNING_INFO (307, answered by a fake consumer),
//! INVOKE_BROKER_TO_RESET_OFFSET (222, with its 220 notice) and
//! VIEW_MESSAGE_BY_ID (33, the record against a hand-written golden one).

mod support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;

use bolide_proto::body::{
    parse_properties, ConsumeStats, ConsumerConnection, ConsumerData, DataVersion, GroupList,
    HeartbeatData, JsonBody, KvTable, OffsetWrapper, ProducerConnection, ProducerData,
    QueryConsumeTimeSpanBody, ResetOffsetBody, SubscriptionData, TopicStatsTable,
};
use bolide_proto::codes::{request_code as req, response_code as rsp, version, LanguageCode};
use bolide_proto::header::offset::{
    QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use bolide_proto::message::records;
use bolide_proto::msgid::OffsetMsgId;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, Handler};
use support::*;

const TOPIC: &str = "AdminCodesTopic";

fn topic_request(code: i32, topic: &str) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(code);
    cmd.ext_fields.insert("topic", topic);
    cmd
}

#[test]
fn runtime_info_is_a_kv_table_with_the_dashboard_keys() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            for i in 0..3 {
                let r = conn
                    .invoke(send_request(TOPIC, 0, b"x", "t", &format!("k{i}")), TIMEOUT)
                    .await
                    .unwrap();
                assert_eq!(r.code, rsp::SUCCESS, "{:?}", r.remark);
            }
            let r = conn
                .invoke(
                    RemotingCommand::request(req::GET_BROKER_RUNTIME_INFO),
                    TIMEOUT,
                )
                .await
                .unwrap();
            assert_eq!(r.code, rsp::SUCCESS, "{:?}", r.remark);
            let table = KvTable::decode(&r.body).unwrap().table;
            assert_eq!(table["msgPutTotalTodayNow"], "3");
            assert!(table["brokerVersionDesc"].starts_with("Bolide "));
            let boot: i64 = table["bootTimestamp"].parse().unwrap();
            assert!(boot > 1_600_000_000_000);
            let min: u64 = table["commitLogMinOffset"].parse().unwrap();
            let max: u64 = table["commitLogMaxOffset"].parse().unwrap();
            assert!(min <= max);
            let runtime = &table["runtime"];
            assert!(
                runtime.starts_with("[ 0 days, 0 hours, ") && runtime.ends_with(" seconds ]"),
                "{runtime}"
            );
        },
    );
}

#[test]
fn broker_config_is_properties_text_with_a_version_header() {
    with_broker(
        |c| c.broker.broker_name = "broker-x".into(),
        move |addr, ns| async move {
            let conn = connect(addr).await;
            let r = conn
                .invoke(RemotingCommand::request(req::GET_BROKER_CONFIG), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(r.code, rsp::SUCCESS, "{:?}", r.remark);
            let text = String::from_utf8(r.body.to_vec()).unwrap();
            let props: BTreeMap<String, String> = parse_properties(&text).into_iter().collect();
            assert_eq!(props["brokerName"], "broker-x");
            assert_eq!(props["brokerId"], "0");
            assert_eq!(props["listenPort"], addr.port().to_string());
            assert_eq!(props["flushDiskType"], "ASYNC_FLUSH");
            assert_eq!(props["namesrvAddr"], ns.to_string());
            assert_eq!(props["mappedFileSizeCommitLog"], (1u64 << 20).to_string());
            assert!(props.contains_key("brokerClusterName"));
            assert!(props.contains_key("storePathRootDir"));
            assert_eq!(props["transactionCheckInterval"], "60000");
            assert_eq!(props["transactionCheckMax"], "15");
            let version =
                DataVersion::decode(r.ext_fields.get("version").unwrap().as_bytes()).unwrap();
            assert!(version.timestamp > 1_600_000_000_000);
        },
    );
}

#[test]
fn topic_stats_and_consumers_of_a_topic() {
    with_broker(
        |c| c.broker.broker_name = "broker-s".into(),
        move |addr, _| async move {
            let conn = connect(addr).await;
            // Queue q gets q + 1 messages.
            for q in 0..4 {
                for i in 0..=q {
                    let r = conn
                        .invoke(send_request(TOPIC, q, b"x", "t", &format!("k{i}")), TIMEOUT)
                        .await
                        .unwrap();
                    assert_eq!(r.code, rsp::SUCCESS, "{:?}", r.remark);
                }
            }
            let r = conn
                .invoke(topic_request(req::GET_TOPIC_STATS_INFO, TOPIC), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(r.code, rsp::SUCCESS, "{:?}", r.remark);
            let raw = String::from_utf8(r.body.to_vec()).unwrap();
            assert!(
                raw.contains(r#""{\"brokerName\":\"broker-s\",\"queueId\":2,\"topic\":\"AdminCodesTopic\"}":{"#),
                "{raw}"
            );
            let stats = TopicStatsTable::decode(&r.body).unwrap();
            let queues: Vec<i32> = stats
                .offset_table
                .iter()
                .map(|(mq, _)| mq.queue_id)
                .collect();
            assert_eq!(queues, vec![0, 1, 2, 3]);
            for (mq, off) in &stats.offset_table {
                assert_eq!(mq.topic, TOPIC);
                assert_eq!(mq.broker_name, "broker-s");
                assert_eq!(off.min_offset, 0);
                assert_eq!(off.max_offset, mq.queue_id as i64 + 1);
                assert!(off.last_update_timestamp > 1_600_000_000_000, "{off:?}");
            }

            let r = conn
                .invoke(
                    topic_request(req::GET_TOPIC_STATS_INFO, "NoSuchTopic"),
                    TIMEOUT,
                )
                .await
                .unwrap();
            assert_eq!(r.code, rsp::TOPIC_NOT_EXIST);

            let by_who = |topic: &'static str| {
                let conn = &conn;
                async move {
                    let r = conn
                        .invoke(
                            topic_request(req::QUERY_TOPIC_CONSUME_BY_WHO, topic),
                            TIMEOUT,
                        )
                        .await
                        .unwrap();
                    assert_eq!(r.code, rsp::SUCCESS, "{:?}", r.remark);
                    GroupList::decode(&r.body).unwrap().group_list
                }
            };
            assert!(by_who(TOPIC).await.is_empty());
            for group in ["GB", "GA"] {
                let header = UpdateConsumerOffsetRequestHeader {
                    consumer_group: group.into(),
                    topic: TOPIC.into(),
                    queue_id: 1,
                    commit_offset: 1,
                };
                let cmd =
                    RemotingCommand::request(req::UPDATE_CONSUMER_OFFSET).with_header(&header);
                let r = conn.invoke(cmd, TIMEOUT).await.unwrap();
                assert_eq!(r.code, rsp::SUCCESS, "{:?}", r.remark);
            }
            assert_eq!(by_who(TOPIC).await, vec!["GA", "GB"]);
            // An online consumer subscribed to the topic counts too.
            let hb = HeartbeatData {
                client_id: "127.0.0.1@admin".into(),
                consumer_data_set: vec![ConsumerData {
                    group_name: "GC".into(),
                    subscription_data_set: vec![SubscriptionData {
                        topic: TOPIC.into(),
                        sub_string: "*".into(),
                        sub_version: 1,
                        ..SubscriptionData::default()
                    }],
                    ..ConsumerData::default()
                }],
                ..HeartbeatData::default()
            };
            let cmd = RemotingCommand::request(req::HEART_BEAT).with_body(hb.encode());
            let r = conn.invoke(cmd, TIMEOUT).await.unwrap();
            assert_eq!(r.code, rsp::SUCCESS, "{:?}", r.remark);
            assert_eq!(by_who(TOPIC).await, vec!["GA", "GB", "GC"]);
            assert!(by_who("OtherTopic").await.is_empty());
        },
    );
}

// ---- Consumer admin codes: 208, 203, 204, 303, 307, 222, and 33's body ----

/// A client's side of its connection: answers GET_CONSUMER_RUNNING_INFO
/// with a body naming the client id it was asked about, and keeps every
/// request the broker sends it.
#[derive(Debug, Default)]
struct FakeClient(RefCell<Vec<RemotingCommand>>);

impl Handler for FakeClient {
    async fn handle(
        self: Rc<Self>,
        _: Connection,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        self.0.borrow_mut().push(request.clone());
        if request.code != req::GET_CONSUMER_RUNNING_INFO {
            return None;
        }
        let id = request.ext_fields.get("clientId").unwrap_or_default();
        let body = format!(r#"{{"jstack":"","properties":{{"clientId":"{id}"}}}}"#);
        Some(RemotingCommand::response(rsp::SUCCESS, None).with_body(body.into_bytes()))
    }
}

/// Connects as `client_id`: a consumer of `group` subscribed to `TOPIC`
/// (when `group` is set), and a producer of `producer_group` (when set).
async fn client(
    addr: SocketAddr,
    client_id: &str,
    group: Option<&str>,
    producer_group: Option<&str>,
) -> (Connection, Rc<FakeClient>) {
    client_in(addr, client_id, group, producer_group, LanguageCode::Java).await
}

/// [`client`] whose heartbeat says it is written in `language`.
async fn client_in(
    addr: SocketAddr,
    client_id: &str,
    group: Option<&str>,
    producer_group: Option<&str>,
    language: LanguageCode,
) -> (Connection, Rc<FakeClient>) {
    let inbox = Rc::new(FakeClient::default());
    let conn = Connection::connect(addr, inbox.clone(), 16 << 20, TIMEOUT)
        .await
        .expect("connect");
    let hb = HeartbeatData {
        client_id: client_id.into(),
        consumer_data_set: group
            .map(|g| ConsumerData {
                group_name: g.into(),
                subscription_data_set: vec![SubscriptionData {
                    topic: TOPIC.into(),
                    sub_string: "*".into(),
                    sub_version: 7,
                    ..SubscriptionData::default()
                }],
                ..ConsumerData::default()
            })
            .into_iter()
            .collect(),
        producer_data_set: producer_group
            .map(|g| ProducerData {
                group_name: g.into(),
            })
            .into_iter()
            .collect(),
        ..HeartbeatData::default()
    };
    let mut cmd = RemotingCommand::request(req::HEART_BEAT).with_body(hb.encode());
    cmd.language = language;
    ok(&conn, cmd).await;
    (conn, inbox)
}

/// Sends `cmd`, asserts SUCCESS, returns the answer.
async fn ok(conn: &Connection, cmd: RemotingCommand) -> RemotingCommand {
    let r = conn.invoke(cmd, TIMEOUT).await.unwrap();
    assert_eq!(r.code, rsp::SUCCESS, "{:?}", r.remark);
    r
}

/// Sends `cmd`, asserts the error code, returns the remark.
async fn refused(conn: &Connection, cmd: RemotingCommand, code: i32) -> String {
    let r = conn.invoke(cmd, TIMEOUT).await.unwrap();
    assert_eq!(r.code, code, "{:?}", r.remark);
    r.remark.unwrap_or_default()
}

fn commit(group: &str, queue: i32, offset: i64) -> RemotingCommand {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: TOPIC.into(),
        queue_id: queue,
        commit_offset: offset,
    };
    RemotingCommand::request(req::UPDATE_CONSUMER_OFFSET).with_header(&header)
}

/// Ext fields of a request, as (name, value) pairs.
type Fields<'a> = &'a [(&'a str, &'a str)];

fn request(code: i32, fields: Fields) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(code);
    for (k, v) in fields {
        cmd.ext_fields.insert(*k, *v);
    }
    cmd
}

/// The store times of queue `queue`'s messages, in offset order.
async fn store_times(conn: &Connection, queue: i32) -> Vec<i64> {
    let r = ok(conn, pull_request("Reader", TOPIC, queue, 0, "*", 0)).await;
    records(&r.body)
        .map(|r| r.unwrap().store_timestamp())
        .collect()
}

/// Queue q of `TOPIC` gets `counts[q]` messages.
async fn fill(conn: &Connection, counts: &[i32]) {
    for (q, n) in counts.iter().enumerate() {
        for i in 0..*n {
            ok(
                conn,
                send_request(TOPIC, q as i32, b"x", "t", &format!("k{i}")),
            )
            .await;
        }
    }
}

#[test]
fn consume_stats_connections_and_time_span() {
    with_broker(
        |c| c.broker.broker_name = "broker-c".into(),
        move |addr, _| async move {
            let admin = connect(addr).await;
            fill(&admin, &[3, 1]).await;
            let (_consumer, _) = client(addr, "127.0.0.1@c1", Some("CG"), None).await;
            let (_producer, _) = client(addr, "127.0.0.1@p1", None, Some("PGX")).await;
            ok(&admin, commit("CG", 0, 2)).await;
            let times = store_times(&admin, 0).await;

            // 208, with and without the topic (then: the group's topics).
            for fields in [
                &[("consumerGroup", "CG"), ("topic", TOPIC)][..],
                &[("consumerGroup", "CG")],
            ] {
                let r = ok(&admin, request(req::GET_CONSUME_STATS, fields)).await;
                let raw = String::from_utf8(r.body.to_vec()).unwrap();
                assert!(raw.starts_with(r#"{"consumeTps":0.0,"offsetTable":{"{\"brokerName\":\"broker-c\",\"queueId\":0,"#), "{raw}");
                let stats = ConsumeStats::decode(&r.body).unwrap();
                let table: Vec<(i32, OffsetWrapper)> = stats
                    .offset_table
                    .iter()
                    .map(|(mq, o)| (mq.queue_id, *o))
                    .collect();
                let q0 = OffsetWrapper {
                    broker_offset: 3,
                    consumer_offset: 2,
                    last_timestamp: times[1],
                    pull_offset: 2,
                };
                let q1 = OffsetWrapper {
                    broker_offset: 1,
                    ..OffsetWrapper::default()
                };
                assert_eq!(table[..2], [(0, q0), (1, q1)]);
                assert_eq!(table.len(), 4, "every readable queue");
            }
            let r = ok(
                &admin,
                request(req::GET_CONSUME_STATS, &[("consumerGroup", "NoGroup")]),
            )
            .await;
            assert!(ConsumeStats::decode(&r.body)
                .unwrap()
                .offset_table
                .is_empty());

            // 203 and 204.
            let r = ok(
                &admin,
                request(
                    req::GET_CONSUMER_CONNECTION_LIST,
                    &[("consumerGroup", "CG")],
                ),
            )
            .await;
            let cc = ConsumerConnection::decode(&r.body).unwrap();
            assert_eq!(cc.connection_set.len(), 1);
            let c = &cc.connection_set[0];
            assert_eq!(
                (c.client_id.as_str(), c.language.as_str(), c.version),
                ("127.0.0.1@c1", "JAVA", version::BOLIDE)
            );
            assert!(c.client_addr.starts_with("127.0.0.1:"), "{c:?}");
            assert_eq!(
                (cc.consume_type.as_str(), cc.message_model.as_str()),
                ("CONSUME_PASSIVELY", "CLUSTERING")
            );
            assert_eq!(cc.consume_from_where, "CONSUME_FROM_LAST_OFFSET");
            assert_eq!(cc.subscription_table[TOPIC].sub_version, 7);
            let why = refused(
                &admin,
                request(
                    req::GET_CONSUMER_CONNECTION_LIST,
                    &[("consumerGroup", "NoGroup")],
                ),
                rsp::CONSUMER_NOT_ONLINE,
            )
            .await;
            assert_eq!(why, "the consumer group[NoGroup] not online");
            let r = ok(
                &admin,
                request(
                    req::GET_PRODUCER_CONNECTION_LIST,
                    &[("producerGroup", "PGX")],
                ),
            )
            .await;
            let ids: Vec<String> = ProducerConnection::decode(&r.body)
                .unwrap()
                .connection_set
                .into_iter()
                .map(|c| c.client_id)
                .collect();
            assert_eq!(ids, ["127.0.0.1@p1"]);
            let why = refused(
                &admin,
                request(
                    req::GET_PRODUCER_CONNECTION_LIST,
                    &[("producerGroup", "NoPG")],
                ),
                rsp::SYSTEM_ERROR,
            )
            .await;
            assert_eq!(why, "the producer group[NoPG] not exist");

            // 303.
            let r = ok(
                &admin,
                request(
                    req::QUERY_CONSUME_TIME_SPAN,
                    &[("topic", TOPIC), ("group", "CG")],
                ),
            )
            .await;
            let spans = QueryConsumeTimeSpanBody::decode(&r.body)
                .unwrap()
                .consume_time_span_set;
            assert_eq!(spans.len(), 4);
            let q0 = &spans[0];
            assert_eq!(
                (
                    q0.message_queue.queue_id,
                    q0.message_queue.broker_name.as_str()
                ),
                (0, "broker-c")
            );
            assert_eq!(
                (q0.min_time_stamp, q0.max_time_stamp, q0.consume_time_stamp),
                (times[0], times[2], times[1])
            );
            assert!(q0.delay_time >= 0);
            assert_eq!(q0.min_time_stamp_str.len(), "yyyy-MM-dd#HH:mm:ss:SSS".len());
            let q1 = &spans[1];
            assert_eq!(
                q1.consume_time_stamp, q1.min_time_stamp,
                "nothing consumed: its first message"
            );
            let q2 = &spans[2];
            assert_eq!(
                (q2.min_time_stamp, q2.max_time_stamp, q2.delay_time),
                (-1, -1, 0)
            );
            let why = refused(
                &admin,
                request(
                    req::QUERY_CONSUME_TIME_SPAN,
                    &[("topic", "NoTopic"), ("group", "CG")],
                ),
                rsp::TOPIC_NOT_EXIST,
            )
            .await;
            assert_eq!(why, "topic[NoTopic] not exist");
        },
    );
}

#[test]
fn consumer_running_info_is_asked_of_the_consumer_and_relayed() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let admin = connect(addr).await;
            // Two consumers (on whichever shards accepted them): each is asked itself.
            let (_c1, inbox1) = client(addr, "127.0.0.1@r1", Some("RG"), None).await;
            let (_c2, inbox2) = client(addr, "127.0.0.1@r2", Some("RG"), None).await;
            for (id, inbox) in [("127.0.0.1@r1", &inbox1), ("127.0.0.1@r2", &inbox2)] {
                let fields = [
                    ("consumerGroup", "RG"),
                    ("clientId", id),
                    ("jstackEnable", "false"),
                ];
                let r = ok(&admin, request(req::GET_CONSUMER_RUNNING_INFO, &fields)).await;
                let want = format!(r#"{{"jstack":"","properties":{{"clientId":"{id}"}}}}"#);
                assert_eq!(r.body, want.as_bytes());
                let asked = inbox
                    .0
                    .borrow()
                    .iter()
                    .filter(|r| r.code == req::GET_CONSUMER_RUNNING_INFO)
                    .count();
                assert_eq!(asked, 1, "{id}");
            }
            let fields = [("consumerGroup", "RG"), ("clientId", "nobody")];
            let why = refused(
                &admin,
                request(req::GET_CONSUMER_RUNNING_INFO, &fields),
                rsp::SYSTEM_ERROR,
            )
            .await;
            assert_eq!(why, "The Consumer <RG> <nobody> not online");
        },
    );
}

#[test]
fn reset_offset_by_time_moves_the_offsets_and_tells_the_consumers() {
    with_broker(
        |c| c.broker.broker_name = "broker-r".into(),
        move |addr, _| async move {
            let admin = connect(addr).await;
            fill(&admin, &[4, 2]).await;
            let (_consumer, inbox) = client(addr, "127.0.0.1@x1", Some("XG"), None).await;
            let (_cpp, cpp_inbox) =
                client_in(addr, "127.0.0.1@x2", Some("XG"), None, LanguageCode::Cpp).await;
            ok(&admin, commit("XG", 0, 4)).await;
            let times = store_times(&admin, 0).await;
            // The first message stored at or after the second one's time.
            let at = times[1];
            let want0 = times.iter().position(|&t| t >= at).unwrap() as i64;
            let ts = at.to_string();
            let fields = [
                ("topic", TOPIC),
                ("group", "XG"),
                ("timestamp", ts.as_str()),
                ("isForce", "true"),
            ];
            let r = ok(&admin, request(req::INVOKE_BROKER_TO_RESET_OFFSET, &fields)).await;
            let body = ResetOffsetBody::decode(&r.body).unwrap();
            let table: Vec<(String, i32, i64)> = body
                .offset_table
                .iter()
                .map(|(mq, o)| (mq.broker_name.clone(), mq.queue_id, *o))
                .collect();
            let want: Vec<(String, i32, i64)> = [(0, want0), (1, 0), (2, 0), (3, 0)]
                .map(|(q, o)| ("broker-r".to_owned(), q, o))
                .into();
            assert_eq!(
                table, want,
                "queue 1's messages are all older: its max offset"
            );
            let query = QueryConsumerOffsetRequestHeader {
                consumer_group: "XG".into(),
                topic: TOPIC.into(),
                queue_id: 0,
                set_zero_if_not_found: None,
            };
            let r = ok(
                &admin,
                RemotingCommand::request(req::QUERY_CONSUMER_OFFSET).with_header(&query),
            )
            .await;
            assert_eq!(ext_i64(&r, "offset"), want0, "committed on the broker");
            let notice = eventually(
                "RESET_CONSUMER_CLIENT_OFFSET reaches the consumer",
                TIMEOUT,
                || {
                    let inbox = inbox.clone();
                    async move {
                        inbox
                            .0
                            .borrow()
                            .iter()
                            .find(|r| r.code == req::RESET_CONSUMER_CLIENT_OFFSET)
                            .cloned()
                    }
                },
            )
            .await;
            assert_eq!(
                (
                    notice.ext_fields.get("group"),
                    notice.ext_fields.get("topic")
                ),
                (Some("XG"), Some(TOPIC))
            );
            assert_eq!(ResetOffsetBody::decode(&notice.body).unwrap(), body);
            let cpp_notice = eventually("the C++ consumer's notice", TIMEOUT, || {
                let inbox = cpp_inbox.clone();
                async move {
                    inbox
                        .0
                        .borrow()
                        .iter()
                        .find(|r| r.code == req::RESET_CONSUMER_CLIENT_OFFSET)
                        .cloned()
                }
            })
            .await;
            assert_eq!(
                cpp_notice.body,
                body.encode_for_c(),
                "the list form C++ reads"
            );

            // One queue to a named offset; a negative time: the max offsets.
            let fields = [
                ("topic", TOPIC),
                ("group", "XG"),
                ("timestamp", "0"),
                ("isForce", "true"),
                ("queueId", "0"),
                ("offset", "3"),
            ];
            let r = ok(&admin, request(req::INVOKE_BROKER_TO_RESET_OFFSET, &fields)).await;
            assert_eq!(
                ResetOffsetBody::decode(&r.body)
                    .unwrap()
                    .offset_table
                    .iter()
                    .map(|(mq, o)| (mq.queue_id, *o))
                    .collect::<Vec<_>>(),
                [(0, 3)]
            );
            let fields = [
                ("topic", TOPIC),
                ("group", "XG"),
                ("timestamp", "-1"),
                ("isForce", "true"),
            ];
            let r = ok(&admin, request(req::INVOKE_BROKER_TO_RESET_OFFSET, &fields)).await;
            let maxes: Vec<i64> = ResetOffsetBody::decode(&r.body)
                .unwrap()
                .offset_table
                .iter()
                .map(|(_, o)| *o)
                .collect();
            assert_eq!(maxes, [4, 2, 0, 0]);

            // Refusals, with RocketMQ's codes and remarks.
            let cases: [(Fields, i32, &str); 3] = [
                (
                    &[
                        ("topic", "NoTopic"),
                        ("group", "XG"),
                        ("timestamp", "0"),
                        ("isForce", "true"),
                    ],
                    rsp::TOPIC_NOT_EXIST,
                    "Topic NoTopic does not exist",
                ),
                (
                    &[
                        ("topic", TOPIC),
                        ("group", "NoGroup"),
                        ("timestamp", "0"),
                        ("isForce", "true"),
                    ],
                    rsp::SUBSCRIPTION_GROUP_NOT_EXIST,
                    "Group NoGroup does not exist",
                ),
                (
                    &[
                        ("topic", TOPIC),
                        ("group", "XG"),
                        ("timestamp", "0"),
                        ("isForce", "true"),
                        ("queueId", "0"),
                        ("offset", "9"),
                    ],
                    rsp::SYSTEM_ERROR,
                    "Target offset 9 not in consume queue range [0-4]",
                ),
            ];
            for (fields, code, remark) in cases {
                assert_eq!(
                    refused(
                        &admin,
                        request(req::INVOKE_BROKER_TO_RESET_OFFSET, fields),
                        code
                    )
                    .await,
                    remark
                );
            }
        },
    );
}

/// The stored-record layout of remoting.md §5.1, written out by hand.
struct RecordFields<'a> {
    queue_id: i32,
    queue_offset: i64,
    physical_offset: i64,
    born_host: [u8; 8],
    store_timestamp: i64,
    store_host: [u8; 8],
    body: &'a [u8],
    topic: &'a str,
    properties: &'a str,
}

fn golden_record(f: &RecordFields) -> Vec<u8> {
    let mut v = Vec::new();
    let total = 91 + f.body.len() + f.topic.len() + f.properties.len();
    v.extend((total as i32).to_be_bytes());
    v.extend(0xDAA3_20A7_u32.to_be_bytes());
    v.extend(((crc32fast::hash(f.body) & 0x7FFF_FFFF) as i32).to_be_bytes());
    v.extend(f.queue_id.to_be_bytes());
    v.extend(0_i32.to_be_bytes()); // flag
    v.extend(f.queue_offset.to_be_bytes());
    v.extend(f.physical_offset.to_be_bytes());
    v.extend(0_i32.to_be_bytes()); // sysFlag
    v.extend(1_i64.to_be_bytes()); // bornTimestamp
    v.extend(f.born_host);
    v.extend(f.store_timestamp.to_be_bytes());
    v.extend(f.store_host);
    v.extend(0_i32.to_be_bytes()); // reconsumeTimes
    v.extend(0_i64.to_be_bytes()); // preparedTransactionOffset
    v.extend((f.body.len() as i32).to_be_bytes());
    v.extend(f.body);
    v.push(f.topic.len() as u8);
    v.extend(f.topic.as_bytes());
    v.extend((f.properties.len() as i16).to_be_bytes());
    v.extend(f.properties.as_bytes());
    v
}

#[test]
fn view_message_by_id_answers_the_stored_record_byte_for_byte() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let admin = connect(addr).await;
            fill(&admin, &[0, 0, 1]).await;
            // The properties the broker keeps as sent: it adds UNIQ_KEY and
            // CLUSTER only when missing.
            let properties =
                "TAGS\u{1}golden\u{2}KEYS\u{1}k\u{2}UNIQ_KEY\u{1}0A0B0C\u{2}CLUSTER\u{1}C1";
            let mut send = send_request(TOPIC, 2, b"golden body", "golden", "k");
            send.ext_fields.insert("i", properties);
            let r = ok(&admin, send).await;
            let id = OffsetMsgId::decode(r.ext_fields.get("msgId").unwrap()).unwrap();
            assert_eq!(id.store_host, addr);
            let offset = (id.offset.0 as i64).to_string();
            let r = ok(
                &admin,
                request(req::VIEW_MESSAGE_BY_ID, &[("offset", offset.as_str())]),
            )
            .await;
            let got = r.body.to_vec();
            // Only the born port and the store time are not known up front.
            let mut born_host = [127, 0, 0, 1, 0, 0, 0, 0];
            born_host[4..].copy_from_slice(&got[52..56]);
            let mut store_host = [127, 0, 0, 1, 0, 0, 0, 0];
            store_host[4..].copy_from_slice(&i32::from(addr.port()).to_be_bytes());
            let want = golden_record(&RecordFields {
                queue_id: 2,
                queue_offset: 1,
                physical_offset: id.offset.0 as i64,
                born_host,
                store_timestamp: i64::from_be_bytes(got[56..64].try_into().unwrap()),
                store_host,
                body: b"golden body",
                topic: TOPIC,
                properties,
            });
            assert_eq!(got, want);
            let why = refused(
                &admin,
                request(req::VIEW_MESSAGE_BY_ID, &[("offset", "999999999")]),
                rsp::SYSTEM_ERROR,
            )
            .await;
            assert_eq!(why, "can not find message by the offset, 999999999");
        },
    );
}
