//! Property tests: decoders never panic on arbitrary bytes, and encode →
//! decode is the identity for arbitrary commands.

use bolide_proto::binary_header::{decode_binary_header, encode_binary_header};
use bolide_proto::body::{
    parse_properties, ClusterInfo, ConsumeStats, ConsumerConnection, GroupList, HeartbeatData,
    JsonBody, LockBatchRequestBody, ProducerConnection, QueryConsumeTimeSpanBody,
    RegisterBrokerBody, ResetOffsetBody, RouteJsonStyle, TopicRouteData, TopicStatsTable,
};
use bolide_proto::codes::LanguageCode;
use bolide_proto::frame::{check_frame, decode_frame, decode_frame_buf, MAX_FRAME_BYTES};
use bolide_proto::header::{CommandHeader, PullMessageRequestHeader, SendMessageRequestHeader};
use bolide_proto::json::quote_numeric_keys;
use bolide_proto::json_header::decode_json_header;
use bolide_proto::{ExtFields, RemotingCommand};
use bytes::BytesMut;
use proptest::prelude::*;

/// Wraps arbitrary header/body bytes in a well-formed frame so the header
/// decoders get exercised, not just the length checks.
fn framed(kind: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let length = (4 + header.len() + body.len()) as u32;
    let word = (u32::from(kind) << 24) | header.len() as u32;
    let mut out = length.to_be_bytes().to_vec();
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

fn language() -> impl Strategy<Value = LanguageCode> {
    (0u8..14).prop_map(LanguageCode::from_byte)
}

fn ext_fields() -> impl Strategy<Value = ExtFields> {
    proptest::collection::vec((any::<String>(), any::<String>()), 0..8)
        .prop_map(|pairs| pairs.into_iter().collect())
}

fn command() -> impl Strategy<Value = RemotingCommand> {
    (
        (
            any::<i32>(),
            language(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
        ),
        proptest::option::of(any::<String>()),
        ext_fields(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |((code, language, version, opaque, flag), remark, ext_fields, force, body)| {
                RemotingCommand {
                    code,
                    language,
                    version,
                    opaque,
                    flag,
                    remark,
                    // Decoders report `force` only for an empty extFields object.
                    force_ext_fields: force && ext_fields.is_empty(),
                    ext_fields,
                    body: body.into(),
                }
            },
        )
}

/// JSON-ish text: braces, digits, quotes and colons in random order hit the
/// unquoted-key fixup and the body parsers' edge cases more often.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let atoms = prop_oneof![
        Just(&b"{"[..]),
        Just(&b"}"[..]),
        Just(&b"["[..]),
        Just(&b"]"[..]),
        Just(&b":"[..]),
        Just(&b","[..]),
        Just(&b"\""[..]),
        Just(&b"\\"[..]),
        Just(&b"0"[..]),
        Just(&b"-1"[..]),
        Just(&b" "[..]),
        Just(&b"null"[..]),
        Just(&b"\"brokerAddrs\""[..]),
        Just(&b"\"brokerDatas\""[..]),
        Just(&b"\"consumerDataSet\""[..]),
        Just(&b"\"subVersion\""[..]),
        Just(&b"\"a:1\""[..]),
    ];
    proptest::collection::vec(atoms, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn frame_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = check_frame(&bytes, MAX_FRAME_BYTES);
        let _ = decode_frame(&bytes, MAX_FRAME_BYTES);
        let _ = decode_frame(&bytes, 16);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decode_frame_buf(&mut buf, MAX_FRAME_BYTES) {}
    }

    #[test]
    fn header_decoders_never_panic(
        header in proptest::collection::vec(any::<u8>(), 0..256),
        kind in 0u8..3,
    ) {
        let _ = decode_json_header(&header);
        let _ = decode_binary_header(&header);
        let _ = decode_frame(&framed(kind, &header, b"body"), MAX_FRAME_BYTES);
    }

    #[test]
    fn json_decoders_never_panic(text in jsonish(), raw in proptest::collection::vec(any::<u8>(), 0..128)) {
        for input in [&text[..], &raw[..]] {
            let _ = quote_numeric_keys(input);
            let _ = decode_json_header(input);
            let _ = HeartbeatData::decode(input);
            let _ = TopicRouteData::decode(input);
            let _ = ClusterInfo::decode(input);
            let _ = RegisterBrokerBody::decode(input);
            let _ = LockBatchRequestBody::decode(input);
            let _ = TopicStatsTable::decode(input);
            let _ = GroupList::decode(input);
            let _ = ConsumeStats::decode(input);
            let _ = ConsumerConnection::decode(input);
            let _ = ProducerConnection::decode(input);
            let _ = ResetOffsetBody::decode(input);
            let _ = QueryConsumeTimeSpanBody::decode(input);
            let _ = parse_properties(&String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn typed_headers_never_panic(ext in ext_fields()) {
        let _ = SendMessageRequestHeader::from_v1(&ext);
        let _ = SendMessageRequestHeader::from_v2(&ext);
        let _ = PullMessageRequestHeader::from_ext(&ext);
    }

    #[test]
    fn command_round_trips_through_a_frame(cmd in command()) {
        let bytes = cmd.to_frame().unwrap();
        let (back, used) = decode_frame(&bytes, MAX_FRAME_BYTES).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(&back, &cmd);
        let mut buf = BytesMut::from(&bytes[..]);
        prop_assert_eq!(decode_frame_buf(&mut buf, MAX_FRAME_BYTES).unwrap(), Some(cmd));
    }

    #[test]
    fn binary_header_round_trips(cmd in command()) {
        let mut header = Vec::new();
        if encode_binary_header(&cmd, &mut header).is_ok() {
            let mut back = decode_binary_header(&header).unwrap();
            back.body = cmd.body.clone();
            back.force_ext_fields = cmd.force_ext_fields;
            // The binary form cannot tell an empty remark from none.
            let mut want = cmd;
            if want.remark.as_deref() == Some("") {
                want.remark = None;
            }
            prop_assert_eq!(back, want);
        }
    }

    #[test]
    fn route_round_trips_in_both_styles(
        names in proptest::collection::vec(any::<String>(), 1..4),
        addrs in proptest::collection::btree_map(-2i64..5, any::<String>(), 0..4),
    ) {
        let mut route = TopicRouteData::default();
        for name in &names {
            route.broker_datas.push(bolide_proto::body::BrokerData {
                broker_addrs: addrs.clone(),
                broker_name: name.clone(),
                ..Default::default()
            });
        }
        for style in [RouteJsonStyle::Fastjson, RouteJsonStyle::Standard] {
            prop_assert_eq!(&TopicRouteData::decode(&route.encode(style)).unwrap(), &route);
        }
    }
}
