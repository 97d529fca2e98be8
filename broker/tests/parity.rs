//! Behaviours that follow Apache RocketMQ's (issue 11, "Behaviour
//! differences found"), end to end over loopback: a NameServer, a 2-shard
//! broker and wire-level clients. Bounded in time; only 127.0.0.1.

mod support;

use std::time::Duration;

use bolide_broker::config::BrokerConfig;
use bolide_proto::body::{
    ConsumerData, HeartbeatData, JsonBody, SubscriptionData, SubscriptionGroupConfig,
    TopicConfigSerializeWrapper, TopicRouteData,
};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::message::{encode_batch_item, records, PropertiesBuilder};
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::Connection;
use bytes::BytesMut;
use support::*;

/// A heartbeat of one client naming `groups`, each subscribed to `topics`.
fn heartbeat(client: &str, groups: &[&str], topics: &[&str]) -> RemotingCommand {
    let consumer = |group: &&str| ConsumerData {
        group_name: (*group).into(),
        subscription_data_set: topics
            .iter()
            .map(|topic| SubscriptionData {
                topic: (*topic).into(),
                sub_string: "*".into(),
                sub_version: 1,
                ..SubscriptionData::default()
            })
            .collect(),
        ..ConsumerData::default()
    };
    let hb = HeartbeatData {
        client_id: client.into(),
        consumer_data_set: groups.iter().map(consumer).collect(),
        ..HeartbeatData::default()
    };
    RemotingCommand::request(req::HEART_BEAT).with_body(hb.encode())
}

async fn ok(conn: &Connection, request: RemotingCommand) -> RemotingCommand {
    let rsp = conn.invoke(request, TIMEOUT).await.unwrap();
    assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
    rsp
}

/// The broker's topic configs (GET_ALL_TOPIC_CONFIG).
async fn topic_configs(conn: &Connection) -> TopicConfigSerializeWrapper {
    let all = RemotingCommand::request(req::GET_ALL_TOPIC_CONFIG);
    TopicConfigSerializeWrapper::decode(&ok(conn, all).await.body).unwrap()
}

