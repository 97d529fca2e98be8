use super::*;
use crate::message::SendStatus;
use bolide_proto::header::send::SendMessageResponseHeader;
use bolide_proto::ids::QueueOffset;

#[test]
fn retriable_and_fault_classification() {
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let response = |code| ClientError::Response {
        addr,
        code,
        remark: String::new(),
    };
    let transport = ClientError::Transport {
        addr,
        source: TransportError::Closed,
    };
    let cases = [
        (transport, true, true),
        (response(response_code::SYSTEM_BUSY), true, true),
        (response(response_code::TOPIC_NOT_EXIST), true, false),
        (response(response_code::MESSAGE_ILLEGAL), false, false),
        (invalid("x"), false, false),
    ];
    for (e, retriable, fault) in cases {
        assert_eq!(is_retriable(&e), retriable, "{e}");
        assert_eq!(is_broker_fault(&e), fault, "{e}");
    }
}

fn outgoing() -> Outgoing {
    Outgoing {
        topic: "T".into(),
        flag: 0,
        properties: None,
        body: Bytes::from_static(b"x"),
        batch: false,
        msg_id: "U1".into(),
    }
}

#[test]
fn send_responses_map_to_results_or_errors() {
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let mq = MessageQueue::new("T", "b", 2);
    let header = SendMessageResponseHeader {
        msg_id: "OFFSETID".into(),
        queue_id: 2,
        queue_offset: 41,
        ..SendMessageResponseHeader::default()
    };
    let cases = [
        (response_code::SUCCESS, Some(SendStatus::SendOk)),
        (
            response_code::FLUSH_DISK_TIMEOUT,
            Some(SendStatus::FlushDiskTimeout),
        ),
        (
            response_code::SLAVE_NOT_AVAILABLE,
            Some(SendStatus::SlaveNotAvailable),
        ),
        (response_code::SYSTEM_BUSY, None),
    ];
    for (code, want) in cases {
        let response = RemotingCommand::response(code, None).with_header(&header);
        let got = send_result(addr, &outgoing(), &mq, response);
        match want {
            Some(status) => {
                let r = got.unwrap();
                assert_eq!(r.status, status);
                assert_eq!(
                    (r.msg_id.as_str(), r.offset_msg_id.as_str()),
                    ("U1", "OFFSETID")
                );
                assert_eq!(
                    (r.queue.clone(), r.queue_offset),
                    (mq.clone(), QueueOffset(41))
                );
            }
            None => {
                assert!(matches!(got, Err(ClientError::Response { code: c, .. }) if c == code))
            }
        }
    }
}

#[test]
fn local_ip_of_loopback_is_loopback() {
    let ip = local_ipv4("127.0.0.1:9876".parse().unwrap());
    assert!(ip.is_loopback());
}
