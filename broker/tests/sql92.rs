//! SQL92 property filters end to end over loopback (a NameServer, a
//! 2-shard broker, wire-level clients): pulls return exactly the matching
//! messages, from the heartbeat's subscription and from the pull's own,
//! long polls wake for a match, invalid expressions get RocketMQ's codes,
//! and `enable_property_filter = false` refuses them. Bounded in time.

mod support;

use bolide_proto::body::{
    CheckClientRequestBody, ConsumerData, HeartbeatData, JsonBody, SubscriptionData,
};
use bolide_proto::codes::{pull_sys_flag, request_code as req, response_code as rsp, version};
use bolide_proto::header::pull::PullMessageRequestHeader;
use bolide_proto::header::send::SendMessageRequestHeader;
use bolide_proto::message::{records, PropertiesBuilder};
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::Connection;
use support::*;

const TOPIC: &str = "SqlTopic";
const GROUP: &str = "SqlGroup";

/// Message `i`: TAGS TagA/TagB alternating, `a=i`, `color` red for even
/// `i`, blue for odd.
fn send(i: u32) -> RemotingCommand {
    let mut props = PropertiesBuilder::new();
    let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
    let color = if i % 2 == 0 { "red" } else { "blue" };
    props.set("TAGS", tag).unwrap();
    props.set("a", &i.to_string()).unwrap();
    props.set("color", color).unwrap();
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 1,
        queue_id: 0,
        born_timestamp: 1,
        properties: Some(props.build()),
        ..SendMessageRequestHeader::default()
    };
    let mut cmd = RemotingCommand::request(req::SEND_MESSAGE_V2).with_body(vec![b'm']);
    header.to_v2(&mut cmd.ext_fields);
    cmd
}

fn subscription(expr: &str, expression_type: &str, sub_version: i64) -> SubscriptionData {
    SubscriptionData {
        topic: TOPIC.into(),
        sub_string: expr.into(),
        expression_type: expression_type.into(),
        sub_version,
        ..SubscriptionData::default()
    }
}

fn heartbeat(expr: &str, sub_version: i64) -> RemotingCommand {
    let hb = HeartbeatData {
        client_id: "sql-client".into(),
        consumer_data_set: vec![ConsumerData {
            group_name: GROUP.into(),
            subscription_data_set: vec![subscription(expr, "SQL92", sub_version)],
            ..ConsumerData::default()
        }],
        ..HeartbeatData::default()
    };
    RemotingCommand::request(req::HEART_BEAT).with_body(hb.encode())
}

/// A pull from queue 0 at `offset`: with `expr`, the pull's own SQL92
/// subscription (FLAG_SUBSCRIPTION), else the heartbeat's.
fn pull(offset: i64, expr: Option<&str>, sub_version: i64, suspend_ms: i64) -> RemotingCommand {
    let mut sys_flag = 0;
    if expr.is_some() {
        sys_flag |= pull_sys_flag::SUBSCRIPTION;
    }
    if suspend_ms > 0 {
        sys_flag |= pull_sys_flag::SUSPEND;
    }
    let header = PullMessageRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag,
        suspend_timeout_millis: suspend_ms,
        subscription: expr.map(str::to_owned),
        expression_type: expr.map(|_| "SQL92".to_owned()),
        sub_version,
        ..PullMessageRequestHeader::default()
    };
    RemotingCommand::request(req::PULL_MESSAGE).with_header(&header)
}

fn check_client(expr: &str, expression_type: &str) -> RemotingCommand {
    let body = CheckClientRequestBody {
        client_id: "sql-client".into(),
        group: GROUP.into(),
        namespace: String::new(),
        subscription_data: Some(subscription(expr, expression_type, 1)),
    };
    RemotingCommand::request(req::CHECK_CLIENT_CONFIG).with_body(body.encode())
}

async fn call(conn: &Connection, request: RemotingCommand) -> RemotingCommand {
    conn.invoke(request, TIMEOUT).await.unwrap()
}

async fn ok(conn: &Connection, request: RemotingCommand) -> RemotingCommand {
    let answer = call(conn, request).await;
    assert_eq!(answer.code, rsp::SUCCESS, "{:?}", answer.remark);
    answer
}

/// Creates the topic (one queue) and sends messages 0..count.
async fn setup(conn: &Connection, count: u32) {
    ok(conn, create_topic_request(TOPIC, 1)).await;
    for i in 0..count {
        ok(conn, send(i)).await;
    }
}

/// The `a` property of each pulled message, in order.
fn pulled(answer: &RemotingCommand) -> Vec<u32> {
    assert_eq!(answer.code, rsp::SUCCESS, "{:?}", answer.remark);
    records(&answer.body)
        .map(|r| r.unwrap().properties().get("a").unwrap().parse().unwrap())
        .collect()
}

