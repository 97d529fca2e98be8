//! The admin codes RocketMQ's Java tools and dashboard read, over loopback
//! sockets: GET_BROKER_RUNTIME_INFO (28), GET_BROKER_CONFIG (26),
//! GET_TOPIC_STATS_INFO (202), QUERY_TOPIC_CONSUME_BY_WHO (300).

mod support;

use std::collections::BTreeMap;

use bolide_proto::body::{
    parse_properties, ConsumerData, DataVersion, GroupList, HeartbeatData, JsonBody, KvTable,
    SubscriptionData, TopicStatsTable,
};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::header::offset::UpdateConsumerOffsetRequestHeader;
use bolide_proto::RemotingCommand;
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