/// The NameServer's route of `topic`, polled until it has one (at most
/// ~5 s: far below the 30 s after which clients ask for routes again).
async fn await_route(ns: &Connection, topic: &str) -> TopicRouteData {
    let request = RemotingCommand::request(req::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic);
    for _ in 0..500 {
        let rsp = ns.invoke(request.clone(), TIMEOUT).await.unwrap();
        if rsp.code == rsp::SUCCESS {
            return TopicRouteData::decode(&rsp.body).unwrap();
        }
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    panic!("the NameServer never routed {topic}");
}

fn create_group(group: &str) -> RemotingCommand {
    let config = SubscriptionGroupConfig {
        group_name: group.into(),
        ..SubscriptionGroupConfig::default()
    };
    RemotingCommand::request(req::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).with_body(config.encode())
}

#[test]
fn a_heartbeat_creates_and_registers_its_groups_retry_topics() {
    with_broker(
        |_| {},
        move |addr, ns_addr| async move {
            let conn = connect(addr).await;
            let ns = connect(ns_addr).await;
            ok(&conn, heartbeat("c1", &["FreshGroup", "bad.group"], &["T"])).await;
            let route = await_route(&ns, "%RETRY%FreshGroup").await;
            let queues = &route.queue_datas[0];
            assert_eq!(queues.broker_name, "broker-a");
            assert_eq!((queues.read_queue_nums, queues.write_queue_nums), (1, 1));
            assert_eq!(queues.perm, 6, "read-write");
            // `bad.group` makes no valid topic name: it gets no retry topic,
            // and its heartbeat is still accepted (it consumes, cannot retry).
            let topics = topic_configs(&conn).await.topic_config_table;
            assert!(topics.contains_key("%RETRY%FreshGroup"));
            assert!(
                !topics.keys().any(|t| t.contains("bad.group")),
                "{topics:?}"
            );
        },
    );
}

/// The retry topic gets the group's `retryQueueNums` queues, as RocketMQ's
/// heartbeat creates it.
#[test]
fn a_retry_topic_gets_its_groups_retry_queue_count() {
    with_broker(
        |_| {},
        move |addr, ns_addr| async move {
            let conn = connect(addr).await;
            let config = SubscriptionGroupConfig {
                group_name: "ThreeRetryQueues".into(),
                retry_queue_nums: 3,
                ..SubscriptionGroupConfig::default()
            };
            let make = RemotingCommand::request(req::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                .with_body(config.encode());
            ok(&conn, make).await;
            ok(&conn, heartbeat("c1", &["ThreeRetryQueues"], &["T"])).await;
            let ns = connect(ns_addr).await;
            let route = await_route(&ns, "%RETRY%ThreeRetryQueues").await;
            let queues = &route.queue_datas[0];
            assert_eq!((queues.read_queue_nums, queues.write_queue_nums), (3, 3));
        },
    );
}

/// Like RocketMQ, a group with no settings on the broker (auto-creation
/// off, not made by an admin) gets no retry topic; once an admin makes the
/// group, its next heartbeat creates and registers it.
#[test]
fn a_group_without_settings_gets_its_retry_topic_once_it_is_made() {
    let no_auto_groups = |c: &mut BrokerConfig| c.broker.auto_create_subscription_group = false;
    with_broker(no_auto_groups, move |addr, ns_addr| async move {
        let conn = connect(addr).await;
        ok(&conn, heartbeat("c1", &["Unmade"], &["T"])).await;
        let topics = topic_configs(&conn).await.topic_config_table;
        assert!(!topics.contains_key("%RETRY%Unmade"), "{topics:?}");
        ok(&conn, create_group("Unmade")).await;
        ok(&conn, heartbeat("c1", &["Unmade"], &["T"])).await;
        let ns = connect(ns_addr).await;
        let route = await_route(&ns, "%RETRY%Unmade").await;
        assert_eq!(route.queue_datas[0].write_queue_nums, 1);
    });
}

/// A pull at `offset` of `RangeTopic`'s queue; long-polls for `hold_ms`.
fn pull_at(queue: i32, offset: i64, hold_ms: i64) -> RemotingCommand {
    pull_request("G", "RangeTopic", queue, offset, "*", hold_ms)
}

/// (code, nextBeginOffset, remark) of a pull answered within 2 s.
async fn pull_answer(conn: &Connection, request: RemotingCommand) -> (i32, i64, String) {
    let rsp = conn.invoke(request, Duration::from_secs(2)).await.unwrap();
    let next = ext_i64(&rsp, "nextBeginOffset");
    (rsp.code, next, rsp.remark.unwrap_or_default())
}

#[test]
fn pulls_outside_a_queue_answer_as_rocketmq_does() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            for i in 0..3 {
                let body = format!("m{i}");
                ok(
                    &conn,
                    send_request("RangeTopic", 0, body.as_bytes(), "t", "k"),
                )
                .await;
            }
            // (queue, request offset, code, nextBeginOffset, store status)
            let cases = [
                (0, -1, rsp::PULL_OFFSET_MOVED, 0, "OFFSET_TOO_SMALL"),
                (0, i64::MIN, rsp::PULL_OFFSET_MOVED, 0, "OFFSET_TOO_SMALL"),
                (0, 0, rsp::SUCCESS, 3, "FOUND"),
                (0, 3, rsp::PULL_NOT_FOUND, 3, "OFFSET_OVERFLOW_ONE"),
                (0, 10, rsp::PULL_OFFSET_MOVED, 3, "OFFSET_OVERFLOW_BADLY"),
                // Queue 1 of the topic has no messages.
                (1, 0, rsp::PULL_NOT_FOUND, 0, "NO_"),
                (1, -5, rsp::PULL_OFFSET_MOVED, 0, "NO_MESSAGE_IN_QUEUE"),
                (1, 5, rsp::PULL_OFFSET_MOVED, 0, "NO_"),
            ];
            for (queue, offset, code, next, status) in cases {
                let (got, got_next, remark) = pull_answer(&conn, pull_at(queue, offset, 0)).await;
                let case = format!("queue {queue} at {offset}: {remark}");
                assert_eq!((got, got_next), (code, next), "{case}");
                assert!(remark.starts_with(status), "{case}");
            }
            // A moved offset is answered at once, never held by long polling.
            for offset in [-1, 10] {
                let (code, _, _) = pull_answer(&conn, pull_at(0, offset, 20_000)).await;
                assert_eq!(code, rsp::PULL_OFFSET_MOVED, "at {offset}");
            }
        },
    );
}

/// A negative offset is never read from: the pull from the offset the
/// broker suggests gets every message, once.
#[test]
fn a_consumer_following_the_moved_offset_reads_the_queue_from_its_start() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            ok(&conn, send_request("RangeTopic", 2, b"first", "t", "k")).await;
            let (code, next, _) = pull_answer(&conn, pull_at(2, -100, 0)).await;
            assert_eq!((code, next), (rsp::PULL_OFFSET_MOVED, 0));
            let rsp = ok(&conn, pull_at(2, next, 0)).await;
            let bodies: Vec<Vec<u8>> = records(&rsp.body)
                .map(|r| r.unwrap().body().to_vec())
                .collect();
            assert_eq!(bodies, [b"first".to_vec()]);
        },
    );
}

/// A send of a new topic whose producer asks for `queues` queues.
fn send_asking(topic: &str, queues: i32) -> RemotingCommand {
    let mut cmd = send_request(topic, 0, b"x", "t", "k");
    cmd.ext_fields.insert("d", queues.to_string());
    cmd
}

