//! Golden vectors: the exact bytes of each body, as the Java tools parse them.

use super::*;

fn mq(q: i32) -> MessageQueue {
    MessageQueue {
        broker_name: "broker-a".into(),
        queue_id: q,
        topic: "T".into(),
    }
}

const MQ0: &str = r#""{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"T\"}""#;
const MQ1: &str = r#""{\"brokerName\":\"broker-a\",\"queueId\":1,\"topic\":\"T\"}""#;

#[test]
fn consume_stats_golden() {
    let stats = ConsumeStats {
        consume_tps: 0.0,
        offset_table: vec![
            (
                mq(0),
                OffsetWrapper {
                    broker_offset: 10,
                    consumer_offset: 7,
                    last_timestamp: 1_700_000_000_000,
                    pull_offset: 7,
                },
            ),
            (mq(1), OffsetWrapper::default()),
        ],
    };
    let got = String::from_utf8(stats.encode()).unwrap();
    let want = format!(
        "{{\"consumeTps\":0.0,\"offsetTable\":{{{MQ0}:{},{MQ1}:{}}}}}",
        r#"{"brokerOffset":10,"consumerOffset":7,"lastTimestamp":1700000000000,"pullOffset":7}"#,
        r#"{"brokerOffset":0,"consumerOffset":0,"lastTimestamp":0,"pullOffset":0}"#,
    );
    assert_eq!(got, want);
    assert_eq!(ConsumeStats::decode(got.as_bytes()).unwrap(), stats);
    assert_eq!(
        ConsumeStats::default().encode(),
        br#"{"consumeTps":0.0,"offsetTable":{}}"#
    );
}

#[test]
fn connection_lists_golden() {
    let conn = Connection {
        client_addr: "127.0.0.1:50000".into(),
        client_id: "127.0.0.1@42".into(),
        language: "JAVA".into(),
        version: 479,
    };
    let producers = ProducerConnection {
        connection_set: vec![conn.clone()],
    };
    let want = r#"{"connectionSet":[{"clientAddr":"127.0.0.1:50000","clientId":"127.0.0.1@42","language":"JAVA","version":479}]}"#;
    assert_eq!(String::from_utf8(producers.encode()).unwrap(), want);
    assert_eq!(
        ProducerConnection::decode(want.as_bytes()).unwrap(),
        producers
    );

    let sub = SubscriptionData {
        sub_string: "*".into(),
        sub_version: 1,
        topic: "T".into(),
        ..SubscriptionData::default()
    };
    let consumers = ConsumerConnection {
        connection_set: vec![conn],
        consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
        consume_type: "CONSUME_PASSIVELY".into(),
        message_model: "CLUSTERING".into(),
        subscription_table: [("T".to_owned(), sub)].into(),
    };
    let want = concat!(
        r#"{"connectionSet":[{"clientAddr":"127.0.0.1:50000","clientId":"127.0.0.1@42","language":"JAVA","version":479}],"#,
        r#""consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","#,
        r#""subscriptionTable":{"T":{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":"T"}}}"#,
    );
    assert_eq!(String::from_utf8(consumers.encode()).unwrap(), want);
    assert_eq!(
        ConsumerConnection::decode(want.as_bytes()).unwrap(),
        consumers
    );
}

#[test]
fn reset_offset_body_golden() {
    let body = ResetOffsetBody {
        offset_table: vec![(mq(0), 3), (mq(1), 0)],
    };
    let got = String::from_utf8(body.encode()).unwrap();
    assert_eq!(got, format!("{{\"offsetTable\":{{{MQ0}:3,{MQ1}:0}}}}"));
    assert_eq!(ResetOffsetBody::decode(got.as_bytes()).unwrap(), body);
    assert!(ResetOffsetBody::decode(br#"{"offsetTable":{"not a queue":1}}"#).is_err());
    let for_c = String::from_utf8(body.encode_for_c()).unwrap();
    let want = concat!(
        r#"{"offsetTable":[{"brokerName":"broker-a","offset":3,"queueId":0,"topic":"T"},"#,
        r#"{"brokerName":"broker-a","offset":0,"queueId":1,"topic":"T"}]}"#,
    );
    assert_eq!(for_c, want);
}

#[test]
fn consume_time_span_golden() {
    let body = QueryConsumeTimeSpanBody {
        consume_time_span_set: vec![QueueTimeSpan::new(
            mq(0),
            1_700_000_000_000,
            1_700_000_000_500,
            1_700_000_000_100,
            250,
        )],
    };
    let want = concat!(
        r#"{"consumeTimeSpanSet":[{"consumeTimeStamp":1700000000100,"consumeTimeStampStr":"2023-11-14#22:13:20:100","#,
        r#""delayTime":250,"maxTimeStamp":1700000000500,"maxTimeStampStr":"2023-11-14#22:13:20:500","#,
        r#""messageQueue":{"brokerName":"broker-a","queueId":0,"topic":"T"},"#,
        r#""minTimeStamp":1700000000000,"minTimeStampStr":"2023-11-14#22:13:20:000"}]}"#,
    );
    assert_eq!(String::from_utf8(body.encode()).unwrap(), want);
    assert_eq!(
        QueryConsumeTimeSpanBody::decode(want.as_bytes()).unwrap(),
        body
    );
}

#[test]
fn java_time_text_table() {
    // (epoch ms, yyyy-MM-dd#HH:mm:ss:SSS in UTC)
    let cases = [
        (0, "1970-01-01#00:00:00:000"),
        (951_782_400_000, "2000-02-29#00:00:00:000"),
        (1_700_000_000_123, "2023-11-14#22:13:20:123"),
        (-1, "1969-12-31#23:59:59:999"),
    ];
    for (ms, want) in cases {
        assert_eq!(java_time_text(ms), want, "{ms}");
    }
}
