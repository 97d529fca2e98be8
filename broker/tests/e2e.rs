//! End to end over loopback: a NameServer, a 2-shard broker on real files,
//! and wire-level clients. Bounded in time; only 127.0.0.1.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use bolide_broker::config::FlushModeName;
use bolide_proto::body::{
    ConsumerData, ConsumerListByGroupResponseBody, HeartbeatData, JsonBody, SubscriptionData,
    TopicRouteData,
};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::message::records;
use bolide_proto::msgid::OffsetMsgId;
use bolide_proto::RemotingCommand;
use support::*;

const TOPIC: &str = "E2eTopic";

fn body(i: usize) -> Vec<u8> {
    format!("message-{i}").into_bytes()
}

/// Pulls a queue from `from` until caught up; returns (body, tag) pairs.
async fn drain(
    conn: &bolide_transport::remoting::Connection,
    topic: &str,
    queue: i32,
    from: i64,
    expr: &str,
) -> Vec<(Vec<u8>, String)> {
    let mut offset = from;
    let mut got = Vec::new();
    loop {
        let rsp = conn
            .invoke(pull_request("G", topic, queue, offset, expr, 0), TIMEOUT)
            .await
            .unwrap();
        match rsp.code {
            rsp::SUCCESS => {
                for r in records(&rsp.body) {
                    let r = r.unwrap();
                    assert!(r.crc_ok());
                    let tag = r.properties().get("TAGS").unwrap_or_default().to_owned();
                    got.push((r.body().to_vec(), tag));
                }
            }
            rsp::PULL_NOT_FOUND => return got,
            rsp::PULL_RETRY_IMMEDIATELY => {}
            code => panic!("pull answered {code}: {:?}", rsp.remark),
        }
        offset = ext_i64(&rsp, "nextBeginOffset");
    }
}

#[test]
fn produce_and_consume_exactly_n_across_shards() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            let mut offsets_per_queue = [0i64; 4];
            for i in 0..200 {
                let queue = (i % 4) as i32;
                let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
                let rsp = conn
                    .invoke(
                        send_request(TOPIC, queue, &body(i), tag, &format!("k{i}")),
                        TIMEOUT,
                    )
                    .await
                    .unwrap();
                assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
                assert_eq!(ext_i64(&rsp, "queueId"), queue as i64);
                assert_eq!(
                    ext_i64(&rsp, "queueOffset"),
                    offsets_per_queue[queue as usize]
                );
                offsets_per_queue[queue as usize] += 1;
                let id = OffsetMsgId::decode(rsp.ext_fields.get("msgId").unwrap()).unwrap();
                assert_eq!(id.store_host, addr);
            }
            let mut all = BTreeSet::new();
            let mut tag_a = 0;
            for queue in 0..4 {
                for (b, _) in drain(&conn, TOPIC, queue, 0, "*").await {
                    assert!(all.insert(b), "duplicate message");
                }
                tag_a += drain(&conn, TOPIC, queue, 0, "TagA").await.len();
            }
            let expected: BTreeSet<Vec<u8>> = (0..200).map(body).collect();
            assert_eq!(all, expected, "every message exactly once");
            assert_eq!(tag_a, 100, "tag filter");
        },
    );
}

#[test]
fn auto_created_topic_is_routed_by_the_namesrv() {
    with_broker(
        |_| {},
        move |addr, ns_addr| async move {
            let conn = connect(addr).await;
            let rsp = conn
                .invoke(send_request("RoutedTopic", 0, b"x", "t", "k"), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS);
            let ns_conn = connect(ns_addr).await;
            let route_req = RemotingCommand::request(req::GET_ROUTEINFO_BY_TOPIC)
                .with_ext("topic", "RoutedTopic");
            for _ in 0..100 {
                let rsp = ns_conn.invoke(route_req.clone(), TIMEOUT).await.unwrap();
                if rsp.code == rsp::SUCCESS {
                    let route = TopicRouteData::decode(&rsp.body).unwrap();
                    assert_eq!(
                        route.broker_datas[0].master_addr(),
                        Some(addr.to_string().as_str())
                    );
                    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
                    return;
                }
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
            panic!("topic never reached the NameServer");
        },
    );
}

#[test]
fn long_poll_returns_on_arrival() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let producer = connect(addr).await;
            let consumer = connect(addr).await;
            let rsp = producer
                .invoke(send_request("LpTopic", 1, b"first", "t", "k"), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS);
            // Caught up at offset 1: the broker holds the pull (up to 20 s)...
            let pull = glommio::spawn_local(async move {
                consumer
                    .invoke(
                        pull_request("G", "LpTopic", 1, 1, "*", 20_000),
                        Duration::from_secs(30),
                    )
                    .await
            });
            glommio::timer::sleep(Duration::from_millis(200)).await;
            let rsp = producer
                .invoke(send_request("LpTopic", 1, b"second", "t", "k"), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS);
            // ...and answers with the new message instead of waiting out the hold.
            let rsp = pull.await.unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
            let got: Vec<_> = records(&rsp.body)
                .map(|r| r.unwrap().body().to_vec())
                .collect();
            assert_eq!(got, [b"second".to_vec()]);
        },
    );
}