#[test]
fn auto_created_topics_get_the_smaller_of_the_producers_and_the_brokers_queue_count() {
    with_broker(
        |_| {},
        move |addr, ns_addr| async move {
            let conn = connect(addr).await;
            // The broker's default_topic_queue_nums is 8.
            for (topic, asked, got) in [("AskFour", 4, 4), ("AskSixteen", 16, 8), ("AskOne", 1, 1)]
            {
                ok(&conn, send_asking(topic, asked)).await;
                let topics = topic_configs(&conn).await.topic_config_table;
                let config = &topics[topic];
                let queues = (config.read_queue_nums, config.write_queue_nums);
                assert_eq!(queues, (got, got), "{topic}");
            }
            let ns = connect(ns_addr).await;
            let route = await_route(&ns, "AskSixteen").await;
            assert_eq!(route.queue_datas[0].write_queue_nums, 8);
        },
    );
    let three = |c: &mut BrokerConfig| c.broker.default_topic_queue_nums = 3;
    with_broker(three, move |addr, _| async move {
        let conn = connect(addr).await;
        ok(&conn, send_asking("AskFour", 4)).await;
        let topics = topic_configs(&conn).await.topic_config_table;
        assert_eq!(topics["AskFour"].write_queue_nums, 3);
    });
}

/// A SEND_BATCH_MESSAGE of `bodies`, each with `inner` properties, the
/// batch with `outer` ones.
fn batch(topic: &str, inner: &[(&str, &str)], outer: &[(&str, &str)]) -> RemotingCommand {
    let props = |pairs: &[(&str, &str)]| {
        let mut builder = PropertiesBuilder::new();
        for (k, v) in pairs {
            builder.set(k, v).unwrap();
        }
        builder.build()
    };
    let mut body = BytesMut::new();
    for i in 0..3 {
        encode_batch_item(0, format!("b{i}").as_bytes(), &props(inner), &mut body);
    }
    let mut cmd = send_request(topic, 0, b"", "t", "k");
    cmd.code = req::SEND_BATCH_MESSAGE;
    cmd.ext_fields.insert("i", props(outer));
    cmd.ext_fields.insert("m", "true");
    cmd.with_body(body.freeze())
}

#[test]
fn batches_with_a_delay_level_are_refused() {
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            let refused = [
                batch("BatchTopic", &[("DELAY", "2")], &[]),
                batch("BatchTopic", &[], &[("DELAY", "3")]),
                batch("%RETRY%G", &[], &[]),
            ];
            for request in refused {
                let rsp = conn.invoke(request, TIMEOUT).await.unwrap();
                assert_eq!(rsp.code, rsp::MESSAGE_ILLEGAL, "{:?}", rsp.remark);
            }
            let rsp = conn
                .invoke(batch("BatchTopic", &[("DELAY", "1")], &[]), TIMEOUT)
                .await
                .unwrap();
            let remark = rsp.remark.unwrap_or_default();
            assert!(
                remark.contains("DELAY") && remark.contains("message 0"),
                "{remark}"
            );
            // Nothing of a refused batch is stored, not even its topic.
            let topics = topic_configs(&conn).await.topic_config_table;
            assert!(!topics.contains_key("BatchTopic"), "{topics:?}");
            // Level 0 is no delay; a batch without one is stored whole.
            let rsp = ok(&conn, batch("BatchTopic", &[("DELAY", "0")], &[])).await;
            assert_eq!(rsp.ext_fields.get("msgId").unwrap().split(',').count(), 3);
            ok(&conn, batch("BatchTopic", &[("KEYS", "k")], &[])).await;
            let rsp = ok(&conn, pull_request("G", "BatchTopic", 0, 0, "*", 0)).await;
            assert_eq!(records(&rsp.body).count(), 6);
        },
    );
}

/// `[broker]` limits on heartbeats and groups, set low.
fn low_limits(c: &mut BrokerConfig) {
    c.broker.max_groups_per_heartbeat = 2;
    c.broker.max_subscriptions_per_heartbeat = 3;
    c.broker.max_subscription_groups = 4;
}

#[test]
fn heartbeat_and_group_limits_follow_the_config() {
    with_broker(low_limits, move |addr, _| async move {
        let conn = connect(addr).await;
        let refused = |request, key: &'static str, code| {
            let conn = conn.clone();
            async move {
                let rsp = conn.invoke(request, TIMEOUT).await.unwrap();
                assert_eq!(rsp.code, code, "{:?}", rsp.remark);
                let remark = rsp.remark.unwrap_or_default();
                assert!(remark.contains(key), "{remark}");
            }
        };
        let three_groups = heartbeat("c1", &["A", "B", "C"], &["T"]);
        refused(
            three_groups,
            "broker.max_groups_per_heartbeat",
            rsp::INVALID_PARAMETER,
        )
        .await;
        let four_subscriptions = heartbeat("c1", &["A", "B"], &["T", "U"]);
        let key = "broker.max_subscriptions_per_heartbeat";
        refused(four_subscriptions, key, rsp::INVALID_PARAMETER).await;
        ok(&conn, heartbeat("c1", &["A", "B"], &["T"])).await;
        ok(&conn, heartbeat("c2", &["C", "D"], &["T"])).await;
        let fifth = heartbeat("c3", &["E"], &["T"]);
        let key = "broker.max_subscription_groups";
        refused(fifth, key, rsp::SUBSCRIPTION_GROUP_NOT_EXIST).await;
        let pull = pull_request("E", "T", 0, 0, "*", 0);
        refused(pull, key, rsp::SUBSCRIPTION_GROUP_NOT_EXIST).await;
        ok(&conn, heartbeat("c3", &["A"], &["T"])).await;
    });
}
