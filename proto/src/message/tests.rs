use super::*;
use crate::ids::{PhysicalOffset, ShardId};

fn sample(topic: &str, born: &str, store: &str) -> NewMessage {
    let mut props = PropertiesBuilder::new();
    props.set(property::TAGS, "TagA").unwrap();
    props.set(property::KEYS, "k1 k2").unwrap();
    props
        .set(property::UNIQ_KEY, "7F0000010001000000000000000A0001")
        .unwrap();
    NewMessage {
        topic: topic.to_owned(),
        queue_id: 3,
        flag: 9,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_123,
        born_host: born.parse().unwrap(),
        store_host: store.parse().unwrap(),
        reconsume_times: 2,
        prepared_transaction_offset: 0,
        body: Bytes::from_static(b"hello world"),
        properties: props.build(),
    }
}

fn stamp() -> AppendStamp {
    AppendStamp {
        queue_offset: QueueOffset(41),
        physical_offset: GlobalOffset::new(ShardId(1), PhysicalOffset(4096)).unwrap(),
        store_timestamp: 1_700_000_000_456,
    }
}

fn encode(msg: &NewMessage) -> BytesMut {
    let mut out = BytesMut::new();
    msg.encode(stamp(), &mut out).unwrap();
    out
}

#[test]
fn golden_ipv4_v1_layout() {
    let msg = sample("T", "10.0.0.7:50000", "10.0.0.5:10911");
    let b = encode(&msg);
    // Fixed overhead for IPv4 + v1 is 91 bytes (remoting.md §5.1).
    let props_len = msg.properties.len();
    assert_eq!(b.len(), 91 + 11 + 1 + props_len);
    assert_eq!(&b[0..4], &(b.len() as u32).to_be_bytes());
    assert_eq!(&b[4..8], &[0xDA, 0xA3, 0x20, 0xA7]);
    assert_eq!(&b[8..12], &body_crc(b"hello world").to_be_bytes());
    assert_eq!(&b[12..16], &3u32.to_be_bytes());
    assert_eq!(&b[20..28], &41u64.to_be_bytes());
    assert_eq!(&b[28..36], &((1u64 << 56) | 4096).to_be_bytes());
    assert_eq!(&b[48..56], &[10, 0, 0, 7, 0, 0, 0xC3, 0x50]);
    assert_eq!(&b[64..72], &[10, 0, 0, 5, 0, 0, 0x2A, 0x9F]);
    assert_eq!(&b[84..88], &11u32.to_be_bytes());
    assert_eq!(&b[88..99], b"hello world");
    assert_eq!(b[99], 1);
    assert_eq!(b[100], b'T');
}

#[test]
fn body_crc_matches_java_crc32_masked() {
    // java.util.zip.CRC32 of "123456789" is 0xCBF43926; masked to 31 bits.
    assert_eq!(body_crc(b"123456789"), 0xCBF4_3926 & 0x7FFF_FFFF);
}