#[test]
fn long_poll_answers_not_found_at_its_deadline() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            conn.invoke(send_request("IdleTopic", 0, b"x", "t", "k"), TIMEOUT)
                .await
                .unwrap();
            let rsp = conn
                .invoke(pull_request("G", "IdleTopic", 0, 1, "*", 300), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::PULL_NOT_FOUND);
            assert_eq!(ext_i64(&rsp, "nextBeginOffset"), 1);
            assert_eq!(ext_i64(&rsp, "maxOffset"), 1);
        },
    );
}

#[test]
fn offsets_and_messages_survive_a_restart() {
    let ns = start_namesrv();
    let data = tempfile::tempdir().unwrap();
    let config = broker_config(data.path(), ns.addr(), FlushModeName::Async);
    let broker = start_broker(config.clone());
    let addr = broker.addr();
    run(move || async move {
        let conn = connect(addr).await;
        for i in 0..10 {
            conn.invoke(send_request("KeepTopic", 0, &body(i), "t", "k"), TIMEOUT)
                .await
                .unwrap();
        }
        let mut commit = RemotingCommand::request(req::UPDATE_CONSUMER_OFFSET);
        for (k, v) in [
            ("consumerGroup", "G"),
            ("topic", "KeepTopic"),
            ("queueId", "0"),
            ("commitOffset", "7"),
        ] {
            commit.ext_fields.insert(k, v);
        }
        assert_eq!(
            conn.invoke(commit, TIMEOUT).await.unwrap().code,
            rsp::SUCCESS
        );
    });
    broker.shutdown().unwrap();
    for shard in ["shard-0", "shard-1"] {
        assert!(
            !data.path().join(shard).join("abort").exists(),
            "{shard}: shutdown must leave a clean checkpoint"
        );
    }
    let broker = start_broker(config);
    run(move || async move {
        let conn = connect(addr).await;
        let mut query = RemotingCommand::request(req::QUERY_CONSUMER_OFFSET);
        for (k, v) in [
            ("consumerGroup", "G"),
            ("topic", "KeepTopic"),
            ("queueId", "0"),
        ] {
            query.ext_fields.insert(k, v);
        }
        let rsp = conn.invoke(query, TIMEOUT).await.unwrap();
        assert_eq!((rsp.code, ext_i64(&rsp, "offset")), (rsp::SUCCESS, 7));
        let rest = drain(&conn, "KeepTopic", 0, 7, "*").await;
        assert_eq!(
            rest.into_iter().map(|(b, _)| b).collect::<Vec<_>>(),
            [body(7), body(8), body(9)]
        );
    });
    broker.shutdown().unwrap();
    ns.shutdown();
}

