//! The message transformations of a transaction, on encoded records.

use super::*;
use bolide_proto::ids::{PhysicalOffset, QueueOffset};
use bolide_proto::message::PropertiesBuilder;

fn host() -> SocketAddr {
    "127.0.0.1:10911".parse().unwrap()
}

fn producer_message(props: &[(&str, &str)]) -> NewMessage {
    let mut b = PropertiesBuilder::new();
    for (k, v) in props {
        b.set(k, v).unwrap();
    }
    NewMessage {
        topic: "Orders".into(),
        queue_id: 3,
        flag: 7,
        sys_flag: sysflag::TRANSACTION_PREPARED,
        born_timestamp: 1_000,
        born_host: "127.0.0.1:5555".parse().unwrap(),
        store_host: host(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::from_static(b"pay 10"),
        properties: b.build(),
    }
}

/// Encodes `msg` as the store would at (queue offset, physical offset).
fn stored(msg: &NewMessage, queue_offset: u64, physical: u64) -> Vec<u8> {
    let stamp = AppendStamp {
        queue_offset: QueueOffset(queue_offset),
        physical_offset: GlobalOffset::new(ShardId(1), PhysicalOffset(physical)).unwrap(),
        store_timestamp: 2_000,
    };
    let mut out = BytesMut::new();
    msg.encode(stamp, &mut out).unwrap();
    out.to_vec()
}

fn sent() -> NewMessage {
    producer_message(&[
        (property::TRAN_MSG, "true"),
        (property::PRODUCER_GROUP, "PG"),
        (property::UNIQ_KEY, "U1"),
        (property::TAGS, "t"),
        (CHECK_TIMES, "9"),
    ])
}

#[test]
fn half_messages_are_recognised_as_rocketmq_does() {
    let p = |s: &'static str| Properties(s);
    // (properties, sysFlag, reconsume times, half?)
    let cases = [
        (p("TRAN_MSG\u{1}true\u{2}"), 0, 0, true),
        (p("TRAN_MSG\u{1}TRUE\u{2}"), 0, 0, true),
        (p("TRAN_MSG\u{1}false\u{2}"), 0, 0, false),
        (p(""), sysflag::TRANSACTION_PREPARED, 0, true),
        (p(""), sysflag::TRANSACTION_COMMIT, 0, false),
        (p(""), 0, 0, false),
        (p("TRAN_MSG\u{1}true\u{2}DELAY\u{1}3\u{2}"), 0, 1, false),
        (p("TRAN_MSG\u{1}true\u{2}DELAY\u{1}3\u{2}"), 0, 0, true),
    ];
    for (props, flag, reconsume, want) in cases {
        assert_eq!(is_half(props, flag, reconsume), want, "{props:?} {flag}");
    }
}

#[test]
fn a_half_message_hides_its_destination_and_comes_back_on_commit() {
    let half = to_half(sent(), 5);
    assert_eq!((half.topic.as_str(), half.queue_id), (HALF_TOPIC, 5));
    assert_eq!(half.sys_flag & sysflag::TRANSACTION_MASK, 0);
    let props = Properties(&half.properties);
    assert_eq!(props.get(property::REAL_TOPIC), Some("Orders"));
    assert_eq!(props.get(property::REAL_QID), Some("3"));
    assert_eq!(props.get(property::TRANSACTION_ID), Some("U1"));
    assert_eq!(props.get(CHECK_TIMES), None, "a producer cannot set it");

    let bytes = stored(&half, 4, 640);
    let record = RecordView::parse(&bytes).unwrap();
    let real = committed(&record).unwrap();
    assert_eq!((real.topic.as_str(), real.queue_id), ("Orders", 3));
    assert_eq!(
        real.sys_flag & sysflag::TRANSACTION_MASK,
        sysflag::TRANSACTION_COMMIT
    );
    assert_eq!(
        real.prepared_transaction_offset,
        record.physical_offset().0 as i64
    );
    assert_eq!((real.flag, real.born_timestamp), (7, 1_000));
    assert_eq!(&real.body[..], b"pay 10");
    let props = Properties(&real.properties);
    assert_eq!(
        props.get(property::UNIQ_KEY),
        Some("U1"),
        "the producer's id"
    );
    assert_eq!(props.get(property::TAGS), Some("t"));
    for gone in [property::REAL_TOPIC, property::REAL_QID, property::TRAN_MSG] {
        assert_eq!(props.get(gone), None, "{gone}");
    }
}

#[test]
fn copies_carry_their_origin_and_check_count() {
    let half = to_half(sent(), 0);
    let bytes = stored(&half, 4, 640);
    let record = RecordView::parse(&bytes).unwrap();
    let (origin, p) = pending_of(&record, 4);
    assert_eq!((origin, p.check_times, p.last_check_ms), (4, 0, None));
    assert_eq!((p.group.as_str(), p.born_ms), ("PG", 1_000));

    let copy = check_copy(&record, 4, 2);
    let copy_bytes = stored(&copy, 9, 900);
    let copy_record = RecordView::parse(&copy_bytes).unwrap();
    let (origin, p) = pending_of(&copy_record, 9);
    assert_eq!((origin, p.latest_offset, p.check_times), (4, 9, 2));
    assert_eq!(p.last_check_ms, Some(2_000));
    let real = committed(&copy_record).unwrap();
    let props = Properties(&real.properties);
    assert_eq!(props.get(PREPARED_QUEUE_OFFSET), None);
    assert_eq!(
        props.get(CHECK_TIMES),
        Some("2"),
        "kept, as RocketMQ keeps it"
    );
}

#[test]
fn a_check_request_shows_the_real_destination_with_string_fields() {
    let half = to_half(sent(), 0);
    let bytes = stored(&half, 4, 640);
    let record = RecordView::parse(&bytes).unwrap();
    let cmd = check_request(&record).unwrap();
    assert_eq!(cmd.code, req::CHECK_TRANSACTION_STATE);
    assert!(cmd.is_oneway());
    let ext = &cmd.ext_fields;
    assert_eq!(ext.get("tranStateTableOffset"), Some("4"));
    let global = record.physical_offset().0.to_string();
    assert_eq!(ext.get("commitLogOffset"), Some(global.as_str()));
    assert_eq!(ext.get("msgId"), Some("U1"));
    assert_eq!(ext.get("transactionId"), Some("U1"));
    let body = RecordView::parse(&cmd.body).unwrap();
    assert_eq!((body.topic(), body.queue_id()), ("Orders", 3));
    assert_eq!(body.queue_offset().0, 4);
    assert_eq!(body.properties().get(property::PRODUCER_GROUP), Some("PG"));
}

#[test]
fn op_entries_and_discards_look_like_rocketmq_ones() {
    let op = op_message(ops::op_body(4, 9), 1, host(), 5);
    assert_eq!((op.topic.as_str(), op.queue_id), (OP_TOPIC, 1));
    assert_eq!(
        Properties(&op.properties).get(property::TAGS),
        Some(REMOVE_TAG)
    );
    assert_eq!(&op.body[..], b"4,9,");
    let bytes = stored(&to_half(sent(), 0), 4, 640);
    let aside = to_check_max(&RecordView::parse(&bytes).unwrap());
    assert_eq!((aside.topic.as_str(), aside.queue_id), (CHECK_MAX_TOPIC, 0));
}

#[test]
fn every_shard_has_its_own_home_queue() {
    for shards in 1..=8u16 {
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..shards {
            for topic in [HALF_TOPIC, OP_TOPIC] {
                let q = home_queue(topic, ShardId(k), shards);
                let owner = crate::router::shard_for(topic, QueueId(q), shards);
                assert_eq!(owner, ShardId(k));
            }
            seen.insert(home_queue(HALF_TOPIC, ShardId(k), shards));
        }
        assert_eq!(seen.len(), shards as usize);
    }
    assert_eq!(
        home_queue(HALF_TOPIC, ShardId(0), 1),
        0,
        "RocketMQ's queue 0"
    );
}

#[test]
fn the_send_path_books_what_recovery_reads_back() {
    let mut msg = sent();
    let mut props = PropertiesBuilder::from_properties(Properties(&msg.properties));
    props.set(CHECK_IMMUNITY, "30").unwrap();
    msg.properties = props.build();
    let half = to_half(msg, 0);
    let mut booked = half::pending_of_sent(&half);
    let bytes = stored(&half, 4, 640);
    let record = RecordView::parse(&bytes).unwrap();
    booked.latest_offset = 4;
    booked.latest_physical = record.physical_offset().0;
    assert_eq!(booked.immunity_ms, Some(30_000));
    assert_eq!(pending_of(&record, 4), (4, booked));
}