#[test]
fn round_trip_every_field_ipv4_and_ipv6() {
    for (born, store) in [
        ("10.0.0.7:50000", "10.0.0.5:10911"),
        ("[2001:db8::1]:5000", "10.0.0.5:10911"),
        ("10.0.0.7:50000", "[::1]:10911"),
    ] {
        let msg = sample("TopicTest", born, store);
        let bytes = encode(&msg);
        let view = RecordView::parse(&bytes).unwrap();
        assert_eq!(view.total_size(), msg.encoded_len());
        assert!(view.crc_ok());
        assert_eq!(view.topic(), "TopicTest");
        assert_eq!(view.queue_id(), 3);
        assert_eq!(view.flag(), 9);
        assert_eq!(view.queue_offset(), QueueOffset(41));
        assert_eq!(view.physical_offset(), stamp().physical_offset);
        assert_eq!(view.born_timestamp(), msg.born_timestamp);
        assert_eq!(view.born_host(), msg.born_host);
        assert_eq!(view.store_timestamp(), 1_700_000_000_456);
        assert_eq!(view.store_host(), msg.store_host);
        assert_eq!(view.reconsume_times(), 2);
        assert_eq!(view.body(), b"hello world");
        assert_eq!(view.properties().get(property::TAGS), Some("TagA"));
        assert_eq!(view.properties().keys().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(view.sys_flag(), msg.stored_sys_flag());
        assert_eq!(view.to_new_message().sys_flag, msg.stored_sys_flag());
    }
}

#[test]
fn long_topics_use_v2_magic() {
    let topic = "t".repeat(200);
    let bytes = encode(&sample(&topic, "1.2.3.4:1", "1.2.3.4:2"));
    let view = RecordView::parse(&bytes).unwrap();
    assert_eq!(view.magic(), MAGIC_V2);
    assert_eq!(view.topic(), topic);
    let short = encode(&sample(&"t".repeat(127), "1.2.3.4:1", "1.2.3.4:2"));
    assert_eq!(RecordView::parse(&short).unwrap().magic(), MAGIC_V1);
}

#[test]
fn truncated_record_is_incomplete_and_garbage_is_invalid() {
    let bytes = encode(&sample("T", "1.2.3.4:1", "1.2.3.4:2"));
    for cut in [0, 4, 8, 50, bytes.len() - 1] {
        let err = RecordView::parse(&bytes[..cut]).unwrap_err();
        assert!(err.is_incomplete(), "cut at {cut}: {err}");
    }
    let mut bad_magic = bytes.clone();
    bad_magic[4] = 0;
    assert!(!RecordView::parse(&bad_magic).unwrap_err().is_incomplete());
    let mut bad_body_len = bytes.clone();
    bad_body_len[84..88].copy_from_slice(&1000u32.to_be_bytes());
    assert!(!RecordView::parse(&bad_body_len)
        .unwrap_err()
        .is_incomplete());
    let mut flipped = bytes.clone();
    flipped[90] ^= 0xFF;
    assert!(!RecordView::parse(&flipped).unwrap().crc_ok());
}

#[test]
fn blank_filler_is_recognised() {
    let mut buf = [0u8; 64];
    encode_blank(64, &mut buf);
    assert_eq!(peek_head(&buf).unwrap(), RecordHead::Blank(64));
    assert!(RecordView::parse(&buf).is_err());
}

#[test]
fn records_iterates_a_pull_body() {
    let mut body = encode(&sample("A", "1.2.3.4:1", "1.2.3.4:2"));
    body.extend_from_slice(&encode(&sample("B", "1.2.3.4:1", "1.2.3.4:2")));
    let topics: Vec<_> = records(&body).map(|r| r.unwrap().topic()).collect();
    assert_eq!(topics, ["A", "B"]);
    let cut = &body[..body.len() - 3];
    let results: Vec<_> = records(cut).collect();
    assert_eq!(results.len(), 2);
    assert!(results[1].is_err());
}

#[test]
fn validate_enforces_format_limits() {
    let mut msg = sample("T", "1.2.3.4:1", "1.2.3.4:2");
    msg.properties = "a\u{1}b\u{2}".repeat(20_000);
    assert!(matches!(
        msg.validate(),
        Err(ProtoError::TooLarge {
            what: "properties",
            ..
        })
    ));
    msg.properties.clear();
    msg.topic.clear();
    assert!(msg.validate().is_err());
}

#[test]
fn encode_into_rejects_wrong_buffer_size() {
    let msg = sample("T", "1.2.3.4:1", "1.2.3.4:2");
    let mut buf = vec![0u8; msg.encoded_len() + 1];
    assert!(msg.encode_into(stamp(), &mut buf).is_err());
}

#[test]
fn properties_parse_like_java() {
    let p = Properties("A\u{1}1\u{2}\u{1}x\u{2}B\u{1}\u{2}junk\u{2}C\u{1}3\u{2}");
    assert_eq!(p.iter().collect::<Vec<_>>(), [("A", "1"), ("C", "3")]);
    assert_eq!(p.get("B"), None);
    // The last pair without its trailing separator still reads (C++ writers).
    assert_eq!(Properties("A\u{1}1").get("A"), Some("1"));
}

#[test]
fn properties_builder_sets_replaces_and_rejects_separators() {
    let mut b = PropertiesBuilder::from_properties(Properties("A\u{1}1\u{2}B\u{1}2\u{2}"));
    b.set("A", "9").unwrap();
    b.remove("B");
    b.set("C", "3").unwrap();
    assert_eq!(b.clone().build(), "A\u{1}9\u{2}C\u{1}3\u{2}");
    assert!(b.set("bad\u{2}", "x").is_err());
    assert!(b.set("k", "").is_err());
}

#[test]
fn batch_body_decodes_each_item() {
    let mut body = BytesMut::new();
    encode_batch_item(1, b"one", "KEYS\u{1}a\u{2}", &mut body);
    encode_batch_item(2, b"", "", &mut body);
    let items = decode_batch(&body).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].flag, 1);
    assert_eq!(items[0].body, b"one");
    assert_eq!(items[0].properties.get("KEYS"), Some("a"));
    assert_eq!(items[1].body, b"");
    assert!(decode_batch(&body[..body.len() - 1]).is_err());
    let mut bad = body.clone();
    bad[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(decode_batch(&bad).is_err());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = RecordView::parse(&bytes);
            let _ = decode_batch(&bytes);
            let _ = records(&bytes).count();
        }

        #[test]
        fn parse_never_panics_on_mutated_records(idx in 0usize..200, val in any::<u8>()) {
            let mut bytes = encode(&sample("Topic", "[::1]:1", "1.2.3.4:2"));
            let i = idx % bytes.len();
            bytes[i] = val;
            if let Ok(view) = RecordView::parse(&bytes) {
                let _ = (view.body(), view.topic(), view.properties().iter().count(), view.store_host());
            }
        }

        #[test]
        fn round_trips_arbitrary_messages(
            topic in "[A-Za-z0-9_%-]{1,200}",
            body in proptest::collection::vec(any::<u8>(), 0..300),
            flag in any::<i32>(), queue_id in any::<u32>(), born in any::<i64>(),
        ) {
            let mut msg = sample(&topic, "1.2.3.4:1", "[::1]:2");
            msg.body = Bytes::from(body);
            msg.flag = flag;
            msg.queue_id = queue_id;
            msg.born_timestamp = born;
            let bytes = encode(&msg);
            let view = RecordView::parse(&bytes).unwrap();
            prop_assert_eq!(view.to_new_message(), NewMessage { sys_flag: msg.stored_sys_flag(), ..msg });
        }
    }
}

#[test]
fn push_property_appends_and_repairs_the_last_separator() {
    let mut p = String::from("A\u{1}1");
    push_property(&mut p, "B", "2");
    assert_eq!(p, "A\u{1}1\u{2}B\u{1}2\u{2}");
    let mut empty = String::new();
    push_property(&mut empty, "C", "3");
    assert_eq!(Properties(&empty).get("C"), Some("3"));
}

#[test]
fn get_many_reads_several_names_in_one_pass() {
    let p = Properties("A\u{1}1\u{2}B\u{1}2\u{2}A\u{1}3\u{2}");
    assert_eq!(p.get_many(["A", "C", "B"]), [Some("3"), None, Some("2")]);
    assert_eq!(
        split_keys(Some(" k1  k2 ")).collect::<Vec<_>>(),
        ["k1", "k2"]
    );
}
