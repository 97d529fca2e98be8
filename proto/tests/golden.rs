//! Golden byte vectors and client-written samples from
//! `protocol/remoting.md`, pushed through the public API end to end.

use bolide_proto::binary_header::encode_binary_header;
use bolide_proto::body::{
    ConsumeFromWhere, ConsumeType, HeartbeatData, JsonBody, MessageModel, RouteJsonStyle,
    TopicRouteData,
};
use bolide_proto::codes::{request_code, LanguageCode};
use bolide_proto::frame::{decode_frame, decode_frame_buf, MAX_FRAME_BYTES};
use bolide_proto::header::{CommandHeader, PullMessageResponseHeader, SendMessageRequestHeader};
use bolide_proto::RemotingCommand;
use bytes::BytesMut;

/// Wraps `header` (+ body) in a frame with serialize type `kind`.
fn frame(kind: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let length = u32::try_from(4 + header.len() + body.len()).unwrap();
    let word = (u32::from(kind) << 24) | u32::try_from(header.len()).unwrap();
    let mut out = length.to_be_bytes().to_vec();
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

fn route_request() -> RemotingCommand {
    RemotingCommand::request(request_code::GET_ROUTEINFO_BY_TOPIC)
        .with_opaque(1)
        .with_ext("topic", "TopicTest")
}

/// §1.2: Java GET_ROUTEINFO_BY_TOPIC with a 131-byte JSON header.
#[test]
fn java_route_request_json_frame() {
    let bytes = route_request().to_frame().unwrap();
    assert_eq!(
        &bytes[..8],
        &[0x00, 0x00, 0x00, 0x87, 0x00, 0x00, 0x00, 0x83]
    );
    assert_eq!(bytes.len(), 4 + 0x87);
    let (cmd, used) = decode_frame(&bytes, MAX_FRAME_BYTES).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(cmd, route_request());
}

/// §1.2: the same request with a 41-byte ROCKETMQ binary header.
#[test]
fn java_route_request_binary_frame() {
    let mut header = Vec::new();
    encode_binary_header(&route_request(), &mut header).unwrap();
    let bytes = frame(1, &header, &[]);
    assert_eq!(
        &bytes[..8],
        &[0x00, 0x00, 0x00, 0x2d, 0x01, 0x00, 0x00, 0x29]
    );
    let mut buf = BytesMut::from(&bytes[..]);
    let cmd = decode_frame_buf(&mut buf, MAX_FRAME_BYTES)
        .unwrap()
        .unwrap();
    assert!(buf.is_empty());
    assert_eq!(cmd, route_request());
    assert_eq!(cmd.version, 479);
}

/// §2.4: a C++ 2.0.0 SEND_MESSAGE_V2 header (numbers, credentials, `\n`).
#[test]
fn cpp_send_request_decodes_into_typed_header() {
    let header = concat!(
        r#"{"code":310,"extFields":{"AccessKey":"","OnsChannel":"","Signature":"","a":"pg","b":"TopicTest","#,
        r#""c":"TBW102","d":4,"e":1,"f":0,"g":"1581912345678","h":0,"#,
        r#""i":"KEYS\u0001k1\u0002TAGS\u0001TagA\u0002UNIQ_KEY\u0001C0A8000100002A9F0000000000000001\u0002WAIT\u0001true\u0002","#,
        r#""j":"0","k":"false","l":16,"m":"false"},"flag":0,"language":"CPP","opaque":7,"remark":"","version":333}"#,
        "\n"
    );
    let bytes = frame(0, header.as_bytes(), b"Hello RocketMQ");
    let (cmd, _) = decode_frame(&bytes, MAX_FRAME_BYTES).unwrap().unwrap();
    assert_eq!(
        (cmd.code, cmd.language, cmd.version, cmd.opaque),
        (310, LanguageCode::Cpp, 333, 7)
    );
    assert_eq!(cmd.ext_fields.get("AccessKey"), Some(""));
    assert_eq!(&cmd.body[..], b"Hello RocketMQ");

    let send = SendMessageRequestHeader::from_request(cmd.code, &cmd.ext_fields).unwrap();
    assert_eq!(send.producer_group, "pg");
    assert_eq!(send.topic, "TopicTest");
    assert_eq!(send.default_topic, "TBW102");
    assert_eq!(
        (
            send.default_topic_queue_nums,
            send.queue_id,
            send.sys_flag,
            send.flag
        ),
        (4, 1, 0, 0)
    );
    assert_eq!(send.born_timestamp, 1_581_912_345_678);
    assert_eq!(
        (
            send.reconsume_times,
            send.unit_mode,
            send.max_reconsume_times
        ),
        (Some(0), Some(false), Some(16))
    );
    assert!(!send.is_batch());
    let props = send.properties.unwrap();
    assert!(
        props.starts_with("KEYS\u{1}k1\u{2}TAGS\u{1}TagA\u{2}"),
        "{props:?}"
    );
    assert!(props.ends_with("WAIT\u{1}true\u{2}"));
}

/// §2.4: a pull response carries string extFields the C++ client can read.
#[test]
fn pull_response_header_is_all_strings() {
    let request = RemotingCommand::request(request_code::PULL_MESSAGE).with_opaque(42);
    let header = PullMessageResponseHeader {
        next_begin_offset: 12,
        min_offset: 0,
        max_offset: 12,
        ..Default::default()
    };
    let rsp = RemotingCommand::response_to(&request)
        .with_code(19)
        .with_remark("OFFSET_OVERFLOW_ONE")
        .with_header(&header);
    let bytes = rsp.to_frame().unwrap();
    let text = std::str::from_utf8(&bytes[8..]).unwrap();
    let want = r#"{"code":19,"extFields":{"suggestWhichBrokerId":"0","nextBeginOffset":"12","minOffset":"0","maxOffset":"12"},"flag":1,"language":"JAVA","opaque":42,"remark":"OFFSET_OVERFLOW_ONE","serializeTypeCurrentRPC":"JSON","version":479}"#;
    assert_eq!(text, want);
    let (back, _) = decode_frame(&bytes, MAX_FRAME_BYTES).unwrap().unwrap();
    assert_eq!(
        back.decode_header::<PullMessageResponseHeader>().unwrap(),
        header
    );
}

/// §4.6: a C++ consumer heartbeat (ordinal enums, string subVersion).
#[test]
fn cpp_heartbeat_body() {
    let body = concat!(
        r#"{"clientID":"192.168.0.2@4711#DEFAULT","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"#,
        r#""groupName":"CG","messageModel":1,"subscriptionDataSet":[{"subString":"*","subVersion":"1581912345678","#,
        r#""topic":"%RETRY%CG"},{"codeSet":[0,0],"subString":"TagA || TagB","subVersion":"1581912345679","#,
        r#""tagsSet":["TagA","TagB"],"topic":"T"}]}],"producerDataSet":[{"groupName":"PG"}]}"#,
        "\n"
    );
    let hb = HeartbeatData::decode(body.as_bytes()).unwrap();
    assert_eq!(hb.client_id, "192.168.0.2@4711#DEFAULT");
    let consumer = &hb.consumer_data_set[0];
    assert_eq!(consumer.consume_type, ConsumeType::Passively);
    assert_eq!(consumer.message_model, MessageModel::Clustering);
    assert_eq!(consumer.consume_from_where, ConsumeFromWhere::LastOffset);
    let subs = &consumer.subscription_data_set;
    assert_eq!(subs[0].topic, "%RETRY%CG");
    assert!(subs[0].is_sub_all());
    assert_eq!(subs[1].sub_version, 1_581_912_345_679);
    assert_eq!(subs[1].tags_set, ["TagA", "TagB"]);
    assert_eq!(subs[1].expression_type, "TAG");
    assert_eq!(hb.producer_data_set[0].group_name, "PG");
}

/// §4.6: the Java heartbeat example, byte for byte through decode + encode.
#[test]
fn java_heartbeat_body() {
    let body = r#"{"clientID":"10.0.0.7@4242#81723645598721","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"g1","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#;
    let hb = HeartbeatData::decode(body.as_bytes()).unwrap();
    assert_eq!(
        hb.consumer_data_set[0].subscription_data_set[0].sub_version,
        1_700_000_000_000
    );
    assert_eq!(hb.encode(), body.as_bytes());
}

/// §4.1: a route with unquoted numeric brokerAddrs keys, in a response frame.
#[test]
fn unquoted_route_body_round_trip() {
    let body = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
    let route = TopicRouteData::decode(body.as_bytes()).unwrap();
    assert_eq!(route.broker_datas[0].broker_addrs[&1], "10.0.0.6:10911");
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
    assert_eq!(route.encode(RouteJsonStyle::Fastjson), body.as_bytes());

    let rsp = RemotingCommand::response_to(&route_request())
        .with_body(route.encode(RouteJsonStyle::Fastjson));
    let (back, _) = decode_frame(&rsp.to_frame().unwrap(), MAX_FRAME_BYTES)
        .unwrap()
        .unwrap();
    assert_eq!(TopicRouteData::decode(&back.body).unwrap(), route);
}

/// Every header a response must carry round-trips through a frame.
#[test]
fn typed_header_through_a_frame() {
    let send = SendMessageRequestHeader {
        producer_group: "pg".into(),
        topic: "T".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        batch: Some(true),
        ..Default::default()
    };
    let mut req = RemotingCommand::request(request_code::SEND_MESSAGE_V2);
    send.to_v2(&mut req.ext_fields);
    let (back, _) = decode_frame(&req.to_frame().unwrap(), MAX_FRAME_BYTES)
        .unwrap()
        .unwrap();
    let decoded = SendMessageRequestHeader::from_request(back.code, &back.ext_fields).unwrap();
    assert_eq!(decoded, send);
    assert!(decoded.is_batch());
    assert_eq!(
        SendMessageRequestHeader::from_ext(&send.to_ext_fields()).unwrap(),
        send
    );
}
