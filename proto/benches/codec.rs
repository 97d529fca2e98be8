//! Codec micro-benchmarks: frame encode/decode of the two hottest
//! commands, a SEND_MESSAGE_V2 request and a PULL_MESSAGE response.
//!
//! Run with `cargo bench -p bolide-proto --bench codec`. To add a group,
//! write a `fn bench_x(c: &mut Criterion)` and list it in
//! `criterion_group!` at the bottom.

use bolide_proto::codes::{request_code, response_code};
use bolide_proto::frame::{decode_frame, decode_frame_buf, encode_frame, MAX_FRAME_BYTES};
use bolide_proto::header::{CommandHeader, PullMessageResponseHeader, SendMessageRequestHeader};
use bolide_proto::ids::{GlobalOffset, QueueOffset};
use bolide_proto::message::{AppendStamp, NewMessage, PropertiesBuilder, RecordView};
use bolide_proto::RemotingCommand;
use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

/// Message body size of the typical send.
const SEND_BODY_BYTES: usize = 1024;
/// A full default pull: 32 records of ~1.2 KiB.
const PULL_BODY_BYTES: usize = 32 * 1200;

fn send_request() -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "please_rename_unique_group_name".into(),
        topic: "TopicTest".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(
            "KEYS\u{1}OrderID188\u{2}TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}7F0000010B3818B4AAC2743E7F4E0000\u{2}WAIT\u{1}true\u{2}"
                .into(),
        ),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: None,
        batch: Some(false),
        broker_name: Some("broker-a".into()),
    };
    let mut cmd = RemotingCommand::request(request_code::SEND_MESSAGE_V2)
        .with_opaque(123_456)
        .with_body(vec![b'x'; SEND_BODY_BYTES]);
    header.to_v2(&mut cmd.ext_fields);
    cmd
}

fn pull_response() -> RemotingCommand {
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: 1_032,
        min_offset: 0,
        max_offset: 5_000,
        topic_sys_flag: Some(0),
        group_sys_flag: Some(0),
        ..Default::default()
    };
    RemotingCommand::response(response_code::SUCCESS, "FOUND".to_owned())
        .with_opaque(99)
        .with_header(&header)
        .with_body(vec![0u8; PULL_BODY_BYTES])
}

fn bench_command(c: &mut Criterion, name: &str, cmd: &RemotingCommand) {
    let frame = cmd.to_frame().expect("encode");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(frame.len() as u64));
    let mut dst = BytesMut::with_capacity(frame.len() * 2);
    group.bench_function("encode", |b| {
        b.iter(|| {
            dst.clear();
            encode_frame(black_box(cmd), &mut dst, MAX_FRAME_BYTES).expect("encode");
        })
    });
    group.bench_function("decode_slice", |b| {
        b.iter(|| decode_frame(black_box(&frame), MAX_FRAME_BYTES).expect("decode"))
    });
    // Includes copying the frame into a fresh read buffer, as a socket read would.
    group.bench_function("decode_buf", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&frame[..]);
            decode_frame_buf(black_box(&mut buf), MAX_FRAME_BYTES).expect("decode")
        })
    });
    group.finish();
}

fn bench_send_request(c: &mut Criterion) {
    let cmd = send_request();
    bench_command(c, "send_request", &cmd);
    c.bench_function("send_request/decode_typed_header", |b| {
        b.iter(|| SendMessageRequestHeader::from_v2(black_box(&cmd.ext_fields)).expect("header"))
    });
}

fn bench_pull_response(c: &mut Criterion) {
    let cmd = pull_response();
    bench_command(c, "pull_response", &cmd);
    c.bench_function("pull_response/decode_typed_header", |b| {
        b.iter(|| PullMessageResponseHeader::from_ext(black_box(&cmd.ext_fields)).expect("header"))
    });
}

fn message_1k() -> NewMessage {
    let mut props = PropertiesBuilder::new();
    for (k, v) in [
        ("TAGS", "TagA"),
        ("KEYS", "order-42"),
        ("UNIQ_KEY", "7F00000100002A9F0000000000000001"),
        ("WAIT", "true"),
    ] {
        props.set(k, v).expect("valid property");
    }
    NewMessage {
        topic: "TopicTest".into(),
        queue_id: 3,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: "127.0.0.1:50000".parse().expect("addr"),
        store_host: "127.0.0.1:10911".parse().expect("addr"),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: bytes::Bytes::from(vec![b'x'; 1024]),
        properties: props.build(),
    }
}

fn bench_message_record(c: &mut Criterion) {
    let msg = message_1k();
    let stamp = AppendStamp {
        queue_offset: QueueOffset(7),
        physical_offset: GlobalOffset(4096),
        store_timestamp: 1_700_000_000_001,
    };
    let mut record = vec![0u8; msg.encoded_len()];
    let mut group = c.benchmark_group("message_record_1k");
    group.throughput(Throughput::Bytes(record.len() as u64));
    group.bench_function("encode_into", |b| {
        b.iter(|| {
            msg.encode_into(black_box(stamp), black_box(&mut record))
                .expect("encode")
        })
    });
    group.bench_function("parse+crc", |b| {
        b.iter(|| {
            let view = RecordView::parse(black_box(&record)).expect("parse");
            black_box(view.crc_ok() && view.properties().get("TAGS").is_some())
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_send_request,
    bench_pull_response,
    bench_message_record
);
criterion_main!(benches);