#[test]
fn bad_input_gets_clear_errors_and_other_connections_keep_working() {
    use std::io::{Read, Write};
    let ns = start_namesrv();
    let data = tempfile::tempdir().unwrap();
    let broker = start_broker(broker_config(data.path(), ns.addr(), FlushModeName::Async));
    let addr = broker.addr();
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    raw.write_all(&[0, 0, 0, 8, 0, 0, 0, 200, 1, 2, 3, 4])
        .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        raw.read(&mut buf).unwrap_or(0),
        0,
        "a bad frame closes its connection"
    );
    run(move || async move {
        let conn = connect(addr).await;
        let big = vec![0u8; 64 * 1024 + 1];
        let rsp = conn
            .invoke(send_request("BadTopic", 0, &big, "t", "k"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::MESSAGE_ILLEGAL);
        assert!(rsp.remark.unwrap().contains("limit"));
        let rsp = conn
            .invoke(send_request("bad topic", 0, b"x", "t", "k"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::MESSAGE_ILLEGAL);
        let rsp = conn
            .invoke(send_request("TBW102", 0, b"x", "t", "k"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::NO_PERMISSION);
        let rsp = conn
            .invoke(send_request("BadTopic", 99, b"x", "t", "k"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::INVALID_PARAMETER);
        let rsp = conn
            .invoke(RemotingCommand::request(9999), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::REQUEST_CODE_NOT_SUPPORTED);
        let rsp = conn
            .invoke(RemotingCommand::request(req::PULL_MESSAGE), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::INVALID_PARAMETER, "missing header fields");
        let rsp = conn
            .invoke(pull_request("G", "NoSuchTopic", 0, 0, "*", 0), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::TOPIC_NOT_EXIST);
        let rsp = conn
            .invoke(send_request("GoodTopic", 0, b"fine", "t", "k"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::SUCCESS);
    });
    broker.shutdown().unwrap();
    ns.shutdown();
}

fn heartbeat(client_id: &str) -> RemotingCommand {
    // Like real consumers, subscribe the group's retry topic too.
    let sub = |topic: &str| SubscriptionData {
        topic: topic.into(),
        sub_string: "*".into(),
        sub_version: 1,
        ..SubscriptionData::default()
    };
    let hb = HeartbeatData {
        client_id: client_id.into(),
        consumer_data_set: vec![ConsumerData {
            group_name: "CG".into(),
            subscription_data_set: vec![sub("GroupTopic"), sub("%RETRY%CG")],
            ..ConsumerData::default()
        }],
        ..HeartbeatData::default()
    };
    RemotingCommand::request(req::HEART_BEAT).with_body(hb.encode())
}

#[test]
fn heartbeats_build_the_group_and_notify_members() {
    use bolide_transport::remoting::{Connection, Handler};
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Default)]
    struct Recorder(RefCell<Vec<i32>>);
    impl Handler for Recorder {
        async fn handle(
            self: Rc<Self>,
            _: Connection,
            request: RemotingCommand,
        ) -> Option<RemotingCommand> {
            self.0.borrow_mut().push(request.code);
            None
        }
    }

    with_broker(
        |_| {},
        move |addr, _| async move {
            let recorder = Rc::new(Recorder::default());
            let first = Connection::connect(addr, recorder.clone(), 1 << 20, TIMEOUT)
                .await
                .unwrap();
            let second = connect(addr).await;
            assert_eq!(
                first.invoke(heartbeat("c1"), TIMEOUT).await.unwrap().code,
                rsp::SUCCESS
            );
            assert_eq!(
                second.invoke(heartbeat("c2"), TIMEOUT).await.unwrap().code,
                rsp::SUCCESS
            );
            let list = RemotingCommand::request(req::GET_CONSUMER_LIST_BY_GROUP)
                .with_ext("consumerGroup", "CG");
            let rsp = second.invoke(list.clone(), TIMEOUT).await.unwrap();
            let ids = ConsumerListByGroupResponseBody::decode(&rsp.body)
                .unwrap()
                .consumer_id_list;
            assert_eq!(ids, ["c1", "c2"]);
            for _ in 0..100 {
                if recorder
                    .0
                    .borrow()
                    .contains(&req::NOTIFY_CONSUMER_IDS_CHANGED)
                {
                    break;
                }
                glommio::timer::sleep(Duration::from_millis(20)).await;
            }
            assert!(recorder
                .0
                .borrow()
                .contains(&req::NOTIFY_CONSUMER_IDS_CHANGED));
            // Pulling without a request subscription uses the heartbeat's.
            let mut pull = pull_request("CG", "%RETRY%CG", 0, 0, "*", 0);
            pull.ext_fields.insert("sysFlag", "0");
            assert_eq!(
                second.invoke(pull, TIMEOUT).await.unwrap().code,
                rsp::PULL_NOT_FOUND
            );
            // The second member leaves: the list shrinks.
            second.close();
            for _ in 0..100 {
                let rsp = first.invoke(list.clone(), TIMEOUT).await.unwrap();
                if ConsumerListByGroupResponseBody::decode(&rsp.body).map(|b| b.consumer_id_list)
                    == Ok(vec!["c1".into()])
                {
                    return;
                }
                glommio::timer::sleep(Duration::from_millis(20)).await;
            }
            panic!("closed member stayed in the group");
        },
    );
}

fn send_delayed(topic: &str, level: u32) -> RemotingCommand {
    let mut cmd = send_request(topic, 0, b"later", "t", "k");
    let props = format!("{}DELAY\u{1}{level}\u{2}", cmd.ext_fields.get("i").unwrap());
    cmd.ext_fields.insert("i", props);
    cmd
}

#[test]
fn delayed_messages_arrive_after_their_level() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            conn.invoke(send_request("DelayTopic", 0, b"now", "t", "k"), TIMEOUT)
                .await
                .unwrap();
            let sent_at = std::time::Instant::now();
            let rsp = conn
                .invoke(send_delayed("DelayTopic", 1), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
            // Not there yet: only the undelayed message.
            let now = drain(&conn, "DelayTopic", 0, 0, "*").await;
            assert_eq!(now.len(), 1);
            // Level 1 = 1 s: a long poll at offset 1 gets it.
            let rsp = conn
                .invoke(pull_request("G", "DelayTopic", 0, 1, "*", 8_000), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
            assert!(
                sent_at.elapsed() >= Duration::from_millis(900),
                "delivered before its delay"
            );
            let r = records(&rsp.body).next().unwrap().unwrap();
            assert_eq!(
                (r.topic(), r.queue_id(), r.body()),
                ("DelayTopic", 0, &b"later"[..])
            );
            assert_eq!(r.properties().get("REAL_TOPIC"), None);
            assert_eq!(r.properties().get("DELAY"), None);
        },
    );
}

/// `message_delay_level` sets the table: with "3s 1s", level 2 is due
/// before level 1 even when sent after it.
#[test]
fn delay_levels_follow_the_configured_table() {
    with_broker(
        |c| c.broker.message_delay_level = "3s 1s".into(),
        move |addr, _| async move {
            let conn = connect(addr).await;
            let sent_at = std::time::Instant::now();
            for level in [1, 2] {
                let mut cmd = send_delayed("TableTopic", level);
                cmd.body = format!("level {level}").into_bytes().into();
                let rsp = conn.invoke(cmd, TIMEOUT).await.unwrap();
                assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
            }
            let rsp = conn
                .invoke(pull_request("G", "TableTopic", 0, 0, "*", 8_000), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
            assert!(sent_at.elapsed() >= Duration::from_millis(900));
            let first = records(&rsp.body).next().unwrap().unwrap();
            assert_eq!(first.body(), b"level 2", "the 1 s level arrives first");
        },
    );
}

fn send_back(offset: i64, delay_level: &str) -> RemotingCommand {
    send_back_as("RG", offset, delay_level)
}

fn send_back_as(group: &str, offset: i64, delay_level: &str) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(req::CONSUMER_SEND_MSG_BACK);
    for (k, v) in [
        ("offset", offset.to_string().as_str()),
        ("group", group),
        ("delayLevel", delay_level),
        ("maxReconsumeTimes", "16"),
    ] {
        cmd.ext_fields.insert(k, v);
    }
    cmd
}

/// The commit-log offset of the first message of a queue.
async fn first_offset(conn: &bolide_transport::remoting::Connection, topic: &str) -> i64 {
    let rsp = conn
        .invoke(pull_request("G", topic, 0, 0, "*", 0), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
    let offset = records(&rsp.body)
        .next()
        .unwrap()
        .unwrap()
        .physical_offset()
        .0 as i64;
    offset
}

/// Long-polls queue 0 of `topic` until a message with `wanted` as body
/// arrives (within ~10 s); returns every body seen.
async fn await_body(
    conn: &bolide_transport::remoting::Connection,
    topic: &str,
    wanted: &[u8],
) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let mut offset = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let rsp = conn
            .invoke(pull_request("G", topic, 0, offset, "*", 2_000), TIMEOUT)
            .await
            .unwrap();
        if rsp.code == rsp::SUCCESS {
            seen.extend(records(&rsp.body).map(|r| r.unwrap().body().to_vec()));
            if seen.iter().any(|b| b == wanted) {
                return seen;
            }
        }
        offset = ext_i64(&rsp, "nextBeginOffset");
    }
    panic!(
        "{:?} never arrived in {topic}; saw {seen:?}",
        String::from_utf8_lossy(wanted)
    );
}