fn enabled(c: &mut bolide_broker::config::BrokerConfig) {
    c.broker.enable_property_filter = true;
}

#[test]
fn sql92_pulls_return_exactly_the_matching_messages() {
    with_broker(enabled, |addr, _| async move {
        let conn = connect(addr).await;
        setup(&conn, 20).await;
        let hb = ok(&conn, heartbeat("a BETWEEN 5 AND 14 AND color = 'red'", 10)).await;
        assert!(
            hb.version >= version::V4_1_0_SNAPSHOT,
            "Java clients pull SQL92 from 232 on"
        );
        let answer = call(&conn, pull(0, None, 10, 0)).await;
        assert_eq!(pulled(&answer), [6, 8, 10, 12, 14]);
        assert_eq!(ext_i64(&answer, "nextBeginOffset"), 20, "misses are passed");
        let own = Some("TAGS = 'TagB' AND (a > 15 OR a IS NULL)");
        let answer = call(&conn, pull(0, own, 10, 0)).await;
        assert_eq!(pulled(&answer), [17, 19]);
        // `color` is not a number: Java's comparison throws, nothing matches.
        let answer = call(&conn, pull(3, Some("color > 1"), 10, 0)).await;
        assert_eq!(
            answer.code,
            rsp::PULL_RETRY_IMMEDIATELY,
            "{:?}",
            answer.remark
        );
        assert_eq!(ext_i64(&answer, "nextBeginOffset"), 20);
        // A held pull answers with the match that arrives: held longer than
        // the call's timeout, it could not answer in time otherwise.
        let held = pull(20, None, 10, 30_000);
        let waiting = glommio::spawn_local({
            let conn = conn.clone();
            async move { call(&conn, held).await }
        });
        ok(&conn, send(12)).await;
        let answer = waiting.await;
        assert_eq!(pulled(&answer), [12]);
        assert_eq!(ext_i64(&answer, "nextBeginOffset"), 21);
    });
}

#[test]
fn invalid_expressions_get_rocketmqs_codes() {
    with_broker(enabled, |addr, _| async move {
        let conn = connect(addr).await;
        setup(&conn, 2).await;
        // RocketMQ's heartbeat succeeds; its pulls find no filter data.
        ok(&conn, heartbeat("a >", 10)).await;
        let answer = call(&conn, pull(0, None, 10, 0)).await;
        assert_eq!(
            answer.code,
            rsp::FILTER_DATA_NOT_EXIST,
            "{:?}",
            answer.remark
        );
        let remark = answer.remark.unwrap_or_default();
        assert!(remark.contains("column 4"), "{remark}");
        let answer = call(&conn, pull(0, Some("a = = 1"), 10, 0)).await;
        assert_eq!(
            answer.code,
            rsp::SUBSCRIPTION_PARSE_FAILED,
            "{:?}",
            answer.remark
        );
        ok(&conn, heartbeat("a > 0", 10)).await;
        assert_eq!(pulled(&call(&conn, pull(0, None, 10, 0)).await), [1]);
        let answer = call(&conn, pull(0, None, 11, 0)).await;
        assert_eq!(
            answer.code,
            rsp::FILTER_DATA_NOT_LATEST,
            "{:?}",
            answer.remark
        );
        let answer = call(&conn, check_client("a BETWEEN 2 AND 1", "SQL92")).await;
        assert_eq!(
            answer.code,
            rsp::SUBSCRIPTION_PARSE_FAILED,
            "{:?}",
            answer.remark
        );
        ok(&conn, check_client("a BETWEEN 1 AND 2", "SQL92")).await;
        ok(&conn, check_client("TagA || TagB", "TAG")).await;
    });
}

#[test]
fn a_broker_without_property_filters_refuses_sql92() {
    with_broker(
        |_| {},
        |addr, _| async move {
            let conn = connect(addr).await;
            setup(&conn, 2).await;
            ok(&conn, heartbeat("a > 0", 10)).await;
            for request in [pull(0, None, 10, 0), pull(0, Some("a > 0"), 10, 0)] {
                let answer = call(&conn, request).await;
                assert_eq!(answer.code, rsp::SYSTEM_ERROR, "{:?}", answer.remark);
                let remark = answer.remark.unwrap_or_default();
                assert!(remark.contains("enable_property_filter"), "{remark}");
            }
            let answer = call(&conn, check_client("a > 0", "SQL92")).await;
            assert_eq!(answer.code, rsp::SYSTEM_ERROR, "{:?}", answer.remark);
            ok(&conn, check_client("*", "TAG")).await;
            let tags = pull_request(GROUP, TOPIC, 0, 0, "TagB", 0);
            assert!(
                !ok(&conn, tags).await.body.is_empty(),
                "tag pulls still work"
            );
        },
    );
}