#[test]
fn send_back_retries_later_and_dead_letters() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            conn.invoke(send_request("OrigTopic", 0, b"fail me", "t", "k"), TIMEOUT)
                .await
                .unwrap();
            let rsp = conn
                .invoke(pull_request("RG", "OrigTopic", 0, 0, "*", 0), TIMEOUT)
                .await
                .unwrap();
            let offset = records(&rsp.body)
                .next()
                .unwrap()
                .unwrap()
                .physical_offset()
                .0 as i64;
            // delayLevel 1: back in %RETRY%RG after ~1 s, original topic remembered.
            assert_eq!(
                conn.invoke(send_back(offset, "1"), TIMEOUT)
                    .await
                    .unwrap()
                    .code,
                rsp::SUCCESS
            );
            let rsp = conn
                .invoke(pull_request("RG", "%RETRY%RG", 0, 0, "*", 8_000), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
            let r = records(&rsp.body).next().unwrap().unwrap();
            assert_eq!(r.body(), b"fail me");
            assert_eq!(r.reconsume_times(), 1);
            assert_eq!(r.properties().get("RETRY_TOPIC"), Some("OrigTopic"));
            // delayLevel -1: straight to the dead-letter queue.
            assert_eq!(
                conn.invoke(send_back(offset, "-1"), TIMEOUT)
                    .await
                    .unwrap()
                    .code,
                rsp::SUCCESS
            );
            let dlq = drain(&conn, "%DLQ%RG", 0, 0, "*").await;
            assert_eq!(dlq.len(), 1);
            // A bogus offset is refused.
            assert_eq!(
                conn.invoke(send_back(1 << 40, "0"), TIMEOUT)
                    .await
                    .unwrap()
                    .code,
                rsp::SYSTEM_ERROR
            );
        },
    );
}

#[test]
fn subscription_groups_gate_consumption() {
    use bolide_proto::body::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
    let no_auto_groups = |c: &mut bolide_broker::config::BrokerConfig| {
        c.broker.auto_create_subscription_group = false
    };
    with_broker(no_auto_groups, move |addr, _| async move {
        let conn = connect(addr).await;
        conn.invoke(send_request("GatedTopic", 0, b"x", "t", "k"), TIMEOUT)
            .await
            .unwrap();
        let pull = pull_request("Gated", "GatedTopic", 0, 0, "*", 0);
        assert_eq!(
            conn.invoke(pull.clone(), TIMEOUT).await.unwrap().code,
            rsp::SUBSCRIPTION_GROUP_NOT_EXIST
        );
        let create = |enable: bool| {
            let c = SubscriptionGroupConfig {
                group_name: "Gated".into(),
                consume_enable: enable,
                ..Default::default()
            };
            RemotingCommand::request(req::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).with_body(c.encode())
        };
        assert_eq!(
            conn.invoke(create(false), TIMEOUT).await.unwrap().code,
            rsp::SUCCESS
        );
        assert_eq!(
            conn.invoke(pull.clone(), TIMEOUT).await.unwrap().code,
            rsp::NO_PERMISSION
        );
        assert_eq!(
            conn.invoke(create(true), TIMEOUT).await.unwrap().code,
            rsp::SUCCESS
        );
        assert_eq!(conn.invoke(pull, TIMEOUT).await.unwrap().code, rsp::SUCCESS);
        let all = conn
            .invoke(
                RemotingCommand::request(req::GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
                TIMEOUT,
            )
            .await
            .unwrap();
        let groups = SubscriptionGroupWrapper::decode(&all.body).unwrap();
        assert!(groups.subscription_group_table["Gated"].consume_enable);
        let delete =
            RemotingCommand::request(req::DELETE_SUBSCRIPTIONGROUP).with_ext("groupName", "Gated");
        assert_eq!(
            conn.invoke(delete, TIMEOUT).await.unwrap().code,
            rsp::SUCCESS
        );
        let pull = pull_request("Gated", "GatedTopic", 0, 0, "*", 0);
        assert_eq!(
            conn.invoke(pull, TIMEOUT).await.unwrap().code,
            rsp::SUBSCRIPTION_GROUP_NOT_EXIST
        );
    });
}

/// `bad.group` cannot have a retry topic (`.` is not allowed in topic
/// names): its send-back is refused with a clear error instead of storing
/// a copy nobody can deliver, and the delay level keeps delivering.
#[test]
fn send_back_with_an_invalid_group_is_refused_and_the_level_keeps_delivering() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            conn.invoke(send_request("BackTopic", 0, b"fail me", "t", "k"), TIMEOUT)
                .await
                .unwrap();
            let offset = first_offset(&conn, "BackTopic").await;
            for group in ["bad.group", "cpp.group", &"g".repeat(121), ""] {
                let rsp = conn
                    .invoke(send_back_as(group, offset, "1"), TIMEOUT)
                    .await
                    .unwrap();
                assert_eq!(rsp.code, rsp::SUBSCRIPTION_GROUP_NOT_EXIST, "{group:?}");
                let remark = rsp.remark.unwrap_or_default();
                assert!(remark.contains("group name"), "{group:?}: {remark}");
            }
            let mut bad_origin = send_back_as("RG", offset, "1");
            bad_origin.ext_fields.insert("originTopic", "bad topic");
            let rsp = conn.invoke(bad_origin, TIMEOUT).await.unwrap();
            assert_eq!(rsp.code, rsp::INVALID_PARAMETER, "{:?}", rsp.remark);
            // A valid send-back at the same level is delivered after it.
            let rsp = conn
                .invoke(send_back_as("GoodGroup", offset, "1"), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
            await_body(&conn, "%RETRY%GoodGroup", b"fail me").await;
        },
    );
}

/// Writes scheduled messages straight into the broker's store, as an older
/// broker (or a bug) could have left them: delay level 1, each bound for
/// one of `real_topics`, body `planted <i>`.
fn plant_scheduled(config: &bolide_broker::config::BrokerConfig, real_topics: Vec<String>) {
    use bolide_proto::delay::SCHEDULE_TOPIC;
    use bolide_proto::ids::QueueId;
    use bolide_proto::message::NewMessage;
    use bolide_store::io::dma::DmaStorage;
    use bolide_store::store::ShardStore;
    let config = config.clone();
    run(move || async move {
        let shards = config.shard_count() as u16;
        let shard = bolide_broker::router::shard_for(SCHEDULE_TOPIC, QueueId(0), shards);
        let (store, _) = ShardStore::open(
            DmaStorage::new(),
            config.store_config(),
            &config.store.data_dir,
            shard,
        )
        .await
        .unwrap();
        let host = "127.0.0.1:1".parse().unwrap();
        for (i, topic) in real_topics.into_iter().enumerate() {
            let msg = NewMessage {
                topic,
                queue_id: 0,
                flag: 0,
                sys_flag: 0,
                born_timestamp: 1,
                born_host: host,
                store_host: host,
                reconsume_times: 1,
                prepared_transaction_offset: 0,
                body: format!("planted {i}").into_bytes().into(),
                properties: String::new(),
            };
            let levels = config.delay_levels();
            let scheduled = bolide_broker::delay::to_schedule(msg, 1, &levels);
            store.append_batch(&[scheduled]).await.unwrap();
        }
        store.close().await.unwrap();
    });
}

/// Scheduled messages whose real topic refuses them (a bad name, left by an
/// older broker) do not block their level: one is moved to its group's
/// dead-letter topic, one (no DLQ can exist) is dropped, and the messages
/// behind them, planted and new, are delivered.
#[test]
fn undeliverable_scheduled_messages_are_moved_aside_and_the_level_moves_on() {
    let ns = start_namesrv();
    let data = tempfile::tempdir().unwrap();
    let config = broker_config(data.path(), ns.addr(), FlushModeName::Async);
    // 121 bytes: its %RETRY% topic is too long, its %DLQ% topic is not.
    let long_group = "g".repeat(121);
    plant_scheduled(
        &config,
        vec![
            "%RETRY%bad.group".into(),
            format!("%RETRY%{long_group}"),
            "PlantTopic".into(),
        ],
    );
    let broker = start_broker(config);
    let addr = broker.addr();
    run(move || async move {
        let conn = connect(addr).await;
        // Creates the topic, so that it can be pulled.
        let rsp = conn
            .invoke(send_request("PlantTopic", 0, b"now", "t", "k"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
        let seen = await_body(&conn, "PlantTopic", b"planted 2").await;
        assert!(!seen.contains(&b"planted 0".to_vec()), "{seen:?}");
        let dlq = drain(&conn, &format!("%DLQ%{long_group}"), 0, 0, "*").await;
        assert_eq!(
            dlq.into_iter().map(|(b, _)| b).collect::<Vec<_>>(),
            [b"planted 1".to_vec()]
        );
        // The level moved on: a message sent now at level 1 arrives too.
        let rsp = conn
            .invoke(send_delayed("PlantTopic", 1), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
        await_body(&conn, "PlantTopic", b"later").await;
    });
    broker.shutdown().unwrap();
    ns.shutdown();
}
